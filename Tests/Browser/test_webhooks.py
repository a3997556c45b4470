"""Webhooks end to end (through the API; no browser): the real portal posts to a receiver on
this host, which checks every request's Standard Webhooks 1.0 signature with the reference
library (`standardwebhooks`) and answers as each test scripts it. Delivery, retries on the
configured schedule, Retry-After, 410 Gone, a retry series across a restart, ping and
redelivery, secret rotation, refused URLs and who may see subscriptions.

One portal serves the tests that share its settings (webhooks may reach 127.0.0.0/8, retries
after 1 s then 3 s); the restart and the default-settings tests start their own. Nothing is
ever sent outside 127.0.0.0/8: the other addresses named here are refused before any
connection is made."""
import base64
import collections
import http.server
import json
import os
import secrets as randomness
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import requests
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from conftest import ROOT, Portal, admin_session

LOOPBACK = {"PORTAL_WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8"}
# The shared portal's retry waits: 1 s, then 3 s (±20% jitter each), so the first two gaps of
# a retry series fall in [0.8, 1.2] and [2.4, 3.6], which do not overlap.
SHARED_SETTINGS = {**LOOPBACK, "PORTAL_WEBHOOKS_RETRY_SECONDS": "1,3"}


def portal_binary():
    return os.path.abspath(os.environ.get("PORTAL_BINARY", str(ROOT / ".build/debug/portal")))


# MARK: The receiver

class Received:
    """One request as the receiver got it. `time` is time.monotonic() on arrival, `wall`
    time.time(); `verified` maps each secret the receiver knew to None (the signature verifies)
    or why it does not; `status` is what the receiver answered."""

    def __init__(self, arrived, wall, method, path, headers, body, status, verified):
        self.time, self.wall, self.method, self.path = arrived, wall, method, path
        self.headers, self.body, self.status, self.verified = headers, body, status, verified
        try:
            self.payload = json.loads(body)
        except ValueError:
            self.payload = None

    @property
    def type(self):
        return self.payload.get("type") if isinstance(self.payload, dict) else None

    def __repr__(self):
        return f"<{self.method} {self.path} {self.headers.get('webhook-id')} {self.type} → {self.status}>"


class Receiver:
    """A webhook receiver on 127.0.0.1 (a free port), in a thread. It answers the scripted
    responses in order (`answer`), then `default`; each an HTTP status or (status, headers).
    Every request is recorded and its signature verified against `secrets`."""

    def __init__(self):
        self.requests = []
        self.secrets = []
        self.default = 200
        self._script = collections.deque()
        self._changed = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                receiver._handle(self)

            # Anything but POST is recorded too (and fails the tests' checks of the method).
            do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

            def log_message(self, *arguments):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver", daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server.server_address[1]

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, *responses):
        with self._changed:
            self._script.extend(responses)

    def trust(self, secret):
        """Verify every request from now on with `secret` too."""
        with self._changed:
            self.secrets.append(secret)

    def _handle(self, handler):
        arrived, wall = time.monotonic(), time.time()
        body = _read_body(handler)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        with self._changed:
            response = self._script.popleft() if self._script else self.default
            known = list(self.secrets)
        status, extra = (response, {}) if isinstance(response, int) else response
        verified = {}
        for secret in known:
            try:
                Webhook(secret).verify(body, headers)
                verified[secret] = None
            except Exception as error:  # noqa: BLE001 - recorded, and asserted on by the test
                verified[secret] = f"{type(error).__name__}: {error}"
        answer = b"received"
        handler.send_response(status)
        for name, value in extra.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)
        handler.wfile.flush()
        # Recorded once answered: a test that sees it knows the portal has the answer.
        with self._changed:
            self.requests.append(Received(arrived, wall, handler.command, handler.path, headers, body, status, verified))
            self._changed.notify_all()

    def wait_for(self, count, timeout=15):
        """The first `count` requests, once they have arrived; fails after `timeout` seconds."""
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.requests) >= count, timeout)
            assert arrived, f"{len(self.requests)} of {count} requests arrived within {timeout} s: {self.requests}"
            return list(self.requests[:count])

    def wait_until(self, predicate, timeout=15):
        """The first request for which `predicate` holds, once it has arrived."""
        with self._changed:
            found = self._changed.wait_for(lambda: next((r for r in self.requests if predicate(r)), None), timeout)
            assert found, f"no such request within {timeout} s; received: {self.requests}"
            return found

    def quiet(self, count, within):
        """Whether no request beyond the first `count` arrives within `within` seconds."""
        with self._changed:
            return not self._changed.wait_for(lambda: len(self.requests) > count, within)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _read_body(handler):
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def assert_signed(request, secret):
    """The receiver verified `request`'s signature with `secret` when it arrived."""
    assert secret in request.verified, f"the receiver did not know {secret[:10]}… when {request} arrived"
    assert request.verified[secret] is None, f"{request} does not verify: {request.verified[secret]}"


