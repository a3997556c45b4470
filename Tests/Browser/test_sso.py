"""OpenID Connect single sign-on, end to end: the real portal binary against an identity
provider this test runs on 127.0.0.1 (tests/Browser/oidc_provider.py). Most flows follow the
redirects by hand with `requests`, so that every hop can be checked; the last one clicks the
sign-in page's button in Chromium."""
import os
import pathlib
import urllib.parse

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import admin_password, admin_session, console_errors
from oidc_provider import Provider


@pytest.fixture
def idp():
    provider = Provider()
    yield provider
    provider.stop()


def configure(portal, admin, idp, mappings=None, **overrides):
    settings = {
        "enabled": True, "issuer": idp.issuer, "clientID": idp.client_id, "clientSecret": idp.client_secret,
        "buttonLabel": "Sign in with Example SSO",
        "mappings": mappings if mappings is not None else [
            {"group": "ops", "organization": "default", "role": "operator"},
            {"group": "admins", "organization": "default", "role": "admin"},
        ],
    }
    settings.update(overrides)
    answer = admin.put(portal.url + "api/auth/oidc/settings", json=settings)
    assert answer.status_code == 204, answer.text


def sso_sign_in(portal, idp, session=None, return_to="/"):
    """portal /login → provider /authorize → portal /callback, one hop at a time. Returns the
    browser's session, the callback's answer, and the callback URL."""
    session = session or requests.Session()
    start = session.get(portal.url + "api/auth/oidc/login", params={"return_to": return_to}, allow_redirects=False)
    assert start.status_code == 302, start.text
    authorize = start.headers["Location"]
    assert authorize.startswith(idp.issuer + "/authorize?"), authorize
    back = session.get(authorize, allow_redirects=False)
    assert back.status_code == 302, back.text
    callback = back.headers["Location"]
    answer = session.get(callback, allow_redirects=False)
    return session, answer, callback


def refusal(answer):
    """The message of a refused sign-in (it sends the browser to the sign-in page)."""
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith("/?sso_error="), location
    return urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["sso_error"][0]


def role_in_default(admin, portal, username):
    """The user's role in the administrator's current organization (`default`), or None."""
    organization = admin.get(portal.url + "api/me").json()["currentOrganization"]
    members = admin.get(portal.url + f"api/orgs/{organization}/members").json()["members"]
    roles = [member["role"] for member in members if member["user"]["username"] == username]
    return roles[0] if roles else None


def signed_in_user(session, portal):
    """The user a session belongs to (from /api/me)."""
    answer = session.get(portal.url + "api/me")
    assert answer.status_code == 200, answer.text
    return answer.json()["user"]


def sso_refusal_on_the_page(browser, portal):
    """Clicks the sign-in page's SSO button in Chromium and returns the refusal it shows."""
    browser.get(portal.url)
    wait = WebDriverWait(browser, 10)
    wait.until(EC.element_to_be_clickable((By.ID, "signin-sso"))).click()
    return wait.until(lambda _: browser.find_element(By.ID, "signin-error").text)


