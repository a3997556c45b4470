// The portal's client. Plain ES modules: no build step, no inline script (the CSP forbids it).

const statusElement = document.getElementById("server-status");

/** Shows whether the server answers its readiness probe. */
async function refreshServerStatus() {
  try {
    const response = await fetch("/readyz", { headers: { Accept: "application/json" } });
    const body = await response.json();
    const ready = response.ok && body.status === "ready";
    statusElement.dataset.state = ready ? "ok" : "down";
    statusElement.textContent = ready ? "Server ready" : "Server not ready";
  } catch {
    statusElement.dataset.state = "down";
    statusElement.textContent = "Server unreachable";
  }
}

refreshServerStatus();
setInterval(refreshServerStatus, 30000);
