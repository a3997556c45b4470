"""Every page of the web client, walked in a real browser as each role and signed out: each
page module in the app's route table loads, axe-core finds no serious or critical violation
(in the light and the dark theme), the console stays clean, and the flows that matter work
from the keyboard alone. The home page's narrow (390 px) and dark screenshots are kept in
test-artifacts/ for people to look at.

One portal serves the whole module (the pages only read), so the walk stays fast."""
import os
import pathlib

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ARTIFACTS, ROOT, Portal, _chromium, admin_password, admin_session, console_errors, serious_violations
from test_access import sign_in

PASSWORDS = {"vera": "vera-password-1", "olga": "olga-password-1"}


@pytest.fixture(scope="module")
def world():
    """A portal with the host pack enabled, a viewer (vera), an operator (olga), one finished
    run and one conversation, so pages with an id have something to show."""
    binary = os.path.abspath(os.environ.get("PORTAL_BINARY", str(ROOT / ".build/debug/portal")))
    portal = Portal(binary)
    admin = admin_session(portal)
    assert admin.post(portal.url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
    for name, role in (("vera", "viewer"), ("olga", "operator")):
        answer = admin.post(portal.url + "api/users", json={"username": name, "displayName": name.title(), "password": PASSWORDS[name], "role": role})
        assert answer.status_code == 201, answer.text
    run = admin.post(portal.url + "api/tools/host.load/runs", json={"input": {}})
    assert run.status_code == 201, run.text
    # A high-risk run waits for an approval (never given), so the approvals page, its badge
    # and the run's waiting state are walked filled, not empty.
    waiting = admin.post(portal.url + "api/tools/host.systemd-restart-unit/runs", json={"input": {"unit": "nothing-here.service"}})
    assert waiting.status_code == 202 and waiting.json()["status"] == "pending-approval", waiting.text
    chat = admin.post(portal.url + "api/sessions", json={"title": "Disk on db-7"})
    assert chat.status_code == 201, chat.text
    # A webhook for its page (disabled, and to an event the walk never causes: nothing is sent;
    # the address is a documentation one, never contacted).
    webhook = admin.post(portal.url + "api/webhooks", json={"url": "https://192.0.2.1/hook", "events": ["webhook.disabled"], "enabled": False})
    assert webhook.status_code == 201, webhook.text
    # An MCP server for its page: nothing listens at its address (port 9 on loopback), so it
    # shows as unreachable with its error.
    mcp = admin.post(portal.url + "api/mcp-servers", json={"name": "walk", "url": "http://127.0.0.1:9/mcp"})
    assert mcp.status_code == 201 and mcp.json()["state"] == "unreachable", mcp.text
    # An application's request waiting for consent (its page shows it to whoever is signed in).
    client = requests.post(portal.url + "oauth/register", json={"client_name": "Walk agent", "redirect_uris": ["http://127.0.0.1:9/cb"]}).json()
    consent = requests.get(portal.url + "oauth/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": "http://127.0.0.1:9/cb",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
    assert consent.status_code == 302, consent.text
    # A workflow and a run of it waiting at its approval step, for the designer and the run view.
    flow = {"name": "walk-flow", "title": "Walk flow", "nodes": [
        {"id": "load", "type": "tool", "config": {"tool": "host.load"}, "position": {"x": 40, "y": 40}},
        {"id": "ask", "type": "approval", "config": {"message": "Go on?"}, "position": {"x": 260, "y": 40}}],
        "edges": [{"from": "load", "to": "ask"}]}
    assert admin.post(portal.url + "api/workflows/walk-flow/versions", json={"definition": flow}).status_code == 201
    flow_run = admin.post(portal.url + "api/workflows/walk-flow/runs", json={})
    assert flow_run.status_code == 201, flow_run.text
    # An incident with an SLA clock and a comment, for its page.
    assert admin.put(portal.url + "api/slas/urgent", json={"name": "urgent", "priorities": [1, 2], "firstResponseMinutes": 60, "resolutionMinutes": 240}).status_code == 200
    incident = admin.post(portal.url + "api/incidents", json={"title": "db-7 is down", "impact": "high", "urgency": "high", "service": "billing"})
    assert incident.status_code == 201, incident.text
    assert admin.post(portal.url + f"api/incidents/{incident.json()['incident']['id']}/comments", json={"text": "looking", "internal": True}).status_code == 200
    # Configuration items with a relation: the incident's service runs on a host.
    inventory = {"source": "pages", "items": [{"name": "billing", "type": "service"}, {"name": "db-7", "type": "host", "attributes": {"os": "debian"}}],
                 "relations": [{"from": "billing", "kind": "runs-on", "to": "db-7"}]}
    assert admin.post(portal.url + "api/asset-imports", json=inventory).status_code == 200
    # A normal change on the service, in assess.
    change = admin.post(portal.url + "api/changes", json={"type": "normal", "title": "upgrade billing", "assets": ["billing"],
                                                          "windowStart": "2030-01-01T10:00:00Z", "windowEnd": "2030-01-01T12:00:00Z"})
    assert change.status_code == 201, change.text
    assert admin.post(portal.url + f"api/changes/{change.json()['change']['id']}/state", json={"state": "assess"}).status_code == 200
    yield {"portal": portal, "run": run.json()["id"], "incident": incident.json()["incident"]["id"], "change": change.json()["change"]["id"], "session": chat.json()["id"], "webhook": webhook.json()["webhook"]["id"],
           "consent": consent.headers["Location"].rsplit("/", 1)[1], "workflow_run": flow_run.json()["run"]["id"]}
    assert portal.stop() == 0


@pytest.fixture
def chromium(request):
    driver = _chromium()
    yield driver
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))
        (ARTIFACTS / f"{request.node.name}.console.txt").write_text("\n".join(str(entry) for entry in driver.get_log("browser")))
    driver.quit()


