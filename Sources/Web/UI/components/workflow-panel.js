// <workflow-panel>: the designer's properties panel. With a step selected it edits the step
// (id, title, the type's settings from the published schema, time limit, retries, failure
// action, connections); with an edge selected it removes it; with nothing selected it edits
// the workflow (name, title, description, inputs, outputs, variables, concurrency, triggers).
import "./schema-form.js";
import { h } from "../lib/dom.js";
import { field } from "../lib/page.js";
import { configSchema, edgeKey, isStepID, portOf, portsOf, stepType } from "./workflow-model.js";

const FAILURE_ACTIONS = [["stop", "Stop the run"], ["continue", "Go on by its next port"], ["handler", "Go on by its error port"]];

/** Text as JSON: `{ value }`, or `{ error }` saying why it is not (or not of `kind`). */
function parseJSON(text, kind) {
  if (text.trim() === "") return { value: kind === "array" ? [] : {} };
  let value;
  try { value = JSON.parse(text); } catch (error) { return { error: `Not valid JSON: ${error.message}` }; }
  if (kind === "array" && !Array.isArray(value)) return { error: "Must be a JSON array ([…])." };
  if (kind === "object" && (value === null || typeof value !== "object" || Array.isArray(value))) return { error: "Must be a JSON object ({…})." };
  return { value };
}

const pretty = (value) => JSON.stringify(value ?? {}, null, 2);

