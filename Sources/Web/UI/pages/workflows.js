// Workflows: the list (with the ready-made templates, importing a file and the recent runs),
// the designer of one workflow (#/workflows/new, #/workflows/<name>: palette, canvas,
// properties, problems, undo, versions, run) and one run (#/workflow-runs/<id>), drawn on the
// same canvas and updated live.
import "../components/data-table.js";
import "../components/schema-form.js";
import "../components/status-badge.js";
import "../components/workflow-canvas.js";
import "../components/workflow-panel.js";
import { confirmDialog } from "../components/dialog.js";
import { statusLabel } from "../components/status-badge.js";
import { toast } from "../components/toast.js";
import {
  CATEGORIES, STEP_TYPES, autoLayout, defaultConfig, edgeKey, emptyDefinition, freeSpot, isWorkflowName, normalized, serverProblems, stepType, uniqueID, validate,
} from "../components/workflow-model.js";
import { api, can, problemText } from "../lib/api.js";
import { append, h } from "../lib/dom.js";
import { copyButton, duration, plural, when } from "../lib/format.js";
import { submitForm } from "../lib/forms.js";
import { subscribe } from "../lib/live.js";
import { emptyState, field, panel, refused } from "../lib/page.js";

const FINAL = ["succeeded", "failed", "cancelled"];
const HISTORY_LIMIT = 100;
const MERGE_WINDOW = 1500;

/** The published definition schema, fetched once per page load. */
let schemaAnswer = null;
async function loadSchema() {
  if (schemaAnswer && schemaAnswer.ok) return schemaAnswer;
  schemaAnswer = await api("GET", "/api/workflows/schema");
  return schemaAnswer;
}

/** The step copied last (Ctrl+C), kept while the person moves between workflows. */
let clipboard = null;

/** One module, four routes: the list, a new workflow, one workflow, one run. */
export async function render(view, context) {
  if (context.params.id) return renderRun(view, context);
  if (context.params.name) return renderDesigner(view, context, context.params.name);
  if (/^#\/?workflows\/new\/?(\?|$)/.test(location.hash)) return renderDesigner(view, context, null);
  return renderList(view, context);
}

const workflowPath = (name) => `/api/workflows/${encodeURIComponent(name)}`;
const runPath = (id) => `/api/workflow-runs/${encodeURIComponent(id)}`;
const pretty = (value) => JSON.stringify(value, null, 2);

/** A definition whose steps all have a position (steps saved without one are laid out). */
function placed(definition) {
  const copy = normalized(definition);
  if (copy.nodes.some((node) => !node.position)) {
    const positions = autoLayout(copy);
    for (const node of copy.nodes) node.position ??= positions[node.id];
  }
  return copy;
}

let dialogCount = 0;

/** A modal `<dialog>` titled `title` holding `content` and a Close button; removed when it
 *  closes, and focus goes back where it was. */
function openDialog(title, content, { id } = {}) {
  const opener = document.activeElement;
  const titleID = `wf-dialog-${++dialogCount}-title`;
  const dialog = h("dialog", { class: "portal-dialog wf-dialog", id, "aria-labelledby": titleID },
    h("h2", { id: titleID }, title), content,
    h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "secondary", on: { click: () => dialog.close() } }, "Close")));
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener && opener.isConnected) opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** The field errors of a refused save, as list items ("nodes.check.config.tool: is required"). */
function fieldErrors(result) {
  return ((result.body && result.body.errors) || []).map((error) => h("li", {}, `${error.field}: ${error.message}`));
}

// ---- The list -----------------------------------------------------------------------------------

