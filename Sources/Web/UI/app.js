// The portal's client. Plain ES modules: no build step, no inline script (the CSP forbids it).
// Pages are sections of index.html shown by the hash route; data is written with textContent,
// never as HTML.

const $ = (id) => document.getElementById(id);
const statusElement = $("server-status");
const pages = ["welcome", "signin", "page-home", "page-tool", "page-run", "page-chat", "page-search", "page-approvals", "page-audit", "page-packs",
  "page-users", "page-keys", "page-orgs", "page-sso", "page-password", "refused"];
let me = null; // GET /api/me, or null when signed out

/** Shows whether the server answers its readiness probe. */
async function refreshServerStatus() {
  try {
    const response = await fetch("/readyz", { headers: { Accept: "application/json" } });
    const body = await response.json();
    const ready = response.ok && body.status === "ready";
    statusElement.dataset.state = ready ? "ok" : "down";
    statusElement.textContent = ready ? "Server ready" : "Server not ready";
  } catch {
    statusElement.dataset.state = "down";
    statusElement.textContent = "Server unreachable";
  }
}

/** A fetch of the API with a JSON body (if any) and the session's CSRF token. */
function apiFetch(method, path, body, accept = "application/json") {
  const headers = { Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (me && me.csrfToken && method !== "GET") headers["X-CSRF-Token"] = me.csrfToken;
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
}

/** Calls the JSON API; returns {ok, status, body}. */
async function api(method, path, body) {
  const response = await apiFetch(method, path, body);
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
  return { ok: response.ok, status: response.status, body: parsed };
}

function problemText(result) {
  return (result.body && (result.body.detail || result.body.title)) || `The server answered ${result.status}.`;
}

function show(id) {
  for (const page of pages) $(page).hidden = page !== id;
}

function renderChrome() {
  $("user-menu").hidden = !me;
  $("global-search-form").hidden = !me || !me.permissions.includes("chat:use");
  for (const link of document.querySelectorAll("#mainnav a[data-permission]")) {
    link.hidden = !me || !me.permissions.includes(link.dataset.permission);
  }
  for (const link of document.querySelectorAll("#mainnav a[data-system-administrator]")) {
    link.hidden = !me || !me.user.isAdministrator;
  }
  if (!me) return;
  $("user-name").textContent = me.user.displayName || me.user.username;
  const switcher = $("org-switcher");
  switcher.replaceChildren(...me.organizations.map((organization) => {
    const option = document.createElement("option");
    option.value = organization.id;
    option.textContent = `${organization.displayName} (${organization.role})`;
    option.selected = organization.id === me.currentOrganization;
    return option;
  }));
  switcher.hidden = me.organizations.length === 0;
  $("welcome-hint").textContent = `Signed in as ${me.user.username}.`;
}

async function loadMe() {
  const result = await api("GET", "/api/me");
  me = result.ok ? result.body : null;
  renderChrome();
  if (me && !me.user.mustChangePassword) {
    connectEvents();
    refreshApprovalCount();
  } else {
    disconnectEvents();
  }
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function showUsers() {
  const result = await api("GET", "/api/users");
  if (!result.ok) return refuse(result);
  $("users-rows").replaceChildren(...result.body.users.map((user) => {
    const row = document.createElement("tr");
    row.dataset.username = user.username;
    row.append(cell(user.username), cell(user.displayName), cell(user.isAdministrator ? "yes" : ""));
    return row;
  }));
  show("page-users");
}

async function showKeys() {
  const result = await api("GET", "/api/keys");
  if (!result.ok) return refuse(result);
  $("keys-rows").replaceChildren(...result.body.keys.map((key) => {
    const row = document.createElement("tr");
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.textContent = key.revokedAt ? "Revoked" : "Revoke";
    revoke.disabled = Boolean(key.revokedAt);
    revoke.addEventListener("click", async () => {
      const answer = await api("DELETE", `/api/keys/${key.id}`);
      if (!answer.ok) $("key-error").textContent = problemText(answer);
      showKeys();
    });
    const action = document.createElement("td");
    action.append(revoke);
    row.append(cell(key.name), cell(key.prefix), cell(key.role), cell(key.lastUsedAt || "never"), action);
    return row;
  }));
  show("page-keys");
}

async function showOrganizations() {
  const result = await api("GET", "/api/orgs");
  if (!result.ok) return refuse(result);
  $("orgs-rows").replaceChildren(...result.body.organizations.map((organization) => {
    const row = document.createElement("tr");
    row.dataset.slug = organization.slug;
    row.append(cell(organization.slug), cell(organization.displayName), cell(organization.cloudScope), cell(organization.cloudProfile || ""),
      cell(organization.role || ""));
    return row;
  }));
  const members = me.currentOrganization ? await api("GET", `/api/orgs/${me.currentOrganization}/members`) : { ok: true, body: { members: [] } };
  if (!members.ok) return refuse(members);
  $("members-rows").replaceChildren(...members.body.members.map((member) => {
    const row = document.createElement("tr");
    row.dataset.username = member.user.username;
    row.append(cell(member.user.username), cell(member.role));
    return row;
  }));
  $("org-create").hidden = !me.user.isAdministrator;
  show("page-orgs");
}

async function showSingleSignOn() {
  const result = await api("GET", "/api/auth/oidc/settings");
  if (!result.ok) return refuse(result);
  const settings = result.body;
  $("sso-redirect").textContent = settings.redirectURI;
  $("sso-enabled").checked = settings.enabled;
  $("sso-issuer").value = settings.issuer;
  $("sso-client").value = settings.clientID;
  $("sso-secret").value = "";
  $("sso-secret").placeholder = settings.hasClientSecret ? "stored (leave empty to keep)" : "none (a public client)";
  $("sso-label").value = settings.buttonLabel || "Sign in with SSO";
  $("sso-groups-claim").value = settings.groupsClaim || "groups";
  $("sso-mappings").value = settings.mappings.map((m) => `${m.group} ${m.organization} ${m.role}`).join("\n");
  show("page-sso");
}

async function showAssistantSettings() {
  const result = await api("GET", "/api/assistant/settings");
  if (!result.ok) return refuse(result);
  const settings = result.body;
  $("assistant-enabled").checked = settings.enabled;
  $("assistant-url").value = settings.baseURL;
  $("assistant-model").value = settings.model;
  $("assistant-key").value = "";
  $("assistant-key").placeholder = settings.hasAPIKey ? "stored (leave empty to keep)" : "none";
  $("assistant-steps").value = settings.maxSteps;
  $("assistant-timeout").value = settings.timeoutSeconds;
  $("assistant-tools").value = settings.maxTools;
  show("page-assistant");
  await showEmbeddingStatus();
}

/** The active embeddings provider and, during a switch, its progress (refreshed until done). */
async function showEmbeddingStatus() {
  const result = await api("GET", "/api/search/embeddings");
  if (!result.ok) return;
  const status = result.body;
  const name = (identity) => `${identity.provider}/${identity.model} (${identity.dimension} dimensions)`;
  let text = `In use: ${name(status.active)}.`;
  if (status.next) {
    text += ` Switching to ${name(status.next)}: ${status.done} of ${status.total} embedded.`;
    if (status.problem) text += ` Retrying after: ${status.problem}`;
    setTimeout(() => { if (location.hash === "#/admin/assistant") showEmbeddingStatus(); }, 2000);
  }
  $("embeddings-status").textContent = text;
}

$("embeddings-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("embeddings-error").textContent = "";
  const key = $("embeddings-key").value;
  const result = await api("PUT", "/api/search/embeddings", {
    provider: $("embeddings-provider").value, baseURL: $("embeddings-url").value, model: $("embeddings-model").value || undefined,
    dimension: Number($("embeddings-dimension").value), apiKey: key === "" ? undefined : key,
  });
  $("embeddings-key").value = "";
  if (!result.ok) {
    $("embeddings-error").textContent = problemText(result);
    return;
  }
  await showEmbeddingStatus();
});

$("assistant-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("assistant-error").textContent = "";
  $("assistant-saved").textContent = "";
  const key = $("assistant-key").value;
  const result = await api("PUT", "/api/assistant/settings", {
    enabled: $("assistant-enabled").checked, baseURL: $("assistant-url").value, model: $("assistant-model").value,
    apiKey: key === "" ? undefined : key, maxSteps: Number($("assistant-steps").value),
    timeoutSeconds: Number($("assistant-timeout").value), maxTools: Number($("assistant-tools").value),
  });
  if (!result.ok) {
    $("assistant-error").textContent = problemText(result);
    return;
  }
  $("assistant-saved").textContent = "Saved.";
  await showAssistantSettings();
});

