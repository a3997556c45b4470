// Single sign-on: the OpenID Connect provider (authorization code flow with PKCE) and which
// of its groups grant which role in which organization. System administrators only.
import { api, problemText } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { formError, submitForm } from "../lib/forms.js";
import { field, panel, refused } from "../lib/page.js";
import { copyButton } from "../lib/format.js";
import { toast } from "../components/toast.js";

/** Mapping lines ("group organization-slug role") as objects, or the sentence about the first bad line. */
function parseMappings(text) {
  const mappings = [];
  const lines = text.split("\n").map((line) => line.trim());
  for (const [index, line] of lines.entries()) {
    if (!line) continue;
    const [group, organization, role, ...rest] = line.split(/\s+/);
    if (!role || rest.length) return { problem: `Line ${index + 1} ("${line}"): write the group, the organization's slug and the role, separated by spaces.` };
    if (!["viewer", "operator", "admin"].includes(role)) return { problem: `Line ${index + 1} ("${line}"): the role is viewer, operator or admin.` };
    mappings.push({ group, organization, role });
  }
  return { mappings };
}

export async function render(view) {
  const first = await api("GET", "/api/auth/oidc/settings");
  if (!first.ok) return refused(view, first);

  const redirect = h("code", { id: "sso-redirect", class: "wrap" });
  const copyRedirect = copyButton(() => redirect.textContent, "Copy", { id: "sso-redirect-copy" });

  const enabled = h("input", { type: "checkbox", id: "sso-enabled", name: "enabled" });
  const issuer = h("input", { id: "sso-issuer", name: "issuer", type: "url", required: true, placeholder: "https://idp.example.com", spellcheck: "false" });
  const client = h("input", { id: "sso-client", name: "clientID", required: true, autocomplete: "off", spellcheck: "false" });
  const secret = h("input", { id: "sso-secret", name: "clientSecret", type: "password", autocomplete: "new-password" });
  const removeSecret = h("input", { type: "checkbox", id: "sso-secret-remove", name: "removeClientSecret" });
  const removeSecretField = field("Remove the stored client secret (a public client)", removeSecret);
  const label = h("input", { id: "sso-label", name: "buttonLabel", required: true, maxlength: 64 });
  const scopes = h("input", { id: "sso-scopes", name: "scopes", autocomplete: "off", spellcheck: "false" });
  const groupsClaim = h("input", { id: "sso-groups-claim", name: "groupsClaim", required: true, autocomplete: "off", spellcheck: "false" });
  const usernameClaim = h("input", { id: "sso-username-claim", name: "usernameClaim", autocomplete: "off", spellcheck: "false" });
  const mappings = h("textarea", { id: "sso-mappings", name: "mappings", rows: 6, spellcheck: "false" });
  const saved = h("p", { class: "muted", id: "sso-saved", role: "status" });

  /** Puts the stored settings in the form (the secret field stays empty: it is never shown). */
  function fill(settings) {
    redirect.textContent = settings.redirectURI || "";
    enabled.checked = settings.enabled;
    issuer.value = settings.issuer || "";
    client.value = settings.clientID || "";
    secret.value = "";
    secret.placeholder = settings.hasClientSecret ? "stored (leave empty to keep)" : "none (a public client)";
    removeSecret.checked = false;
    removeSecretField.hidden = !settings.hasClientSecret;
    label.value = settings.buttonLabel || "Sign in with SSO";
    scopes.value = (settings.scopes || ["openid", "profile", "email"]).join(" ");
    groupsClaim.value = settings.groupsClaim || "groups";
    usernameClaim.value = settings.usernameClaim || "preferred_username";
    mappings.value = (settings.mappings || []).map((mapping) => `${mapping.group} ${mapping.organization} ${mapping.role}`).join("\n");
  }

  const form = h("form", { id: "sso-form", class: "stacked" },
    field("Enabled", enabled, { hint: "When on, the sign-in page offers the provider's button next to passwords." }),
    field("Issuer", issuer, { hint: "The provider's issuer URL (https); the portal reads its /.well-known/openid-configuration.", errorFor: "issuer" }),
    field("Client ID", client, { errorFor: "clientID" }),
    field("Client secret", secret, { hint: "Stored sealed and never shown again. Leave empty to keep the stored one.", errorFor: "clientSecret" }),
    removeSecretField,
    field("Button label", label, { hint: "The sign-in page's button, e.g. “Sign in with Okta”.", errorFor: "buttonLabel" }),
    h("details", { class: "advanced" },
      h("summary", {}, "Claims and scopes"),
      field("Scopes", scopes, { hint: "Requested scopes, separated by spaces; openid is always asked for.", errorFor: "scopes" }),
      field("User name claim", usernameClaim, { hint: "The claim that names new users (then email, then the subject).", errorFor: "usernameClaim" })),
    field("Groups claim", groupsClaim, { hint: "The ID token or userinfo claim that lists the person's groups.", errorFor: "groupsClaim" }),
    field("Group mappings", mappings, {
      hint: "One per line: group, organization slug, role (viewer, operator or admin), e.g. “ops default operator”. The group * matches everyone; someone in no mapped group is refused, and the highest role a group grants wins.",
      errorFor: "mappings",
    }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", id: "sso-submit" }, "Save")),
    saved,
    h("p", { class: "error", id: "sso-error", role: "alert" }));

  submitForm(form, (sent) => {
    saved.textContent = "";
    const parsed = parseMappings(mappings.value);
    if (parsed.problem) {
      formError(sent, parsed.problem);
      mappings.setAttribute("aria-invalid", "true");
      mappings.focus();
      return null;
    }
    const body = {
      enabled: enabled.checked, issuer: issuer.value.trim(), clientID: client.value.trim(),
      buttonLabel: label.value.trim(), groupsClaim: groupsClaim.value.trim(), mappings: parsed.mappings,
      scopes: scopes.value.split(/\s+/).filter(Boolean),
    };
    if (usernameClaim.value.trim()) body.usernameClaim = usernameClaim.value.trim();
    if (body.scopes.length === 0) delete body.scopes;
    if (removeSecret.checked) body.clientSecret = "";
    else if (secret.value !== "") body.clientSecret = secret.value;
    return api("PUT", "/api/auth/oidc/settings", body);
  }, async () => {
    secret.value = "";
    const again = await api("GET", "/api/auth/oidc/settings");
    if (again.ok) fill(again.body);
    else toast(problemText(again), { kind: "error" });
    saved.textContent = "Saved.";
    toast(enabled.checked ? "Single sign-on saved: the sign-in page offers it." : "Single sign-on saved (turned off).", { kind: "ok" });
  });

  fill(first.body);
  view.replaceChildren(panel("page-sso", "Single sign-on",
    h("p", { class: "muted" }, "OpenID Connect, authorization code flow with PKCE. People who sign in this way get an account the first time, and their groups decide their roles at every sign-in."),
    h("p", {}, "Register this redirect URI with the identity provider: ", redirect, " ", copyRedirect),
    form));
}
