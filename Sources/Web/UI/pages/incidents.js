// Incidents: the list with counts by state and the report form; one incident with its SLA
// clocks, the moves its state allows, comments (internal ones for the team), running a tool
// from it (the run linked to it) and its timeline, updated live.
import "../components/data-table.js";
import "../components/status-badge.js";
import { api, can, problemText, session } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { formValues, submitForm } from "../lib/forms.js";
import { subscribe } from "../lib/live.js";
import { emptyState, field, formMessages, panel, refused } from "../lib/page.js";

const LEVELS = ["high", "medium", "low"];
const STATES = ["new", "in-progress", "pending", "resolved", "closed"];
const NEXT = { new: ["in-progress", "pending", "resolved"], "in-progress": ["pending", "resolved"], pending: ["in-progress", "resolved"], resolved: ["in-progress", "closed"], closed: [] };
const CODES = ["fixed", "workaround", "not-reproducible", "duplicate", "cancelled"];
const incidentPath = (id) => `/api/incidents/${encodeURIComponent(id)}`;

export async function render(view, context) {
  return context.params.id ? renderIncident(view, context) : renderList(view, context);
}

/** Re-runs `refresh` (at most one request per burst) on incident events `matches` accepts. */
function live(matches, refresh) {
  let timer = null;
  const unsubscribe = subscribe((kind, data) => {
    if (!kind.startsWith("incident.") || !matches(data || {})) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 150);
  });
  return () => {
    unsubscribe();
    clearTimeout(timer);
  };
}

function select(id, name, choices, selected) {
  return h("select", { id, name }, choices.map((choice) => h("option", { value: choice, selected: choice === selected }, choice)));
}

/** The running clock due first, as "due …" text (or "breached"). */
function nextDeadline(incident) {
  const running = (incident.slas || []).filter((clock) => clock.state === "running" && clock.dueAt).sort((a, b) => a.dueAt.localeCompare(b.dueAt));
  if (!running.length) return "";
  const clock = running[0];
  return new Date(clock.dueAt) < new Date() ? h("span", { class: "sla-breached" }, `${clock.target} breached`) : h("span", {}, `${clock.target} due `, when(clock.dueAt));
}

// ---- The list ------------------------------------------------------------------------------

