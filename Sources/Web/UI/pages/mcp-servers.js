// External MCP servers (system administrators): connect one (from a template or by hand),
// see its connection state and last error, review its tools with a risk for each, and import
// them as a tool pack; when the server's tools change, the differences wait here for review.
import { api, problemText } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { submitForm } from "../lib/forms.js";
import { plural, when } from "../lib/format.js";
import { emptyState, field, formMessages, panel, refused } from "../lib/page.js";
import { toast } from "../components/toast.js";

const RISKS = ["read", "low", "medium", "high", "destructive"];
const STATES = {
  unknown: "not contacted yet", connected: "connected", unreachable: "unreachable", refused: "credential refused", failing: "answering with errors",
};
const idPart = (text) => String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-");

export async function render(view, context) {
  const [listed, templates] = await Promise.all([api("GET", "/api/mcp-servers"), api("GET", "/api/mcp-servers/templates")]);
  if (!listed.ok) return refused(view, listed);
  const chosen = context.params.name;
  if (chosen) {
    const server = listed.body.servers.find((candidate) => candidate.name === chosen);
    if (!server) return refused(view, { status: 404, body: { title: "No such MCP server" } });
    return view.replaceChildren(review(server, view));
  }
  view.replaceChildren(panel("page-mcp-servers", "MCP servers",
    h("p", { class: "muted" }, "Connect the MCP servers your teams already use; their tools become a tool pack, run under the portal's roles, approvals and audit."),
    serverList(listed.body.servers),
    connectForm(templates.ok ? templates.body.templates : [])));
}

/** Each server with its state; a link to review its tools. */
function serverList(servers) {
  if (servers.length === 0) return emptyState("No MCP server is connected yet. Connect one below.");
  return h("ul", { class: "mcp-servers", id: "mcp-servers" }, servers.map((server) => h("li", { "data-server": server.name },
    h("a", { href: `#/admin/mcp-servers/${encodeURIComponent(server.name)}` }, server.title), " ", h("code", { class: "muted" }, server.name), " ",
    stateTag(server),
    server.changes.length ? h("span", { class: "tag" }, `${plural(server.changes.length, "change")} to review`) : null,
    server.lastError ? h("p", { class: "error" }, `Last error ${when(server.lastErrorAt)}: ${server.lastError}`) : null)));
}

function stateTag(server) {
  return h("span", { class: `tag state-${server.state}`, "data-state": server.state }, STATES[server.state] || server.state);
}

