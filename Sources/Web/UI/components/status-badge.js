// <status-badge status="succeeded">: a run's status as a coloured, readable badge.
import { h } from "../lib/dom.js";

/** Statuses whose words need changing; any other reads as itself with dashes as spaces. */
const labels = {
  "pending-approval": "waiting for approval",
};

/** The words people read for a status: "pending-approval" → "waiting for approval". */
export function statusLabel(status) {
  return labels[status] || String(status || "").replaceAll("-", " ").replaceAll("_", " ");
}

/**
 * `<status-badge status=…>` guarantees: it holds one `<span class="status-badge"
 * data-status=…>` (the raw status, for CSS and tests) whose text is the readable label, redrawn
 * whenever `status` changes. Property: `status` (reflects the attribute).
 */
class StatusBadge extends HTMLElement {
  static observedAttributes = ["status"];

  get status() { return this.getAttribute("status") || ""; }
  set status(value) { this.setAttribute("status", value); }

  connectedCallback() { this.#render(); }
  attributeChangedCallback() { this.#render(); }

  #render() {
    this.replaceChildren(h("span", { class: "status-badge", "data-status": this.status }, statusLabel(this.status)));
  }
}

customElements.define("status-badge", StatusBadge);
