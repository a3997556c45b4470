// Home: what is left to set up (administrators), the tool catalog, and recent activity.
import "../components/data-table.js";
import "../components/status-badge.js";
import { api, can, problemText } from "../lib/api.js";
import { append, h } from "../lib/dom.js";
import { plural, when } from "../lib/format.js";
import { subscribe } from "../lib/live.js";
import { emptyState, panel, refused } from "../lib/page.js";

/** The category chosen last (kept while the person moves around the portal). */
let chosenCategory = null;

const collapsedKey = "portal-setup-collapsed";

export async function render(view) {
  const admin = can("admin");
  const [tools, activity, setup] = await Promise.all([
    api("GET", "/api/tools"),
    api("GET", "/api/runs?limit=10"),
    admin ? api("GET", "/api/setup") : Promise.resolve(null),
  ]);
  if (!tools.ok) return refused(view, tools);
  const catalog = tools.body;
  if (chosenCategory && !catalog.categories.includes(chosenCategory)) chosenCategory = null;

  const section = panel("page-home", "What do you need?");
  if (setup && setup.ok) append(section, setupChecklist(setup.body.items || []));
  append(section, toolCatalog(catalog, admin));

  // Recent activity, refreshed as runs finish and approvals are decided.
  const table = h("data-table", { id: "activity" });
  table.caption = "Recent runs in this organization";
  table.bodyId = "activity-rows";
  table.pageSize = 10;
  table.rowAttributes = (run) => ({ "data-run-id": run.id });
  table.empty = emptyState("No runs yet. Choose a tool above and run it: its result shows here.");
  table.columns = [
    { key: "createdAt", label: "When", render: (run) => when(run.createdAt), sort: (run) => run.createdAt },
    { key: "toolTitle", label: "Tool", render: (run) => h("a", { href: `#/runs/${encodeURIComponent(run.id)}`, title: run.tool }, run.toolTitle), sort: (run) => run.toolTitle.toLowerCase() },
    { key: "requester", label: "Who", sort: (run) => run.requester.toLowerCase() },
    { key: "status", label: "Status", render: (run) => h("status-badge", { status: run.status }), sort: (run) => run.status },
  ];
  const activityError = h("p", { class: "error", id: "activity-error", role: "alert" }, activity.ok ? "" : problemText(activity));
  table.rows = activity.ok ? activity.body.runs : [];
  append(section, [h("h2", {}, "Recent activity"), activityError, table,
    can("audit:read") ? h("p", {}, h("a", { href: "#/audit" }, "Everything that happened, in the audit trail")) : null]);
  view.replaceChildren(section);

  let timer = null;
  const refresh = async () => {
    timer = null;
    const result = await api("GET", "/api/runs?limit=10");
    activityError.textContent = result.ok ? "" : problemText(result);
    if (result.ok) table.rows = result.body.runs;
  };
  const unsubscribe = subscribe((kind) => {
    if (!kind.startsWith("run.") && !kind.startsWith("approval.")) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);  // several events in a burst: one request
  });
  return () => {
    unsubscribe();
    clearTimeout(timer);
  };
}

