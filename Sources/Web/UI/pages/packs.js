// Tool packs: which packs this organization has enabled (their tools are in its catalog), and,
// for system administrators, which organizations may enable each pack.
import { api, isSystemAdministrator, problemText, session } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { submitForm } from "../lib/forms.js";
import { plural } from "../lib/format.js";
import { emptyState, panel, refused } from "../lib/page.js";
import { toast } from "../components/toast.js";
import "../components/data-table.js";

/** A pack name as a piece of an element id. */
const idPart = (text) => String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-");

export async function render(view) {
  const administrator = isSystemAdministrator();
  const [first, organizations, connected] = await Promise.all([api("GET", "/api/packs"),
    administrator ? api("GET", "/api/orgs") : Promise.resolve(null), administrator ? api("GET", "/api/mcp-servers") : Promise.resolve(null)]);
  if (!first.ok) return refused(view, first);
  const orgs = organizations && organizations.ok ? organizations.body.organizations : [];
  // For system administrators: the connection of each pack that is an MCP server's.
  const servers = new Map((connected && connected.ok ? connected.body.servers : []).map((server) => [server.name, server]));
  const current = session.me.organizations.find((organization) => organization.id === session.me.currentOrganization);
  const here = current ? current.displayName : "this organization";

  const error = h("p", { class: "error", id: "packs-error", role: "alert" });
  const table = h("data-table");
  table.caption = `Tool packs and whether they are enabled in ${here}`;
  table.bodyId = "packs-rows";
  table.rowAttributes = (pack) => ({ "data-pack": pack.name, "data-enabled": String(pack.enabled) });
  table.empty = emptyState(administrator
    ? "No tool packs are installed. Install one through the API (POST /api/packs, see the API reference); the shipped packs come back when the portal starts."
    : "No tool packs are installed. Ask a system administrator to install one.");
  table.columns = [
    { key: "title", label: "Pack", sort: (pack) => pack.title.toLowerCase(), render: (pack) => h("div", { class: "pack" },
      h("strong", {}, pack.title), " ", h("code", { class: "muted" }, pack.name), pack.shipped ? h("span", { class: "tag" }, "shipped") : null,
      h("br"), h("span", { class: "muted" }, pack.description), connection(servers.get(pack.name))) },
    { key: "tools", label: "Tools", align: "right", sort: (pack) => pack.tools, render: (pack) => String(pack.tools) },
    { key: "version", label: "Version", render: (pack) => h("code", {}, pack.version) },
    { key: "enabled", label: `Enabled in ${here}`, sort: (pack) => (pack.enabled ? 0 : 1), render: (pack) => toggle(pack) },
    administrator ? { key: "availableTo", label: "Available to", render: (pack) => availability(pack) } : null,
  ].filter(Boolean);

  /** An MCP server's pack: its connection state, last error and changes, linking to its review. */
  function connection(server) {
    if (!server) return null;
    return h("p", { class: "pack-connection", "data-state": server.state },
      h("a", { href: `#/admin/mcp-servers/${encodeURIComponent(server.name)}` }, "MCP server"), `: ${server.state}`,
      server.changes.length ? `; ${plural(server.changes.length, "change")} to review` : "",
      server.lastError ? h("span", { class: "error" }, ` (last error: ${server.lastError})`) : null);
  }

  async function refresh() {
    const result = await api("GET", "/api/packs");
    if (!result.ok) {
      error.textContent = problemText(result);
      return;
    }
    table.rows = result.body.packs;
  }

  /** The enable checkbox; packs not made available to this organization cannot be turned on. */
  function toggle(pack) {
    const id = `pack-enabled-${idPart(pack.name)}`;
    const unavailable = !pack.enabled && !pack.available;
    const box = h("input", { type: "checkbox", id, class: "pack-enabled", "aria-label": `Enable ${pack.title}`,
      "aria-describedby": unavailable ? `${id}-note` : null, props: { checked: pack.enabled, disabled: unavailable } });
    box.addEventListener("change", async () => {
      error.textContent = "";
      box.disabled = true;
      const wanted = box.checked;
      const answer = await api("POST", `/api/packs/${encodeURIComponent(pack.name)}/enabled`, { enabled: wanted });
      if (answer.ok) {
        toast(wanted ? `Enabled ${pack.title}: its ${plural(pack.tools, "tool")} are in the catalog of ${here}.` : `Disabled ${pack.title} in ${here}.`, { kind: "ok" });
      } else {
        error.textContent = problemText(answer);
      }
      await refresh();
    });
    return h("span", { class: "pack-toggle" }, box,
      unavailable ? h("span", { class: "muted", id: `${id}-note` }, " not available here: a system administrator decides which organizations may use it") : null);
  }

  /** For system administrators: the organizations that may enable the pack, and changing them. */
  function availability(pack) {
    const allowed = new Set((pack.availableTo || []).map((id) => id.toLowerCase()));
    const names = orgs.filter((organization) => allowed.has(organization.id.toLowerCase())).map((organization) => organization.displayName);
    const summary = allowed.size === 0 ? "no organization" : names.length === allowed.size && names.length <= 3 ? names.join(", ") : plural(allowed.size, "organization");
    if (orgs.length === 0) return summary;
    const boxes = orgs.map((organization) => {
      const id = `pack-available-${idPart(pack.name)}-${idPart(organization.id)}`;
      const box = h("input", { type: "checkbox", id, value: organization.id, props: { checked: allowed.has(organization.id.toLowerCase()) } });
      return h("div", { class: "field checkbox" }, box, h("label", { for: id }, organization.displayName, " ", h("span", { class: "muted" }, `(${organization.slug})`)));
    });
    const form = h("form", { class: "pack-availability" },
      h("fieldset", {}, h("legend", {}, `Organizations that may enable ${pack.title}`), boxes),
      h("p", { class: "field-hint" }, "Taking a pack away from an organization also disables it there."),
      h("button", { type: "submit" }, "Save"), h("p", { class: "error", role: "alert" }));
    let chosen = [];
    submitForm(form, () => {
      chosen = [...form.querySelectorAll("input[type=checkbox]:checked")].map((box) => box.value);
      return api("PUT", `/api/packs/${encodeURIComponent(pack.name)}/availability`, { organizations: chosen });
    }, async () => {
      toast(`${pack.title} is available to ${plural(chosen.length, "organization")}.`, { kind: "ok" });
      await refresh();
    });
    return h("details", { class: "inline-editor" }, h("summary", { "aria-label": `Available to ${summary}; change which organizations may enable ${pack.title}` }, summary), form);
  }

  table.rows = first.body.packs;
  view.replaceChildren(panel("page-packs", "Tool packs",
    h("p", { class: "muted" }, `A pack is a set of tools. Enable one to put its tools in the catalog of ${here}; who may run them follows their roles, and risky runs wait for an approval.`),
    table, error));
}
