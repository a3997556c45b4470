// <workflow-canvas>: a workflow's steps and edges drawn in SVG, for the designer (steps moved,
// connected and removed by pointer or keyboard) and, read-only, for the run view (each step
// coloured and labelled by its status). Sized and coloured by CSS classes and SVG attributes,
// never by inline styles.
import { h } from "../lib/dom.js";
import { statusLabel } from "./status-badge.js";
import { NODE_WIDTH, autoLayout, edgeKey, nodeHeight, portOf, portsOf, stepType } from "./workflow-model.js";

const NS = "http://www.w3.org/2000/svg";
const MOVE_STEP = 20;
const ZOOM_MIN = 0.2, ZOOM_MAX = 2.5;
const DRAG_THRESHOLD = 4;
let instances = 0;

/** An SVG element with attributes (null and undefined left out) and children (text as text). */
function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Text shortened to `length` characters with an ellipsis. */
const shorten = (text, length) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);
const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

/**
 * `<workflow-canvas>` guarantees: an `<svg class="wf-canvas-svg" role="group">` (aria-label
 * `label`) holding one `<g class="wf-node" data-node-id tabindex="0" role="button"
 * aria-label="Step <id> (<type>)">` per step (a rounded box with its title and type; its
 * `<title>`, read as its description, adds its status and problems; in the run view a
 * `<text class="wf-node-status">` with its status, and the class `wf-status-<status>`), an
 * input port `<circle data-input-port data-node-id>` on its left
 * and an output port `<circle class="wf-port-out" data-port data-node-id>` per port on its
 * right; one `<path class="wf-edge-hit" data-edge="from:port:to">` per edge (the line the
 * pointer hits, inside `<g class="wf-edge">` with the visible line); zoom buttons
 * (`.wf-zoom-in`, `.wf-zoom-out`, `.wf-fit`); a minimap (`svg.wf-minimap`, for the pointer
 * only) whose click moves the view. Steps listed in `marked` get `wf-has-problem`; the
 * selection gets `selected`.
 *
 * Editing (unless `readOnly`): drag a step to move it; drag from an output port to a step to
 * connect them; click an edge to select it; Delete or Backspace removes the selection. A
 * focused step: Enter selects it, arrow keys move it by 20 px, Delete removes it. Dragging the
 * background pans, the wheel zooms. Changes are not applied here: each is offered as a
 * `definition-change` event (`detail.definition`, a changed copy) for the owner to keep and set
 * back; selecting dispatches `selection-change` (`detail.selection`: `{node}`, `{edge}` or null).
 *
 * Properties: definition, readOnly, statuses (step id → {status, port}: the run view),
 * marked (step ids with problems), selection, label. Methods: update(properties) (several at
 * one redraw), fit(), zoomBy(factor), focusNode(id), reveal(id), visibleCenter(),
 * modelPoint(clientX, clientY), preview(type, clientX, clientY), endPreview(), announce(text).
 */
class WorkflowCanvas extends HTMLElement {
  #definition = { nodes: [], edges: [] };
  #readOnly = false;
  #statuses = null;
  #marked = new Set();
  #selection = null;
  #label = "Workflow steps";
  #view = { x: 20, y: 20, k: 1 };
  #fallback = {};     // positions of steps saved without one
  #dragged = null;    // { id, x, y } while a step is being dragged
  #gesture = null;    // the pointer gesture under way
  #fitted = false;
  #parts = null;

  connectedCallback() {
    for (const name of ["definition", "readOnly", "statuses", "marked", "selection", "label"]) {
      if (Object.prototype.hasOwnProperty.call(this, name)) {
        const value = this[name];
        delete this[name];
        this[name] = value;
      }
    }
    this.#render();
    this.#fitOnce();
  }

