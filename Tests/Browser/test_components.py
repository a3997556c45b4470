"""The shared components in a real browser, mounted on the portal's own page (its modules,
its CSP): the data table sorts and pages, the JSON-Schema form types its values and shows
field errors, the dialog answers yes, no and Escape, a toast is announced, relative times
read as people read them, and charts carry their accessible name and data."""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import console_errors


@pytest.fixture
def page(portal, browser):
    """The signed-out portal page, with a `#lab` element to mount components in, and a
    `load(path)` helper in the page that imports a module of the client by its path."""
    browser.get(portal.url)
    WebDriverWait(browser, 10).until(EC.visibility_of_element_located((By.ID, "signin-form")))
    browser.execute_script("""
        const lab = document.createElement('div'); lab.id = 'lab'; document.body.append(lab);
        const base = document.querySelector('script[type=module]').src.replace(/app\\.js$/, '');
        window.load = (path) => import(base + path);""")
    return browser


def run(browser, script):
    """Runs an async script body in the page (it may `await`); returns its value or raises."""
    result = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => { %s })().then((value) => done({ value }), (error) => done({ error: String(error && error.stack || error) }));""" % script)
    assert "error" not in result, result.get("error")
    return result.get("value")


def test_the_data_table_sorts_pages_and_shows_its_empty_state(page):
    run(page, """
        await load('components/data-table.js');
        const table = document.createElement('data-table');
        table.bodyId = 'lab-rows';
        table.caption = 'Numbers';
        table.columns = [{ key: 'name', label: 'Name', sort: (r) => r.name }, { key: 'n', label: 'Number', sort: (r) => r.n }];
        table.rowAttributes = (r) => ({ 'data-n': r.n });
        table.rows = Array.from({ length: 60 }, (_, i) => ({ name: `item ${i}`, n: (i * 37) % 60 }));
        document.getElementById('lab').append(table);""")
    rows = lambda: [int(row.get_attribute("data-n")) for row in page.find_elements(By.CSS_SELECTOR, "#lab-rows tr")]
    status = page.find_element(By.CSS_SELECTOR, "#lab .pager-status")
    assert len(rows()) == 25 and status.text == "1–25 of 60"
    page.find_element(By.CSS_SELECTOR, "#lab .pager-next").click()
    assert status.text == "26–50 of 60"
    header = page.find_element(By.CSS_SELECTOR, '#lab th[data-key="n"]')
    header.find_element(By.TAG_NAME, "button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert rows() == list(range(25)), "a new sort starts at the first page, in order"
    header.find_element(By.TAG_NAME, "button").click()
    assert header.get_attribute("aria-sort") == "descending" and rows()[:3] == [59, 58, 57]
    page.find_element(By.CSS_SELECTOR, "#lab .pager-next").click()
    page.find_element(By.CSS_SELECTOR, "#lab .pager-next").click()
    assert status.text == "51–60 of 60" and page.find_element(By.CSS_SELECTOR, "#lab .pager-next").get_attribute("disabled") is not None
    run(page, "document.querySelector('#lab data-table').empty = 'Nothing yet: add one.'; document.querySelector('#lab data-table').rows = [];")
    assert not page.find_element(By.CSS_SELECTOR, "#lab table").is_displayed()
    assert page.find_element(By.CSS_SELECTOR, "#lab .data-table-empty").text == "Nothing yet: add one."
    assert console_errors(page) == []


def test_the_schema_form_types_values_and_shows_field_errors(page):
    values = run(page, """
        await load('components/schema-form.js');
        const form = document.createElement('schema-form');
        form.idPrefix = 'lab';
        form.schema = { type: 'object', required: ['host'], properties: {
          host: { type: 'string', title: 'Host', description: 'A host name' },
          port: { type: 'integer', minimum: 1, maximum: 65535, default: 22 },
          verbose: { type: 'boolean' },
          level: { type: 'integer', enum: [1, 2, 3] },
          note: { type: 'string' } } };
        document.getElementById('lab').append(form);
        document.getElementById('lab-host').value = 'db-7';
        document.getElementById('lab-level').value = '2';
        return form.values();""")
    assert values == {"host": "db-7", "port": 22, "verbose": False, "level": 2}, "numbers typed, empty optional text left out"
    host = page.find_element(By.ID, "lab-host")
    label = page.find_element(By.CSS_SELECTOR, 'label[for="lab-host"]')
    assert "Host" in label.text
    described = " ".join(page.find_element(By.ID, id).text for id in host.get_attribute("aria-describedby").split())
    assert "A host name" in described, "the description is read with the field"
    assert page.find_element(By.ID, "lab-error-host").get_attribute("data-error-for") == "host"


def test_the_dialog_answers_yes_no_and_escape_and_returns_focus(page):
    run(page, """
        await load('components/dialog.js');
        const opener = document.createElement('button'); opener.id = 'opener'; opener.textContent = 'Open';
        document.getElementById('lab').append(opener);""")
    for answer, expected in (("confirm", True), ("cancel", False), ("escape", False)):
        page.find_element(By.ID, "opener").click()
        page.execute_script("""
            window.answer = undefined;
            document.getElementById('opener').focus();
            load('components/dialog.js').then((m) => m.confirmDialog({ title: 'Revoke?', message: 'It stops working.', confirmLabel: 'Revoke', danger: true }))
              .then((value) => { window.answer = value; });""")
        dialog = WebDriverWait(page, 5).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "dialog[open]")))
        assert "Revoke?" in dialog.text
        buttons = {button.text: button for button in dialog.find_elements(By.TAG_NAME, "button")}
        if answer == "confirm":
            buttons["Revoke"].click()
        elif answer == "cancel":
            buttons["Cancel"].click()
        else:
            page.switch_to.active_element.send_keys(Keys.ESCAPE)
        WebDriverWait(page, 5).until(lambda _: page.execute_script("return window.answer") is not None)
        assert page.execute_script("return window.answer") is expected, answer
        assert page.switch_to.active_element.get_attribute("id") == "opener", "focus returns to the opener"


def test_toasts_relative_times_and_charts(page):
    texts = run(page, """
        const { toast } = await load('components/toast.js');
        const { relativeText } = await load('components/relative-time.js');
        await load('components/charts.js');
        toast('Saved the settings', { kind: 'ok' });
        const now = new Date('2026-06-10T12:00:00Z');
        const chart = document.createElement('bar-chart');
        chart.label = 'Runs per tool';
        chart.data = [{ label: 'host.load', value: 3 }, { label: 'host.memory', value: 7 }];
        document.getElementById('lab').append(chart);
        const time = document.createElement('relative-time');
        time.setAttribute('datetime', new Date(Date.now() - 5 * 60000).toISOString());
        document.getElementById('lab').append(time);
        return [relativeText(new Date('2026-06-10T11:59:50Z'), now), relativeText(new Date('2026-06-10T11:55:00Z'), now),
                relativeText(new Date('2026-06-10T14:00:00Z'), now)];""")
    assert texts[0] == "just now" and "5 minutes ago" in texts[1] and "in 2 hours" in texts[2], texts
    region = page.find_element(By.TAG_NAME, "toast-region")
    assert region.get_attribute("role") == "status" and region.get_attribute("aria-live") == "polite"
    assert "Saved the settings" in region.text
    svg = page.find_element(By.CSS_SELECTOR, "#lab bar-chart svg")
    assert svg.get_attribute("role") == "img" and svg.get_attribute("aria-label") == "Runs per tool"
    cells = [cell.get_attribute("textContent") for cell in page.find_elements(By.CSS_SELECTOR, "#lab bar-chart table td")]
    assert "3" in cells and "7" in cells, "the values are in a table for screen readers"
    time = page.find_element(By.CSS_SELECTOR, "#lab relative-time")
    assert time.text == "5 minutes ago" and time.get_attribute("title"), "relative text, absolute time on hover"
    assert console_errors(page) == []


def test_line_and_donut_charts_draw_their_points_and_name_them(page):
    run(page, """
        await load('components/charts.js');
        const line = document.createElement('line-chart');
        line.label = 'Runs per day';
        line.data = [{ label: 'Mon', value: 3 }, { label: 'Tue', value: 9 }, { label: 'Wed', value: 0 }, { label: 'Thu', value: 4 }];
        const donut = document.createElement('donut-chart');
        donut.label = 'Runs by status';
        donut.data = [{ label: 'succeeded', value: 6 }, { label: 'failed', value: 2 }];
        document.getElementById('lab').append(line, donut);""")
    for selector, name, values in (("line-chart", "Runs per day", ["3", "9", "0", "4"]), ("donut-chart", "Runs by status", ["6", "2"])):
        svg = page.find_element(By.CSS_SELECTOR, f"#lab {selector} svg")
        assert svg.get_attribute("role") == "img" and svg.get_attribute("aria-label") == name
        cells = [cell.get_attribute("textContent") for cell in page.find_elements(By.CSS_SELECTOR, f"#lab {selector} table td")]
        assert all(value in cells for value in values), (selector, cells)
        # Drawn, with colours from the stylesheet's series classes (no inline style).
        assert page.execute_script("return arguments[0].querySelectorAll('[class*=\"chart-series-\"]').length", svg) >= 1
        assert not page.execute_script("return arguments[0].querySelector('[style]')", svg)
    assert console_errors(page) == []