/** Connecting a server: a template fills the address and the header. */
function connectForm(templates) {
  const template = h("select", { id: "mcp-template", name: "template" }, h("option", { value: "" }, "None (any MCP server)"),
    templates.map((item) => h("option", { value: item.name }, item.title)));
  const name = h("input", { id: "mcp-name", name: "name", required: true, pattern: "[a-z0-9-]{1,32}", autocomplete: "off", spellcheck: "false" });
  const url = h("input", { id: "mcp-url", name: "url", type: "url", required: true, placeholder: "https://mcp.example.com/mcp", spellcheck: "false" });
  const header = h("input", { id: "mcp-header", name: "credentialHeader", placeholder: "Authorization", autocomplete: "off", spellcheck: "false" });
  const credential = h("input", { id: "mcp-credential", name: "credential", type: "password", autocomplete: "new-password" });
  const executable = h("input", { id: "mcp-executable", name: "executable", autocomplete: "off", spellcheck: "false" });
  const argumentsText = h("textarea", { id: "mcp-arguments", name: "arguments", rows: 3, spellcheck: "false" });
  const variable = h("input", { id: "mcp-variable", name: "credentialVariable", placeholder: "GITHUB_TOKEN", autocomplete: "off", spellcheck: "false" });
  // A local server needs no endpoint; a remote one no program.
  executable.addEventListener("input", () => { url.required = executable.value.trim() === ""; });
  const timeout = h("input", { id: "mcp-timeout", name: "timeoutSeconds", type: "number", min: 1, max: 3600, placeholder: "30" });
  const help = h("p", { class: "field-hint", id: "mcp-template-help" });
  template.addEventListener("change", () => {
    const picked = templates.find((item) => item.name === template.value);
    help.textContent = picked ? `${picked.setup} Credential: ${picked.credentialFormat}.` : "";
    if (!picked) return;
    name.value ||= picked.name;
    url.value = picked.url;
    header.value = picked.credentialHeader;
  });
  const form = h("form", { id: "mcp-connect" },
    h("h2", {}, "Connect a server"),
    field("Template", template), help,
    field("Name (becomes the pack's name)", name, { hint: "Lowercase letters, digits and '-'.", errorFor: "name" }),
    field("MCP endpoint (streamable HTTP)", url, { errorFor: "url" }),
    field("Credential header", header, { hint: "Leave empty for a server that needs none.", errorFor: "credentialHeader" }),
    h("details", {}, h("summary", {}, "Or a local server, spoken to over stdio"),
      field("Program", executable, { hint: "An allowed executable (tools.allowed_executables), found on the tools path; leave the endpoint empty.", errorFor: "command" }),
      field("Arguments, one per line", argumentsText),
      field("Environment variable for the credential", variable, { errorFor: "credentialVariable" })),
    field("Credential", credential, { hint: "Sealed on the portal; never shown again.", errorFor: "credential" }),
    field("Time limit of a call (seconds)", timeout, { hint: "Empty: the template's, else 30.", errorFor: "timeoutSeconds" }),
    h("button", { type: "submit" }, "Connect and list tools"), ...formMessages("mcp-connect"));
  submitForm(form, () => {
    const body = { name: name.value.trim() };
    if (timeout.value) body.timeoutSeconds = Number(timeout.value);
    if (executable.value.trim()) {
      body.command = { executable: executable.value.trim(), arguments: argumentsText.value.split("\n").filter((line) => line !== "") };
      if (variable.value.trim()) body.credentialVariable = variable.value.trim();
    } else {
      body.url = url.value.trim();
      if (header.value.trim()) body.credentialHeader = header.value.trim();
    }
    if (template.value) body.template = template.value;
    if (credential.value) body.credential = credential.value;
    return api("POST", "/api/mcp-servers", body);
  }, (server) => {
    toast(`Connected ${server.title}: ${plural(server.tools.length, "tool")} to review.`, { kind: "ok" });
    location.hash = `#/admin/mcp-servers/${encodeURIComponent(server.name)}`;
  });
  return form;
}

