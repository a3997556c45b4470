#!/usr/bin/env python3
"""Webhook delivery throughput and the latency of the outbox → delivery path.

    python3 Benchmarks/webhooks-load.py --binary .build/release/portal [--events 2000] [--clients 8]

Starts the portal on a new data directory (storage.sync on, as in production; rate limits off;
webhooks allowed to reach 127.0.0.0/8), a receiver on 127.0.0.1 that answers 200 at once, and
a subscription to `api-key.created`. Then `--clients` threads create `--events` API keys as
fast as the portal takes them: each creation commits one event. For each event, latency is
from the moment its creation was answered (committed) until the receiver got the signed POST
for it; throughput is deliveries per second from the first commit to the last arrival. Prints
p50, p99 and the maximum latency, and deliveries/s; every delivery is checked to arrive once.
"""
import argparse
import concurrent.futures
import http.server
import json
import os
import statistics
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "Browser"))
from conftest import Portal, admin_password  # noqa: E402


class Receiver:
    """Answers 200 to every POST; records when each key's event arrived (by the key's name)."""

    def __init__(self):
        self.arrivals = {}
        self.duplicates = 0
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.monotonic()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                detail = json.loads(body).get("data", {}).get("detail", "")
                name = detail.split("'")[1] if "'" in detail else detail
                with receiver.lock:
                    if name in receiver.arrivals:
                        receiver.duplicates += 1
                    receiver.arrivals[name] = now
                    receiver.done.notify_all()

            def log_message(self, *arguments):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count, timeout):
        with self.lock:
            return self.done.wait_for(lambda: len(self.arrivals) >= count, timeout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    arguments = parser.parse_args()
    receiver = Receiver()
    portal = Portal(os.path.abspath(arguments.binary), env={
        "PORTAL_WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8", "PORTAL_RATELIMIT_ENABLED": "false", "PORTAL_LOG_LEVEL": "warning"})
    try:
        session = requests.Session()
        answer = session.post(portal.url + "api/auth/login", json={"username": "admin", "password": admin_password(portal)})
        answer.raise_for_status()
        csrf = answer.json()["csrfToken"]
        session.headers["X-CSRF-Token"] = csrf
        created = session.post(portal.url + "api/webhooks", json={"url": receiver.url(), "events": ["api-key.created"]})
        assert created.status_code == 201, created.text
        cookie = session.cookies.get("portal_session")

        committed = {}
        local = threading.local()

        def create(index):
            if not hasattr(local, "session"):
                local.session = requests.Session()
                local.session.cookies.set("portal_session", cookie)
                local.session.headers["X-CSRF-Token"] = csrf
            name = f"bench-{index}"
            answer = local.session.post(portal.url + "api/keys", json={"name": name, "role": "viewer"})
            assert answer.status_code == 201, answer.text
            committed[name] = time.monotonic()

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(arguments.clients) as pool:
            list(pool.map(create, range(arguments.events)))
        created_in = time.monotonic() - started
        assert receiver.wait_for(arguments.events, timeout=300), f"only {len(receiver.arrivals)} of {arguments.events} arrived"
        latencies = sorted((receiver.arrivals[name] - at) * 1000 for name, at in committed.items())
        span = max(receiver.arrivals.values()) - min(committed.values())
        print(f"{arguments.events} events from {arguments.clients} clients, created in {created_in:.2f} s "
              f"({arguments.events / created_in:.0f} commits/s); all delivered once: {receiver.duplicates == 0 and len(receiver.arrivals) == arguments.events}")
        print(f"delivery throughput: {arguments.events / span:.0f} webhooks/s (first commit to last arrival, {span:.2f} s)")
        print(f"commit → receiver latency: p50 {statistics.median(latencies):.1f} ms, "
              f"p99 {latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]:.1f} ms, max {latencies[-1]:.1f} ms")
    finally:
        portal.stop()
        receiver.server.shutdown()


if __name__ == "__main__":
    main()
