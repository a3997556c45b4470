// Form handling, one way for every form: submit → disable the button → call → show the
// problem (and each field's error) or hand the answer on.
import { problemText } from "./api.js";

/**
 * Handles `form`'s submit with `send(form)`, which returns an `api()` result. While it runs
 * the submit button is disabled and `aria-busy` set. On failure the problem's text goes into
 * the form's `[role=alert]` element and each `errors[]` entry of the problem (`{field,
 * message}`) into the element `[data-error-for=<field>]` inside the form; the field gets
 * `aria-invalid`. On success `done(body, form)` runs. `send` may return null to stop quietly
 * (a check it reported itself).
 */
export function submitForm(form, send, done = () => {}) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector("button[type=submit], button:not([type])");
    if (button) button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const result = await send(form);
      if (!result) return;
      if (!result.ok) {
        showProblem(form, result);
        return;
      }
      await done(result.body, form);
    } finally {
      if (button && !button.dataset.keepDisabled) button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
}

/** Empties the form's messages and field errors. */
export function clearErrors(form) {
  for (const node of form.querySelectorAll("[role=alert]")) node.textContent = "";
  for (const node of form.querySelectorAll("[data-error-for]")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

/** Shows a failed call's problem in the form, with each named field's error beside it. */
function showProblem(form, result) {
  formError(form, problemText(result));
  for (const problem of (result.body && result.body.errors) || []) {
    const field = String(problem.field || "").split(/[.[]/)[0];
    const slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
    if (slot) slot.textContent = `${problem.field} ${problem.message}`;
    const input = form.querySelector(`[data-field="${CSS.escape(field)}"], [name="${CSS.escape(field)}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
  }
}

/** Puts `text` in the form's alert element. */
export function formError(form, text) {
  const alert = form.querySelector("[role=alert]");
  if (alert) alert.textContent = text;
}

/** The form's named controls as an object: checkboxes as booleans, number inputs as numbers,
 *  empty text left out. */
export function formValues(form) {
  const values = {};
  for (const control of form.elements) {
    if (!control.name || control.disabled) continue;
    if (control.type === "checkbox") values[control.name] = control.checked;
    else if (control.value === "") continue;
    else if (control.type === "number") values[control.name] = Number(control.value);
    else values[control.name] = control.value;
  }
  return values;
}