/** The panel field a problem belongs to: `config.expression`, `retry.attempts`, `title`, … */
function fieldKey(problemField) {
  if (!problemField) return null;
  if (problemField.startsWith("config.")) return `config.${problemField.slice(7).split(/[.[]/)[0]}`;
  if (problemField.startsWith("retry.")) return problemField.split(/[[]/)[0];
  return problemField.split(/[.[]/)[0];
}

/**
 * `<workflow-panel>` guarantees: a heading `h2#wf-panel-heading` ("Step <id>", "Connection"
 * or "Workflow") and labelled controls with stable ids: for a step `#wf-node-id`,
 * `#wf-node-title`, `#wf-node-type` (read-only), its settings (`#wf-config-tool` and
 * `#wf-config-input` for a tool step, else the `<schema-form>` fields `#wf-config-<name>`),
 * `#wf-node-timeout`, `#wf-node-retry-attempts`, `#wf-node-retry-backoff`,
 * `#wf-node-retry-multiplier`, `#wf-node-on-failure`, the connections (`[data-remove-edge]`
 * buttons, `#wf-connect-port`, `#wf-connect-target`, `#wf-connect`) and `#wf-node-remove`;
 * for an edge `#wf-edge-remove`; for the workflow `#wf-name` (editable only while `isNew`),
 * `#wf-title`, `#wf-description`, `#wf-inputs`, `#wf-outputs`, `#wf-variables`,
 * `#wf-concurrency-limit`, `#wf-concurrency-overflow`, `#wf-triggers`. Each field has an
 * error slot `[data-error-for=<field>]` (`id`, `title`, `config.<name>`, `timeoutSeconds`,
 * `retry.attempts`, `onFailure`, `edges`, `connect`, `name`, `inputs`, …) showing what is
 * wrong as it is typed (JSON that does not parse, numbers out of range) and the problems given
 * for that field; problems of the step that name no field are listed at the top
 * (`#wf-panel-problems`).
 *
 * It redraws only when what it shows changed (another step selected, undo), so typing keeps
 * the focus. Every edit is offered as a `definition-change` event (`detail.definition`, a
 * changed copy; `detail.mergeKey`, the same for keystrokes in one field, so an undo takes back
 * a whole word; `detail.selection` when the edit changes it: a step renamed or removed). The
 * edge's "Select <step>" button dispatches `selection-change` (`detail.selection`).
 *
 * Properties: schema (the published definition schema), tools ([{name, title, description,
 * inputSchema}]), workflows (names, offered for sub-workflow fields), readOnly, isNew.
 * Methods: update({definition, selection, problems}), focusHeading().
 */
class WorkflowPanel extends HTMLElement {
  schema = null;
  tools = [];
  workflows = [];
  readOnly = false;
  isNew = false;
  #definition = null;
  #selection = null;
  #problems = [];
  #shown = null;             // what the panel shows, as drawn (a signature)
  #local = new Map();        // field → what is wrong with its text as typed
  #slots = new Map();        // field → { error, control }
  #status = null;
  #unplaced = null;

  /** Shows `definition` with `selection` (redrawn only when what the panel shows changed) and
   *  puts `problems` ([{node, field, message}]) beside their fields. */
  update({ definition = this.#definition, selection = this.#selection, problems = this.#problems }) {
    this.#definition = definition;
    this.#selection = this.#valid(selection);
    this.#problems = problems;
    if (this.#signature() !== this.#shown) this.#render();
    else this.#showMessages();
  }

  /** Moves focus to the panel's heading. */
  focusHeading() {
    this.querySelector("#wf-panel-heading")?.focus();
  }

  /** The selection, or null when its step or edge is gone. */
  #valid(selection) {
    if (!selection || !this.#definition) return null;
    if (selection.node) return this.#definition.nodes.some((node) => node.id === selection.node) ? selection : null;
    if (selection.edge) return this.#definition.edges.some((edge) => edgeKey(edge) === edgeKey(selection.edge)) ? selection : null;
    return null;
  }

  #node() {
    return this.#selection && this.#selection.node ? this.#definition.nodes.find((node) => node.id === this.#selection.node) : null;
  }

  /** What the panel draws, as one string: a change to anything else redraws nothing. */
  #signature() {
    const definition = this.#definition;
    if (!definition) return "";
    const node = this.#node();
    if (node) {
      const shown = { ...node };
      delete shown.position;
      const edges = definition.edges.filter((edge) => edge.from === node.id || edge.to === node.id).map(edgeKey);
      return JSON.stringify(["node", shown, edges, definition.nodes.map((other) => [other.id, other.title]), this.readOnly]);
    }
    if (this.#selection && this.#selection.edge) return JSON.stringify(["edge", edgeKey(this.#selection.edge), this.readOnly]);
    const { name, title, description, inputs, outputs, variables, concurrency, triggers } = definition;
    return JSON.stringify(["workflow", name, title, description, inputs, outputs, variables, concurrency, triggers, this.readOnly, this.isNew]);
  }

  // ---- Drawing -------------------------------------------------------------------------------

  #render() {
    const focused = this.contains(document.activeElement) ? document.activeElement.id : null;
    this.#slots.clear();
    this.#local.clear();
    this.#status = h("p", { class: "visually-hidden", role: "status" });
    this.#unplaced = h("ul", { class: "wf-panel-problems", id: "wf-panel-problems" });
    const node = this.#node();
    let heading, content;
    if (node) [heading, content] = [`Step ${node.id}`, this.#nodeFields(node)];
    else if (this.#selection && this.#selection.edge) [heading, content] = ["Connection", this.#edgeFields(this.#selection.edge)];
    else [heading, content] = ["Workflow", this.#workflowFields()];
    const form = h("form", { class: "wf-panel-form", novalidate: true, "aria-labelledby": "wf-panel-heading", on: { submit: (event) => event.preventDefault() } },
      h("fieldset", { class: "wf-plain", disabled: this.readOnly }, h("legend", { class: "visually-hidden" }, heading), content));
    this.replaceChildren(h("h2", { id: "wf-panel-heading", tabindex: "-1" }, heading), this.#unplaced, form, this.#status);
    this.#shown = this.#signature();
    this.#showMessages();
    if (focused) this.querySelector(`#${CSS.escape(focused)}`)?.focus();
  }

  /** A labelled control whose error slot shows the messages about `key`. */
  #field(label, control, key, hint) {
    const wrapper = field(label, control, { hint, errorFor: key });
    this.#slots.set(key, { error: wrapper.querySelector("[data-error-for]"), control });
    return wrapper;
  }

  #showMessages() {
    const node = this.#node();
    const scope = node ? node.id : null;
    const edgeShown = Boolean(this.#selection && this.#selection.edge);
    const mine = edgeShown ? [] : this.#problems.filter((problem) => problem.node === scope);
    const placed = new Set();
    for (const [key, { error, control }] of this.#slots) {
      const messages = mine.filter((problem) => fieldKey(problem.field) === key);
      messages.forEach((problem) => placed.add(problem));
      const text = this.#local.get(key) || messages.map((problem) => (problem.field && problem.field !== key ? `${problem.field}: ${problem.message}` : problem.message)).join(" ");
      error.textContent = text;
      if (!control) continue;
      if (text) control.setAttribute("aria-invalid", "true"); else control.removeAttribute("aria-invalid");
    }
    this.#unplaced.replaceChildren(...mine.filter((problem) => !placed.has(problem)).map((problem) => h("li", { class: "error" }, problem.field ? `${problem.field}: ${problem.message}` : problem.message)));
    this.#unplaced.hidden = this.#unplaced.children.length === 0;
  }

  /** Offers a changed copy of the definition (with the selection that goes with it, when
   *  given); `redraw` when the panel's own controls change. */
  #emit(mutate, mergeKey, { redraw = false, message = "", selection } = {}) {
    const next = structuredClone(this.#definition);
    mutate(next);
    this.#definition = next;
    const detail = { definition: next, mergeKey };
    if (selection !== undefined) {
      this.#selection = selection;
      detail.selection = selection;
    }
    if (redraw) this.#render(); else this.#shown = this.#signature();
    if (message) this.#status.textContent = message;
    this.dispatchEvent(new CustomEvent("definition-change", { detail }));
  }

  #select(selection) {
    this.dispatchEvent(new CustomEvent("selection-change", { detail: { selection } }));
  }

  /** Marks `key`'s text as wrong (or right again) as it is typed. */
  #setLocal(key, message) {
    if (message) this.#local.set(key, message); else this.#local.delete(key);
    this.#showMessages();
  }

  /** Changes the selected step (found again by id in the copy). */
  #editNode(id, change, mergeKey, options) {
    this.#emit((definition) => change(definition.nodes.find((node) => node.id === id), definition), mergeKey, options);
  }

  /** The connect control's ports again, after a change of the switch's cases. */
  #syncPorts() {
    const select = this.querySelector("#wf-connect-port");
    const node = this.#node();
    if (!select || !node) return;
    const ports = portsOf(node);
    if (ports.join() === [...select.options].map((option) => option.value).join()) return;
    const chosen = select.value;
    select.replaceChildren(...ports.map((name) => h("option", { value: name, selected: name === chosen }, name)));
  }

  // ---- A step --------------------------------------------------------------------------------

  #nodeFields(node) {
    const type = stepType(node.type);
    const id = h("input", { id: "wf-node-id", autocomplete: "off", spellcheck: "false", maxlength: 64, props: { value: node.id } });
    id.addEventListener("change", () => this.#rename(node.id, id.value.trim()));
    const title = h("input", { id: "wf-node-title", autocomplete: "off", maxlength: 200, props: { value: node.title || "" } });
    title.addEventListener("input", () => this.#editNode(node.id, (target) => {
      if (title.value) target.title = title.value; else delete target.title;
    }, `title:${node.id}`));
    const typeField = h("input", { id: "wf-node-type", readonly: true, props: { value: `${type.label} (${node.type})` } });
    return [
      h("p", { class: "muted wf-type-description" }, type.description),
      this.#field("Step id", id, "id", "Lower-case letters, digits and '_'; expressions read it as steps.<id>. Renaming keeps its connections."),
      this.#field("Title", title, "title"),
      field("Type", typeField),
      this.#configFields(node),
      this.#commonFields(node),
      this.#connectionFields(node),
      h("div", { class: "form-actions" }, h("button", { type: "button", class: "danger", id: "wf-node-remove", on: { click: () => this.#removeNode(node.id) } }, "Remove step")),
    ];
  }

  #rename(from, to) {
    if (to === from) return this.#setLocal("id", "");
    if (!isStepID(to)) return this.#setLocal("id", "A step id is 1 to 64 lower-case letters, digits and '_', starting with a letter.");
    if (this.#definition.nodes.some((node) => node.id === to)) return this.#setLocal("id", `Another step is called ${to}.`);
    this.#emit((definition) => {
      definition.nodes.find((node) => node.id === from).id = to;
      for (const edge of definition.edges) {
        if (edge.from === from) edge.from = to;
        if (edge.to === from) edge.to = to;
      }
    }, null, { redraw: true, selection: { node: to } });
  }

  #removeNode(id) {
    this.#emit((definition) => {
      definition.nodes = definition.nodes.filter((node) => node.id !== id);
      definition.edges = definition.edges.filter((edge) => edge.from !== id && edge.to !== id);
    }, null, { redraw: true, selection: null, message: `Removed step ${id}.` });
    this.focusHeading();
  }

  /** The type's settings: a tool chooser and a JSON input for tools, else a schema form. */
  #configFields(node) {
    const { schema, expressions, workflowFields } = configSchema(this.schema, node.type);
    const legend = h("legend", {}, schema.title || "Settings");
    if (node.type === "tool") return h("fieldset", { class: "wf-config" }, legend, this.#toolFields(node));
    // Required settings first (the server sends the properties in alphabetical order).
    const required = new Set(schema.required || []);
    const names = Object.keys(schema.properties || {});
    schema.properties = Object.fromEntries([...names.filter((name) => required.has(name)), ...names.filter((name) => !required.has(name))].map((name) => [name, schema.properties[name]]));
    const properties = schema.properties;
    if (Object.keys(properties).length === 0) return h("fieldset", { class: "wf-config" }, legend, h("p", { class: "muted" }, "This step has no settings."));
    const config = node.config || {};
    for (const [name, property] of Object.entries(properties)) {
      if (config[name] !== undefined) property.default = config[name];
      if (expressions.has(name) && !property.description) property.description = "An expression over inputs, vars, steps.<id> and run, without {{ }}.";
    }
    const form = h("schema-form", { class: "wf-config-form" });
    form.idPrefix = "wf-config";
    form.schema = schema;
    for (const control of form.querySelectorAll("[data-field]")) {
      const name = control.dataset.field;
      const key = `config.${name}`;
      const error = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
      error.dataset.errorFor = key;  // one naming for every slot of the panel
      this.#slots.set(key, { error, control });
      if (workflowFields.has(name)) control.setAttribute("list", "wf-workflow-names");
      if (control.tagName === "TEXTAREA") control.rows = Math.min(10, Math.max(3, control.value.split("\n").length));
    }
    const onEdit = (event) => {
      const control = event.target.closest("[data-field]");
      if (!control) return;
      const name = control.dataset.field;
      if (control.tagName === "TEXTAREA") {
        const { error } = parseJSON(control.value, control.dataset.type);
        this.#setLocal(`config.${name}`, control.value.trim() === "" ? "" : error);
        if (error && control.value.trim() !== "") return;
      }
      const values = form.values();
      // A JSON field that does not parse keeps its last good value until it does.
      for (const other of form.querySelectorAll("textarea[data-field]")) {
        const key = other.dataset.field;
        if (!this.#local.has(`config.${key}`)) continue;
        if (config[key] === undefined) delete values[key]; else values[key] = config[key];
      }
      this.#editNode(node.id, (target) => { target.config = values; }, `config:${node.id}:${name}`);
      this.#syncPorts();
    };
    form.addEventListener("input", onEdit);
    form.addEventListener("change", onEdit);
    return h("fieldset", { class: "wf-config" }, legend,
      workflowFields.size ? h("datalist", { id: "wf-workflow-names" }, this.workflows.map((name) => h("option", { value: name }))) : null,
      form);
  }

  #toolFields(node) {
    const config = node.config || {};
    const known = this.tools.some((tool) => tool.name === config.tool);
    const select = h("select", { id: "wf-config-tool" },
      h("option", { value: "" }, "Choose a tool"),
      config.tool && !known ? h("option", { value: config.tool, selected: true }, `${config.tool} (not in this organization's catalog)`) : null,
      this.tools.map((tool) => h("option", { value: tool.name, selected: tool.name === config.tool }, `${tool.title} (${tool.name})`)));
    const input = h("textarea", { id: "wf-config-input", rows: 6, spellcheck: "false" });
    input.value = pretty(config.input);
    const about = h("div", { class: "field-hint wf-tool-fields", id: "wf-tool-fields" });
    const fill = h("button", { type: "button", class: "quiet", id: "wf-config-input-fill" }, "Add the tool's fields");
    const describe = () => {
      const tool = this.tools.find((candidate) => candidate.name === select.value);
      const properties = (tool && tool.inputSchema && tool.inputSchema.properties) || {};
      const required = new Set((tool && tool.inputSchema && tool.inputSchema.required) || []);
      const names = Object.keys(properties);
      about.textContent = !tool ? "" : names.length
        ? `${tool.description} Its fields: ${names.map((name) => `${name} (${properties[name].type || "any"}${required.has(name) ? ", required" : ""})`).join(", ")}.`
        : `${tool.description} It takes no input.`;
      fill.hidden = names.length === 0;
    };
    select.addEventListener("change", () => {
      describe();
      this.#editNode(node.id, (target) => { target.config = { ...target.config, tool: select.value }; if (!select.value) delete target.config.tool; }, null);
    });
    const editInput = (text) => {
      const { value, error } = parseJSON(text, "object");
      this.#setLocal("config.input", error);
      if (error) return;
      this.#editNode(node.id, (target) => {
        target.config = { ...target.config, input: value };
        if (Object.keys(value).length === 0) delete target.config.input;
      }, `input:${node.id}`);
    };
    input.addEventListener("input", () => editInput(input.value));
    fill.addEventListener("click", () => {
      const tool = this.tools.find((candidate) => candidate.name === select.value);
      const { value, error } = parseJSON(input.value, "object");
      if (!tool || error) return this.#setLocal("config.input", error || "Choose a tool first.");
      for (const [name, property] of Object.entries((tool.inputSchema && tool.inputSchema.properties) || {})) if (!(name in value)) value[name] = property.default ?? "";
      input.value = pretty(value);
      editInput(input.value);
    });
    describe();
    return [
      this.#field("Tool", select, "config.tool"),
      this.#field("Input (JSON object)", input, "config.input", "Strings may hold {{ expressions }}, such as {{ inputs.path }} or {{ steps.check.output }}."),
      about, fill,
    ];
  }

  /** Time limit, retries and what a failure does: every step has them. */
  #commonFields(node) {
    const number = (id, value, attributes = {}) => h("input", { id, type: "number", inputmode: "decimal", ...attributes, props: { value: value ?? "" } });
    const timeout = number("wf-node-timeout", node.timeoutSeconds, { min: 1, max: 2592000, step: 1 });
    const attempts = number("wf-node-retry-attempts", node.retry?.attempts, { min: 1, max: 10, step: 1 });
    const backoff = number("wf-node-retry-backoff", node.retry?.backoffSeconds, { min: 0, max: 3600, step: "any", placeholder: "0" });
    const multiplier = number("wf-node-retry-multiplier", node.retry?.multiplier, { min: 1, max: 10, step: "any", placeholder: "2" });
    const failure = h("select", { id: "wf-node-on-failure" }, FAILURE_ACTIONS.map(([value, label]) => h("option", { value, selected: (node.onFailure || "stop") === value }, label)));

    /** A number typed in `control`, within [low, high]: `{ value }` (undefined when empty) or `{ error }`. */
    const read = (control, low, high, whole) => {
      if (control.value.trim() === "") return { value: undefined };
      const value = Number(control.value);
      if (!Number.isFinite(value) || value < low || value > high || (whole && !Number.isInteger(value))) return { error: `Must be ${whole ? "a whole number" : "a number"} from ${low} to ${high}.` };
      return { value };
    };
    timeout.addEventListener("input", () => {
      const { value, error } = read(timeout, 1, 2592000, true);
      this.#setLocal("timeoutSeconds", error);
      if (!error) this.#editNode(node.id, (target) => { if (value === undefined) delete target.timeoutSeconds; else target.timeoutSeconds = value; }, `timeout:${node.id}`);
    });
    const editRetry = () => {
      const parts = { attempts: read(attempts, 1, 10, true), backoffSeconds: read(backoff, 0, 3600, false), multiplier: read(multiplier, 1, 10, false) };
      for (const [name, part] of Object.entries(parts)) this.#setLocal(`retry.${name}`, part.error);
      if (Object.values(parts).some((part) => part.error)) return;
      this.#editNode(node.id, (target) => {
        if (parts.attempts.value === undefined) return delete target.retry;
        target.retry = { attempts: parts.attempts.value, backoffSeconds: parts.backoffSeconds.value ?? 0 };
        if (parts.multiplier.value !== undefined) target.retry.multiplier = parts.multiplier.value;
      }, `retry:${node.id}`);
    };
    for (const control of [attempts, backoff, multiplier]) control.addEventListener("input", editRetry);
    failure.addEventListener("change", () => this.#editNode(node.id, (target, definition) => {
      if (failure.value === "stop") delete target.onFailure; else target.onFailure = failure.value;
      // Without the handler action the error port goes, and the edges leaving by it.
      if (failure.value !== "handler") definition.edges = definition.edges.filter((edge) => !(edge.from === node.id && portOf(edge) === "error"));
    }, null, { redraw: true }));
    return h("fieldset", { class: "wf-common" }, h("legend", {}, "Time limit and failures"),
      this.#field("Time limit (seconds)", timeout, "timeoutSeconds", "Attempts included. Empty: the type's default."),
      h("div", { class: "wf-field-row" },
        this.#field("Attempts", attempts, "retry.attempts", "Empty: no retry."),
        this.#field("First wait (s)", backoff, "retry.backoffSeconds"),
        this.#field("Wait multiplier", multiplier, "retry.multiplier")),
      this.#field("If it still fails", failure, "onFailure"));
  }

  /** The edges leaving and reaching the step, and the keyboard's way to add one. */
  #connectionFields(node) {
    const outgoing = this.#definition.edges.filter((edge) => edge.from === node.id);
    const incoming = this.#definition.edges.filter((edge) => edge.to === node.id);
    const ports = portsOf(node);
    const targets = this.#definition.nodes.filter((other) => other.id !== node.id);
    const port = h("select", { id: "wf-connect-port" }, ports.map((name) => h("option", { value: name }, name)));
    const target = h("select", { id: "wf-connect-target" }, h("option", { value: "" }, "Choose a step"),
      targets.map((other) => h("option", { value: other.id }, other.title && other.title !== other.id ? `${other.id} (${other.title})` : other.id)));
    const connect = h("button", { type: "button", id: "wf-connect" }, "Connect");
    connect.addEventListener("click", () => {
      if (!target.value) return this.#setLocal("connect", "Choose the step to connect to.");
      const edge = port.value === "next" ? { from: node.id, to: target.value } : { from: node.id, port: port.value, to: target.value };
      if (this.#definition.edges.some((existing) => edgeKey(existing) === edgeKey(edge))) return this.#setLocal("connect", "These steps are already connected by that port.");
      this.#setLocal("connect", "");
      this.#emit((definition) => definition.edges.push(edge), null, { redraw: true, message: `Connected ${node.id} (${port.value}) to ${target.value}.` });
    });
    const removeEdge = (edge) => {
      this.#emit((definition) => {
        const index = definition.edges.findIndex((existing) => edgeKey(existing) === edgeKey(edge));
        if (index >= 0) definition.edges.splice(index, 1);
      }, null, { redraw: true, message: `Removed the connection to ${edge.to}.` });
      (this.querySelector("[data-remove-edge]") || this.querySelector("#wf-connect"))?.focus();
    };
    const connectError = h("span", { class: "error", id: "wf-connect-error", "data-error-for": "connect" });
    const edgesError = h("p", { class: "error", id: "wf-edges-error", "data-error-for": "edges" });
    this.#slots.set("connect", { error: connectError, control: target });
    this.#slots.set("edges", { error: edgesError, control: null });
    target.setAttribute("aria-describedby", connectError.id);
    return h("fieldset", { class: "wf-connections" }, h("legend", {}, "Connections"), edgesError,
      ports.length === 0 ? h("p", { class: "muted" }, "This step ends the run: nothing follows it.") : null,
      outgoing.length ? h("ul", { class: "wf-edge-list", id: "wf-outgoing" }, outgoing.map((edge) => h("li", {},
        h("span", {}, `${portOf(edge)} → ${edge.to}`), " ",
        h("button", { type: "button", class: "quiet", "data-remove-edge": edgeKey(edge), "aria-label": `Remove the connection ${portOf(edge)} → ${edge.to}`, on: { click: () => removeEdge(edge) } }, "Remove")))) : null,
      h("p", { class: "muted", id: "wf-incoming" }, incoming.length ? `Reached from ${incoming.map((edge) => `${edge.from} (${portOf(edge)})`).join(", ")}.` : "Nothing leads here: this is a first step."),
      ports.length ? h("div", { class: "wf-connect" },
        field("Connect port", port),
        field("to step", target),
        connect, connectError) : null);
  }

  // ---- An edge -------------------------------------------------------------------------------

  #edgeFields(edge) {
    const remove = h("button", { type: "button", class: "danger", id: "wf-edge-remove" }, "Remove connection");
    remove.addEventListener("click", () => {
      this.#emit((definition) => {
        const index = definition.edges.findIndex((existing) => edgeKey(existing) === edgeKey(edge));
        if (index >= 0) definition.edges.splice(index, 1);
      }, null, { redraw: true, selection: null, message: "Removed the connection." });
      this.focusHeading();
    });
    return [
      h("p", { id: "wf-edge-summary" }, `From ${edge.from}, by its port ${portOf(edge)}, to ${edge.to}.`),
      h("div", { class: "form-actions" }, remove,
        h("button", { type: "button", class: "quiet", id: "wf-edge-from", on: { click: () => this.#select({ node: edge.from }) } }, `Select ${edge.from}`)),
    ];
  }

  // ---- The workflow --------------------------------------------------------------------------

  #workflowFields() {
    const definition = this.#definition;
    const text = (id, value, attributes = {}) => h("input", { id, autocomplete: "off", ...attributes, props: { value: value ?? "" } });
    const name = text("wf-name", definition.name, { spellcheck: "false", maxlength: 64, readonly: !this.isNew });
    const title = text("wf-title", definition.title, { maxlength: 200 });
    const description = h("textarea", { id: "wf-description", rows: 3, maxlength: 4000 });
    description.value = definition.description || "";
    const json = (id, value) => {
      const area = h("textarea", { id, rows: 5, spellcheck: "false" });
      area.value = pretty(value);
      return area;
    };
    const inputs = json("wf-inputs", definition.inputs);
    const outputs = json("wf-outputs", definition.outputs);
    const variables = json("wf-variables", definition.variables);
    const triggers = json("wf-triggers", definition.triggers || []);
    const limit = h("input", { id: "wf-concurrency-limit", type: "number", min: 1, max: 1000, step: 1, props: { value: definition.concurrency?.limit ?? "" } });
    const overflow = h("select", { id: "wf-concurrency-overflow" },
      [["queue", "Wait in the queue"], ["reject", "Are refused"]].map(([value, label]) => h("option", { value, selected: (definition.concurrency?.overflow || "queue") === value }, label)));

    const plain = (control, key) => control.addEventListener("input", () => this.#emit((target) => { target[key] = control.value; }, key));
    plain(name, "name");
    plain(title, "title");
    plain(description, "description");
    for (const [control, key, kind] of [[inputs, "inputs", "object"], [outputs, "outputs", "object"], [variables, "variables", "object"], [triggers, "triggers", "array"]]) {
      control.addEventListener("input", () => {
        const { value, error } = parseJSON(control.value, kind);
        this.#setLocal(key, error);
        if (!error) this.#emit((target) => { target[key] = value; }, key);
      });
    }
    const editConcurrency = () => {
      const value = limit.value.trim() === "" ? null : Number(limit.value);
      const wrong = value !== null && !(Number.isInteger(value) && value >= 1 && value <= 1000);
      this.#setLocal("concurrency", wrong ? "Must be a whole number from 1 to 1000." : "");
      if (wrong) return;
      this.#emit((target) => {
        if (value === null) delete target.concurrency;
        else target.concurrency = { limit: value, overflow: overflow.value };
      }, "concurrency");
    };
    limit.addEventListener("input", editConcurrency);
    overflow.addEventListener("change", editConcurrency);

    return [
      h("p", { class: "muted" }, "Select a step on the canvas to edit it; with none selected these are the workflow's own settings."),
      this.#field("Name", name, "name", this.isNew ? "Lower-case letters, digits and '-', starting with a letter; it cannot change once saved." : "A saved workflow keeps its name."),
      this.#field("Title", title, "title"),
      this.#field("Description", description, "description"),
      this.#field("Inputs (JSON Schema)", inputs, "inputs", "What a run is started with: {\"type\": \"object\", \"properties\": {…}, \"required\": […]}."),
      this.#field("Outputs (JSON object)", outputs, "outputs", "Name → template, such as {\"used\": \"{{ steps.check.output.usedPercent }}\"}."),
      this.#field("Variables (JSON object)", variables, "variables", "The initial values of vars."),
      h("div", { class: "wf-field-row" },
        this.#field("Runs at once (at most)", limit, "concurrency", "Empty: no limit."),
        field("Runs beyond the limit", overflow)),
      this.#field("Triggers (JSON array)", triggers, "triggers", "Such as [{\"type\": \"schedule\", \"cron\": \"0 7 * * 1-5\", \"timeZone\": \"UTC\"}] or [{\"type\": \"event\", \"event\": \"run.failed\"}]."),
    ];
  }
}

customElements.define("workflow-panel", WorkflowPanel);
