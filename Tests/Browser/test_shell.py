"""The web UI shell renders in a real browser under the strict CSP, with no console errors."""
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import console_errors


def test_home_page_renders_without_console_errors(portal, browser):
    browser.get(portal.url)
    # The page's own title, then the route's once the client has drawn the sign-in (either may be
    # read first: the module can run before the title is asked for).
    assert browser.title in ("Self-Service Portal", "Sign in · Self-Service Portal")
    welcome = WebDriverWait(browser, 10).until(EC.visibility_of_element_located((By.ID, "welcome")))
    assert welcome.is_displayed()
    assert "Welcome" in welcome.text
    # The module script ran (a CSP that blocked it would leave "Checking server…").
    status = browser.find_element(By.ID, "server-status")
    WebDriverWait(browser, 10).until(lambda _: status.get_attribute("data-state") == "ok")
    assert status.text == "Server ready"
    # The stylesheet applied: the panel has its border radius from app.css.
    assert welcome.value_of_css_property("border-radius") == "8px"
    # Signed out: the sign-in form is offered, and asking who is signed in logged no error.
    assert browser.find_element(By.ID, "signin").is_displayed()
    WebDriverWait(browser, 10).until(lambda b: b.title == "Sign in · Self-Service Portal")
    assert console_errors(browser) == []


def test_first_start_instructions_are_printed(portal):
    assert "First start: an administrator account was created." in portal.output
    assert "Username: admin" in portal.output