@pytest.fixture
def receivers():
    """Makes receivers; each is shut down after the test."""
    made = []

    def make():
        made.append(Receiver())
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


# MARK: Portal helpers

def run_tool(session, portal):
    """Runs host.load (read risk: no approval); returns the run's id."""
    answer = session.post(portal.url + "api/tools/host.load/runs", json={"input": {}})
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "succeeded", answer.text
    return answer.json()["id"]


def run_id(value):
    """A run id as an event carries it: the same lowercase string the API shows."""
    assert isinstance(value, str) and value == value.lower(), f"ids in events read as the API writes them, not {value!r}"
    return value


def create_subscription(session, portal, receiver, events=("run.succeeded",), path="/hook"):
    """A subscription of `receiver` to `events`; returns it and its secret, which the receiver
    then verifies every request with."""
    answer = session.post(portal.url + "api/webhooks", json={"url": receiver.url(path), "events": list(events), "description": "test receiver"})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert answer.headers["Location"] == f"/api/webhooks/{created['webhook']['id']}"
    receiver.trust(created["secret"])
    return created["webhook"], created["secret"]


def deliveries(session, portal, webhook_id):
    answer = session.get(portal.url + f"api/webhooks/{webhook_id}/deliveries")
    assert answer.status_code == 200, answer.text
    return answer.json()["deliveries"]


