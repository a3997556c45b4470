"""An external MCP server for the portal's MCP client tests: the official Python SDK's
`MCPServer` (FastMCP, renamed in `mcp` 2.x) over streamable HTTP on 127.0.0.1, behind a
bearer token. Usage: python3 mcp_upstream.py PORT TOKEN; or, as a local server over stdio,
python3 mcp_upstream.py stdio, with the token in the environment variable UPSTREAM_TOKEN
(which must be "upstream-token-4f1c9e", else it says so on stderr and exits 3).

Besides MCP at /mcp it answers two control requests for the tests (no token needed):
  GET  /control/state   {"get_streams": open GET streams on /mcp, "refused": requests refused}
  POST /control/add?name=N  adds a read-only tool N and tells every session (through its own
                            GET stream, as a server does when its tools change on its own)."""
import asyncio
import json
import os
import sys
from typing import Literal

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations, ToolListChangedNotification

STDIO = sys.argv[1] == "stdio"
PORT, TOKEN = (0, None) if STDIO else (int(sys.argv[1]), sys.argv[2])
server = MCPServer("upstream-test", version="1.2.3")
sessions = set()
counters = {"get_streams": 0, "refused": 0}


def remember(ctx):
    sessions.add(ctx.session)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def echo_text(text: str, ctx: Context, times: int = 1) -> str:
    """Repeats the text."""
    remember(ctx)
    return " ".join([text] * times)


@server.tool(annotations=ToolAnnotations(destructive_hint=False))
def create_ticket(title: str, priority: Literal["low", "high"] = "low", note: str | None = None) -> dict:
    """Opens a ticket."""
    return {"id": "T-1", "title": title, "priority": priority, "note": note}


@server.tool()
def restart_service(name: str) -> str:
    """Restarts a service (no annotations: may be destructive)."""
    return f"restarted {name}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def fail_always(reason: str) -> str:
    """Always fails with the reason (an anticipated failure, whose message the client sees)."""
    raise ToolError(reason)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def big_output(size: int) -> str:
    """Answers `size` bytes."""
    return "x" * size


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def slow(seconds: float) -> str:
    """Answers after `seconds`."""
    await asyncio.sleep(seconds)
    return "done"


def add(name):
    def added() -> str:
        return f"{name} was added"
    server.add_tool(added, name=name, description="Added while the server ran", annotations=ToolAnnotations(read_only_hint=True))


@server.tool(annotations=ToolAnnotations(destructive_hint=False))
async def add_tool(name: str, ctx: Context) -> str:
    """Adds a read-only tool and says so in this call's answer stream."""
    add(name)
    await ctx.session.send_notification(ToolListChangedNotification(), related_request_id=ctx.request_id)
    return f"added {name}"


app = server.streamable_http_app()


async def control(scope, receive, send):
    path = scope["path"]
    if path == "/control/state":
        body = json.dumps(counters).encode()
    else:
        name = dict(pair.split("=", 1) for pair in scope["query_string"].decode().split("&") if "=" in pair)["name"]
        add(name)
        for session in list(sessions):
            await session.send_tool_list_changed()
        body = json.dumps({"added": name, "sessions": len(sessions)}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def guarded(scope, receive, send):
    """The bearer token check in front of /mcp, and the count of open GET streams."""
    if scope["type"] != "http":
        return await app(scope, receive, send)
    if scope["path"].startswith("/control/"):
        return await control(scope, receive, send)
    headers = dict(scope["headers"])
    if headers.get(b"authorization") != f"Bearer {TOKEN}".encode():
        counters["refused"] += 1
        await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"error": {"message": "bad token"}}'})
        return
    if scope["method"] != "GET":
        return await app(scope, receive, send)
    counters["get_streams"] += 1
    try:
        await app(scope, receive, send)
    finally:
        counters["get_streams"] -= 1


if __name__ == "__main__":
    if STDIO:
        if os.environ.get("UPSTREAM_TOKEN") != "upstream-token-4f1c9e":
            print("bad token in UPSTREAM_TOKEN", file=sys.stderr)
            sys.exit(3)
        server.run("stdio")
    else:
        uvicorn.run(guarded, host="127.0.0.1", port=PORT, log_level="warning", lifespan="on")
