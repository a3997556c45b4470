// The portal's client. Plain ES modules: no build step, no inline script (the CSP forbids it).
// Pages are sections of index.html shown by the hash route; data is written with textContent,
// never as HTML.

const $ = (id) => document.getElementById(id);
const statusElement = $("server-status");
const pages = ["welcome", "signin", "page-users", "page-keys", "page-orgs", "page-sso", "refused"];
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

/** Calls the JSON API with the session's CSRF token; returns {ok, status, body}. */
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (me && me.csrfToken && method !== "GET") headers["X-CSRF-Token"] = me.csrfToken;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
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
    row.append(cell(organization.slug), cell(organization.displayName), cell(organization.cloudScope), cell(organization.role || ""));
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
  if (page === "admin/users") return showUsers();
  if (page === "admin/keys") return showKeys();
  if (page === "admin/orgs") return showOrganizations();
  if (page === "admin/sso") return showSingleSignOn();
  show("welcome");
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

$("sign-out").addEventListener("click", async () => {
  await api("POST", "/api/auth/logout");
  me = null;
  renderChrome();
  location.hash = "#/";
  route();
});

$("org-switcher").addEventListener("change", async (event) => {
  await api("POST", "/api/me/organization", { organizationID: event.target.value });
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
  const result = await api("POST", "/api/orgs", { slug: $("org-slug").value, displayName: $("org-name").value, cloudScope: $("org-scope").value });
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
