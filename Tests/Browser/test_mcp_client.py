"""The portal as an MCP client: an external MCP server (the official Python SDK's MCPServer,
FastMCP's successor, in `mcp_upstream.py`) runs on 127.0.0.1 behind a bearer token; a system
administrator connects it, reviews and imports its tools with a risk each, and people run them
through the portal's one run path (permissions, approvals, audit, limits). Also: the server's
own word that its tools changed (in a call's answer stream and on its GET stream), a wrong
credential, the server going down and coming back (a new process, which forgot the session)."""
import os
import subprocess
import sys
import time

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import Portal, admin_password, admin_session, serious_violations, until
from test_mcp import binary, free_port, new_key
from test_access import sign_in

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "upstream-token-4f1c9e"


class Upstream:
    """The external server's process on a fixed port (so it can come back at the same address)."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process = None

    def start(self):
        self.process = subprocess.Popen([sys.executable, os.path.join(HERE, "mcp_upstream.py"), str(self.port), TOKEN],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        until(lambda: self.reachable(), "the upstream server answers")

    def reachable(self):
        assert self.process.poll() is None, self.process.stderr.read().decode()
        try:
            return requests.get(self.url + "control/state", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def state(self):
        return requests.get(self.url + "control/state", timeout=5).json()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def world():
    upstream = Upstream()
    upstream.start()
    # Budgets above what the tests spend together (the tool-run budget has tests of its own).
    # Python may run local servers (test 8): the interpreter by its name and by the file it links to.
    python = os.path.basename(sys.executable), os.path.basename(os.path.realpath(sys.executable))
    portal = Portal(binary(), port=free_port(), env={
        "PORTAL_TOOLS_ALLOWED_EXECUTABLES": ",".join(("df", "ps") + python),
        "PORTAL_TOOLS_SEARCH_PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin",
        "PORTAL_RATELIMIT_WRITE_PER_MINUTE": "100000", "PORTAL_RATELIMIT_WRITE_BURST": "10000",
        "PORTAL_RATELIMIT_TOOL_RUN_PER_MINUTE": "100000", "PORTAL_RATELIMIT_TOOL_RUN_BURST": "10000"})
    admin = admin_session(portal)
    assert admin.post(portal.url + "api/users", json={"username": "olga", "password": "olga-password-1", "role": "operator"}).status_code == 201
    assert admin.post(portal.url + "api/users", json={"username": "vera", "password": "vera-password-1", "role": "viewer"}).status_code == 201
    olga = requests.Session()
    olga.headers["Authorization"] = "Bearer " + new_key(portal, "olga", "olga-password-1", "operator")["secret"]
    vera = requests.Session()  # a viewer may not create keys: a signed-in session
    signed_in = vera.post(portal.url + "api/auth/login", json={"username": "vera", "password": "vera-password-1"})
    assert signed_in.status_code == 200, signed_in.text
    vera.headers["X-CSRF-Token"] = signed_in.json()["csrfToken"]
    yield {"portal": portal, "admin": admin, "olga": olga, "vera": vera, "upstream": upstream}
    upstream.stop()
    assert portal.stop() == 0


def server(world):
    answer = world["admin"].get(world["portal"].url + "api/mcp-servers/upstream")
    assert answer.status_code == 200, answer.text
    return answer.json()


def run(world, who, tool, arguments):
    return world[who].post(world["portal"].url + f"api/tools/{tool}/runs", json={"input": arguments})


def test_1_a_wrong_credential_is_refused_and_never_shown(world):
    portal, admin = world["portal"], world["admin"]
    assert world["olga"].post(portal.url + "api/mcp-servers", json={"name": "upstream", "url": world["upstream"].url + "mcp"}).status_code == 403
    connected = admin.post(portal.url + "api/mcp-servers", json={
        "name": "upstream", "url": world["upstream"].url + "mcp", "credentialHeader": "Authorization", "credential": "Bearer wrong-token",
        "timeoutSeconds": 2})
    assert connected.status_code == 201, connected.text
    body = connected.json()
    assert body["state"] == "refused" and "credential" in body["lastError"], body
    assert body["hasCredential"] is True and "wrong-token" not in connected.text
    # The stored credential goes nowhere else: a new address needs it given again.
    moved = admin.post(portal.url + "api/mcp-servers", json={"name": "upstream", "url": "http://127.0.0.1:9/mcp", "credentialHeader": "Authorization"})
    assert moved.status_code == 400 and "again" in moved.json()["detail"], moved.text
    assert world["upstream"].state()["refused"] >= 1
    for bad in ({"name": "Upper", "url": world["upstream"].url + "mcp"}, {"name": "host", "url": world["upstream"].url + "mcp"},
                {"name": "x1", "url": "ftp://127.0.0.1/mcp"}, {"name": "x5", "url": "http://user:pw@127.0.0.1:9/mcp"}, {"name": "x2", "url": world["upstream"].url + "mcp", "credential": "no header"},
                {"name": "x3", "url": world["upstream"].url + "mcp", "credentialHeader": "Authorization", "credential": "a\r\nInjected: 1"},
                {"name": "x4", "template": "nothing-like-it"}):
        refused = admin.post(portal.url + "api/mcp-servers", json=bad)
        assert refused.status_code in (400, 409) and refused.headers["Content-Type"].startswith("application/problem+json"), (bad, refused.text)


def test_2_the_right_credential_lists_the_tools_with_suggested_risks(world):
    answer = world["admin"].post(world["portal"].url + "api/mcp-servers", json={
        "name": "upstream", "url": world["upstream"].url + "mcp", "credentialHeader": "Authorization", "credential": f"Bearer {TOKEN}",
        "timeoutSeconds": 5})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["state"] == "connected" and body["server"] == "upstream-test 1.2.3", body
    assert TOKEN not in answer.text
    tools = {tool["name"]: tool for tool in body["tools"]}
    assert {"echo_text", "create_ticket", "restart_service", "fail_always", "big_output", "slow", "add_tool"} <= set(tools)
    assert (tools["echo_text"]["risk"], tools["echo_text"]["riskFloor"]) == ("read", "read")
    assert (tools["create_ticket"]["risk"], tools["create_ticket"]["riskFloor"]) == ("medium", "medium"), "marked not destructive"
    assert (tools["restart_service"]["risk"], tools["restart_service"]["riskFloor"]) == ("high", "medium"), "no annotations: may be destructive"
    assert tools["echo_text"]["catalogName"] == "upstream.echo-text"
    # The schema is kept: an optional field written as anyOf [string, null] is checked as such.
    note = tools["create_ticket"]["inputSchema"]["properties"]["note"]
    assert note["type"] == ["string", "null"] and tools["create_ticket"]["checkedByServerOnly"] is False
    # The sealed credential is nowhere in the data files in clear.
    data = os.path.join(world["portal"].data_dir, "data")
    for name in os.listdir(data):
        with open(os.path.join(data, name), "rb") as file:
            assert TOKEN.encode() not in file.read(), name


def test_3_import_keeps_risks_at_or_above_the_floor(world):
    portal, admin = world["portal"], world["admin"]
    url = portal.url + "api/mcp-servers/upstream/import"
    too_low = admin.post(url, json={"tools": [{"name": "restart_service", "risk": "low"}]})
    assert too_low.status_code == 400 and "read-only" in too_low.json()["detail"], too_low.text
    unknown = admin.post(url, json={"tools": [{"name": "no_such_tool", "risk": "high"}]})
    assert unknown.status_code == 400, unknown.text
    assert admin.post(url, json={"tools": []}).status_code == 400
    assert world["olga"].post(url, json={"tools": [{"name": "echo_text", "risk": "read"}]}).status_code == 403
    # An uploaded pack cannot pose as an MCP server's.
    forged = admin.post(portal.url + "api/packs", json={"name": "forged", "title": "F", "version": "1", "description": "", "tools": [{
        "name": "forged.echo", "title": "Echo", "description": "", "category": "X", "inputSchema": {"type": "object"}, "risk": "read",
        "executor": {"type": "mcp", "tool": "echo_text"}}]})
    assert forged.status_code == 400, forged.text
    chosen = {"echo_text": "read", "create_ticket": "medium", "restart_service": "high", "fail_always": "read", "big_output": "read",
              "slow": "read", "add_tool": "medium"}
    imported = admin.post(url, json={"tools": [{"name": name, "risk": risk} for name, risk in chosen.items()]})
    assert imported.status_code == 200, imported.text
    assert {tool["name"] for tool in imported.json()["tools"] if tool["imported"]} == set(chosen)
    assert admin.post(portal.url + "api/packs/upstream/enabled", json={"enabled": True}).status_code == 204
    listing = world["olga"].get(portal.url + "api/tools").json()["tools"]
    risks = {tool["name"]: tool["risk"] for tool in listing if tool["name"].startswith("upstream.")}
    assert risks == {f"upstream.{name.replace('_', '-')}": risk for name, risk in chosen.items()}


def test_4_calls_go_through_the_run_path(world):
    portal = world["portal"]
    echoed = run(world, "olga", "upstream.echo-text", {"text": "hi", "times": 2})
    assert echoed.status_code == 201, echoed.text
    assert echoed.json()["status"] == "succeeded" and echoed.json()["output"]["text"] == "hi hi"
    assert echoed.json()["entryPoint"] == "api"
    # The portal checks the kept schema before calling: the server never sees a bad call.
    assert run(world, "olga", "upstream.echo-text", {"times": 2}).status_code in (400, 422)
    assert run(world, "olga", "upstream.echo-text", {"text": "a", "times": "two"}).status_code in (400, 422)
    # A viewer may not run a medium-risk tool; the server's error is the run's failure.
    assert run(world, "vera", "upstream.create-ticket", {"title": "x"}).status_code == 403
    failed = run(world, "olga", "upstream.fail-always", {"reason": "disk on fire"}).json()
    assert failed["status"] == "failed" and "disk on fire" in failed["output"]["error"], failed
    # Output beyond the tool's limit (256 KiB) is a clear failure, not a flood.
    big = run(world, "olga", "upstream.big-output", {"size": 600_000}).json()
    assert big["status"] == "failed" and "more than" in big["output"]["error"], big["output"]
    # The connection's time limit (5 s here).
    slow = run(world, "olga", "upstream.slow", {"seconds": 15}).json()
    assert slow["status"] == "failed" and "within 5 s" in slow["output"]["error"], slow["output"]
    # A risky call waits for a human like any other.
    pending = run(world, "olga", "upstream.create-ticket", {"title": "Disk full on db-7", "priority": "high"})
    assert pending.status_code == 202, pending.text
    run_id = pending.json()["id"]
    decided = world["admin"].post(portal.url + f"api/approvals/{run_id}/decision", json={"approve": True, "comment": "ok"})
    assert decided.status_code == 200, decided.text
    ended = world["admin"].get(portal.url + f"api/runs/{run_id}", params={"wait": 20}).json()
    assert ended["status"] == "succeeded" and ended["output"]["json"]["id"] == "T-1", ended
    audit = world["admin"].get(portal.url + "api/audit", params={"kind": "run"}).json()
    assert any(entry.get("tool") == "upstream.create-ticket" for entry in audit["entries"]), audit


def test_5_a_changed_tool_list_waits_for_review(world):
    portal, admin = world["portal"], world["admin"]
    # The server says so in the answer stream of a call ...
    pending = run(world, "olga", "upstream.add-tool", {"name": "late_tool"})
    assert pending.status_code == 202, pending.text
    assert admin.post(portal.url + f"api/approvals/{pending.json()['id']}/decision", json={"approve": True}).status_code == 200
    assert admin.get(portal.url + f"api/runs/{pending.json()['id']}", params={"wait": 20}).json()["status"] == "succeeded"
    changes = until(lambda: [change for change in server(world)["changes"] if change["tool"] == "late_tool"], "the portal re-listed the tools")
    assert changes == [{"tool": "late_tool", "change": "added", "fields": []}]
    assert run(world, "olga", "upstream.late-tool", {}).status_code == 404, "not in the catalog before a review"
    # ... and on its own GET stream, which the portal holds open.
    until(lambda: world["upstream"].state()["get_streams"] >= 1, "the portal listens on the server's stream")
    assert requests.post(world["upstream"].url + "control/add?name=second_tool", timeout=5).json()["sessions"] >= 1
    until(lambda: any(change["tool"] == "second_tool" for change in server(world)["changes"]), "the notification was heard")
    reviewed = server(world)
    added = {tool["name"]: tool for tool in reviewed["tools"] if tool.get("change") == "added"}
    assert set(added) == {"late_tool", "second_tool"} and not any(tool["include"] for tool in added.values())
    keep = [{"name": tool["name"], "risk": tool["risk"]} for tool in reviewed["tools"] if tool["imported"] or tool["name"] == "late_tool"]
    # An import names the listing it reviewed: one listed again since is not imported blind.
    stale = admin.post(portal.url + "api/mcp-servers/upstream/import", json={"tools": keep, "listing": "0" * 64})
    assert stale.status_code == 409, stale.text
    assert admin.post(portal.url + "api/mcp-servers/upstream/import", json={"tools": keep, "listing": reviewed["listing"]}).status_code == 200
    assert server(world)["changes"] == []
    assert run(world, "olga", "upstream.late-tool", {}).json()["output"]["text"] == "late_tool was added"
    events = admin.get(portal.url + "api/audit", params={"kind": "mcp-server"}).json()["entries"]
    assert any(entry["kind"] == "mcp-server.tools-changed" for entry in events), events


def test_6_the_server_going_down_and_coming_back(world):
    upstream = world["upstream"]
    upstream.stop()
    down = run(world, "olga", "upstream.echo-text", {"text": "anyone?"}).json()
    assert down["status"] == "failed" and "unreachable" in down["output"]["error"], down
    state = server(world)
    assert state["state"] == "unreachable" and state["lastError"] and state["lastErrorAt"], state
    # A new process at the same address has forgotten the portal's session: the portal starts
    # a new one and the call goes through.
    upstream.start()
    back = run(world, "olga", "upstream.echo-text", {"text": "back"}).json()
    assert back["status"] == "succeeded" and back["output"]["text"] == "back", back
    assert server(world)["state"] == "connected"


def test_7_the_review_page_in_chromium(world, browser):
    portal = world["portal"]
    browser.get(portal.url)
    sign_in(browser, "admin", admin_password(portal))
    browser.get(portal.url + "#/admin/mcp-servers/upstream")
    WebDriverWait(browser, 15).until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#mcp-import tbody tr"))
    assert browser.find_element(By.CSS_SELECTOR, "#mcp-state [data-state]").get_attribute("data-state") == "connected"
    risks = browser.find_element(By.CSS_SELECTOR, "select.mcp-risk[data-tool=restart_service]")
    assert [option.get_attribute("value") for option in risks.find_elements(By.TAG_NAME, "option")] == ["medium", "high", "destructive"]
    assert serious_violations(browser) == []
    # The pack page shows the connection too.
    browser.get(portal.url + "#/admin/packs")
    state = WebDriverWait(browser, 15).until(lambda _: browser.find_elements(By.CSS_SELECTOR, "tr[data-pack=upstream] .pack-connection"))
    assert state[0].get_attribute("data-state") == "connected"


def test_8_a_local_server_over_stdio(world):
    portal, admin = world["portal"], world["admin"]
    local = {"name": "local", "command": {"executable": os.path.basename(sys.executable), "arguments": [os.path.join(HERE, "mcp_upstream.py"), "stdio"]},
             "credentialVariable": "UPSTREAM_TOKEN", "timeoutSeconds": 8}
    refused = admin.post(portal.url + "api/mcp-servers", json={**local, "name": "shell", "command": {"executable": "bash", "arguments": ["-c", "true"]}})
    assert refused.status_code == 400 and "allowed" in refused.json()["detail"], refused.text
    # The credential reaches the program in its variable: a wrong one makes it exit, and the
    # end of what it said on stderr is the last error.
    wrong = admin.post(portal.url + "api/mcp-servers", json={**local, "credential": "not-the-token"})
    assert wrong.status_code == 201, wrong.text
    assert wrong.json()["state"] == "unreachable" and "bad token in UPSTREAM_TOKEN" in wrong.json()["lastError"], wrong.json()
    assert "not-the-token" not in wrong.text
    right = admin.post(portal.url + "api/mcp-servers", json={**local, "credential": TOKEN})
    assert right.status_code == 201 and right.json()["state"] == "connected", right.text
    assert right.json()["server"] == "upstream-test 1.2.3" and right.json()["command"]["arguments"][-1] == "stdio"
    imported = admin.post(portal.url + "api/mcp-servers/local/import", json={"tools": [
        {"name": "echo_text", "risk": "read"}, {"name": "slow", "risk": "read"}, {"name": "fail_always", "risk": "read"}]})
    assert imported.status_code == 200, imported.text
    assert admin.post(portal.url + "api/packs/local/enabled", json={"enabled": True}).status_code == 204
    echoed = run(world, "olga", "local.echo-text", {"text": "over stdio", "times": 2}).json()
    assert echoed["status"] == "succeeded" and echoed["output"]["text"] == "over stdio over stdio", echoed
    failed = run(world, "olga", "local.fail-always", {"reason": "no disk"}).json()
    assert failed["status"] == "failed" and "no disk" in failed["output"]["error"], failed
    started = time.monotonic()
    slow = run(world, "olga", "local.slow", {"seconds": 60}).json()
    assert slow["status"] == "failed" and "within 8 s" in slow["output"]["error"], slow
    assert time.monotonic() - started < 30, "the process was ended at its deadline"


def test_9_disconnecting_a_server_takes_its_tools_away(world):
    portal, admin = world["portal"], world["admin"]
    assert world["olga"].delete(portal.url + "api/mcp-servers/local").status_code == 403
    assert admin.delete(portal.url + "api/mcp-servers/local").status_code == 204
    assert admin.get(portal.url + "api/mcp-servers/local").status_code == 404
    assert run(world, "olga", "upstream.echo-text", {"text": "still here"}).json()["status"] == "succeeded"
    assert run(world, "olga", "local.echo-text", {"text": "gone"}).status_code == 404
    assert "local" not in {pack["name"] for pack in admin.get(portal.url + "api/packs").json()["packs"]}
    assert admin.delete(portal.url + "api/mcp-servers/local").status_code == 404
