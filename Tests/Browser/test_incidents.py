"""Incidents in Chromium: a viewer reports one from the form and sees its SLA clocks; an
operator, in a second browser, answers, notes something internal, runs a tool and a workflow
from the incident (each run linked to it) and resolves it; the reporter's page follows each change
without a reload, never shows the internal note, and the reporter closes the incident. An
incident on a database shows the services it hits (the CMDB's impact) and the similar past
incidents with how they ended (search by meaning), the item's page
shows its relations and incidents, and the service dashboard draws the figures. A CAB member
finds a change among their approvals and approves it there, which its requester's
page follows. Axe finds no serious
violations on any of these pages. An SLA's escalation fires once, across crashes of the real
binary before and after it is due."""
import socket

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import Portal, admin_session, console_errors, serious_violations, until
from test_access import sign_in
from test_mcp import binary, free_port

PASSWORDS = {"vera": "vera-password-1", "olga": "olga-password-1"}


@pytest.fixture(scope="module")
def world():
    portal = Portal(binary(), port=free_port())
    admin = admin_session(portal)
    assert admin.post(portal.url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
    for name, role in (("vera", "viewer"), ("olga", "operator")):
        assert admin.post(portal.url + "api/users", json={"username": name, "password": PASSWORDS[name], "role": role}).status_code == 201
    calendar = {"name": "always", "timeZone": "UTC", "hours": [{"weekday": day, "from": "00:00", "to": "24:00"} for day in range(7)], "holidays": []}
    assert admin.put(portal.url + "api/business-calendars/always", json=calendar).status_code == 200
    sla = {"name": "urgent", "priorities": [1, 2], "calendar": "always", "firstResponseMinutes": 30, "resolutionMinutes": 240}
    assert admin.put(portal.url + "api/slas/urgent", json=sla).status_code == 200
    triage = {"name": "triage", "title": "Triage", "inputs": {"type": "object", "properties": {}},
              "nodes": [{"id": "note", "type": "set", "config": {"variables": {"seen": "yes"}}}], "edges": []}
    assert admin.post(portal.url + "api/workflows/triage/versions", json={"definition": triage, "note": ""}).status_code == 201
    yield {"portal": portal, "admin": admin}
    assert portal.stop() == 0


def waiter(browser, timeout=20):
    return WebDriverWait(browser, timeout, ignored_exceptions=[StaleElementReferenceException])


def timeline(browser):
    """The timeline's lines, read in one go (a live update may redraw it at any moment)."""
    return browser.execute_script("return [...document.querySelectorAll('#incident-timeline li')].map((li) => li.textContent)")


def test_report_work_and_close_an_incident_with_the_timeline_following_live(world, browser, second_browser):
    portal, admin = world["portal"], world["admin"]
    browser.get(portal.url)
    sign_in(browser, "vera", PASSWORDS["vera"])
    browser.get(portal.url + "#/incidents")
    waiter(browser).until(EC.visibility_of_element_located((By.ID, "incident-form")))
    browser.find_element(By.ID, "incident-title").send_keys("Checkout fails with 502")
    browser.find_element(By.ID, "incident-description").send_keys("Since 10:00, every order.")
    Select(browser.find_element(By.ID, "incident-impact")).select_by_value("high")
    Select(browser.find_element(By.ID, "incident-urgency")).select_by_value("high")
    browser.find_element(By.ID, "incident-service").send_keys("shop")
    assert serious_violations(browser) == []
    browser.find_element(By.ID, "incident-open").click()
    waiter(browser).until(lambda b: "#/incidents/" in b.current_url and b.find_elements(By.ID, "incident-heading"))
    incident_id = browser.current_url.rsplit("/", 1)[1]
    waiter(browser).until(lambda b: b.find_element(By.ID, "incident-heading").text == "INC-1: Checkout fails with 502")
    assert browser.find_element(By.ID, "incident-priority").text.startswith("P1")
    assert [clock.get_attribute("data-state") for clock in browser.find_elements(By.CSS_SELECTOR, "#incident-slas li[data-sla]")] == ["running", "running"]
    assert not browser.find_elements(By.ID, "incident-move-form"), "a viewer does not move a new incident"
    assert serious_violations(browser) == []
    marker = browser.execute_script("window.__noReload = true; return window.__noReload")
    assert marker is True

    # Olga works it in her own browser.
    second_browser.get(portal.url)
    sign_in(second_browser, "olga", PASSWORDS["olga"])
    second_browser.get(portal.url + f"#/incidents/{incident_id}")
    waiter(second_browser).until(EC.element_to_be_clickable((By.ID, "incident-comment")))
    second_browser.find_element(By.ID, "incident-comment-text").send_keys("We are on it.")
    second_browser.find_element(By.ID, "incident-comment").click()
    waiter(browser).until(lambda b: any("olga commented: We are on it." in line for line in timeline(b)))
    waiter(browser).until(lambda b: b.find_element(By.CSS_SELECTOR, '#incident-slas li[data-sla="0"]').get_attribute("data-state") == "met")

    waiter(second_browser).until(lambda b: b.find_element(By.ID, "incident-comment-text").get_attribute("value") == "")
    second_browser.find_element(By.ID, "incident-comment-text").send_keys("Upstream proxy lost its certificate.")
    second_browser.find_element(By.ID, "incident-comment-internal").click()
    second_browser.find_element(By.ID, "incident-comment").click()
    waiter(second_browser).until(lambda b: any("noted (internal)" in line for line in timeline(b)))

    waiter(second_browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, '#incident-tool option[value="tool:host.load"]'))
    Select(second_browser.find_element(By.ID, "incident-tool")).select_by_value("tool:host.load")
    second_browser.find_element(By.ID, "incident-run").click()
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#incident-links li"))
    run_id = browser.find_element(By.CSS_SELECTOR, "#incident-links li").get_attribute("data-link")
    assert admin.get(portal.url + f"api/runs/{run_id}").json()["requester"] == "olga"
    # And a workflow, linked the same way.
    Select(second_browser.find_element(By.ID, "incident-tool")).select_by_value("workflow:triage")
    second_browser.find_element(By.ID, "incident-run").click()
    waiter(browser).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#incident-links li")) == 2)
    workflow_link = browser.find_element(By.CSS_SELECTOR, '#incident-links a[href^="#/workflow-runs/"]')
    workflow_run = admin.get(portal.url + "api/workflow-runs/" + workflow_link.get_attribute("href").rsplit("/", 1)[1]).json()["run"]
    assert workflow_run["workflow"] == "triage" and workflow_run["starterName"] == "olga"

    Select(second_browser.find_element(By.ID, "incident-move-state")).select_by_value("resolved")
    Select(second_browser.find_element(By.ID, "incident-move-code")).select_by_value("fixed")
    second_browser.find_element(By.ID, "incident-move-notes").send_keys("certificate renewed")
    second_browser.find_element(By.ID, "incident-move").click()
    waiter(browser).until(lambda b: b.find_element(By.CSS_SELECTOR, "#incident-state").get_attribute("status") == "resolved")
    assert browser.execute_script("return window.__noReload") is True, "the page was reloaded"
    assert not any("certificate." in line for line in timeline(browser) if "Upstream proxy" in line), "the internal note reached the reporter"
    assert not any("Upstream proxy" in line for line in timeline(browser))

    # The reporter closes it.
    waiter(browser).until(EC.element_to_be_clickable((By.ID, "incident-move")))
    Select(browser.find_element(By.ID, "incident-move-state")).select_by_value("closed")
    browser.find_element(By.ID, "incident-move").click()
    waiter(browser).until(lambda b: b.find_element(By.CSS_SELECTOR, "#incident-state").get_attribute("status") == "closed")
    assert serious_violations(browser) == []
    moves = lambda b: [line.split(" moved it from ")[1].split(":")[0] for line in timeline(b) if " moved it from " in line]
    waiter(browser).until(lambda b: moves(b) == ["new to resolved", "resolved to closed"])
    assert not console_errors(browser) and not console_errors(second_browser)
    browser.get(portal.url + "#/incidents")
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, '#incident-rows tr[data-incident="1"]'))
    assert browser.find_element(By.CSS_SELECTOR, '#incident-counts li[data-state="closed"] strong').text == "1"


