// API keys: the keys scripts and CI jobs use (your own, or every key of the organization with
// users:manage), revoking one, and the form for a new one whose secret is shown once.
//
// Revoking is one click, without a confirmation dialog: it is what someone does in a hurry
// when a key leaked, and a toast says what happened. (The browser test clicks "Revoke" and
// expects the button to read "Revoked".)
import { api, can, problemText, session } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { copyButton, when } from "../lib/format.js";
import { formValues, submitForm } from "../lib/forms.js";
import { emptyState, field, formMessages, panel, refused } from "../lib/page.js";
import { toast } from "../components/toast.js";
import "../components/data-table.js";
import "../components/status-badge.js";

const roles = ["viewer", "operator", "admin"];

/** Whether a key works, was revoked or has expired. */
function state(key) {
  if (key.revokedAt) return "revoked";
  if (key.expiresAt && new Date(key.expiresAt) <= new Date()) return "expired";
  return "active";
}

/** Names of the people who created keys, when the viewer may list users (else ids stay). */
async function userNames() {
  if (!can("users:manage")) return new Map();
  const result = await api("GET", "/api/users");
  return new Map(result.ok ? result.body.users.map((user) => [user.id, user.displayName || user.username]) : []);
}

/** An ISO date the server reads (no fractional seconds) for the end of a chosen day. */
function endOfDay(date) {
  return new Date(`${date}T23:59:59`).toISOString().replace(/\.\d+Z$/, "Z");
}

/** Today as the value of a date input (local time). */
function today() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
}

export async function render(view) {
  const [first, names] = await Promise.all([api("GET", "/api/keys"), userNames()]);
  if (!first.ok) return refused(view, first);
  const me = session.me;
  const everyone = can("users:manage");

  const nameInput = h("input", { id: "key-name", name: "name", required: true, maxlength: 100, autocomplete: "off" });
  const secret = h("p", { class: "secret", id: "key-secret", role: "status" });
  let shownSecret = "";
  const copySecret = copyButton(() => shownSecret, "Copy the key", { id: "key-secret-copy", hidden: true });

  const table = h("data-table");
  table.caption = everyone ? "Every API key of this organization" : "Your API keys";
  table.bodyId = "keys-rows";
  table.rowAttributes = (key) => ({ "data-key-id": key.id, "data-state": state(key) });
  table.empty = emptyState("No API keys yet. Create one below for a script or a CI job: it acts with the role you give it, and its secret is shown once.",
    h("button", { type: "button", class: "quiet", on: { click: () => nameInput.focus() } }, "Create a key"));
  // The name cell is plain text (the browser test finds the row by it), and the only button in
  // a row is Revoke.
  table.columns = [
    { key: "name", label: "Name", sort: (key) => key.name.toLowerCase() },
    { key: "prefix", label: "Prefix", render: (key) => h("code", { title: `id ${key.id}` }, key.prefix) },
    { key: "role", label: "Role", sort: (key) => roles.indexOf(key.role) },
    everyone ? { key: "createdBy", label: "Created by", sort: (key) => creator(key),
      render: (key) => (key.createdBy === me.user.id ? "you" : h("span", { title: `id ${key.createdBy}` }, creator(key))) } : null,
    { key: "createdAt", label: "Created", sort: (key) => key.createdAt, render: (key) => when(key.createdAt) },
    { key: "lastUsedAt", label: "Last used", sort: (key) => key.lastUsedAt || "", render: (key) => (key.lastUsedAt ? when(key.lastUsedAt) : h("span", { class: "muted" }, "never")) },
    { key: "expiresAt", label: "Expires", sort: (key) => key.expiresAt || "9999", render: (key) => (key.expiresAt ? when(key.expiresAt) : h("span", { class: "muted" }, "never")) },
    { key: "state", label: "Status", sort: (key) => state(key), render: (key) => h("status-badge", { status: state(key) }) },
    { key: "actions", label: "Actions", render: (key) => revokeButton(key) },
  ].filter(Boolean);

  function creator(key) {
    return names.get(key.createdBy) || key.createdBy;
  }

  async function refresh() {
    const result = await api("GET", "/api/keys");
    if (!result.ok) {
      toast(problemText(result), { kind: "error" });
      return;
    }
    table.rows = result.body.keys;
  }

  function revokeButton(key) {
    const revoked = Boolean(key.revokedAt);
    const button = h("button", { type: "button", class: revoked ? "quiet revoke" : "revoke", "aria-label": revoked ? null : `Revoke ${key.name}`, props: { disabled: revoked } },
      revoked ? "Revoked" : "Revoke");
    button.addEventListener("click", async () => {
      button.disabled = true;
      const answer = await api("DELETE", `/api/keys/${key.id}`);
      if (answer.ok) {
        toast(`Revoked ${key.name}: its secret no longer works.`, { kind: "ok" });
      } else {
        toast(problemText(answer), { kind: "error" });
        button.disabled = false;
      }
      await refresh();
    });
    return button;
  }

  const form = h("form", { id: "key-form", class: "stacked" },
    field("Name", nameInput, { hint: "What uses it, e.g. “deploy bot” or “nightly backup job”.", errorFor: "name" }),
    field("Role", h("select", { id: "key-role", name: "role" }, roles.map((role) => h("option", { value: role }, role))),
      { hint: "What the key may do in this organization, at most your own role.", errorFor: "role" }),
    field("Expires (optional)", h("input", { id: "key-expires", name: "expiresAt", type: "date", min: today() }),
      { hint: "It stops working at the end of that day. Leave empty for a key that works until revoked.", errorFor: "expiresAt" }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", id: "key-submit" }, "Create key")),
    h("div", { class: "one-time-secret" }, secret, copySecret),
    formMessages("key"));

  submitForm(form, (sent) => {
    secret.textContent = "";
    copySecret.hidden = true;
    const values = formValues(sent);
    if (values.expiresAt) values.expiresAt = endOfDay(values.expiresAt);
    return api("POST", "/api/keys", values);
  }, async (created, sent) => {
    shownSecret = created.secret;
    secret.textContent = `Copy this key now; it is not shown again: ${created.secret}`;
    copySecret.textContent = "Copy the key";
    copySecret.hidden = false;
    sent.reset();
    await refresh();
  });

  table.rows = first.body.keys;
  view.replaceChildren(panel("page-keys", "API keys",
    h("p", { class: "muted" }, "A key signs a script or a CI job in, with the role it was given: send it as ",
      h("code", {}, "Authorization: Bearer <key>"), ". Revoke a key the moment it may have leaked."),
    table,
    h("h2", {}, "New key"), form));
}