def test_authorization_code_flow_with_pkce_creates_the_user_and_follows_their_groups(portal, idp):
    admin = admin_session(portal)
    assert requests.get(portal.url + "api/auth/oidc").json() == {"enabled": False}
    configure(portal, admin, idp)
    assert requests.get(portal.url + "api/auth/oidc").json() == {"enabled": True, "buttonLabel": "Sign in with Example SSO"}

    # The settings never return the client secret, and the data file never holds it in clear.
    settings = admin.get(portal.url + "api/auth/oidc/settings").json()
    assert settings["hasClientSecret"] is True and "clientSecret" not in settings
    assert settings["redirectURI"] == portal.url + "api/auth/oidc/callback"
    data_file = pathlib.Path(portal.data_dir, "data", "data.mdb")
    assert idp.client_secret.encode() not in data_file.read_bytes()

    session, answer, callback = sso_sign_in(portal, idp, return_to="/#/keys")
    assert answer.status_code == 302 and answer.headers["Location"] == "/#/keys", answer.headers
    assert "portal_session" in session.cookies

    # The authorization request carried state, nonce and an S256 challenge; the token request
    # authenticated the client and sent the verifier (the provider checked both).
    request = idp.authorize_requests[-1]
    assert request["code_challenge_method"] == "S256" and len(request["state"]) >= 43 and len(request["nonce"]) >= 43
    assert request["redirect_uri"] == portal.url + "api/auth/oidc/callback"
    assert set(request["scope"].split()) >= {"openid", "profile", "email"}
    token_request = idp.token_requests[-1]
    assert token_request["authorization"].startswith("Basic ") and len(token_request["form"]["code_verifier"]) >= 43

    me = session.get(portal.url + "api/me").json()
    assert me["user"]["username"] == "alice" and me["user"]["displayName"] == "Alice Example"
    assert [(org["slug"], org["role"]) for org in me["organizations"]] == [("default", "operator")]
    assert "tools:run" in me["permissions"] and "users:manage" not in me["permissions"]
    # Just-in-time users have no password: the password sign-in cannot be used for them.
    assert requests.post(portal.url + "api/auth/login", json={"username": "alice", "password": ""}).status_code in (400, 401)

    # Groups change at the provider: the next sign-in changes the role, same user.
    idp.person = dict(idp.person, groups=["ops", "admins"])
    session2, answer, _ = sso_sign_in(portal, idp)
    assert answer.headers["Location"] == "/"
    me2 = session2.get(portal.url + "api/me").json()
    assert me2["user"]["id"] == me["user"]["id"]
    assert role_in_default(admin, portal, "alice") == "admin"

    # In no mapped group: refused, and the membership the groups gave is withdrawn.
    idp.person = dict(idp.person, groups=["marketing"])
    _, answer, _ = sso_sign_in(portal, idp)
    assert "no access" in refusal(answer)
    assert role_in_default(admin, portal, "alice") is None

    # Nothing secret reached the logs: no client secret, authorization code, ID token or session.
    logs = portal.output + open(portal.stderr_path).read()
    assert "oidc" in logs and "callback" in logs, "the callback requests are logged"
    assert len(idp.issued) >= 3 * 2, "every sign-in was given a code and tokens"
    for secret in [idp.client_secret, *idp.issued, session.cookies["portal_session"], session2.cookies["portal_session"]]:
        assert secret not in logs

    metrics = requests.get(portal.url + "metrics").text
    assert 'portal_sign_ins_total{method="sso",outcome="success"} 2' in metrics
    assert 'portal_sign_ins_total{method="sso",outcome="failure"} 1' in metrics


def test_groups_map_to_several_organizations_and_names_never_take_over_local_accounts(portal, idp):
    admin = admin_session(portal)
    assert admin.post(portal.url + "api/orgs", json={"slug": "payments", "displayName": "Payments"}).status_code == 201
    # A local account named alice exists before anyone signs in through the provider.
    created = admin.post(portal.url + "api/users", json={"username": "alice", "displayName": "Local Alice", "password": "local-alice-pw", "role": "viewer"})
    assert created.status_code == 201, created.text
    configure(portal, admin, idp, mappings=[
        {"group": "ops", "organization": "default", "role": "viewer"},
        {"group": "ops", "organization": "default", "role": "operator"},
        {"group": "payments-ops", "organization": "payments", "role": "admin"},
    ])
    idp.person = dict(idp.person, groups=["ops", "payments-ops"])
    session, answer, _ = sso_sign_in(portal, idp)
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    me = session.get(portal.url + "api/me").json()
    assert me["user"]["username"] == "alice-2" and me["user"]["displayName"] == "Alice Example"
    # The highest role a group grants wins in each organization.
    assert sorted((org["slug"], org["role"]) for org in me["organizations"]) == [("default", "operator"), ("payments", "admin")]
    # The local alice is untouched.
    local = requests.post(portal.url + "api/auth/login", json={"username": "alice", "password": "local-alice-pw"})
    assert local.status_code == 200 and local.json()["user"]["displayName"] == "Local Alice"

    # A mapping to an organization that does not exist is refused with a clear error.
    answer = admin.put(portal.url + "api/auth/oidc/settings", json={
        "enabled": True, "issuer": idp.issuer, "clientID": "portal", "mappings": [{"group": "x", "organization": "nowhere", "role": "viewer"}]})
    assert answer.status_code == 400 and "nowhere" in answer.json()["detail"]
    answer = admin.put(portal.url + "api/auth/oidc/settings", json={
        "enabled": True, "issuer": "http://idp.example.com", "clientID": "portal", "mappings": []})
    assert answer.status_code == 400 and "https" in answer.json()["detail"]