def test_an_incident_on_a_database_shows_what_it_hits_and_similar_incidents_and_the_dashboard_draws_it(world, browser):
    portal, admin = world["portal"], world["admin"]
    inventory = {
        "source": "inventory",
        "items": [{"name": "h1", "type": "host"}, {"name": "billing-db", "type": "database", "attributes": {"engine": "postgres"}},
                  {"name": "billing", "type": "service"}, {"name": "shop", "type": "application"}],
        "relations": [{"from": "billing-db", "kind": "runs-on", "to": "h1"}, {"from": "billing", "kind": "depends-on", "to": "billing-db"},
                      {"from": "shop", "kind": "depends-on", "to": "billing"}, {"from": "billing-db", "kind": "depends-on", "to": "shop"}],
    }
    answer = admin.post(portal.url + "api/asset-imports", json=inventory)
    assert answer.status_code == 200 and answer.json() == {"created": 4, "updated": 0, "unchanged": 0, "removed": 0, "relations": 4}
    earlier = admin.post(portal.url + "api/incidents", json={"title": "billing-db refused connections after the failover", "impact": "low",
                                                           "urgency": "low", "service": "billing-db"}).json()["incident"]
    assert admin.post(portal.url + f"api/incidents/{earlier['id']}/state",
                      json={"state": "resolved", "resolutionCode": "fixed", "notes": "pgbouncer restarted"}).status_code == 200
    opened = admin.post(portal.url + "api/incidents", json={"title": "billing-db refuses connections", "impact": "high", "urgency": "medium",
                                                          "service": "billing-db", "group": "dba"})
    assert opened.status_code == 201
    incident = opened.json()["incident"]
    # Searchable once the embedding jobs of both writes ran (moments after each write; "similar" embeds the
    # incident's text on the fly, so it can answer before the new incident itself is in the index).
    until(lambda: {m["incident"]["id"] for m in admin.get(portal.url + "api/incidents/search?q=database%20refuses%20connections").json()["matches"][:2]}
          == {incident["id"], earlier["id"]}, "both billing-db incidents as the two best matches")
    similar = admin.get(portal.url + f"api/incidents/{incident['id']}/similar").json()["matches"]
    assert similar[0]["incident"]["id"] == earlier["id"] and incident["id"] not in {m["incident"]["id"] for m in similar}
    blank = admin.get(portal.url + "api/incidents/search?q=%20%20%20")
    assert blank.status_code == 422 and blank.json()["detail"] == "q is 1 to 2000 characters"

    browser.get(portal.url)
    sign_in(browser, "olga", PASSWORDS["olga"])
    browser.get(portal.url + f"#/incidents/{incident['id']}")
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#incident-hits li[data-impacted]"))
    hit = [li.get_attribute("data-impacted") for li in browser.find_elements(By.CSS_SELECTOR, "#incident-hits li[data-impacted]")]
    assert hit == ["billing", "shop"], "the cycle back to billing-db ends there; the host it runs on is not hit"
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#incident-similar li[data-similar]"))
    first_similar = browser.find_element(By.CSS_SELECTOR, "#incident-similar li[data-similar]")
    assert first_similar.get_attribute("data-similar") == str(earlier["number"]) and "fixed: pgbouncer restarted" in first_similar.text
    assert serious_violations(browser) == []

    browser.find_element(By.CSS_SELECTOR, '#incident-hits a[href="#/assets/billing-db"]').click()
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, f'#asset-incidents li[data-incident="{incident["number"]}"]'))
    assert [li.get_attribute("data-relation") for li in browser.find_elements(By.CSS_SELECTOR, "#asset-relations li")] == \
        ["billing-db runs-on h1", "billing-db depends-on shop"]
    assert [li.get_attribute("data-depth") for li in browser.find_elements(By.CSS_SELECTOR, "#asset-impact li")] == ["1", "2"]
    assert "postgres" in browser.find_element(By.ID, "asset-facts").text
    # The relation to the host is removed from the page; the host's page no longer lists it.
    browser.find_element(By.CSS_SELECTOR, '#asset-relations button[aria-label="Remove: billing-db runs-on h1"]').click()
    waiter(browser).until(lambda b: [li.get_attribute("data-relation") for li in b.find_elements(By.CSS_SELECTOR, "#asset-relations li")] == ["billing-db depends-on shop"])
    assert admin.get(portal.url + "api/assets/h1").json()["dependents"] == []
    assert serious_violations(browser) == []

    # The host the portal runs on, imported from host.kernel's run on the Assets page.
    browser.get(portal.url + "#/assets")
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, '#inventory-tool option[value="host.kernel"]'))
    Select(browser.find_element(By.ID, "inventory-tool")).select_by_value("host.kernel")
    browser.find_element(By.ID, "inventory-import").click()
    waiter(browser).until(lambda b: b.find_element(By.ID, "inventory-result").text.startswith("Imported: 1 new"))
    hostname = socket.gethostname()
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, f'#asset-rows [data-asset="{hostname}"]'))
    assert admin.get(portal.url + f"api/assets/{hostname}").json()["asset"]["source"] == "host"
    assert serious_violations(browser) == []

    browser.get(portal.url + "#/service-dashboard")
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#chart-priority svg"))
    figures = admin.get(portal.url + "api/incidents/dashboard").json()
    assert browser.find_element(By.CSS_SELECTOR, "#figure-open .dashboard-value").text == str(figures["openTotal"])
    assert figures["openTotal"] >= 1 and any(service["service"] == "billing-db" for service in figures["topServices"])
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-services svg") and browser.find_elements(By.CSS_SELECTOR, "#chart-opened svg")
    # Only the dba group: the one incident opened here.
    browser.find_element(By.ID, "dashboard-group").send_keys("dba\n")
    browser.find_element(By.ID, "dashboard-period").click()
    waiter(browser).until(lambda b: b.find_element(By.CSS_SELECTOR, "#figure-opened .dashboard-value").text == "1")
    assert serious_violations(browser) == []
    assert not console_errors(browser)


