// Small SVG charts: <line-chart>, <bar-chart>, <donut-chart>. Sized by CSS, coloured by the
// classes .chart-series-0 … .chart-series-5, never by inline styles.
import { h } from "../lib/dom.js";

const NS = "http://www.w3.org/2000/svg";
const numbers = new Intl.NumberFormat();
const SERIES = 6;

/** Appends children to an SVG node: nested arrays flattened, null skipped, text as text. */
function put(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An SVG element with attributes and children. */
function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  return put(node, children);
}

/** A tooltip for an SVG shape: "label: value". */
const tip = (point) => svg("title", {}, `${point.label}: ${numbers.format(point.value)}`);

/** Text shortened to `length` characters with an ellipsis. */
const shorten = (text, length) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);

/**
 * Every chart guarantees: an `<svg role="img" aria-label=label>` with a viewBox (CSS gives it
 * `width: 100%`), shapes coloured only by `.chart-series-N` classes, each with a hover tooltip,
 * and a visually hidden `<table>` (caption = label) of the same values for screen readers.
 * With no data it shows "No data to show." instead. Properties: `data` ([{ label, value }]),
 * `label` (the accessible name; also read from the `label` attribute).
 */
class Chart extends HTMLElement {
  static observedAttributes = ["label"];
  #data = [];
  #label = "";

  attributeChangedCallback() { this.render(); }

  connectedCallback() {
    for (const name of ["data", "label"]) {
      if (Object.prototype.hasOwnProperty.call(this, name)) {
        const value = this[name];
        delete this[name];
        this[name] = value;
      }
    }
    this.render();
  }

  get data() { return this.#data; }
  set data(value) { this.#data = (value || []).map((point) => ({ label: String(point.label), value: Number(point.value) || 0 })); this.render(); }
  get label() { return this.#label || this.getAttribute("label") || ""; }
  set label(value) { this.#label = value || ""; this.render(); }

  render() {
    if (this.#data.length === 0) {
      this.replaceChildren(h("p", { class: "muted chart-empty" }, "No data to show."));
      return;
    }
    const picture = svg("svg", { class: `chart ${this.localName}`, role: "img", "aria-label": this.label });
    this.draw(picture, this.#data);
    const table = h("table", { class: "visually-hidden" }, h("caption", {}, this.label),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Label"), h("th", { scope: "col" }, "Value"))),
      h("tbody", {}, this.#data.map((point) => h("tr", {}, h("td", {}, point.label), h("td", {}, numbers.format(point.value))))));
    this.replaceChildren(picture, table);
  }
}

/**
 * `<line-chart>`: the points in order, left to right, on a scale from 0 (or the lowest value,
 * if negative) to the highest; first and last labels under the axis, the range beside it.
 */
class LineChart extends Chart {
  draw(picture, data) {
    const width = 400, height = 160, left = 40, right = 10, top = 10, bottom = 24;
    picture.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const values = data.map((point) => point.value);
    const low = Math.min(0, ...values), high = Math.max(...values, low + 1);
    const x = (index) => left + (data.length === 1 ? (width - left - right) / 2 : (index * (width - left - right)) / (data.length - 1));
    const y = (value) => top + ((high - value) * (height - top - bottom)) / (high - low);
    put(picture,
      svg("line", { class: "chart-axis", x1: left, y1: y(low), x2: width - right, y2: y(low) }),
      svg("text", { class: "chart-text", x: left - 4, y: y(high) + 4, "text-anchor": "end" }, numbers.format(high)),
      svg("text", { class: "chart-text", x: left - 4, y: y(low), "text-anchor": "end" }, numbers.format(low)),
      svg("text", { class: "chart-text", x: x(0), y: height - 6, "text-anchor": data.length === 1 ? "middle" : "start" }, shorten(data[0].label, 24)),
      data.length > 1 ? svg("text", { class: "chart-text", x: x(data.length - 1), y: height - 6, "text-anchor": "end" }, shorten(data[data.length - 1].label, 24)) : null,
      svg("polyline", { class: "chart-line chart-series-0", points: data.map((point, index) => `${x(index)},${y(point.value)}`).join(" ") }),
      data.map((point, index) => svg("circle", { class: "chart-dot chart-series-0", cx: x(index), cy: y(point.value), r: 3 }, tip(point))),
    );
  }
}

/** `<bar-chart>`: one horizontal bar per item, its label on the left and its value at its end. */
class BarChart extends Chart {
  draw(picture, data) {
    const width = 400, row = 22, labelWidth = 120, valueWidth = 50;
    const height = data.length * row;
    picture.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const high = Math.max(...data.map((point) => Math.abs(point.value)), 1);
    const scale = (value) => (Math.abs(value) * (width - labelWidth - valueWidth)) / high;
    put(picture, data.map((point, index) => svg("g", {},
      svg("text", { class: "chart-text", x: labelWidth - 6, y: index * row + 15, "text-anchor": "end" }, shorten(point.label, 18)),
      svg("rect", { class: `chart-bar chart-series-${index % SERIES}`, x: labelWidth, y: index * row + 3, width: Math.max(scale(point.value), 1), height: row - 6, rx: 2 }, tip(point)),
      svg("text", { class: "chart-text", x: labelWidth + Math.max(scale(point.value), 1) + 4, y: index * row + 15 }, numbers.format(point.value)))));
  }
}

/** `<donut-chart>`: each item's share of the total as a ring segment, with a legend and the
 *  total in the middle. Negative values count as 0. Six colours, then they repeat. */
class DonutChart extends Chart {
  draw(picture, data) {
    const legendRows = Math.max(data.length, 1);
    const height = Math.max(160, legendRows * 20 + 10);
    picture.setAttribute("viewBox", `0 0 400 ${height}`);
    const radius = 55, circumference = 2 * Math.PI * radius, cx = 80, cy = height / 2;
    const total = data.reduce((sum, point) => sum + Math.max(point.value, 0), 0);
    let offset = 0;
    picture.append(svg("circle", { class: "chart-track", cx, cy, r: radius }));
    data.forEach((point, index) => {
      const length = total ? (Math.max(point.value, 0) / total) * circumference : 0;
      if (length > 0) {
        picture.append(svg("circle", {
          class: `chart-slice chart-series-${index % SERIES}`, cx, cy, r: radius, "stroke-width": 22,
          "stroke-dasharray": `${length} ${circumference - length}`, "stroke-dashoffset": -offset,
          transform: `rotate(-90 ${cx} ${cy})`,
        }, tip(point)));
      }
      offset += length;
      const y = 15 + index * 20;
      picture.append(
        svg("rect", { class: `chart-swatch chart-series-${index % SERIES}`, x: 170, y: y - 10, width: 12, height: 12, rx: 2 }),
        svg("text", { class: "chart-text", x: 188, y }, `${shorten(point.label, 22)} (${numbers.format(point.value)})`),
      );
    });
    picture.append(svg("text", { class: "chart-total", x: cx, y: cy + 6, "text-anchor": "middle" }, numbers.format(total)));
  }
}

customElements.define("line-chart", LineChart);
customElements.define("bar-chart", BarChart);
customElements.define("donut-chart", DonutChart);
