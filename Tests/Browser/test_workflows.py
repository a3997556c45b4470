"""Workflows through the real binary: the API (versions, problems, lost updates, diff, export,
templates against the published schema), workflows as MCP tools for the official client, and
crash recovery: SIGKILL of the portal at random points of a 12-step workflow with a parallel
section and a wait, 20 times, after which every run ends as an uninterrupted one does — or in
needs-attention for a step that is not safe to repeat — and no such step ran twice."""
import datetime
import json
import os
import random
import signal
import sys
import time

import anyio
import httpx2
import jsonschema
import pytest
import requests
import standardwebhooks
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import Portal, admin_session, until
from test_mcp import binary, free_port, new_key

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = (os.path.basename(sys.executable), os.path.basename(os.path.realpath(sys.executable)))


def tool(name, risk, fields, arguments):
    return {"name": f"wft.{name}", "title": name, "description": f"Workflow test tool {name}.", "category": "Test", "risk": risk,
            "inputSchema": {"type": "object", "properties": {field: {"type": "string", "maxLength": 500} for field in fields},
                            "required": fields, "additionalProperties": False},
            "executor": {"type": "command", "executable": PYTHON[0], "arguments": [os.path.join(HERE, "wf_tool.py")] + arguments}}


PACK = {"name": "wft", "title": "Workflow test tools", "version": "1.0.0", "description": "For the workflow tests.", "tools": [
    tool("echo", "read", ["text"], ["echo", "{{input.text}}"]),
    tool("append", "low", ["line", "file"], ["append", "{{input.line}}", "{{input.file}}"]),
]}


def start_portal(data_dir=None, port=None):
    return Portal(binary(), data_dir=data_dir, port=port or free_port(), env={
        "PORTAL_TOOLS_ALLOWED_EXECUTABLES": ",".join(PYTHON),
        "PORTAL_TOOLS_SEARCH_PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin",
        "PORTAL_RATELIMIT_WRITE_PER_MINUTE": "100000", "PORTAL_RATELIMIT_WRITE_BURST": "10000",
        "PORTAL_RATELIMIT_TOOL_RUN_PER_MINUTE": "100000", "PORTAL_RATELIMIT_TOOL_RUN_BURST": "10000"})


def install_pack(portal, admin):
    assert admin.post(portal.url + "api/packs", json=PACK).status_code == 201
    organization = next(o for o in admin.get(portal.url + "api/orgs").json()["organizations"] if o["slug"] == "default")
    assert admin.put(portal.url + "api/packs/wft/availability", json={"organizations": [organization["id"]]}).status_code == 204
    assert admin.post(portal.url + "api/packs/wft/enabled", json={"enabled": True}).status_code == 204


def save(session, portal, definition, base=None, note=""):
    body = {"definition": definition, "note": note}
    if base is not None:
        body["baseVersion"] = base
    return session.post(portal.url + f"api/workflows/{definition['name']}/versions", json=body)


def settled(session, portal, run_id):
    def look():
        answer = session.get(portal.url + f"api/workflow-runs/{run_id}")
        assert answer.status_code == 200, answer.text
        run = answer.json()["run"]
        return run if run["status"] in ("succeeded", "failed", "cancelled", "needs-attention") else None
    return until(look, f"run {run_id} settles", timeout=60)


@pytest.fixture(scope="module")
def world():
    portal = start_portal()
    admin = admin_session(portal)
    install_pack(portal, admin)
    assert admin.post(portal.url + "api/users", json={"username": "olga", "password": "olga-password-1", "role": "operator"}).status_code == 201
    assert admin.post(portal.url + "api/users", json={"username": "vera", "password": "vera-password-1", "role": "viewer"}).status_code == 201
    olga = requests.Session()
    olga.headers["Authorization"] = "Bearer " + new_key(portal, "olga", "olga-password-1", "operator")["secret"]
    vera = requests.Session()
    signed_in = vera.post(portal.url + "api/auth/login", json={"username": "vera", "password": "vera-password-1"})
    vera.headers["X-CSRF-Token"] = signed_in.json()["csrfToken"]
    yield {"portal": portal, "admin": admin, "olga": olga, "vera": vera, "olga_key": olga.headers["Authorization"][7:]}
    assert portal.stop() == 0


