#!/usr/bin/env python3
"""Time to interactive and bytes transferred for the web client's home page, on a cold cache,
for two portal binaries side by side (e.g. before and after a change to the client).

    python3 Benchmarks/ui-load.py --before /path/old/portal --after .build/debug/portal

Each binary serves a new data directory on 127.0.0.1 with the host pack enabled; the
administrator's session cookie is set in a new headless Chromium profile (so nothing is
cached), the home page is loaded, and the time from navigation start until the tool catalog's
first link is in the page (recorded in the page by a MutationObserver installed before any
script runs) is read, with the bytes transferred (gzip) for the page and its files, and
separately for API calls. Rounds alternate between the binaries; medians are printed, with
the after/before ratio.
"""
import argparse
import os
import shutil
import statistics
import sys

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "Browser"))
from conftest import Portal, _chromium, admin_password  # noqa: E402

MARKER = """
new MutationObserver((_, observer) => {
  if (document.querySelector('#tool-list a')) { window.__interactive = performance.now(); observer.disconnect(); }
}).observe(document, { childList: true, subtree: true });
"""


def prepare(portal):
    session = requests.Session()
    answer = session.post(portal.url + "api/auth/login", json={"username": "admin", "password": admin_password(portal)})
    answer.raise_for_status()
    session.headers["X-CSRF-Token"] = answer.json()["csrfToken"]
    assert session.post(portal.url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
    return session.cookies.get("portal_session")


def measure(portal, cookie):
    browser = _chromium()
    try:
        browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": MARKER})
        browser.get(portal.url + "healthz")
        browser.add_cookie({"name": "portal_session", "value": cookie, "path": "/"})
        browser.get(portal.url)
        interactive = None
        for _ in range(400):  # bounded wait for the marker (the page records the time itself)
            interactive = browser.execute_script("return window.__interactive || null")
            if interactive:
                break
            browser.execute_async_script("setTimeout(arguments[arguments.length - 1], 25)")
        if not interactive:
            raise RuntimeError("the home page never showed the tool catalog")
        entries = browser.execute_script("""
            return [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
              .map((e) => ({ name: e.name, size: e.transferSize, body: e.encodedBodySize }));""")
        files = sum(e["size"] for e in entries if "/api/" not in e["name"] and "/readyz" not in e["name"])
        api = sum(e["size"] for e in entries if "/api/" in e["name"] or "/readyz" in e["name"])
        count = sum(1 for e in entries if "/api/" not in e["name"] and "/readyz" not in e["name"])
        return interactive, files, api, count
    finally:
        browser.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the portal binary to compare against")
    parser.add_argument("--after", required=True, help="the portal binary being measured")
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    portals = {name: Portal(os.path.abspath(path)) for name, path in (("before", arguments.before), ("after", arguments.after))}
    try:
        cookies = {name: prepare(portal) for name, portal in portals.items()}
        results = {name: [] for name in portals}
        for round_number in range(arguments.rounds + 1):
            order = ["before", "after"] if round_number % 2 == 0 else ["after", "before"]
            for name in order:
                sample = measure(portals[name], cookies[name])
                if round_number > 0:  # the first round warms the server, not the browser
                    results[name].append(sample)
        medians = {}
        for name, samples in results.items():
            tti = statistics.median(s[0] for s in samples)
            files = statistics.median(s[1] for s in samples)
            api = statistics.median(s[2] for s in samples)
            count = statistics.median(s[3] for s in samples)
            medians[name] = (tti, files)
            print(f"{name}: time to interactive median {tti:.0f} ms (runs: {', '.join(f'{s[0]:.0f}' for s in samples)}); "
                  f"page and files {files / 1024:.1f} KB in {count:.0f} responses; API calls {api / 1024:.1f} KB")
        print(f"after/before: time to interactive {medians['after'][0] / medians['before'][0]:.2f}x, "
              f"bytes of the page and its files {medians['after'][1] / medians['before'][1]:.2f}x")
    finally:
        for portal in portals.values():
            portal.stop()


if __name__ == "__main__":
    main()
