// How records read to people: names (the id on hover and a copy button), times, durations.
import { h } from "./dom.js";

/**
 * A button that copies `text` (a string, or a function returning it at click time) to the
 * clipboard and says whether that worked: in its label ("Copied", or "Copy failed: select the
 * text"), or, for an icon button (`label` null: give `aria-label`), in its tooltip.
 * `attributes` go on the button (`id`, `class`, `aria-label`, …).
 */
export function copyButton(text, label = "Copy", attributes = {}) {
  const button = h("button", { type: "button", class: "quiet", ...attributes }, label ?? copyIcon());
  button.addEventListener("click", async () => {
    let copied = true;
    try {
      await navigator.clipboard.writeText(typeof text === "function" ? text() : text);
    } catch {
      copied = false;
    }
    if (label === null) {
      button.title = copied ? "Copied" : "Copy failed: select the text";
      button.dataset.copied = String(copied);
    } else {
      button.textContent = copied ? "Copied" : "Copy failed: select the text";
    }
  });
  return button;
}

/** Two overlapping sheets, the usual "copy" picture (SVG attributes, no inline style). */
function copyIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  for (const [name, value] of Object.entries({ viewBox: "0 0 16 16", width: "14", height: "14", "aria-hidden": "true", focusable: "false" })) svg.setAttribute(name, value);
  for (const [x, y] of [[5, 5], [2, 2]]) {
    const sheet = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    for (const [name, value] of Object.entries({ x, y, width: 9, height: 9, rx: 1.5, fill: "none", stroke: "currentColor", "stroke-width": 1.5 })) sheet.setAttribute(name, String(value));
    svg.append(sheet);
  }
  return svg;
}

/** A record shown by its name, with its id in the tooltip and a button that copies the id. */
export function named(name, id, href) {
  const label = href ? h("a", { href, title: `id ${id}` }, name) : h("span", { title: `id ${id}` }, name);
  return h("span", { class: "named" }, label, copyButton(id, null, { class: "copy-id", "aria-label": `Copy the id of ${name}`, title: "Copy the id" }));
}

/** A time as `<relative-time>`: "3 minutes ago", the absolute time on hover. */
export function when(iso) {
  return iso ? h("relative-time", { datetime: iso }) : "";
}

/** Milliseconds as people read them: 850 ms, 3.2 s, 4 min 10 s. */
export function duration(milliseconds) {
  if (milliseconds === null || milliseconds === undefined) return "";
  if (milliseconds < 1000) return `${Math.round(milliseconds)} ms`;
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** "1 tool", "3 tools". */
export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}
