// Confirmation dialogs on the native <dialog>: modal, Escape cancels, focus comes back.
import { append, h } from "../lib/dom.js";

let counter = 0;

/**
 * `<portal-dialog>` guarantees: `ask()` opens a modal native `<dialog>` (the browser keeps focus
 * inside it and makes the rest of the page inert) titled by an `h2` (`aria-labelledby`) with the
 * message as its description (`aria-describedby`), a Cancel button and a confirm button. It
 * resolves true only for the confirm button; Cancel, Escape or closing otherwise resolve false.
 * Focus returns to the element that had it before. With `danger`, the confirm button is styled
 * as destructive and Cancel gets the first focus (otherwise the confirm button does).
 * Method: ask({ title, message, confirmLabel = "Confirm", cancelLabel = "Cancel", danger }) →
 * Promise<boolean>.
 */
class PortalDialog extends HTMLElement {
  ask({ title, message = "", confirmLabel = "Confirm", cancelLabel = "Cancel", danger = false }) {
    const id = `portal-dialog-${++counter}`;
    const opener = document.activeElement;
    const cancel = h("button", { type: "submit", value: "cancel", class: "secondary", autofocus: danger }, cancelLabel);
    const confirm = h("button", { type: "submit", value: "confirm", class: danger ? "danger" : null, autofocus: !danger }, confirmLabel);
    const description = append(h("div", { class: "dialog-message", id: `${id}-message` }), [typeof message === "string" ? h("p", {}, message) : message]);
    const dialog = h("dialog", { class: "portal-dialog", "aria-labelledby": `${id}-title`, "aria-describedby": description.id },
      h("form", { method: "dialog" },
        h("h2", { id: `${id}-title` }, title),
        description,
        h("div", { class: "dialog-actions" }, cancel, confirm)));
    this.replaceChildren(dialog);
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        this.replaceChildren();
        if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
        resolve(dialog.returnValue === "confirm");
      }, { once: true });
      dialog.showModal();
    });
  }
}

customElements.define("portal-dialog", PortalDialog);

/**
 * Asks the person to confirm: resolves true when they press the confirm button, false when
 * they cancel (button or Escape). Uses a `<portal-dialog>` added to the page for the question
 * and removed after it.
 */
export async function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false, cancelLabel = "Cancel" }) {
  const element = document.body.appendChild(h("portal-dialog"));
  try {
    return await element.ask({ title, message, confirmLabel, cancelLabel, danger });
  } finally {
    element.remove();
  }
}