def route_table(browser):
    """The app's own route table (`routes` exported by app.js), read from the running page."""
    return browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import(document.querySelector('script[type=module]').src)
          .then((app) => done(app.routes.map((r) => ({ path: r.path, access: r.access, title: r.title, area: r.area || null }))))
          .catch((error) => done({ error: String(error) }));""")


def concrete(path, world):
    if path.startswith("admin/webhooks/"):
        return path.replace(":id", world["webhook"])
    if path.startswith("admin/mcp-servers/"):
        return path.replace(":name", "walk")
    if path.startswith("workflows/"):
        return path.replace(":name", "walk-flow")
    if path.startswith("workflow-runs/"):
        return path.replace(":id", world["workflow_run"])
    if path.startswith("incidents/"):
        return path.replace(":id", world["incident"])
    if path.startswith("assets/"):
        return path.replace(":name", "db-7")
    if path.startswith("changes/"):
        return path.replace(":id", world["change"])
    if path.startswith("oauth/consent/"):
        return path.replace(":id", world["consent"])
    return (path.replace(":name", "host.load").replace(":id", world["run"]).replace(":session", world["session"])
            + ("?q=disk" if path == "search" else ""))


def wait_for_page(browser):
    """Until the router has replaced the loading text with a page's panel and its heading."""
    WebDriverWait(browser, 15, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda _: browser.find_elements(By.CSS_SELECTOR, "#view:not([aria-busy]) section.panel h1"))


def set_theme(browser, portal, theme):
    browser.execute_script("localStorage.setItem('portal-theme', arguments[0])", theme)
    browser.get(portal.url)