def eventually(check, timeout=10.0, what="the condition"):
    """`check()`'s first truthy value. The portal records an attempt's outcome just after the
    receiver has answered, and pushes nothing when it does, so this re-reads the API every
    0.1 s (within the read rate limit) until `timeout`; every other wait in this file is on an
    event."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.1)


def settled(session, portal, webhook_id, message_id=None, timeout=10.0):
    """The subscription's deliveries (newest first) once the one with `message_id` (or every
    one) has finished: succeeded or abandoned, no attempt left to come."""
    def check():
        found = deliveries(session, portal, webhook_id)
        watched = [d for d in found if message_id is None or d["messageID"] == message_id]
        return found if watched and all(d["state"] != "pending" for d in watched) else None
    return eventually(check, timeout, what=f"the deliveries of {webhook_id} finishing")


def delivery_with(found, message_id):
    [delivery] = [d for d in found if d["messageID"] == message_id]
    return delivery


def sign_in(portal, username, password):
    session = requests.Session()
    answer = session.post(portal.url + "api/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["mustChangePassword"] is False
    session.headers["X-CSRF-Token"] = answer.json()["csrfToken"]
    return session


def iso_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def world():
    """The shared portal (webhooks may reach 127.0.0.0/8; retries after 1 s, then 3 s) with
    the host pack enabled, and the administrator's session."""
    portal = Portal(portal_binary(), env=SHARED_SETTINGS)
    try:
        admin = admin_session(portal)
        assert admin.post(portal.url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
    except BaseException:
        portal.stop()
        raise
    yield SimpleNamespace(portal=portal, url=portal.url, admin=admin)
    assert portal.stop() == 0, "portal must exit 0 on SIGTERM"


@pytest.fixture
def subscribe(world):
    """Creates subscriptions in the shared portal; deletes them after the test, so events of
    later tests go to no receiver of an earlier one."""
    created = []

    def make(receiver, events=("run.succeeded",), path="/hook"):
        webhook, secret = create_subscription(world.admin, world.portal, receiver, events, path)
        created.append(webhook["id"])
        return webhook, secret

    yield make
    for webhook_id in created:
        assert world.admin.delete(world.url + f"api/webhooks/{webhook_id}").status_code in (204, 404)


# MARK: Tests on the shared portal

def test_a_run_is_delivered_once_signed_and_logged_and_the_secret_is_shown_once(world, receivers, subscribe):
    receiver = receivers()
    webhook, secret = subscribe(receiver)
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[len("whsec_"):])) == 32
    assert webhook["enabled"] is True and webhook["events"] == ["run.succeeded"] and webhook["url"] == receiver.url()
    for path in ("api/webhooks", f"api/webhooks/{webhook['id']}"):
        answer = world.admin.get(world.url + path)
        assert answer.status_code == 200, answer.text
        assert secret[len("whsec_"):] not in answer.text and '"secret"' not in answer.text, f"{path} shows the secret"
    assert webhook["id"] in [w["id"] for w in world.admin.get(world.url + "api/webhooks").json()["webhooks"]]

    ran = run_tool(world.admin, world.portal)
    [request] = receiver.wait_for(1)
    assert receiver.quiet(1, within=1.0), f"one event, one request: {receiver.requests}"

    assert request.method == "POST" and request.path == "/hook"
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["webhook-id"].startswith("msg_")
    assert abs(int(request.headers["webhook-timestamp"]) - request.wall) <= 60
    assert_signed(request, secret)
    assert request.type == "run.succeeded"
    assert request.payload["data"]["tool"] == "host.load"
    assert run_id(request.payload["data"]["runID"]) == ran.lower()

    [delivery] = settled(world.admin, world.portal, webhook["id"])
    assert delivery["state"] == "succeeded"
    assert [(a["status"], a["manual"]) for a in delivery["attempts"]] == [(200, False)]
    assert delivery["messageID"] == request.headers["webhook-id"]
    assert delivery["eventType"] == "run.succeeded"
    assert delivery["body"].encode() == request.body, "the log keeps the body exactly as signed and sent"
    assert delivery.get("nextAttemptAt") is None


def test_failed_attempts_are_retried_on_the_schedule_with_the_same_message(world, receivers, subscribe):
    receiver = receivers()
    receiver.answer(500, 500)  # then 200
    webhook, secret = subscribe(receiver)
    run_tool(world.admin, world.portal)

    first, second, third = receiver.wait_for(3, timeout=20)
    assert receiver.quiet(3, within=0.5), "nothing follows a success"
    assert {r.headers["webhook-id"] for r in (first, second, third)} == {first.headers["webhook-id"]}
    assert first.body == second.body == third.body
    for request in (first, second, third):
        assert_signed(request, secret)
    gaps = (second.time - first.time, third.time - second.time)
    # 1 s ±20%, then 3 s ±20% (plus the time to record each answer).
    assert 0.75 <= gaps[0] < 2.3, gaps
    assert gaps[1] >= 2.35, gaps
    assert gaps[1] > gaps[0], gaps

    [delivery] = settled(world.admin, world.portal, webhook["id"])
    assert delivery["state"] == "succeeded"
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 200]
    assert not any(a["manual"] for a in delivery["attempts"])


