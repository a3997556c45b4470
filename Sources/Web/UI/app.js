// The portal's web client: boots, draws the shell (header, sidebar, breadcrumbs), and routes
// `#/path` to a page module loaded on demand from `pages/`. Plain ES modules, no build step,
// no inline script (the CSP forbids it). Data is written as text, never as HTML.
import { api, can, isSystemAdministrator, loadSession, problemText, session } from "./lib/api.js";
import { $, focusHeading, h } from "./lib/dom.js";
import { connect, disconnect, subscribe } from "./lib/live.js";
import { messagePanel } from "./lib/page.js";
import { toast } from "./components/toast.js";
import "./components/relative-time.js";
import "./components/status-badge.js";

/**
 * The route table: each path (segments, `:name` captures one) → who may open it → its page
 * module (`pages/<page>.js`). Routes with `area` appear in the sidebar under that heading.
 * `access`: "public", "authenticated", a permission ("users:manage"), or "system-administrator".
 */
export const routes = [
  { path: "", page: "home", title: "Home", access: "authenticated", area: "Self-service", id: "home" },
  { path: "chat", page: "chat", title: "Assistant", access: "chat:use", area: "Self-service", id: "chat" },
  { path: "chat/:session", page: "chat", title: "Assistant", access: "chat:use", parent: "chat" },
  { path: "tools/:name", page: "tool", title: "Tool", access: "tools:read", parent: "" },
  { path: "runs/:id", page: "run", title: "Run", access: "tools:read", parent: "" },
  { path: "search", page: "search", title: "Search results", access: "chat:use", parent: "" },
  { path: "approvals", page: "approvals", title: "Approvals", access: "incidents:report", area: "Operations", id: "approvals" },
  { path: "incidents", page: "incidents", title: "Incidents", access: "incidents:report", area: "Operations", id: "incidents" },
  { path: "incidents/:id", page: "incidents", title: "Incident", access: "incidents:report", parent: "incidents" },
  { path: "changes", page: "changes", title: "Changes", access: "incidents:report", area: "Operations", id: "changes" },
  { path: "changes/:id", page: "changes", title: "Change", access: "incidents:report", parent: "changes" },
  { path: "service-dashboard", page: "service-dashboard", title: "Service dashboard", access: "incidents:report", area: "Operations", id: "service-dashboard" },
  { path: "assets", page: "assets", title: "Assets", access: "assets:read", area: "Operations", id: "assets" },
  { path: "assets/:name", page: "assets", title: "Asset", access: "assets:read", parent: "assets" },
  { path: "workflows", page: "workflows", title: "Workflows", access: "tools:read", area: "Operations", id: "workflows" },
  { path: "workflows/new", page: "workflows", title: "New workflow", access: "workflows:manage", parent: "workflows" },
  { path: "workflows/:name", page: "workflows", title: "Workflow", access: "tools:read", parent: "workflows" },
  { path: "workflow-runs/:id", page: "workflows", title: "Workflow run", access: "tools:read", parent: "workflows" },
  { path: "audit", page: "audit", title: "Audit trail", access: "audit:read", area: "Operations", id: "audit" },
  { path: "admin/packs", page: "packs", title: "Tool packs", access: "admin", area: "Administration", id: "packs" },
  { path: "admin/users", page: "users", title: "Users", access: "users:manage", area: "Administration", id: "users" },
  { path: "admin/keys", page: "keys", title: "API keys", access: "keys:manage", area: "Administration", id: "keys" },
  { path: "admin/webhooks", page: "webhooks", title: "Webhooks", access: "admin", area: "Administration", id: "webhooks" },
  { path: "admin/webhooks/:id", page: "webhooks", title: "Webhook", access: "admin", parent: "admin/webhooks" },
  { path: "admin/orgs", page: "orgs", title: "Organizations", access: "users:manage", area: "Administration", id: "orgs" },
  { path: "admin/mcp-servers", page: "mcp-servers", title: "MCP servers", access: "system-administrator", area: "Administration", id: "mcp-servers" },
  { path: "admin/mcp-servers/:name", page: "mcp-servers", title: "MCP server", access: "system-administrator", parent: "admin/mcp-servers" },
  { path: "admin/sso", page: "sso", title: "Single sign-on", access: "system-administrator", area: "Administration", id: "sso" },
  { path: "admin/assistant", page: "assistant", title: "Language model", access: "system-administrator", area: "Administration", id: "assistant" },
  { path: "password", page: "password", title: "Change your password", access: "authenticated" },
  { path: "oauth/consent/:id", page: "oauth-consent", title: "Allow an application", access: "authenticated" },
  { path: "api", page: "api-reference", title: "API reference", access: "authenticated", area: "Help", id: "api" },
  { path: "api/problems", page: "api-reference", title: "API reference", access: "authenticated", parent: "api" },
  { path: "api/problems/:problem", page: "api-reference", title: "API reference", access: "authenticated", parent: "api" },
  { path: "api/tags/:tag", page: "api-reference", title: "API reference", access: "authenticated", parent: "api" },
];

