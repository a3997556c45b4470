"""The assistant without a language model, in a real browser: it answers honestly that no
model is configured, offers the matching tools as forms that run, runs /tool-name commands,
and the conversation is found again through the search box by a paraphrase."""
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import console_errors
from test_access import sign_in
from test_tools import prepare


def test_the_no_model_assistant_suggests_runs_and_is_searchable(portal, browser):
    prepare(portal, enable_packs=["host"])
    wait = WebDriverWait(browser, 15, ignored_exceptions=[StaleElementReferenceException])
    browser.get(portal.url)
    sign_in(browser, "olga", "olga-password-1")
    browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="chat"]').click()
    wait.until(EC.visibility_of_element_located((By.ID, "page-chat")))

    browser.find_element(By.ID, "chat-input").send_keys("the database server is running out of disk space")
    browser.find_element(By.ID, "chat-send").click()
    answer = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, '#chat-turns li[data-role="assistant"]')))
    assert answer.text.startswith("No language model is configured")
    form = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, '#chat-turns form.suggestion[data-tool="host.disk-usage"]')))
    wait.until(lambda _: form.find_element(By.TAG_NAME, "strong").text == "Disk usage")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda _: "succeeded" in form.find_element(By.CSS_SELECTOR, "p[role=status]").text)

    browser.find_element(By.ID, "chat-input").send_keys("/host.memory")
    browser.find_element(By.ID, "chat-send").click()
    wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, '#chat-turns li[data-role="assistant"]')) == 2)
    last = browser.find_elements(By.CSS_SELECTOR, '#chat-turns li[data-role="assistant"]')[-1]
    assert last.text.startswith("Memory usage succeeded.")
    last.find_element(By.CSS_SELECTOR, "a.run-link").click()
    wait.until(lambda _: browser.find_element(By.ID, "run-status").text == "succeeded")
    assert browser.find_element(By.ID, "run-requester").text == "olga (via chat)"

    # Found again by a paraphrase, from the search box in the top bar.
    search = browser.find_element(By.ID, "global-search")
    search.send_keys("db host low on disk")
    search.send_keys(Keys.ENTER)
    first = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#search-results li")))
    assert first.get_attribute("data-kind") == "turn"
    assert [mark.text for mark in first.find_elements(By.TAG_NAME, "mark")] != []
    first.find_element(By.CSS_SELECTOR, "a.result-link").click()
    wait.until(lambda _: "running out of disk space" in browser.find_element(By.ID, "chat-turns").text)
    assert console_errors(browser, expected=[("/api/me", 401)]) == []
