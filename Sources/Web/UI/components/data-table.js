// <data-table>: a sortable, paged `<table class="list">` in light DOM.
import { append, h } from "../lib/dom.js";

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/** Orders two sort values: numbers by size, text by the reader's collation, empty values last. */
function compare(a, b) {
  const emptyA = a === null || a === undefined || a === "";
  const emptyB = b === null || b === undefined || b === "";
  if (emptyA || emptyB) return emptyA === emptyB ? 0 : emptyA ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (a instanceof Date && b instanceof Date) return a - b;
  return collator.compare(String(a), String(b));
}

/**
 * `<data-table>` guarantees: a `<table class="list">` (light DOM, so global CSS and tests reach
 * it) with `<th scope="col">` headers; a column with `sort(row)` gets a header button and
 * `aria-sort` on its `th`; pages of `pageSize` rows (default 25) with Previous/Next buttons and
 * "1–25 of 80" in a `role=status` (the pager shows only when there is more than one page);
 * `empty` shown instead of the table when there are no rows; the `<tbody>` carries `bodyId`;
 * each `<tr>` gets `rowAttributes(row)`. Setting `rows` re-renders and keeps the sort and the
 * page (the page is clamped when the list got shorter); a new sort starts at the first page.
 * Renders synchronously on every setter, connected or not, so `#<bodyId>` exists as soon as
 * the element is in the page. An empty table stays in the DOM, hidden.
 *
 * Properties: columns ([{ key, label, render?(row) → Node|string, sort?(row) → comparable,
 * align?: "left"|"center"|"right" }]), rows, pageSize, empty (Node|string), caption, bodyId,
 * rowAttributes(row) → { attribute: value }.
 */
class DataTable extends HTMLElement {
  #columns = [];
  #rows = [];
  #pageSize = 25;
  #empty = "Nothing here yet.";
  #caption = "";
  #bodyId = null;
  #rowAttributes = () => ({});
  #page = 0;
  #sortKey = null;
  #descending = false;
  #parts = null;

  connectedCallback() {
    // Values set on the element before this module defined it would shadow the accessors.
    for (const name of ["columns", "rows", "pageSize", "empty", "caption", "bodyId", "rowAttributes"]) {
      if (Object.prototype.hasOwnProperty.call(this, name)) {
        const value = this[name];
        delete this[name];
        this[name] = value;
      }
    }
    this.#render();
  }

