"""A small OpenAI-compatible chat-completions server for tests, on 127.0.0.1 only. It plays a
model that knows one trick: asked about the kernel, it calls the `host_kernel` tool; given the
tool's result, it streams an answer built from that result. The answer's first words are sent
at once and the rest only when the test calls `release()`, so a test can see the reply while
it is still streaming."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ModelServer:
    def __init__(self):
        self.requests = []
        self.released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"authorization": self.headers.get("Authorization"), "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                last = body["messages"][-1]
                if last["role"] == "tool":
                    facts = json.loads(last["content"])
                    self.event({"content": "The kernel here is "})
                    server.released.wait(30)
                    self.event({"content": f"{facts['system']} {facts['release']}"})
                    self.event({"content": f" on {facts['machine']}."})
                else:
                    self.event({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_kernel", "type": "function",
                                                                     "function": {"name": "host_kernel", "arguments": ""}}]})
                    self.event({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def event(self, delta):
                chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def release(self):
        self.released.set()

    def stop(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()
