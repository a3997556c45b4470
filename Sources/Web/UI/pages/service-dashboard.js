// The service dashboard: open incidents by priority and state, SLAs at risk and breached,
// incidents opened and resolved, MTTA and MTTR by day, the top affected services; for a
// period and, optionally, one assignment group. Updated live on incident events.
import "../components/charts.js";
import { api, problemText } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { subscribe } from "../lib/live.js";
import { field, panel, refused } from "../lib/page.js";

const PERIODS = [["7", "The last 7 days"], ["30", "The last 30 days"], ["90", "The last 90 days"], ["365", "The last year"]];
const minutes = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const STATE_ORDER = ["new", "in-progress", "pending"];

/** "45 min", "3.5 h" or "2.1 days". */
function duration(value) {
  if (value === null || value === undefined) return "—";
  if (value < 120) return `${minutes.format(value)} min`;
  if (value < 48 * 60) return `${(value / 60).toFixed(1)} h`;
  return `${(value / 1440).toFixed(1)} days`;
}

function chart(tag, id, label, data) {
  const element = h(tag, { id, label });
  element.data = data;
  return element;
}

export async function render(view, context) {
  const period = h("select", { id: "dashboard-period", name: "period" }, PERIODS.map(([value, text]) => h("option", { value, selected: value === "30" }, text)));
  const group = h("input", { id: "dashboard-group", name: "group", maxlength: 64, autocomplete: "off", placeholder: "all groups" });
  const body = h("div", { id: "dashboard-body" });
  const error = h("p", { class: "error", id: "dashboard-error", role: "alert" });

  const query = () => {
    const to = new Date();
    const from = new Date(to.getTime() - Number(period.value) * 86_400_000);
    const parameters = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
    if (group.value.trim()) parameters.set("group", group.value.trim());
    return `/api/incidents/dashboard?${parameters}`;
  };

  function figure(id, label, value, note) {
    return h("div", { class: "dashboard-figure", id }, h("span", { class: "dashboard-value" }, value), h("span", { class: "dashboard-label" }, label), note ? h("span", { class: "muted" }, note) : null);
  }

  function show(board) {
    const byPriority = {};
    const byState = [];
    for (const state of STATE_ORDER) {
      const priorities = board.open[state] || {};
      byState.push({ label: state.replaceAll("-", " "), value: Object.values(priorities).reduce((sum, count) => sum + count, 0) });
      for (const [priority, count] of Object.entries(priorities)) byPriority[priority] = (byPriority[priority] || 0) + count;
    }
    body.replaceChildren(
      h("div", { class: "dashboard-figures", id: "dashboard-figures" },
        figure("figure-open", "open now", String(board.openTotal), board.majorOpen ? `${board.majorOpen} major` : null),
        figure("figure-at-risk", "SLA at risk", String(board.slaAtRisk)),
        figure("figure-breached", "SLA breached", String(board.slaBreached)),
        figure("figure-mtta", "mean time to answer", duration(board.mttaMinutes)),
        figure("figure-mttr", "mean time to resolve", duration(board.mttrMinutes)),
        figure("figure-opened", "opened in the period", String(board.opened), `${board.resolved} resolved`),
        figure("figure-changes", "changes planned in the period", String(board.changes ? board.changes.planned : 0),
          board.changes && board.changes.successRate !== null && board.changes.successRate !== undefined ? `${minutes.format(board.changes.successRate)}% successful` : null)),
      h("div", { class: "dashboard-charts" },
        h("section", { "aria-labelledby": "chart-priority-title" }, h("h2", { id: "chart-priority-title" }, "Open by priority"),
          chart("donut-chart", "chart-priority", "Open incidents by priority", [1, 2, 3, 4, 5].map((priority) => ({ label: `P${priority}`, value: byPriority[priority] || 0 })).filter((point) => point.value))),
        h("section", { "aria-labelledby": "chart-state-title" }, h("h2", { id: "chart-state-title" }, "Open by state"),
          chart("bar-chart", "chart-state", "Open incidents by state", byState.filter((point) => point.value))),
        h("section", { "aria-labelledby": "chart-opened-title" }, h("h2", { id: "chart-opened-title" }, "Opened by day"),
          chart("line-chart", "chart-opened", "Incidents opened by day", board.days.map((day) => ({ label: day.date, value: day.opened })))),
        h("section", { "aria-labelledby": "chart-mttr-title" }, h("h2", { id: "chart-mttr-title" }, "Time to resolve by day (minutes)"),
          chart("line-chart", "chart-mttr", "Mean time to resolve by day, in minutes", board.days.filter((day) => day.mttrMinutes !== null && day.mttrMinutes !== undefined)
            .map((day) => ({ label: day.date, value: Math.round(day.mttrMinutes) })))),
        h("section", { "aria-labelledby": "chart-services-title" }, h("h2", { id: "chart-services-title" }, "Top affected services"),
          chart("bar-chart", "chart-services", "Incidents opened in the period by service", board.topServices.map((service) => ({ label: service.service, value: service.incidents }))))));
  }

  async function refresh() {
    const answer = await api("GET", query());
    if (!answer.ok) return (error.textContent = problemText(answer));
    error.textContent = "";
    show(answer.body);
  }

  const first = await api("GET", query());
  if (!first.ok) return refused(view, first);
  show(first.body);
  period.addEventListener("change", refresh);
  group.addEventListener("change", refresh);
  view.replaceChildren(panel("page-service-dashboard", "Service dashboard",
    h("div", { class: "toolbar" }, field("Period", period), field("Assignment group", group)), error, body));

  let timer = null;
  const unsubscribe = subscribe((kind) => {
    if (!kind.startsWith("incident.") && !kind.startsWith("change.")) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
  context.setTitle("Service dashboard");
  return () => {
    unsubscribe();
    clearTimeout(timer);
  };
}
