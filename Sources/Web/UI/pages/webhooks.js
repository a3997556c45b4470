// Webhooks: the URLs this organization's events are posted to (signed per Standard Webhooks),
// the form for a new one (its signing secret shown once), and, for one webhook, its settings,
// a test ping, turning it off and on, rotating its secret, deleting it, and its delivery log
// (every attempt and the receiver's answer; a finished delivery can be sent again).
//
// One module, two routes: #/admin/webhooks (the list) and #/admin/webhooks/<id> (one webhook).
import { api, problemText } from "../lib/api.js";
import { append, h } from "../lib/dom.js";
import { copyButton, duration, plural, when } from "../lib/format.js";
import { clearErrors, formError, submitForm } from "../lib/forms.js";
import { emptyState, field, formMessages, panel, refused } from "../lib/page.js";
import { confirmDialog } from "../components/dialog.js";
import { toast } from "../components/toast.js";
import "../components/data-table.js";
import "../components/status-badge.js";

const risks = ["read", "low", "medium", "high", "destructive"];
/** Event groups, by the type's first dotted part; every other type is in "other". */
const groupNames = [["run", "Runs"], ["approval", "Approvals"], ["chat", "Conversations"], ["other", "Other events"]];
const pollEvery = 5000;
const deliveryLimit = 100;

/** The group of an event type: "run.succeeded" → "run"; "sign-in.failed" → "other". */
function groupOf(type) {
  const prefix = type.split(".")[0];
  return groupNames.some(([key]) => key === prefix && key !== "other") ? prefix : "other";
}

/** The event types by group, in the order of `groupNames`, empty groups left out. */
function grouped(types) {
  return groupNames.map(([key, title]) => ({ key, title, types: types.filter((type) => groupOf(type) === key) })).filter((group) => group.types.length);
}

/** A value as a piece of an element id. */
const idPart = (text) => String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

/** The host of a URL, for headings ("Webhook to hooks.example.com"); the URL itself if unparsable. */
function hostOf(url) {
  try { return new URL(url).host || url; } catch { return url; }
}

/** The events a webhook gets, shortly: "every event", "all run events, approval.requested". */
function eventParts(events, allTypes) {
  if (allTypes.length && allTypes.every((type) => events.includes(type))) return ["every event"];
  const parts = [];
  for (const group of grouped(allTypes)) {
    const chosen = group.types.filter((type) => events.includes(type));
    if (chosen.length === 0) continue;
    if (chosen.length === group.types.length && group.types.length > 1) parts.push(`all ${group.key} events`);
    else parts.push(...chosen);
  }
  // Types this portal no longer lists (kept on the subscription) still show.
  parts.push(...events.filter((type) => !allTypes.includes(type)));
  return parts;
}

function eventSummary(events, allTypes) {
  const parts = eventParts(events, allTypes);
  const shown = parts.length > 3 ? [...parts.slice(0, 3), `and ${parts.length - 3} more`] : parts;
  return h("span", { class: "event-summary", title: events.join(", ") }, shown.join(", "));
}

/** The filters beyond the event types, as words; "" when there are none. */
function filterText(webhook) {
  const parts = [];
  if (webhook.tools && webhook.tools.length) parts.push(`only ${webhook.tools.length === 1 ? "the tool" : "the tools"} ${webhook.tools.join(", ")}`);
  if (webhook.minimumRisk) parts.push(`only runs of risk ${webhook.minimumRisk} or higher`);
  return parts.join("; ");
}

/** Whether the webhook is on, and why the portal turned it off if it did. */
function stateOf(webhook, reasonId) {
  return h("span", { class: "webhook-state" }, h("status-badge", { status: webhook.enabled ? "enabled" : "disabled" }),
    !webhook.enabled && webhook.disabledReason
      ? h("span", { class: "disabled-reason", id: reasonId }, ` Turned off by the portal: ${webhook.disabledReason}.`)
      : null);
}

/** The field named at the start of a server message ("url's host … is refused"), if any. */
function fieldOf(detail) {
  const found = /^(url|events|tools|minimumRisk|description)\b/.exec(detail || "");
  return found ? found[1] : null;
}

