// Organizations: the ones you belong to (every one, for system administrators), the members
// of the one you are working in and their roles, and a new organization (system
// administrators).
import { api, isSystemAdministrator, problemText, session } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { named } from "../lib/format.js";
import { formValues, submitForm } from "../lib/forms.js";
import { emptyState, field, formMessages, panel, refused } from "../lib/page.js";
import { confirmDialog } from "../components/dialog.js";
import { toast } from "../components/toast.js";
import "../components/data-table.js";

const roles = ["viewer", "operator", "admin"];

function loadMembers() {
  const organizationID = session.me.currentOrganization;
  return organizationID ? api("GET", `/api/orgs/${organizationID}/members`) : Promise.resolve({ ok: true, status: 200, body: { members: [] } });
}

export async function render(view) {
  const [organizations, members, users] = await Promise.all([api("GET", "/api/orgs"), loadMembers(), api("GET", "/api/users")]);
  if (!organizations.ok) return refused(view, organizations);
  if (!members.ok) return refused(view, members);
  const me = session.me;
  const administrator = isSystemAdministrator();
  const current = me.organizations.find((organization) => organization.id === me.currentOrganization);

  // ---- Organizations ----
  const slugInput = h("input", { id: "org-slug", name: "slug", required: true, pattern: "[a-z0-9\\-]{1,64}", maxlength: 64, autocomplete: "off", spellcheck: "false" });
  const orgTable = h("data-table");
  orgTable.caption = administrator ? "Every organization" : "Your organizations";
  orgTable.bodyId = "orgs-rows";
  orgTable.rowAttributes = (organization) => ({ "data-slug": organization.slug, "data-organization-id": organization.id,
    "aria-current": organization.id === me.currentOrganization ? "true" : null });
  orgTable.empty = administrator
    ? emptyState("No organizations yet. Create one with the form below, then add people to it.",
      h("button", { type: "button", class: "quiet", on: { click: () => slugInput.focus() } }, "Create an organization"))
    : emptyState("You belong to no organization. Ask a system administrator to add you to one.");
  orgTable.columns = [
    { key: "slug", label: "Slug", sort: (organization) => organization.slug },
    { key: "displayName", label: "Name", sort: (organization) => organization.displayName.toLowerCase(),
      render: (organization) => h("span", {}, named(organization.displayName, organization.id),
        organization.id === me.currentOrganization ? h("span", { class: "muted" }, " (current)") : null) },
    { key: "cloudScope", label: "Cloud scope", render: (organization) => (organization.cloudScope ? h("code", { class: "wrap" }, organization.cloudScope) : h("span", { class: "muted" }, "none")) },
    { key: "cloudProfile", label: "Cloud profile", render: (organization) => (organization.cloudProfile ? h("code", {}, organization.cloudProfile) : h("span", { class: "muted" }, "none")) },
    { key: "role", label: "Your role", sort: (organization) => roles.indexOf(organization.role),
      render: (organization) => organization.role || h("span", { class: "muted" }, "not a member") },
  ];

  async function refreshOrganizations() {
    const result = await api("GET", "/api/orgs");
    if (!result.ok) return toast(problemText(result), { kind: "error" });
    orgTable.rows = result.body.organizations;
  }

  // ---- Members of the current organization ----
  const memberInput = h("input", { id: "member-username", name: "username", required: true, autocomplete: "off", spellcheck: "false", list: "member-usernames" });
  const memberNames = h("datalist", { id: "member-usernames" });
  const memberTable = h("data-table");
  memberTable.caption = current ? `The members of ${current.displayName}` : "Members";
  memberTable.bodyId = "members-rows";
  memberTable.rowAttributes = (member) => ({ "data-username": member.user.username, "data-user-id": member.user.id });
  memberTable.empty = current
    ? emptyState(`Nobody belongs to ${current.displayName} yet. Give someone a role with the form below, or create a user on the Users page.`,
      h("a", { href: "#/admin/users" }, "Create a user"))
    : emptyState("You are working in no organization. Choose one in the header to see its members.");
  memberTable.columns = [
    { key: "username", label: "User name", sort: (member) => member.user.username, render: (member) => named(member.user.username, member.user.id) },
    { key: "displayName", label: "Name", sort: (member) => member.user.displayName.toLowerCase(), render: (member) => member.user.displayName },
    { key: "role", label: "Role", sort: (member) => roles.indexOf(member.role) },
    { key: "actions", label: "Actions", render: (member) => removeButton(member) },
  ];

  function fillUserNames(list) {
    memberNames.replaceChildren(...list.map((user) => h("option", { value: user.username }, user.displayName)));
  }

  async function refreshMembers() {
    const result = await loadMembers();
    if (!result.ok) return toast(problemText(result), { kind: "error" });
    memberTable.rows = result.body.members;
    if (!users.ok) fillUserNames(result.body.members.map((member) => member.user));
  }

  async function setRole(username, role) {
    return api("POST", `/api/orgs/${me.currentOrganization}/members`, { username, role: role || undefined });
  }

  function removeButton(member) {
    if (member.user.id === me.user.id) return h("span", { class: "muted" }, "you");
    const button = h("button", { type: "button", class: "quiet", "aria-label": `Remove ${member.user.username} from ${current ? current.displayName : "this organization"}` }, "Remove");
    button.addEventListener("click", async () => {
      const confirmed = await confirmDialog({
        title: `Remove ${member.user.displayName || member.user.username}?`,
        message: `${member.user.username} loses access to ${current ? current.displayName : "this organization"}: its tools, runs and approvals. Their account stays; give them a role again to bring them back.`,
        confirmLabel: "Remove",
        danger: true,
      });
      if (!confirmed) return;
      const result = await setRole(member.user.username, null);
      if (!result.ok) return toast(problemText(result), { kind: "error" });
      toast(`Removed ${member.user.username}.`, { kind: "ok" });
      await refreshMembers();
    });
    return button;
  }

  const memberForm = h("form", { id: "member-form", class: "stacked" },
    field("User name", memberInput, { hint: administrator ? "Anyone with an account; they join with this role." : "A member of this organization.", errorFor: "username" }),
    memberNames,
    field("Role", h("select", { id: "member-role", name: "role" }, roles.map((role) => h("option", { value: role }, role)), h("option", { value: "" }, "remove")),
      { hint: "viewer: sees tools and runs · operator: runs tools · admin: also manages people, keys and tool packs · remove: takes their access away.", errorFor: "role" }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", id: "member-submit" }, "Set role")),
    formMessages("member"));

  submitForm(memberForm, (sent) => {
    const values = formValues(sent);
    return setRole(values.username, values.role);
  }, async (_, sent) => {
    const values = formValues(sent);
    toast(values.role ? `${values.username} is now ${values.role === "admin" ? "an" : "a"} ${values.role}.` : `Removed ${values.username}.`, { kind: "ok" });
    sent.reset();
    await refreshMembers();
  });

  // ---- New organization (system administrators) ----
  const orgForm = h("form", { id: "org-form", class: "stacked" },
    field("Slug", slugInput, { hint: "1–64 lowercase letters, digits or '-'; used in group mappings and URLs.", errorFor: "slug" }),
    field("Name", h("input", { id: "org-name", name: "displayName", required: true, maxlength: 128, autocomplete: "off" }), { errorFor: "displayName" }),
    field("Cloud scope", h("input", { id: "org-scope", name: "cloudScope", autocomplete: "off", spellcheck: "false" }),
      { hint: "Where its cloud tools act, e.g. an OCI compartment OCID. Optional.", errorFor: "cloudScope" }),
    field("Cloud profile", h("input", { id: "org-profile", name: "cloudProfile", pattern: "[A-Za-z0-9._\\-]{1,64}", autocomplete: "off", spellcheck: "false" }),
      { hint: "The OCI CLI profile its cloud tools act as; one organization per profile. Optional.", errorFor: "cloudProfile" }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", id: "org-submit" }, "Create organization")),
    formMessages("org"));

  submitForm(orgForm, (sent) => {
    const values = formValues(sent);
    return api("POST", "/api/orgs", { cloudScope: "", ...values });
  }, async (created, sent) => {
    sent.reset();
    toast(`Created ${created.displayName}. Give people a role in it after switching to it in the header.`, { kind: "ok" });
    await refreshOrganizations();
  });

  orgTable.rows = organizations.body.organizations;
  memberTable.rows = members.body.members;
  fillUserNames(users.ok ? users.body.users : members.body.members.map((member) => member.user));

  view.replaceChildren(panel("page-orgs", "Organizations",
    h("p", { class: "muted" }, "Everything in the portal (tools, runs, approvals, keys) belongs to one organization. Switch between yours in the header."),
    orgTable,
    h("h2", {}, current ? `Members of ${current.displayName}` : "Members of the current organization"),
    memberTable,
    h("h3", {}, "Give someone a role"),
    memberForm,
    h("div", { id: "org-create", hidden: !administrator },
      h("h2", {}, "New organization"),
      orgForm)));
}
