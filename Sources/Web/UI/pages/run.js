// One run: its status, who asked, the input, the approval timeline and the output; updated
// in place by the live events about it (no reload).
import { api } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { duration, when } from "../lib/format.js";
import { subscribe } from "../lib/live.js";
import { panel, refused } from "../lib/page.js";
import { statusLabel } from "../components/status-badge.js";

const final = (status) => !["pending-approval", "running"].includes(status);

export async function render(view, context) {
  const id = context.params.id;
  const first = await api("GET", `/api/runs/${encodeURIComponent(id)}`);
  if (!first.ok) return refused(view, first);

  const title = h("span", { id: "run-title" });
  const status = h("span", { class: "status-badge", id: "run-status" });
  const announce = h("p", { class: "visually-hidden", id: "run-announce", role: "status" });
  const requester = h("dd", { id: "run-requester" });
  const input = h("code", { id: "run-input" });
  const timeline = h("ol", { class: "timeline", id: "run-timeline" });
  const runError = h("p", { class: "error", id: "run-error" });
  const output = h("pre", { class: "output", id: "run-output", tabindex: "0", "aria-label": "Output" });
  const outputFacts = h("p", { class: "muted", id: "run-output-facts" });
  const result = h("div", { id: "run-result", hidden: true }, h("h2", {}, "Output"), runError, outputFacts, output);
  const toolLink = h("a", {}, "Open the tool");

  const section = panel("page-run", "");
  const heading = section.querySelector("h1");
  heading.replaceChildren(title, " ", status);
  section.prepend(h("p", { class: "back" }, h("a", { href: "#/" }, "← All tools")));
  section.append(announce,
    h("dl", { class: "facts" },
      h("dt", {}, "Requested by"), requester,
      h("dt", {}, "Input"), h("dd", {}, h("pre", { class: "run-input" }, input))),
    h("p", {}, toolLink),
    h("h2", {}, "Timeline"), timeline, result);

  let shownStatus = null;
  function show(run) {
    section.dataset.runId = run.id;
    title.textContent = run.toolTitle;
    title.title = run.tool;
    status.textContent = statusLabel(run.status);
    status.dataset.status = run.status;
    if (shownStatus !== null && shownStatus !== run.status) announce.textContent = `Status: ${statusLabel(run.status)}.`;
    shownStatus = run.status;
    requester.textContent = `${run.requester} (via ${run.entryPoint})`;
    input.textContent = JSON.stringify(run.input, null, 2);
    toolLink.href = `#/tools/${encodeURIComponent(run.tool)}`;

    const steps = [h("li", {}, when(run.createdAt), `: requested by ${run.requester}`)];
    if (run.status === "pending-approval") {
      const rule = run.approvalRule;
      let who = "";
      if (rule && rule.approvers && rule.approvers.length) who = rule.mode === "all-of" ? ` from all of ${rule.approvers.join(", ")}` : ` from one of ${rule.approvers.join(", ")}`;
      steps.push(h("li", {}, `waiting for approval${who}`, run.approvalExpiresAt ? [", expires ", when(run.approvalExpiresAt)] : null));
    }
    for (const decision of run.decisions || []) {
      steps.push(h("li", { "data-decision": decision.approve ? "approved" : "rejected" }, when(decision.time),
        `: ${decision.approve ? "approved" : "rejected"} by ${decision.username}${decision.comment ? `: ${decision.comment}` : ""}`));
    }
    if (final(run.status)) {
      const took = run.durationMilliseconds !== null && run.durationMilliseconds !== undefined ? ` in ${duration(run.durationMilliseconds)}` : "";
      steps.push(h("li", {}, when(run.updatedAt), `: ${run.status}${took}`));
    }
    timeline.replaceChildren(...steps);

    result.hidden = !run.output;
    if (run.output) {
      runError.textContent = run.output.error || "";
      output.textContent = run.output.json !== undefined && run.output.json !== null ? JSON.stringify(run.output.json, null, 2) : run.output.text;
      const facts = [];
      if (run.output.exitCode !== undefined && run.output.exitCode !== null) facts.push(`Exit code ${run.output.exitCode}.`);
      if (run.output.truncated) facts.push("The output was cut at the tool's size limit.");
      outputFacts.textContent = facts.join(" ");
      outputFacts.hidden = facts.length === 0;
    }
  }
  show(first.body);
  context.setTitle(`Run of ${first.body.toolTitle}`);
  view.replaceChildren(section);

  // Refresh on the events about this run; a newer answer wins over a slower, older one.
  let asked = 0;
  const refresh = async () => {
    const ticket = ++asked;
    const answer = await api("GET", `/api/runs/${encodeURIComponent(id)}`);
    if (ticket === asked && answer.ok) show(answer.body);
  };
  return subscribe((kind, data) => {
    if (kind !== "chat.turn" && data && data.runID === id) refresh();
  });
}
