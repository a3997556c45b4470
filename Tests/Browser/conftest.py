"""Browser-test harness: the real portal binary on a free loopback port with a temporary data
directory, and headless Chromium driven by Selenium. Later issues add their flows here.

A failing test leaves a screenshot and the page's console log in test-artifacts/.
"""
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

import axe_selenium_python
import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


class Portal:
    """A running `portal serve`; `url` is where it listens, `output` what it printed."""

    def __init__(self, binary, env=None, data_dir=None, port=0):
        """`env`: PORTAL_* settings for this portal (the caller's own PORTAL_* variables are never
        passed on). `data_dir`: start on the data of a portal stopped with `stop(keep_data=True)`
        (the directory is created when not given); the output files are then written anew.
        `port`: 0 for any free one; a fixed one keeps the address across `restart()`."""
        self.binary, self.port = binary, port
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="portal-browser-")
        self.environment = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        self.environment["PORTAL_LOG_FORMAT"] = "json"
        self.environment.update(env or {})
        self.stdout_path = os.path.join(self.data_dir, "stdout.txt")
        self.stderr_path = os.path.join(self.data_dir, "stderr.txt")
        self._start()
        self.admin_password_changed = False

    def _start(self):
        arguments = [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", os.path.join(self.data_dir, "data")]
        # PORTAL_UI_DIR: serve the web client from a working tree (for working on the client).
        if os.environ.get("PORTAL_UI_DIR"):
            arguments += ["--ui-dir", os.environ["PORTAL_UI_DIR"]]
        self.process = subprocess.Popen(
            arguments,
            stdout=open(self.stdout_path, "w"), stderr=open(self.stderr_path, "w"),
            env=self.environment, cwd=self.data_dir,
        )
        self.url = self._wait_for_url()

    def restart(self):
        """Stops the portal (SIGTERM) and starts it again on the same data and address; returns
        the exit code of the stop."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self._start()
        return code

    def crash(self):
        """Kills the portal (SIGKILL: no shutdown at all) and starts it again on the same data
        and address."""
        self.process.kill()
        self.process.wait(timeout=30)
        self._start()

    def _wait_for_url(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # polls for the banner line, bounded
            match = re.search(r"Portal is serving on (http://127\.0\.0\.1:\d+/)", self.output)
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise RuntimeError(f"portal exited with {self.process.returncode}:\n{open(self.stderr_path).read()}")
            time.sleep(0.05)
        raise RuntimeError("portal did not print its URL in time")

    @property
    def output(self):
        return open(self.stdout_path).read()

    def stop(self, keep_data=False):
        """SIGTERM, then the exit code; the data directory is deleted unless `keep_data` (to
        start another `Portal` on it)."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        if not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code


@pytest.fixture
def portal():
    binary = os.path.abspath(os.environ.get("PORTAL_BINARY", str(ROOT / ".build/debug/portal")))
    server = Portal(binary)
    yield server
    assert server.stop() == 0, "portal must exit 0 on SIGTERM"


def _chromium():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def _keep_artifacts(request, driver, suffix=""):
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"{request.node.name}{suffix}.png"))
        (ARTIFACTS / f"{request.node.name}{suffix}.console.txt").write_text(
            "\n".join(str(entry) for entry in driver.get_log("browser")))


@pytest.fixture
def browser(request):
    driver = _chromium()
    yield driver
    _keep_artifacts(request, driver)
    driver.quit()


@pytest.fixture
def second_browser(request):
    """Another person's browser: its own cookies and session."""
    driver = _chromium()
    yield driver
    _keep_artifacts(request, driver, "-second")
    driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.report_call = report


def console_errors(driver, expected=()):
    """Console entries at SEVERE level (errors, failed loads, CSP violations), except the
    answers a test expects: `expected` holds (path, status) pairs such as ("/api/me", 401),
    which Chromium logs as failed loads."""
    def is_expected(message):
        return any(path in message and f"status of {status}" in message for path, status in expected)
    return [entry for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and not is_expected(entry["message"])]


def first_start_password(portal):
    """The administrator's one-time password from the first-start banner."""
    match = re.search(r"Password: (\S+)", portal.output)
    assert match, "the banner prints the one-time password"
    return match.group(1)


ADMIN_PASSWORD = "admin-chosen-password-1"


def admin_password(portal):
    """The administrator's password once the one-time one was changed (through the API, the
    first time this is asked): the portal lets a one-time password do nothing else."""
    if not portal.admin_password_changed:
        session = requests.Session()
        answer = session.post(portal.url + "api/auth/login", json={"username": "admin", "password": first_start_password(portal)})
        assert answer.status_code == 200, answer.text
        assert answer.json()["user"]["mustChangePassword"] is True
        change = session.post(portal.url + "api/me/password", headers={"X-CSRF-Token": answer.json()["csrfToken"]},
                              json={"currentPassword": first_start_password(portal), "newPassword": ADMIN_PASSWORD})
        assert change.status_code == 200, change.text
        portal.admin_password_changed = True
    return ADMIN_PASSWORD


def admin_session(portal):
    """A requests session signed in as the administrator, with its CSRF header set."""
    session = requests.Session()
    answer = session.post(portal.url + "api/auth/login", json={"username": "admin", "password": admin_password(portal)})
    assert answer.status_code == 200, answer.text
    session.headers["X-CSRF-Token"] = answer.json()["csrfToken"]
    return session


def until(condition, what, timeout=20):
    """Polls `condition` until it holds (a deadline, not a sleep standing in for an event);
    returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting until {what}")


# axe-core as axe-selenium-python ships it, read once.
AXE_SCRIPT = (pathlib.Path(axe_selenium_python.__file__).parent / "node_modules" / "axe-core" / "axe.min.js").read_text(encoding="utf8")


def serious_violations(browser):
    """axe-core's serious and critical violations on the current page, one line each. axe is
    injected once per document (a route change within the app keeps it), and only the
    violations' summaries cross back to the test."""
    if not browser.execute_script("return typeof window.axe === 'object'"):
        browser.execute_script(AXE_SCRIPT)
    return browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ["violations"] })
          .then((results) => done(results.violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.id} (${v.impact}): ${v.help} — ${JSON.stringify(v.nodes.slice(0, 5).map((node) => node.target))}`)))
          .catch((error) => done([`axe failed: ${error}`]));""")