  get columns() { return this.#columns; }
  set columns(value) { this.#columns = value || []; this.#buildHead(); this.#render(); }
  get rows() { return this.#rows; }
  set rows(value) { this.#rows = value || []; this.#render(); }
  get pageSize() { return this.#pageSize; }
  set pageSize(value) { this.#pageSize = Math.max(1, Number(value) || 25); this.#render(); }
  get empty() { return this.#empty; }
  set empty(value) { this.#empty = value; this.#renderEmpty(); this.#render(); }
  get caption() { return this.#caption; }
  set caption(value) { this.#caption = value || ""; this.#render(); }
  get bodyId() { return this.#bodyId; }
  set bodyId(value) { this.#bodyId = value || null; this.#render(); }
  get rowAttributes() { return this.#rowAttributes; }
  set rowAttributes(value) { this.#rowAttributes = value || (() => ({})); this.#render(); }

  /** Builds the parts that live as long as the element: table, empty slot, pager. */
  #skeleton() {
    if (this.#parts) return this.#parts;
    const previous = h("button", { type: "button", class: "pager-previous", on: { click: () => this.#turn(-1) } }, "Previous");
    const next = h("button", { type: "button", class: "pager-next", on: { click: () => this.#turn(1) } }, "Next");
    const status = h("span", { class: "pager-status", role: "status" });
    this.#parts = {
      caption: h("caption", { class: "visually-hidden" }),
      head: h("thead"),
      body: h("tbody"),
      emptySlot: h("div", { class: "data-table-empty" }),
      previous, next, status,
      pager: h("div", { class: "pager" }, previous, status, next),
    };
    const { caption, head, body, emptySlot, pager } = this.#parts;
    this.#parts.table = h("table", { class: "list" }, caption, head, body);
    this.replaceChildren(this.#parts.table, emptySlot, pager);
    this.#buildHead();
    this.#renderEmpty();
    return this.#parts;
  }

  #buildHead() {
    if (!this.#parts) return;
    if (this.#sortKey !== null && !this.#columns.some((column) => column.key === this.#sortKey && column.sort)) this.#sortKey = null;
    this.#parts.head.replaceChildren(h("tr", {}, this.#columns.map((column) => {
      if (!column.sort) return h("th", { scope: "col", "data-key": column.key, "data-align": column.align }, column.label);
      const button = h("button", { type: "button", class: "sort", on: { click: () => this.#sortBy(column.key) } },
        column.label, h("span", { class: "sort-indicator", "aria-hidden": "true" }));
      return h("th", { scope: "col", "data-key": column.key, "data-align": column.align, "aria-sort": "none" }, button);
    })));
  }

  #renderEmpty() {
    if (!this.#parts) return;
    const empty = this.#empty;
    this.#parts.emptySlot.replaceChildren(empty instanceof Node ? empty : h("p", { class: "muted" }, empty ?? ""));
  }

  #sortBy(key) {
    this.#descending = this.#sortKey === key ? !this.#descending : false;
    this.#sortKey = key;
    this.#page = 0;
    this.#render();
  }

  #turn(step) {
    this.#page += step;
    this.#render();
  }

  #sorted() {
    const column = this.#columns.find((candidate) => candidate.key === this.#sortKey);
    if (!column || !column.sort) return this.#rows;
    const direction = this.#descending ? -1 : 1;
    return [...this.#rows].sort((a, b) => direction * compare(column.sort(a), column.sort(b)));
  }

  /** Redraws the body, the sort state and the pager; the table and its header stay. */
  #render() {
    const parts = this.#skeleton();
    parts.caption.textContent = this.#caption;
    parts.caption.hidden = !this.#caption;
    if (this.#bodyId) parts.body.id = this.#bodyId; else parts.body.removeAttribute("id");
    for (const th of parts.head.querySelectorAll("th[aria-sort]")) {
      const sorted = th.dataset.key === this.#sortKey;
      th.setAttribute("aria-sort", sorted ? (this.#descending ? "descending" : "ascending") : "none");
      th.querySelector(".sort-indicator").textContent = sorted ? (this.#descending ? " ▼" : " ▲") : " ↕";
    }

    const total = this.#rows.length;
    const pages = Math.max(1, Math.ceil(total / this.#pageSize));
    this.#page = Math.min(Math.max(0, this.#page), pages - 1);
    const start = this.#page * this.#pageSize;
    const shown = this.#sorted().slice(start, start + this.#pageSize);
    parts.body.replaceChildren(...shown.map((row) => h("tr", this.#rowAttributes(row) || {}, this.#columns.map((column) => {
      const cell = h("td", { "data-align": column.align });
      append(cell, [column.render ? column.render(row) : row[column.key]]);
      return cell;
    }))));

    parts.table.hidden = total === 0;
    parts.emptySlot.hidden = total !== 0;
    parts.pager.hidden = pages === 1;
    parts.status.textContent = total ? `${start + 1}–${start + shown.length} of ${total}` : "";
    const focused = document.activeElement;
    parts.previous.disabled = this.#page === 0;
    parts.next.disabled = this.#page === pages - 1;
    // A button that just became disabled drops focus; hand it to the other one.
    if (focused === parts.next && parts.next.disabled && !parts.previous.disabled) parts.previous.focus();
    if (focused === parts.previous && parts.previous.disabled && !parts.next.disabled) parts.next.focus();
  }
}

customElements.define("data-table", DataTable);