const areas = ["Self-service", "Operations", "Administration", "Help"];

/** Whether the signed-in person may open `route`. */
function mayOpen(route) {
  if (route.access === "public") return true;
  if (!session.me) return false;
  if (route.access === "authenticated") return true;
  if (route.access === "system-administrator") return isSystemAdministrator();
  return can(route.access);
}

/** The route and its captured parameters for a hash path, or null. */
function match(path) {
  const segments = path.split("/").filter(Boolean);
  for (const route of routes) {
    const pattern = route.path.split("/").filter(Boolean);
    if (pattern.length !== segments.length) continue;
    const params = {};
    const matches = pattern.every((part, index) => {
      if (!part.startsWith(":")) return part === segments[index];
      try { params[part.slice(1)] = decodeURIComponent(segments[index]); } catch { return false; }  // a malformed %-escape
      return true;
    });
    if (matches) return { route, params };
  }
  return null;
}

// ---- Shell: header, sidebar, theme ----------------------------------------------------------

function renderSidebar() {
  const nav = $("mainnav");
  // On narrow screens the header has no room for these: the menu holds them.
  const account = h("section", { class: "nav-area narrow-only", "aria-labelledby": "nav-account" }, h("h2", { id: "nav-account" }, "Account"),
    h("ul", {}, h("li", {}, h("a", { href: "#/password" }, "Change password"))));
  const search = h("form", { class: "nav-search search-only-narrow", role: "search", hidden: !can("chat:use") },
    h("input", { type: "search", name: "q", "aria-label": "Search conversations and tools", placeholder: "Search by meaning…" }));
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = search.elements.q.value.trim();
    if (text) location.hash = `#/search?q=${encodeURIComponent(text)}`;
  });
  nav.replaceChildren(search, ...areas.map((area) => {
    const links = routes.filter((route) => route.area === area).map((route) => {
      const link = h("a", { href: `#/${route.path}`, "data-page": route.id }, route.title);
      if (route.id === "approvals") link.append(" ", h("span", { id: "approvals-count", class: "badge", hidden: true }));
      link.hidden = !mayOpen(route);
      return h("li", { hidden: link.hidden }, link);
    });
    const headingId = `nav-${area.toLowerCase().replace(/[^a-z]+/g, "-")}`;
    return h("section", { class: "nav-area", "aria-labelledby": headingId, hidden: links.every((item) => item.hidden) },
      h("h2", { id: headingId }, area), h("ul", {}, links));
  }));
  nav.append(account);
  markCurrent();
}

