"""The portal as an MCP server, driven by the official Python MCP client (`mcp` 2.x in its
legacy and auto modes, and 1.x's streamable HTTP client in a virtual environment of its own)
and by raw HTTP for the transport's checks. The real binary serves on 127.0.0.1; callers
authenticate with API keys: an operator (olga), a viewer (vera) and the administrator, who
decides approvals through the REST API."""
import json
import os
import signal
import socket
import subprocess
import threading

import anyio
import httpx2
import pytest
import requests
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from conftest import ROOT, Portal, admin_session

ACCEPT = "application/json, text/event-stream"


def binary():
    return os.path.abspath(os.environ.get("PORTAL_BINARY", str(ROOT / ".build/debug/portal")))


def new_key(portal, username, password, role):
    session = requests.Session()
    answer = session.post(portal.url + "api/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    session.headers["X-CSRF-Token"] = answer.json()["csrfToken"]
    created = session.post(portal.url + "api/keys", json={"name": f"{username} mcp", "role": role})
    assert created.status_code == 201, created.text
    return created.json()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def world():
    """A portal with the host pack; two operators with API keys: olga's an operator key, vera's a
    viewer key (a key's role is at most its owner's); the administrator's session and key."""
    # Budgets above what the tests spend together from one address (the budget of tool calls
    # has a test of its own).
    portal = Portal(binary(), port=free_port(), env={
        "PORTAL_RATELIMIT_WRITE_PER_MINUTE": "100000", "PORTAL_RATELIMIT_WRITE_BURST": "10000",
        "PORTAL_RATELIMIT_TOOL_RUN_PER_MINUTE": "100000", "PORTAL_RATELIMIT_TOOL_RUN_BURST": "10000"})
    admin = admin_session(portal)
    assert admin.post(portal.url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
    for name in ("olga", "vera"):
        assert admin.post(portal.url + "api/users", json={"username": name, "password": f"{name}-password-1", "role": "operator"}).status_code == 201
    keys = {name: new_key(portal, name, f"{name}-password-1", role) for name, role in (("olga", "operator"), ("vera", "viewer"))}
    keys["admin"] = admin.post(portal.url + "api/keys", json={"name": "admin mcp", "role": "admin"}).json()
    yield {"portal": portal, "admin": admin, "keys": keys}
    assert portal.stop() == 0


def endpoint(world):
    return world["portal"].url + "mcp"


def secret(world, who):
    return world["keys"][who]["secret"]


def with_client(world, who, mode, body):
    """Runs `body(client)` in a connected `mcp` 2.x client for `who`'s key; returns its result."""
    async def main():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret(world, who)}"}, timeout=60) as http:
            async with Client(streamable_http_client(endpoint(world), http_client=http), mode=mode) as client:
                return await body(client)
    return anyio.run(main)


def names(listing):
    return [tool.name for tool in listing.tools]


# MARK: Through the official client

@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_each_caller_sees_the_tools_they_may_run(world, mode):
    async def listing(client):
        return client.protocol_version, await client.list_tools()

    version, operator = with_client(world, "olga", mode, listing)
    assert version == "2025-11-25"
    _, viewer = with_client(world, "vera", mode, listing)
    assert names(viewer) == ["portal.run-status"], "a viewer may run no tool, only ask about runs"
    assert "host.memory" in names(operator) and "host.systemd-restart-unit" in names(operator) and "portal.run-status" in names(operator)
    assert names(operator) == sorted(names(operator))
    tools = {tool.name: tool for tool in operator.tools}
    memory, restart = tools["host.memory"], tools["host.systemd-restart-unit"]
    assert memory.annotations.read_only_hint is True and memory.annotations.destructive_hint is False
    assert restart.annotations.read_only_hint is False and restart.annotations.destructive_hint is True
    assert "approves" in restart.description and "approves" not in memory.description
    assert restart.input_schema["properties"]["unit"]["pattern"] == "^[A-Za-z0-9@._:-]+$", "the catalog's own schema"


def test_a_read_tool_runs_and_lands_in_the_activity_as_an_mcp_run(world):
    async def call(client):
        return await client.call_tool("host.memory", {})

    result = with_client(world, "olga", "legacy", call)
    assert result.is_error is False
    assert result.structured_content["status"] == "succeeded"
    assert "MemTotal" in result.content[0].text or "total" in result.content[0].text.lower()
    run_id = result.structured_content["runId"]
    run = world["admin"].get(world["portal"].url + f"api/runs/{run_id}").json()
    assert run["entryPoint"] == "mcp" and run["requester"] == "olga" and run["status"] == "succeeded"
    audit = world["admin"].get(world["portal"].url + "api/audit", params={"tool": "host.memory", "kind": "run"}).json()["entries"]
    assert any(entry["detail"].startswith("via mcp") for entry in audit)


def test_refusals_and_bad_input_are_tool_errors_and_unknown_tools_protocol_errors(world):
    async def calls(client):
        missing_argument = await client.call_tool("host.dns-lookup", {})
        option_like = await client.call_tool("host.dns-lookup", {"name": "-x"})
        try:
            await client.call_tool("host.no-such-tool", {})
            unknown = None
        except MCPError as error:
            unknown = error
        return missing_argument, option_like, unknown

    missing_argument, option_like, unknown = with_client(world, "olga", "legacy", calls)
    assert missing_argument.is_error is True and "name" in missing_argument.content[0].text
    assert option_like.is_error is True
    assert unknown is not None and unknown.code == -32602 and "host.no-such-tool" in unknown.message

    async def viewer_runs(client):
        return await client.call_tool("host.memory", {})

    refused = with_client(world, "vera", "legacy", viewer_runs)
    assert refused.is_error is True and "tools:run" in refused.content[0].text
    audit = world["admin"].get(world["portal"].url + "api/audit", params={"person": "vera", "kind": "run.refused"}).json()["entries"]
    assert audit and audit[0]["tool"] == "host.memory", "the refusal is audited"


def test_a_risky_call_waits_for_approval_and_the_status_tool_reports_its_end(world):
    victim = subprocess.Popen(["sleep", "300"])
    try:
        async def request(client):
            return await client.call_tool("host.signal-process", {"pid": victim.pid, "signal": "TERM"})

        pending = with_client(world, "olga", "legacy", request)
        assert pending.is_error is False
        assert pending.structured_content["status"] == "pending-approval"
        run_id = pending.structured_content["runId"]
        assert run_id in pending.content[0].text and "portal.run-status" in pending.content[0].text
        assert pending.structured_content["link"].endswith(f"/#/runs/{run_id}")
        assert victim.poll() is None, "nothing ran before the approval"

        async def status(client):
            return await client.call_tool("portal.run-status", {"runId": run_id})

        assert with_client(world, "olga", "legacy", status).structured_content["status"] == "pending-approval"
        decided = world["admin"].post(world["portal"].url + f"api/approvals/{run_id}/decision", json={"approve": True, "comment": "ok"})
        assert decided.status_code == 200, decided.text
        ended = world["admin"].get(world["portal"].url + f"api/runs/{run_id}", params={"wait": 20}).json()
        assert ended["status"] == "succeeded", ended
        assert victim.wait(timeout=10) == -signal.SIGTERM
        final = with_client(world, "olga", "legacy", status)
        assert final.is_error is False and final.structured_content["status"] == "succeeded"
        assert with_client(world, "vera", "legacy", status).structured_content["status"] == "succeeded", "anyone in the organization may ask"
    finally:
        victim.kill()


def test_a_call_that_asks_for_progress_hears_while_it_waits_and_gets_the_end(world):
    """With a progress token the answer is a stream: a progress notification names the run,
    the approval comes in meanwhile (from another thread), and the stream ends with the
    run's result."""
    victim = subprocess.Popen(["sleep", "300"])
    heard, first_heard = [], threading.Event()
    try:
        def approve_once_heard():
            assert first_heard.wait(timeout=30)
            run_id = heard[0][2].split()[1]
            world["admin"].post(world["portal"].url + f"api/approvals/{run_id}/decision", json={"approve": True})

        approver = threading.Thread(target=approve_once_heard)
        approver.start()

        async def call(client):
            async def progress(done, total, message):
                heard.append((done, total, message))
                first_heard.set()
            return await client.call_tool("host.signal-process", {"pid": victim.pid, "signal": "TERM"}, progress_callback=progress)

        result = with_client(world, "olga", "legacy", call)
        approver.join(timeout=30)
        assert heard[0][0] == 0 and "waits for approval" in heard[0][2]
        assert result.structured_content["status"] == "succeeded", result
        assert heard[-1][0] == 1
        assert victim.wait(timeout=10) == -signal.SIGTERM
    finally:
        victim.kill()


MCP1_SCRIPT = r"""
import json, sys, anyio, httpx
from mcp import ClientSession, McpError
from mcp.client.streamable_http import streamable_http_client

async def main(url, key):
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=httpx.Timeout(30, read=60)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, session_id):
            async with ClientSession(read, write) as session:
                initialized = await session.initialize()
                tools = await session.list_tools()
                called = await session.call_tool("host.load", {})
                try:
                    await session.call_tool("nope.nothing", {})
                    unknown = None
                except McpError as error:
                    unknown = error.error.code
                print(json.dumps({"version": initialized.protocolVersion, "session": session_id(), "tools": [t.name for t in tools.tools],
                                  "isError": called.isError, "status": called.structuredContent["status"], "unknown": unknown}))

anyio.run(main, sys.argv[1], sys.argv[2])
"""


def mcp1_python():
    """The interpreter of the virtual environment that holds mcp 1.x (scripts/install-deps.sh)."""
    path = os.environ.get("MCP1_PYTHON") or os.path.expanduser("~/.cache/portal-test/mcp-1.30.0/bin/python")
    assert os.path.exists(path), f"{path} is missing: run scripts/install-deps.sh test"
    return path


def test_the_1x_client(world):
    done = subprocess.run([mcp1_python(), "-c", MCP1_SCRIPT, endpoint(world), secret(world, "olga")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["version"] == "2025-11-25"
    assert seen["session"].startswith("mcp1.2025-11-25."), "a session id that records the revision"
    assert "host.load" in seen["tools"] and "portal.run-status" in seen["tools"]
    assert seen["isError"] is False and seen["status"] == "succeeded"
    assert seen["unknown"] == -32602


# MARK: The transport, raw

def post(world, message, who="olga", **headers):
    sent = {"Accept": ACCEPT, "Content-Type": "application/json"}
    if who:
        sent["Authorization"] = f"Bearer {secret(world, who)}"
    sent.update(headers)
    body = message if isinstance(message, (bytes, str)) else json.dumps(message)
    return requests.post(endpoint(world), data=body, headers=sent, timeout=30)


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}


def test_initialize_agrees_on_a_revision_the_portal_speaks(world):
    answer = post(world, INITIALIZE)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.json()["id"] == 1 and answer.json()["result"]["protocolVersion"] == "2025-06-18"
    assert answer.json()["result"]["capabilities"]["tools"]["listChanged"] is True
    assert answer.headers["Mcp-Session-Id"].startswith("mcp1.2025-06-18.")
    future = post(world, {**INITIALIZE, "params": {**INITIALIZE["params"], "protocolVersion": "2099-01-01"}})
    assert future.json()["result"]["protocolVersion"] == "2025-11-25", "an unknown revision gets the newest"
    assert post(world, {"jsonrpc": "2.0", "id": "p", "method": "ping"}).json() == {"jsonrpc": "2.0", "id": "p", "result": {}}


def test_the_transport_refuses_what_it_must(world):
    ping = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
    assert post(world, ping, Origin="https://evil.example").status_code == 403
    assert post(world, ping, Origin="http://localhost:5173").status_code == 200, "loopback origins are allowed"
    assert post(world, ping, Origin=world["portal"].url.rstrip("/")).status_code == 200
    refused = post(world, ping, **{"MCP-Protocol-Version": "2024-01-01"})
    assert refused.status_code == 400 and "2025-11-25" in refused.json()["detail"]
    assert post(world, ping, **{"MCP-Protocol-Version": "2025-06-18"}).status_code == 200
    assert post(world, ping, Accept="application/json").status_code == 406
    assert post(world, ping, **{"Mcp-Session-Id": "someone-elses"}).status_code == 404
    # Every refusal of a caller names where to sign in (RFC 9728), whichever check refused it.
    metadata = f'resource_metadata="{world["portal"].url}.well-known/oauth-protected-resource/mcp"'
    for refused in (post(world, ping, who=None), post(world, ping, Authorization="Bearer pk_not_a_key"),
                    post(world, ping, Authorization="Bearer mcp_at_forged"), post(world, ping, Authorization="Bearer something-else")):
        assert refused.status_code == 401 and metadata in refused.headers["WWW-Authenticate"], refused.headers

    garbage = post(world, b"{not json")
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == -32700 and garbage.json()["id"] is None
    batch = post(world, [ping, ping])
    assert batch.status_code == 400 and batch.json()["error"]["code"] == -32600
    for wrong in ({"jsonrpc": "2.0", "id": None, "method": "ping"}, {"jsonrpc": "2.0", "id": True, "method": "ping"},
                  {"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, {"jsonrpc": "2.0", "id": 1, "method": 7}, {"jsonrpc": "1.0", "id": 1, "method": "ping"}):
        refused = post(world, wrong)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == -32600, (wrong, refused.text)
    array_params = post(world, {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1]})
    assert array_params.status_code == 400 and array_params.json()["error"]["code"] == -32602
    unknown_method = post(world, {"jsonrpc": "2.0", "id": 8, "method": "resources/list"})
    assert unknown_method.status_code == 200 and unknown_method.json()["error"]["code"] == -32601
    notification = post(world, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert notification.status_code == 202 and notification.content == b""
    assert post(world, {"jsonrpc": "2.0", "id": 9, "result": {}}).status_code == 202, "a client's response is accepted"
    assert requests.delete(endpoint(world), headers={"Authorization": f"Bearer {secret(world, 'olga')}"}, timeout=10).status_code == 405
    stream = requests.get(endpoint(world), headers={"Authorization": f"Bearer {secret(world, 'olga')}", "Accept": "application/json"}, timeout=10)
    assert stream.status_code == 406


def test_tools_list_pages_follow_the_cursor(world):
    first = post(world, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).json()["result"]
    assert "nextCursor" not in first, "one page holds every tool of the host pack"
    assert [tool["name"] for tool in first["tools"]] == sorted(tool["name"] for tool in first["tools"])
    after = first["tools"][3]["name"]
    cursor = "t1." + __import__("base64").b64encode(after.encode()).decode()
    rest = post(world, {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"cursor": cursor}}).json()["result"]
    assert [tool["name"] for tool in rest["tools"]] == [tool["name"] for tool in first["tools"][4:]]
    bad = post(world, {"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"cursor": "forged"}}).json()
    assert bad["error"]["code"] == -32602


def test_a_revoked_key_ends_its_calls_and_its_stream(world):
    portal, admin = world["portal"], world["admin"]
    key = admin.post(portal.url + "api/keys", json={"name": "short-lived", "role": "operator"}).json()
    headers = {"Authorization": f"Bearer {key['secret']}", "Accept": "text/event-stream"}
    # A read timeout below the 15 s keep-alive: the stream must end because of the revocation,
    # not because of its periodic check.
    with requests.get(endpoint(world), headers=headers, stream=True, timeout=(10, 5)) as stream:
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == b": connected"
        assert admin.delete(portal.url + f"api/keys/{key['key']['id']}").status_code == 204
        rest = list(lines)  # ends when the server closes the stream; a read timeout fails the test
        assert not any(line.startswith(b"data:") for line in rest)
    gone = requests.post(endpoint(world), json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                         headers={"Authorization": f"Bearer {key['secret']}", "Accept": ACCEPT}, timeout=10)
    assert gone.status_code == 401


def test_the_stream_says_when_the_tool_list_changes(world):
    portal, admin = world["portal"], world["admin"]
    headers = {"Authorization": f"Bearer {secret(world, 'olga')}", "Accept": "text/event-stream"}
    # As above: each notification must come from the change, well before a keep-alive.
    with requests.get(endpoint(world), headers=headers, stream=True, timeout=(10, 5)) as stream:
        lines = stream.iter_lines()
        assert next(lines) == b": connected"
        assert admin.post(portal.url + "api/packs/host/enabled", json={"enabled": False}).status_code == 204
        try:
            data = next(line for line in lines if line.startswith(b"data:"))
        finally:
            assert admin.post(portal.url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
        assert json.loads(data[5:]) == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
        data = next(line for line in lines if line.startswith(b"data:"))
        assert json.loads(data[5:])["method"] == "notifications/tools/list_changed", "and again when the pack is back"


# MARK: OAuth sign-in for interactive clients

class Callback:
    """The client's redirect URI: an HTTP server on 127.0.0.1 that records the query it is sent
    to and answers a short page."""

    def __init__(self):
        import http.server
        import urllib.parse
        received, arrived = [], threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                received.append(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)))
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<!doctype html><title>done</title><p>Done.")
                arrived.set()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_port}/callback"
        self.received, self.arrived = received, arrived
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self):
        assert self.arrived.wait(timeout=20), "the browser came back to the client"
        return self.received[-1]


def pkce_pair():
    import base64
    import hashlib
    import secrets as randomness
    verifier = randomness.token_urlsafe(48)[:64]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def test_oauth_sign_in_from_discovery_to_revocation(world, browser):
    """What an interactive MCP client does: discovers the authorization server from the 401,
    registers, sends the person to consent (in Chromium), exchanges the code with its PKCE
    verifier, calls tools with the access token (good only at /mcp), refreshes (rotation; a
    reused refresh token revokes the grant), and stops working when the person revokes it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    from test_access import sign_in

    portal = world["portal"]
    issuer = portal.url.rstrip("/")
    challenge_header = requests.post(endpoint(world), json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                     headers={"Accept": ACCEPT}, timeout=10).headers["WWW-Authenticate"]
    assert challenge_header.startswith("Bearer resource_metadata=")
    resource_metadata = requests.get(challenge_header.split('"')[1], timeout=10).json()
    assert resource_metadata["resource"] == issuer + "/mcp" and resource_metadata["authorization_servers"] == [issuer]
    server = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert server["code_challenge_methods_supported"] == ["S256"] and server["issuer"] == issuer

    refused = requests.post(server["registration_endpoint"], json={"client_name": "Evil", "redirect_uris": ["http://evil.example/cb"]}, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_redirect_uri"
    callback = Callback()
    registered = requests.post(server["registration_endpoint"], json={"client_name": "Test agent", "redirect_uris": [callback.uri]}, timeout=10)
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["client_id"]

    verifier, challenge = pkce_pair()
    authorize = {"response_type": "code", "client_id": client_id, "redirect_uri": callback.uri, "code_challenge": challenge,
                 "code_challenge_method": "S256", "state": "xyz", "resource": issuer + "/mcp"}
    no_pkce = requests.get(server["authorization_endpoint"], params={**authorize, "code_challenge": None}, allow_redirects=False, timeout=10)
    assert no_pkce.status_code == 302 and "error=invalid_request" in no_pkce.headers["Location"] and no_pkce.headers["Location"].startswith(callback.uri)
    assert requests.get(server["authorization_endpoint"], params={**authorize, "client_id": "oc_unknown"}, allow_redirects=False, timeout=10).status_code == 400
    started = requests.get(server["authorization_endpoint"], params=authorize, allow_redirects=False, timeout=10)
    assert started.status_code == 302 and started.headers["Location"].startswith("/#/oauth/consent/")

    # The person signs in and allows it.
    browser.get(portal.url + started.headers["Location"].lstrip("/"))
    sign_in(browser, "olga", "olga-password-1")
    wait = WebDriverWait(browser, 10)
    wait.until(EC.visibility_of_element_located((By.ID, "consent-client")))
    assert browser.find_element(By.ID, "consent-client").text == "Test agent"
    assert browser.find_element(By.ID, "consent-redirect").text == callback.uri.split("/")[2]
    browser.find_element(By.ID, "consent-approve").click()
    back = callback.wait()
    assert back["state"] == "xyz" and back["iss"] == issuer and back["code"].startswith("mcp_ac_")

    def token(**form):
        return requests.post(server["token_endpoint"], data=form, timeout=10)

    exchange = {"grant_type": "authorization_code", "code": back["code"], "code_verifier": verifier, "client_id": client_id,
                "redirect_uri": callback.uri, "resource": issuer + "/mcp"}
    wrong_verifier = token(**{**exchange, "code_verifier": pkce_pair()[0]})
    assert wrong_verifier.status_code == 400 and wrong_verifier.json()["error"] == "invalid_grant"
    assert token(**exchange).json()["error"] == "invalid_grant", "a code is single use: the wrong verifier spent it"

    # Again, and right this time.
    browser.get(portal.url + requests.get(server["authorization_endpoint"], params=authorize, allow_redirects=False, timeout=10).headers["Location"].lstrip("/"))
    callback.arrived.clear()
    wait.until(EC.visibility_of_element_located((By.ID, "consent-approve"))).click()
    code = callback.wait()["code"]
    granted = token(**{**exchange, "code": code})
    assert granted.status_code == 200 and granted.headers["Cache-Control"] == "no-store", granted.text
    tokens = granted.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600

    def ping(access):
        return requests.post(endpoint(world), json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                             headers={"Authorization": f"Bearer {access}", "Accept": ACCEPT}, timeout=10)

    listed = ping(tokens["access_token"])
    assert listed.status_code == 200 and "host.memory" in [tool["name"] for tool in listed.json()["result"]["tools"]]
    assert requests.get(portal.url + "api/v1/runs", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10).status_code == 401, \
        "an MCP access token is good only at /mcp"

    refreshed = token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client_id).json()
    assert ping(refreshed["access_token"]).status_code == 200
    reused = token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client_id)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert ping(refreshed["access_token"]).status_code == 401, "reusing a rotated refresh token revoked the grant"

    # A third grant, revoked by the person with their keys.
    browser.get(portal.url + requests.get(server["authorization_endpoint"], params=authorize, allow_redirects=False, timeout=10).headers["Location"].lstrip("/"))
    callback.arrived.clear()
    wait.until(EC.visibility_of_element_located((By.ID, "consent-approve"))).click()
    third = token(**{**exchange, "code": callback.wait()["code"]}).json()
    assert ping(third["access_token"]).status_code == 200
    olga = requests.Session()
    olga.headers["X-CSRF-Token"] = olga.post(portal.url + "api/auth/login", json={"username": "olga", "password": "olga-password-1"}).json()["csrfToken"]
    live = [key for key in olga.get(portal.url + "api/keys").json()["keys"] if key["name"] == "Test agent (MCP sign-in)" and not key.get("revokedAt")]
    assert len(live) == 1
    assert olga.delete(portal.url + f"api/keys/{live[0]['id']}").status_code == 204
    assert ping(third["access_token"]).status_code == 401
    callback.server.shutdown()


def test_a_restart_breaks_no_connected_client(world):
    """A session begun before a restart goes on after it: the id holds no server state."""
    portal = world["portal"]
    opened = post(world, INITIALIZE)
    session = opened.headers["Mcp-Session-Id"]
    follow = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
    assert post(world, {"jsonrpc": "2.0", "method": "notifications/initialized"}, **follow).status_code == 202
    assert portal.restart() == 0
    listed = post(world, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, **follow)
    assert listed.status_code == 200, listed.text
    assert "host.memory" in [tool["name"] for tool in listed.json()["result"]["tools"]]
    called = post(world, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "host.kernel", "arguments": {}}}, **follow)
    assert called.json()["result"]["structuredContent"]["status"] == "succeeded"


def test_tool_calls_draw_from_the_tool_run_budget():
    """Calls over the caller's tool-run budget are refused as tool errors naming the wait (a
    model can wait and retry); listing tools is not a tool run."""
    portal = Portal(binary(), env={"PORTAL_RATELIMIT_TOOL_RUN_BURST": "2", "PORTAL_RATELIMIT_TOOL_RUN_PER_MINUTE": "1"})
    try:
        admin = admin_session(portal)
        assert admin.post(portal.url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
        key = admin.post(portal.url + "api/keys", json={"name": "budget", "role": "operator"}).json()["secret"]
        headers = {"Authorization": f"Bearer {key}", "Accept": ACCEPT}

        def call(number):
            message = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": {"name": "host.kernel", "arguments": {}}}
            return requests.post(portal.url + "mcp", json=message, headers=headers, timeout=30).json()["result"]

        assert [call(n)["isError"] for n in (1, 2)] == [False, False]
        third = call(3)
        assert third["isError"] is True and "Too many tool runs" in third["content"][0]["text"]
        listed = requests.post(portal.url + "mcp", json={"jsonrpc": "2.0", "id": 4, "method": "tools/list"}, headers=headers, timeout=30)
        assert listed.status_code == 200 and "result" in listed.json()
    finally:
        assert portal.stop() == 0
