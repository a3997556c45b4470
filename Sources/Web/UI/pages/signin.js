// Signed out: what the portal is, the sign-in form, and single sign-on when it is on.
import { api, session } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { submitForm } from "../lib/forms.js";
import { field } from "../lib/page.js";

/** Renders the welcome panel and the sign-in panel. */
export async function render(view) {
  const welcome = h("section", { class: "panel", id: "welcome" },
    h("h1", {}, "Welcome"),
    h("p", {}, "Run operations tools from the catalog or the assistant, with approvals for risky runs and an audit trail of everything."),
    h("p", { class: "muted", id: "welcome-hint" }, "Sign in with the administrator account printed in the terminal the first time the portal started."));

  const username = h("input", { id: "signin-username", name: "username", autocomplete: "username", autocapitalize: "none", spellcheck: "false", required: true });
  const password = h("input", { id: "signin-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error", id: "signin-error", role: "alert" });
  const form = h("form", { id: "signin-form" },
    field("User name", username), field("Password", password),
    h("button", { type: "submit", id: "signin-submit" }, "Sign in"), error);
  const ssoButton = h("button", { type: "button", id: "signin-sso", class: "quiet" }, "Sign in with SSO");
  const ssoBlock = h("div", { id: "signin-sso-block", class: "signin-sso", hidden: true }, h("p", { class: "muted" }, "or"), ssoButton);
  const signin = h("section", { class: "panel", id: "signin", "aria-labelledby": "signin-heading" },
    h("h2", { id: "signin-heading" }, "Sign in"), form, ssoBlock);

  // A refusal the identity provider's round trip brought back (`/?sso_error=…`): shown once,
  // then taken out of the address so a reload does not show it again.
  const params = new URLSearchParams(location.search);
  if (params.has("sso_error")) {
    error.textContent = params.get("sso_error");
    history.replaceState(null, "", "/" + location.hash);
  }

  ssoButton.addEventListener("click", () => {
    location.href = "/api/auth/oidc/login?return_to=" + encodeURIComponent("/" + location.hash);
  });

  submitForm(form, async () => {
    const result = await api("POST", "/api/auth/login", { username: username.value, password: password.value });
    password.value = "";
    return result;
  }, (body) => {
    // The login answer is /api/me's body; the app redraws its chrome, connects the live
    // events and routes (to the password page when a one-time password must be replaced).
    session.me = body;
    window.dispatchEvent(new CustomEvent("portal:session-changed"));
  });

  // Whether single sign-on is on: the form shows at once, the button when the answer comes.
  api("GET", "/api/auth/oidc").then((oidc) => {
    if (!oidc.ok || !oidc.body || !oidc.body.enabled) return;
    ssoButton.textContent = oidc.body.buttonLabel || "Sign in with SSO";
    ssoBlock.hidden = false;
  });

  view.replaceChildren(welcome, signin);
}