function markCurrent() {
  const current = currentPath().path;
  const matched = match(current);
  const top = matched ? (matched.route.area ? matched.route : routes.find((route) => route.path === matched.route.parent)) : null;
  for (const link of document.querySelectorAll("#mainnav a")) {
    if (top && link.getAttribute("href") === `#/${top.path}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function renderChrome() {
  const me = session.me;
  const signedIn = Boolean(me) && !me.user.mustChangePassword;
  $("user-menu").hidden = !me;
  $("sidebar").hidden = !signedIn;
  $("nav-toggle").hidden = !signedIn;
  document.body.classList.toggle("signed-in", signedIn);
  $("global-search-form").hidden = !signedIn || !can("chat:use");
  renderSidebar();
  if (!me) return;
  $("user-name").textContent = me.user.displayName || me.user.username;
  $("user-name").title = `Signed in as ${me.user.username}`;
  const switcher = $("org-switcher");
  switcher.replaceChildren(...me.organizations.map((organization) => h("option", {
    value: organization.id, selected: organization.id === me.currentOrganization, title: `id ${organization.id}`,
  }, `${organization.displayName} (${organization.role})`)));
  switcher.hidden = me.organizations.length === 0;
}

/** The theme: as the system (`prefers-color-scheme`), or light or dark as chosen and kept. */
const themes = ["system", "light", "dark"];
function applyTheme(theme) {
  if (theme === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.dataset.theme = theme;
  $("theme-toggle").setAttribute("aria-label", `Colour theme: ${theme === "system" ? "as the system" : theme}`);
  $("theme-toggle").title = `Colour theme: ${theme === "system" ? "as the system" : theme} (change)`;
}
function storedTheme() {
  try { return localStorage.getItem("portal-theme") || "system"; } catch { return "system"; }
}
$("theme-toggle").addEventListener("click", () => {
  const next = themes[(themes.indexOf(storedTheme()) + 1) % themes.length];
  try { localStorage.setItem("portal-theme", next); } catch { /* private mode: this page only */ }
  applyTheme(next);
});

/** Opens or closes the folded sidebar (narrow screens): focus goes to its first link, and
 *  back to the menu button when it closes. */
function setSidebarOpen(open, { returnFocus = false } = {}) {
  $("nav-toggle").setAttribute("aria-expanded", String(open));
  $("sidebar").classList.toggle("open", open);
  if (open) $("sidebar").querySelector("a:not([hidden])")?.focus();
  else if (returnFocus) $("nav-toggle").focus();
}
$("nav-toggle").addEventListener("click", () => setSidebarOpen($("nav-toggle").getAttribute("aria-expanded") !== "true"));
$("sidebar").addEventListener("keydown", (event) => {
  if (event.key === "Escape" && $("sidebar").classList.contains("open")) setSidebarOpen(false, { returnFocus: true });
});

// The skip link moves focus to the content; it is not a route.
$("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  $("app").focus();
});

/** Shows whether the server answers its readiness probe. */
async function refreshServerStatus() {
  const status = $("server-status");
  try {
    const response = await fetch("/readyz", { headers: { Accept: "application/json" } });
    const body = await response.json();
    const ready = response.ok && body.status === "ready";
    status.dataset.state = ready ? "ok" : "down";
    status.textContent = ready ? "Server ready" : "Server not ready";
  } catch {
    status.dataset.state = "down";
    status.textContent = "Server unreachable";
  }
}

/** The sidebar's count of what waits for the person's decision: runs (for those who decide
 *  approvals) and changes waiting for their CAB decision. Refreshes that arrive while one is
 *  under way are folded into one more, so a burst of events costs two requests. */
let countRefresh = null, countAgain = false;
async function refreshApprovalCount() {
  if (countRefresh) { countAgain = true; return; }
  countRefresh = (async () => {
    do {
      countAgain = false;
      const badge = $("approvals-count");
      if (!badge || !can("incidents:report")) return;
      const [runs, changes] = await Promise.all([
        can("approvals:decide") ? api("GET", "/api/approvals") : null,
        api("GET", "/api/change-approvals"),
      ]);
      const count = (runs?.ok ? runs.body.approvals.length : 0) + (changes.ok ? changes.body.changes.length : 0);
      badge.replaceChildren(h("span", { "aria-hidden": "true" }, String(count)), h("span", { class: "visually-hidden" }, `${count} waiting`));
      badge.hidden = count === 0;
    } while (countAgain);
  })();
  try { await countRefresh; } finally { countRefresh = null; }
}

// ---- Routing -----------------------------------------------------------------------------

/** The hash as a path and its query: `#/search?q=disk` → { path: "search", query }. */
function currentPath() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = hash.split("?");
  return { path: path.replace(/\/$/, ""), query: new URLSearchParams(search) };
}

let leave = null;      // the current page's cleanup
let renderCount = 0;   // a newer route wins over a slower, older one

function setBreadcrumbs(route, title) {
  const trail = [];
  for (let parent = route.parent; parent !== undefined; parent = routes.find((r) => r.path === parent)?.parent) {
    const step = routes.find((r) => r.path === parent);
    if (!step) break;
    trail.unshift(h("li", {}, h("a", { href: `#/${step.path}` }, step.title)));
  }
  if (route.area && route.path !== "") trail.unshift(h("li", {}, h("span", {}, route.area)));
  trail.push(h("li", {}, h("span", { "aria-current": "page" }, title)));
  $("breadcrumb-list").replaceChildren(...trail);
  $("breadcrumbs").hidden = route.path === "";
  document.title = `${title} · Self-Service Portal`;
}

async function route({ focus = true } = {}) {
  const ticket = ++renderCount;
  if (leave) { try { leave(); } catch { /* a page's cleanup never blocks the next page */ } }
  leave = null;
  const { path, query } = currentPath();
  $("view").setAttribute("aria-busy", "true");  // until the new page replaces the old one
  markCurrent();
  setSidebarOpen(false);
  let target = match(path);
  let pageName;
  if (!session.me) {
    pageName = "signin";
    target = { route: { path, title: "Sign in" }, params: {} };
  } else if (session.me.user.mustChangePassword) {
    // A one-time password must be replaced before anything else (the server refuses the rest).
    pageName = "password";
    target = { route: routes.find((r) => r.path === "password"), params: {} };
  } else if (!target) {
    return showMessage("Not found", "There is no page at this address.", ticket);
  } else if (!mayOpen(target.route)) {
    const needed = target.route.access === "system-administrator" ? "a system administrator" : `the ${target.route.access} permission in this organization`;
    return showMessage("Not allowed", `This page needs ${needed}.`, ticket);
  } else {
    pageName = target.route.page;
  }
  let module;
  try {
    module = await import(`./pages/${pageName}.js`);
  } catch {
    return showMessage("The portal was updated", "This page belongs to an earlier version of the portal. Reload to get the current one.", ticket, true);
  }
  if (ticket !== renderCount) return;
  const view = h("div", { class: "page" });
  const context = {
    params: target.params,
    query,
    setTitle: (title) => { if (ticket === renderCount) setBreadcrumbs(target.route, title); },
    // A page that is no longer shown (the person moved on while it waited) navigates nowhere.
    navigate: (hash) => {
      if (ticket !== renderCount) return;
      if (location.hash === hash) route(); else location.hash = hash;
    },
  };
  setBreadcrumbs(target.route, target.route.title);
  const cleanup = await module.render(view, context);
  if (ticket !== renderCount) {
    if (typeof cleanup === "function") cleanup();
    return;
  }
  leave = typeof cleanup === "function" ? cleanup : null;
  $("view").replaceChildren(view);
  $("view").removeAttribute("aria-busy");
  if (focus) focusHeading(view);
}

function showMessage(title, detail, ticket, reload = false) {
  if (ticket !== renderCount) return;
  $("view").removeAttribute("aria-busy");
  setBreadcrumbs({ path: "message", title }, title);
  $("view").replaceChildren(reload ? messagePanel(title, detail, h("button", { type: "button", on: { click: () => location.reload() } }, "Reload"))
    : messagePanel(title, detail));
  focusHeading($("view"));
}

// ---- Session changes ---------------------------------------------------------------------

let unsubscribe = null;
function sessionChanged() {
  renderChrome();
  disconnect();
  if (unsubscribe) unsubscribe();
  unsubscribe = null;
  if (session.me && !session.me.user.mustChangePassword) {
    connect();
    unsubscribe = subscribe((kind, data) => {
      if (kind.startsWith("approval.") || kind.startsWith("run.") || kind === "change.state-changed" || kind === "change.decided") refreshApprovalCount();
      // Sent to the organization's admins only.
      if (kind === "webhook.disabled") toast(`A webhook was turned off: ${data.detail || "see Administration → Webhooks"}.`, { kind: "error" });
    });
    refreshApprovalCount();
  }
}

window.addEventListener("portal:session-changed", () => { sessionChanged(); route(); });
// A call answered 401 while signed in: the session ended (signed out elsewhere, expired,
// password changed). The page signs out too and offers the sign-in form.
window.addEventListener("portal:session-expired", () => {
  if (!session.me) return;
  session.me = null;
  sessionChanged();
  toast("Your session ended: sign in again.", { kind: "info" });
  route();
});
window.addEventListener("portal:approvals-changed", refreshApprovalCount);
// Only `#/…` addresses are routes (a plain `#anchor` is a place in the page).
window.addEventListener("hashchange", () => { if (location.hash === "" || location.hash.startsWith("#/")) route(); });

$("sign-out").addEventListener("click", async () => {
  const result = await api("POST", "/api/auth/logout");
  // A session that had already ended is signed out all the same.
  if (!result.ok && result.status !== 401) {
    toast(`Signing out failed: ${problemText(result)}`, { kind: "error" });
    return;
  }
  session.me = null;
  sessionChanged();
  if (location.hash && location.hash !== "#/") location.hash = "#/";
  else route();
});

$("org-switcher").addEventListener("change", async (event) => {
  const result = await api("POST", "/api/me/organization", { organizationID: event.target.value });
  if (!result.ok) {
    toast(`Switching the organization failed: ${problemText(result)}`, { kind: "error" });
    renderChrome();  // the switcher shows the organization still in use
    return;
  }
  await loadSession();  // the stream and the permissions belong to the organization
  sessionChanged();
  route();
});

$("global-search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("global-search").value.trim();
  if (text) location.hash = `#/search?q=${encodeURIComponent(text)}`;
});

applyTheme(storedTheme());
refreshServerStatus();
setInterval(refreshServerStatus, 30000);
// The page this address shows is fetched while the session is asked for (the module is
// cached; `route()` imports it again at no cost, or another one if the guess was wrong).
const guess = match(currentPath().path);
if (guess) import(`./pages/${guess.route.page}.js`).catch(() => {});
loadSession().then(() => {
  sessionChanged();
  route({ focus: false });
});