/** Shows "Sign in with SSO" when single sign-on is on, and a refusal the provider's round trip brought back. */
async function prepareSignIn() {
  const params = new URLSearchParams(location.search);
  if (params.has("sso_error")) {
    $("signin-error").textContent = params.get("sso_error");
    history.replaceState(null, "", "/" + location.hash);
  }
  const result = await api("GET", "/api/auth/oidc");
  $("signin-sso-block").hidden = !(result.ok && result.body.enabled);
  if (result.ok && result.body.enabled) $("signin-sso").textContent = result.body.buttonLabel;
}

function refuse(result) {
  $("refused-detail").textContent = result.status === 401 ? "Sign in first." : problemText(result);
  show("refused");
}

async function route() {
  const page = location.hash.replace(/^#\/?/, "") || "";
  for (const link of document.querySelectorAll("#mainnav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${page}`);
  }
  if (!me) {
    show("signin");
    $("welcome").hidden = false;
    return;
  }
  // A one-time password must be replaced before anything else (the server refuses the rest).
  if (me.user.mustChangePassword || page === "password") return showPasswordChange();
  if (page === "admin/users") return showUsers();
  if (page === "admin/keys") return showKeys();
  if (page === "admin/orgs") return showOrganizations();
  if (page === "admin/sso") return showSingleSignOn();
  if (page === "admin/assistant") return showAssistantSettings();
  if (page === "admin/packs") return showPacks();
  if (page === "approvals") return showApprovals();
  if (page === "audit") return showAudit();
  if (page === "chat") return showChat(null);
  if (page.startsWith("chat/")) return showChat(page.slice(5));
  if (page.startsWith("search")) return showSearch(new URLSearchParams(page.split("?")[1] || "").get("q") || "");
  if (page.startsWith("tools/")) return showTool(decodeURIComponent(page.slice(6)));
  if (page.startsWith("runs/")) return showRun(page.slice(5));
  return showHome();
}

// ---- Tools: catalog, forms, runs, approvals, audit, packs -------------------------------

let catalog = { categories: [], tools: [] };
let chosenCategory = null;

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

async function showHome() {
  const [tools, activity] = await Promise.all([api("GET", "/api/tools"), api("GET", "/api/activity?limit=10")]);
  if (!tools.ok) {
    show("welcome");
    return;
  }
  catalog = tools.body;
  renderCategories();
  renderToolList();
  $("activity-rows").replaceChildren(...(activity.ok ? activity.body.runs : []).map((run) => {
    const row = document.createElement("tr");
    row.dataset.runId = run.id;
    const link = element("a", run.toolTitle, { href: `#/runs/${run.id}` });
    const toolCell = document.createElement("td");
    toolCell.append(link);
    row.append(cell(when(run.createdAt)), toolCell, cell(run.requester), statusCell(run.status));
    return row;
  }));
  show("page-home");
}

function statusCell(status) {
  const td = document.createElement("td");
  td.append(element("span", status, { class: "status-badge", "data-status": status }));
  return td;
}

function renderCategories() {
  const buttons = [null, ...catalog.categories].map((category) => {
    const button = element("button", category || "All", { type: "button", "aria-pressed": String(category === chosenCategory) });
    button.addEventListener("click", () => {
      chosenCategory = category;
      renderCategories();
      renderToolList();
    });
    return button;
  });
  $("categories").replaceChildren(...buttons);
}

function renderToolList() {
  const words = $("tool-search").value.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = catalog.tools.filter((tool) => (!chosenCategory || tool.category === chosenCategory)
    && words.every((word) => `${tool.name} ${tool.title} ${tool.description} ${tool.category}`.toLowerCase().includes(word)));
  $("tool-list").replaceChildren(...shown.map((tool) => {
    const item = document.createElement("li");
    const link = element("a", undefined, { href: `#/tools/${encodeURIComponent(tool.name)}`, "data-tool": tool.name });
    link.append(element("span", tool.title, { class: "name" }), document.createElement("br"),
      element("span", tool.description, { class: "muted" }), document.createElement("br"),
      element("span", tool.risk, { class: "risk", "data-risk": tool.risk }));
    item.append(link);
    return item;
  }));
  $("tools-empty").hidden = catalog.tools.length > 0;
}

$("tool-search").addEventListener("input", renderToolList);

let currentTool = null;

async function showTool(name) {
  const result = await api("GET", `/api/tools/${encodeURIComponent(name)}`);
  if (!result.ok) return refuse(result);
  currentTool = result.body;
  $("tool-title").textContent = currentTool.title;
  $("tool-description").textContent = currentTool.description;
  $("tool-risk").textContent = `${currentTool.risk} risk`;
  $("tool-risk").dataset.risk = currentTool.risk;
  $("tool-approval").textContent = currentTool.needsApproval ? "Runs after an approver says yes." : "";
  $("tool-error").textContent = "";
  $("tool-run").disabled = !currentTool.canRun;
  const schema = currentTool.inputSchema || {};
  const required = new Set(schema.required || []);
  $("tool-fields").replaceChildren(...Object.entries(schema.properties || {}).map(([field, property]) => fieldFor(field, property, required.has(field))));
  show("page-tool");
}

/** One form field from a property of the tool's JSON Schema; the server validates again.
 *  `prefix` keeps ids unique when several forms are on one page. */
function fieldFor(name, property, required, prefix = "field") {
  const label = element("label", `${property.title || name}${required ? " *" : ""}`);
  let input;
  if (Array.isArray(property.enum)) {
    input = document.createElement("select");
    if (!required && property.default === undefined) input.append(element("option", "", { value: "" }));
    for (const value of property.enum) input.append(element("option", String(value), { value: String(value) }));
  } else if (property.type === "boolean") {
    input = element("input", undefined, { type: "checkbox" });
    input.checked = property.default === true;
  } else if (property.type === "integer" || property.type === "number") {
    input = element("input", undefined, { type: "number", step: property.type === "integer" ? "1" : "any" });
    if (property.minimum !== undefined) input.min = property.minimum;
    if (property.maximum !== undefined) input.max = property.maximum;
  } else {
    input = element("input", undefined, { type: property.format === "uri" ? "url" : "text" });
    if (property.maxLength !== undefined) input.maxLength = property.maxLength;
  }
  if (property.default !== undefined && property.type !== "boolean") input.value = String(property.default);
  input.id = `${prefix}-${name}`;
  input.dataset.field = name;
  input.dataset.type = property.type || "string";
  input.required = required;
  label.append(input);
  if (property.description) label.append(element("span", property.description, { class: "field-hint" }));
  label.append(element("span", "", { class: "error", id: `${prefix}-error-${name}`, role: "alert" }));
  return label;
}

function collectInput(container = $("tool-fields")) {
  const input = {};
  for (const field of container.querySelectorAll("[data-field]")) {
    const name = field.dataset.field;
    if (field.type === "checkbox") {
      input[name] = field.checked;
    } else if (field.value !== "") {
      input[name] = field.dataset.type === "integer" || field.dataset.type === "number" ? Number(field.value) : field.value;
    }
  }
  return input;
}

$("tool-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("tool-error").textContent = "";
  for (const node of $("tool-fields").querySelectorAll(".error")) node.textContent = "";
  $("tool-run").disabled = true;
  const result = await api("POST", `/api/tools/${encodeURIComponent(currentTool.name)}/runs`, { input: collectInput() });
  $("tool-run").disabled = false;
  if (!result.ok) {
    $("tool-error").textContent = problemText(result);
    for (const problem of (result.body && result.body.errors) || []) {
      const slot = $(`field-error-${problem.field.split(/[.[]/)[0]}`);
      if (slot) slot.textContent = `${problem.field} ${problem.message}`;
    }
    return;
  }
  location.hash = `#/runs/${result.body.id}`;
});

async function showRun(id) {
  const result = await api("GET", `/api/runs/${encodeURIComponent(id)}`);
  if (!result.ok) return refuse(result);
  const run = result.body;
  $("page-run").dataset.runId = run.id;
  $("run-title").textContent = run.toolTitle;
  $("run-status").textContent = run.status;
  $("run-status").dataset.status = run.status;
  $("run-requester").textContent = `${run.requester} (via ${run.entryPoint})`;
  $("run-input").textContent = JSON.stringify(run.input);
  const steps = [`${when(run.createdAt)}: requested by ${run.requester}`];
  if (run.status === "pending-approval") steps.push(`waiting for approval until ${when(run.approvalExpiresAt)}`);
  for (const decision of run.decisions) {
    steps.push(`${when(decision.time)}: ${decision.approve ? "approved" : "rejected"} by ${decision.username}${decision.comment ? `: ${decision.comment}` : ""}`);
  }
  if (!["pending-approval", "running"].includes(run.status)) {
    steps.push(`${when(run.updatedAt)}: ${run.status}${run.durationMilliseconds !== null && run.durationMilliseconds !== undefined ? ` in ${run.durationMilliseconds} ms` : ""}`);
  }
  $("run-timeline").replaceChildren(...steps.map((step) => element("li", step)));
  $("run-result").hidden = !run.output;
  if (run.output) {
    $("run-error").textContent = run.output.error || "";
    $("run-output").textContent = run.output.json !== undefined && run.output.json !== null ? JSON.stringify(run.output.json, null, 2) : run.output.text;
  }
  show("page-run");
}

async function showApprovals() {
  const result = await api("GET", "/api/approvals");
  if (!result.ok) return refuse(result);
  const approvals = result.body.approvals;
  $("approvals-empty").hidden = approvals.length > 0;
  $("approvals-table").hidden = approvals.length === 0;
  $("approvals-rows").replaceChildren(...approvals.map((run) => {
    const row = document.createElement("tr");
    row.dataset.runId = run.id;
    const comment = element("input", undefined, { "aria-label": "Comment", class: "approval-comment" });
    const commentCell = document.createElement("td");
    commentCell.append(comment);
    const actions = document.createElement("td");
    for (const [label, approve] of [["Approve", true], ["Reject", false]]) {
      const button = element("button", label, { type: "button", class: approve ? "approve" : "reject" });
      button.addEventListener("click", async () => {
        $("approvals-error").textContent = "";
        const answer = await api("POST", `/api/approvals/${run.id}/decision`, { approve, comment: comment.value });
        if (!answer.ok) $("approvals-error").textContent = problemText(answer);
        showApprovals();
      });
      actions.append(button, " ");
    }
    const toolCell = document.createElement("td");
    toolCell.append(element("a", run.toolTitle, { href: `#/runs/${run.id}` }));
    row.append(cell(when(run.createdAt)), toolCell, cell(run.risk), cell(run.requester), cell(JSON.stringify(run.input)), commentCell, actions);
    return row;
  }));
  refreshApprovalCount(approvals.length);
  show("page-approvals");
}

async function refreshApprovalCount(known) {
  if (!me || !me.permissions.includes("approvals:decide")) return;
  let count = known;
  if (count === undefined) {
    const result = await api("GET", "/api/approvals");
    count = result.ok ? result.body.approvals.length : 0;
  }
  $("approvals-count").textContent = String(count);
  $("approvals-count").hidden = count === 0;
}

let auditNext = null;

async function showAudit(append = false) {
  const query = new URLSearchParams({ limit: "50" });
  for (const [name, id] of [["kind", "audit-kind"], ["tool", "audit-tool"], ["person", "audit-person"]]) {
    if ($(id).value) query.set(name, $(id).value);
  }
  if (append && auditNext) query.set("before", auditNext);
  const result = await api("GET", `/api/audit?${query}`);
  if (!result.ok) return refuse(result);
  const rows = result.body.entries.map((entry) => {
    const row = document.createElement("tr");
    row.dataset.kind = entry.kind;
    row.append(cell(String(entry.sequence)), cell(when(entry.time)), cell(entry.kind), cell(entry.principalName || ""),
      cell(entry.tool || ""), cell(entry.outcome + (entry.approver ? ` (${entry.approver})` : "")), cell(entry.detail || ""));
    return row;
  });
  if (append) $("audit-rows").append(...rows);
  else $("audit-rows").replaceChildren(...rows);
  auditNext = result.body.next || null;
  $("audit-more").hidden = !auditNext;
  show("page-audit");
}

$("audit-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  showAudit();
});
$("audit-more").addEventListener("click", () => showAudit(true));

