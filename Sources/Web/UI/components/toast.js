// Toasts: short messages ("Key revoked.") announced politely, gone after 6 seconds.
import { h } from "../lib/dom.js";

const lifetime = 6000;
const marks = { ok: "✓", error: "!", info: "i" };

/**
 * `<toast-region>` guarantees: it is a polite live region (`role="status"`,
 * `aria-live="polite"`) whose messages are announced when added; each message goes after 6 s,
 * or at once with its close button; the countdown pauses while the pointer or the keyboard
 * focus is on the message. app.js puts one in the page, before any toast is shown.
 * Method: show(message, kind) → a function that dismisses the message.
 */
class ToastRegion extends HTMLElement {
  connectedCallback() {
    this.setAttribute("role", "status");
    this.setAttribute("aria-live", "polite");
    this.classList.add("toast-region");
  }

  show(message, kind = "info") {
    if (!marks[kind]) kind = "info";
    let timer = null;
    const dismiss = () => {
      clearTimeout(timer);
      item.remove();
    };
    const start = () => { clearTimeout(timer); timer = setTimeout(dismiss, lifetime); };
    const item = h("div", { class: "toast", "data-kind": kind, on: { mouseenter: () => clearTimeout(timer), mouseleave: start, focusin: () => clearTimeout(timer), focusout: start } },
      h("span", { class: "toast-mark", "aria-hidden": "true" }, marks[kind]),
      kind === "error" ? h("span", { class: "visually-hidden" }, "Error: ") : null,
      h("span", { class: "toast-text" }, message),
      h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss this message", title: "Dismiss", on: { click: dismiss } }, "×"));
    this.append(item);
    start();
    return dismiss;
  }
}

customElements.define("toast-region", ToastRegion);

/**
 * Shows `message` (text or a node) in the page's `<toast-region>`; kind "ok", "error" or
 * "info" (the default) sets its colour and mark. Returns a function that dismisses it. Without
 * a region in the page one is added (its first message may then go unannounced).
 */
export function toast(message, { kind = "info" } = {}) {
  let region = document.querySelector("toast-region");
  if (!region) region = document.body.appendChild(h("toast-region"));
  return region.show(message, kind);
}