@pytest.mark.parametrize("role", ["admin", "operator", "viewer"])
def test_every_page_loads_is_accessible_and_logs_nothing(world, chromium, role):
    portal, browser = world["portal"], chromium
    username = {"admin": "admin", "operator": "olga", "viewer": "vera"}[role]
    password = PASSWORDS.get(username) or admin_password(portal)
    browser.get(portal.url)
    sign_in(browser, username, password)
    wait_for_page(browser)
    routes = route_table(browser)
    assert isinstance(routes, list) and len(routes) >= 10, routes
    permissions = browser.execute_script("return fetch('/api/me').then((r) => r.json()).then((me) => [me.permissions, me.user.isAdministrator])")
    granted, system_administrator = permissions

    def allowed(route):
        return (route["access"] in ("public", "authenticated") or route["access"] in granted
                or (route["access"] == "system-administrator" and system_administrator))

    # The sidebar offers exactly the pages this role may open.
    offered = {link.get_attribute("href").split("#/", 1)[1] for link in browser.find_elements(By.CSS_SELECTOR, "#mainnav .nav-area:not(.narrow-only) a") if link.is_displayed()}
    assert offered == {route["path"] for route in routes if route.get("area") and allowed(route)}, offered
    if role == "admin":
        badge = WebDriverWait(browser, 10).until(lambda _: browser.find_element(By.ID, "approvals-count").is_displayed() and browser.find_element(By.ID, "approvals-count"))
        assert "1" in badge.text
    problems, visited = [], []
    themes = ["light", "dark"] if role == "admin" else ["light"]
    for theme in themes:
        set_theme(browser, portal, theme)
        for route in routes:
            browser.get(portal.url + "#/" + concrete(route["path"], world))
            wait_for_page(browser)
            heading = browser.find_element(By.CSS_SELECTOR, "#view h1").text
            if route["path"] == "chat/:session" and role != "admin":
                # The administrator's conversation: nobody else sees it, even by its address.
                assert browser.find_elements(By.ID, "refused"), f"{role} opened another person's conversation"
            elif not allowed(route):
                assert browser.find_elements(By.ID, "refused"), f"{role} reached {route['path']}"
                assert heading == "Not allowed", heading
            else:
                assert not browser.find_elements(By.ID, "refused"), f"{role} refused at {route['path']}: {browser.find_element(By.ID, 'refused').text}"
                visited.append(route["path"])
            assert browser.title.endswith("Self-Service Portal")
            problems += [f"{theme} #/{route['path']}: {line}" for line in serious_violations(browser)]
    assert problems == [], "\n".join(problems)
    # Another person's conversation answers 404 (the refusal shown above), nothing else fails.
    assert console_errors(browser, expected=[] if role == "admin" else [("/turns", 404)]) == []
    assert "" in visited and "password" in visited
    if role == "admin":
        assert {"admin/users", "admin/sso", "audit", "approvals"} <= set(visited)


def test_signed_out_pages_are_accessible_in_both_themes_and_log_nothing(world, chromium):
    portal, browser = world["portal"], chromium
    for theme in ("light", "dark"):
        browser.get(portal.url)
        set_theme(browser, portal, theme)
        WebDriverWait(browser, 10).until(EC.visibility_of_element_located((By.ID, "signin-form")))
        assert serious_violations(browser) == []
        # A page that needs a session shows the sign-in form, not an error.
        browser.get(portal.url + "#/admin/users")
        WebDriverWait(browser, 10).until(EC.visibility_of_element_located((By.ID, "signin-form")))
    assert console_errors(browser) == [], "the signed-out probe must not log a failed request"


def focused(browser):
    return browser.switch_to.active_element


def tab_to(browser, predicate, limit=60, backwards=False):
    """Presses Tab (or Shift+Tab) until `predicate(active element)` holds; fails after `limit`."""
    for _ in range(limit):
        element = focused(browser)
        if predicate(element):
            return element
        if backwards:
            ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        else:
            ActionChains(browser).send_keys(Keys.TAB).perform()
    raise AssertionError(f"Tab never reached the element; stopped on {focused(browser).get_attribute('outerHTML')[:200]}")


def has_focus_ring(browser, element):
    return browser.execute_script("const s = getComputedStyle(arguments[0]); return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2", element)


def test_sign_in_and_run_a_tool_with_the_keyboard_alone(world, chromium):
    portal, browser = world["portal"], chromium
    wait = WebDriverWait(browser, 15, ignored_exceptions=[StaleElementReferenceException])
    browser.get(portal.url)
    wait.until(EC.visibility_of_element_located((By.ID, "signin-form")))
    # The first Tab reaches the skip link, which moves focus to the content (not to a page).
    skip = tab_to(browser, lambda e: e.get_attribute("id") == "skip-link", limit=2)
    assert skip.is_displayed() and has_focus_ring(browser, skip)
    skip.send_keys(Keys.ENTER)
    assert focused(browser).get_attribute("id") == "app"
    assert browser.find_elements(By.ID, "signin-form") and not browser.find_elements(By.ID, "refused")
    username = tab_to(browser, lambda e: e.get_attribute("id") == "signin-username")
    assert has_focus_ring(browser, username), "the focused field shows a focus ring"
    ActionChains(browser).send_keys("olga").send_keys(Keys.TAB).send_keys(PASSWORDS["olga"]).send_keys(Keys.ENTER).perform()
    wait.until(EC.visibility_of_element_located((By.ID, "page-home")))
    # To the tool through the catalog's search box and its link, by keyboard.
    tab_to(browser, lambda e: e.get_attribute("id") == "tool-search")
    ActionChains(browser).send_keys("uptime").perform()
    wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "#tool-list a")) == 1)
    link = tab_to(browser, lambda e: e.get_attribute("data-tool") == "host.load")
    assert has_focus_ring(browser, link)
    link.send_keys(Keys.ENTER)
    wait.until(EC.visibility_of_element_located((By.ID, "page-tool")))
    run = tab_to(browser, lambda e: e.get_attribute("id") == "tool-run")
    assert has_focus_ring(browser, run)
    run.send_keys(Keys.ENTER)
    wait.until(EC.visibility_of_element_located((By.ID, "page-run")))
    wait.until(lambda _: browser.find_element(By.ID, "run-status").get_attribute("data-status") == "succeeded")
    assert console_errors(browser) == []


