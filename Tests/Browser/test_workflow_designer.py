"""The workflow designer in Chromium: a person builds a four-step workflow (a tool, a condition,
an approval, a notification) by dragging steps and connecting ports, saves it, runs it; another
person approves in a second browser; the first watches the run view reach its end without
reloading. Then a template is imported from the list and run. Axe finds no serious violations."""
import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import Portal, admin_session, console_errors, serious_violations
from test_access import sign_in
from test_mcp import binary, free_port

PASSWORDS = {"ada": "ada-password-1", "ben": "ben-password-1"}


@pytest.fixture(scope="module")
def world():
    portal = Portal(binary(), port=free_port())
    admin = admin_session(portal)
    assert admin.post(portal.url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
    for name in ("ada", "ben"):
        assert admin.post(portal.url + "api/users", json={"username": name, "password": PASSWORDS[name], "role": "admin"}).status_code == 201
    yield {"portal": portal, "admin": admin}
    assert portal.stop() == 0


def waiter(browser, timeout=20):
    return WebDriverWait(browser, timeout, ignored_exceptions=[StaleElementReferenceException])


def node(browser, node_id):
    return browser.find_element(By.CSS_SELECTOR, f'#wf-canvas g.wf-node[data-node-id="{node_id}"]')


def centre(browser, element):
    """`element`'s centre in viewport coordinates (scrolled into view first)."""
    return browser.execute_script("""
        arguments[0].scrollIntoView({block: 'nearest', inline: 'nearest'});
        const r = arguments[0].getBoundingClientRect(); return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)];""", element)


def drag(browser, element, to):
    """Presses on `element`, moves past the drag threshold, then to `to` (viewport), releases."""
    x, y = centre(browser, element)
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(x, y).pointer_down().move_to_location(x + 12, y + 12).move_to_location(*to).pointer_up()
    actions.perform()


def drop_step(browser, step_type, fx, fy):
    """Drags a palette entry onto the canvas, at fractions (fx, fy) of its width and height."""
    canvas = browser.find_element(By.ID, "wf-canvas")
    palette = browser.find_element(By.CSS_SELECTOR, f'button.wf-palette-item[data-step-type="{step_type}"]')
    start = centre(browser, palette)
    left, top, width, height = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height];", canvas)
    target = (round(left + width * fx), round(top + height * fy))
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(*start).pointer_down().move_to_location(start[0] + 12, start[1] + 12).move_to_location(*target).pointer_up()
    actions.perform()


def connect_by_drag(browser, source, port, target):
    handle = browser.find_element(By.CSS_SELECTOR, f'#wf-canvas circle[data-port="{port}"][data-node-id="{source}"]')
    drag(browser, handle, centre(browser, node(browser, target)))
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, f'#wf-canvas [data-edge="{source}:{port}:{target}"]'))


def select_step(browser, node_id):
    node(browser, node_id).click()
    waiter(browser).until(lambda b: b.find_element(By.ID, "wf-panel-heading").text == f"Step {node_id}")


def type_into(browser, element_id, text):
    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)
    field.send_keys(Keys.TAB)


