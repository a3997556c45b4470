// DOM helpers. Data is always written as text (textContent, attributes), never parsed as HTML.

/** The element with `id`. */
export const $ = (id) => document.getElementById(id);

/**
 * Creates an element: `h("a", { href: "#/", class: "x", "data-id": 3, on: { click: fn } }, "text", node, [more])`.
 * Attributes with `null`, `undefined` or `false` are left out; `true` sets an empty attribute.
 * Properties that are not attributes (`value`, `checked`, `disabled` on inputs) are set with
 * `props: { checked: true }`. Children may be strings, numbers, nodes, arrays, or null (skipped).
 */
export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (name === "props") {
      Object.assign(node, value);
    } else if (value !== null && value !== undefined && value !== false) {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

/** Appends children (strings, numbers, nodes, nested arrays; null and undefined are skipped). */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Text with `[[marked]]` words as <mark> elements (text nodes only, never HTML). */
export function highlighted(text) {
  return h("span", {}, text.split(/\[\[|\]\]/).map((part, index) => (index % 2 === 1 ? h("mark", {}, part) : part)));
}

/** Moves keyboard focus to the page's main heading, so screen readers announce the new page. */
export function focusHeading(root) {
  const heading = root.querySelector("h1");
  if (!heading) return;
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
}
