// Consent for an application (an MCP client) that asks to use the portal's tools as the
// signed-in person: names the application, where it will be sent back and the organization
// and role it gets. Approving issues it a key the person can revoke under API keys.
import { api } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { formError, submitForm } from "../lib/forms.js";
import { formMessages, panel, refused } from "../lib/page.js";

export async function render(view, context) {
  const id = context.params.id;
  const result = await api("GET", `/api/oauth/requests/${encodeURIComponent(id)}`);
  if (!result.ok) return refused(view, result);
  const request = result.body;
  const [done, error] = formMessages("consent", { status: true });
  let approve = false;
  const allow = h("button", { type: "submit", id: "consent-approve", on: { click: () => { approve = true; } } }, "Allow");
  const deny = h("button", { type: "submit", id: "consent-deny", class: "secondary", on: { click: () => { approve = false; } } }, "Deny");
  const form = h("form", { id: "consent-form" },
    h("p", {}, h("strong", { id: "consent-client" }, request.client),
      " asks to use this portal's tools as you",
      request.organization ? [" in ", h("strong", { id: "consent-organization" }, request.organization)] : null,
      ` with your role (${request.role}).`),
    h("p", {}, "You will be sent back to ", h("code", { id: "consent-redirect" }, request.redirectHost),
      ". It can run the tools you may run; risky ones still wait for an approval, and every call is audited. ",
      "You can revoke it any time under API keys."),
    h("div", { class: "actions" }, allow, deny),
    error, done);
  submitForm(form, async () => api("POST", `/api/oauth/requests/${encodeURIComponent(id)}/decision`, { approve }),
    async (body) => {
      if (!body || !body.redirect) return formError(form, "The portal did not say where to go next.");
      done.textContent = approve ? "Allowed. Returning to the application…" : "Denied. Returning to the application…";
      window.location.assign(body.redirect);
    });
  view.replaceChildren(panel("page-consent", "Allow an application?", form));
}
