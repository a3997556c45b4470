// What waits for the person's decision: risky runs (for those who decide approvals), approved
// or rejected with a comment; and the changes waiting for their CAB decision, approved or
// rejected (with the reason) right here or on the change's page. Refreshed live as requests
// arrive and others decide.
import "../components/data-table.js";
import { toast } from "../components/toast.js";
import { api, can, problemText } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { subscribe } from "../lib/live.js";
import { emptyState, panel, refused } from "../lib/page.js";

export async function render(view) {
  const decidesRuns = can("approvals:decide");
  const first = decidesRuns ? await api("GET", "/api/approvals") : { ok: true, body: { approvals: [] } };
  if (!first.ok) return refused(view, first);
  const firstChanges = await api("GET", "/api/change-approvals");
  if (!firstChanges.ok) return refused(view, firstChanges);

  const comments = new Map();  // "run:<id>" or "change:<id>" → the comment typed so far (kept across redraws)
  const busy = new Set();      // the same keys, with a decision on its way
  const error = h("p", { class: "error", id: "approvals-error", role: "alert" });
  const empty = emptyState(decidesRuns ? "Nothing is waiting for a decision. Requests for risky runs appear here as they are made."
    : "No change is waiting for your CAB decision. Changes sent to a CAB you are on appear here.");
  empty.id = "approvals-empty";

  const table = h("data-table", { id: "approvals-table" });
  table.caption = "Runs waiting for a decision";
  table.bodyId = "approvals-rows";
  table.rowAttributes = (run) => ({ "data-run-id": run.id });
  table.columns = [
    { key: "createdAt", label: "Requested", render: (run) => h("span", {}, when(run.createdAt),
      run.approvalExpiresAt ? h("span", { class: "muted approval-expires" }, " · expires ", when(run.approvalExpiresAt)) : null), sort: (run) => run.createdAt },
    { key: "toolTitle", label: "Tool", render: (run) => h("a", { href: `#/runs/${encodeURIComponent(run.id)}`, title: run.tool }, run.toolTitle), sort: (run) => run.toolTitle.toLowerCase() },
    { key: "risk", label: "Risk", render: (run) => h("span", { class: "risk", "data-risk": run.risk }, run.risk) },
    { key: "requester", label: "By", sort: (run) => run.requester.toLowerCase() },
    { key: "input", label: "Input", render: (run) => h("code", { class: "approval-input" }, JSON.stringify(run.input)) },
    { key: "comment", label: "Comment", render: (run) => commentInput(`run:${run.id}`, `Comment on ${describe(run)}`) },
    { key: "actions", label: "Decision", render: (run) => decisionButtons(`run:${run.id}`, describe(run),
      (approve) => api("POST", `/api/approvals/${encodeURIComponent(run.id)}/decision`, { approve, comment: comments.get(`run:${run.id}`) || "" })) },
  ];

  function describe(run) {
    return `${run.toolTitle} requested by ${run.requester}`;
  }

  function describeChange(change) {
    return `CHG-${change.number} requested by ${change.requesterName}`;
  }

  /** A comment field for the item `key` ("run:<id>", "change:<id>"), kept across redraws. */
  function commentInput(key, label) {
    const input = h("input", { class: "approval-comment", "aria-label": label, props: { value: comments.get(key) || "" } });
    input.addEventListener("input", () => comments.set(key, input.value));
    return input;
  }

  /** Approve and Reject for the item `key`; `send(approve)` makes the decision's request. */
  function decisionButtons(key, description, send) {
    const buttons = [["Approve", true], ["Reject", false]].map(([label, approve]) => h("button", {
      type: "button", class: approve ? "approve" : "reject quiet", "aria-label": `${label} ${description}`, disabled: busy.has(key),
    }, label));
    buttons.forEach((button, index) => button.addEventListener("click", () => decide(key, description, index === 0, buttons, send)));
    return h("span", { class: "approval-actions" }, buttons);
  }

  async function decide(key, description, approve, buttons, send) {
    error.textContent = "";
    busy.add(key);
    for (const button of buttons) button.disabled = true;
    const answer = await send(approve);
    busy.delete(key);
    if (answer.ok) {
      comments.delete(key);
      toast(`${approve ? "Approved" : "Rejected"}: ${description}.`, { kind: "ok" });
    } else {
      error.textContent = problemText(answer);
      for (const button of buttons) button.disabled = false;
    }
    window.dispatchEvent(new CustomEvent("portal:approvals-changed"));
    await Promise.all([refresh(), refreshChanges()]);
  }

  const waiting = { runs: 0, changes: 0 };

  // Changes: one row each, decided with the same comment and buttons as the runs.
  const cabTable = h("data-table", { id: "approvals-changes" });
  cabTable.caption = "Changes waiting for your CAB decision";
  cabTable.bodyId = "approvals-change-rows";
  cabTable.rowAttributes = (change) => ({ "data-change": change.number });
  cabTable.columns = [
    { key: "number", label: "Change", render: (change) => h("a", { href: `#/changes/${encodeURIComponent(change.id)}` }, `CHG-${change.number}: ${change.title}`),
      sort: (change) => change.number },
    { key: "type", label: "Type" },
    { key: "risk", label: "Risk", render: (change) => h("span", { class: "risk", "data-risk": change.risk }, change.risk) },
    { key: "window", label: "Window", render: (change) => change.windowStart ? h("span", {}, when(change.windowStart), " – ", when(change.windowEnd)) : "—", sort: (change) => change.windowStart || "" },
    { key: "requesterName", label: "By", sort: (change) => change.requesterName.toLowerCase() },
    { key: "comment", label: "Comment", render: (change) => commentInput(`change:${change.id}`, `Comment on ${describeChange(change)}`) },
    { key: "actions", label: "Decision", render: (change) => decisionButtons(`change:${change.id}`, describeChange(change),
      (approve) => api("POST", `/api/changes/${encodeURIComponent(change.id)}/decision`, { approve, comment: comments.get(`change:${change.id}`) || "" })) },
  ];
  const cabSection = h("section", { "aria-labelledby": "approvals-changes-heading", hidden: true },
    h("h2", { id: "approvals-changes-heading" }, "Changes waiting for your CAB decision"),
    h("p", { class: "muted" }, "A rejection needs a comment saying why: the change goes back to assessment with it."), cabTable);
  let changeSignature = null;
  function showChanges(changes) {
    const next = JSON.stringify(changes.map((change) => [change.id, change.state, change.decisions.length]));
    if (next === changeSignature) return;
    changeSignature = next;
    forgetComments("change:", changes);
    cabTable.rows = changes;
    cabSection.hidden = changes.length === 0;
    waiting.changes = changes.length;
    empty.hidden = waiting.runs + waiting.changes > 0;
  }
  let askedChanges = 0;
  async function refreshChanges() {
    const ticket = ++askedChanges;
    const answer = await api("GET", "/api/change-approvals");
    if (ticket === askedChanges && answer.ok) showChanges(answer.body.changes);
  }

  let signature = null;
  function show(approvals) {
    // Unchanged queue: no redraw, so a comment being typed keeps its field.
    const next = JSON.stringify(approvals.map((run) => [run.id, run.status, run.decisions.length]));
    if (next === signature) return;
    signature = next;
    forgetComments("run:", approvals);
    table.rows = approvals;
    table.hidden = approvals.length === 0;
    waiting.runs = approvals.length;
    empty.hidden = waiting.runs + waiting.changes > 0;
  }

  /** Drops the comments typed for items of `prefix` that no longer wait. */
  function forgetComments(prefix, items) {
    for (const key of comments.keys()) if (key.startsWith(prefix) && !items.some((item) => prefix + item.id === key)) comments.delete(key);
  }

  let asked = 0;
  async function refresh() {
    if (!decidesRuns) return;
    const ticket = ++asked;
    const answer = await api("GET", "/api/approvals");
    if (ticket !== asked) return;
    if (!answer.ok) {
      error.textContent = problemText(answer);
      return;
    }
    show(answer.body.approvals);
  }

  show(first.body.approvals);
  showChanges(firstChanges.body.changes);
  view.replaceChildren(panel("page-approvals", "Approvals",
    h("p", { class: "muted" }, decidesRuns ? "Risky runs wait here until someone with the right to decide approves or rejects them; changes wait for their CAB. Every decision and its comment go into the audit trail."
      : "Changes wait here for the decision of their CAB. Every decision and its comment go into the audit trail."),
    empty, table, error, cabSection));

  let timer = null;
  const unsubscribe = subscribe((kind) => {
    if (kind.startsWith("change.")) refreshChanges();
    if (!kind.startsWith("approval.") && !kind.startsWith("run.")) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  });
  return () => {
    unsubscribe();
    clearTimeout(timer);
  };
}