/** The administrators' first-run checklist: nothing once every item is done. */
function setupChecklist(items) {
  if (items.length === 0 || items.every((item) => item.done)) return [];
  const doneCount = items.filter((item) => item.done).length;
  const list = h("ol", { class: "setup-list", id: "setup-list" }, items.map((item) => h("li", { "data-setup": item.id, "data-done": String(item.done) },
    h("span", { class: "setup-state", "data-done": String(item.done) }, h("span", { "aria-hidden": "true" }, item.done ? "✓ " : "○ "), item.done ? "Done" : "To do"),
    h("span", { class: "setup-text" },
      item.href ? h("a", { href: item.href, class: "setup-title" }, item.title) : h("span", { class: "setup-title" }, item.title),
      h("span", { class: "muted setup-detail" }, item.detail)))));
  let collapsed = false;
  try { collapsed = localStorage.getItem(collapsedKey) === "true"; } catch { collapsed = false; }
  const toggle = h("button", { type: "button", class: "quiet", id: "setup-toggle", "aria-controls": "setup-list" });
  const show = () => {
    list.hidden = collapsed;
    toggle.setAttribute("aria-expanded", String(!collapsed));
    toggle.textContent = collapsed ? "Show the checklist" : "Hide the checklist";
  };
  toggle.addEventListener("click", () => {
    collapsed = !collapsed;
    try { localStorage.setItem(collapsedKey, String(collapsed)); } catch { /* private mode: this page only */ }
    show();
  });
  show();
  return [h("section", { class: "setup", id: "setup", "aria-labelledby": "setup-heading" },
    h("div", { class: "setup-head" },
      h("h2", { id: "setup-heading" }, "Set up the portal"),
      h("span", { class: "muted", id: "setup-progress" }, `${doneCount} of ${items.length} done`),
      toggle),
    list)];
}

/** The catalog: a search box, category filters and the tools as links to their forms. */
function toolCatalog(catalog, admin) {
  const search = h("input", { type: "search", id: "tool-search", placeholder: "disk, restart, bucket…" });
  const categories = h("div", { class: "categories", id: "categories", role: "group", "aria-label": "Service categories" });
  const list = h("ul", { class: "tools", id: "tool-list" });
  const count = h("p", { class: "visually-hidden", id: "tool-count", role: "status" });
  const empty = admin
    ? emptyState("No tools here yet: tools come in packs, and none is enabled in this organization.", h("a", { href: "#/admin/packs" }, "Enable a tool pack"))
    : emptyState("No tools here yet: ask an administrator to enable a tool pack for this organization.");
  empty.id = "tools-empty";
  const noMatch = emptyState("No tool matches this search.", h("button", { type: "button", class: "quiet", on: { click: () => {
    search.value = "";
    chosenCategory = null;
    renderCategories();
    renderList(true);
    search.focus();
  } } }, "Show all tools"));
  noMatch.id = "tools-no-match";

  function renderCategories() {
    categories.replaceChildren(...[null, ...catalog.categories].map((category) => h("button", {
      type: "button", class: "quiet", "aria-pressed": String(category === chosenCategory),
      on: { click: () => { chosenCategory = category; renderCategories(); renderList(true); } },
    }, category || "All")));
  }

  function renderList(announce) {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = catalog.tools.filter((tool) => (!chosenCategory || tool.category === chosenCategory)
      && words.every((word) => `${tool.name} ${tool.title} ${tool.description} ${tool.category}`.toLowerCase().includes(word)));
    list.replaceChildren(...shown.map((tool) => h("li", {},
      h("a", { href: `#/tools/${encodeURIComponent(tool.name)}`, "data-tool": tool.name },
        h("span", { class: "name" }, tool.title),
        h("span", { class: "description muted" }, tool.description),
        h("span", { class: "tool-meta" },
          h("span", { class: "risk", "data-risk": tool.risk }, `${tool.risk} risk`),
          tool.needsApproval ? h("span", { class: "muted" }, " needs approval") : null)))));
    empty.hidden = catalog.tools.length > 0;
    noMatch.hidden = catalog.tools.length === 0 || shown.length > 0;
    list.hidden = shown.length === 0;
    if (announce) count.textContent = `${plural(shown.length, "tool")} shown of ${catalog.tools.length}.`;
  }

  search.addEventListener("input", () => renderList(true));
  renderCategories();
  renderList(false);
  return [
    h("h2", { class: "visually-hidden" }, "Tools"),
    h("div", { class: "tool-filter" }, h("label", { for: "tool-search" }, "Find a tool"), search),
    catalog.tools.length > 0 ? categories : null,
    count, list, empty, noMatch,
  ];
}