def test_a_cab_member_who_decides_no_runs_approves_a_change_among_their_approvals(world, browser, second_browser):
    portal, admin = world["portal"], world["admin"]
    assert admin.post(portal.url + "api/users", json={"username": "cora", "password": "cora-password-1", "role": "operator"}).status_code == 201
    settings = {"normalCAB": {"mode": "any-one", "approvers": ["cora"]}, "emergencyCAB": {"mode": "any-one", "role": "admin"}, "freezes": []}
    assert admin.put(portal.url + "api/change-settings", json=settings).status_code == 200
    assert admin.post(portal.url + "api/asset-imports", json={"source": "cab", "items": [{"name": "mail", "type": "service"}]}).status_code == 200

    # Olga opens a normal change from the form and sends it to the CAB.
    second_browser.get(portal.url)
    sign_in(second_browser, "olga", PASSWORDS["olga"])
    second_browser.get(portal.url + "#/changes")
    waiter(second_browser).until(EC.element_to_be_clickable((By.ID, "change-open")))
    second_browser.find_element(By.ID, "change-title").send_keys("Rotate the mail certificate")
    second_browser.find_element(By.ID, "change-assets").send_keys("mail")
    for field, value in (("change-start", "2030-01-01T10:00"), ("change-end", "2030-01-01T11:00")):
        second_browser.execute_script("arguments[0].value = arguments[1]", second_browser.find_element(By.ID, field), value)
    second_browser.find_element(By.ID, "change-backout").send_keys("put the old certificate back")
    assert serious_violations(second_browser) == []
    second_browser.find_element(By.ID, "change-open").click()
    waiter(second_browser).until(lambda b: "#/changes/" in b.current_url and b.find_elements(By.ID, "change-heading"))
    change_id = second_browser.current_url.rsplit("/", 1)[1]
    change_number = admin.get(portal.url + f"api/changes/{change_id}").json()["change"]["number"]
    for state in ("assess", "authorize"):
        waiter(second_browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, f'#change-move-state option[value="{state}"]'))
        Select(second_browser.find_element(By.ID, "change-move-state")).select_by_value(state)
        second_browser.find_element(By.ID, "change-move").click()
        waiter(second_browser).until(lambda b: b.find_element(By.ID, "change-state").get_attribute("status") == state)
    assert not second_browser.find_elements(By.ID, "change-approve"), "the requester is not offered the decision"
    assert [change["id"] for change in admin.get(portal.url + "api/assets/mail").json()["changes"]] == [change_id], "the item lists its change"

    # Cora, an operator (she decides no runs) named on the CAB, sees it counted in the sidebar and
    # approves it among her approvals; Olga's page follows.
    browser.get(portal.url)
    sign_in(browser, "cora", "cora-password-1")
    badge = waiter(browser).until(lambda b: b.find_element(By.ID, "approvals-count").is_displayed() and b.find_element(By.ID, "approvals-count"))
    assert badge.text.startswith("1")
    browser.find_element(By.CSS_SELECTOR, '#mainnav a[data-page="approvals"]').click()
    row = f'#approvals-change-rows tr[data-change="{change_number}"]'
    waiter(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, row))
    assert not browser.find_elements(By.CSS_SELECTOR, "#approvals-rows tr"), "no run queue for someone who decides no runs"
    assert serious_violations(browser) == []
    # A rejection without a reason is refused and the change stays.
    browser.find_element(By.CSS_SELECTOR, row + " button.reject").click()
    waiter(browser).until(lambda b: "why" in b.find_element(By.ID, "approvals-error").text.lower())
    browser.find_element(By.CSS_SELECTOR, row + " input.approval-comment").send_keys("go ahead")
    browser.find_element(By.CSS_SELECTOR, row + " button.approve").click()
    waiter(browser).until(lambda b: not b.find_elements(By.CSS_SELECTOR, row))
    waiter(browser).until(lambda b: not b.find_element(By.ID, "approvals-count").is_displayed())
    assert browser.find_element(By.ID, "approvals-empty").is_displayed()
    browser.get(portal.url + f"#/changes/{change_id}")
    waiter(browser).until(lambda b: b.find_element(By.ID, "change-state").get_attribute("status") == "scheduled")
    waiter(second_browser).until(lambda b: b.find_element(By.ID, "change-state").get_attribute("status") == "scheduled")
    assert second_browser.find_element(By.CSS_SELECTOR, '#change-decisions li[data-approver="cora"]').text.startswith("cora approved: go ahead")
    assert admin.get(portal.url + f"api/changes/{change_id}").json()["change"]["decisions"][0]["approverName"] == "cora"
    cora = requests.Session()
    assert cora.post(portal.url + "api/auth/login", json={"username": "cora", "password": "cora-password-1"}).status_code == 200
    assert cora.get(portal.url + "api/change-approvals").json()["changes"] == [], "decided: no longer waiting for her"
    assert not console_errors(browser, expected=[("/decision", 422)]) and not console_errors(second_browser)