async function showPacks() {
  const result = await api("GET", "/api/packs");
  if (!result.ok) return refuse(result);
  $("packs-rows").replaceChildren(...result.body.packs.map((pack) => {
    const row = document.createElement("tr");
    row.dataset.pack = pack.name;
    const toggle = element("input", undefined, { type: "checkbox", "aria-label": `Enable ${pack.title}`, class: "pack-enabled" });
    toggle.checked = pack.enabled;
    // Packs a system administrator has not made available to this organization cannot be turned on.
    toggle.disabled = !pack.enabled && !pack.available;
    if (toggle.disabled) toggle.title = "Not available to this organization: a system administrator decides which organizations may use it.";
    toggle.addEventListener("change", async () => {
      $("packs-error").textContent = "";
      const answer = await api("POST", `/api/packs/${encodeURIComponent(pack.name)}/enabled`, { enabled: toggle.checked });
      if (!answer.ok) $("packs-error").textContent = problemText(answer);
      showPacks();
    });
    const toggleCell = document.createElement("td");
    toggleCell.append(toggle);
    const nameCell = document.createElement("td");
    nameCell.append(element("strong", pack.title), element("span", ` ${pack.name}: ${pack.description}`, { class: "muted" }));
    row.append(nameCell, cell(String(pack.tools)), cell(pack.version), toggleCell);
    return row;
  }));
  show("page-packs");
}

