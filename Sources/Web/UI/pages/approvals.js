// Runs waiting for a decision: approve or reject each, with a comment; and the changes waiting
// for the person's CAB decision, each decided on its page. Refreshed live as requests arrive
// and others decide.
import "../components/data-table.js";
import { toast } from "../components/toast.js";
import { api, problemText } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { subscribe } from "../lib/live.js";
import { emptyState, panel, refused } from "../lib/page.js";

export async function render(view) {
  const first = await api("GET", "/api/approvals");
  if (!first.ok) return refused(view, first);

  const comments = new Map();  // run id → the comment typed so far (kept across redraws)
  const busy = new Set();      // run ids with a decision on its way
  const error = h("p", { class: "error", id: "approvals-error", role: "alert" });
  const empty = emptyState("Nothing is waiting for a decision. Requests for risky runs appear here as they are made.");
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
    { key: "comment", label: "Comment", render: commentInput },
    { key: "actions", label: "Decision", render: decisionButtons },
  ];

  function describe(run) {
    return `${run.toolTitle} requested by ${run.requester}`;
  }

  function commentInput(run) {
    const input = h("input", { class: "approval-comment", "aria-label": `Comment on ${describe(run)}`, props: { value: comments.get(run.id) || "" } });
    input.addEventListener("input", () => comments.set(run.id, input.value));
    return input;
  }

  function decisionButtons(run) {
    const buttons = [["Approve", true], ["Reject", false]].map(([label, approve]) => h("button", {
      type: "button", class: approve ? "approve" : "reject quiet", "aria-label": `${label} ${describe(run)}`, disabled: busy.has(run.id),
    }, label));
    buttons.forEach((button, index) => button.addEventListener("click", () => decide(run, index === 0, buttons)));
    return h("span", { class: "approval-actions" }, buttons);
  }

  async function decide(run, approve, buttons) {
    error.textContent = "";
    busy.add(run.id);
    for (const button of buttons) button.disabled = true;
    const answer = await api("POST", `/api/approvals/${encodeURIComponent(run.id)}/decision`, { approve, comment: comments.get(run.id) || "" });
    busy.delete(run.id);
    if (answer.ok) {
      comments.delete(run.id);
      toast(`${approve ? "Approved" : "Rejected"}: ${describe(run)}.`, { kind: "ok" });
    } else {
      error.textContent = problemText(answer);
      for (const button of buttons) button.disabled = false;
    }
    window.dispatchEvent(new CustomEvent("portal:approvals-changed"));
    await refresh();
  }

  const cab = h("ul", { id: "approvals-changes" });
  const cabSection = h("section", { "aria-labelledby": "approvals-changes-heading", hidden: true },
    h("h2", { id: "approvals-changes-heading" }, "Changes waiting for your CAB decision"), cab);
  async function refreshChanges() {
    const answer = await api("GET", "/api/change-approvals");
    const changes = answer.ok ? answer.body.changes : [];
    cab.replaceChildren(...changes.map((change) => h("li", { "data-change": change.number },
      h("a", { href: `#/changes/${encodeURIComponent(change.id)}` }, `CHG-${change.number}: ${change.title}`),
      h("span", { class: "muted" }, ` · ${change.type}, risk ${change.risk}, by ${change.requesterName}`))));
    cabSection.hidden = changes.length === 0;
  }

  let signature = null;
  function show(approvals) {
    // Unchanged queue: no redraw, so a comment being typed keeps its field.
    const next = JSON.stringify(approvals.map((run) => [run.id, run.status, run.decisions.length]));
    if (next === signature) return;
    signature = next;
    for (const id of comments.keys()) if (!approvals.some((run) => run.id === id)) comments.delete(id);
    table.rows = approvals;
    table.hidden = approvals.length === 0;
    empty.hidden = approvals.length > 0;
  }

  let asked = 0;
  async function refresh() {
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
  view.replaceChildren(panel("page-approvals", "Approvals",
    h("p", { class: "muted" }, "Risky runs wait here until someone with the right to decide approves or rejects them. The comment goes into the audit trail."),
    empty, table, error, cabSection));
  refreshChanges();

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
