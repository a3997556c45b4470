// Audit trail: everything that happened in this organization, newest first, filtered by kind,
// tool and person, paged from the server ("Older entries"). People are shown by name: user
// ids inside an entry's detail become names when the viewer may list users.
import { api, can, problemText, query } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { duration, named, plural, when } from "../lib/format.js";
import { subscribe } from "../lib/live.js";
import { emptyState, field, panel, refused } from "../lib/page.js";
import { toast } from "../components/toast.js";
import "../components/data-table.js";
import "../components/status-badge.js";
import "../components/charts.js";

const pageSize = 50;
const uuidPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const kindPrefixes = ["run", "approval", "sign-in", "session", "role", "user", "api-key", "password", "organization", "tool-pack", "sso", "assistant", "embeddings"];
const filters = [["kind", "audit-kind"], ["tool", "audit-tool"], ["person", "audit-person"]];

/** Ids people may meet in the trail, with the names to show for them (empty when not allowed). */
async function knownNames() {
  const names = new Map();
  const [users, keys] = await Promise.all([
    can("users:manage") ? api("GET", "/api/users") : Promise.resolve(null),
    can("keys:manage") ? api("GET", "/api/keys") : Promise.resolve(null),
  ]);
  const people = users && users.ok ? users.body.users : [];
  for (const user of people) names.set(user.id.toLowerCase(), user.username);
  for (const key of keys && keys.ok ? keys.body.keys : []) names.set(key.id.toLowerCase(), `“${key.name}”`);
  return { names, people };
}

/** An entry's detail with the ids it names replaced by names (the id on hover and copy). */
function detailText(text, names) {
  if (!text) return "";
  const parts = [];
  let last = 0;
  for (const found of text.matchAll(uuidPattern)) {
    const name = names.get(found[0].toLowerCase());
    if (!name) continue;
    parts.push(text.slice(last, found.index), named(name, found[0]));
    last = found.index + found[0].length;
  }
  parts.push(text.slice(last));
  return h("span", { class: "detail" }, parts);
}

/** Who acted: the principal's name, its `user:`/`key:` id on hover. */
function who(entry) {
  if (!entry.principalName) return h("span", { class: "muted" }, entry.principal ? entry.principal : "the portal");
  if (!entry.principal) return entry.principalName;
  const id = entry.principal.replace(/^(user|key):/, "");
  return named(entry.principal.startsWith("key:") ? `${entry.principalName} (API key)` : entry.principalName, id);
}

/** What came of it, and who approved it. */
function outcome(entry) {
  return h("span", { class: "outcome" }, h("status-badge", { status: entry.outcome }),
    entry.approver ? ` by ${entry.approver}` : null,
    entry.durationMilliseconds !== null && entry.durationMilliseconds !== undefined ? h("span", { class: "muted" }, ` in ${duration(entry.durationMilliseconds)}`) : null);
}

