"""Tools, approvals and audit in two real browsers: an operator runs a risky `host` tool, an
administrator in a second browser approves it, the operator's page shows the result without a
reload (server-sent events), and the audit view shows both the request and the decision."""
import subprocess

import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import admin_password, admin_session, console_errors
from test_access import sign_in


def prepare(portal, enable_packs=()):
    """The administrator creates the operator olga and enables `enable_packs` (through the API)."""
    admin = admin_session(portal)
    assert admin.post(portal.url + "api/users", json={"username": "olga", "displayName": "Olga Operator", "password": "olga-password-1", "role": "operator"}).status_code == 201
    for pack in enable_packs:
        assert admin.post(portal.url + f"api/packs/{pack}/enabled", json={"enabled": True}).status_code == 204


def test_a_risky_run_waits_for_another_persons_approval_and_the_result_arrives_live(portal, browser, second_browser):
    prepare(portal)
    wait_a = WebDriverWait(browser, 15, ignored_exceptions=[StaleElementReferenceException])
    wait_b = WebDriverWait(second_browser, 15, ignored_exceptions=[StaleElementReferenceException])

    # The administrator enables the host pack on the Tool packs page.
    second_browser.get(portal.url)
    sign_in(second_browser, "admin", admin_password(portal))
    second_browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="packs"]').click()
    toggle = wait_b.until(EC.element_to_be_clickable((By.CSS_SELECTOR, 'tr[data-pack="host"] input.pack-enabled')))
    assert not toggle.is_selected()
    toggle.click()
    wait_b.until(lambda _: second_browser.find_element(By.CSS_SELECTOR, 'tr[data-pack="host"] input.pack-enabled').is_selected())

    # A real process for the tool to signal; it must still be running until the approval.
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        browser.get(portal.url)
        sign_in(browser, "olga", "olga-password-1")
        wait_a.until(EC.visibility_of_element_located((By.ID, "page-home")))
        categories = [button.text for button in browser.find_elements(By.CSS_SELECTOR, "#categories button")]
        assert "Diagnostics" in categories and "Services" in categories
        browser.find_element(By.ID, "tool-search").send_keys("signal")
        wait_a.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "#tool-list a")) == 1)
        browser.find_element(By.CSS_SELECTOR, '#tool-list a[data-tool="host.signal-process"]').click()
        wait_a.until(EC.visibility_of_element_located((By.ID, "page-tool")))
        assert "approver" in browser.find_element(By.ID, "tool-approval").text

        # A field error comes back next to the field.
        browser.find_element(By.ID, "field-pid").send_keys("1")
        browser.find_element(By.ID, "tool-run").click()
        wait_a.until(lambda _: "must be at least 2" in browser.find_element(By.ID, "field-error-pid").text)
        browser.find_element(By.ID, "field-pid").clear()
        browser.find_element(By.ID, "field-pid").send_keys(str(sleeper.pid))
        browser.find_element(By.ID, "tool-run").click()
        wait_a.until(EC.visibility_of_element_located((By.ID, "page-run")))
        wait_a.until(lambda _: browser.find_element(By.ID, "run-status").get_attribute("data-status") == "pending-approval")
        assert browser.find_element(By.ID, "run-status").text == "waiting for approval"
        assert sleeper.poll() is None, "nothing ran before the approval"
        # Set before anyone decides: a reload or navigation of the operator's page would erase it.
        assert browser.execute_script("window.__noReload = true; return window.__noReload;") is True

        # The administrator sees it arrive in the approvals queue and approves it.
        second_browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="approvals"]').click()
        row = wait_b.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#approvals-rows tr")))
        assert "olga" in row.text and "Signal a process" in row.text
        row.find_element(By.CSS_SELECTOR, "input.approval-comment").send_keys("ok, stop it")
        row.find_element(By.CSS_SELECTOR, "button.approve").click()
        wait_b.until(EC.visibility_of_element_located((By.ID, "approvals-empty")))

        # The operator's page updates by itself: the marker set before the approval survives.
        wait_a.until(lambda _: browser.find_element(By.ID, "run-status").text == "succeeded")
        assert browser.execute_script("return window.__noReload === true;"), "the page was not reloaded"
        timeline = browser.find_element(By.ID, "run-timeline").text
        assert "approved by admin: ok, stop it" in timeline
        assert '"sent": true' in browser.find_element(By.ID, "run-output").text
        assert sleeper.wait(timeout=10) == -15, "the approved run sent SIGTERM"
    finally:
        if sleeper.poll() is None:
            sleeper.kill()

    # The audit view shows the request and the decision.
    second_browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="audit"]').click()
    wait_b.until(EC.visibility_of_element_located((By.CSS_SELECTOR, '#audit-rows tr[data-kind="approval.decided"]')))
    requested = second_browser.find_element(By.CSS_SELECTOR, '#audit-rows tr[data-kind="run.requested"]').text
    decided = second_browser.find_element(By.CSS_SELECTOR, '#audit-rows tr[data-kind="approval.decided"]').text
    assert "olga" in requested and "host.signal-process" in requested
    assert "admin" in decided and "approved" in decided
    second_browser.find_element(By.ID, "audit-kind").send_keys("approval")
    second_browser.find_element(By.CSS_SELECTOR, "#audit-filter button").click()
    # Rows of that kind only, and at least one: an empty table would pass "all rows are decisions".
    wait_b.until(lambda _: [row.get_attribute("data-kind") for row in second_browser.find_elements(By.CSS_SELECTOR, "#audit-rows tr")]
                 == ["approval.decided"])

    assert console_errors(browser, expected=[("/runs", 400)]) == []
    assert console_errors(second_browser) == []