// ---- Assistant and search ------------------------------------------------------------------

let currentSession = null;

/** Text with `[[marked]]` words as <mark> elements (text nodes only, never HTML). */
function highlighted(text) {
  const span = document.createElement("span");
  for (const [index, part] of text.split(/\[\[|\]\]/).entries()) {
    span.append(index % 2 === 1 ? element("mark", part) : document.createTextNode(part));
  }
  return span;
}

async function showChat(sessionID) {
  const [list, assistant] = await Promise.all([api("GET", "/api/sessions?limit=50"), api("GET", "/api/assistant")]);
  if (!list.ok) return refuse(list);
  if (!sessionID && list.body.sessions.length > 0) sessionID = list.body.sessions[0].id;
  currentSession = sessionID;
  $("chat-mode").textContent = assistant.ok && assistant.body.model
    ? `Answers come from ${assistant.body.model}. It runs this organization's tools with your permissions; risky ones wait for an approval.`
    : "No language model is configured: I find the tools that match what you ask and run /tool-name {json} commands.";
  renderSessionList(list.body.sessions, sessionID);
  $("chat-error").textContent = "";
  if (!sessionID) {
    $("chat-title").textContent = "Assistant";
    $("chat-turns").replaceChildren();
    show("page-chat");
    return;
  }
  const turns = await api("GET", `/api/sessions/${sessionID}/turns`);
  if (!turns.ok) return refuse(turns);
  const session = list.body.sessions.find((s) => s.id === sessionID);
  $("chat-title").textContent = session ? session.title : "Conversation";
  $("chat-turns").replaceChildren(...turns.body.turns.map(renderTurn));
  show("page-chat");
}