export async function render(view, context) {
  const wanted = {};
  for (const [name] of filters) wanted[name] = context.query.get(name) || "";
  const [first, known] = await Promise.all([api("GET", `/api/audit${query({ limit: pageSize, ...wanted })}`), knownNames()]);
  if (!first.ok) return refused(view, first);

  let entries = first.body.entries;
  let next = first.body.next || null;
  let applied = { ...wanted };
  let loading = false;

  const inputs = {
    kind: h("input", { id: "audit-kind", name: "kind", placeholder: "run, approval, sign-in", list: "audit-kinds", autocomplete: "off", spellcheck: "false", value: wanted.kind }),
    tool: h("input", { id: "audit-tool", name: "tool", placeholder: "host.disk-usage", autocomplete: "off", spellcheck: "false", value: wanted.tool }),
    person: h("input", { id: "audit-person", name: "person", placeholder: "user name", list: known.people.length ? "audit-people" : null, autocomplete: "off", spellcheck: "false", value: wanted.person }),
  };
  const more = h("button", { type: "button", id: "audit-more", class: "quiet", hidden: !next }, "Older entries");
  const fresh = h("p", { class: "notice", id: "audit-new", hidden: true }, "New activity was recorded. ",
    h("button", { type: "button", class: "quiet", on: { click: () => load(false) } }, "Show the newest entries"));
  const count = h("p", { class: "muted", id: "audit-count", role: "status" });
  const chart = h("bar-chart", { class: "audit-chart" });
  const chartFigure = h("figure", { class: "audit-chart-figure" }, h("figcaption", { class: "muted" }, "Entries per kind, of those loaded"), chart);

  const table = h("data-table");
  table.caption = "Audit entries, newest first";
  table.bodyId = "audit-rows";
  // The server pages the trail ("Older entries"); the table shows every entry loaded.
  table.pageSize = 100000;
  table.rowAttributes = (entry) => ({ "data-kind": entry.kind, "data-sequence": entry.sequence });
  table.empty = emptyState("No entries match. Loosen the filter (a kind matches by its start, e.g. “run”), or clear it to see everything.",
    h("button", { type: "button", class: "quiet", on: { click: () => clear() } }, "Clear the filter"));
  table.columns = [
    { key: "sequence", label: "#", align: "right", render: (entry) => String(entry.sequence) },
    { key: "time", label: "When", render: (entry) => when(entry.time) },
    { key: "kind", label: "What", render: (entry) => h("code", {}, entry.kind) },
    { key: "principalName", label: "Who", render: who },
    { key: "tool", label: "Tool", render: (entry) => (!entry.tool ? "" : entry.runID ? h("a", { href: `#/runs/${entry.runID}`, title: "Open the run" }, entry.tool) : entry.tool) },
    { key: "outcome", label: "Outcome", render: outcome },
    { key: "detail", label: "Detail", render: (entry) => h("div", {}, detailText(entry.detail, known.names),
      entry.arguments !== null && entry.arguments !== undefined
        ? h("details", { class: "arguments" }, h("summary", {}, "Input"), h("code", {}, JSON.stringify(entry.arguments)))
        : null) },
  ];

  function show() {
    table.rows = entries;
    more.hidden = !next;
    const counts = new Map();
    for (const entry of entries) counts.set(entry.kind, (counts.get(entry.kind) || 0) + 1);
    // The five commonest kinds and the rest together: a glance, not a second table.
    const ranked = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([label, value]) => ({ label, value }));
    const data = ranked.length > 6
      ? [...ranked.slice(0, 5), { label: `${ranked.length - 5} other kinds`, value: ranked.slice(5).reduce((sum, point) => sum + point.value, 0) }]
      : ranked;
    chart.label = `Audit entries per kind, of the ${plural(entries.length, "entry", "entries")} loaded`;
    chart.data = data;
    chartFigure.hidden = data.length < 2;
    count.textContent = entries.length === 0 ? "" : `${plural(entries.length, "entry", "entries")} shown${next ? "; older ones below" : ""}.`;
  }

  /** Loads the first page for the filter in the form (or, with `older`, the next page). */
  async function load(older) {
    if (loading) return;
    loading = true;
    more.disabled = true;
    try {
      if (!older) {
        applied = {};
        for (const [name] of filters) applied[name] = inputs[name].value.trim();
      }
      // An older page is the previous one's `next` link, filters included.
      const result = await api("GET", older ? next : `/api/audit${query({ limit: pageSize, ...applied })}`);
      if (!result.ok) {
        toast(problemText(result), { kind: "error" });
        return;
      }
      entries = older ? [...entries, ...result.body.entries] : result.body.entries;
      next = result.body.next || null;
      if (!older) {
        fresh.hidden = true;
        // The filter in the address, so the view can be shared or reloaded (no new route).
        history.replaceState(null, "", `#/audit${query(applied)}`);
      }
      show();
    } finally {
      loading = false;
      more.disabled = false;
    }
  }

  function clear() {
    for (const [name] of filters) inputs[name].value = "";
    load(false);
  }

  const form = h("form", { id: "audit-filter", class: "inline" },
    field("Kind", inputs.kind),
    h("datalist", { id: "audit-kinds" }, kindPrefixes.map((kind) => h("option", { value: kind }))),
    field("Tool", inputs.tool),
    field("Person", inputs.person),
    known.people.length ? h("datalist", { id: "audit-people" }, known.people.map((user) => h("option", { value: user.username }, user.displayName))) : null,
    h("div", { class: "form-actions" },
      h("button", { type: "submit" }, "Filter"),
      " ",
      h("button", { type: "button", class: "quiet", on: { click: clear } }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load(false);
  });
  more.addEventListener("click", () => load(true));

  show();
  view.replaceChildren(panel("page-audit", "Audit trail",
    h("p", { class: "muted" }, "Every run, decision, sign-in and change of settings, newest first. Entries are chained and signed: they cannot be changed afterwards."),
    form, fresh, chartFigure, count, table, more));

  // New runs and decisions: offer them rather than move the rows under the reader.
  return subscribe((kind) => {
    if (kind.startsWith("run.") || kind.startsWith("approval.")) fresh.hidden = false;
  });
}
