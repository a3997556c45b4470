// Users: who can sign in to this organization (every user, for system administrators), their
// role here, a one-time password for someone who lost theirs, and the form for a new user.
import { api, isSystemAdministrator, problemText, session } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { copyButton, named } from "../lib/format.js";
import { formValues, submitForm } from "../lib/forms.js";
import { emptyState, field, formMessages, panel, refused } from "../lib/page.js";
import { confirmDialog } from "../components/dialog.js";
import { toast } from "../components/toast.js";
import "../components/data-table.js";

const roles = ["viewer", "operator", "admin"];
const roleHint = "viewer: sees tools and runs · operator: runs tools · admin: also manages people, keys and tool packs here.";

/** The users and, where the current organization can be read, each one's role in it. */
async function load() {
  const organizationID = session.me.currentOrganization;
  const [users, members] = await Promise.all([
    api("GET", "/api/users"),
    organizationID ? api("GET", `/api/orgs/${organizationID}/members`) : Promise.resolve(null),
  ]);
  if (!users.ok) return { result: users };
  const roleOf = new Map((members && members.ok ? members.body.members : []).map((member) => [member.user.id, member.role]));
  return { result: users, rows: users.body.users.map((user) => ({ ...user, role: roleOf.get(user.id) || null })) };
}

export async function render(view) {
  const first = await load();
  if (!first.result.ok) return refused(view, first.result);
  const me = session.me;
  const organization = me.organizations.find((candidate) => candidate.id === me.currentOrganization);

  const username = h("input", { id: "user-username", name: "username", required: true, autocomplete: "off", spellcheck: "false", maxlength: 64 });
  const reset = h("div", { class: "one-time-secret", id: "user-reset", role: "status", hidden: true });

  const table = h("data-table");
  table.caption = isSystemAdministrator() ? "Every user of the portal" : `The members of ${organization ? organization.displayName : "this organization"}`;
  table.bodyId = "users-rows";
  table.rowAttributes = (user) => ({ "data-username": user.username, "data-user-id": user.id });
  table.empty = emptyState("No users here yet. Create the first one with the form below; they sign in with the password you choose.",
    h("button", { type: "button", class: "quiet", on: { click: () => username.focus() } }, "Create a user"));
  table.columns = [
    { key: "username", label: "User name", sort: (user) => user.username, render: (user) => named(user.username, user.id) },
    { key: "displayName", label: "Name", sort: (user) => user.displayName.toLowerCase() },
    { key: "role", label: organization ? `Role in ${organization.displayName}` : "Role here", sort: (user) => roles.indexOf(user.role),
      render: (user) => user.role || h("span", { class: "muted" }, "not a member") },
    { key: "status", label: "Notes", render: notes },
    { key: "actions", label: "Actions", render: (user) => actions(user) },
  ];

  async function refresh() {
    const next = await load();
    if (!next.result.ok) {
      toast(problemText(next.result), { kind: "error" });
      return;
    }
    table.rows = next.rows;
  }

  /** Gives `user` a new one-time password, after asking, and shows it once. */
  async function resetPassword(user) {
    const confirmed = await confirmDialog({
      title: `Reset ${user.displayName || user.username}'s password?`,
      message: `${user.username} gets a one-time password to sign in with and must choose a new one. Their sessions end and the API keys they created are revoked.`,
      confirmLabel: "Reset password",
      danger: true,
    });
    if (!confirmed) return;
    const result = await api("POST", `/api/users/${user.id}/password-reset`);
    if (!result.ok) {
      toast(problemText(result), { kind: "error" });
      return;
    }
    showOneTimePassword(user, result.body.oneTimePassword);
    await refresh();
  }

  function showOneTimePassword(user, password) {
    const value = h("code", { class: "secret", id: "user-reset-password" }, password);
    const copy = copyButton(password);
    reset.replaceChildren(h("p", {}, `One-time password for ${user.username}. Give it to them in person; it is not shown again and they choose their own at the next sign-in.`),
      h("p", {}, value, " ", copy));
    reset.hidden = false;
  }

  function actions(user) {
    if (user.id === me.user.id) return h("span", { class: "muted" }, "you");
    return h("button", { type: "button", class: "quiet", "aria-label": `Reset password: ${user.username}`, on: { click: () => resetPassword(user) } }, "Reset password");
  }

  const form = h("form", { id: "user-form", class: "stacked" },
    field("User name", username, { hint: "1–64 lowercase letters, digits, '.', '_' or '-'. They sign in with it.", errorFor: "username" }),
    field("Display name", h("input", { id: "user-display", name: "displayName", maxlength: 128, autocomplete: "off" }),
      { hint: "How the portal shows them; the user name if left empty.", errorFor: "displayName" }),
    field("Password", h("input", { id: "user-password", name: "password", type: "password", autocomplete: "new-password", required: true, minlength: 10 }),
      { hint: "At least 10 characters. They can change it on their Password page.", errorFor: "password" }),
    field("Role", h("select", { id: "user-role", name: "role" }, roles.map((role) => h("option", { value: role }, role))),
      { hint: organization ? `In ${organization.displayName}. ${roleHint}` : roleHint, errorFor: "role" }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", id: "user-submit" }, "Create user")),
    formMessages("user"));

  submitForm(form, (sent) => {
    const values = formValues(sent);
    sent.querySelector("#user-password").value = "";
    return api("POST", "/api/users", values);
  }, async (created, sent) => {
    sent.reset();
    toast(`Created ${created.username}. They can sign in now.`, { kind: "ok" });
    await refresh();
  });

  table.rows = first.rows;
  view.replaceChildren(panel("page-users", "Users",
    h("p", { class: "muted" }, isSystemAdministrator()
      ? "Every user of the portal, with their role in the organization you are working in."
      : "The people in this organization and their roles. Change a role on the Organizations page."),
    reset, table,
    h("h2", {}, "New user"), form));
}

/** What else to know about a user: a system administrator, a password still to choose. */
function notes(user) {
  const items = [];
  if (user.isAdministrator) items.push(h("span", { class: "tag", "data-tag": "administrator" }, "system administrator"));
  if (user.mustChangePassword) items.push(h("span", { class: "tag", "data-tag": "one-time" }, "one-time password"));
  return items.length ? h("span", { class: "tags" }, items) : "";
}