  get definition() { return this.#definition; }
  set definition(value) { this.update({ definition: value }); }
  get readOnly() { return this.#readOnly; }
  set readOnly(value) { this.update({ readOnly: value }); }
  get statuses() { return this.#statuses; }
  set statuses(value) { this.update({ statuses: value }); }
  get marked() { return this.#marked; }
  set marked(value) { this.update({ marked: value }); }
  get label() { return this.#label; }
  set label(value) { this.update({ label: value }); }
  get selection() { return this.#selection; }
  set selection(value) {
    this.#selection = value || null;
    this.#applySelection();
  }

  /** Sets any of definition, readOnly, statuses, marked, selection and label, then redraws once. */
  update(properties) {
    if ("definition" in properties) {
      this.#definition = properties.definition || { nodes: [], edges: [] };
      const missing = this.#definition.nodes.some((node) => !node.position);
      this.#fallback = missing ? autoLayout(this.#definition) : {};
    }
    if ("readOnly" in properties) this.#readOnly = Boolean(properties.readOnly);
    if ("statuses" in properties) this.#statuses = properties.statuses || null;
    if ("marked" in properties) this.#marked = new Set(properties.marked || []);
    if ("selection" in properties) this.#selection = properties.selection || null;
    if ("label" in properties) this.#label = properties.label || "Workflow steps";
    this.#render();
    this.#fitOnce();
  }

  // ---- Drawing ---------------------------------------------------------------------------------

  #skeleton() {
    if (this.#parts) return this.#parts;
    const id = `wf-canvas-${++instances}`;
    const edges = svg("g", { class: "wf-edges" });
    const nodes = svg("g", { class: "wf-nodes" });
    const overlay = svg("g", { class: "wf-overlay" });
    const viewport = svg("g", { class: "wf-viewport" }, edges, nodes, overlay);
    const help = h("p", { class: "visually-hidden", id: `${id}-help` });
    const picture = svg("svg", { class: "wf-canvas-svg", role: "group", tabindex: "-1", "aria-describedby": help.id },
      svg("defs", {}, svg("marker", { id: `${id}-arrow`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 10, markerHeight: 10, markerUnits: "userSpaceOnUse", orient: "auto" },
        svg("path", { class: "wf-arrow", d: "M0 0 L10 5 L0 10 z" }))),
      svg("rect", { class: "wf-background", width: "100%", height: "100%" }),
      viewport);
    const button = (className, label, text, action) => h("button", { type: "button", class: `quiet ${className}`, "aria-label": label, title: label, on: { click: action } }, text);
    const controls = h("div", { class: "wf-canvas-controls", role: "group", "aria-label": "View" },
      button("wf-zoom-in", "Zoom in", "+", () => this.zoomBy(1.25)),
      button("wf-zoom-out", "Zoom out", "−", () => this.zoomBy(0.8)),
      button("wf-fit", "Fit the workflow in view", "Fit", () => this.fit()));
    const minimap = svg("svg", { class: "wf-minimap", "aria-hidden": "true", focusable: "false" });
    const status = h("p", { class: "visually-hidden", role: "status" });
    this.#parts = { id, picture, viewport, edges, nodes, overlay, minimap, help, status };
    this.replaceChildren(picture, controls, minimap, help, status);

    picture.addEventListener("pointerdown", (event) => this.#pointerDown(event));
    picture.addEventListener("pointermove", (event) => this.#pointerMove(event));
    picture.addEventListener("pointerup", (event) => this.#pointerUp(event));
    picture.addEventListener("pointercancel", () => this.#endGesture());
    picture.addEventListener("keydown", (event) => this.#keyDown(event));
    picture.addEventListener("wheel", (event) => {
      event.preventDefault();
      this.#zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX, event.clientY);
    }, { passive: false });
    const centreOnMinimap = (event) => {
      const matrix = minimap.getScreenCTM();
      if (!matrix) return;
      const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse());
      this.#centreOn(point.x, point.y);
    };
    minimap.addEventListener("pointerdown", (event) => {
      minimap.setPointerCapture(event.pointerId);
      centreOnMinimap(event);
    });
    minimap.addEventListener("pointermove", (event) => { if (event.buttons === 1) centreOnMinimap(event); });
    return this.#parts;
  }

  #render() {
    const parts = this.#skeleton();
    const active = document.activeElement;
    const focused = active && parts.nodes.contains(active) ? active.dataset.nodeId : null;
    parts.picture.setAttribute("aria-label", this.#label);
    parts.help.textContent = this.#readOnly
      ? "Tab to a step; Enter shows its details."
      : "Tab to a step; Enter selects it, the arrow keys move it, Delete removes it. Connect steps from the properties of the selected step.";
    parts.picture.classList.toggle("wf-read-only", this.#readOnly);
    parts.nodes.replaceChildren(...this.#definition.nodes.map((node) => this.#nodeElement(node)));
    this.#renderEdges();
    this.#applySelection();
    this.#applyView();
    if (focused) this.#group(focused)?.focus({ preventScroll: true });
  }

  #position(node) {
    if (this.#dragged && this.#dragged.id === node.id) return this.#dragged;
    return node.position || this.#fallback[node.id] || { x: 0, y: 0 };
  }

  #portY(node, port) {
    const ports = portsOf(node);
    const index = ports.indexOf(port);
    return index < 0 ? nodeHeight(node) / 2 : (nodeHeight(node) * (index + 1)) / (ports.length + 1);
  }

  #nodeElement(node) {
    const { x, y } = this.#position(node);
    const height = nodeHeight(node);
    const ports = portsOf(node);
    const type = stepType(node.type);
    const state = this.#statuses ? (this.#statuses[node.id] || { status: "not-reached" }) : null;
    const marked = this.#marked.has(node.id);
    // The name stays "Step <id> (<type>)"; the title (its description) adds what it does and
    // its status or its problems.
    const description = [`${node.title || node.id}: ${type.label}`, state ? statusLabel(state.status) : null, marked ? "has problems" : null].filter(Boolean).join("; ");
    const classes = ["wf-node", `wf-category-${type.category.toLowerCase()}`, marked ? "wf-has-problem" : null, state ? `wf-status-${state.status}` : null];
    const labelled = ports.length > 1 || (ports.length === 1 && ports[0] !== "next");
    return svg("g", { class: classes.filter(Boolean).join(" "), "data-node-id": node.id, transform: `translate(${x} ${y})`, tabindex: "0", role: "button", "aria-label": `Step ${node.id} (${node.type})` },
      svg("title", {}, description),
      svg("rect", { class: "wf-node-box", width: NODE_WIDTH, height, rx: 8 }),
      svg("rect", { class: "wf-node-stripe", x: 1, y: 6, width: 5, height: height - 12, rx: 2 }),
      svg("text", { class: "wf-node-title", x: 16, y: 24 }, shorten(node.title || node.id, labelled ? 17 : 22)),
      svg("text", { class: "wf-node-type", x: 16, y: 42 }, shorten(`${type.label} · ${node.id}`, labelled ? 20 : 26)),
      state ? svg("text", { class: "wf-node-status", x: 16, y: 60 }, statusLabel(state.status)) : null,
      marked ? [svg("circle", { class: "wf-problem-mark", cx: 0, cy: 0, r: 9 }), svg("text", { class: "wf-problem-mark-text", x: 0, y: 4, "text-anchor": "middle" }, "!")] : null,
      svg("circle", { class: "wf-port wf-port-in", cx: 0, cy: height / 2, r: 6, "data-input-port": "", "data-node-id": node.id }),
      ports.map((port) => {
        const portY = this.#portY(node, port);
        return [
          labelled ? svg("text", { class: "wf-port-label", x: NODE_WIDTH - 12, y: portY + 4, "text-anchor": "end" }, shorten(port, 12)) : null,
          svg("circle", { class: `wf-port wf-port-out${port === "error" ? " wf-port-error" : ""}`, cx: NODE_WIDTH, cy: portY, r: 7, "data-port": port, "data-node-id": node.id },
            svg("title", {}, this.#readOnly ? `Port ${port}` : `Port ${port}: drag to a step to connect`)),
        ];
      }));
  }

  #edgePath(from, port, to) {
    const start = this.#position(from), end = this.#position(to);
    const x1 = start.x + NODE_WIDTH, y1 = start.y + this.#portY(from, port);
    const x2 = end.x - 7, y2 = end.y + nodeHeight(to) / 2;
    const bend = Math.max(40, Math.abs(x2 - x1) / 2);
    return `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`;
  }

  #renderEdges() {
    const parts = this.#parts;
    const nodes = new Map(this.#definition.nodes.map((node) => [node.id, node]));
    parts.edges.replaceChildren(...this.#definition.edges.filter((edge) => nodes.has(edge.from) && nodes.has(edge.to)).map((edge) => {
      const port = portOf(edge);
      const path = this.#edgePath(nodes.get(edge.from), port, nodes.get(edge.to));
      const source = this.#statuses && this.#statuses[edge.from];
      const taken = source && source.port === port;
      const classes = ["wf-edge", port === "error" ? "wf-edge-error" : null, taken ? "wf-edge-taken" : null];
      return svg("g", { class: classes.filter(Boolean).join(" ") },
        svg("path", { class: "wf-edge-hit", d: path, "data-edge": edgeKey(edge) }, svg("title", {}, `${edge.from} (${port}) → ${edge.to}`)),
        svg("path", { class: "wf-edge-line", d: path, "marker-end": `url(#${parts.id}-arrow)` }));
    }));
  }

  #applySelection() {
    if (!this.#parts) return;
    const selection = this.#selection;
    for (const group of this.#parts.nodes.children) group.classList.toggle("selected", Boolean(selection && selection.node === group.dataset.nodeId));
    const key = selection && selection.edge ? edgeKey(selection.edge) : null;
    for (const hit of this.#parts.edges.querySelectorAll("[data-edge]")) hit.parentNode.classList.toggle("selected", hit.dataset.edge === key);
  }

  #applyView() {
    const { x, y, k } = this.#view;
    this.#parts.viewport.setAttribute("transform", `translate(${x} ${y}) scale(${k})`);
    this.#renderMinimap();
  }

  /** The steps' extent in model coordinates, or null without steps. */
  #bounds() {
    if (this.#definition.nodes.length === 0) return null;
    let left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity;
    for (const node of this.#definition.nodes) {
      const { x, y } = this.#position(node);
      left = Math.min(left, x - 10);
      top = Math.min(top, y - 10);
      right = Math.max(right, x + NODE_WIDTH + 10);
      bottom = Math.max(bottom, y + nodeHeight(node) + 10);
    }
    return { x: left, y: top, width: right - left, height: bottom - top };
  }

  /** The part of the model the canvas shows, or null before it is laid out. */
  #visible() {
    const box = this.#parts.picture.getBoundingClientRect();
    if (!box.width || !box.height) return null;
    const { x, y, k } = this.#view;
    return { x: -x / k, y: -y / k, width: box.width / k, height: box.height / k, box };
  }

  #renderMinimap() {
    const { minimap } = this.#parts;
    const visible = this.#visible();
    const bounds = this.#bounds();
    if (!visible) return;
    const all = bounds ? {
      x: Math.min(bounds.x, visible.x), y: Math.min(bounds.y, visible.y),
      right: Math.max(bounds.x + bounds.width, visible.x + visible.width), bottom: Math.max(bounds.y + bounds.height, visible.y + visible.height),
    } : { x: visible.x, y: visible.y, right: visible.x + visible.width, bottom: visible.y + visible.height };
    minimap.setAttribute("viewBox", `${all.x - 20} ${all.y - 20} ${all.right - all.x + 40} ${all.bottom - all.y + 40}`);
    minimap.replaceChildren(
      ...this.#definition.nodes.map((node) => {
        const { x, y } = this.#position(node);
        const state = this.#statuses && (this.#statuses[node.id] || { status: "not-reached" });
        const classes = ["wf-minimap-node", this.#marked.has(node.id) ? "wf-has-problem" : null, state ? `wf-status-${state.status}` : null];
        return svg("rect", { class: classes.filter(Boolean).join(" "), x, y, width: NODE_WIDTH, height: nodeHeight(node), rx: 8 });
      }),
      svg("rect", { class: "wf-minimap-view", x: visible.x, y: visible.y, width: visible.width, height: visible.height }));
  }

  #group(id) {
    return this.#parts ? [...this.#parts.nodes.children].find((group) => group.dataset.nodeId === id) : null;
  }

  // ---- View ------------------------------------------------------------------------------------

  /** Zooms and pans so every step shows (at most at 120 %). */
  fit() {
    const visible = this.#visible();
    const bounds = this.#bounds();
    if (!visible) return;
    if (!bounds) {
      this.#view = { x: 20, y: 20, k: 1 };
    } else {
      const k = clamp(Math.min((visible.box.width - 40) / bounds.width, (visible.box.height - 40) / bounds.height), ZOOM_MIN, 1.2);
      this.#view = { k, x: (visible.box.width - bounds.width * k) / 2 - bounds.x * k, y: (visible.box.height - bounds.height * k) / 2 - bounds.y * k };
    }
    this.#applyView();
  }

  #fitOnce() {
    if (this.#fitted || !this.isConnected || this.#definition.nodes.length === 0) return;
    this.#fitted = true;
    requestAnimationFrame(() => this.fit());
  }

  /** Zooms by `factor` around the centre of the canvas. */
  zoomBy(factor) {
    const box = this.#parts.picture.getBoundingClientRect();
    this.#zoomAt(factor, box.left + box.width / 2, box.top + box.height / 2);
  }

  #zoomAt(factor, clientX, clientY) {
    const box = this.#parts.picture.getBoundingClientRect();
    const { x, y, k } = this.#view;
    const next = clamp(k * factor, ZOOM_MIN, ZOOM_MAX);
    const px = clientX - box.left, py = clientY - box.top;
    this.#view = { k: next, x: px - ((px - x) * next) / k, y: py - ((py - y) * next) / k };
    this.#applyView();
  }

  #centreOn(modelX, modelY) {
    const visible = this.#visible();
    if (!visible) return;
    const { k } = this.#view;
    this.#view = { k, x: visible.box.width / 2 - modelX * k, y: visible.box.height / 2 - modelY * k };
    this.#applyView();
  }

  /** Pans so the step `id` shows, if it does not. */
  reveal(id) {
    const node = this.#definition.nodes.find((candidate) => candidate.id === id);
    const visible = this.#visible();
    if (!node || !visible) return;
    const { x, y } = this.#position(node);
    const inside = x >= visible.x && y >= visible.y && x + NODE_WIDTH <= visible.x + visible.width && y + nodeHeight(node) <= visible.y + visible.height;
    if (!inside) this.#centreOn(x + NODE_WIDTH / 2, y + nodeHeight(node) / 2);
  }

  /** Shows the step `id` and moves keyboard focus to it. */
  focusNode(id) {
    this.reveal(id);
    this.#group(id)?.focus({ preventScroll: true });
  }

  /** The model point at the centre of the view (where a new step goes). */
  visibleCenter() {
    const visible = this.#visible();
    if (!visible) return { x: 40, y: 40 };
    return { x: visible.x + visible.width / 2 - NODE_WIDTH / 2, y: visible.y + visible.height / 2 - 34 };
  }

  /** The model point under a pointer at (clientX, clientY), or null outside the canvas. */
  modelPoint(clientX, clientY) {
    const visible = this.#visible();
    if (!visible) return null;
    const { box } = visible;
    if (clientX < box.left || clientX > box.right || clientY < box.top || clientY > box.bottom) return null;
    const { x, y, k } = this.#view;
    return { x: (clientX - box.left - x) / k, y: (clientY - box.top - y) / k };
  }

  /** Shows where a step dragged from the palette would land; returns that point or null. */
  preview(type, clientX, clientY) {
    const point = this.modelPoint(clientX, clientY);
    const overlay = this.#parts.overlay;
    if (!point) {
      overlay.replaceChildren();
      return null;
    }
    const at = { x: Math.round(point.x - NODE_WIDTH / 2), y: Math.round(point.y - 34) };
    overlay.replaceChildren(svg("g", { class: "wf-ghost", transform: `translate(${at.x} ${at.y})` },
      svg("rect", { width: NODE_WIDTH, height: 68, rx: 8 }),
      svg("text", { x: 16, y: 38 }, stepType(type).label)));
    return at;
  }

  /** Removes the palette drag's preview. */
  endPreview() {
    this.#parts?.overlay.replaceChildren();
  }

  /** Says `text` to screen readers (a polite status). */
  announce(text) {
    this.#parts.status.textContent = text;
  }

  // ---- Changes -----------------------------------------------------------------------------------

  #change(mutate, message) {
    const next = structuredClone(this.#definition);
    mutate(next);
    this.dispatchEvent(new CustomEvent("definition-change", { detail: { definition: next } }));
    if (message) this.announce(message);
  }

  #select(selection) {
    this.#selection = selection;
    this.#applySelection();
    this.dispatchEvent(new CustomEvent("selection-change", { detail: { selection } }));
  }

  #move(id, position) {
    this.#change((definition) => {
      const node = definition.nodes.find((candidate) => candidate.id === id);
      if (node) node.position = { x: Math.round(position.x), y: Math.round(position.y) };
    });
  }

