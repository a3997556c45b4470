"""The assistant in a real browser. Without a language model it answers honestly that no
model is configured, offers the matching tools as forms that run, and runs /tool-name
commands; with a model (a loopback server the test runs) it calls a host tool and streams
its answer. Either way the conversation is found again through the search boxes by a
paraphrase."""
import json
import platform

import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import admin_password, admin_session, console_errors
from model_server import ModelServer
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
    assert console_errors(browser) == []


def test_the_model_calls_a_host_tool_streams_its_answer_and_the_conversation_is_found_again(portal, browser):
    model = ModelServer()
    try:
        prepare(portal, enable_packs=["host"])
        admin = admin_session(portal)
        settings = {"enabled": True, "baseURL": model.url, "model": "kernel-expert", "apiKey": "sk-browser-test-key"}
        assert admin.put(portal.url + "api/assistant/settings", json=settings).status_code == 204

        wait = WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException])
        browser.get(portal.url)
        sign_in(browser, "olga", "olga-password-1")
        browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="chat"]').click()
        wait.until(lambda _: "kernel-expert" in browser.find_element(By.ID, "chat-mode").text)

        browser.find_element(By.ID, "chat-input").send_keys("which kernel version runs on this machine?")
        browser.find_element(By.ID, "chat-send").click()
        # The tool call and its real result appear; then the answer streams in, word by word.
        call = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, '#chat-turns li[data-role="assistant"] .tool-call')))
        assert call.text == "Calling host.kernel {}"
        result = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#chat-turns li[data-role="tool"]')))
        assert "Tool result: succeeded" in result.text
        streaming = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, '#chat-turns li[data-streaming="true"]')))
        assert streaming.text.strip() == "The kernel here is", "the first words are shown before the model has finished"
        model.release()
        final = wait.until(lambda _: [li for li in browser.find_elements(By.CSS_SELECTOR, '#chat-turns li[data-role="assistant"]') if li.text.startswith("The kernel here is")])
        assert final[0].text == f"The kernel here is Linux {platform.release()} on {platform.machine()}."
        assert browser.find_elements(By.CSS_SELECTOR, '#chat-turns li[data-streaming="true"]') == []

        # The model was given the tool and the tool's real output, with the key it was configured with.
        assert [r["authorization"] for r in model.requests] == ["Bearer sk-browser-test-key"] * 2
        assert any(t["function"]["name"] == "host_kernel" for t in model.requests[0]["body"]["tools"])
        assert json.loads(model.requests[1]["body"]["messages"][-1]["content"])["release"] == platform.release()

        # Found again by a paraphrase, from the search box in the top bar, then from the conversation list.
        browser.find_element(By.ID, "chat-new").click()
        wait.until(lambda _: browser.find_element(By.ID, "chat-turns").text == "")
        search = browser.find_element(By.ID, "global-search")
        search.send_keys("what kernel release is the server on")
        search.send_keys(Keys.ENTER)
        first = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, '#search-results li[data-kind="turn"]')))
        first.find_element(By.CSS_SELECTOR, "a.result-link").click()
        wait.until(lambda _: "which kernel version runs on this machine?" in browser.find_element(By.ID, "chat-turns").text)
        finder = browser.find_element(By.ID, "chat-find")
        finder.send_keys("kernel release of the box")
        finder.send_keys(Keys.ENTER)
        wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "#chat-session-list li mark")) > 0)
        assert console_errors(browser) == []
    finally:
        model.stop()
