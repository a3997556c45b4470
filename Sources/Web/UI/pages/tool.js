// One tool: what it does, its risk, and a form built from its input schema that runs it.
import "../components/schema-form.js";
import { api } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { submitForm } from "../lib/forms.js";
import { panel, refused } from "../lib/page.js";

export async function render(view, context) {
  const name = context.params.name;
  const result = await api("GET", `/api/tools/${encodeURIComponent(name)}`);
  if (!result.ok) return refused(view, result);
  const tool = result.body;
  context.setTitle(tool.title);

  const schema = tool.inputSchema || {};
  const fields = h("schema-form");
  fields.idPrefix = "field";
  fields.schema = schema;
  const hasFields = Object.keys(schema.properties || {}).length > 0;

  const run = h("button", { type: "submit", id: "tool-run", disabled: !tool.canRun }, "Run");
  if (!tool.canRun) run.dataset.keepDisabled = "true";
  // The form's message comes first: the field error slots follow it, so the form's alert is
  // the first [role=alert] in the form whatever the fields hold.
  const form = h("form", { id: "tool-form", novalidate: true, "aria-labelledby": "tool-title" },
    h("p", { class: "error", id: "tool-error", role: "alert" }),
    h("div", { id: "tool-fields" }, hasFields ? fields : h("p", { class: "muted" }, "This tool takes no input.")),
    h("div", { class: "tool-actions" }, run,
      tool.canRun ? null : h("span", { class: "muted", id: "tool-cannot-run" }, ` Your role may look at this tool but not run it (it needs ${tool.permission}).`)));

  submitForm(form, () => api("POST", `/api/tools/${encodeURIComponent(tool.name)}/runs`, { input: hasFields ? fields.values() : {} }),
    (body) => context.navigate(`#/runs/${encodeURIComponent(body.id)}`));

  const section = panel("page-tool", tool.title,
    h("p", { id: "tool-description" }, tool.description),
    h("p", { class: "tool-meta" },
      h("span", { class: "risk", id: "tool-risk", "data-risk": tool.risk }, `${tool.risk} risk`), " ",
      h("span", { class: "muted", id: "tool-approval" }, tool.needsApproval ? "Runs after an approver says yes." : ""), " ",
      h("span", { class: "muted", id: "tool-category" }, tool.category ? `· ${tool.category}` : ""),
      " ", h("code", { class: "muted tool-name", title: "The tool's name, for /tool-name commands and the API" }, tool.name)),
    form);
  section.querySelector("h1").id = "tool-title";
  section.prepend(h("p", { class: "back" }, h("a", { href: "#/" }, "← All tools")));
  view.replaceChildren(section);
}
