// The portal's JSON API from the browser: the session (who is signed in, the CSRF token),
// fetch with problem details, and the one signed-out probe that is not an error.

/** Who is signed in: `session.me` is GET /api/me's body, or null when signed out. */
export const session = { me: null };

/** Whether the signed-in person holds `permission` in the current organization. */
export function can(permission) {
  return Boolean(session.me && session.me.permissions.includes(permission));
}

/** Whether the signed-in person is a system administrator. */
export function isSystemAdministrator() {
  return Boolean(session.me && session.me.user.isAdministrator);
}

/** A fetch of the API with a JSON body (if any) and the session's CSRF token. */
export function apiFetch(method, path, body, accept = "application/json") {
  const headers = { Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (session.me && session.me.csrfToken && method !== "GET") headers["X-CSRF-Token"] = session.me.csrfToken;
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
}

/**
 * Calls the JSON API. Resolves to `{ ok, status, body, headers }` (body parsed, or null); a
 * network failure resolves to status 0 with a problem body that says so, so callers handle
 * one shape.
 */
export async function api(method, path, body) {
  let response;
  try {
    response = await apiFetch(method, path, body);
  } catch {
    return { ok: false, status: 0, body: { title: "Server unreachable", detail: "The portal could not be reached. Check the connection and try again." }, headers: new Headers() };
  }
  if (response.status === 401 && session.me && path !== "/api/auth/login") {
    window.dispatchEvent(new CustomEvent("portal:session-expired"));
  }
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
  return { ok: response.ok, status: response.status, body: parsed, headers: response.headers };
}

/** The sentence to show for a failed call: the problem's detail, else its title, else the status. */
export function problemText(result) {
  return (result.body && (result.body.detail || result.body.title)) || `The server answered ${result.status}.`;
}

/** Asks who is signed in (GET /api/auth/session, 200 either way) and stores it in `session`. */
export async function loadSession() {
  const result = await api("GET", "/api/auth/session");
  session.me = result.ok && result.body.signedIn ? result.body.me : null;
  return session.me;
}

/** A query string from an object, leaving out empty values. */
export function query(parameters) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