@pytest.mark.parametrize("mode, message", [
    ("wrong_nonce", "nonce"),
    ("wrong_audience", "aud"),
    ("wrong_issuer", "iss"),
    ("expired", "expired"),
    ("bad_signature", "signature"),
    ("unknown_key", "no key"),
    ("alg_none", "none"),
    ("deny", "access_denied"),
])
def test_tokens_that_fail_a_check_open_no_session(portal, idp, mode, message):
    admin = admin_session(portal)
    configure(portal, admin, idp)
    idp.misbehave = mode
    session, answer, _ = sso_sign_in(portal, idp)
    assert message in refusal(answer)
    assert "portal_session" not in session.cookies
    assert session.get(portal.url + "api/me").status_code == 401
    assert role_in_default(admin, portal, "alice") is None


def test_a_providers_refusal_is_read_as_form_data(portal, idp, browser):
    admin = admin_session(portal)
    configure(portal, admin, idp)
    idp.misbehave = "deny"
    idp.denial = ("access_denied", "the user declined (C++ team)")
    session, answer, callback = sso_sign_in(portal, idp)
    # The provider form-encoded its answer: "+" for a space, "%2B" for a plus sign.
    assert "error_description=the+user+declined+%28C%2B%2B+team%29" in callback, callback
    message = refusal(answer)
    assert "access_denied: the user declined (C++ team)" in message and "+user" not in message, message
    assert "portal_session" not in session.cookies

    # The same refusal, shown on the sign-in page in Chromium.
    assert sso_refusal_on_the_page(browser, portal) == message
    assert "sso_error" not in browser.current_url
    assert console_errors(browser) == []


def test_profile_claims_only_in_userinfo_name_new_users(portal, idp):
    """Providers following OIDC Core §5.4 send profile claims (and sometimes groups) only from
    the userinfo endpoint: the portal asks it with the access token and merges what it says."""
    admin = admin_session(portal)
    configure(portal, admin, idp)
    idp.userinfo_only = Provider.PROFILE_CLAIMS
    idp.person = {"sub": "bruno-7f3a", "preferred_username": "bruno", "name": "Bruno Userinfo", "email": "bruno@example.com", "groups": ["ops"]}
    session, answer, _ = sso_sign_in(portal, idp)
    assert answer.status_code == 302 and answer.headers["Location"] == "/", answer.headers
    assert not set(Provider.PROFILE_CLAIMS) & set(idp.signed_claims[-1]), "the ID token carried no profile claims"
    # The portal asked userinfo with the access token the token endpoint gave it.
    assert idp.userinfo_requests == [{"authorization": "Bearer " + list(idp.access_tokens)[-1], "answered": True}]
    user = signed_in_user(session, portal)
    assert (user["username"], user["displayName"]) == ("bruno", "Bruno Userinfo")
    assert role_in_default(admin, portal, "bruno") == "operator"

    # Groups only in userinfo too: they still decide the role.
    idp.userinfo_only = Provider.PROFILE_CLAIMS + ("groups",)
    idp.person = {"sub": "carla-91b2", "preferred_username": "carla", "name": "Carla Userinfo", "groups": ["admins"]}
    session, answer, _ = sso_sign_in(portal, idp)
    assert answer.status_code == 302 and answer.headers["Location"] == "/", answer.headers
    assert "groups" not in idp.signed_claims[-1]
    user = signed_in_user(session, portal)
    assert (user["username"], user["displayName"]) == ("carla", "Carla Userinfo")
    assert role_in_default(admin, portal, "carla") == "admin"

    # Where the ID token and userinfo disagree, the ID token wins.
    idp.userinfo_only = ("email",)
    idp.misbehave = "userinfo_disagrees"
    idp.person = {"sub": "bruno-7f3a", "preferred_username": "bruno", "name": "Bruno Userinfo", "email": "bruno@example.com", "groups": ["ops"]}
    requests_before = len(idp.userinfo_requests)
    session, answer, _ = sso_sign_in(portal, idp)
    assert answer.status_code == 302 and answer.headers["Location"] == "/", answer.headers
    assert len(idp.userinfo_requests) == requests_before + 1 and idp.userinfo_requests[-1]["answered"]
    assert signed_in_user(session, portal)["displayName"] == "Bruno Userinfo"
    assert role_in_default(admin, portal, "bruno") == "operator"

    # The provider's userinfo endpoint answers only to the access tokens it issued.
    assert requests.get(idp.issuer + "/userinfo", headers={"Authorization": "Bearer not-issued"}).status_code == 401
    assert requests.get(idp.issuer + "/userinfo").status_code == 401


