// Building blocks every page uses: its panel, the refusal panel, empty states.
import { problemText } from "./api.js";
import { h } from "./dom.js";

/** A page's panel: `<section class="panel" id=…><h1>title</h1>…children</section>`. */
export function panel(id, title, ...children) {
  return h("section", { class: "panel", id }, h("h1", {}, title), ...children);
}

/** The panel that says why a page is not shown (`#refused`), with what to do instead
 *  (by default a link to the home page). */
export function messagePanel(title, detail, action = h("a", { href: "#/" }, "Back to the home page")) {
  return h("section", { class: "panel", id: "refused" }, h("h1", {}, title), h("p", { id: "refused-detail" }, detail), h("p", {}, action));
}

/** Replaces `view`'s content with the refusal for a failed call (403, 404, …): the server's
 *  own words. (A 401 — the session ended — also signs the page out: see `lib/api.js`.) */
export function refused(view, result) {
  const title = result.status === 404 ? "Not found" : result.status === 401 ? "Signed out" : "Not allowed";
  const detail = result.status === 401 ? "Your session ended: sign in again." : problemText(result);
  view.replaceChildren(messagePanel(title, detail));
}

/** An empty state: what is (not) here and what to do next, with optional action links. */
export function emptyState(text, ...actions) {
  return h("div", { class: "empty-state" }, h("p", {}, text), actions.length ? h("p", {}, actions) : null);
}

/** A form's message slots: the alert for the whole form and, when `status`, a polite status. */
export function formMessages(prefix, { status = false } = {}) {
  return [status ? h("p", { class: "muted", id: `${prefix}-done`, role: "status" }) : null, h("p", { class: "error", id: `${prefix}-error`, role: "alert" })];
}

/** A labelled control: `<label for=id>Label</label>` then the control, a hint and an error slot. */
export function field(label, control, { hint, errorFor } = {}) {
  if (!control.id) throw new Error("field() needs a control with an id");
  const hintNode = hint ? h("span", { class: "field-hint", id: `${control.id}-hint` }, hint) : null;
  const errorNode = errorFor ? h("span", { class: "error", id: `${control.id}-error`, "data-error-for": errorFor }) : null;
  const described = [hintNode, errorNode].filter(Boolean).map((node) => node.id);
  if (described.length) control.setAttribute("aria-describedby", described.join(" "));
  return h("div", { class: control.type === "checkbox" ? "field checkbox" : "field" },
    control.type === "checkbox" ? [control, h("label", { for: control.id }, label)] : [h("label", { for: control.id }, label), control],
    hintNode, errorNode);
}