def test_build_by_drag_and_drop_save_run_approve_elsewhere_and_watch_it_finish(world, browser, second_browser):
    portal = world["portal"]
    browser.set_window_size(1600, 1100)
    browser.get(portal.url)
    sign_in(browser, "ada", PASSWORDS["ada"])
    browser.get(portal.url + "#/workflows/new")
    waiter(browser).until(EC.visibility_of_element_located((By.ID, "wf-canvas")))
    type_into(browser, "wf-name", "designed")
    type_into(browser, "wf-title", "Designed in the browser")

    drop_step(browser, "tool", 0.3, 0.2)
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, '#wf-canvas g.wf-node[data-node-id="tool_1"]'))
    select_step(browser, "tool_1")
    Select(browser.find_element(By.ID, "wf-config-tool")).select_by_value("host.load")
    drop_step(browser, "condition", 0.7, 0.2)
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, '#wf-canvas g.wf-node[data-node-id="condition_1"]'))
    select_step(browser, "condition_1")
    type_into(browser, "wf-config-expression", "steps.tool_1.status == 'succeeded'")
    drop_step(browser, "approval", 0.3, 0.7)
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, '#wf-canvas g.wf-node[data-node-id="approval_1"]'))
    select_step(browser, "approval_1")
    type_into(browser, "wf-config-message", "Load read: go on?")
    drop_step(browser, "notify", 0.7, 0.7)
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, '#wf-canvas g.wf-node[data-node-id="notify_1"]'))
    select_step(browser, "notify_1")
    type_into(browser, "wf-config-message", "approved and done")

    # Laid out and fitted into view, then two connections by dragging from a port and one by
    # the keyboard path in the panel.
    browser.find_element(By.ID, "wf-layout").click()
    browser.find_element(By.CSS_SELECTOR, ".wf-fit").click()
    connect_by_drag(browser, "tool_1", "next", "condition_1")
    select_step(browser, "condition_1")
    Select(browser.find_element(By.ID, "wf-connect-port")).select_by_value("true")
    Select(browser.find_element(By.ID, "wf-connect-target")).select_by_value("approval_1")
    browser.find_element(By.ID, "wf-connect").click()
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, '#wf-canvas [data-edge="condition_1:true:approval_1"]'))
    connect_by_drag(browser, "approval_1", "next", "notify_1")
    waiter(browser).until(EC.visibility_of_element_located((By.ID, "wf-no-problems")))
    assert serious_violations(browser) == []

    browser.find_element(By.ID, "wf-save").click()
    waiter(browser).until(EC.visibility_of_element_located((By.ID, "wf-save-done")))
    saved = world["admin"].get(portal.url + "api/workflows/designed").json()
    assert saved["workflow"]["latestVersion"] == 1
    assert {(e["from"], e.get("port") or "next", e["to"]) for e in saved["definition"]["edges"]} == {
        ("tool_1", "next", "condition_1"), ("condition_1", "true", "approval_1"), ("approval_1", "next", "notify_1")}
    assert {n["id"]: n["type"] for n in saved["definition"]["nodes"]} == {"tool_1": "tool", "condition_1": "condition", "approval_1": "approval", "notify_1": "notify"}

    browser.find_element(By.ID, "wf-run").click()
    waiter(browser).until(EC.element_to_be_clickable((By.ID, "wf-run-start"))).click()
    waiter(browser).until(lambda b: "#/workflow-runs/" in b.current_url)
    run_id = browser.current_url.rsplit("/", 1)[1]
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, '.wf-approval[data-approval-step="approval_1"]'))
    assert browser.find_element(By.ID, "wf-run-status").get_attribute("data-status") == "running"
    assert serious_violations(browser) == []

    # Ben approves in his own browser; Ada's page follows without a reload.
    second_browser.get(portal.url)
    sign_in(second_browser, "ben", PASSWORDS["ben"])
    second_browser.get(portal.url + f"#/workflow-runs/{run_id}")
    waiter(second_browser).until(EC.element_to_be_clickable((By.ID, "wf-approve-approval_1")))
    second_browser.find_element(By.ID, "wf-approval-comment-approval_1").send_keys("fine by me")
    second_browser.find_element(By.ID, "wf-approve-approval_1").click()
    marker = browser.execute_script("window.__noReload = true; return window.__noReload")
    assert marker is True
    waiter(browser).until(lambda b: b.find_element(By.ID, "wf-run-status").get_attribute("data-status") == "succeeded")
    assert browser.execute_script("return window.__noReload") is True, "the page was reloaded"
    rows = {row.get_attribute("data-step"): row.get_attribute("data-status") for row in browser.find_elements(By.CSS_SELECTOR, "#wf-timeline-rows tr[data-step]")}
    assert rows == {"tool_1": "succeeded", "condition_1": "succeeded", "approval_1": "succeeded", "notify_1": "succeeded"}, rows
    run = world["admin"].get(portal.url + f"api/workflow-runs/{run_id}").json()["run"]
    assert run["steps"]["approval_1"]["approval"]["decisions"][0]["username"] == "ben"
    assert not console_errors(browser)