/**
 * The settings form, for a new webhook (`prefix` "webhook") and for changing one
 * ("webhook-edit"): ids `<prefix>-url`, `<prefix>-event-<type>`, `<prefix>-events-all-<group>`,
 * `<prefix>-tools`, `<prefix>-risk`, `<prefix>-description`, `<prefix>-submit`,
 * `<prefix>-error` (role=alert) and, with `status`, `<prefix>-done`.
 */
function settingsForm(prefix, eventTypes, { submitLabel, status = false }) {
  const url = h("input", { id: `${prefix}-url`, name: "url", type: "url", required: true, maxlength: 2048, spellcheck: "false", placeholder: "https://hooks.example.com/portal" });
  const tools = h("input", { id: `${prefix}-tools`, name: "tools", autocomplete: "off", spellcheck: "false", placeholder: "host.disk-usage, host.restart-service" });
  const risk = h("select", { id: `${prefix}-risk`, name: "minimumRisk" }, h("option", { value: "" }, "any"), risks.map((level) => h("option", { value: level }, level)));
  const description = h("input", { id: `${prefix}-description`, name: "description", maxlength: 200, autocomplete: "off" });
  const controls = { url, tools, minimumRisk: risk, description };

  // The event types: a checkbox each, grouped, and per group one that checks them all.
  const boxes = [];
  const toggles = [];
  const groupSets = grouped(eventTypes).map((group) => {
    const members = group.types.map((type) => {
      const box = h("input", { type: "checkbox", id: `${prefix}-event-${idPart(type)}`, value: type, class: "event-type", "data-group": group.key });
      boxes.push(box);
      return h("div", { class: "field checkbox" }, box, h("label", { for: box.id }, type));
    });
    let toggle = null;
    if (group.types.length > 1) {
      toggle = h("input", { type: "checkbox", id: `${prefix}-events-all-${group.key}`, class: "group-toggle", "data-group": group.key });
      toggles.push(toggle);
      toggle.addEventListener("change", () => {
        for (const box of boxes) if (box.dataset.group === group.key) box.checked = toggle.checked;
        syncToggles();
      });
    }
    return h("fieldset", { class: "event-group", "data-group": group.key },
      h("legend", {}, group.title),
      toggle ? h("div", { class: "field checkbox group-all" }, toggle, h("label", { for: toggle.id }, `All ${group.key} events`)) : null,
      members);
  });
  const eventsHint = h("span", { class: "field-hint", id: `${prefix}-events-hint` },
    "Choose at least one. Each event is posted as JSON with its type, time and details.");
  const eventsError = h("span", { class: "error", id: `${prefix}-events-error`, "data-error-for": "events" });
  const events = h("fieldset", { class: "event-types", id: `${prefix}-events`, "aria-describedby": `${eventsHint.id} ${eventsError.id}` },
    h("legend", {}, "Events"), eventsHint, h("div", { class: "event-groups" }, groupSets), eventsError);
  events.addEventListener("change", (event) => { if (event.target.classList.contains("event-type")) syncToggles(); });

  /** Each group's "all" box: checked when all its types are, mixed when some are. */
  function syncToggles() {
    for (const toggle of toggles) {
      const members = boxes.filter((box) => box.dataset.group === toggle.dataset.group);
      const checked = members.filter((box) => box.checked).length;
      toggle.checked = checked === members.length;
      toggle.indeterminate = checked > 0 && checked < members.length;
    }
  }

  const form = h("form", { id: `${prefix}-form`, class: "stacked webhook-settings" },
    field("URL", url, { hint: "Where the portal posts each event, signed with the webhook's secret. Private and loopback addresses are refused unless the portal's configuration allows them.", errorFor: "url" }),
    events,
    h("div", { class: "field-row" },
      field("Only these tools (optional)", tools, { hint: "Tool names, separated by commas. Then only events about runs of these tools are sent.", errorFor: "tools" }),
      field("Minimum risk (optional)", risk, { hint: "Then only events about runs at least this risky are sent.", errorFor: "minimumRisk" })),
    h("p", { class: "field-hint filter-note" }, "With either filter, events that are not about a run (sign-ins, changes of settings) are not sent."),
    field("Description (optional)", description, { hint: "For people: what receives it and whom to ask about it (at most 200 characters).", errorFor: "description" }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", id: `${prefix}-submit` }, submitLabel)),
    formMessages(prefix, { status }));

  return {
    form,
    url,
    /** Shows a webhook's settings in the form. */
    fill(webhook) {
      url.value = webhook.url;
      for (const box of boxes) box.checked = webhook.events.includes(box.value);
      syncToggles();
      tools.value = (webhook.tools || []).join(", ");
      risk.value = webhook.minimumRisk || "";
      description.value = webhook.description || "";
    },
    clear() {
      form.reset();
      syncToggles();
    },
    /** The request body (without `enabled`), or null after saying in the form what is missing. */
    read() {
      const chosen = boxes.filter((box) => box.checked).map((box) => box.value);
      if (chosen.length === 0) {
        eventsError.textContent = "Choose at least one event type.";
        formError(form, "Choose at least one event type: the webhook is sent nothing otherwise.");
        (boxes[0] || url).focus();
        return null;
      }
      const names = [...new Set(tools.value.split(/[\s,]+/).filter(Boolean))];
      const body = { url: url.value.trim(), events: chosen, description: description.value.trim() };
      if (names.length) body.tools = names;
      if (risk.value) body.minimumRisk = risk.value;
      return body;
    },
    /** Marks the field a refusal names ("url's host … is refused") beside the form's message. */
    mark(result) {
      const detail = result.body && result.body.detail;
      const name = fieldOf(detail);
      if (!name || (result.body && result.body.errors)) return;
      const slot = form.querySelector(`[data-error-for="${name}"]`);
      if (slot) slot.textContent = detail;
      if (controls[name]) controls[name].setAttribute("aria-invalid", "true");
    },
  };
}

export async function render(view, context) {
  return context.params.id ? renderWebhook(view, context) : renderList(view);
}

// ---- The list and the form for a new webhook ------------------------------------------------

async function renderList(view) {
  const [first, types] = await Promise.all([api("GET", "/api/webhooks"), api("GET", "/api/webhooks/event-types")]);
  if (!first.ok) return refused(view, first);
  if (!types.ok) return refused(view, types);
  const eventTypes = types.body.eventTypes;

  const settings = settingsForm("webhook", eventTypes, { submitLabel: "Create webhook" });
  // The secret of a webhook just created, shown this once.
  const created = h("div", { class: "one-time-secret", id: "webhook-created", role: "status" });

  const table = h("data-table");
  table.caption = "This organization's webhooks";
  table.bodyId = "webhooks-rows";
  table.rowAttributes = (webhook) => ({ "data-webhook-id": webhook.id, "data-enabled": String(webhook.enabled) });
  table.empty = emptyState("No webhooks yet. A webhook posts this organization's events — runs finishing, approvals asked for and decided, conversations, changes of settings — to a URL of yours as signed JSON, so a chat channel, a ticket system or a script can act on them. Create one with the form below.",
    h("button", { type: "button", class: "quiet", on: { click: () => settings.url.focus() } }, "Create a webhook"));
  table.columns = [
    { key: "url", label: "URL", sort: (webhook) => webhook.url.toLowerCase(), render: (webhook) => h("div", { class: "webhook-target" },
      h("a", { href: `#/admin/webhooks/${encodeURIComponent(webhook.id)}`, class: "webhook-link", title: `id ${webhook.id}` }, webhook.url),
      webhook.description ? h("span", { class: "muted webhook-description" }, webhook.description) : null) },
    { key: "events", label: "Events", render: (webhook) => h("div", {}, eventSummary(webhook.events, eventTypes),
      filterText(webhook) ? h("span", { class: "muted webhook-filters" }, filterText(webhook)) : null) },
    { key: "enabled", label: "State", sort: (webhook) => (webhook.enabled ? 0 : 1), render: (webhook) => stateOf(webhook, null) },
    { key: "failingSince", label: "Failing since", sort: (webhook) => webhook.failingSince || "",
      render: (webhook) => (webhook.failingSince ? when(webhook.failingSince) : h("span", { class: "muted" }, "not failing")) },
    { key: "createdAt", label: "Created", sort: (webhook) => webhook.createdAt, render: (webhook) => when(webhook.createdAt) },
  ];

  async function refresh() {
    const result = await api("GET", "/api/webhooks");
    if (!result.ok) {
      toast(problemText(result), { kind: "error" });
      return;
    }
    table.rows = result.body.webhooks;
  }

  submitForm(settings.form, async () => {
    created.replaceChildren();
    const body = settings.read();
    if (!body) return null;
    const result = await api("POST", "/api/webhooks", body);
    if (!result.ok) settings.mark(result);
    return result;
  }, async (answer) => {
    const webhook = answer.webhook;
    created.replaceChildren(
      h("p", {}, `Webhook to ${webhook.url} created. Copy its signing secret now; it is not shown again. The receiver checks each message's webhook-signature header with it.`),
      h("p", {}, h("code", { class: "secret", id: "webhook-secret" }, answer.secret), " ",
        copyButton(answer.secret, "Copy the secret", { id: "webhook-secret-copy" })),
      h("p", {}, h("a", { href: `#/admin/webhooks/${encodeURIComponent(webhook.id)}`, id: "webhook-created-link" }, "Open the webhook"), " to send it a test ping."));
    settings.clear();
    toast(`Created the webhook to ${hostOf(webhook.url)}.`, { kind: "ok" });
    await refresh();
  });

  table.rows = first.body.webhooks;
  view.replaceChildren(panel("page-webhooks", "Webhooks",
    h("p", { class: "muted" }, "Each webhook receives the events it subscribes to as a signed JSON POST (Standard Webhooks): failed deliveries are retried for about a day, then the webhook is turned off. Open one for its delivery log, a test ping and its secret."),
    table,
    h("h2", {}, "New webhook"), settings.form, created));
}

// ---- One webhook: its settings, actions and delivery log -----------------------------------

async function renderWebhook(view, context) {
  const base = `/api/webhooks/${encodeURIComponent(context.params.id)}`;
  const logPath = `${base}/deliveries?limit=${deliveryLimit}`;
  const [first, types, firstLog] = await Promise.all([api("GET", base), api("GET", "/api/webhooks/event-types"), api("GET", logPath)]);
  if (!first.ok) return refused(view, first);
  if (!types.ok) return refused(view, types);
  if (!firstLog.ok) return refused(view, firstLog);
  const eventTypes = types.body.eventTypes;

  let webhook = first.body;
  let version = 0;           // bumped whenever `webhook` changes: a slower, older GET does not win
  let deliveries = [];
  let shownLog = null;       // the log as last drawn (JSON), so an unchanged poll redraws nothing
  let logTicket = 0;
  let timer = null;
  let stopped = false;
  let shownDelivery = null;  // the id of the delivery whose details are open
  let shownDetail = null;    // …and its data as drawn (JSON)

  // -- Facts and actions
  const section = panel("page-webhook", "Webhook");
  const heading = section.querySelector("h1");
  const facts = h("dl", { class: "facts", id: "webhook-facts" });
  const ping = h("button", { type: "button", id: "webhook-ping" }, "Send a test ping");
  const toggle = h("button", { type: "button", id: "webhook-toggle", class: "quiet" });
  const rotate = h("button", { type: "button", id: "webhook-rotate", class: "quiet" }, "Rotate the secret");
  const remove = h("button", { type: "button", id: "webhook-delete", class: "danger" }, "Delete");
  const rotated = h("div", { class: "one-time-secret", id: "webhook-rotated", role: "status" });

  function setWebhook(next) {
    webhook = next;
    version += 1;
    showWebhook();
  }

  function showWebhook() {
    heading.textContent = `Webhook to ${hostOf(webhook.url)}`;
    section.dataset.webhookId = webhook.id;
    section.dataset.enabled = String(webhook.enabled);
    const filters = filterText(webhook);
    const overlap = webhook.previousSecretValidUntil && new Date(webhook.previousSecretValidUntil) > new Date();
    facts.replaceChildren();
    append(facts, [
      h("dt", {}, "URL"), h("dd", { id: "webhook-fact-url" }, h("code", { class: "wrap" }, webhook.url), " ",
        copyButton(webhook.url, null, { class: "copy-id", "aria-label": "Copy the URL", title: "Copy the URL" })),
      webhook.description ? [h("dt", {}, "Description"), h("dd", { id: "webhook-fact-description" }, webhook.description)] : null,
      h("dt", {}, "Events"), h("dd", { id: "webhook-fact-events" },
        h("span", {}, eventParts(webhook.events, eventTypes).join(", ")),
        h("details", { class: "event-list" }, h("summary", {}, `The ${plural(webhook.events.length, "event type")}`),
          h("ul", {}, webhook.events.map((type) => h("li", {}, h("code", {}, type)))))),
      h("dt", {}, "Filters"), h("dd", { id: "webhook-fact-filters" }, filters || h("span", { class: "muted" }, "none: every tool, any risk")),
      h("dt", {}, "State"), h("dd", { id: "webhook-state" }, stateOf(webhook, "webhook-disabled-reason")),
      h("dt", {}, "Failing since"), h("dd", { id: "webhook-failing-since" },
        webhook.failingSince ? [when(webhook.failingSince), h("span", { class: "muted" }, " (no delivery has succeeded since; after a day of failures the portal turns the webhook off)")]
          : h("span", { class: "muted" }, "not failing")),
      h("dt", {}, "Previous secret"), h("dd", { id: "webhook-previous-secret" },
        overlap ? ["still signs deliveries too, until ", when(webhook.previousSecretValidUntil)] : h("span", { class: "muted" }, "none: only the current secret signs")),
      h("dt", {}, "Created"), h("dd", {}, when(webhook.createdAt)),
      h("dt", {}, "Changed"), h("dd", {}, when(webhook.updatedAt))]);
    toggle.textContent = webhook.enabled ? "Disable" : "Enable";
  }

  /** Runs `action` with `button` disabled (a second click does not send twice). */
  async function busy(button, action) {
    button.disabled = true;
    try { await action(); } finally { button.disabled = false; }
  }

  async function loadWebhook() {
    const asked = version;
    const result = await api("GET", base);
    if (!stopped && result.ok && asked === version) setWebhook(result.body);
  }

  ping.addEventListener("click", () => busy(ping, async () => {
    const result = await api("POST", `${base}/ping`);
    if (!result.ok) {
      toast(`The test ping was not sent: ${problemText(result)}`, { kind: "error" });
      return;
    }
    toast("Test ping queued: its answer appears in the delivery log.", { kind: "ok" });
    await loadLog();
  }));

  toggle.addEventListener("click", () => busy(toggle, async () => {
    const enable = !webhook.enabled;
    const body = { url: webhook.url, events: webhook.events, tools: webhook.tools || undefined, minimumRisk: webhook.minimumRisk || undefined,
      description: webhook.description || "", enabled: enable };
    if (webhook.tools) body.tools = webhook.tools;
    if (webhook.minimumRisk) body.minimumRisk = webhook.minimumRisk;
    const result = await api("PUT", base, body);
    if (!result.ok) {
      toast(`The webhook was not ${enable ? "enabled" : "disabled"}: ${problemText(result)}`, { kind: "error" });
      return;
    }
    setWebhook(result.body);
    toast(enable ? "Enabled: new events are delivered again." : "Disabled: no events are delivered until you enable it again.", { kind: "ok" });
    await loadLog();
  }));

  rotate.addEventListener("click", () => busy(rotate, async () => {
    const confirmed = await confirmDialog({
      title: "Rotate the signing secret?",
      message: "A new secret signs every delivery from now on. The current one keeps signing them too for a while (a day by default), so the receiver can be given the new one before the old one stops working.",
      confirmLabel: "Rotate the secret",
    });
    if (!confirmed) return;
    rotated.replaceChildren();
    const result = await api("POST", `${base}/secret`);
    if (!result.ok) {
      toast(`The secret was not rotated: ${problemText(result)}`, { kind: "error" });
      return;
    }
    rotated.replaceChildren(
      h("p", {}, "The new signing secret. Copy it now; it is not shown again. The previous secret also signs deliveries until ",
        when(result.body.previousSecretValidUntil), ": give the receiver the new one before then."),
      h("p", {}, h("code", { class: "secret", id: "webhook-new-secret" }, result.body.secret), " ",
        copyButton(result.body.secret, "Copy the secret", { id: "webhook-new-secret-copy" })));
    await loadWebhook();
  }));

  remove.addEventListener("click", () => busy(remove, async () => {
    const confirmed = await confirmDialog({
      title: `Delete the webhook to ${hostOf(webhook.url)}?`,
      message: `Events are no longer sent to ${webhook.url}, and its delivery log is deleted. This cannot be undone.`,
      confirmLabel: "Delete webhook",
      danger: true,
    });
    if (!confirmed) return;
    const result = await api("DELETE", base);
    if (!result.ok) {
      toast(`The webhook was not deleted: ${problemText(result)}`, { kind: "error" });
      return;
    }
    toast(`Deleted the webhook to ${hostOf(webhook.url)}.`, { kind: "ok" });
    context.navigate("#/admin/webhooks");
  }));

  // -- The delivery log
  const logStatus = h("p", { class: "muted", id: "deliveries-status", role: "status" });
  const refreshButton = h("button", { type: "button", id: "deliveries-refresh", class: "quiet" }, "Refresh");
  refreshButton.addEventListener("click", () => busy(refreshButton, () => Promise.all([loadLog(), loadWebhook()])));

  const table = h("data-table");
  table.caption = "Deliveries of this webhook, newest first";
  table.bodyId = "deliveries-rows";
  table.rowAttributes = (delivery) => ({ "data-delivery-id": delivery.id, "data-state": delivery.state, "data-event-type": delivery.eventType });
  table.empty = emptyState("Nothing delivered yet. Deliveries appear here as subscribed events happen; send a test ping to try the receiver now.",
    h("button", { type: "button", class: "quiet", on: { click: () => ping.click() } }, "Send a test ping"));
  table.columns = [
    { key: "createdAt", label: "Created", render: (delivery) => when(delivery.createdAt) },
    { key: "eventType", label: "Event", render: (delivery) => h("code", {}, delivery.eventType) },
    { key: "state", label: "State", render: (delivery) => h("span", { class: "delivery-state" }, h("status-badge", { status: delivery.state }),
      delivery.state === "pending" && delivery.nextAttemptAt ? h("span", { class: "muted" }, " next attempt ", when(delivery.nextAttemptAt)) : null) },
    { key: "attempts", label: "Attempts", align: "right", render: (delivery) => String(delivery.attempts.length) },
    { key: "answer", label: "Last answer", render: (delivery) => lastAnswer(delivery) },
    { key: "duration", label: "Last duration", align: "right", render: (delivery) => {
      const last = delivery.attempts[delivery.attempts.length - 1];
      return last ? duration(last.durationMilliseconds) : "";
    } },
    { key: "actions", label: "Actions", render: (delivery) => h("span", { class: "delivery-actions" },
      h("button", { type: "button", class: "quiet delivery-details", "aria-controls": "delivery-detail",
        "aria-label": `Details: ${delivery.eventType}, ${new Date(delivery.createdAt).toLocaleString()}`,
        on: { click: () => showDetail(delivery.id) } }, "Details"),
      delivery.state === "pending" ? null : h("button", { type: "button", class: "quiet redeliver",
        "aria-label": `Redeliver: ${delivery.eventType}, ${new Date(delivery.createdAt).toLocaleString()}`,
        on: { click: (event) => redeliver(delivery, event.currentTarget) } }, "Redeliver")) },
  ];

  /** The receiver's last answer: its HTTP status, or why no answer came. */
  function lastAnswer(delivery) {
    const last = delivery.attempts[delivery.attempts.length - 1];
    if (!last) return h("span", { class: "muted" }, "not sent yet");
    if (last.status !== null && last.status !== undefined) {
      return h("span", { class: "answer", "data-ok": String(last.status >= 200 && last.status < 300) }, `HTTP ${last.status}`);
    }
    const error = last.error || "no answer";
    return h("span", { class: "answer", "data-ok": "false", title: error }, error.length > 80 ? `${error.slice(0, 79)}…` : error);
  }

  async function redeliver(delivery, button) {
    button.disabled = true;
    const result = await api("POST", `${base}/deliveries/${encodeURIComponent(delivery.id)}/redeliver`);
    if (!result.ok) {
      button.disabled = false;
      toast(`Not redelivered: ${problemText(result)}`, { kind: "error" });
      return;
    }
    toast(`Sending the ${delivery.eventType} message again (same message id ${delivery.messageID}).`, { kind: "ok" });
    await loadLog();
  }

  /** Draws the log (when it changed), keeping keyboard focus on the row's button it was on. */
  function showDeliveries(list) {
    deliveries = list;
    const text = JSON.stringify(list);
    if (text !== shownLog) {
      shownLog = text;
      const active = document.activeElement;
      const row = active && active.closest ? active.closest("#deliveries-rows tr") : null;
      const focusedId = row ? row.dataset.deliveryId : null;
      const focusedClass = row ? (active.classList.contains("redeliver") ? "redeliver" : "delivery-details") : null;
      table.rows = list;
      if (focusedId) {
        const again = table.querySelector(`tr[data-delivery-id="${CSS.escape(focusedId)}"]`);
        const target = again && (again.querySelector(`button.${focusedClass}`) || again.querySelector("button.delivery-details"));
        if (target) target.focus();
      }
      if (shownDelivery) drawDetail();
    }
    const pending = list.filter((delivery) => delivery.state === "pending").length;
    logStatus.textContent = list.length === 0 ? ""
      : `${plural(list.length, "delivery", "deliveries")}${list.length === deliveryLimit ? " (the newest)" : ""}${pending ? `; ${pending} pending: the log refreshes every 5 seconds until ${pending === 1 ? "it is" : "they are"} done` : ""}.`;
    schedule();
  }

  async function loadLog() {
    const ticket = ++logTicket;
    const result = await api("GET", logPath);
    if (stopped || ticket !== logTicket) return;
    if (!result.ok) {
      logStatus.textContent = `The delivery log could not be loaded: ${problemText(result)}`;
      schedule();
      return;
    }
    showDeliveries(result.body.deliveries);
  }

  /** While a delivery is pending, asks again in 5 s (the webhook's state may change with it). */
  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (stopped || !deliveries.some((delivery) => delivery.state === "pending")) return;
    timer = setTimeout(async () => {
      timer = null;
      if (stopped) return;
      if (document.hidden) { schedule(); return; }  // a background tab asks nothing
      await Promise.all([loadLog(), loadWebhook()]);
    }, pollEvery);
  }

  // -- One delivery's details, below the table
  const detailTitle = h("h3", { id: "delivery-detail-title", tabindex: "-1" });
  const detailBody = h("div", { class: "delivery-detail-body" });
  const detailClose = h("button", { type: "button", class: "quiet", id: "delivery-detail-close" }, "Close the details");
  const detailRegion = h("section", { id: "delivery-detail", class: "delivery-detail", "aria-labelledby": detailTitle.id, hidden: true },
    h("div", { class: "delivery-detail-head" }, detailTitle, detailClose), detailBody);
  detailClose.addEventListener("click", () => {
    const id = shownDelivery;
    shownDelivery = null;
    shownDetail = null;
    detailRegion.hidden = true;
    detailRegion.removeAttribute("data-delivery-id");
    const row = table.querySelector(`tr[data-delivery-id="${CSS.escape(id || "")}"]`);
    (row ? row.querySelector("button.delivery-details") : refreshButton).focus();
  });

  function showDetail(id) {
    shownDelivery = id;
    shownDetail = null;
    drawDetail();
    detailRegion.hidden = false;
    detailTitle.focus();
  }

  /** Draws the open delivery's details (again only when they changed). */
  function drawDetail() {
    const delivery = deliveries.find((candidate) => candidate.id === shownDelivery);
    if (!delivery) return;  // no longer in the log: what was shown stays
    const text = JSON.stringify(delivery);
    if (text === shownDetail) return;
    shownDetail = text;
    detailRegion.dataset.deliveryId = delivery.id;
    detailRegion.dataset.state = delivery.state;
    detailTitle.textContent = `Delivery of ${delivery.eventType}`;
    // A redraw (the delivery moved on) must not drop keyboard focus on the floor.
    const hadFocus = detailBody.contains(document.activeElement);
    let body = delivery.body;
    try { body = JSON.stringify(JSON.parse(delivery.body), null, 2); } catch { /* shown as sent */ }
    detailBody.replaceChildren(
      h("dl", { class: "facts" },
        h("dt", {}, "Message id"), h("dd", {}, h("code", { id: "delivery-message-id" }, delivery.messageID), " ",
          copyButton(delivery.messageID, null, { class: "copy-id", "aria-label": "Copy the message id", title: "Copy the message id" }),
          h("span", { class: "muted" }, " (the webhook-id header: the same for every attempt and redelivery)")),
        h("dt", {}, "Event"), h("dd", {}, h("code", {}, delivery.eventType),
          delivery.eventSequence !== null && delivery.eventSequence !== undefined ? h("span", { class: "muted" }, ` (event #${delivery.eventSequence})`) : null),
        h("dt", {}, "State"), h("dd", {}, h("status-badge", { status: delivery.state }),
          delivery.state === "pending" && delivery.nextAttemptAt ? h("span", { class: "muted" }, " next attempt ", when(delivery.nextAttemptAt)) : null),
        h("dt", {}, "Created"), h("dd", {}, when(delivery.createdAt))),
      h("h4", {}, "Body"),
      h("pre", { class: "webhook-json", id: "delivery-body" }, body),
      h("h4", {}, delivery.attempts.length ? `Attempts (${delivery.attempts.length})` : "Attempts"),
      delivery.attempts.length === 0
        ? h("p", { class: "muted" }, delivery.state === "pending" ? "None yet: the first one is due now." : "None.")
        : h("ol", { class: "attempts", id: "delivery-attempts" }, delivery.attempts.map((attempt) => {
          const answered = attempt.status !== null && attempt.status !== undefined;
          return h("li", { "data-manual": String(attempt.manual), "data-status": answered ? attempt.status : null },
            h("p", { class: "attempt-head" }, when(attempt.time), " · ", attempt.manual ? "manual" : "automatic", " · ",
              answered ? h("span", { class: "answer", "data-ok": String(attempt.status >= 200 && attempt.status < 300) }, `HTTP ${attempt.status}`)
                : h("span", { class: "answer", "data-ok": "false" }, attempt.error || "no answer"),
              ` · ${duration(attempt.durationMilliseconds)}`),
            attempt.response
              ? [h("p", { class: "muted attempt-label" }, "First bytes of the answer:"), h("pre", { class: "webhook-json attempt-response" }, attempt.response)]
              : answered ? h("p", { class: "muted attempt-label" }, "The answer had no body.") : null);
        })));
    if (hadFocus) detailTitle.focus();
  }

  // -- Changing the settings
  const settings = settingsForm("webhook-edit", eventTypes, { submitLabel: "Save changes", status: true });
  settings.fill(webhook);
  const done = settings.form.querySelector("#webhook-edit-done");
  submitForm(settings.form, async () => {
    done.textContent = "";
    const body = settings.read();
    if (!body) return null;
    // Without `enabled`: saving settings never turns the webhook on or off.
    const result = await api("PUT", base, body);
    if (!result.ok) settings.mark(result);
    return result;
  }, (saved, form) => {
    clearErrors(form);
    setWebhook(saved);
    settings.fill(saved);
    context.setTitle(saved.url);
    done.textContent = "Saved. New events are sent with these settings.";
  });

  showWebhook();
  context.setTitle(webhook.url);
  section.prepend(h("p", { class: "back" }, h("a", { href: "#/admin/webhooks" }, "← All webhooks")));
  section.append(
    facts,
    h("div", { class: "form-actions webhook-actions" }, ping, toggle, rotate, remove),
    rotated,
    h("div", { class: "deliveries-head" }, h("h2", {}, "Deliveries"), refreshButton),
    h("p", { class: "muted" }, "Each event sent to this webhook, newest first, with every attempt and the receiver's answer. A failed delivery is retried for about a day; a finished one can be sent again."),
    logStatus, table, detailRegion,
    h("h2", {}, "Change the settings"), settings.form);
  showDeliveries(firstLog.body.deliveries);
  view.replaceChildren(section);

  return () => {
    stopped = true;
    clearTimeout(timer);
    timer = null;
  };
}
