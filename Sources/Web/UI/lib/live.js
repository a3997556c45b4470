// Live updates: one server-sent event stream per signed-in page, shared by every listener.

const kinds = ["approval.requested", "approval.decided", "chat.turn", "run.succeeded", "run.failed", "run.rejected", "run.expired", "run.interrupted", "run.cancelled", "webhook.disabled",
  "workflow-run.started", "workflow-run.queued", "workflow-run.step-started", "workflow-run.step-finished",
  "workflow-run.approval-requested", "workflow-run.approval-decided", "workflow-run.paused", "workflow-run.resumed",
  "workflow-run.succeeded", "workflow-run.failed", "workflow-run.cancelled", "workflow-run.needs-attention",
  "incident.opened", "incident.updated", "incident.state-changed", "incident.resolved", "incident.commented", "incident.sla-warning", "incident.sla-breached",
  "change.opened", "change.updated", "change.state-changed", "change.decided"];
const listeners = new Set();
let source = null;

/** Opens the stream (once). The stream belongs to the organization it was opened in. */
export function connect() {
  if (source) return;
  source = new EventSource("/api/events");
  for (const kind of kinds) {
    source.addEventListener(kind, (event) => {
      let data = null;
      try { data = JSON.parse(event.data); } catch { return; }
      for (const listener of [...listeners]) listener(kind, data);
    });
  }
}

/** Closes the stream (sign-out, or an organization switch before reconnecting). */
export function disconnect() {
  if (source) source.close();
  source = null;
}

/** Calls `listener(kind, data)` for every event until the returned function is called. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