def test_import_a_template_and_run_it(world, browser):
    portal = world["portal"]
    browser.get(portal.url)
    sign_in(browser, "ada", PASSWORDS["ada"])
    browser.get(portal.url + "#/workflows")
    waiter(browser).until(EC.element_to_be_clickable((By.CSS_SELECTOR, 'button[data-import-template="host-health-report"]'))).click()
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, '#wf-rows tr[data-workflow="host-health-report"]'))
    assert serious_violations(browser) == []
    browser.get(portal.url + "#/workflows/host-health-report")
    waiter(browser).until(EC.element_to_be_clickable((By.ID, "wf-run"))).click()
    waiter(browser).until(EC.element_to_be_clickable((By.ID, "wf-run-start"))).click()
    waiter(browser).until(lambda b: "#/workflow-runs/" in b.current_url)
    waiter(browser, 30).until(lambda b: b.find_element(By.ID, "wf-run-status").get_attribute("data-status") == "succeeded")
    outputs = browser.find_element(By.ID, "wf-run-outputs").text
    assert "diskUsedPercent" in outputs and "memoryUsedPercent" in outputs
    run_id = browser.current_url.rsplit("/", 1)[1]
    assert requests.get(portal.url + f"api/workflow-runs/{run_id}").status_code == 401, "runs are not public"


def test_set_up_and_remove_a_webhook_from_the_designer(world, browser):
    """The designer's webhook dialog: set up (the secret shown once, the URL on this portal),
    a new secret, removal; the API agrees at each step."""
    portal, admin = world["portal"], world["admin"]
    flow = {"name": "hooked", "title": "Hooked", "triggers": [{"type": "webhook"}],
            "nodes": [{"id": "s", "type": "set", "config": {"variables": {"a": 1}}}], "edges": []}
    assert admin.post(portal.url + "api/workflows/hooked/versions", json={"definition": flow}).status_code == 201
    browser.get(portal.url)
    sign_in(browser, "ada", PASSWORDS["ada"])
    browser.get(portal.url + "#/workflows/hooked")
    waiter(browser).until(EC.element_to_be_clickable((By.ID, "wf-webhook"))).click()
    waiter(browser).until(EC.element_to_be_clickable((By.ID, "wf-webhook-set-up"))).click()
    secret = waiter(browser).until(EC.visibility_of_element_located((By.ID, "wf-webhook-secret"))).text
    url = browser.find_element(By.ID, "wf-webhook-url").text
    stored = admin.get(portal.url + "api/workflows/hooked/webhook").json()
    assert secret.startswith("whsec_") and url == portal.url.rstrip("/") + stored["path"]
    assert serious_violations(browser) == []
    browser.find_element(By.ID, "wf-webhook-rotate").click()
    waiter(browser).until(lambda b: b.find_element(By.ID, "wf-webhook-secret").text not in ("", secret))
    assert admin.get(portal.url + "api/workflows/hooked/webhook").json()["webhook"]["rotatedAt"]
    browser.find_element(By.ID, "wf-webhook-remove").click()
    confirm = waiter(browser).until(EC.element_to_be_clickable((By.CSS_SELECTOR, "dialog.portal-dialog button.danger")))
    confirm.click()
    waiter(browser).until(EC.element_to_be_clickable((By.ID, "wf-webhook-set-up")))
    assert admin.get(portal.url + "api/workflows/hooked/webhook").status_code == 404
    assert not console_errors(browser, expected=[("/webhook", 404)])
