"""API v1 fuzzed by schemathesis against the real binary, from the document the portal serves
(/api/v1/openapi.json): every operation, with examples, coverage, fuzzing and stateful phases,
and every check schemathesis has — no 5xx, every answer as documented (status, content type,
headers, schema), schema-valid requests accepted and invalid ones refused, deleted records
gone, created ones readable, authentication enforced. Seeded and bounded, so a failure can be
reproduced and CI time stays small.

Two callers: an operator's API key (the operations they may not call must refuse cleanly) and
an organization admin's. Nothing leaves loopback: the organization has only a pack of local
tools (the host pack, whose tools look up names and open connections, is not available to it),
and the two operations that take a URL and resolve its name (creating and updating a webhook)
are left out of the admin's run; their input checks are tested in WebhookTests and
test_webhooks.py."""
import http.server
import os
import pathlib
import subprocess
import sys
import threading

import pytest
import requests

from conftest import ROOT, Portal, admin_session

ARTIFACTS = ROOT / "test-artifacts"
SEED = "20261201"

# A pack of harmless local tools: builtin executors that read /proc, one of them high-risk so
# that runs wait for approval.
FUZZ_PACK = {
    "name": "fuzz",
    "title": "Fuzzing tools",
    "version": "1.0.0",
    "description": "Local read-only tools for the API fuzz test.",
    "tools": [
        {"name": "fuzz.memory", "title": "Memory", "category": "Diagnostics", "risk": "read",
         "description": "Memory use.", "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
         "executor": {"type": "builtin", "name": "host.memory"}},
        {"name": "fuzz.kernel", "title": "Kernel", "category": "Diagnostics", "risk": "high",
         "description": "Kernel version, behind an approval.", "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
         "executor": {"type": "builtin", "name": "host.kernel"}},
    ],
}


class Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver on loopback that accepts everything."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *arguments):
        pass


def binary():
    return os.path.abspath(os.environ.get("PORTAL_BINARY", str(ROOT / ".build/debug/portal")))


@pytest.fixture(scope="module")
def world():
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    portal = Portal(binary(), env={
        "PORTAL_WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8",
        # Fuzzing sends thousands of requests a minute: budgets large enough that it tests the
        # operations, not the limiter (whose headers still come on every answer).
        "PORTAL_RATELIMIT_READ_PER_MINUTE": "1000000", "PORTAL_RATELIMIT_READ_BURST": "100000",
        "PORTAL_RATELIMIT_WRITE_PER_MINUTE": "1000000", "PORTAL_RATELIMIT_WRITE_BURST": "100000",
        "PORTAL_RATELIMIT_TOOL_RUN_PER_MINUTE": "1000000", "PORTAL_RATELIMIT_TOOL_RUN_BURST": "100000",
    })
    admin = admin_session(portal)
    url = portal.url
    assert admin.post(url + "api/packs", json=FUZZ_PACK).status_code == 201
    organization = next(o for o in admin.get(url + "api/orgs").json()["organizations"] if o["slug"] == "default")
    assert admin.put(url + "api/packs/fuzz/availability", json={"organizations": [organization["id"]]}).status_code == 204
    assert admin.post(url + "api/packs/fuzz/enabled", json={"enabled": True}).status_code == 204
    assert admin.post(url + "api/users", json={"username": "olga", "password": "olga-password-1", "role": "operator"}).status_code == 201
    hook = admin.post(url + "api/webhooks", json={"url": f"http://127.0.0.1:{receiver.server_port}/hook", "events": ["run.succeeded"]})
    assert hook.status_code == 201, hook.text
    admin_key = admin.post(url + "api/keys", json={"name": "fuzz admin", "role": "admin"}).json()["secret"]
    olga = requests.Session()
    answer = olga.post(url + "api/auth/login", json={"username": "olga", "password": "olga-password-1"})
    olga.headers["X-CSRF-Token"] = answer.json()["csrfToken"]
    operator_key = olga.post(url + "api/keys", json={"name": "fuzz operator", "role": "operator"}).json()["secret"]
    spare_key = olga.post(url + "api/keys", json={"name": "fuzz spare", "role": "operator"}).json()["secret"]
    # A run waiting for approval and one finished, so lists and decisions have records.
    assert requests.post(url + "api/v1/tools/fuzz.memory/runs", json={"input": {}}, headers={"Authorization": f"Bearer {operator_key}"}).status_code == 201
    assert requests.post(url + "api/v1/tools/fuzz.kernel/runs", json={"input": {}}, headers={"Authorization": f"Bearer {operator_key}"}).status_code == 202
    yield {"portal": portal, "admin_key": admin_key, "operator_key": operator_key, "spare_key": spare_key}
    code = portal.stop()
    receiver.shutdown()
    assert code == 0, "the portal stopped cleanly after the fuzzing"


def fuzz(portal, key, name, *extra):
    """Runs schemathesis; returns its output (kept in test-artifacts/)."""
    ARTIFACTS.mkdir(exist_ok=True)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(pathlib.Path(__file__).with_name("schemathesis.toml")),
        "run", portal.url + "api/v1/openapi.json",
        "--header", f"Authorization: Bearer {key}",
        "--checks", "all", "--seed", SEED, "--generation-deterministic", "--max-examples", "15",
        "--phases", "examples,coverage,fuzzing,stateful", "--workers", "1", "--request-timeout", "40",
        "--no-color", "--output-truncate", "false", "--suppress-health-check", "all",
        *extra,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    output = done.stdout + done.stderr
    (ARTIFACTS / f"schemathesis-{name}.txt").write_text(output)
    assert done.returncode == 0, output[-20000:]
    return output


# Revoking the key schemathesis authenticates with would leave the rest of a run testing only
# 401s: the revocation runs on its own, with a key of its own.
KEEP_THE_KEY = ["--exclude-operation-id", "revokeAPIKey"]
# Their URLs are resolved by name before any check: see the module's docstring.
URL_TARGETS = ["--exclude-operation-id", "createWebhook", "--exclude-operation-id", "updateWebhook"]


def test_operator_key_every_operation(world):
    output = fuzz(world["portal"], world["operator_key"], "operator", *KEEP_THE_KEY)
    assert " passed" in output


def test_admin_key_every_operation_but_url_targets(world):
    output = fuzz(world["portal"], world["admin_key"], "admin", *KEEP_THE_KEY, *URL_TARGETS)
    assert " passed" in output


def test_revoking_keys(world):
    output = fuzz(world["portal"], world["spare_key"], "revoke", "--include-operation-id", "revokeAPIKey",
                  "--include-operation-id", "listAPIKeys", "--include-operation-id", "getAPIKey")
    assert " passed" in output