def test_userinfo_about_another_subject_refuses_the_sign_in(portal, idp, browser):
    admin = admin_session(portal)
    configure(portal, admin, idp)
    idp.userinfo_only = Provider.PROFILE_CLAIMS
    idp.misbehave = "userinfo_other_subject"
    session, answer, _ = sso_sign_in(portal, idp)
    assert "another subject" in refusal(answer)
    assert [request["answered"] for request in idp.userinfo_requests] == [True], "userinfo answered; the portal refused what it said"
    assert "portal_session" not in session.cookies
    usernames = [user["username"] for user in admin.get(portal.url + "api/users").json()["users"]]
    assert "admin" in usernames and "alice" not in usernames and "someone-else-0002" not in usernames

    # In Chromium the sign-in page shows the refusal.
    assert "another subject" in sso_refusal_on_the_page(browser, portal)
    assert console_errors(browser) == []


def test_a_missing_or_empty_name_never_replaces_a_display_name(portal, idp):
    admin = admin_session(portal)
    configure(portal, admin, idp)
    alice = dict(idp.person)
    session, _, _ = sso_sign_in(portal, idp)
    assert signed_in_user(session, portal)["displayName"] == "Alice Example"

    # Empty name and user name claims (the ID token and userinfo both say "").
    idp.person = dict(alice, name="", preferred_username="")
    session, answer, _ = sso_sign_in(portal, idp)
    assert answer.headers["Location"] == "/", answer.headers
    assert signed_in_user(session, portal)["displayName"] == "Alice Example"

    # An empty name next to a user name: the display name is still not replaced by it.
    idp.person = dict(alice, name="")
    session, answer, _ = sso_sign_in(portal, idp)
    assert answer.headers["Location"] == "/", answer.headers
    assert signed_in_user(session, portal)["displayName"] == "Alice Example"

    # No name or user name anywhere: not in the ID token, nor from userinfo (which is asked).
    idp.userinfo_only = Provider.PROFILE_CLAIMS
    idp.person = {"sub": alice["sub"], "groups": alice["groups"]}
    requests_before = len(idp.userinfo_requests)
    session, answer, _ = sso_sign_in(portal, idp)
    assert answer.headers["Location"] == "/", answer.headers
    assert len(idp.userinfo_requests) == requests_before + 1
    user = signed_in_user(session, portal)
    assert (user["username"], user["displayName"]) == ("alice", "Alice Example")

    # A new person with an empty name is named after a claim, never after the subject or "".
    idp.userinfo_only = ()
    idp.person = {"sub": "dora-5c11", "preferred_username": "dora", "name": "", "groups": ["ops"]}
    session, _, _ = sso_sign_in(portal, idp)
    user = signed_in_user(session, portal)
    assert (user["username"], user["displayName"]) == ("dora", "dora")
    idp.person = {"sub": "erin-77d0", "email": "erin@example.com", "name": " ", "groups": ["ops"]}
    session, _, _ = sso_sign_in(portal, idp)
    user = signed_in_user(session, portal)
    assert "erin-77d0" not in (user["username"], user["displayName"]) and user["username"].startswith("erin")
    assert user["displayName"].strip() != ""