/** One server: state, last error, its tools with a risk each, import. */
function review(server, view) {
  const rows = server.tools.map((tool) => {
    const id = `mcp-tool-${idPart(tool.name)}`;
    const include = h("input", { type: "checkbox", id: `${id}-include`, class: "mcp-include", "data-tool": tool.name, props: { checked: tool.include } });
    const risk = h("select", { id: `${id}-risk`, class: "mcp-risk", "data-tool": tool.name, "aria-label": `Risk of ${tool.name}` },
      RISKS.filter((level) => RISKS.indexOf(level) >= RISKS.indexOf(tool.riskFloor))
        .map((level) => h("option", { value: level, props: { selected: level === tool.risk } }, level)));
    const notes = [
      tool.readOnly ? "read-only" : tool.destructive === false ? "not destructive" : "may be destructive",
      tool.checkedByServerOnly ? "part of its input is checked by the server only" : null,
    ].filter(Boolean).join("; ");
    return h("tr", { "data-tool": tool.name, "data-change": tool.change || "" },
      h("td", {}, include),
      h("th", { scope: "row" }, h("label", { for: `${id}-include` }, tool.title || tool.name), " ", h("code", { class: "muted" }, tool.catalogName),
        tool.change ? h("span", { class: "tag" }, tool.change) : null, h("br"), h("span", { class: "muted" }, tool.description || "")),
      h("td", {}, notes),
      h("td", {}, risk));
  });
  const removed = server.changes.filter((change) => change.change === "removed");
  const form = h("form", { id: "mcp-import" },
    h("table", { class: "data-table" },
      h("caption", {}, `Tools ${server.title} lists`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Import"), h("th", { scope: "col" }, "Tool"), h("th", { scope: "col" }, "Server says"), h("th", { scope: "col" }, "Risk"))),
      h("tbody", {}, rows)),
    removed.length ? h("p", { class: "muted" }, `Gone from the server since the last review: ${removed.map((change) => change.tool).join(", ")}.`) : null,
    h("p", { class: "field-hint" }, "A tool its server does not mark read-only gets medium risk or higher. Importing replaces the pack with exactly the ticked tools."),
    h("button", { type: "submit" }, server.imported ? "Import the reviewed tools" : "Import as a tool pack"), ...formMessages("mcp-import"));
  submitForm(form, () => {
    const tools = [...form.querySelectorAll("input.mcp-include:checked")].map((box) => ({
      name: box.dataset.tool, risk: form.querySelector(`select.mcp-risk[data-tool="${CSS.escape(box.dataset.tool)}"]`).value,
    }));
    return api("POST", `/api/mcp-servers/${encodeURIComponent(server.name)}/import`, { tools, listing: server.listing });
  }, (updated) => {
    toast(`Imported ${plural(updated.tools.filter((tool) => tool.imported).length, "tool")} as the pack ${updated.name}; enable it on the Tool packs page.`, { kind: "ok" });
    view.replaceChildren(review(updated, view));
  });
  const disconnect = h("button", { type: "button", id: "mcp-disconnect", class: "danger" }, "Disconnect");
  disconnect.addEventListener("click", async () => {
    if (!confirm(`Disconnect ${server.title}? Its tools leave every organization's catalog and its credential is deleted.`)) return;
    const answer = await api("DELETE", `/api/mcp-servers/${encodeURIComponent(server.name)}`);
    if (!answer.ok) checkError.textContent = problemText(answer);
    else {
      toast(`Disconnected ${server.title}.`, { kind: "ok" });
      location.hash = "#/admin/mcp-servers";
    }
  });
  const check = h("button", { type: "button", id: "mcp-refresh" }, "List tools again");
  const checkError = h("p", { class: "error", role: "alert" });
  check.addEventListener("click", async () => {
    check.disabled = true;
    const answer = await api("POST", `/api/mcp-servers/${encodeURIComponent(server.name)}/refresh`);
    check.disabled = false;
    if (!answer.ok) checkError.textContent = problemText(answer);
    else view.replaceChildren(review(answer.body, view));
  });
  return panel("page-mcp-server", server.title,
    h("p", {}, h("a", { href: "#/admin/mcp-servers" }, "All MCP servers")),
    h("dl", { class: "facts" },
      h("dt", {}, server.command ? "Program (stdio)" : "Endpoint"),
      h("dd", {}, h("code", {}, server.command ? [server.command.executable, ...server.command.arguments].join(" ") : server.url)),
      h("dt", {}, "State"), h("dd", { id: "mcp-state" }, stateTag(server), server.server ? ` (${server.server})` : ""),
      h("dt", {}, "Credential"), h("dd", {}, server.hasCredential ? `sealed, sent in ${server.credentialHeader || `the variable ${server.credentialVariable}`}` : "none"),
      h("dt", {}, "Tools listed"), h("dd", {}, server.listedAt ? when(server.listedAt) : "never"),
      server.lastError ? [h("dt", {}, "Last error"), h("dd", { id: "mcp-last-error", class: "error" }, `${when(server.lastErrorAt)}: ${server.lastError}`)] : null),
    server.changes.length ? h("p", { role: "status", id: "mcp-changes" }, `The server's tools changed since the last review: ${server.changes.map((change) => `${change.tool} (${change.change})`).join(", ")}. Review and import again to apply them.`) : null,
    h("p", {}, check, " ", disconnect), checkError,
    server.tools.length ? form : emptyState("The server lists no tools (or could not be reached)."));
}