def test_retry_after_holds_the_next_attempt_back(world, receivers, subscribe):
    # The shared schedule would retry after 1 s (at most 1.2 s); Retry-After asks for 3.
    receiver = receivers()
    receiver.answer((503, {"Retry-After": "3"}))
    webhook, secret = subscribe(receiver)
    run_tool(world.admin, world.portal)

    first, second = receiver.wait_for(2, timeout=20)
    assert second.time - first.time >= 2.9, second.time - first.time
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert_signed(first, secret)
    assert_signed(second, secret)
    [delivery] = settled(world.admin, world.portal, webhook["id"])
    assert delivery["state"] == "succeeded"
    assert [a["status"] for a in delivery["attempts"]] == [503, 200]


def test_410_gone_disables_the_subscription_and_later_events_are_not_sent(world, receivers, subscribe):
    gone, watcher = receivers(), receivers()
    gone.answer(410)
    webhook, secret = subscribe(gone)
    # A second subscription hears of the disabling (the audited webhook.disabled event) and of
    # every run: its copy of a run tells that the portal has handled that event.
    _, watcher_secret = subscribe(watcher, events=("webhook.disabled", "run.succeeded"))

    run_tool(world.admin, world.portal)
    [request] = gone.wait_for(1)
    assert_signed(request, secret)
    disabled = watcher.wait_until(lambda r: r.type == "webhook.disabled")
    assert_signed(disabled, watcher_secret)
    detail = disabled.payload["data"]["detail"]
    assert "410" in detail and "127.0.0.1" in detail, disabled.payload
    assert gone.url() not in detail, "the URL's path (often a credential) stays out of events and the audit trail"

    # The event was recorded with the change: the subscription is off now.
    answer = world.admin.get(world.url + f"api/webhooks/{webhook['id']}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["enabled"] is False
    assert "410" in (answer.json().get("disabledReason") or ""), answer.json()
    [delivery] = deliveries(world.admin, world.portal, webhook["id"])
    assert delivery["state"] == "abandoned" and delivery.get("nextAttemptAt") is None
    assert [a["status"] for a in delivery["attempts"]] == [410]

    later = run_tool(world.admin, world.portal)
    watcher.wait_until(lambda r: r.type == "run.succeeded" and run_id(r.payload["data"].get("runID")) == later.lower())
    assert [d["messageID"] for d in deliveries(world.admin, world.portal, webhook["id"])] == [delivery["messageID"]], \
        "no delivery for an event after the subscription was disabled"
    assert gone.quiet(1, within=0.5), gone.requests


def test_a_ping_and_a_redelivery_arrive_signed_with_their_message_id(world, receivers, subscribe):
    receiver = receivers()
    webhook, secret = subscribe(receiver)

    answer = world.admin.post(world.url + f"api/webhooks/{webhook['id']}/ping")
    assert answer.status_code == 202, answer.text
    ping = answer.json()
    assert ping["eventType"] == "webhook.ping"
    [pinged] = receiver.wait_for(1)
    assert pinged.headers["webhook-id"] == ping["messageID"]
    assert_signed(pinged, secret)
    assert pinged.type == "webhook.ping"
    assert pinged.payload["data"]["subscriptionID"].lower() == webhook["id"].lower()

    run_tool(world.admin, world.portal)
    original = receiver.wait_for(2)[1]
    assert original.type == "run.succeeded"
    message = original.headers["webhook-id"]
    assert delivery_with(settled(world.admin, world.portal, webhook["id"], message), message)["state"] == "succeeded"

    answer = world.admin.post(world.url + f"api/webhooks/{webhook['id']}/deliveries/{delivery_with(deliveries(world.admin, world.portal, webhook['id']), message)['id']}/redeliver")
    assert answer.status_code == 202, answer.text
    assert answer.json()["messageID"] == message

    again = receiver.wait_for(3)[2]
    assert again.headers["webhook-id"] == message, "a redelivery keeps the message id"
    assert again.body == original.body
    # Signed anew at its own time (whole seconds: in the same second the signature may repeat).
    assert int(again.headers["webhook-timestamp"]) >= int(original.headers["webhook-timestamp"])
    if again.headers["webhook-timestamp"] != original.headers["webhook-timestamp"]:
        assert again.headers["webhook-signature"] != original.headers["webhook-signature"]
    assert_signed(again, secret)
    redelivered = delivery_with(settled(world.admin, world.portal, webhook["id"], message), message)
    assert redelivered["state"] == "succeeded"
    assert [(a["status"], a["manual"]) for a in redelivered["attempts"]] == [(200, False), (200, True)]

    missing = world.admin.post(world.url + f"api/webhooks/{webhook['id']}/deliveries/00000000-0000-7000-8000-000000000000/redeliver")
    assert missing.status_code == 404, missing.text


def test_after_a_rotation_deliveries_are_signed_with_the_new_and_the_old_secret(world, receivers, subscribe):
    receiver = receivers()
    webhook, old = subscribe(receiver)
    answer = world.admin.post(world.url + f"api/webhooks/{webhook['id']}/secret")
    assert answer.status_code == 200, answer.text
    new = answer.json()["secret"]
    assert new.startswith("whsec_") and new != old
    # The previous secret keeps signing for the default overlap, 24 hours.
    assert iso_time(answer.json()["previousSecretValidUntil"]) > datetime.now(timezone.utc) + timedelta(hours=23)
    receiver.trust(new)
    shown = world.admin.get(world.url + f"api/webhooks/{webhook['id']}")
    assert shown.json().get("previousSecretValidUntil") is not None
    assert new[len("whsec_"):] not in shown.text and old[len("whsec_"):] not in shown.text

    run_tool(world.admin, world.portal)
    [request] = receiver.wait_for(1)
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures), request.headers["webhook-signature"]
    assert_signed(request, new)
    assert_signed(request, old)

    # Each signature is one secret's: one verifies with the new secret only, the other with
    # the old one only.
    def verifies(secret, signature):
        try:
            Webhook(secret).verify(request.body, {**request.headers, "webhook-signature": signature})
            return True
        except WebhookVerificationError:
            return False
    assert sorted([[s for s in (new, old) if verifies(s, signature)] for signature in signatures]) == sorted([[new], [old]])
    stranger = "whsec_" + base64.b64encode(randomness.token_bytes(32)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(request.body, request.headers)


def test_bad_subscriptions_are_refused_naming_the_reason(world, receivers, subscribe):
    receiver = receivers()

    def create(url, events=("run.succeeded",)):
        return world.admin.post(world.url + "api/webhooks", json={"url": url, "events": list(events)})

    def refused(answer, *named):
        assert answer.status_code == 400, answer.text
        detail = answer.json()["detail"]
        for text in named:
            assert text in detail, detail
        return detail

    # Refused for what is named, not for the address: this portal may reach 127.0.0.0/8.
    refused(create("http://u:p@127.0.0.1:1/x"), "credentials")
    refused(create(f"ftp://127.0.0.1:{receiver.port}/x"), "ftp")
    refused(create(receiver.url(), events=["run.succeeded", "run.exploded"]), "run.exploded")
    refused(create(receiver.url(), events=[]))
    refused(create("not a url"))
    # Only 127.0.0.0/8 is allowed here: other refused ranges stay refused.
    refused(create("http://169.254.169.254/latest/meta-data/"), "169.254.169.254")
    refused(create("http://10.0.0.1/hook"), "10.0.0.1")

    # The same URL and events without the flaw are accepted; changing its URL is checked too.
    webhook, _ = subscribe(receiver, events=("webhook.secret-rotated",))
    change = world.admin.put(world.url + f"api/webhooks/{webhook['id']}", json={"url": "http://10.0.0.1/hook", "events": ["webhook.secret-rotated"]})
    refused(change, "10.0.0.1")
    assert world.admin.get(world.url + f"api/webhooks/{webhook['id']}").json()["url"] == receiver.url()
    assert receiver.requests == []


def test_only_the_organizations_admins_see_its_webhooks(world, receivers, subscribe):
    receiver = receivers()
    webhook, _ = subscribe(receiver, events=("webhook.secret-rotated",))
    path = f"api/webhooks/{webhook['id']}"
    for name, role in (("vera", "viewer"), ("olga", "operator")):
        answer = world.admin.post(world.url + "api/users", json={"username": name, "displayName": name.title(), "password": f"{name}-password-1", "role": role})
        assert answer.status_code == 201, answer.text
        person = sign_in(world.portal, name, f"{name}-password-1")
        assert person.get(world.url + "api/me").status_code == 200
        assert person.get(world.url + "api/webhooks").status_code == 403, role
        assert person.get(world.url + path).status_code == 403, role
        assert person.post(world.url + "api/webhooks", json={"url": receiver.url(), "events": ["run.succeeded"]}).status_code == 403, role

    # An administrator of another organization: its webhooks are no business of theirs (404,
    # as if it did not exist).
    admin = admin_session(world.portal)
    home = admin.get(world.url + "api/me").json()["currentOrganization"]
    other = admin.post(world.url + "api/orgs", json={"slug": "elsewhere", "displayName": "Elsewhere"})
    assert other.status_code == 201, other.text
    try:
        assert admin.post(world.url + "api/me/organization", json={"organizationID": other.json()["id"]}).status_code == 204
        answer = admin.post(world.url + "api/users", json={"username": "otto", "displayName": "Otto", "password": "otto-password-1", "role": "admin"})
        assert answer.status_code == 201, answer.text
    finally:
        # Switching is remembered for the next sign-in: the administrator goes back home.
        assert admin.post(world.url + "api/me/organization", json={"organizationID": home}).status_code == 204
    otto = sign_in(world.portal, "otto", "otto-password-1")
    listed = otto.get(world.url + "api/webhooks")
    assert listed.status_code == 200 and listed.json()["webhooks"] == [], listed.text
    assert otto.get(world.url + path).status_code == 404
    assert otto.get(world.url + path + "/deliveries").status_code == 404
    assert otto.post(world.url + path + "/ping").status_code == 404
    assert otto.post(world.url + path + "/secret").status_code == 404
    assert otto.put(world.url + path, json={"url": receiver.url(), "events": ["run.succeeded"], "enabled": False}).status_code == 404
    assert otto.delete(world.url + path).status_code == 404
    unchanged = world.admin.get(world.url + path).json()
    assert unchanged["enabled"] is True and unchanged.get("previousSecretValidUntil") is None and unchanged["events"] == ["webhook.secret-rotated"]
    assert receiver.requests == []


# MARK: Tests with portals of their own

def test_a_retry_series_goes_on_after_a_restart(receivers):
    settings = {**LOOPBACK, "PORTAL_WEBHOOKS_RETRY_SECONDS": "2,2,2"}
    receiver = receivers()
    receiver.default = 500
    first = Portal(portal_binary(), env=settings)
    restarted = None
    try:
        admin = admin_session(first)
        assert admin.post(first.url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
        webhook, secret = create_subscription(admin, first, receiver)
        run_tool(admin, first)
        receiver.wait_for(1)
        assert first.stop(keep_data=True) == 0, "portal must exit 0 on SIGTERM"
        stopped = time.monotonic()
        receiver.default = 200

        restarted = Portal(portal_binary(), env=settings, data_dir=first.data_dir)
        restarted.admin_password_changed = first.admin_password_changed
        after = receiver.wait_until(lambda r: r.time > stopped, timeout=40)
        assert after.status == 200
        received = list(receiver.requests)
        assert len(received) >= 2
        assert {r.headers["webhook-id"] for r in received} == {received[0].headers["webhook-id"]}, "the same message, retried"
        for request in received:
            assert_signed(request, secret)

        admin = admin_session(restarted)
        [delivery] = settled(admin, restarted, webhook["id"])
        assert delivery["state"] == "succeeded"
        # Every request is one recorded attempt: the restart neither lost one nor sent one twice.
        assert [a["status"] for a in delivery["attempts"]] == [r.status for r in received]
        assert [a["status"] for a in delivery["attempts"]][-1] == 200 and len(delivery["attempts"]) in (2, 3)
    finally:
        if restarted is not None:
            assert restarted.stop() == 0, "portal must exit 0 on SIGTERM"
        elif first.process.poll() is None:
            first.stop()
        else:
            shutil.rmtree(first.data_dir, ignore_errors=True)


def test_by_default_loopback_private_and_metadata_addresses_are_refused_before_any_connection(receivers):
    receiver = receivers()
    portal = Portal(portal_binary())
    try:
        admin = admin_session(portal)

        def create(url):
            return admin.post(portal.url + "api/webhooks", json={"url": url, "events": ["run.succeeded"]})

        for url, address in (("http://10.0.0.1/hook", "10.0.0.1"), ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
                             (receiver.url(), "127.0.0.1")):
            answer = create(url)
            assert answer.status_code == 400, answer.text
            assert address in answer.json()["detail"] and "refused" in answer.json()["detail"], answer.json()
        # A name is resolved and its address checked.
        answer = create(f"http://localhost:{receiver.port}/hook")
        assert answer.status_code == 400, answer.text
        detail = answer.json()["detail"]
        assert "localhost" in detail and ("127.0.0.1" in detail or "::1" in detail), detail
        # An IPv4-mapped IPv6 spelling of the loopback address is the loopback address.
        assert create(f"http://[::ffff:127.0.0.1]:{receiver.port}/hook").status_code == 400

        assert admin.get(portal.url + "api/webhooks").json()["webhooks"] == []
        assert receiver.requests == []
    finally:
        assert portal.stop() == 0, "portal must exit 0 on SIGTERM"


# MARK: The administration page, in a real browser


def test_an_admin_creates_a_webhook_on_its_page_and_pings_it(world, receivers, browser):
    """Created in the form, the secret is shown once; the detail page's ping reaches the
    receiver signed with that secret and shows up in the delivery log as delivered."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from conftest import admin_password, console_errors
    from test_access import sign_in as sign_in_browser

    receiver = receivers()
    wait = WebDriverWait(browser, 15, ignored_exceptions=[StaleElementReferenceException])
    browser.get(world.url + "#/admin/webhooks")
    sign_in_browser(browser, "admin", admin_password(world.portal))
    wait.until(EC.visibility_of_element_located((By.ID, "webhook-form")))
    browser.find_element(By.ID, "webhook-url").send_keys(receiver.url("/from-the-page"))
    browser.find_element(By.ID, "webhook-event-run-failed").click()
    browser.find_element(By.ID, "webhook-description").send_keys("from the page")
    browser.find_element(By.ID, "webhook-submit").click()
    secret = wait.until(lambda _: browser.find_element(By.ID, "webhook-secret").text.startswith("whsec_") and browser.find_element(By.ID, "webhook-secret").text)
    receiver.trust(secret)
    assert "not shown again" in browser.find_element(By.ID, "webhook-created").text
    row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#webhooks-rows tr[data-webhook-id]")))
    webhook_id = row.get_attribute("data-webhook-id")
    try:
        assert secret not in world.admin.get(world.url + f"api/webhooks/{webhook_id}").text

        browser.find_element(By.ID, "webhook-created-link").click()
        wait.until(EC.visibility_of_element_located((By.ID, "page-webhook")))
        browser.find_element(By.ID, "webhook-ping").click()
        ping = receiver.wait_until(lambda request: request.type == "webhook.ping")
        assert_signed(ping, secret)
        # The page refreshes its log while the delivery is pending.
        wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, '#deliveries-rows tr[data-event-type="webhook.ping"][data-state="succeeded"]'))
        assert console_errors(browser) == []
    finally:
        assert world.admin.delete(world.url + f"api/webhooks/{webhook_id}").status_code == 204
