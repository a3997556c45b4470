// Changes: the list and the form to open one; one change with its window and items, the
// windows it clashes with, the CAB's decisions (approve or reject for its members), the moves
// its type allows, and its history, updated live.
import "../components/data-table.js";
import "../components/status-badge.js";
import { api, can, problemText, session } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { submitForm } from "../lib/forms.js";
import { subscribe } from "../lib/live.js";
import { emptyState, field, formMessages, panel, refused } from "../lib/page.js";

const TYPES = ["normal", "standard", "emergency"];
const LEVELS = ["low", "medium", "high"];
const OUTCOMES = ["successful", "failed", "backed-out"];
const NEXT = {
  standard: { new: ["scheduled"] },
  normal: { new: ["assess"] },
  emergency: { new: ["authorize"] },
  any: { assess: ["authorize"], scheduled: ["implement"], implement: ["review"], review: ["closed"] },
};
const changePath = (id) => `/api/changes/${encodeURIComponent(id)}`;

/** The moves a change's type allows from its state (leaving authorize is the CAB's). */
function moves(change) {
  if (change.state === "closed" || change.state === "cancelled") return [];
  return [...(NEXT[change.type][change.state] || NEXT.any[change.state] || []), "cancelled"];
}

function select(id, name, choices, selected) {
  return h("select", { id, name }, choices.map((choice) => h("option", { value: choice, selected: choice === selected }, choice)));
}

/** A datetime-local value as an ISO instant, or undefined when empty. */
const instant = (input) => (input.value ? new Date(input.value).toISOString() : undefined);

export async function render(view, context) {
  const cleanup = context.params.id ? await renderChange(view, context) : await renderList(view, context);
  return cleanup;
}

function live(matches, refresh) {
  let timer = null;
  const unsubscribe = subscribe((kind, data) => {
    if (!kind.startsWith("change.") || !matches(data || {})) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 150);
  });
  return () => {
    unsubscribe();
    clearTimeout(timer);
  };
}

// ---- The list ------------------------------------------------------------------------------

async function renderList(view, context) {
  const [first, templates] = await Promise.all([api("GET", "/api/changes?limit=100"), api("GET", "/api/change-templates")]);
  if (!first.ok) return refused(view, first);
  const table = h("data-table", { id: "change-table" });
  table.caption = "Changes, newest first";
  table.bodyId = "change-rows";
  table.rowAttributes = (change) => ({ "data-change": change.number });
  table.columns = [
    { key: "number", label: "Number", render: (change) => h("a", { href: `#/changes/${encodeURIComponent(change.id)}` }, `CHG-${change.number}`), sort: (change) => change.number },
    { key: "title", label: "Title", sort: (change) => change.title.toLowerCase() },
    { key: "type", label: "Type" },
    { key: "state", label: "State", render: (change) => h("status-badge", { status: change.state }) },
    { key: "windowStart", label: "Window", render: (change) => (change.windowStart ? when(change.windowStart) : h("span", { class: "muted" }, "not planned")), sort: (change) => change.windowStart || "" },
    { key: "requesterName", label: "Requested by" },
  ];
  const empty = emptyState("No changes yet.");
  empty.id = "change-empty";
  const show = (changes) => {
    table.rows = changes;
    table.hidden = changes.length === 0;
    empty.hidden = changes.length > 0;
  };
  show(first.body.changes);
  const parts = [empty, table];
  if (can("changes:request")) {
    const type = select("change-type", "type", TYPES, "normal");
    const template = h("select", { id: "change-template", name: "template" },
      (templates.ok ? templates.body.templates : []).map((entry) => h("option", { value: entry.name }, entry.title)));
    const templateField = field("Template", template, { errorFor: "template" });
    const title = h("input", { id: "change-title", name: "title", maxlength: 200, autocomplete: "off" });
    const items = h("input", { id: "change-assets", name: "assets", autocomplete: "off", placeholder: "db-7, billing" });
    const start = h("input", { id: "change-start", name: "windowStart", type: "datetime-local" });
    const end = h("input", { id: "change-end", name: "windowEnd", type: "datetime-local" });
    const risk = select("change-risk", "risk", LEVELS, "low");
    const impact = select("change-impact", "impact", LEVELS, "low");
    const backout = h("textarea", { id: "change-backout", name: "backoutPlan", rows: 2, maxlength: 20000 });
    const sync = () => { templateField.hidden = type.value !== "standard"; };
    type.addEventListener("change", sync);
    sync();
    const form = h("form", { id: "change-form", novalidate: true },
      h("div", { class: "field-row" }, field("Type", type), templateField),
      field("Title", title, { errorFor: "title" }),
      field("Configuration items (comma-separated)", items, { errorFor: "assets" }),
      h("div", { class: "field-row" }, field("Window starts", start), field("Window ends", end, { errorFor: "windowEnd" })),
      h("div", { class: "field-row" }, field("Risk", risk), field("Impact", impact)),
      field("Backout plan", backout),
      ...formMessages("change-form"),
      h("div", { class: "form-actions" }, h("button", { type: "submit", id: "change-open" }, "Open the change")));
    submitForm(form, () => {
      const body = { type: type.value, risk: risk.value, impact: impact.value, backoutPlan: backout.value,
        assets: items.value.split(",").map((item) => item.trim()).filter(Boolean), windowStart: instant(start), windowEnd: instant(end) };
      if (title.value.trim()) body.title = title.value.trim();
      if (type.value === "standard") body.template = template.value;
      return api("POST", "/api/changes", body);
    }, (body) => context.navigate(`#/changes/${encodeURIComponent(body.change.id)}`));
    parts.push(h("h2", {}, "Open a change"), form);
  }
  view.replaceChildren(panel("page-changes", "Changes", ...parts));
  return live(() => true, async () => {
    const answer = await api("GET", "/api/changes?limit=100");
    if (answer.ok) show(answer.body.changes);
  });
}