function renderSessionList(sessions, currentID) {
  $("chat-session-list").replaceChildren(...sessions.map((session) => {
    const item = document.createElement("li");
    const link = element("a", session.title, { href: `#/chat/${session.id}`, "data-session": session.id });
    if (session.id === currentID) link.setAttribute("aria-current", "true");
    item.append(link);
    if (session.snippet) item.append(document.createElement("br"), highlighted(session.snippet));
    return item;
  }));
}

/** Finds the person's conversations by meaning, or lists them all again when the box is empty. */
$("chat-find-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const query = $("chat-find").value.trim();
  if (!query) return showChat(currentSession);
  const result = await api("GET", `/api/search?kind=turns&q=${encodeURIComponent(query)}`);
  if (!result.ok) {
    $("chat-error").textContent = problemText(result);
    return;
  }
  const seen = new Set();
  const sessions = result.body.results.filter((hit) => !seen.has(hit.sessionID) && seen.add(hit.sessionID))
    .map((hit) => ({ id: hit.sessionID, title: hit.title, snippet: hit.snippet }));
  renderSessionList(sessions, currentSession);
  if (sessions.length === 0) $("chat-session-list").replaceChildren(element("li", "No conversation matches.", { class: "muted" }));
});

function renderTurn(turn) {
  const item = element("li", undefined, { "data-role": turn.role, "data-turn": turn.id });
  if (turn.failed) item.dataset.failed = "true";
  if (turn.role === "tool") {
    const details = element("details");
    details.append(element("summary", turn.runStatus ? `Tool result: ${turn.runStatus}` : "Tool call refused"), element("pre", turn.text));
    if (turn.runStatus === "pending-approval") details.open = true;
    item.append(details);
  } else {
    if (turn.text) item.append(document.createTextNode(turn.text));
    for (const call of turn.toolCalls || []) item.append(element("div", `Calling ${call.tool} ${call.arguments || "{}"}`, { class: "tool-call muted" }));
  }
  if (turn.runID) {
    const link = element("a", "Open the run", { href: `#/runs/${turn.runID}`, class: "run-link" });
    item.append(document.createElement("br"), link);
  }
  for (const name of turn.suggestedTools || []) item.append(suggestionForm(name, turn.id));
  return item;
}