def test_the_home_page_narrow_and_dark(world, chromium):
    """At 390 px the sidebar folds behind a menu button and nothing scrolls sideways; the
    screenshots (narrow, dark) are kept as artifacts."""
    portal, browser = world["portal"], chromium
    browser.get(portal.url)
    sign_in(browser, "olga", PASSWORDS["olga"])
    wait_for_page(browser)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.set_window_size(390, 844)
    toggle = browser.find_element(By.ID, "nav-toggle")
    WebDriverWait(browser, 5).until(lambda _: toggle.is_displayed())
    # Folded away (it slides out, so wait for the end of the transition).
    WebDriverWait(browser, 5).until(lambda _: browser.execute_script("return document.getElementById('sidebar').getBoundingClientRect().right <= 0"))
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), "no sideways scrolling at 390 px"
    browser.save_screenshot(str(ARTIFACTS / "home-390px.png"))
    assert not browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="chat"]').is_displayed(), "folded: not focusable, not read"
    toggle.click()
    WebDriverWait(browser, 5).until(lambda _: browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="chat"]').is_displayed())
    assert toggle.get_attribute("aria-expanded") == "true"
    assert focused(browser).tag_name in ("input", "a"), "focus moves into the opened menu"
    assert browser.find_element(By.CSS_SELECTOR, '#mainnav a[href="#/password"]').is_displayed(), "the password link the header hides"
    assert browser.find_element(By.CSS_SELECTOR, '#mainnav input[type="search"]').is_displayed(), "the search the header hides"
    assert serious_violations(browser) == []
    focused(browser).send_keys(Keys.ESCAPE)
    WebDriverWait(browser, 5).until(lambda _: toggle.get_attribute("aria-expanded") == "false")
    assert focused(browser).get_attribute("id") == "nav-toggle", "Escape closes the menu and focus returns to its button"
    browser.set_window_size(1280, 900)
    set_theme(browser, portal, "dark")
    wait_for_page(browser)
    background = browser.execute_script("return getComputedStyle(document.documentElement).backgroundColor")
    assert background in ("rgb(16, 20, 26)",), background
    assert browser.execute_script("return document.querySelector('.topbar').getBoundingClientRect().height") < 64, "the header stays one line at 1280 px"
    browser.save_screenshot(str(ARTIFACTS / "home-dark.png"))
    assert console_errors(browser) == []


def test_the_api_reference_documents_every_operation_and_opens_at_a_problem_type(world, chromium):
    """The reference page is built from /api/v1/openapi.json: one entry per operation with an
    example request, and a problem `type` URI (what an error answer names) opens the page at
    that problem's entry, focused."""
    portal, browser = world["portal"], chromium
    document = admin_session(portal).get(portal.url + "api/v1/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    browser.get(portal.url + "#/api")
    sign_in(browser, "vera", PASSWORDS["vera"])
    wait = WebDriverWait(browser, 10)
    wait.until(EC.visibility_of_element_located((By.ID, "page-api")))
    entries = browser.find_elements(By.CSS_SELECTOR, "details.api-operation")
    assert len(entries) == operations
    entries[0].click()
    assert "curl -X" in entries[0].text and "Authorization: Bearer" in entries[0].text
    # A problem's type, as an error answer gives it, resolved against the portal's address.
    problem = admin_session(portal).get(portal.url + "api/v1/runs?nonsense=1").json()
    assert problem["type"] == "/#/api/problems/unknown-parameter"
    browser.get(portal.url.rstrip("/") + problem["type"])
    # Read in the page in one step: the page may draw again between finding the focused element and reading it.
    focused = lambda: browser.execute_script("const e = document.activeElement; return e ? [e.id, e.textContent] : null")  # noqa: E731
    wait.until(lambda _: (focused() or [None])[0] == "problem-unknown-parameter")
    assert "unknown-parameter" in focused()[1]
    assert serious_violations(browser) == []
