// The assistant: the person's conversations, one conversation's turns, and a message box
// whose answer streams in (server-sent events over the POST). Tool suggestions are forms that
// run the tool through the catalog's path.
import "../components/schema-form.js";
import { api, apiFetch, problemText } from "../lib/api.js";
import { h, highlighted } from "../lib/dom.js";
import { formError, submitForm } from "../lib/forms.js";
import { subscribe } from "../lib/live.js";
import { panel, refused } from "../lib/page.js";

/** The conversation whose answer is streaming into this page (its turns arrive on the stream,
 *  so the live `chat.turn` events about it are ignored). Module-wide: it outlives a re-render. */
let streamingSession = null;

const noModel = "No language model is configured: I find the tools that match what you ask and run /tool-name {json} commands.";

export async function render(view, context) {
  let currentSession = context.params.session || null;
  const [list, assistant] = await Promise.all([api("GET", "/api/sessions?limit=50"), api("GET", "/api/assistant")]);
  if (!list.ok) return refused(view, list);
  let sessions = list.body.sessions;
  if (!currentSession && sessions.length > 0) currentSession = sessions[0].id;
  let loaded = [];
  if (currentSession) {
    const turns = await api("GET", `/api/sessions/${encodeURIComponent(currentSession)}/turns`);
    if (!turns.ok) return refused(view, turns);
    loaded = turns.body.turns;
  }

  // ---- The page ----------------------------------------------------------------------------
  const sessionList = h("ul", { id: "chat-session-list" });
  // aria-label rather than a visually hidden <label>: axe-core's hidden-explicit-label check
  // (the version the browser tests run) fails a <label for> that is not visible.
  const find = h("input", { type: "search", id: "chat-find", placeholder: "Find a conversation…", "aria-label": "Find a conversation" });
  const findForm = h("form", { id: "chat-find-form", role: "search", "aria-label": "Conversations", autocomplete: "off" }, find);
  const newButton = h("button", { type: "button", id: "chat-new" }, "New conversation");
  const mode = h("p", { class: "muted", id: "chat-mode" }, assistant.ok && assistant.body && assistant.body.model
    ? `Answers come from ${assistant.body.model}. It runs this organization's tools with your permissions; risky ones wait for an approval.`
    : noModel);
  const turns = h("ol", { class: "turns", id: "chat-turns", "aria-live": "polite", "aria-label": "Conversation" });
  const emptyHint = h("p", { class: "muted", id: "chat-empty" },
    "Describe what you need in your own words, or run a tool directly with /tool-name {json}.");
  const input = h("textarea", { id: "chat-input", rows: 2, placeholder: "Describe what you need, or /tool-name {json}", required: true, "aria-label": "Message", "aria-describedby": "chat-input-hint" });
  const send = h("button", { type: "submit", id: "chat-send" }, "Send");
  const form = h("form", { id: "chat-form" }, input,
    h("span", { class: "field-hint", id: "chat-input-hint" }, "Enter sends; Shift+Enter starts a new line."),
    h("div", { class: "chat-actions" }, send),
    h("p", { class: "error", id: "chat-error", role: "alert" }));

  const section = panel("page-chat", "Assistant");
  section.classList.add("chat");
  const title = section.querySelector("h1");
  title.id = "chat-title";
  section.append(h("div", { class: "chat-layout" },
    h("div", { class: "chat-sessions" }, h("h2", { class: "visually-hidden" }, "Conversations"), newButton, findForm, sessionList),
    h("div", { class: "chat-main" }, mode, emptyHint, turns, form)));

  // ---- Conversations -----------------------------------------------------------------------
  let finding = false;  // the list shows search results: live updates leave it alone
  function renderSessionList(items, noneText = "No conversations yet: ask something to start one.") {
    if (items.length === 0) {
      sessionList.replaceChildren(h("li", { class: "muted" }, noneText));
      return;
    }
    sessionList.replaceChildren(...items.map((item) => h("li", {},
      h("a", { href: `#/chat/${encodeURIComponent(item.id)}`, "data-session": item.id, "aria-current": item.id === currentSession ? "page" : null }, item.title),
      item.snippet ? h("span", { class: "snippet muted" }, highlighted(item.snippet)) : null)));
  }
  async function refreshSessionList() {
    const answer = await api("GET", "/api/sessions?limit=50");
    if (!answer.ok || finding) return;
    sessions = answer.body.sessions;
    renderSessionList(sessions);
  }
  function showTitle() {
    const session = sessions.find((item) => item.id === currentSession);
    const text = currentSession ? (session ? session.title : "Conversation") : "Assistant";
    title.textContent = text;
    context.setTitle(text);
  }

  newButton.addEventListener("click", async () => {
    const created = await api("POST", "/api/sessions", { title: "New conversation" });
    if (!created.ok) {
      formError(form, problemText(created));
      return;
    }
    context.navigate(`#/chat/${encodeURIComponent(created.body.id)}`);
  });

  // Finds conversations by meaning, or lists them all again when the box is empty.
  submitForm(findForm, async () => {
    const text = find.value.trim();
    if (!text) {
      finding = false;
      await refreshSessionList();
      return null;
    }
    const answer = await api("GET", `/api/search?kind=turns&q=${encodeURIComponent(text)}`);
    if (!answer.ok) {
      formError(form, problemText(answer));
      return null;
    }
    finding = true;
    const seen = new Set();
    const found = answer.body.results.filter((hit) => !seen.has(hit.sessionID) && seen.add(hit.sessionID))
      .map((hit) => ({ id: hit.sessionID, title: hit.title, snippet: hit.snippet }));
    renderSessionList(found, "No conversation matches. Empty the search box to see them all.");
    return null;
  });

  // ---- Turns ---------------------------------------------------------------------------------
  const signatures = new Map();  // turn id → what it showed, to redraw only changed turns

  function renderTurn(turn) {
    const item = h("li", { "data-role": turn.role, "data-turn": turn.id, "data-failed": turn.failed ? "true" : null });
    if (turn.role === "tool") {
      const details = h("details", { open: turn.runStatus === "pending-approval" },
        h("summary", {}, turn.runStatus ? `Tool result: ${turn.runStatus}` : "Tool call refused"), h("pre", {}, turn.text));
      item.append(details);
    } else {
      if (turn.text) item.append(turn.text);
      for (const call of turn.toolCalls || []) item.append(h("div", { class: "tool-call muted" }, `Calling ${call.tool} ${call.arguments || "{}"}`));
    }
    if (turn.runID) item.append(h("br"), h("a", { href: `#/runs/${encodeURIComponent(turn.runID)}`, class: "run-link" }, "Open the run"));
    for (const name of new Set(turn.suggestedTools || [])) item.append(suggestionForm(name, turn.id));
    signatures.set(turn.id, JSON.stringify(turn));
    return item;
  }

  function shownTurn(id) {
    return turns.querySelector(`[data-turn="${CSS.escape(id)}"]`);
  }

  /** Adds the turns not shown yet and redraws those that changed (a suggestion form being
   *  filled in is left alone unless its turn changed). */
  function mergeTurns(list) {
    let added = false;
    for (const turn of list) {
      const shown = shownTurn(turn.id);
      if (!shown) {
        turns.append(renderTurn(turn));
        added = true;
      } else if (signatures.get(turn.id) !== JSON.stringify(turn)) {
        shown.replaceWith(renderTurn(turn));
      }
    }
    if (added) for (const note of turns.querySelectorAll('li[data-role="status"]')) note.remove();
    emptyHint.hidden = turns.children.length > 0;
    return added;
  }

  async function refreshTurns() {
    if (!currentSession) return;
    const session = currentSession;
    const answer = await api("GET", `/api/sessions/${encodeURIComponent(session)}/turns`);
    if (!answer.ok || session !== currentSession || session === streamingSession) return;
    if (mergeTurns(answer.body.turns)) turns.lastElementChild?.scrollIntoView({ block: "nearest" });
  }

  /** A suggested tool as a ready-to-fill form that runs it through the catalog's path. */
  function suggestionForm(name, turnID) {
    const heading = h("strong", {}, name);
    const fields = h("schema-form");
    fields.idPrefix = `s-${turnID}-${name}`.replace(/[^A-Za-z0-9_-]/g, "-");
    const button = h("button", { type: "submit", disabled: true }, "Run");
    button.dataset.keepDisabled = "true";  // until the tool is loaded
    const status = h("p", { class: "muted", role: "status" });
    const suggestion = h("form", { class: "suggestion", "data-tool": name, novalidate: true, "aria-label": `Run ${name}` },
      heading, h("p", { class: "error", role: "alert" }), fields, button, status);
    api("GET", `/api/tools/${encodeURIComponent(name)}`).then((result) => {
      if (!result.ok) {
        status.textContent = problemText(result);
        return;
      }
      const tool = result.body;
      fields.schema = tool.inputSchema || {};
      heading.textContent = tool.title;
      suggestion.setAttribute("aria-label", `Run ${tool.title}`);
      button.disabled = !tool.canRun;
      if (tool.canRun) delete button.dataset.keepDisabled;
      else status.textContent = "Your role may not run this tool.";
    });
    submitForm(suggestion, () => {
      status.textContent = "";
      return api("POST", `/api/tools/${encodeURIComponent(name)}/runs`, { input: fields.values() });
    }, (run) => {
      status.replaceChildren(`${run.status}. `, h("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, "Open the run"));
    });
    return suggestion;
  }

  // ---- Sending -------------------------------------------------------------------------------
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!send.disabled) form.requestSubmit();
    }
  });

  submitForm(form, async () => {
    const text = input.value.trim();
    if (!text) return null;
    if (!currentSession) {
      const created = await api("POST", "/api/sessions", { title: text.slice(0, 60) });
      if (!created.ok) return created;
      currentSession = created.body.id;
      sessions = [created.body, ...sessions];
      history.replaceState(null, "", `#/chat/${encodeURIComponent(currentSession)}`);
      showTitle();
      if (!finding) renderSessionList(sessions);
    }
    if (await streamReply(currentSession, text)) {
      input.value = "";
      refreshSessionList();
    }
    return null;  // its problems were shown as they happened
  });

  /** Sends a message and shows the answer as it streams. Returns whether it was accepted. */
  async function streamReply(sessionID, text) {
    streamingSession = sessionID;
    turns.setAttribute("aria-busy", "true");  // read the answer once, not word by word
    try {
      return await readReply(sessionID, text);
    } finally {
      streamingSession = null;
      turns.removeAttribute("aria-busy");
      emptyHint.hidden = turns.children.length > 0;
    }
  }

  async function readReply(sessionID, text) {
    let response;
    try {
      response = await apiFetch("POST", `/api/sessions/${encodeURIComponent(sessionID)}/turns`, { text }, "text/event-stream");
    } catch {
      formError(form, "The server could not be reached; the message was not sent.");
      return false;
    }
    if (!response.ok || !response.body) {
      let body = null;
      try { body = await response.json(); } catch { body = null; }
      formError(form, problemText({ status: response.status, body }));
      return false;
    }
    let live = null;
    const handle = (name, data) => {
      if (name === "text") {
        if (!live) {
          live = h("li", { "data-role": "assistant", "data-streaming": "true" });
          turns.append(live);
          emptyHint.hidden = true;
        }
        live.textContent += data.text;
      } else if (name === "turn") {
        if (live && data.role === "assistant") {
          live.remove();
          live = null;
        }
        if (!shownTurn(data.id)) turns.append(renderTurn(data));
        emptyHint.hidden = true;
      } else if (name === "done" && data.pausedOnRun) {
        turns.append(h("li", { "data-role": "status", class: "muted" }, "Waiting for an approval; the answer goes on once it is decided."));
      }
      turns.lastElementChild?.scrollIntoView({ block: "nearest" });
    };
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch {
        // The answer goes on on the server and is kept: it shows on the next visit.
        formError(form, "The connection dropped while the answer was coming; reopen the conversation to see it.");
        break;
      }
      const { value, done } = chunk;
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = (block.match(/^event: (.*)$/m) || [])[1];
        const data = (block.match(/^data: (.*)$/m) || [])[1];
        let parsed = null;
        try { parsed = data ? JSON.parse(data) : null; } catch { parsed = null; }
        if (name && parsed) handle(name, parsed);
      }
    }
    if (live) live.remove();
    return true;
  }

  // ---- First render and live updates ---------------------------------------------------------
  renderSessionList(sessions);
  showTitle();
  mergeTurns(loaded);
  view.replaceChildren(section);
  setTimeout(() => { if (turns.isConnected) turns.lastElementChild?.scrollIntoView({ block: "nearest" }); }, 0);

  return subscribe((kind, data) => {
    if (kind !== "chat.turn" || !data) return;
    if (data.sessionID === streamingSession) return;
    if (data.sessionID === currentSession) refreshTurns();
    if (!finding) refreshSessionList();
  });
}