async function renderList(view, context) {
  const [listed, templates, runs] = await Promise.all([api("GET", "/api/workflows"), api("GET", "/api/workflows/templates"), api("GET", "/api/workflow-runs?limit=20")]);
  if (!listed.ok) return refused(view, listed);
  const manage = can("workflows:manage");

  const table = h("data-table", { id: "wf-list" });
  table.caption = "This organization's workflows";
  table.bodyId = "wf-rows";
  table.rowAttributes = (workflow) => ({ "data-workflow": workflow.name });
  table.empty = emptyState("No workflows yet. A workflow chains tools, conditions, approvals and waits; start from a template below or design one.",
    manage ? h("a", { href: "#/workflows/new" }, "Design a workflow") : null);
  table.columns = [
    { key: "name", label: "Name", sort: (workflow) => workflow.name, render: (workflow) => h("a", { href: `#/workflows/${encodeURIComponent(workflow.name)}` }, workflow.name) },
    { key: "title", label: "Title", sort: (workflow) => workflow.title.toLowerCase() },
    { key: "latestVersion", label: "Latest version", align: "right", sort: (workflow) => workflow.latestVersion },
    { key: "updatedByName", label: "Updated by", sort: (workflow) => workflow.updatedByName.toLowerCase() },
    { key: "updatedAt", label: "Updated", sort: (workflow) => workflow.updatedAt, render: (workflow) => when(workflow.updatedAt) },
  ];
  table.rows = listed.body.workflows;

  const runTable = h("data-table", { id: "wf-recent-runs" });
  runTable.caption = "Recent workflow runs";
  runTable.bodyId = "wf-run-rows";
  runTable.pageSize = 20;
  runTable.rowAttributes = (run) => ({ "data-run-id": run.id });
  runTable.empty = emptyState("No workflow runs yet. Open a workflow and run it: its runs show here.");
  runTable.columns = [
    { key: "id", label: "Run", render: (run) => h("a", { href: `#/workflow-runs/${encodeURIComponent(run.id)}`, title: `id ${run.id}` }, `Run ${String(run.id).slice(-8)}`) },
    { key: "workflow", label: "Workflow", sort: (run) => run.workflow, render: (run) => `${run.workflow} v${run.version}` },
    { key: "status", label: "Status", sort: (run) => run.status, render: (run) => h("status-badge", { status: run.status }) },
    { key: "starterName", label: "Started by", sort: (run) => run.starterName.toLowerCase() },
    { key: "createdAt", label: "When", sort: (run) => run.createdAt, render: (run) => when(run.createdAt) },
  ];
  runTable.rows = runs.ok ? runs.body.runs : [];

  const importError = h("div", { class: "error", id: "wf-import-error", role: "alert" });
  async function refreshList() {
    const answer = await api("GET", "/api/workflows");
    if (answer.ok) table.rows = answer.body.workflows;
  }

  /** Saves each definition as its workflow's next version (the first creates it). */
  async function saveAll(definitions, note) {
    importError.replaceChildren();
    const current = await api("GET", "/api/workflows");
    if (!current.ok) return current;
    const latest = new Map(current.body.workflows.map((workflow) => [workflow.name, workflow.latestVersion]));
    for (const definition of definitions) {
      const result = await api("POST", `${workflowPath(definition.name)}/versions`, { definition, note, baseVersion: latest.get(definition.name) || 0 });
      if (!result.ok) {
        importError.append(h("p", {}, `${definition.name} was not saved: ${problemText(result)}`), h("ul", {}, fieldErrors(result)));
        return result;
      }
    }
    await refreshList();
    return { ok: true };
  }

  const all = templates.ok ? templates.body.templates : [];
  const templateList = h("ul", { class: "wf-templates", id: "wf-templates" }, all.map((template) => {
    const definition = template.definition;
    const requires = template.requires || [];
    const button = manage ? h("button", { type: "button", class: "quiet", "data-import-template": definition.name, "aria-label": `Import ${definition.title}` }, "Import") : null;
    button?.addEventListener("click", async () => {
      button.disabled = true;
      const needed = requires.map((name) => all.find((candidate) => candidate.definition.name === name)?.definition).filter(Boolean);
      const result = await saveAll([...needed, definition], "imported from template");
      button.disabled = false;
      if (result.ok) toast(`Imported ${definition.title}${needed.length ? ` with ${needed.map((item) => item.name).join(", ")}` : ""}.`, { kind: "ok" });
    });
    return h("li", { "data-template": definition.name },
      h("h3", {}, definition.title), h("p", {}, template.summary),
      h("p", { class: "muted" }, h("code", {}, definition.name), requires.length ? ` · imports ${requires.join(", ")} too` : ""),
      button);
  }));

  const file = h("input", { type: "file", id: "wf-import-file", accept: ".json,application/json" });
  file.addEventListener("change", async () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    importError.replaceChildren();
    let parsed;
    try { parsed = JSON.parse(await chosen.text()); } catch (error) {
      importError.textContent = `${chosen.name} is not JSON: ${error.message}`;
      return;
    }
    const definition = parsed && parsed.definition && parsed.definition.nodes ? parsed.definition : parsed;
    if (!definition || typeof definition !== "object" || !Array.isArray(definition.nodes) || !isWorkflowName(definition.name)) {
      importError.textContent = `${chosen.name} is not a workflow definition: it needs a name (lower-case letters, digits and '-') and nodes.`;
      return;
    }
    file.disabled = true;
    const result = await saveAll([definition], `imported from ${chosen.name}`.slice(0, 500));
    file.disabled = false;
    file.value = "";
    if (result.ok) toast(`Imported ${definition.title || definition.name}.`, { kind: "ok" });
  });

  view.replaceChildren(panel("page-workflows", "Workflows",
    h("p", { class: "muted" }, "Workflows chain tools with conditions, approvals, waits and loops. Each save is a new version; runs keep the version they started on."),
    manage ? h("div", { class: "form-actions" }, h("button", { type: "button", id: "wf-new", on: { click: () => context.navigate("#/workflows/new") } }, "New workflow")) : null,
    table,
    manage ? h("div", { class: "wf-import" }, field("Import a workflow file (JSON)", file, { hint: "A definition exported from a portal; it is saved as the workflow's next version." })) : null,
    importError,
    h("h2", {}, "Recent runs"),
    runs.ok ? null : h("p", { class: "error" }, problemText(runs)),
    runTable,
    h("h2", {}, "Templates"),
    templates.ok ? (all.length ? templateList : emptyState("No templates ship with this portal.")) : h("p", { class: "error" }, problemText(templates))));
}

// ---- The designer -------------------------------------------------------------------------------

