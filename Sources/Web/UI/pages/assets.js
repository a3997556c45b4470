// Assets (the CMDB): the items with a type filter and the form to add one; one item with its
// attributes, its relations both ways, what fails with it (impact, transitively) and the
// incidents and changes on it.
import "../components/data-table.js";
import "../components/status-badge.js";
import { api, can, problemText } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { formError, submitForm } from "../lib/forms.js";
import { emptyState, field, formMessages, panel, refused } from "../lib/page.js";

const TYPES = ["host", "service", "database", "instance", "network", "application"];
/** The inventory tools an import reads, as the list names them. */
const INVENTORIES = { "oci.compute.instance.list": "OCI instances", "host.kernel": "This host" };
const KINDS = ["depends-on", "runs-on", "connects-to"];
const assetPath = (name) => `/api/assets/${encodeURIComponent(name)}`;
const assetLink = (name) => h("a", { href: `#/assets/${encodeURIComponent(name)}` }, name);

function select(id, name, choices, selected) {
  return h("select", { id, name }, choices.map((choice) => h("option", { value: choice, selected: choice === selected }, choice)));
}

/** "key=value" lines to an object; a line without "=" is refused with its number. */
function parseAttributes(text) {
  const attributes = {};
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  for (const [index, line] of lines.entries()) {
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`Line ${index + 1} is not key=value.`);
    attributes[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return attributes;
}

export async function render(view, context) {
  return context.params.name ? renderAsset(view, context) : renderList(view, context);
}

// ---- The list ------------------------------------------------------------------------------

async function renderList(view, context) {
  const first = await api("GET", "/api/assets?limit=200");
  if (!first.ok) return refused(view, first);
  const filter = select("asset-filter", "type", ["all", ...TYPES], "all");
  const table = h("data-table", { id: "asset-table" });
  table.caption = "Configuration items by name";
  table.bodyId = "asset-rows";
  table.rowAttributes = (asset) => ({ "data-asset": asset.name });
  table.columns = [
    { key: "name", label: "Name", render: (asset) => assetLink(asset.name), sort: (asset) => asset.name },
    { key: "type", label: "Type", sort: (asset) => asset.type },
    { key: "owner", label: "Owner", render: (asset) => asset.owner || h("span", { class: "muted" }, "nobody") },
    { key: "source", label: "Kept by", render: (asset) => asset.source ? `import ${asset.source}` : "hand" },
    { key: "updatedAt", label: "Changed", render: (asset) => when(asset.updatedAt), sort: (asset) => asset.updatedAt },
  ];
  const empty = emptyState("No configuration items yet. Add one or import an inventory below, or import them through the API (POST /api/v1/asset-imports).");
  empty.id = "asset-empty";
  const error = h("p", { class: "error", id: "asset-list-error", role: "alert" });

  function show(assets) {
    table.rows = assets;
    table.hidden = assets.length === 0;
    empty.hidden = assets.length > 0;
  }
  filter.addEventListener("change", async () => {
    const answer = await api("GET", `/api/assets?limit=200${filter.value === "all" ? "" : `&type=${filter.value}`}`);
    if (!answer.ok) return (error.textContent = problemText(answer));
    error.textContent = "";
    show(answer.body.assets);
  });

  const parts = [h("div", { class: "toolbar" }, field("Show", filter)), empty, table, error];
  if (can("assets:manage")) {
    const name = h("input", { id: "asset-name", name: "name", maxlength: 128, required: true, autocomplete: "off" });
    const type = select("asset-type", "type", TYPES, "host");
    const owner = h("input", { id: "asset-owner", name: "owner", maxlength: 128, autocomplete: "off" });
    const form = h("form", { id: "asset-form", novalidate: true },
      h("div", { class: "field-row" }, field("Name", name, { errorFor: "name", hint: "Letters, digits, '.', '_', '-', ':'" }), field("Type", type), field("Owner", owner)),
      ...formMessages("asset-form"),
      h("div", { class: "form-actions" }, h("button", { type: "submit", id: "asset-save" }, "Add the item")));
    submitForm(form, () => api("PUT", assetPath(name.value.trim()), { type: type.value, owner: owner.value.trim() }),
      (body) => context.navigate(`#/assets/${encodeURIComponent(body.name)}`));
    parts.push(h("h2", {}, "Add an item"), form, inventoryForm(show));
  }
  show(first.body.assets);
  view.replaceChildren(panel("page-assets", "Assets", ...parts));
}

/** Runs an inventory tool the organization has and imports what it lists (a refresh when asked). */
function inventoryForm(show) {
  const tool = h("select", { id: "inventory-tool", name: "tool" });
  const refresh = h("input", { type: "checkbox", id: "inventory-refresh", name: "removeMissing" });
  const result = h("p", { id: "inventory-result", role: "status" });
  const form = h("form", { id: "inventory-form", novalidate: true },
    h("div", { class: "field-row" }, field("Inventory", tool), field("Remove the items it no longer lists", refresh)),
    ...formMessages("inventory-form"), result,
    h("div", { class: "form-actions" }, h("button", { type: "submit", id: "inventory-import" }, "Run and import")));
  api("GET", "/api/tools").then((answer) => {
    const tools = (answer.ok ? answer.body.tools : []).filter((entry) => INVENTORIES[entry.name]);
    tool.replaceChildren(...tools.map((entry) => h("option", { value: entry.name }, INVENTORIES[entry.name])));
    form.hidden = tools.length === 0;
  });
  submitForm(form, async () => {
    result.textContent = "";
    const run = await api("POST", `/api/tools/${encodeURIComponent(tool.value)}/runs`, { input: {} });
    if (!run.ok) return run;
    if (run.body.status !== "succeeded") {
      formError(form, `The run is ${run.body.status.replaceAll("-", " ")}; import it once it has succeeded.`);
      return null;
    }
    return api("POST", "/api/asset-imports/from-run", { runID: run.body.id, removeMissing: refresh.checked });
  }, async (counts) => {
    result.textContent = `Imported: ${counts.created} new, ${counts.updated} changed, ${counts.unchanged} unchanged, ${counts.removed} removed.`;
    const answer = await api("GET", "/api/assets?limit=200");
    if (answer.ok) show(answer.body.assets);
  });
  return h("section", { "aria-labelledby": "inventory-heading" }, h("h2", { id: "inventory-heading" }, "Import an inventory"), form);
}

// ---- One item ------------------------------------------------------------------------------

async function renderAsset(view, context) {
  const name = context.params.name;
  const [first, impact] = await Promise.all([api("GET", assetPath(name)), api("GET", `${assetPath(name)}/impact`)]);
  if (!first.ok) return refused(view, first);
  const manage = can("assets:manage");
  const facts = h("dl", { class: "facts", id: "asset-facts" });
  const relations = h("ul", { id: "asset-relations" });
  const dependents = h("ul", { id: "asset-dependents" });
  const impacted = h("ol", { id: "asset-impact" });
  const incidents = h("ul", { id: "asset-incidents" });
  const changes = h("ul", { id: "asset-changes" });
  const status = h("p", { class: "visually-hidden", role: "status", id: "asset-announce" });
  const error = h("p", { class: "error", id: "asset-error", role: "alert" });

  async function reload() {
    const [detail, hit] = await Promise.all([api("GET", assetPath(name)), api("GET", `${assetPath(name)}/impact`)]);
    if (!detail.ok) return (error.textContent = problemText(detail));
    show(detail.body, hit.ok ? hit.body.impacted : []);
  }

  function relationItem(relation, other, removable) {
    const remove = removable && manage ? h("button", { type: "button", class: "quiet", "aria-label": `Remove: ${relation.from} ${relation.kind} ${relation.to}`,
      on: { click: async () => {
        const answer = await api("DELETE", `${assetPath(relation.from)}/relations/${encodeURIComponent(relation.to)}`);
        if (!answer.ok) return (error.textContent = problemText(answer));
        status.textContent = `Removed: ${relation.from} ${relation.kind} ${relation.to}.`;
        reload();
      } } }, "Remove") : null;
    return h("li", { "data-relation": `${relation.from} ${relation.kind} ${relation.to}` }, `${relation.kind.replaceAll("-", " ")} `, assetLink(other), " ", remove);
  }

  function show(view, hit) {
    const asset = view.asset;
    context.setTitle(asset.name);
    facts.replaceChildren(...[
      h("dt", {}, "Type"), h("dd", { id: "asset-type-value" }, asset.type),
      h("dt", {}, "Owner"), h("dd", {}, asset.owner || "nobody"),
      asset.description ? [h("dt", {}, "Description"), h("dd", {}, asset.description)] : null,
      h("dt", {}, "Kept by"), h("dd", {}, asset.source ? `import ${asset.source}` : "hand", " · changed ", when(asset.updatedAt)),
      Object.entries(asset.attributes).sort().map(([key, value]) => [h("dt", {}, key), h("dd", {}, value)]),
    ].flat(2).filter(Boolean));
    relations.replaceChildren(...(view.relations.length ? view.relations.map((relation) => relationItem(relation, relation.to, true)) : [h("li", { class: "muted" }, "None.")]));
    dependents.replaceChildren(...(view.dependents.length ? view.dependents.map((relation) => h("li", {}, assetLink(relation.from), ` ${relation.kind.replaceAll("-", " ")} it`)) : [h("li", { class: "muted" }, "Nothing.")]));
    impacted.replaceChildren(...(hit.length ? hit.map((item) => h("li", { "data-impacted": item.name, "data-depth": item.depth },
      assetLink(item.name), ` (${item.type}) ${item.relation.replaceAll("-", " ")} `, item.via, item.depth > 1 ? h("span", { class: "muted" }, ` · ${item.depth} steps away`) : "")) : [h("li", { class: "muted" }, "Nothing depends on it.")]));
    incidents.replaceChildren(...(view.incidents.length ? view.incidents.map((incident) => h("li", { "data-incident": incident.number },
      h("a", { href: `#/incidents/${encodeURIComponent(incident.id)}` }, `INC-${incident.number}`), ` ${incident.title} `, h("status-badge", { status: incident.state }))) : [h("li", { class: "muted" }, "No incidents on it.")]));
    changes.replaceChildren(...(view.changes.length ? view.changes.map((change) => h("li", { "data-change": change.number },
      h("a", { href: `#/changes/${encodeURIComponent(change.id)}` }, `CHG-${change.number}`), ` ${change.title} `, h("status-badge", { status: change.state }),
      change.windowStart ? h("span", { class: "muted" }, " · ", when(change.windowStart)) : null)) : [h("li", { class: "muted" }, "No changes on it.")]));
  }

  const parts = [];
  if (manage) {
    const kind = select("asset-relation-kind", "kind", KINDS, "depends-on");
    const target = h("input", { id: "asset-relation-to", name: "to", maxlength: 128, autocomplete: "off" });
    const relate = h("form", { id: "asset-relation-form", novalidate: true }, h("h2", {}, "Relate it"),
      h("div", { class: "field-row" }, field("It", kind), field("Item", target, { errorFor: "to" })),
      ...formMessages("asset-relation"), h("div", { class: "form-actions" }, h("button", { type: "submit", id: "asset-relate" }, "Add the relation")));
    submitForm(relate, () => api("POST", "/api/asset-relations", { from: name, kind: kind.value, to: target.value.trim() }), () => {
      target.value = "";
      reload();
    });
    const attributes = h("textarea", { id: "asset-attributes", name: "attributes", rows: 4, spellcheck: "false",
      props: { value: Object.entries(first.body.asset.attributes).sort().map(([key, value]) => `${key}=${value}`).join("\n") } });
    const description = h("textarea", { id: "asset-description", name: "description", rows: 2, maxlength: 4000, props: { value: first.body.asset.description } });
    const edit = h("form", { id: "asset-edit-form", novalidate: true }, h("h2", {}, "Change it"),
      field("Description", description), field("Attributes (one key=value a line)", attributes, { errorFor: "attributes" }),
      ...formMessages("asset-edit"), h("div", { class: "form-actions" }, h("button", { type: "submit", id: "asset-edit" }, "Save")));
    submitForm(edit, async () => {
      let parsed;
      try { parsed = parseAttributes(attributes.value); } catch (problem) {
        edit.querySelector("[role=alert]").textContent = problem.message;
        return null;
      }
      const current = await api("GET", assetPath(name));
      if (!current.ok) return current;
      const asset = current.body.asset;
      return api("PUT", assetPath(name), { type: asset.type, owner: asset.owner || "", description: description.value, attributes: parsed });
    }, () => reload());
    parts.push(relate, edit);
  }

  show(first.body, impact.ok ? impact.body.impacted : []);
  view.replaceChildren(h("section", { class: "panel", id: "page-asset" },
    h("p", { class: "back" }, h("a", { href: "#/assets" }, "← All assets")),
    h("h1", { id: "asset-heading" }, name), status, error, facts,
    h("h2", {}, "It"), relations,
    h("h2", {}, "On it"), dependents,
    h("h2", { id: "asset-impact-heading" }, "What fails with it"), impacted,
    h("h2", {}, "Incidents"), incidents, h("h2", {}, "Changes"), changes,
    ...parts));
}