async function renderList(view, context) {
  const [first, counts] = await Promise.all([api("GET", "/api/incidents?limit=100"), api("GET", "/api/incidents/counts")]);
  if (!first.ok) return refused(view, first);
  const filter = select("incident-filter", "state", ["all", ...STATES], "all");
  const summary = h("ul", { class: "incident-counts", id: "incident-counts", "aria-label": "Incidents by state" });
  const table = h("data-table", { id: "incident-table" });
  table.caption = "Incidents, newest first";
  table.bodyId = "incident-rows";
  table.rowAttributes = (incident) => ({ "data-incident": incident.number });
  table.columns = [
    { key: "number", label: "Number", render: (incident) => h("a", { href: `#/incidents/${encodeURIComponent(incident.id)}` }, `INC-${incident.number}`), sort: (incident) => incident.number },
    { key: "title", label: "Title", sort: (incident) => incident.title.toLowerCase() },
    { key: "priority", label: "Priority", render: (incident) => h("span", { class: "priority", "data-priority": incident.priority }, `P${incident.priority}`), sort: (incident) => incident.priority },
    { key: "state", label: "State", render: (incident) => h("status-badge", { status: incident.state }) },
    { key: "assigneeName", label: "Assignee", render: (incident) => incident.assigneeName || h("span", { class: "muted" }, "nobody") },
    { key: "slas", label: "Next deadline", render: nextDeadline },
    { key: "createdAt", label: "Opened", render: (incident) => when(incident.createdAt), sort: (incident) => incident.createdAt },
  ];
  const empty = emptyState("No incidents here. Report one below when something breaks.");
  empty.id = "incident-empty";
  const error = h("p", { class: "error", id: "incident-list-error", role: "alert" });

  function show(incidents, byState) {
    table.rows = incidents;
    table.hidden = incidents.length === 0;
    empty.hidden = incidents.length > 0;
    if (byState) {
      summary.replaceChildren(...STATES.map((state) => {
        const total = Object.values(byState[state] || {}).reduce((sum, count) => sum + count, 0);
        return h("li", { "data-state": state }, h("strong", {}, String(total)), " ", state.replaceAll("-", " "));
      }));
    }
  }

  async function refresh() {
    const state = filter.value === "all" ? "" : `&state=${filter.value}`;
    const [list, totals] = await Promise.all([api("GET", `/api/incidents?limit=100${state}`), api("GET", "/api/incidents/counts")]);
    if (!list.ok) return (error.textContent = problemText(list));
    show(list.body.incidents, totals.ok ? totals.body.byState : null);
  }
  filter.addEventListener("change", refresh);

  const form = h("form", { id: "incident-form", novalidate: true },
    field("Title", h("input", { id: "incident-title", name: "title", maxlength: 200, required: true, autocomplete: "off" }), { errorFor: "title" }),
    field("What happens", h("textarea", { id: "incident-description", name: "description", rows: 3, maxlength: 20000 })),
    h("div", { class: "field-row" },
      field("Impact", select("incident-impact", "impact", LEVELS, "medium"), { hint: "How much it hurts" }),
      field("Urgency", select("incident-urgency", "urgency", LEVELS, "medium"), { hint: "How soon it must be fixed" })),
    h("div", { class: "field-row" },
      field("Category", h("input", { id: "incident-category", name: "category", maxlength: 64, placeholder: "general", autocomplete: "off" })),
      field("Service", h("input", { id: "incident-service", name: "service", maxlength: 128, autocomplete: "off" }))),
    ...formMessages("incident-form"),
    h("div", { class: "form-actions" }, h("button", { type: "submit", id: "incident-open" }, "Report the incident")));
  submitForm(form, () => api("POST", "/api/incidents", formValues(form)), (body) => context.navigate(`#/incidents/${encodeURIComponent(body.incident.id)}`));

  show(first.body.incidents, counts.ok ? counts.body.byState : null);
  view.replaceChildren(panel("page-incidents", "Incidents",
    summary,
    h("div", { class: "toolbar" }, field("Show", filter)),
    empty, table, error,
    h("h2", {}, "Report an incident"), form));
  return live(() => true, refresh);
}

// ---- One incident --------------------------------------------------------------------------