async function renderDesigner(view, context, name) {
  const isNew = name === null;
  const [schemaResult, detail, tools, workflows] = await Promise.all([
    loadSchema(), isNew ? null : api("GET", workflowPath(name)), api("GET", "/api/tools"), api("GET", "/api/workflows"),
  ]);
  if (detail && !detail.ok) return refused(view, detail);
  if (!schemaResult.ok) return refused(view, schemaResult);
  const schema = schemaResult.body;
  const readOnly = !can("workflows:manage");
  view.classList.add("wf-wide");

  const state = {
    isNew,
    definition: isNew ? emptyDefinition() : placed(detail.body.definition),
    versions: isNew ? [] : detail.body.versions,
    baseVersion: isNew ? 0 : detail.body.workflow.latestVersion,
    selection: null,
    past: [],
    future: [],
    merge: null,
    saved: "",
    serverProblems: [],
  };
  state.saved = JSON.stringify(state.definition);
  const dialogs = new Set();

  // -- Parts
  const section = panel("page-workflow", isNew ? "New workflow" : state.definition.title || name);
  section.classList.add("wf-designer-page");
  const heading = section.querySelector("h1");
  heading.id = "wf-heading";
  const meta = h("p", { class: "muted", id: "wf-meta" });

  const canvas = h("workflow-canvas", { id: "wf-canvas" });
  canvas.label = "Workflow steps";
  canvas.readOnly = readOnly;
  const propertiesPanel = h("workflow-panel", { id: "wf-panel" });
  propertiesPanel.schema = schema;
  propertiesPanel.tools = tools.ok ? tools.body.tools : [];
  propertiesPanel.workflows = workflows.ok ? workflows.body.workflows.map((workflow) => workflow.name) : [];
  propertiesPanel.readOnly = readOnly;
  propertiesPanel.isNew = isNew;

  const undoButton = h("button", { type: "button", class: "quiet", id: "wf-undo", title: "Undo (Ctrl+Z)", on: { click: undo } }, "Undo");
  const redoButton = h("button", { type: "button", class: "quiet", id: "wf-redo", title: "Redo (Ctrl+Shift+Z or Ctrl+Y)", on: { click: redo } }, "Redo");
  const layoutButton = h("button", { type: "button", class: "quiet", id: "wf-layout", on: { click: layOut } }, "Auto-layout");
  const versionsButton = h("button", { type: "button", class: "quiet", id: "wf-versions", on: { click: openVersions } }, "Versions");
  const webhookButton = h("button", { type: "button", class: "quiet", id: "wf-webhook", on: { click: openWebhook } }, "Webhook…");
  const exportLink = h("a", { id: "wf-export", class: "wf-export", download: "" }, "Export");
  const runButton = h("button", { type: "button", id: "wf-run", "aria-describedby": "wf-run-note", on: { click: openRun } }, "Run…");
  const runNote = h("span", { class: "muted", id: "wf-run-note" });
  const note = h("input", { id: "wf-note", maxlength: 500, autocomplete: "off", placeholder: "What changed" });
  const saveButton = h("button", { type: "button", id: "wf-save", on: { click: save } }, "Save");
  const dirtyNote = h("span", { class: "muted", id: "wf-dirty" });
  const saveError = h("div", { class: "error", id: "wf-save-error", role: "alert" });
  const saveDone = h("p", { class: "muted", id: "wf-save-done", role: "status" });
  const toolbar = h("div", { class: "wf-toolbar", role: "group", "aria-label": "Workflow" },
    readOnly ? null : [undoButton, redoButton, layoutButton],
    versionsButton, readOnly ? null : webhookButton, exportLink,
    h("span", { class: "wf-run-group" }, runButton, runNote),
    readOnly ? h("span", { class: "muted" }, "Your role may look at workflows but not change them (it needs workflows:manage).")
      : h("span", { class: "wf-save-group" }, h("label", { for: "wf-note" }, "Version note"), note, saveButton, dirtyNote));

  const problemCount = h("span", { class: "muted", id: "wf-problem-count" });
  const problemList = h("ul", { class: "wf-problem-list", id: "wf-problem-list" });
  const noProblems = h("p", { class: "muted", id: "wf-no-problems" }, "No problems found.");
  const problemRegion = h("section", { class: "wf-problems", id: "wf-problems", role: "region", "aria-label": "Problems" },
    h("h2", {}, "Problems ", problemCount), noProblems, problemList);

  const layout = h("div", { class: readOnly ? "wf-designer wf-designer-read-only" : "wf-designer" },
    readOnly ? null : palette(),
    h("div", { class: "wf-canvas-area" }, canvas, problemRegion),
    h("section", { class: "wf-properties", "aria-labelledby": "wf-panel-heading" }, propertiesPanel));
  section.prepend(h("p", { class: "back" }, h("a", { href: "#/workflows" }, "← All workflows")));
  section.append(meta, toolbar, saveError, saveDone, layout);

  // -- State changes
  function validSelection(selection) {
    if (!selection) return null;
    if (selection.node) return state.definition.nodes.some((node) => node.id === selection.node) ? selection : null;
    return state.definition.edges.some((edge) => edgeKey(edge) === edgeKey(selection.edge)) ? selection : null;
  }

  /** Keeps `next` as the definition, undoably; keystrokes in one field within a moment are
   *  one step of the undo history. */
  function commit(next, mergeKey = null) {
    const now = Date.now();
    const merging = mergeKey && state.merge && state.merge.key === mergeKey && now - state.merge.time < MERGE_WINDOW;
    if (!merging) {
      state.past.push(JSON.stringify(state.definition));
      if (state.past.length > HISTORY_LIMIT) state.past.shift();
    }
    state.future = [];
    state.merge = mergeKey ? { key: mergeKey, time: now } : null;
    state.definition = next;
    state.selection = validSelection(state.selection);
    refresh();
  }

  function undo() {
    if (readOnly || state.past.length === 0) return;
    state.future.push(JSON.stringify(state.definition));
    state.definition = JSON.parse(state.past.pop());
    state.merge = null;
    state.selection = validSelection(state.selection);
    refresh();
    canvas.announce("Undone.");
  }

  function redo() {
    if (readOnly || state.future.length === 0) return;
    state.past.push(JSON.stringify(state.definition));
    state.definition = JSON.parse(state.future.pop());
    state.merge = null;
    state.selection = validSelection(state.selection);
    refresh();
    canvas.announce("Redone.");
  }

  function layOut() {
    const next = structuredClone(state.definition);
    const positions = autoLayout(next);
    for (const node of next.nodes) node.position = positions[node.id];
    commit(next);
    canvas.fit();
  }

  function select(selection, { focus = false } = {}) {
    state.selection = validSelection(selection);
    canvas.selection = state.selection;
    propertiesPanel.update({ selection: state.selection });
    if (focus && state.selection && state.selection.node) canvas.focusNode(state.selection.node);
  }

  /** Draws everything from `state`: canvas, panel, problems, buttons. */
  function refresh() {
    const found = validate(state.definition, schema);
    // The server's problems the designer finds itself are listed once, in the designer's words.
    const known = new Set(found.map((problem) => `${problem.node}|${problem.field}`));
    const problems = [...found, ...state.serverProblems.filter((problem) => !known.has(`${problem.node}|${problem.field}`))];
    canvas.update({ definition: state.definition, selection: state.selection, marked: problems.map((problem) => problem.node).filter(Boolean) });
    propertiesPanel.update({ definition: state.definition, selection: state.selection, problems });
    renderProblems(problems);
    const dirty = JSON.stringify(state.definition) !== state.saved;
    undoButton.disabled = state.past.length === 0;
    redoButton.disabled = state.future.length === 0;
    saveButton.disabled = !dirty;
    dirtyNote.textContent = dirty ? "Unsaved changes" : state.isNew ? "" : "All changes saved";
    const why = state.isNew ? "Save the workflow before running it."
      : dirty ? "Save your changes first: a run uses a saved version."
        : !can("tools:run") ? "Your role may not start runs (it needs tools:run)." : "";
    runButton.disabled = Boolean(why);
    runNote.textContent = why;
    const current = state.isNew ? null : state.definition.name;
    versionsButton.hidden = !current;
    webhookButton.hidden = !current;
    exportLink.hidden = !current;
    if (current) exportLink.href = `${workflowPath(current)}/export`;
    heading.textContent = state.definition.title || (state.isNew ? "New workflow" : state.definition.name);
    meta.textContent = state.isNew ? "Not saved yet." : `${state.definition.name} · version ${state.baseVersion} of ${plural(state.versions.length, "saved version")}`;
  }

  function renderProblems(problems) {
    problemCount.textContent = problems.length ? `(${problems.length})` : "";
    noProblems.hidden = problems.length > 0;
    problemList.replaceChildren(...problems.map((problem) => h("li", {},
      h("button", { type: "button", class: "wf-problem", "data-problem-node": problem.node, "data-problem-field": problem.field, "data-server": problem.server ? "true" : null, on: { click: () => goTo(problem) } },
        problem.server ? "Refused at the last save: " : "",
        problem.node ? `Step ${problem.node}` : "Workflow", problem.field ? ` · ${problem.field}` : "", `: ${problem.message}`))));
  }

  /** Shows where a problem is: its step selected and focused, or the workflow's field. */
  function goTo(problem) {
    if (problem.node && state.definition.nodes.some((node) => node.id === problem.node)) {
      select({ node: problem.node }, { focus: true });
      return;
    }
    select(null);
    const controls = { name: "wf-name", title: "wf-title", description: "wf-description", inputs: "wf-inputs", outputs: "wf-outputs", variables: "wf-variables", concurrency: "wf-concurrency-limit", triggers: "wf-triggers" };
    const control = controls[String(problem.field || "").split(/[.[]/)[0]];
    const target = control && document.getElementById(control);
    if (target) target.focus(); else propertiesPanel.focusHeading();
  }

  // -- The palette
  function palette() {
    const search = h("input", { type: "search", id: "wf-palette-search", placeholder: "condition, approval…" });
    const count = h("p", { class: "visually-hidden", id: "wf-palette-count", role: "status" });
    const groups = CATEGORIES.map((category) => h("div", { class: "wf-palette-group", "data-category": category },
      h("h3", {}, category),
      h("ul", {}, STEP_TYPES.filter((entry) => entry.category === category).map((entry) => h("li", {}, paletteButton(entry))))));
    search.addEventListener("input", () => {
      const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      for (const group of groups) {
        let inGroup = 0;
        for (const item of group.querySelectorAll("li")) {
          const entry = stepType(item.firstChild.dataset.stepType);
          const match = words.every((word) => `${entry.type} ${entry.label} ${entry.description} ${entry.category}`.toLowerCase().includes(word));
          item.hidden = !match;
          if (match) inGroup += 1;
        }
        group.hidden = inGroup === 0;
        shown += inGroup;
      }
      count.textContent = shown ? `${plural(shown, "step type")} shown.` : "No step type matches.";
    });
    return h("section", { class: "wf-palette", id: "wf-palette", "aria-labelledby": "wf-palette-heading" },
      h("h2", { id: "wf-palette-heading" }, "Steps"),
      field("Find a step type", search),
      h("p", { class: "field-hint", id: "wf-palette-hint" }, "Drag one onto the canvas, or press it to add it in a free spot."),
      groups, count);
  }

  /** A palette entry: pressed, it adds the step in a free spot; dragged, where it is dropped. */
  function paletteButton(entry) {
    const button = h("button", { type: "button", class: "wf-palette-item quiet", "data-step-type": entry.type, "aria-describedby": "wf-palette-hint", title: entry.description },
      h("span", { class: "wf-palette-label" }, entry.label), h("span", { class: "wf-palette-description" }, entry.description));
    let drag = null;
    let dropped = false;
    button.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      drag = { x: event.clientX, y: event.clientY, moving: false };
      button.setPointerCapture(event.pointerId);
    });
    button.addEventListener("pointermove", (event) => {
      if (!drag) return;
      if (!drag.moving && Math.hypot(event.clientX - drag.x, event.clientY - drag.y) > 6) {
        drag.moving = true;
        document.body.classList.add("wf-dragging");
      }
      if (drag.moving) canvas.preview(entry.type, event.clientX, event.clientY);
    });
    const finish = (event, place) => {
      if (!drag) return;
      const wasMoving = drag.moving;
      drag = null;
      document.body.classList.remove("wf-dragging");
      if (!wasMoving) return;
      const point = place ? canvas.preview(entry.type, event.clientX, event.clientY) : null;
      canvas.endPreview();
      dropped = true;  // the click that follows the drag adds nothing more
      if (point) addStep(entry.type, point);
    };
    button.addEventListener("pointerup", (event) => finish(event, true));
    button.addEventListener("pointercancel", (event) => finish(event, false));
    button.addEventListener("click", () => {
      if (dropped) {
        dropped = false;
        return;
      }
      addStep(entry.type, null);
    });
    return button;
  }

  function addStep(type, point) {
    const next = structuredClone(state.definition);
    const id = uniqueID(next, type);
    const position = point ? { x: Math.round(point.x / 10) * 10, y: Math.round(point.y / 10) * 10 } : freeSpot(next, canvas.visibleCenter());
    next.nodes.push({ id, type, title: stepType(type).label, config: defaultConfig(type), position });
    state.selection = { node: id };
    commit(next);
    canvas.reveal(id);
    canvas.announce(`Added step ${id} (${type}). Its properties are open; connect it from there or by dragging from a port.`);
  }

  // -- Copy and paste, undo and redo from the keyboard
  function paste() {
    const next = structuredClone(state.definition);
    const node = structuredClone(clipboard);
    node.id = uniqueID(next, clipboard.id);
    const from = clipboard.position || { x: 0, y: 0 };
    node.position = freeSpot(next, { x: from.x + 40, y: from.y + 40 });
    next.nodes.push(node);
    state.selection = { node: node.id };
    commit(next);
    canvas.focusNode(node.id);
    canvas.announce(`Pasted step ${node.id}.`);
  }

  section.addEventListener("keydown", (event) => {
    if (readOnly || !(event.ctrlKey || event.metaKey) || event.altKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    const key = event.key.toLowerCase();
    // The step with the keyboard focus, else the selected one.
    const focused = event.target.closest("#wf-canvas [data-node-id]");
    const chosen = focused ? focused.dataset.nodeId : state.selection && state.selection.node;
    const node = chosen ? state.definition.nodes.find((candidate) => candidate.id === chosen) : null;
    if (key === "z" && !event.shiftKey) undo();
    else if ((key === "z" && event.shiftKey) || key === "y") redo();
    else if (key === "c" && node && document.getSelection().isCollapsed) {
      clipboard = structuredClone(node);
      canvas.announce(`Copied step ${node.id}.`);
    } else if (key === "v" && clipboard) paste();
    else return;
    event.preventDefault();
  });

  canvas.addEventListener("definition-change", (event) => commit(event.detail.definition));
  canvas.addEventListener("selection-change", (event) => select(event.detail.selection));
  propertiesPanel.addEventListener("definition-change", (event) => {
    if ("selection" in event.detail) state.selection = event.detail.selection;
    commit(event.detail.definition, event.detail.mergeKey);
  });
  propertiesPanel.addEventListener("selection-change", (event) => select(event.detail.selection, { focus: true }));

  // -- Saving
  async function save() {
    saveError.replaceChildren();
    saveDone.textContent = "";
    const definition = state.definition;
    if (!isWorkflowName(definition.name)) {
      saveError.textContent = "Give the workflow a name first (lower-case letters, digits and '-', starting with a letter).";
      goTo({ node: null, field: "name" });
      return;
    }
    const sent = JSON.stringify(definition);
    saveButton.disabled = true;
    const result = await api("POST", `${workflowPath(definition.name)}/versions`, { definition, note: note.value.trim(), baseVersion: state.baseVersion });
    saveButton.disabled = false;
    if (result.ok) {
      state.saved = sent;
      state.baseVersion = result.body.workflow.latestVersion;
      state.versions = result.body.versions;
      state.serverProblems = [];
      note.value = "";
      saveDone.textContent = `Saved version ${state.baseVersion}.`;
      if (state.isNew) {
        state.isNew = false;
        propertiesPanel.isNew = false;
        history.replaceState(null, "", `#/workflows/${encodeURIComponent(definition.name)}`);
        context.setTitle(definition.title || definition.name);
      }
      refresh();
      return;
    }
    if (result.status === 409) {
      const reload = h("button", { type: "button", id: "wf-reload", on: { click: () => context.navigate(`#/workflows/${encodeURIComponent(definition.name)}`) } }, "Reload the latest version");
      saveError.append(h("p", {}, `Not saved: someone saved this workflow while you edited it (${problemText(result)}).`),
        h("p", {}, "Reloading shows the latest version and drops your changes here; copy them first to keep them."),
        h("p", { class: "form-actions" }, reload, copyButton(() => pretty(state.definition), "Copy my changes as JSON", { id: "wf-copy-definition" })));
      return;
    }
    const errors = (result.body && result.body.errors) || [];
    state.serverProblems = serverProblems(errors).map((problem) => ({ ...problem, server: true }));
    saveError.textContent = errors.length ? `Not saved: the server found ${plural(errors.length, "problem")}, listed under Problems.` : `Not saved: ${problemText(result)}`;
    refresh();
  }

  // -- Versions
  function openVersions() {
    const current = state.definition.name;
    const diff = h("div", { class: "wf-diff", id: "wf-diff", "aria-live": "polite" });
    const rows = state.versions.map((version) => {
      const latest = version.version === state.baseVersion;
      const actions = h("span", { class: "wf-version-actions" },
        latest ? h("span", { class: "muted" }, "latest") : h("button", { type: "button", class: "quiet", "data-diff": version.version, on: { click: () => showDiff(version.version) } }, "View diff to latest"),
        readOnly ? null : h("button", { type: "button", class: "quiet", "data-restore": version.version, on: { click: () => restore(version.version) } }, "Restore"));
      return h("tr", { "data-version": version.version },
        h("th", { scope: "row" }, `v${version.version}`), h("td", {}, version.savedByName), h("td", {}, when(version.savedAt)), h("td", {}, version.note || ""), h("td", {}, actions));
    });
    const table = h("table", { class: "list", id: "wf-version-table" }, h("caption", { class: "visually-hidden" }, `Versions of ${current}`),
      h("thead", {}, h("tr", {}, ["Version", "Saved by", "When", "Note", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, rows));
    const dialog = openDialog(`Versions of ${current}`, [table, diff], { id: "wf-versions-dialog" });
    dialogs.add(dialog);
    dialog.addEventListener("close", () => dialogs.delete(dialog));

    async function showDiff(from) {
      diff.replaceChildren(h("p", { class: "muted" }, "Loading…"));
      const answer = await api("GET", `${workflowPath(current)}/diff?from=${from}`);
      if (!answer.ok) return diff.replaceChildren(h("p", { class: "error" }, problemText(answer)));
      const change = answer.body;
      const edge = (item) => `${item.from} (${item.port || "next"}) → ${item.to}`;
      const parts = [
        ["Steps added", change.addedSteps], ["Steps removed", change.removedSteps],
        ["Steps changed", change.changedSteps.map((step) => `${step.id}: ${step.fields.join(", ")}`)],
        ["Connections added", change.addedEdges.map(edge)], ["Connections removed", change.removedEdges.map(edge)],
        ["Workflow fields changed", change.changedFields],
      ].filter(([, items]) => items.length);
      diff.replaceChildren(h("h3", {}, `From version ${change.from} to version ${change.to}`),
        parts.length ? h("dl", { class: "facts" }, parts.map(([label, items]) => [h("dt", {}, label), h("dd", {}, items.join("; "))])) : h("p", {}, "No differences."));
    }

    async function restore(number) {
      const answer = await api("GET", `${workflowPath(current)}/versions/${number}`);
      if (!answer.ok) return diff.replaceChildren(h("p", { class: "error" }, problemText(answer)));
      dialog.close();
      state.selection = null;
      commit(placed(answer.body.definition));
      canvas.fit();
      toast(`Version ${number} is in the editor: save it to make it version ${state.baseVersion + 1}.`, { kind: "info" });
    }
  }

  // -- The incoming webhook
  async function openWebhook() {
    const current = state.definition.name;
    const body = h("div", { id: "wf-webhook-body", "aria-live": "polite" });
    const dialog = openDialog(`Webhook of ${current}`, body, { id: "wf-webhook-dialog" });
    dialogs.add(dialog);
    dialog.addEventListener("close", () => dialogs.delete(dialog));
    const hasTrigger = (state.definition.triggers || []).some((trigger) => trigger.type === "webhook" && trigger.enabled !== false);
    const explain = h("p", { class: "muted" }, "Other systems start this workflow by POSTing JSON to the URL, signed as Standard Webhooks sign ",
      "(webhook-id, webhook-timestamp and webhook-signature headers, HMAC-SHA256 with the secret). ",
      hasTrigger ? "The definition's webhook trigger decides, from the body, whether a run starts and with which inputs."
        : "Add a webhook trigger to the definition (and save it) for deliveries to start runs.");
    const error = h("p", { class: "error", id: "wf-webhook-error", role: "alert" });
    const show = ({ webhook: hook, path, secret }) => {
      const url = `${location.origin}${path}`;
      body.replaceChildren(explain,
        h("dl", { class: "facts" },
          h("dt", {}, "URL"), h("dd", {}, h("code", { id: "wf-webhook-url" }, url), " ", copyButton(url, "Copy the URL")),
          h("dt", {}, "Made"), h("dd", {}, `by ${hook.createdByName} `, when(hook.createdAt)),
          hook.rotatedAt ? [h("dt", {}, "Secret changed"), h("dd", {}, when(hook.rotatedAt), hook.previousValidUntil ? ["; the previous one verifies until ", when(hook.previousValidUntil)] : null)] : null,
          h("dt", {}, "Last delivery"), h("dd", {}, hook.lastDeliveryAt ? when(hook.lastDeliveryAt) : "none yet")),
        secret ? h("div", { class: "notice", id: "wf-webhook-secret-box" },
          h("p", {}, h("strong", {}, "The secret, shown this once: "), h("code", { id: "wf-webhook-secret" }, secret), " ", copyButton(secret, "Copy the secret"))) : null,
        error,
        h("div", { class: "form-actions" },
          h("button", { type: "button", id: "wf-webhook-rotate", on: { click: () => setUp() } }, "Make a new secret"),
          h("button", { type: "button", class: "quiet", id: "wf-webhook-remove", on: { click: remove } }, "Remove the webhook")));
    };
    const none = () => body.replaceChildren(explain, error,
      h("div", { class: "form-actions" }, h("button", { type: "button", id: "wf-webhook-set-up", on: { click: () => setUp() } }, "Set up a webhook")));
    async function setUp() {
      error.textContent = "";
      const answer = await api("PUT", `${workflowPath(current)}/webhook`);
      if (!answer.ok) return (error.textContent = problemText(answer));
      show(answer.body);
    }
    async function remove() {
      const sure = await confirmDialog({ title: "Remove the webhook?", message: "Deliveries to its URL are refused from now on; a new webhook gets a new URL.",
        confirmLabel: "Remove", danger: true });
      if (!sure) return;
      const answer = await api("DELETE", `${workflowPath(current)}/webhook`);
      if (!answer.ok) return (error.textContent = problemText(answer));
      none();
    }
    body.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    const answer = await api("GET", `${workflowPath(current)}/webhook`);
    if (answer.ok) show(answer.body);
    else if (answer.status === 404) none();
    else body.replaceChildren(h("p", { class: "error" }, problemText(answer)));
  }

  // -- Running
  function openRun() {
    const inputs = state.definition.inputs || {};
    const fields = h("schema-form");
    fields.idPrefix = "wf-run-input";
    fields.schema = inputs;
    const hasFields = Object.keys(inputs.properties || {}).length > 0;
    const form = h("form", { id: "wf-run-form", novalidate: true },
      h("p", { class: "error", id: "wf-run-error", role: "alert" }),
      hasFields ? fields : h("p", { class: "muted" }, "This workflow takes no inputs."),
      h("div", { class: "form-actions" }, h("button", { type: "submit", id: "wf-run-start" }, `Start a run of version ${state.baseVersion}`)));
    const dialog = openDialog(`Run ${state.definition.title || state.definition.name}`, form, { id: "wf-run-dialog" });
    dialogs.add(dialog);
    dialog.addEventListener("close", () => dialogs.delete(dialog));
    submitForm(form, () => api("POST", `${workflowPath(state.definition.name)}/runs`, { inputs: hasFields ? fields.values() : {}, version: state.baseVersion }), (body) => {
      dialog.close();
      context.navigate(`#/workflow-runs/${encodeURIComponent(body.run.id)}`);
    });
  }

  // -- First draw
  refresh();
  context.setTitle(isNew ? "New workflow" : state.definition.title || name);
  view.replaceChildren(section);
  return () => {
    for (const dialog of [...dialogs]) dialog.close();
  };
}

// ---- One run ------------------------------------------------------------------------------------

async function renderRun(view, context) {
  const id = context.params.id;
  // Listening starts before the first read, so an event that arrives while the page loads
  // (the run reaching its approval, say) is not lost: it asks for one more read at the end.
  let missed = false;
  let onEvent = (data) => { if (data.runID === id) missed = true; };
  const unsubscribe = subscribe((kind, data) => { if (data) onEvent(data); });
  const first = await api("GET", runPath(id));
  if (!first.ok) {
    unsubscribe();
    return refused(view, first);
  }
  const firstRun = first.body.run;
  const version = await api("GET", `${workflowPath(firstRun.workflow)}/versions/${firstRun.version}`);
  const definition = version.ok ? normalized(version.body.definition) : null;
  const title = definition ? definition.title : firstRun.workflow;

  const expanded = new Set();   // steps whose details are open
  const comments = new Map();   // approval step → the comment typed so far
  const drawn = new Map();      // part → what it shows (JSON), so an unchanged part is not redrawn
  let detail = first.body;
  let shownStatus = null;

  const status = h("span", { class: "status-badge", id: "wf-run-status" });
  const announce = h("p", { class: "visually-hidden", id: "wf-run-announce", role: "status" });
  const facts = h("dl", { class: "facts", id: "wf-run-facts" });
  const actionError = h("p", { class: "error", id: "wf-run-action-error", role: "alert" });
  const approvals = h("div", { class: "wf-approvals", id: "wf-run-approvals" });
  const canvas = h("workflow-canvas", { id: "wf-run-canvas" });
  canvas.readOnly = true;
  canvas.label = `Steps of ${title}, coloured by status`;
  const timelineBody = h("tbody", { id: "wf-timeline-rows" });
  const timeline = h("table", { class: "list wf-timeline", id: "wf-timeline" }, h("caption", { class: "visually-hidden" }, "Steps of this run"),
    h("thead", {}, h("tr", {}, [["Step"], ["Status"], ["Attempts", "right"], ["Started"], ["Duration", "right"], ["Details"]].map(([label, align]) => h("th", { scope: "col", "data-align": align }, label)))),
    timelineBody);
  const log = h("ol", { class: "wf-log", id: "wf-run-log" });

  /** Posts an action and shows the run as the answer has it. */
  async function act(button, path, body) {
    actionError.textContent = "";
    button.disabled = true;
    const answer = await api("POST", `${runPath(id)}/${path}`, body);
    button.disabled = false;
    if (!answer.ok) {
      actionError.textContent = problemText(answer);
      return null;
    }
    return answer;
  }
  const actionButton = (key, label, handler, className = "quiet") => h("button", { type: "button", class: className, id: `wf-run-${key}`, on: { click: (event) => handler(event.currentTarget) } }, label);
  const buttons = {
    cancel: actionButton("cancel", "Cancel run", async (button) => {
      const sure = await confirmDialog({ title: "Cancel this run?", message: "No further step starts, and its child runs are cancelled too.", confirmLabel: "Cancel run", cancelLabel: "Keep it", danger: true });
      if (!sure) return;
      const answer = await act(button, "cancel", {});
      if (answer) show(answer.body);
    }, "danger"),
    pause: actionButton("pause", "Pause", async (button) => { const answer = await act(button, "pause"); if (answer) show(answer.body); }),
    resume: actionButton("resume", "Resume", async (button) => { const answer = await act(button, "resume"); if (answer) show(answer.body); }),
    retry: actionButton("retry", "Retry", async (button) => { const answer = await act(button, "retry"); if (answer) show(answer.body); }),
  };

  const rerunFrom = h("select", { id: "wf-rerun-from" }, (definition ? definition.nodes.map((node) => node.id) : Object.keys(firstRun.steps)).map((step) => h("option", { value: step }, step)));
  const rerunVersion = h("select", { id: "wf-rerun-version" }, h("option", { value: "same" }, `This run's version (v${firstRun.version})`), h("option", { value: "latest" }, "The latest version"));
  const rerunButton = h("button", { type: "submit", id: "wf-rerun" }, "Re-run");
  const rerunForm = h("form", { class: "wf-rerun", id: "wf-rerun-form" },
    h("h2", {}, "Re-run from a step"),
    h("p", { class: "muted" }, "A new run starts at the chosen step; the steps before it keep this run's results."),
    h("div", { class: "wf-field-row" }, field("From step", rerunFrom), field("On", rerunVersion)),
    h("div", { class: "form-actions" }, rerunButton),
    h("p", { class: "error", id: "wf-rerun-error", role: "alert" }));
  submitForm(rerunForm, () => api("POST", `${runPath(id)}/rerun`, { from: rerunFrom.value, version: rerunVersion.value }),
    (body) => context.navigate(`#/workflow-runs/${encodeURIComponent(body.run.id)}`));

  const section = panel("page-workflow-run", "");
  section.querySelector("h1").append(h("span", { id: "wf-run-title" }, `Run of ${title}`), " ", status);
  section.prepend(h("p", { class: "back" }, h("a", { href: "#/workflows" }, "← All workflows")));
  section.append(announce, facts,
    h("div", { class: "form-actions wf-run-actions", id: "wf-run-actions" }, Object.values(buttons)), actionError,
    approvals, rerunForm,
    h("h2", {}, "Steps"),
    definition ? canvas : h("p", { class: "muted" }, `Version ${firstRun.version} of ${firstRun.workflow} is no longer stored: the steps cannot be drawn.`),
    h("h2", {}, "Timeline"), timeline,
    h("details", { class: "wf-history" }, h("summary", {}, "History"), log));

  canvas.addEventListener("selection-change", (event) => {
    const step = event.detail.selection && event.detail.selection.node;
    if (!step || !detail.run.steps[step]) return;
    expanded.add(step);
    drawn.delete("timeline");
    show(detail);
    const toggle = document.getElementById(`wf-step-toggle-${step}`);
    toggle?.scrollIntoView({ block: "nearest" });
    toggle?.focus({ preventScroll: true });
  });

  /** Redraws `key`'s part with `draw()` only when `value` changed since it was last drawn. */
  function redraw(key, value, draw) {
    const text = JSON.stringify(value);
    if (drawn.get(key) === text) return;
    drawn.set(key, text);
    draw();
  }

  function show(next) {
    detail = next;
    const run = next.run;
    const focused = section.contains(document.activeElement) ? document.activeElement.id : null;
    status.textContent = statusLabel(run.status);
    status.dataset.status = run.status;
    section.dataset.runStatus = run.status;
    if (shownStatus !== null && shownStatus !== run.status) announce.textContent = `Status: ${statusLabel(run.status)}.`;
    shownStatus = run.status;
    const final = FINAL.includes(run.status);
    buttons.cancel.hidden = final;
    buttons.pause.hidden = run.status !== "running";
    buttons.resume.hidden = run.status !== "paused";
    buttons.retry.hidden = !["failed", "needs-attention"].includes(run.status);
    rerunForm.hidden = !final;

    redraw("facts", run, () => {
      facts.replaceChildren();
      append(facts, factsOf(run));
    });
    redraw("approvals", waitingApprovals(run), () => {
      approvals.replaceChildren();
      append(approvals, approvalSections(run));
    });
    if (definition) {
      const statuses = Object.fromEntries(Object.entries(run.steps).map(([step, state]) => [step, { status: state.status, port: state.port }]));
      redraw("canvas", statuses, () => canvas.update({ definition, statuses }));
    }
    redraw("timeline", [run.steps, [...expanded]], () => timelineBody.replaceChildren(...timelineRows(run)));
    redraw("log", next.log, () => log.replaceChildren(...next.log.map((entry) => h("li", { "data-sequence": entry.sequence },
      when(entry.time), ` ${entry.kind}`, entry.node ? ` · ${entry.node}` : "", entry.attempt ? ` (attempt ${entry.attempt})` : "", `: ${entry.status}`, entry.detail ? ` — ${entry.detail}` : ""))));
    if (focused && !section.contains(document.activeElement)) document.getElementById(focused)?.focus({ preventScroll: true });
  }

  function factsOf(run) {
    const json = (value, idName) => h("pre", { class: "wf-json", id: idName }, pretty(value));
    return [
      h("dt", {}, "Workflow"), h("dd", {}, h("a", { href: `#/workflows/${encodeURIComponent(run.workflow)}`, id: "wf-run-workflow" }, `${run.workflow} v${run.version}`)),
      h("dt", {}, "Started by"), h("dd", { id: "wf-run-starter" }, run.starterName),
      h("dt", {}, "Trigger"), h("dd", { id: "wf-run-trigger" }, run.trigger),
      h("dt", {}, "Started"), h("dd", {}, when(run.createdAt)),
      h("dt", {}, "Finished"), h("dd", {}, run.finishedAt ? when(run.finishedAt) : h("span", { class: "muted" }, "not yet")),
      run.parent ? [h("dt", {}, "Started by the run"), h("dd", {}, h("a", { href: `#/workflow-runs/${encodeURIComponent(run.parent.runID)}` }, `${String(run.parent.runID).slice(-8)}`), ` (step ${run.parent.node}, item ${run.parent.index})`)] : null,
      run.rerunOf ? [h("dt", {}, "Re-run of"), h("dd", {}, h("a", { href: `#/workflow-runs/${encodeURIComponent(run.rerunOf)}` }, `Run ${String(run.rerunOf).slice(-8)}`))] : null,
      run.error ? [h("dt", {}, "Error"), h("dd", { class: "error", id: "wf-run-error" }, run.error)] : null,
      h("dt", {}, "Inputs"), h("dd", {}, json(run.inputs, "wf-run-inputs")),
      run.outputs !== undefined && run.outputs !== null ? [h("dt", {}, "Outputs"), h("dd", {}, json(run.outputs, "wf-run-outputs"))] : null,
    ];
  }

  function waitingApprovals(run) {
    return Object.entries(run.steps).filter(([, step]) => step.status === "waiting" && step.approval);
  }

  function approvalSections(run) {
    const waiting = waitingApprovals(run);
    if (waiting.length === 0) return [];
    return [h("h2", {}, "Waiting for a decision"), waiting.map(([step, state]) => {
      const approval = state.approval;
      const node = definition && definition.nodes.find((candidate) => candidate.id === step);
      const comment = h("input", { id: `wf-approval-comment-${step}`, autocomplete: "off", props: { value: comments.get(step) || "" } });
      comment.addEventListener("input", () => comments.set(step, comment.value));
      const error = h("p", { class: "error", id: `wf-approval-error-${step}`, role: "alert" });
      const decide = async (button, approve) => {
        error.textContent = "";
        button.disabled = true;
        const answer = await api("POST", `${runPath(id)}/steps/${encodeURIComponent(step)}/decision`, { approve, comment: comment.value.trim() });
        button.disabled = false;
        if (!answer.ok) {
          error.textContent = problemText(answer);
          return;
        }
        comments.delete(step);
        show(answer.body);
      };
      const who = approval.approvers && approval.approvers.length
        ? `${approval.mode === "all-of" ? "All of" : "One of"} ${approval.approvers.join(", ")}`
        : `Anyone with ${approval.role ? `the ${approval.role} role` : "the approvals:decide permission"}`;
      return h("div", { class: "wf-approval", "data-approval-step": step },
        h("h3", {}, `Approval: ${node && node.title ? node.title : step}`),
        h("p", { class: "wf-approval-message" }, approval.message || "No message."),
        h("p", { class: "muted" }, `${who} decides (${approval.risk} risk${approval.allowSelfApproval ? "" : "; not the person who started the run"}); expires `, when(approval.expiresAt), "."),
        approval.decisions.length ? h("ul", {}, approval.decisions.map((decision) => h("li", { "data-decision": decision.approved ? "approved" : "rejected" },
          `${decision.approved ? "Approved" : "Rejected"} by ${decision.username}`, decision.comment ? `: ${decision.comment}` : "", " ", when(decision.time)))) : null,
        field("Comment", comment),
        h("div", { class: "form-actions approval-actions" },
          h("button", { type: "button", class: "approve", id: `wf-approve-${step}`, on: { click: (event) => decide(event.currentTarget, true) } }, "Approve"),
          h("button", { type: "button", class: "reject quiet", id: `wf-reject-${step}`, on: { click: (event) => decide(event.currentTarget, false) } }, "Reject")),
        error);
    })];
  }

  function timelineRows(run) {
    const order = definition ? definition.nodes.map((node) => node.id) : [];
    const steps = Object.entries(run.steps).sort(([a, first], [b, second]) =>
      String(first.startedAt || "~").localeCompare(String(second.startedAt || "~")) || order.indexOf(a) - order.indexOf(b));
    if (steps.length === 0) return [h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No step has started yet."))];
    return steps.flatMap(([step, state]) => {
      const open = expanded.has(step);
      const detailsID = `wf-step-details-${step}`;
      const took = state.durationMilliseconds ?? (state.startedAt && state.finishedAt ? new Date(state.finishedAt) - new Date(state.startedAt) : null);
      const toggle = h("button", { type: "button", class: "quiet", id: `wf-step-toggle-${step}`, "aria-expanded": String(open), "aria-controls": detailsID },
        open ? "Hide" : "Show", h("span", { class: "visually-hidden" }, ` the details of ${step}`));
      toggle.addEventListener("click", () => {
        if (expanded.has(step)) expanded.delete(step); else expanded.add(step);
        show(detail);
      });
      const node = definition && definition.nodes.find((candidate) => candidate.id === step);
      return [
        h("tr", { "data-step": step, "data-status": state.status },
          h("th", { scope: "row" }, step, node && node.title ? h("span", { class: "muted wf-step-title" }, node.title) : null),
          h("td", {}, h("status-badge", { status: state.status })),
          h("td", { "data-align": "right" }, String(state.attempts ?? 0)),
          h("td", {}, state.startedAt ? when(state.startedAt) : ""),
          h("td", { "data-align": "right" }, duration(took)),
          h("td", {}, toggle)),
        h("tr", { class: "wf-step-details", id: detailsID, "data-step-details": step, hidden: !open }, h("td", { colspan: 6 }, stepDetails(state))),
      ];
    });
  }

  function stepDetails(state) {
    const json = (label, value) => (value === undefined || value === null ? null : [h("dt", {}, label), h("dd", {}, h("pre", { class: "wf-json" }, pretty(value)))]);
    return h("dl", { class: "facts wf-step-facts" },
      state.port ? [h("dt", {}, "Left by"), h("dd", {}, state.port)] : null,
      state.error ? [h("dt", {}, "Error"), h("dd", { class: "error" }, state.error)] : null,
      state.dueAt ? [h("dt", {}, "Due"), h("dd", {}, when(state.dueAt))] : null,
      state.deadline ? [h("dt", {}, "Deadline"), h("dd", {}, when(state.deadline))] : null,
      state.toolRunID ? [h("dt", {}, "Tool run"), h("dd", {}, h("a", { href: `#/runs/${encodeURIComponent(state.toolRunID)}` }, "Open the tool run"))] : null,
      state.children && state.children.length ? [h("dt", {}, "Child runs"), h("dd", {}, state.children.map((child, index) => [index ? ", " : "",
        h("a", { href: `#/workflow-runs/${encodeURIComponent(child)}` }, `Run ${String(child).slice(-8)}`)]))] : null,
      state.approval && state.approval.decisions.length ? [h("dt", {}, "Decisions"), h("dd", {}, h("ul", {}, state.approval.decisions.map((decision) =>
        h("li", {}, `${decision.approved ? "Approved" : "Rejected"} by ${decision.username}`, decision.comment ? `: ${decision.comment}` : "", " ", when(decision.time)))))] : null,
      json("Input", state.input), json("Output", state.output));
  }

  show(detail);
  context.setTitle(`Run of ${title}`);
  view.replaceChildren(section);

  // Live: the events about this run (or another run of its workflow, such as a child run's
  // parent step moving on) fetch it again; a burst costs one request, a newer answer wins.
  let timer = null;
  let asked = 0;
  const refresh = async () => {
    const ticket = ++asked;
    const answer = await api("GET", runPath(id));
    if (ticket === asked && answer.ok) show(answer.body);
  };
  onEvent = (data) => {
    if (data.runID !== id && data.tool !== detail.run.workflow) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 100);
  };
  if (missed) refresh();
  return () => {
    unsubscribe();
    clearTimeout(timer);
  };
}
