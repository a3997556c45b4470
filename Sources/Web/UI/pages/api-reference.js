// The API v1 reference, rendered from the portal's own OpenAPI document (/api/v1/openapi.json):
// the conventions, every operation grouped by tag with who may call it, its parameters, and an
// example request and answer; then the problem types, each with its own address
// (#/api/problems/<type>), which is what a problem's `type` URI opens.
import { api } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { copyButton } from "../lib/format.js";
import { panel, refused } from "../lib/page.js";

export async function render(view, context) {
  const result = await api("GET", "/api/v1/openapi.json");
  if (!result.ok) return refused(view, result);
  const documentBody = result.body;
  const byTag = new Map((documentBody.tags || []).map((tag) => [tag.name, []]));
  for (const [path, operations] of Object.entries(documentBody.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const tag = (operation.tags || ["Other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, operation });
    }
  }
  const contents = h("nav", { "aria-label": "API sections", class: "api-contents" },
    h("ul", {}, ...[...byTag.keys()].map((tag) => h("li", {}, h("a", { href: `#/api/tags/${encodeURIComponent(tag)}` }, tag))),
      h("li", {}, h("a", { href: "#/api/problems" }, "Problem types"))));
  const sections = [...byTag.entries()].filter(([, operations]) => operations.length).map(([tag, operations]) =>
    h("section", { class: "api-tag", id: `api-tag-${slug(tag)}`, "aria-labelledby": `api-tag-${slug(tag)}-title` },
      h("h2", { id: `api-tag-${slug(tag)}-title`, tabindex: "-1" }, tag),
      ...operations.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method)).map(operationView)));
  const problems = h("section", { class: "api-problems", id: "api-problems", "aria-labelledby": "api-problems-title" },
    h("h2", { id: "api-problems-title", tabindex: "-1" }, "Problem types"),
    h("p", {}, "Every error is an RFC 9457 problem-details document (application/problem+json). Branch on its type, never on the text:"),
    h("dl", {}, ...(documentBody["x-problem-types"] || []).flatMap((problem) => {
      const name = problem.type.split("/").pop();
      return [h("dt", { id: `problem-${name}`, tabindex: "-1" }, h("code", {}, name), ` (${problem.status})`), h("dd", {}, problem.description)];
    })));
  view.replaceChildren(panel("page-api", "API reference",
    h("p", { class: "muted" }, `Version ${documentBody.info.version}. The machine-readable document: `,
      h("a", { href: "/api/v1/openapi.json" }, "/api/v1/openapi.json"), " (OpenAPI 3.1)."),
    h("p", {}, documentBody.info.description),
    h("p", {}, "Authenticate with an API key: ", h("code", {}, "Authorization: Bearer pk_…"), " (create one under Administration → API keys)."),
    contents, ...sections, problems));
  // `#/api/problems/<type>` and `#/api/tags/<tag>` open the page at that entry.
  const target = context.params.problem ? `problem-${context.params.problem}` : context.params.tag ? `api-tag-${slug(context.params.tag)}-title`
    : location.hash.startsWith("#/api/problems") ? "api-problems-title" : null;
  // Once the page is shown (after the shell focuses its heading).
  if (target) setTimeout(() => {
    const element = document.getElementById(target);
    if (!element) return;
    element.scrollIntoView();
    element.focus();
  });
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

function operationView({ path, method, operation }) {
  const parameters = operation.parameters || [];
  const body = operation.requestBody?.content?.["application/json"];
  const responses = Object.entries(operation.responses || {}).filter(([status]) => status !== "default");
  return h("details", { class: "api-operation", id: `op-${operation.operationId}-${method}` },
    h("summary", {}, h("span", { class: `api-method api-${method}` }, method.toUpperCase()), " ", h("code", {}, path), " ",
      h("span", { class: "muted" }, operation.summary)),
    h("p", {}, "Who may call it: ", h("strong", {}, accessText(operation["x-portal-access"]))),
    parameters.length ? h("table", { class: "api-parameters" },
      h("caption", {}, "Parameters"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "In"), h("th", { scope: "col" }, "Type"), h("th", { scope: "col" }, "Description"))),
      h("tbody", {}, ...parameters.map((parameter) => h("tr", {},
        h("td", {}, h("code", {}, parameter.name), parameter.required ? " (required)" : ""), h("td", {}, parameter.in),
        h("td", {}, typeText(parameter.schema)), h("td", {}, parameter.description || ""))))) : null,
    h("h3", {}, "Example request"),
    codeBlock(curl(method, path, parameters, body?.example)),
    ...responses.map(([status, response]) => {
      const media = Object.entries(response.content || {})[0];
      return h("div", { class: "api-response" }, h("h3", {}, `Answer ${status}: ${response.description}`),
        media && media[1].example !== undefined ? codeBlock(JSON.stringify(media[1].example, null, 2)) : media ? h("p", { class: "muted" }, media[0]) : null);
    }),
    h("p", { class: "muted" }, "Errors: a problem-details document (see ", h("a", { href: "#/api/problems" }, "problem types"), ")."));
}

function accessText(access) {
  if (!access || access === "public") return "anyone";
  if (access === "authenticated") return "anyone signed in";
  if (access === "system-administrator") return "system administrators";
  return `the ${access.replace(/^permission:/, "")} permission`;
}

function typeText(schema) {
  if (!schema) return "";
  if (schema.enum) return schema.enum.join(" | ");
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : String(schema.type || "");
  return schema.format ? `${type} (${schema.format})` : type;
}

/** A curl command line for the operation, with placeholders for path parameters. */
function curl(method, path, parameters, example) {
  const address = path.replace(/\{([^}]+)\}/g, (_, name) => `<${name}>`);
  const lines = [`curl -X ${method.toUpperCase()} "${location.origin}${address}"`, `  -H "Authorization: Bearer $PORTAL_TOKEN"`];
  if (parameters.some((parameter) => parameter.name === "Idempotency-Key")) lines.push(`  -H "Idempotency-Key: $(uuidgen)"`);
  if (example !== undefined) lines.push(`  -H "Content-Type: application/json"`, `  -d '${JSON.stringify(example)}'`);
  return lines.join(" \\\n");
}

function codeBlock(text) {
  return h("div", { class: "code-block" }, h("pre", {}, h("code", {}, text)), copyButton(text));
}