ECHO = {"name": "echo", "title": "Echo", "inputs": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "maxLength": 100}}},
        "outputs": {"said": "{{ steps.say.output.text }}"},
        "nodes": [{"id": "say", "type": "tool", "config": {"tool": "wft.echo", "input": {"text": "{{ inputs.text }}"}}}], "edges": []}


def test_versions_problems_lost_updates_diff_and_export(world):
    portal, admin, olga, vera = world["portal"], world["admin"], world["olga"], world["vera"]
    first = save(admin, portal, ECHO, base=0, note="first")
    assert first.status_code == 201, first.text
    assert first.headers["Location"] == "/api/workflows/echo" and first.json()["workflow"]["latestVersion"] == 1
    # An operator may run workflows but not save them; a viewer may do neither.
    assert save(olga, portal, ECHO).status_code == 403
    assert vera.post(portal.url + "api/workflows/echo/runs", json={"inputs": {"text": "x"}}).status_code == 403
    # Every problem is listed with the step it belongs to.
    broken = dict(ECHO, nodes=[{"id": "say", "type": "condition", "config": {"expression": "steps.nowhere.output >"}},
                               {"id": "other", "type": "tool", "config": {}}], edges=[{"from": "say", "port": "maybe", "to": "other"}])
    refused = save(admin, portal, broken)
    assert refused.status_code == 422 and refused.headers["Content-Type"].startswith("application/problem+json"), refused.text
    fields = {error["field"] for error in refused.json()["errors"]} if "errors" in refused.json() else refused.text
    assert any(field.startswith("nodes.say.config") for field in fields) and any(field.startswith("nodes.other.config.tool") for field in fields), refused.text
    # Names must agree, and malformed bodies are 400s too.
    assert admin.post(portal.url + "api/workflows/other/versions", json={"definition": ECHO}).status_code == 422
    assert admin.post(portal.url + "api/workflows/echo/versions", json={"definition": {"name": "echo"}}).status_code == 400
    assert admin.post(portal.url + "api/workflows/echo/versions", data=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    # A second editor who started from version 1 after someone saved version 2: 409.
    assert save(admin, portal, dict(ECHO, title="Echo two"), base=1).status_code == 201
    lost = save(admin, portal, dict(ECHO, title="Echo stale"), base=1)
    assert lost.status_code == 409 and "version 2" in lost.json()["detail"], lost.text
    diff = admin.get(portal.url + "api/workflows/echo/diff", params={"from": 1})
    assert diff.status_code == 200 and diff.json()["changedFields"] == ["title"] and diff.json()["to"] == 2, diff.text
    exported = admin.get(portal.url + "api/workflows/echo/export", params={"version": 1})
    assert exported.status_code == 200 and 'filename="echo-v1.workflow.json"' in exported.headers["Content-Disposition"]
    assert exported.json()["title"] == "Echo"
    # Restoring version 1 is saving its definition again: version 3.
    assert save(admin, portal, exported.json(), base=2, note="restored v1").json()["workflow"]["latestVersion"] == 3
    assert [v["version"] for v in admin.get(portal.url + "api/workflows/echo").json()["versions"]] == [3, 2, 1]
    assert admin.get(portal.url + "api/workflows/echo/versions/9").status_code == 404
    assert admin.get(portal.url + "api/workflows/nope").status_code == 404
    # Runs: inputs are checked against the schema; a run is pinned to its version.
    assert olga.post(portal.url + "api/workflows/echo/runs", json={"inputs": {"text": 5}}).status_code == 400
    started = olga.post(portal.url + "api/workflows/echo/runs", json={"inputs": {"text": "hi"}, "version": 2})
    assert started.status_code == 201 and started.headers["Location"].startswith("/api/workflow-runs/"), started.text
    run = settled(olga, portal, started.json()["run"]["id"])
    assert run["version"] == 2 and run["status"] == "succeeded" and run["outputs"] == {"said": "hi"} and run["trigger"] == "api"
    listed = olga.get(portal.url + "api/workflow-runs", params={"workflow": "echo", "status": "succeeded"}).json()
    assert [r["id"] for r in listed["runs"]] == [run["id"]]
    assert olga.get(portal.url + "api/workflow-runs", params={"status": "sideways"}).status_code == 400
    # The run's tool step went through the one run path as olga, via the workflow entry point.
    tool_run = admin.get(portal.url + "api/runs", params={"tool": "wft.echo"}).json()["runs"][0]
    assert tool_run["entryPoint"] == "workflow" and tool_run["requester"] == "olga"
    # Deleting is refused while runs are unfinished, and done otherwise.
    assert admin.delete(portal.url + "api/workflows/echo").status_code == 204
    assert admin.get(portal.url + "api/workflows/echo").status_code == 404


def test_every_template_matches_the_published_schema_and_saves(world):
    portal, admin = world["portal"], world["admin"]
    schema = admin.get(portal.url + "api/workflows/schema").json()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    templates = admin.get(portal.url + "api/workflows/templates").json()["templates"]
    assert len(templates) >= 7
    by_name = {template["definition"]["name"]: template for template in templates}
    for template in templates:
        errors = sorted(validator.iter_errors(template["definition"]), key=str)
        assert not errors, (template["definition"]["name"], [e.message for e in errors])
    for template in templates:
        for required in template.get("requires") or []:
            save(admin, portal, by_name[required]["definition"])
        answer = save(admin, portal, template["definition"])
        assert answer.status_code == 201, (template["definition"]["name"], answer.text)
    # The schema refuses what the portal refuses: an unknown step type, a bad id.
    assert list(validator.iter_errors({"name": "x", "nodes": [{"id": "Bad", "type": "teleport"}]}))


def test_a_workflow_is_an_mcp_tool_for_the_official_client(world):
    portal, admin = world["portal"], world["admin"]
    assert save(admin, portal, dict(ECHO, name="echo-mcp")).status_code == 201

    async def main():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {world['olga_key']}"}, timeout=60) as http:
            async with Client(streamable_http_client(portal.url + "mcp", http_client=http), mode="legacy") as client:
                listing = await client.list_tools()
                result = await client.call_tool("workflow.echo-mcp", {"text": "over mcp"})
                refused = await client.call_tool("workflow.echo-mcp", {"text": 42})
                return listing, result, refused

    listing, result, refused = anyio.run(main)
    tools = {tool.name: tool for tool in listing.tools}
    assert tools["workflow.echo-mcp"].input_schema["required"] == ["text"]
    assert tools["workflow.echo-mcp"].annotations.read_only_hint is False
    assert result.is_error is False and result.structured_content["status"] == "succeeded", result
    assert result.structured_content["outputs"] == {"said": "over mcp"}
    assert refused.is_error is True and "text" in refused.content[0].text
    run = admin.get(portal.url + f"api/workflow-runs/{result.structured_content['runId']}").json()["run"]
    assert run["trigger"] == "mcp" and run["starterName"] == "olga"


# MARK: Crash recovery

def crash_workflow(log_file):
    """Twelve steps: a read, a parallel section (a read, an unsafe append, a wait), a join, a
    condition, a variable, a second unsafe append, a notification and a last variable."""
    def append(node, line):
        return {"id": node, "type": "tool", "config": {"tool": "wft.append", "input": {"line": f"{{{{ run.id }}}}:{line}", "file": log_file}}}
    return {"name": "crashy", "title": "Crash test", "outputs": {"first": "{{ steps.a.output.text }}", "flag": "{{ vars.flag }}", "last": "{{ steps.d.output.appended }}"},
            "nodes": [
                {"id": "begin", "type": "set", "config": {"variables": {"flag": "set"}}},
                {"id": "a", "type": "tool", "config": {"tool": "wft.echo", "input": {"text": "read {{ run.id }}"}}},
                {"id": "split", "type": "join"},
                {"id": "b", "type": "tool", "config": {"tool": "wft.echo", "input": {"text": "b"}}},
                append("c", "c"),
                {"id": "nap", "type": "wait", "config": {"seconds": 1}},
                {"id": "meet", "type": "join", "config": {"mode": "all"}},
                {"id": "check", "type": "condition", "config": {"expression": "steps.b.output.text == 'b'"}},
                {"id": "mark", "type": "set", "config": {"variables": {"checked": True}}},
                append("d", "d"),
                {"id": "tell", "type": "notify", "config": {"message": "done {{ run.id }}"}},
                {"id": "end", "type": "set", "config": {"variables": {"ended": True}}}],
            "edges": [{"from": "begin", "to": "a"}, {"from": "a", "to": "split"}, {"from": "split", "to": "b"}, {"from": "split", "to": "c"},
                      {"from": "split", "to": "nap"}, {"from": "b", "to": "meet"}, {"from": "c", "to": "meet"}, {"from": "nap", "to": "meet"},
                      {"from": "meet", "to": "check"}, {"from": "check", "port": "true", "to": "mark"}, {"from": "mark", "to": "d"},
                      {"from": "d", "to": "tell"}, {"from": "tell", "to": "end"}]}


def test_a_webhook_signed_by_the_reference_library_starts_one_run(world):
    """A workflow's incoming webhook, called as any Standard Webhooks sender calls it (signed
    by the `standardwebhooks` reference library): the run starts once per message id, with its
    inputs from the body; anything unsigned or signed otherwise is 401 with a problem."""
    portal, admin, olga = world["portal"], world["admin"], world["olga"]
    flow = dict(ECHO, name="on-alert", title="On alert", triggers=[
        {"type": "webhook", "condition": "body.action == 'opened'", "inputs": {"text": "alert on {{ body.alert.host }}"}}])
    assert save(admin, portal, flow).status_code == 201
    assert olga.put(portal.url + "api/v1/workflows/on-alert/webhook").status_code == 403
    made = admin.put(portal.url + "api/workflows/on-alert/webhook")
    assert made.status_code == 201, made.text
    secret, path = made.json()["secret"], made.json()["path"]
    assert secret.startswith("whsec_") and "on-alert" not in path
    shown = admin.get(portal.url + "api/workflows/on-alert/webhook")
    assert shown.status_code == 200 and shown.json().get("secret") is None and shown.json()["path"] == path

    url = portal.url + path.lstrip("/")
    payload = json.dumps({"action": "opened", "alert": {"host": "db-7"}})

    def headers(message_id, key=secret, body=payload):
        now = datetime.datetime.now(tz=datetime.timezone.utc)
        signature = standardwebhooks.Webhook(key).sign(message_id, now, body)
        return {"webhook-id": message_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature, "Content-Type": "application/json"}

    unsigned = requests.post(url, data=payload, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and unsigned.headers["Content-Type"] == "application/problem+json", unsigned.text
    assert "webhook-signature" in unsigned.json()["detail"]
    other = requests.post(url, data=payload, headers=headers("msg_1", key="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU="))
    assert other.status_code == 401, other.text

    first = requests.post(url, data=payload, headers=headers("msg_1"))
    assert first.status_code == 202 and first.json()["started"] is True, first.text
    run_id = first.json()["runID"]
    again = requests.post(url, data=payload, headers=headers("msg_1"))
    assert again.status_code == 200 and again.json() == {"started": False, "repeated": True, "runID": run_id, "status": again.json()["status"]}
    ignored = requests.post(url, data=json.dumps({"action": "closed"}), headers=headers("msg_2", body=json.dumps({"action": "closed"})))
    assert ignored.status_code == 200 and ignored.json()["started"] is False and ignored.json().get("runID") is None

    run = admin.get(portal.url + f"api/workflow-runs/{run_id}?wait=30").json()["run"]
    assert run["status"] == "succeeded" and run["trigger"] == "webhook" and run["inputs"] == {"text": "alert on db-7"}
    assert run["outputs"] == {"said": "alert on db-7"}
    runs = admin.get(portal.url + "api/workflow-runs?workflow=on-alert").json()["runs"]
    assert [r["id"] for r in runs] == [run_id]

    assert admin.delete(portal.url + "api/workflows/on-alert/webhook").status_code == 204
    assert requests.post(url, data=payload, headers=headers("msg_3")).status_code == 404


def test_sigkill_at_random_points_loses_no_run_and_repeats_no_unsafe_step(tmp_path):
    rng = random.Random(int(os.environ.get("WORKFLOW_CRASH_SEED", "22")))
    log_file = str(tmp_path / "effects.log")
    portal = start_portal()
    data_dir, port = portal.data_dir, portal.port
    admin = admin_session(portal)
    install_pack(portal, admin)
    assert save(admin, portal, crash_workflow(log_file)).status_code == 201
    # The uninterrupted run, for comparison.
    reference = admin.post(portal.url + "api/workflows/crashy/runs", json={}).json()["run"]["id"]
    expected = settled(admin, portal, reference)
    assert expected["status"] == "succeeded", expected
    runs = []
    for cycle in range(20):
        answer = admin.post(portal.url + "api/workflows/crashy/runs", json={})
        assert answer.status_code == 201, answer.text
        runs.append(answer.json()["run"]["id"])
        # A random point in the run's life (the whole run takes a little over a second).
        time.sleep(rng.uniform(0, 1.4))
        portal.process.send_signal(signal.SIGKILL)
        portal.process.wait(timeout=30)
        portal = Portal(binary(), data_dir=data_dir, port=port, env=portal.environment)
        portal.admin_password_changed = True  # changed on the first start
        admin = admin_session(portal)
    outcomes = {}
    effects = open(log_file).read().split("\n") if os.path.exists(log_file) else []
    for run_id in [reference] + runs:
        run = settled(admin, portal, run_id)
        outcomes[run["status"]] = outcomes.get(run["status"], 0) + 1
        for step in ("c", "d"):
            count = effects.count(f"{run_id}:{step}")
            assert count <= 1, f"run {run_id} step {step} took effect {count} times"
        if run["status"] == "succeeded":
            assert run["outputs"]["flag"] == "set" and run["outputs"]["first"] == f"read {run_id}" and run["outputs"]["last"] == f"{run_id}:d", run
            assert all(effects.count(f"{run_id}:{step}") == 1 for step in ("c", "d")), run_id
            assert set(run["steps"]) == set(expected["steps"]) and all(s["status"] == "succeeded" for s in run["steps"].values()), run["steps"]
        else:
            assert run["status"] == "needs-attention", run
            assert "had been handed over (to its tool)" in run["error"] and any(step in run["error"] for step in ("step c ", "step d ")), run["error"]
    # Someone looks at each stopped run and retries it: it ends like the others.
    for run_id in runs:
        run = admin.get(portal.url + f"api/workflow-runs/{run_id}").json()["run"]
        if run["status"] == "needs-attention":
            assert admin.post(portal.url + f"api/workflow-runs/{run_id}/retry").status_code == 200
            assert settled(admin, portal, run_id)["status"] == "succeeded"
    print(f"outcomes after 20 kills: {outcomes}")
    assert portal.stop() == 0