// ---- One change ----------------------------------------------------------------------------

async function renderChange(view, context) {
  const id = context.params.id;
  const first = await api("GET", changePath(id));
  if (!first.ok) return refused(view, first);
  const me = session.me && session.me.user ? session.me.user.username : "";
  const heading = h("h1", { id: "change-heading" });
  const facts = h("dl", { class: "facts", id: "change-facts" });
  const clash = h("p", { class: "error", id: "change-conflicts", role: "alert" });
  const decisions = h("ul", { id: "change-decisions" });
  const actions = h("div", { id: "change-actions" });
  const history = h("ol", { id: "change-history" });
  const announce = h("p", { class: "visually-hidden", role: "status", id: "change-announce" });

  function show(answer) {
    const change = answer.change;
    heading.textContent = `CHG-${change.number}: ${change.title}`;
    context.setTitle(`CHG-${change.number}`);
    facts.replaceChildren(...[
      h("dt", {}, "State"), h("dd", {}, h("status-badge", { status: change.state, id: "change-state" })),
      h("dt", {}, "Type"), h("dd", {}, change.type, change.template ? ` (template ${change.template})` : ""),
      h("dt", {}, "Risk, impact"), h("dd", {}, `${change.risk}, ${change.impact}`),
      h("dt", {}, "Window"), h("dd", {}, change.windowStart ? [when(change.windowStart), " to ", when(change.windowEnd)] : "not planned"),
      h("dt", {}, "Items"), h("dd", {}, change.assets.length ? change.assets.map((name, index) => [index ? ", " : "", h("a", { href: `#/assets/${encodeURIComponent(name)}` }, name)]) : "none"),
      h("dt", {}, "Backout plan"), h("dd", {}, change.backoutPlan || "none"),
      change.implementationWorkflow ? [h("dt", {}, "Implementation"), h("dd", {}, change.implementationRunID
        ? h("a", { href: `#/workflow-runs/${encodeURIComponent(change.implementationRunID)}` }, `workflow ${change.implementationWorkflow}`) : `workflow ${change.implementationWorkflow}`)] : null,
      change.cab ? [h("dt", {}, "CAB"), h("dd", {}, change.cab.approvers && change.cab.approvers.length
        ? `${change.cab.mode === "all-of" ? "all of" : "any one of"} ${change.cab.approvers.join(", ")}` : `${change.cab.required || 1} with the ${change.cab.role} role`)] : null,
      change.rejection ? [h("dt", {}, "Sent back"), h("dd", { id: "change-rejection" }, change.rejection)] : null,
      change.outcome ? [h("dt", {}, "Outcome"), h("dd", {}, change.outcome, change.review ? `: ${change.review}` : "")] : null,
    ].flat().filter(Boolean));
    clash.textContent = answer.conflicts.length ? `Its window overlaps ${answer.conflicts.join(", ")} on the same items.` : "";
    decisions.replaceChildren(...change.decisions.map((decision) => h("li", { "data-approver": decision.approverName },
      `${decision.approverName} ${decision.approve ? "approved" : "rejected"}`, decision.comment ? `: ${decision.comment}` : "", " ", when(decision.time))));
    history.replaceChildren(...change.history.map((line) => h("li", {}, line)));
    announce.textContent = `CHG-${change.number} is ${change.state}.`;
    drawActions(change);
  }

  const answerWith = (result) => {
    if (result.ok) show(result.body);
    return result;
  };

  function drawActions(change) {
    const parts = [];
    if (change.state === "authorize" && change.requesterName !== me) {
      const comment = h("input", { id: "change-decision-comment", name: "comment", maxlength: 2000, autocomplete: "off" });
      const decide = (approve) => () => api("POST", `${changePath(id)}/decision`, { approve, comment: comment.value }).then(answerWith);
      const form = h("form", { id: "change-decision-form", novalidate: true }, h("h2", {}, "CAB decision"), field("Comment (a rejection says why)", comment, { errorFor: "comment" }),
        ...formMessages("change-decision"),
        h("div", { class: "form-actions" }, h("button", { type: "submit", id: "change-approve" }, "Approve"),
          h("button", { type: "button", class: "secondary", id: "change-reject", on: { click: async () => {
            const result = await decide(false)();
            if (!result.ok) form.querySelector("[role=alert]").textContent = problemText(result);
          } } }, "Reject")));
      submitForm(form, decide(true));
      parts.push(form);
    }
    const next = can("changes:request") ? moves(change) : [];
    if (next.length) {
      const state = select("change-move-state", "state", next, next[0]);
      const outcome = select("change-move-outcome", "outcome", OUTCOMES, "successful");
      const notes = h("input", { id: "change-move-notes", name: "notes", maxlength: 2000, autocomplete: "off" });
      const outcomeField = field("Outcome", outcome);
      const sync = () => { outcomeField.hidden = state.value !== "review"; };
      state.addEventListener("change", sync);
      sync();
      const form = h("form", { id: "change-move-form", novalidate: true }, h("h2", {}, "Move"), h("div", { class: "field-row" }, field("To", state), outcomeField),
        field("Notes (the review when closing)", notes, { errorFor: "notes" }), ...formMessages("change-move"),
        h("div", { class: "form-actions" }, h("button", { type: "submit", id: "change-move" }, "Move")));
      submitForm(form, () => {
        const body = { state: state.value };
        if (state.value === "review") body.outcome = outcome.value;
        if (notes.value.trim()) body.notes = notes.value.trim();
        return api("POST", `${changePath(id)}/state`, body).then(answerWith);
      });
      parts.push(form);
    }
    const signature = JSON.stringify([change.state, change.decisions.length, next]);
    if (actions.dataset.signature === signature) return;
    actions.dataset.signature = signature;
    actions.replaceChildren(...parts);
  }

  show(first.body);
  view.replaceChildren(h("section", { class: "panel", id: "page-change" },
    h("p", { class: "back" }, h("a", { href: "#/changes" }, "← All changes")),
    heading, announce, clash, facts, h("h2", {}, "Decisions"), decisions, actions, h("h2", {}, "History"), history));
  return live((data) => data.runID === id, async () => {
    const answer = await api("GET", changePath(id));
    if (answer.ok) show(answer.body);
  });
}