def test_fifty_people_behind_one_address_sign_in_at_nine(portal, idp):
    """One office NAT: fifty people complete the flow one after another, as fast as they can,
    from the same client address. Nobody is turned away (429)."""
    admin = admin_session(portal)
    configure(portal, admin, idp)
    people = [{"sub": f"person-{n:04}", "preferred_username": f"person{n}", "name": f"Person {n}", "groups": ["ops"]} for n in range(50)]
    sessions = []
    for person in people:
        idp.person = person
        session, answer, _ = sso_sign_in(portal, idp)
        assert answer.status_code == 302 and answer.headers["Location"] == "/", (person["sub"], answer.status_code, answer.text)
        assert "portal_session" in session.cookies, person["sub"]
        sessions.append(session)
    assert [signed_in_user(session, portal)["username"] for session in sessions] == [person["preferred_username"] for person in people]
    metrics = requests.get(portal.url + "metrics").text
    assert 'portal_sign_ins_total{method="sso",outcome="success"} 50' in metrics
    assert "portal_rate_limited_total 0" in metrics


def test_es256_and_key_rotation(portal, idp):
    admin = admin_session(portal)
    configure(portal, admin, idp)
    _, answer, _ = sso_sign_in(portal, idp)
    assert answer.headers["Location"] == "/"
    fetches = idp.jwks_fetches
    # The provider rotates to a new P-256 key: the unknown kid makes the portal fetch the JWKS again.
    idp.rotate("ES256", "ec-2")
    session, answer, _ = sso_sign_in(portal, idp)
    assert answer.headers["Location"] == "/", answer.headers
    assert idp.jwks_fetches == fetches + 1
    assert session.get(portal.url + "api/me").json()["user"]["username"] == "alice"


def test_a_callback_is_usable_once_and_only_by_the_browser_that_started_it(portal, idp):
    admin = admin_session(portal)
    configure(portal, admin, idp)
    session, answer, callback = sso_sign_in(portal, idp)
    assert answer.headers["Location"] == "/"
    # Replayed: the attempt is gone.
    assert "already used" in refusal(session.get(callback, allow_redirects=False))

    # Started in one browser, completed in another (a login-CSRF attempt): refused, and the
    # code is never exchanged.
    victim = requests.Session()
    start = requests.Session().get(portal.url + "api/auth/oidc/login", allow_redirects=False)
    back = requests.get(start.headers["Location"], allow_redirects=False)
    exchanges = len(idp.token_requests)
    assert "another browser" in refusal(victim.get(back.headers["Location"], allow_redirects=False))
    assert len(idp.token_requests) == exchanges
    assert "portal_session" not in victim.cookies

    # Forged or missing parameters.
    assert "missing" in refusal(session.get(portal.url + "api/auth/oidc/callback", allow_redirects=False))
    assert "expired" in refusal(session.get(portal.url + "api/auth/oidc/callback", params={"code": "x", "state": "forged"}, allow_redirects=False))
    # An off-site return address is replaced by the portal's home.
    _, answer, _ = sso_sign_in(portal, idp, return_to="https://evil.example/")
    assert answer.headers["Location"] == "/"


def test_an_unreachable_provider_is_a_clear_refusal(portal, idp):
    admin = admin_session(portal)
    configure(portal, admin, idp)
    idp.stop()
    answer = requests.get(portal.url + "api/auth/oidc/login", allow_redirects=False)
    assert "could not be reached" in refusal(answer)


def test_sign_in_with_sso_button(portal, idp, browser):
    admin = admin_session(portal)
    configure(portal, admin, idp)
    browser.get(portal.url)
    wait = WebDriverWait(browser, 10)
    button = wait.until(EC.visibility_of_element_located((By.ID, "signin-sso")))
    assert button.text == "Sign in with Example SSO"
    button.click()
    wait.until(EC.visibility_of_element_located((By.ID, "user-menu")))
    assert browser.find_element(By.ID, "user-name").text == "Alice Example"
    assert console_errors(browser) == []

    # A refusal comes back to the sign-in page with the reason.
    browser.find_element(By.ID, "sign-out").click()
    wait.until(EC.visibility_of_element_located((By.ID, "signin-form")))
    idp.misbehave = "wrong_nonce"
    wait.until(EC.element_to_be_clickable((By.ID, "signin-sso"))).click()
    wait.until(lambda _: "nonce" in browser.find_element(By.ID, "signin-error").text)
    assert "sso_error" not in browser.current_url