def test_an_sla_escalation_fires_once_across_crashes_before_and_after_it_is_due():
    portal = Portal(binary(), port=free_port())
    try:
        admin = admin_session(portal)
        # 24x7; the warning at 5% of a minute (3 s) raises the priority and hands the incident to the night group.
        sla = {"name": "quick", "priorities": [3], "resolutionMinutes": 1, "warnAtPercent": 5,
               "escalations": [{"at": "warning", "raisePriority": True, "group": "night"}]}
        assert admin.put(portal.url + "api/slas/quick", json=sla).status_code == 200

        def open_incident(session, title):
            answer = session.post(portal.url + "api/incidents", json={"title": title, "impact": "medium", "urgency": "medium"})
            assert answer.status_code == 201, answer.text
            return answer.json()["incident"]

        def detail(session, incident):
            answer = session.get(portal.url + f"api/incidents/{incident['id']}")
            assert answer.status_code == 200, answer.text
            return answer.json()

        first = open_incident(admin, "reports slow")
        assert first["priority"] == 3 and [clock["sla"] for clock in first["slas"]] == ["quick"]
        # Killed well before the warning is due: the durable timer fires after the restart.
        portal.crash()
        admin = admin_session(portal)
        until(lambda: detail(admin, first)["incident"]["priority"] == 2, "the warning's escalation after the restart")
        # Killed again after it fired; a later incident's warning shows the timers ran meanwhile.
        portal.crash()
        admin = admin_session(portal)
        second = open_incident(admin, "exports slow")
        until(lambda: detail(admin, second)["incident"]["priority"] == 2, "the second incident's warning")

        escalated = detail(admin, first)
        assert escalated["incident"]["urgency"] == "high" and escalated["incident"]["priority"] == 2, "raised once: twice would be P1"
        assert escalated["incident"]["announced"] == ["w0"]
        by_portal = [entry for entry in escalated["timeline"] if entry["actorName"] == "portal"]
        assert [(entry["kind"], entry.get("field"), entry.get("old"), entry.get("new")) for entry in by_portal] == [
            ("sla", "resolution", None, None), ("changed", "group", None, "night"),
            ("changed", "urgency", "medium", "high"), ("changed", "priority", "P3", "P2")]
        assert by_portal[0]["text"] == "resolution SLA quick v1 reached 5%"
    finally:
        assert portal.stop() == 0, "portal must exit 0 on SIGTERM"