/** A suggested tool as a ready-to-fill form that runs it through the catalog's path. */
function suggestionForm(name, turnID) {
  const form = element("form", undefined, { class: "suggestion", "data-tool": name });
  const fields = document.createElement("div");
  const status = element("p", "", { class: "muted", role: "status" });
  const button = element("button", "Run", { type: "submit" });
  form.append(element("strong", name), fields, button, status);
  const prefix = `s-${turnID.slice(-8)}-${name.replace(/[^a-z0-9]/g, "-")}`;
  api("GET", `/api/tools/${encodeURIComponent(name)}`).then((result) => {
    if (!result.ok) {
      status.textContent = problemText(result);
      button.disabled = true;
      return;
    }
    const tool = result.body;
    form.querySelector("strong").textContent = tool.title;
    const required = new Set(tool.inputSchema.required || []);
    fields.replaceChildren(...Object.entries(tool.inputSchema.properties || {}).map(([field, property]) => fieldFor(field, property, required.has(field), prefix)));
    button.disabled = !tool.canRun;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    const result = await api("POST", `/api/tools/${encodeURIComponent(name)}/runs`, { input: collectInput(fields) });
    if (!result.ok) {
      status.textContent = problemText(result);
      return;
    }
    status.replaceChildren(document.createTextNode(`${result.body.status}. `), element("a", "Open the run", { href: `#/runs/${result.body.id}` }));
  });
  return form;
}