async function renderIncident(view, context) {
  const id = context.params.id;
  const first = await api("GET", incidentPath(id));
  if (!first.ok) return refused(view, first);
  const team = can("incidents:work");
  const me = session.me && session.me.user ? session.me.user.username : "";
  let detail = first.body;

  const heading = h("h1", { id: "incident-heading" });
  const facts = h("dl", { class: "facts", id: "incident-facts" });
  const clocks = h("div", { id: "incident-slas" });
  const actions = h("div", { id: "incident-actions" });
  const timeline = h("ol", { class: "incident-timeline", id: "incident-timeline" });
  const announce = h("p", { class: "visually-hidden", role: "status", id: "incident-announce" });
  const hits = h("div", { id: "incident-hits" });
  const similar = h("div", { id: "incident-similar" });
  let similarFor = null;

  /** Other incidents closest in meaning, and how each ended: asked again when the text changes. */
  async function drawSimilar(incident) {
    const text = `${incident.title}\n${incident.service || ""}\n${incident.category}\n${incident.description}`;
    if (text === similarFor) return;
    similarFor = text;
    const answer = await api("GET", `${incidentPath(id)}/similar`);
    if (!answer.ok || similarFor !== text) return;
    const matches = answer.body.matches;
    similar.replaceChildren(h("h2", {}, "Similar incidents"), matches.length
      ? h("ul", {}, matches.map(({ incident: other }) => h("li", { "data-similar": other.number },
        h("a", { href: `#/incidents/${encodeURIComponent(other.id)}` }, `INC-${other.number}: ${other.title}`), " ",
        h("status-badge", { status: other.state }),
        other.resolutionCode ? h("span", { class: "muted" }, ` ${other.resolutionCode}${other.resolutionNotes ? `: ${other.resolutionNotes}` : ""}`) : null)))
      : h("p", { class: "muted" }, "None found yet."));
  }

  /** When the service is a configuration item: what fails with it (its impact). */
  function drawImpact(found) {
    if (!found) return hits.replaceChildren();
    const link = (name) => h("a", { href: `#/assets/${encodeURIComponent(name)}` }, name);
    hits.replaceChildren(h("h2", {}, "What it hits"),
      h("p", {}, "Through ", link(found.item), found.impacted.length ? ":" : ", nothing: no item depends on it."),
      found.impacted.length ? h("ul", {}, found.impacted.map((item) => h("li", { "data-impacted": item.name }, link(item.name), ` (${item.type})`))) : null);
  }

  function describeEntry(entry) {
    switch (entry.kind) {
      case "opened": return `opened ${entry.text || ""}`;
      case "changed": return `changed ${entry.field} from ${entry.old ?? "nothing"} to ${entry.new ?? "nothing"}`;
      case "state": return `moved it from ${entry.old} to ${entry.new}${entry.text ? `: ${entry.text}` : ""}`;
      case "comment": return `${entry.isInternal ? "noted (internal)" : "commented"}: ${entry.text}`;
      case "link": return `linked ${entry.field} ${entry.new}`;
      case "sla": return entry.text || "SLA";
      default: return entry.kind;
    }
  }

  function linkTo(link) {
    const href = link.kind === "tool-run" ? `#/runs/${encodeURIComponent(link.id)}` : link.kind === "workflow-run" ? `#/workflow-runs/${encodeURIComponent(link.id)}` : `#/chat/${encodeURIComponent(link.id)}`;
    return h("li", { "data-link": link.id }, h("a", { href }, `${link.kind.replaceAll("-", " ")} ${link.id.slice(-8)}`));
  }

  function show(next) {
    detail = next;
    const incident = detail.incident;
    heading.textContent = `INC-${incident.number}: ${incident.title}`;
    context.setTitle(`INC-${incident.number}`);
    facts.replaceChildren(...[
      h("dt", {}, "State"), h("dd", {}, h("status-badge", { status: incident.state, id: "incident-state" })),
      h("dt", {}, "Priority"), h("dd", { id: "incident-priority" }, `P${incident.priority} (impact ${incident.impact}, urgency ${incident.urgency})`),
      h("dt", {}, "Category"), h("dd", {}, incident.category, incident.service ? ` · service ${incident.service}` : ""),
      h("dt", {}, "Assignee"), h("dd", { id: "incident-assignee" }, incident.assigneeName || "nobody", incident.group ? ` · ${incident.group}` : ""),
      h("dt", {}, "Reported"), h("dd", {}, `by ${incident.reporterName} `, when(incident.createdAt)),
      incident.major ? [h("dt", {}, "Major"), h("dd", {}, "yes")] : null,
      incident.pendingReason ? [h("dt", {}, "Waiting for"), h("dd", {}, incident.pendingReason, incident.pendingUntil ? [" until ", when(incident.pendingUntil)] : "")] : null,
      incident.resolutionCode ? [h("dt", {}, "Resolution"), h("dd", {}, incident.resolutionCode, incident.resolutionNotes ? `: ${incident.resolutionNotes}` : "")] : null,
      incident.links.length ? [h("dt", {}, "Linked"), h("dd", {}, h("ul", { id: "incident-links" }, incident.links.map(linkTo)))] : null,
    ].flat().filter(Boolean));
    clocks.replaceChildren(incident.slas.length ? h("ul", { class: "sla-clocks" }, incident.slas.map((clock, index) => {
      const counted = clock.targetSeconds ? Math.min(100, Math.round(((clock.state === "running" && clock.runningSince
        ? clock.elapsedSeconds + Math.max(0, (Date.now() - new Date(clock.runningSince)) / 1000) : clock.elapsedSeconds) / clock.targetSeconds) * 100)) : 100;
      const label = `${clock.target.replaceAll("-", " ")} (${clock.sla} v${clock.slaVersion})`;
      return h("li", { "data-sla": index, "data-state": clock.state },
        h("span", { id: `sla-label-${index}` }, label, ": ", h("status-badge", { status: clock.state })),
        h("progress", { max: 100, value: counted, "aria-labelledby": `sla-label-${index}` }),
        h("span", { class: "muted" }, clock.dueAt ? ["due ", when(clock.dueAt)] : clock.stoppedAt ? ["stopped ", when(clock.stoppedAt)] : "paused"));
    })) : h("p", { class: "muted" }, "No SLA applies to this incident."));
    timeline.replaceChildren(...detail.timeline.map((entry) => h("li", { "data-kind": entry.kind, "data-sequence": entry.sequence },
      h("span", { class: "muted" }, when(entry.time), " "), h("strong", {}, entry.actorName), " ", describeEntry(entry))));
    announce.textContent = `INC-${incident.number} is ${incident.state.replaceAll("-", " ")}.`;
    drawActions(incident);
    drawImpact(detail.hits);
    drawSimilar(incident);
  }

  const answerWith = (result) => {
    if (result.ok) show(result.body);
    return result;
  };

  function drawActions(incident) {
    const reporterMoves = incident.reporterName === me && incident.state === "resolved" ? ["in-progress", "closed"] : [];
    const moves = team ? NEXT[incident.state] : reporterMoves;
    const parts = [];
    if (moves.length) {
      const state = select("incident-move-state", "state", moves, moves[0]);
      const reason = h("input", { id: "incident-move-reason", name: "reason", maxlength: 500, autocomplete: "off" });
      const until = h("input", { id: "incident-move-until", name: "until", type: "datetime-local" });
      const code = select("incident-move-code", "resolutionCode", CODES, "fixed");
      const notes = h("input", { id: "incident-move-notes", name: "notes", maxlength: 2000, autocomplete: "off" });
      const pendingFields = h("div", { class: "field-row" }, field("Waiting for", reason), field("Back on (optional)", until));
      const resolvedFields = h("div", { class: "field-row" }, field("Resolution", code), field("Notes", notes));
      const sync = () => {
        pendingFields.hidden = state.value !== "pending";
        resolvedFields.hidden = state.value !== "resolved";
      };
      state.addEventListener("change", sync);
      sync();
      const form = h("form", { id: "incident-move-form", novalidate: true }, h("h2", {}, "Move"), field("To", state), pendingFields, resolvedFields,
        ...formMessages("incident-move"), h("div", { class: "form-actions" }, h("button", { type: "submit", id: "incident-move" }, "Move")));
      submitForm(form, () => {
        const body = { state: state.value };
        if (state.value === "pending") {
          body.reason = reason.value;
          if (until.value) body.until = new Date(until.value).toISOString();
        }
        if (state.value === "resolved") Object.assign(body, { resolutionCode: code.value, notes: notes.value });
        return api("POST", `${incidentPath(id)}/state`, body).then(answerWith);
      });
      parts.push(form);
    }
    if (team && incident.state !== "closed") {
      const assignee = h("input", { id: "incident-assignee-input", name: "assignee", maxlength: 64, autocomplete: "off", props: { value: incident.assigneeName || "" } });
      const form = h("form", { id: "incident-assign-form", novalidate: true }, field("Assign to (user name)", assignee, { errorFor: "assignee" }),
        ...formMessages("incident-assign"), h("div", { class: "form-actions" }, h("button", { type: "submit", id: "incident-assign" }, "Assign")));
      submitForm(form, () => api("PATCH", incidentPath(id), { assignee: assignee.value.trim() }).then(answerWith));
      parts.push(form);
    }
    if (team && can("tools:run") && incident.state !== "closed") parts.push(runForm());
    if (incident.state !== "closed" && (team || incident.reporterName === me)) {
      const text = h("textarea", { id: "incident-comment-text", name: "text", rows: 3, maxlength: 20000 });
      const internal = h("input", { id: "incident-comment-internal", name: "internal", type: "checkbox" });
      const form = h("form", { id: "incident-comment-form", novalidate: true }, h("h2", {}, "Comment"), field("Comment", text, { errorFor: "text" }),
        team ? field("Internal (only the team sees it)", internal) : null,
        ...formMessages("incident-comment"), h("div", { class: "form-actions" }, h("button", { type: "submit", id: "incident-comment" }, "Add the comment")));
      submitForm(form, () => api("POST", `${incidentPath(id)}/comments`, { text: text.value, internal: team && internal.checked }), (body) => {
        text.value = "";
        internal.checked = false;
        show(body);
      });
      parts.push(form);
    }
    // Redraw only when what the forms offer changed, so typing survives live updates.
    const signature = JSON.stringify([incident.state, moves, team, incident.assigneeName]);
    if (actions.dataset.signature === signature) return;
    actions.dataset.signature = signature;
    actions.replaceChildren(...parts);
  }

  /** Runs a catalog tool or starts a workflow as the signed-in person and links the run to the incident. */
  function runForm() {
    const tool = h("select", { id: "incident-tool", name: "tool" }, h("option", { value: "" }, "Loading the catalog…"));
    const input = h("textarea", { id: "incident-tool-input", rows: 2, spellcheck: "false", props: { value: "{}" } });
    const form = h("form", { id: "incident-run-form", novalidate: true }, h("h2", {}, "Run a tool or a workflow for it"), field("Tool or workflow", tool),
      field("Input (JSON)", input),
      ...formMessages("incident-run"), h("div", { class: "form-actions" }, h("button", { type: "submit", id: "incident-run" }, "Run and link")));
    Promise.all([api("GET", "/api/tools"), api("GET", "/api/workflows")]).then(([tools, workflows]) => {
      const groups = [
        h("optgroup", { label: "Tools" }, (tools.ok ? tools.body.tools : []).map((entry) => h("option", { value: `tool:${entry.name}` }, `${entry.title} (${entry.name})`))),
        h("optgroup", { label: "Workflows" }, (workflows.ok ? workflows.body.workflows : []).map((entry) =>
          h("option", { value: `workflow:${entry.name}` }, `${entry.title || entry.name} (workflow ${entry.name})`))),
      ];
      tool.replaceChildren(...groups.filter((group) => group.children.length));
    });
    submitForm(form, async () => {
      let parsed;
      try { parsed = JSON.parse(input.value || "{}"); } catch {
        form.querySelector("[role=alert]").textContent = "The input is not JSON.";
        return null;
      }
      const [kind, name] = [tool.value.slice(0, tool.value.indexOf(":")), tool.value.slice(tool.value.indexOf(":") + 1)];
      if (kind === "workflow") {
        const started = await api("POST", `/api/workflows/${encodeURIComponent(name)}/runs`, { inputs: parsed });
        if (!started.ok) return started;
        return api("POST", `${incidentPath(id)}/links`, { kind: "workflow-run", id: started.body.run.id }).then(answerWith);
      }
      const run = await api("POST", `/api/tools/${encodeURIComponent(name)}/runs`, { input: parsed });
      if (!run.ok) return run;
      return api("POST", `${incidentPath(id)}/links`, { kind: "tool-run", id: run.body.id }).then(answerWith);
    });
    return form;
  }

  show(detail);
  view.replaceChildren(h("section", { class: "panel", id: "page-incident" },
    h("p", { class: "back" }, h("a", { href: "#/incidents" }, "← All incidents")),
    heading, announce, facts, hits, h("h2", {}, "SLAs"), clocks, actions, h("h2", {}, "Timeline"), timeline, similar));
  return live((data) => data.runID === id, async () => {
    const answer = await api("GET", incidentPath(id));
    if (answer.ok) show(answer.body);
  });
}
