"""The `portal` command-line client against the real binary: `portal login` checks and stores
an API key (0600, never printed), then tools, runs, approvals and remote audit verification
work as a script expects — tables for people, `--json` for scripts, and exit codes that say
what happened (0 succeeded, 1 the run did not succeed, 3 unreachable, 4 refused, 6 not
logged in)."""
import json
import os
import stat
import subprocess
import tempfile

import pytest

from conftest import ROOT, Portal, admin_session


def binary():
    return os.path.abspath(os.environ.get("PORTAL_BINARY", str(ROOT / ".build/debug/portal")))


@pytest.fixture(scope="module")
def world():
    """A portal with the host pack, an operator (olga) and API keys: hers (operator) and the
    administrator's (admin)."""
    portal = Portal(binary())
    admin = admin_session(portal)
    assert admin.post(portal.url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
    assert admin.post(portal.url + "api/users", json={"username": "olga", "password": "olga-password-1", "role": "operator"}).status_code == 201
    admin_key = admin.post(portal.url + "api/keys", json={"name": "admin cli", "role": "admin"}).json()["secret"]
    import requests
    olga = requests.Session()
    answer = olga.post(portal.url + "api/auth/login", json={"username": "olga", "password": "olga-password-1"})
    olga.headers["X-CSRF-Token"] = answer.json()["csrfToken"]
    olga_key = olga.post(portal.url + "api/keys", json={"name": "olga cli", "role": "operator"}).json()["secret"]
    yield {"portal": portal, "admin": admin, "admin_key": admin_key, "olga_key": olga_key}
    assert portal.stop() == 0


def cli(*arguments, home, stdin=None, env=None):
    """Runs `portal …` as a user whose home is `home`; returns (exit code, stdout, stderr)."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}
    environment.update(env or {})
    done = subprocess.run([binary(), *arguments], input=stdin, capture_output=True, text=True, env=environment, timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def home():
    with tempfile.TemporaryDirectory(prefix="portal-cli-home-") as directory:
        yield directory


def test_login_stores_the_key_privately_and_never_prints_it(world, home):
    code, out, err = cli("tools", "list", home=home)
    assert code == 6 and "portal login" in err, "not logged in yet"
    code, out, err = cli("login", world["portal"].url, home=home, stdin=world["olga_key"] + "\n")
    assert code == 0, err
    assert "olga" in out and world["olga_key"] not in out + err
    path = os.path.join(home, ".config", "portal", "credentials")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.load(open(path))["token"] == world["olga_key"]
    # A wrong key is refused and nothing is stored over the good one.
    code, _, err = cli("login", world["portal"].url, "--token", "pk_not-a-real-key", home=home)
    assert code == 4 and "unknown, expired or revoked" in err
    assert json.load(open(path))["token"] == world["olga_key"]


def test_tools_run_wait_and_page_through_runs(world, home):
    assert cli("login", world["portal"].url, "--token", world["olga_key"], home=home)[0] == 0
    code, out, _ = cli("tools", "list", home=home)
    assert code == 0 and out.splitlines()[0].split() == ["NAME", "RISK", "RUN", "TITLE"] and "host.load" in out
    code, out, _ = cli("tools", "show", "host.tcp-check", home=home)
    assert code == 0 and "port" in out and "integer" in out
    code, out, err = cli("tools", "run", "host.load", "--json", home=home)
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "succeeded" and run["tool"] == "host.load"
    # Input is typed from the schema: port=0 reaches the range check (a number), and the
    # refusal comes back in the portal's words, exit 4.
    code, _, err = cli("tools", "run", "host.tcp-check", "--input", "host=127.0.0.1", "--input", "port=0", home=home)
    assert code == 4 and "port" in err and "at least 1" in err, err
    code, _, err = cli("tools", "run", "host.tcp-check", "--input", "host=127.0.0.1", "--input", "port=nan", home=home)
    assert code == 4 and "port" in err, "a value that is no number is sent as text and refused, not a crash"
    code, out, _ = cli("runs", "list", "--tool", "host.load", "--json", home=home)
    assert code == 0 and run["id"] in [r["id"] for r in json.loads(out)]
    code, out, _ = cli("runs", "show", run["id"], home=home)
    assert code == 0 and "succeeded" in out


def test_runs_list_follows_the_pages_to_the_limit(world, home):
    assert cli("login", world["portal"].url, "--token", world["olga_key"], home=home)[0] == 0
    ids = []
    for _ in range(5):
        code, out, err = cli("tools", "run", "host.memory", "--json", home=home)
        assert code == 0, err
        ids.append(json.loads(out)["id"])
    # 3 a page would be a server's choice; 205 asks for more than one page of 200.
    code, out, err = cli("runs", "list", "--tool", "host.memory", "--limit", "205", "--json", home=home)
    assert code == 0, err
    listed = [r["id"] for r in json.loads(out)]
    assert listed[:5] == ids[::-1] and len(listed) == len(set(listed)), "newest first, each once"
    code, out, _ = cli("runs", "list", "--tool", "host.memory", "--limit", "2", "--json", home=home)
    assert [r["id"] for r in json.loads(out)] == ids[:-3:-1]
    assert cli("runs", "list", "--limit", "0", home=home)[0] == 64


def test_a_risky_run_waits_for_another_persons_decision_and_its_end_is_the_exit_code(world, home):
    olga_home, admin_home = home, tempfile.mkdtemp(prefix="portal-cli-admin-")
    assert cli("login", world["portal"].url, "--token", world["olga_key"], home=olga_home)[0] == 0
    assert cli("login", world["portal"].url, "--token", world["admin_key"], home=admin_home)[0] == 0
    code, out, err = cli("tools", "run", "host.systemd-restart-unit", "--input", "unit=nothing-here.service", "--no-wait", "--json", home=olga_home)
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "pending-approval"
    # She may not decide on her own run; the administrator lists and approves it.
    assert cli("approvals", "list", home=olga_home)[0] == 4
    code, out, _ = cli("approvals", "list", "--json", home=admin_home)
    assert code == 0 and run["id"] in [a["id"] for a in json.loads(out)]
    assert cli("approvals", "approve", run["id"], "--comment", "from the CLI", home=admin_home)[0] == 0
    # The unit does not exist: the run fails, and watching it exits 1.
    code, out, _ = cli("runs", "watch", run["id"], "--json", home=olga_home)
    assert code == 1 and json.loads(out)["status"] == "failed"


def test_remote_audit_verification_and_connection_failures(world, home):
    admin_home = tempfile.mkdtemp(prefix="portal-cli-admin-")
    assert cli("login", world["portal"].url, "--token", world["admin_key"], home=admin_home)[0] == 0
    code, out, err = cli("audit", "verify", "--remote", home=admin_home)
    assert code == 0 and "intact" in out, err
    # The environment wins over the stored file; a portal that is not there is exit 3.
    code, _, err = cli("tools", "list", home=admin_home, env={"PORTAL_URL": "http://127.0.0.1:1", "PORTAL_TOKEN": world["admin_key"]})
    assert code == 3 and "could not be reached" in err and world["admin_key"] not in err
    # A revoked key is refused at once.
    keys = world["admin"].get(world["portal"].url + "api/keys").json()["keys"]
    [olga_key] = [key for key in keys if key["name"] == "olga cli"]
    assert world["admin"].delete(world["portal"].url + f"api/keys/{olga_key['id']}").status_code == 204
    code, _, err = cli("tools", "list", home=home, env={"PORTAL_URL": world["portal"].url, "PORTAL_TOKEN": world["olga_key"]})
    assert code == 4 and "revoked" in err