$("chat-new").addEventListener("click", async () => {
  const result = await api("POST", "/api/sessions", { title: "New conversation" });
  if (!result.ok) {
    $("chat-error").textContent = problemText(result);
    return;
  }
  location.hash = `#/chat/${result.body.id}`;
});

$("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("chat-error").textContent = "";
  const text = $("chat-input").value.trim();
  if (!text) return;
  if (!currentSession) {
    const created = await api("POST", "/api/sessions", { title: text.slice(0, 60) });
    if (!created.ok) {
      $("chat-error").textContent = problemText(created);
      return;
    }
    currentSession = created.body.id;
    history.replaceState(null, "", `#/chat/${currentSession}`);
  }
  $("chat-send").disabled = true;
  try {
    if (await streamReply(currentSession, text)) $("chat-input").value = "";
  } finally {
    $("chat-send").disabled = false;
  }
});

/**
 * Sends a message and shows the answer as it streams (server-sent events over a POST):
 * stored turns as they come, the model's words as they are written. Returns whether the
 * message was accepted.
 */
async function streamReply(sessionID, text) {
  streamingSession = sessionID;
  try {
    return await readReply(sessionID, text);
  } finally {
    streamingSession = null;
  }
}

/** The conversation whose answer is streaming into this page (its turns arrive on the stream). */
let streamingSession = null;

async function readReply(sessionID, text) {
  let response;
  try {
    response = await apiFetch("POST", `/api/sessions/${sessionID}/turns`, { text }, "text/event-stream");
  } catch {
    $("chat-error").textContent = "The server could not be reached; the message was not sent.";
    return false;
  }
  if (!response.ok || !response.body) {
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    $("chat-error").textContent = problemText({ status: response.status, body });
    return false;
  }
  const turns = $("chat-turns");
  let live = null;
  const handle = (name, data) => {
    if (name === "text") {
      if (!live) {
        live = element("li", "", { "data-role": "assistant", "data-streaming": "true" });
        turns.append(live);
      }
      live.textContent += data.text;
    } else if (name === "turn") {
      if (live && data.role === "assistant") {
        live.remove();
        live = null;
      }
      if (!turns.querySelector(`[data-turn="${data.id}"]`)) turns.append(renderTurn(data));
    } else if (name === "done" && data.pausedOnRun) {
      turns.append(element("li", "Waiting for an approval; the answer goes on once it is decided.", { "data-role": "status", class: "muted" }));
    }
    turns.lastElementChild?.scrollIntoView({ block: "nearest" });
  };
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch {
      // The answer goes on on the server and is kept: it shows on the next visit.
      $("chat-error").textContent = "The connection dropped while the answer was coming; reopen the conversation to see it.";
      break;
    }
    const { value, done } = chunk;
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const name = (block.match(/^event: (.*)$/m) || [])[1];
      const data = (block.match(/^data: (.*)$/m) || [])[1];
      if (name && data) handle(name, JSON.parse(data));
    }
  }
  if (live) live.remove();
  return true;
}

async function showSearch(query) {
  $("global-search").value = query;
  const result = await api("GET", `/api/search?q=${encodeURIComponent(query)}`);
  if (!result.ok) return refuse(result);
  $("search-results").replaceChildren(...result.body.results.map((hit) => {
    const item = document.createElement("li");
    item.dataset.kind = hit.kind;
    const href = hit.kind === "turn" ? `#/chat/${hit.sessionID}` : `#/tools/${encodeURIComponent(hit.tool)}`;
    item.append(element("a", hit.title, { href, class: "result-link" }), element("span", ` (${hit.kind === "turn" ? "conversation" : "tool"})`, { class: "muted" }),
      document.createElement("br"), highlighted(hit.snippet));
    return item;
  }));
  $("search-empty").hidden = result.body.results.length > 0;
  show("page-search");
}

$("global-search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = $("global-search").value.trim();
  if (query) location.hash = `#/search?q=${encodeURIComponent(query)}`;
});

// ---- Live updates (server-sent events) ---------------------------------------------------

let events = null;

function connectEvents() {
  if (events || !me) return;
  events = new EventSource("/api/events");
  const refresh = (event) => {
    const notification = JSON.parse(event.data);
    const page = location.hash.replace(/^#\/?/, "");
    if (event.type === "chat.turn") {
      if (notification.sessionID === streamingSession) return;
      if (page === `chat/${notification.sessionID}` || (page === "chat" && currentSession === notification.sessionID)) showChat(notification.sessionID);
      return;
    }
    if (page === `runs/${notification.runID}`) showRun(notification.runID);
    else if (page === "approvals") showApprovals();
    else if (page === "") showHome();
    if (event.type === "approval.requested" || event.type === "approval.decided") refreshApprovalCount();
  };
  const kinds = ["approval.requested", "approval.decided", "chat.turn", "run.succeeded", "run.failed", "run.rejected", "run.expired", "run.interrupted"];
  for (const kind of kinds) events.addEventListener(kind, refresh);
}

function disconnectEvents() {
  if (events) events.close();
  events = null;
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  const result = await api("POST", "/api/auth/login", { username: $("signin-username").value, password: $("signin-password").value });
  $("signin-password").value = "";
  if (!result.ok) {
    $("signin-error").textContent = problemText(result);
    return;
  }
  me = result.body;
  await loadMe();
  route();
});

