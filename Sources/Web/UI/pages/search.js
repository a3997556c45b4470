// Search by meaning over the person's conversations and the tools (the top bar's box).
import { api } from "../lib/api.js";
import { h, highlighted } from "../lib/dom.js";
import { emptyState, panel, refused } from "../lib/page.js";

export async function render(view, context) {
  const text = (context.query.get("q") || "").trim();
  // The top bar's box shows what was searched (also when the address was opened directly).
  const box = document.getElementById("global-search");
  if (box && box.value !== text) box.value = text;

  const results = h("ul", { class: "results", id: "search-results" });
  const empty = emptyState("Nothing matches. Try other words: search goes by meaning, so describe what you need.", h("a", { href: "#/" }, "Browse the tools"));
  empty.id = "search-empty";
  const summary = h("p", { class: "muted", id: "search-summary", role: "status" });

  if (!text) {
    results.hidden = true;
    empty.replaceChildren(h("p", {}, "Type what you are looking for in the search box at the top: conversations and tools are found by meaning."));
    view.replaceChildren(panel("page-search", "Search results", summary, results, empty));
    return;
  }

  const result = await api("GET", `/api/search?q=${encodeURIComponent(text)}`);
  if (!result.ok) return refused(view, result);
  context.setTitle(`Search: ${text}`);
  const hits = result.body.results;
  results.replaceChildren(...hits.map((hit) => {
    const isTurn = hit.kind === "turn";
    const href = isTurn ? `#/chat/${encodeURIComponent(hit.sessionID)}` : `#/tools/${encodeURIComponent(hit.tool)}`;
    return h("li", { "data-kind": hit.kind },
      h("a", { href, class: "result-link" }, hit.title),
      h("span", { class: "muted result-kind" }, ` (${isTurn ? "conversation" : "tool"})`),
      h("span", { class: "snippet" }, highlighted(hit.snippet || "")));
  }));
  results.hidden = hits.length === 0;
  empty.hidden = hits.length > 0;
  summary.textContent = hits.length ? `${hits.length} ${hits.length === 1 ? "result" : "results"} for “${text}”.` : `No results for “${text}”.`;
  view.replaceChildren(panel("page-search", "Search results", summary, results, empty));
}