  #connect(from, port, to) {
    if (from === to) return this.announce("A step cannot lead to itself.");
    const edge = port === "next" ? { from, to } : { from, port, to };
    if (this.#definition.edges.some((existing) => edgeKey(existing) === edgeKey(edge))) return this.announce(`${from} (${port}) already leads to ${to}.`);
    this.#change((definition) => definition.edges.push(edge), `Connected ${from} (${port}) to ${to}.`);
  }

  #remove(selection) {
    if (selection.node) {
      const id = selection.node;
      this.#change((definition) => {
        definition.nodes = definition.nodes.filter((node) => node.id !== id);
        definition.edges = definition.edges.filter((edge) => edge.from !== id && edge.to !== id);
      }, `Removed step ${id}.`);
    } else if (selection.edge) {
      const key = edgeKey(selection.edge);
      this.#change((definition) => {
        const index = definition.edges.findIndex((edge) => edgeKey(edge) === key);
        if (index >= 0) definition.edges.splice(index, 1);
      }, `Removed the connection ${selection.edge.from} → ${selection.edge.to}.`);
    }
    const wasSelected = selection.node ? this.#selection?.node === selection.node : Boolean(this.#selection?.edge);
    if (wasSelected) this.#select(null);
    this.#parts.picture.focus({ preventScroll: true });
  }

  // ---- Pointer and keyboard -------------------------------------------------------------------------

  #pointerDown(event) {
    if (event.button !== 0) return;
    const port = event.target.closest("[data-port]");
    const group = event.target.closest(".wf-node");
    const hit = event.target.closest("[data-edge]");
    const start = { x: event.clientX, y: event.clientY };
    if (port && !this.#readOnly) {
      this.#gesture = { kind: "connect", from: port.dataset.nodeId, port: port.dataset.port, start };
    } else if (group) {
      const node = this.#definition.nodes.find((candidate) => candidate.id === group.dataset.nodeId);
      this.#gesture = { kind: "move", id: node.id, origin: this.#position(node), start, moved: false };
      group.focus({ preventScroll: true });
    } else if (hit) {
      const [from, edgePort, to] = hit.dataset.edge.split(":");
      this.#select({ edge: edgePort === "next" ? { from, to } : { from, port: edgePort, to } });
      this.#parts.picture.focus({ preventScroll: true });
      return;
    } else {
      this.#gesture = { kind: "pan", origin: { ...this.#view }, start, moved: false };
      this.#parts.picture.focus({ preventScroll: true });
    }
    event.preventDefault();
    this.#parts.picture.setPointerCapture(event.pointerId);
  }

  #pointerMove(event) {
    const gesture = this.#gesture;
    if (!gesture) return;
    const dx = event.clientX - gesture.start.x, dy = event.clientY - gesture.start.y;
    if (Math.hypot(dx, dy) > DRAG_THRESHOLD) gesture.moved = true;
    if (gesture.kind === "pan" && gesture.moved) {
      this.#view = { ...gesture.origin, x: gesture.origin.x + dx, y: gesture.origin.y + dy };
      this.#applyView();
    } else if (gesture.kind === "move" && gesture.moved && !this.#readOnly) {
      const { k } = this.#view;
      this.#dragged = { id: gesture.id, x: gesture.origin.x + dx / k, y: gesture.origin.y + dy / k };
      this.#group(gesture.id)?.setAttribute("transform", `translate(${this.#dragged.x} ${this.#dragged.y})`);
      this.#renderEdges();
      this.#applySelection();
    } else if (gesture.kind === "connect") {
      const from = this.#definition.nodes.find((node) => node.id === gesture.from);
      const point = this.modelPoint(event.clientX, event.clientY);
      if (!from || !point) return;
      const start = this.#position(from);
      const x1 = start.x + NODE_WIDTH, y1 = start.y + this.#portY(from, gesture.port);
      const target = this.#nodeAt(event.clientX, event.clientY);
      for (const group of this.#parts.nodes.children) group.classList.toggle("wf-drop-target", group.dataset.nodeId === target && target !== gesture.from);
      this.#parts.overlay.replaceChildren(svg("path", { class: "wf-connecting", d: `M ${x1} ${y1} L ${point.x} ${point.y}` }));
    }
  }

  #pointerUp(event) {
    const gesture = this.#gesture;
    if (!gesture) return;
    this.#endGesture();
    if (gesture.kind === "connect") {
      const target = this.#nodeAt(event.clientX, event.clientY);
      if (target) this.#connect(gesture.from, gesture.port, target);
    } else if (gesture.kind === "move") {
      if (gesture.moved && !this.#readOnly) {
        const { k } = this.#view;
        this.#move(gesture.id, { x: gesture.origin.x + (event.clientX - gesture.start.x) / k, y: gesture.origin.y + (event.clientY - gesture.start.y) / k });
      } else {
        this.#select({ node: gesture.id });
      }
    } else if (gesture.kind === "pan" && !gesture.moved) {
      this.#select(null);
    }
  }

  #endGesture() {
    this.#gesture = null;
    this.#dragged = null;
    this.#parts.overlay.replaceChildren();
    for (const group of this.#parts.nodes.querySelectorAll(".wf-drop-target")) group.classList.remove("wf-drop-target");
  }

  /** The id of the step under a pointer, or null. */
  #nodeAt(clientX, clientY) {
    const element = document.elementFromPoint(clientX, clientY);
    const group = element && this.#parts.nodes.contains(element) ? element.closest("[data-node-id]") : null;
    return group ? group.dataset.nodeId : null;
  }

  #keyDown(event) {
    const group = event.target.closest && event.target.closest(".wf-node");
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const remove = event.key === "Delete" || event.key === "Backspace";
    if (group) {
      const id = group.dataset.nodeId;
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        this.#select({ node: id });
      } else if (arrows[event.key] && !this.#readOnly) {
        event.preventDefault();
        const node = this.#definition.nodes.find((candidate) => candidate.id === id);
        const { x, y } = this.#position(node);
        const [dx, dy] = arrows[event.key];
        this.#move(id, { x: x + dx * MOVE_STEP, y: y + dy * MOVE_STEP });
      } else if (remove && !this.#readOnly) {
        event.preventDefault();
        this.#remove({ node: id });
      }
    } else if (remove && this.#selection && !this.#readOnly) {
      event.preventDefault();
      this.#remove(this.#selection);
    }
    if (event.key === "Escape" && this.#selection) this.#select(null);
  }
}

customElements.define("workflow-canvas", WorkflowCanvas);
