// Changing one's own password; required before anything else after a one-time password.
import { toast } from "../components/toast.js";
import { api, loadSession, session } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { formError, submitForm } from "../lib/forms.js";
import { field, formMessages, panel } from "../lib/page.js";

export async function render(view) {
  const required = Boolean(session.me && session.me.user.mustChangePassword);
  const notice = h("p", { class: "notice", id: "password-required", hidden: !required },
    "You signed in with a one-time password. Choose your own before you go on.");

  const current = h("input", { id: "password-current", name: "currentPassword", type: "password", autocomplete: "current-password", required: true });
  const next = h("input", { id: "password-new", name: "newPassword", type: "password", autocomplete: "new-password", minlength: 10, required: true });
  const again = h("input", { id: "password-again", name: "newPasswordAgain", type: "password", autocomplete: "new-password", minlength: 10, required: true });
  const [done, error] = formMessages("password", { status: true });
  // For password managers: whose password this is (a hidden, read-only user name field).
  const account = h("input", { type: "text", name: "username", autocomplete: "username", readonly: true, hidden: true, tabindex: "-1", "aria-hidden": "true",
    props: { value: session.me ? session.me.user.username : "" } });
  const form = h("form", { id: "password-form" }, account,
    field("Current password", current, { errorFor: "currentPassword" }),
    field("New password", next, { hint: "At least 10 characters.", errorFor: "newPassword" }),
    field("New password again", again, { errorFor: "newPasswordAgain" }),
    h("button", { type: "submit", id: "password-submit" }, "Change password"),
    error, done);

  submitForm(form, async () => {
    done.textContent = "";
    if (next.value !== again.value) {
      formError(form, "The two new passwords differ.");
      again.setAttribute("aria-invalid", "true");
      return null;
    }
    return api("POST", "/api/me/password", { currentPassword: current.value, newPassword: next.value });
  }, async () => {
    form.reset();
    const wasRequired = required || Boolean(session.me && session.me.user.mustChangePassword);
    await loadSession();
    if (wasRequired) {
      // Home, whatever address the person tried to open meanwhile; the app routes once on
      // the session change (replaceState: no second render from a hashchange).
      history.replaceState(null, "", "#/");
      window.dispatchEvent(new CustomEvent("portal:session-changed"));
      return;
    }
    done.textContent = "Password changed. Your other sessions were signed out.";
    toast("Password changed.", { kind: "ok" });
  });

  view.replaceChildren(panel("page-password", "Change your password", notice, form));
}