function showPasswordChange() {
  $("password-required").hidden = !me.user.mustChangePassword;
  $("password-error").textContent = "";
  show("page-password");
  $("password-current").focus();
}

$("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("password-error").textContent = "";
  $("password-done").textContent = "";
  if ($("password-new").value !== $("password-again").value) {
    $("password-error").textContent = "The two new passwords differ.";
    return;
  }
  const result = await api("POST", "/api/me/password", { currentPassword: $("password-current").value, newPassword: $("password-new").value });
  if (!result.ok) {
    $("password-error").textContent = problemText(result);
    return;
  }
  event.target.reset();
  const wasRequired = me.user.mustChangePassword;
  await loadMe();
  if (wasRequired) {
    location.hash = "#/";
    route();
  } else {
    $("password-done").textContent = "Password changed. Your other sessions were signed out.";
  }
});

$("sign-out").addEventListener("click", async () => {
  await api("POST", "/api/auth/logout");
  disconnectEvents();
  me = null;
  renderChrome();
  location.hash = "#/";
  route();
});

$("org-switcher").addEventListener("change", async (event) => {
  await api("POST", "/api/me/organization", { organizationID: event.target.value });
  disconnectEvents();  // the stream belongs to the organization it was opened in
  await loadMe();
  route();
});

$("user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("user-error").textContent = "";
  const result = await api("POST", "/api/users", {
    username: $("user-username").value, displayName: $("user-display").value || undefined,
    password: $("user-password").value, role: $("user-role").value,
  });
  $("user-password").value = "";
  if (!result.ok) {
    $("user-error").textContent = problemText(result);
    return;
  }
  event.target.reset();
  showUsers();
});

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("key-error").textContent = "";
  $("key-secret").textContent = "";
  const result = await api("POST", "/api/keys", { name: $("key-name").value, role: $("key-role").value });
  if (!result.ok) {
    $("key-error").textContent = problemText(result);
    return;
  }
  $("key-secret").textContent = `Copy this key now; it is not shown again: ${result.body.secret}`;
  showKeys();
});

$("signin-sso").addEventListener("click", () => {
  location.href = "/api/auth/oidc/login?return_to=" + encodeURIComponent("/" + location.hash);
});

$("sso-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("sso-error").textContent = "";
  $("sso-saved").textContent = "";
  const mappings = [];
  for (const line of $("sso-mappings").value.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const [group, organization, role, ...rest] = line.split(/\s+/);
    if (!role || rest.length) {
      $("sso-error").textContent = `Mapping "${line}": write group, organization slug and role, separated by spaces.`;
      return;
    }
    mappings.push({ group, organization, role });
  }
  const secret = $("sso-secret").value;
  const result = await api("PUT", "/api/auth/oidc/settings", {
    enabled: $("sso-enabled").checked, issuer: $("sso-issuer").value, clientID: $("sso-client").value,
    clientSecret: secret === "" ? undefined : secret, buttonLabel: $("sso-label").value,
    groupsClaim: $("sso-groups-claim").value, mappings,
  });
  if (!result.ok) {
    $("sso-error").textContent = problemText(result);
    return;
  }
  $("sso-saved").textContent = "Saved.";
  await showSingleSignOn();
  await prepareSignIn();
});

$("member-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("member-error").textContent = "";
  const role = $("member-role").value;
  const result = await api("POST", `/api/orgs/${me.currentOrganization}/members`, { username: $("member-username").value, role: role || undefined });
  if (!result.ok) {
    $("member-error").textContent = problemText(result);
    return;
  }
  event.target.reset();
  showOrganizations();
});

$("org-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("org-error").textContent = "";
  const result = await api("POST", "/api/orgs", {
    slug: $("org-slug").value, displayName: $("org-name").value, cloudScope: $("org-scope").value, cloudProfile: $("org-profile").value || undefined,
  });
  if (!result.ok) {
    $("org-error").textContent = problemText(result);
    return;
  }
  event.target.reset();
  showOrganizations();
});

window.addEventListener("hashchange", route);
refreshServerStatus();
setInterval(refreshServerStatus, 30000);
prepareSignIn();
loadMe().then(route);
