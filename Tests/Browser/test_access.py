"""Sign-in and administration in a real browser: the administrator signs in, creates a user,
signs out; the new user signs in, is not offered the admin pages and is refused when opening
one directly; signs out."""
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ADMIN_PASSWORD, console_errors, first_start_password


def sign_in(browser, username, password):
    wait = WebDriverWait(browser, 10)
    wait.until(EC.visibility_of_element_located((By.ID, "signin-form")))
    browser.find_element(By.ID, "signin-username").clear()
    browser.find_element(By.ID, "signin-username").send_keys(username)
    browser.find_element(By.ID, "signin-password").send_keys(password)
    browser.find_element(By.ID, "signin-submit").click()
    wait.until(EC.visibility_of_element_located((By.ID, "user-menu")))


def sign_out(browser):
    browser.find_element(By.ID, "sign-out").click()
    WebDriverWait(browser, 10).until(EC.visibility_of_element_located((By.ID, "signin-form")))
    assert not browser.find_element(By.ID, "user-menu").is_displayed()


def test_admin_creates_a_user_who_cannot_reach_admin_pages(portal, browser):
    # Tables are re-rendered after each change; an element found just before may go stale.
    wait = WebDriverWait(browser, 10, ignored_exceptions=[StaleElementReferenceException])
    browser.get(portal.url)

    # A wrong password is refused with the server's message.
    wait.until(EC.visibility_of_element_located((By.ID, "signin-form")))
    browser.find_element(By.ID, "signin-username").send_keys("admin")
    browser.find_element(By.ID, "signin-password").send_keys("not-the-password")
    browser.find_element(By.ID, "signin-submit").click()
    wait.until(lambda _: "Wrong user name or password" in browser.find_element(By.ID, "signin-error").text)

    # The one-time password from the terminal leads to the password page, and nowhere else
    # until it is changed.
    one_time = first_start_password(portal)
    sign_in(browser, "admin", one_time)
    wait.until(EC.visibility_of_element_located((By.ID, "page-password")))
    assert browser.find_element(By.ID, "password-required").is_displayed()
    browser.get(portal.url + "#/admin/users")
    wait.until(EC.visibility_of_element_located((By.ID, "page-password")))
    assert not [page for page in browser.find_elements(By.ID, "page-users") if page.is_displayed()]
    browser.find_element(By.ID, "password-current").send_keys(one_time)
    browser.find_element(By.ID, "password-new").send_keys(ADMIN_PASSWORD)
    browser.find_element(By.ID, "password-again").send_keys(ADMIN_PASSWORD + "x")
    browser.find_element(By.ID, "password-submit").click()
    wait.until(lambda _: "differ" in browser.find_element(By.ID, "password-error").text)
    browser.find_element(By.ID, "password-again").clear()
    browser.find_element(By.ID, "password-again").send_keys(ADMIN_PASSWORD)
    browser.find_element(By.ID, "password-submit").click()
    wait.until(EC.visibility_of_element_located((By.ID, "page-home")))
    portal.admin_password_changed = True
    assert browser.find_element(By.ID, "user-name").text == "Administrator"
    users_link = browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="users"]')
    assert users_link.is_displayed()
    users_link.click()
    wait.until(EC.visibility_of_element_located((By.ID, "page-users")))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-username="admin"]')))

    browser.find_element(By.ID, "user-username").send_keys("bob")
    browser.find_element(By.ID, "user-display").send_keys("Bob Builder")
    browser.find_element(By.ID, "user-password").send_keys("bob-password-1")
    Select(browser.find_element(By.ID, "user-role")).select_by_visible_text("viewer")
    browser.find_element(By.ID, "user-submit").click()
    row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-username="bob"]')))
    assert "Bob Builder" in row.text

    # Organizations: create one with its cloud scope; bob is a viewer of the default one.
    browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="orgs"]').click()
    wait.until(EC.visibility_of_element_located((By.ID, "page-orgs")))
    member = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#members-rows tr[data-username="bob"]')))
    assert "viewer" in member.text
    browser.find_element(By.ID, "org-slug").send_keys("acme")
    browser.find_element(By.ID, "org-name").send_keys("Acme")
    browser.find_element(By.ID, "org-scope").send_keys("ocid1.compartment.oc1..acme")
    browser.find_element(By.ID, "org-submit").click()
    acme = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-slug="acme"]')))
    assert "ocid1.compartment.oc1..acme" in acme.text

    # API keys: the secret is shown once, then the key is listed and can be revoked.
    browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="keys"]').click()
    wait.until(EC.visibility_of_element_located((By.ID, "page-keys")))
    browser.find_element(By.ID, "key-name").send_keys("deploy bot")
    Select(browser.find_element(By.ID, "key-role")).select_by_visible_text("operator")
    browser.find_element(By.ID, "key-submit").click()
    wait.until(lambda _: "pk_" in browser.find_element(By.ID, "key-secret").text)
    revoke = wait.until(EC.element_to_be_clickable((By.XPATH, '//tbody[@id="keys-rows"]/tr[td[1]="deploy bot"]//button')))
    revoke.click()
    wait.until(lambda _: browser.find_element(By.XPATH, '//tbody[@id="keys-rows"]/tr[td[1]="deploy bot"]//button').text == "Revoked")
    sign_out(browser)

    sign_in(browser, "bob", "bob-password-1")
    assert browser.find_element(By.ID, "user-name").text == "Bob Builder"
    assert not browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="users"]').is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="keys"]').is_displayed()
    browser.get(portal.url + "#/admin/users")
    refused = wait.until(EC.visibility_of_element_located((By.ID, "refused")))
    assert "users:manage" in refused.text
    assert not [page for page in browser.find_elements(By.ID, "page-users") if page.is_displayed()]
    sign_out(browser)

    assert console_errors(browser, expected=[("/api/auth/login", 401), ("/api/users", 403)]) == []
