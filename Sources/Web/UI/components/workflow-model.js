// What the workflow designer and the run view know about a definition without asking the
// server: the step types, each step's ports, the size of a step on the canvas, the layout,
// the config schemas of the published JSON Schema (with its $refs resolved), and the checks
// the designer runs on every change (the server checks again, and more, when saving).

/** The step types by category, in the palette's order. */
export const STEP_TYPES = [
  { type: "tool", category: "Actions", label: "Tool", description: "Runs a catalog tool" },
  { type: "http", category: "Actions", label: "HTTP request", description: "Sends a request and reads the answer" },
  { type: "sub-workflow", category: "Actions", label: "Sub-workflow", description: "Runs another workflow and waits for it" },
  { type: "condition", category: "Flow", label: "Condition", description: "Goes on by true or false" },
  { type: "switch", category: "Flow", label: "Switch", description: "Goes on by the first case that holds" },
  { type: "join", category: "Flow", label: "Join", description: "Waits for the branches leading to it" },
  { type: "for-each", category: "Flow", label: "For each", description: "Runs a workflow per item of a list" },
  { type: "while", category: "Flow", label: "While", description: "Runs a workflow again while a condition holds" },
  { type: "approval", category: "Waits", label: "Approval", description: "Waits for people to decide" },
  { type: "wait", category: "Waits", label: "Wait", description: "Waits for a duration or until a time" },
  { type: "wait-event", category: "Waits", label: "Wait for an event", description: "Waits for a matching event" },
  { type: "set", category: "Other", label: "Set variables", description: "Sets vars" },
  { type: "notify", category: "Other", label: "Notify", description: "Tells people in the portal" },
  { type: "fail", category: "Other", label: "Fail", description: "Ends the run as failed" },
  { type: "stop", category: "Other", label: "Stop", description: "Ends the run as succeeded" },
];

export const CATEGORIES = ["Actions", "Flow", "Waits", "Other"];

/** The palette entry of a type (an unknown type reads as itself). */
export function stepType(type) {
  return STEP_TYPES.find((entry) => entry.type === type) || { type, category: "Other", label: type, description: "" };
}

const ID_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
const NAME_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;
const PORT_PATTERN = /^[a-z0-9_-]{1,40}$/;

/** Whether `id` is a valid step id (lower-case letters, digits and `_`, from a letter). */
export const isStepID = (id) => typeof id === "string" && ID_PATTERN.test(id);
/** Whether `name` is a valid workflow name (lower-case letters, digits and `-`, from a letter). */
export const isWorkflowName = (name) => typeof name === "string" && NAME_PATTERN.test(name);

/** An edge's port, `next` when it names none. */
export const portOf = (edge) => edge.port || "next";
/** An edge as one string: `from:port:to` (the canvas's `data-edge`). */
export const edgeKey = (edge) => `${edge.from}:${portOf(edge)}:${edge.to}`;

/**
 * The ports a step leaves by: `next` for most types; `true`/`false` for a condition; each
 * case name and `default` for a switch; none for fail and stop; `error` added when its
 * failure action is `handler`.
 */
export function portsOf(node) {
  let ports;
  if (node.type === "condition") ports = ["true", "false"];
  else if (node.type === "switch") {
    const cases = Array.isArray(node.config?.cases) ? node.config.cases : [];
    const names = cases.map((item) => item && item.name).filter((name) => typeof name === "string" && PORT_PATTERN.test(name) && name !== "default");
    ports = [...new Set(names), "default"];
  } else if (node.type === "fail" || node.type === "stop") ports = [];
  else ports = ["next"];
  if (node.onFailure === "handler") ports.push("error");
  return ports;
}

/** A step's box on the canvas: a fixed width, tall enough for its ports. */
export const NODE_WIDTH = 190;
export function nodeHeight(node) {
  return Math.max(68, 16 + portsOf(node).length * 22);
}

/** A step id not used yet, from `base` ("tool" → "tool_1", "check" → "check_2"). */
export function uniqueID(definition, base) {
  const stem = String(base).toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^[^a-z]+/, "").replace(/_\d+$/, "").slice(0, 56) || "step";
  const used = new Set(definition.nodes.map((node) => node.id));
  for (let number = 1; ; number += 1) {
    const id = `${stem}_${number}`;
    if (!used.has(id)) return id;
  }
}

/** The settings a new step of `type` starts with. */
export function defaultConfig(type) {
  if (type === "join") return { mode: "all" };
  if (type === "wait") return { seconds: 60 };
  return {};
}

/** An empty workflow, as the designer starts a new one. */
export function emptyDefinition() {
  return { schemaVersion: 1, name: "", title: "", description: "", inputs: { type: "object", properties: {} }, variables: {}, outputs: {}, nodes: [], edges: [], triggers: [] };
}

/** A definition with every collection present (imported files and old versions may lack some). */
export function normalized(definition) {
  const copy = structuredClone(definition);
  copy.title ??= copy.name || "";
  copy.description ??= "";
  copy.inputs ??= { type: "object", properties: {} };
  copy.variables ??= {};
  copy.outputs ??= {};
  copy.nodes = Array.isArray(copy.nodes) ? copy.nodes : [];
  copy.edges = Array.isArray(copy.edges) ? copy.edges : [];
  copy.triggers ??= [];
  for (const node of copy.nodes) node.config ??= {};
  return copy;
}

// ---- Graph -----------------------------------------------------------------------------------

/** The edges between existing steps, leaving by a port their step has, not to themselves. */
function usableEdges(definition) {
  const nodes = new Map(definition.nodes.map((node) => [node.id, node]));
  return definition.edges.filter((edge) => nodes.has(edge.from) && nodes.has(edge.to) && edge.from !== edge.to && portsOf(nodes.get(edge.from)).includes(portOf(edge)));
}

/** Kahn's algorithm: the steps in an order where each comes after those leading to it, and
 *  the steps left over (in or behind a cycle). */
function topologicalOrder(definition, edges) {
  const indegree = new Map(definition.nodes.map((node) => [node.id, 0]));
  for (const edge of edges) indegree.set(edge.to, indegree.get(edge.to) + 1);
  const ready = definition.nodes.map((node) => node.id).filter((id) => indegree.get(id) === 0);
  const order = [];
  while (ready.length) {
    const id = ready.shift();
    order.push(id);
    for (const edge of edges) {
      if (edge.from !== id) continue;
      indegree.set(edge.to, indegree.get(edge.to) - 1);
      if (indegree.get(edge.to) === 0) ready.push(edge.to);
    }
  }
  return { order, cyclic: definition.nodes.map((node) => node.id).filter((id) => indegree.get(id) > 0) };
}

/**
 * Positions for every step, left to right: a step's column is the longest path to it from a
 * first step; within a column steps follow the average row of the steps leading to them.
 * Steps in a cycle go in the columns after the others.
 */
export function autoLayout(definition) {
  const edges = usableEdges(definition);
  const { order, cyclic } = topologicalOrder(definition, edges);
  const column = new Map();
  for (const id of order) {
    const before = edges.filter((edge) => edge.to === id).map((edge) => column.get(edge.from) + 1);
    column.set(id, Math.max(0, ...before));
  }
  const last = Math.max(-1, ...column.values());
  cyclic.forEach((id, index) => column.set(id, last + 1 + index));

  const byID = new Map(definition.nodes.map((node) => [node.id, node]));
  const columns = [];
  for (const node of definition.nodes) (columns[column.get(node.id)] ||= []).push(node.id);
  const row = new Map();
  const heights = [];
  columns.forEach((ids = [], index) => {
    const weight = (id) => {
      const sources = edges.filter((edge) => edge.to === id && row.has(edge.from)).map((edge) => row.get(edge.from));
      return sources.length ? sources.reduce((sum, value) => sum + value, 0) / sources.length : (byID.get(id).position?.y ?? 0) / 1000;
    };
    ids.sort((a, b) => weight(a) - weight(b));
    ids.forEach((id, place) => row.set(id, place));
    heights[index] = ids.reduce((sum, id) => sum + nodeHeight(byID.get(id)) + 40, -40);
  });
  const tallest = Math.max(0, ...heights.filter((height) => height !== undefined));
  const positions = {};
  columns.forEach((ids = [], index) => {
    let y = 40 + (tallest - heights[index]) / 2;
    for (const id of ids) {
      positions[id] = { x: 40 + index * 260, y: Math.round(y) };
      y += nodeHeight(byID.get(id)) + 40;
    }
  });
  return positions;
}

/** A place for a new step near `near` ({x, y}) that overlaps no step. */
export function freeSpot(definition, near = { x: 40, y: 40 }) {
  const overlaps = (x, y) => definition.nodes.some((node) => {
    const position = node.position || { x: 0, y: 0 };
    return x < position.x + NODE_WIDTH + 30 && x + NODE_WIDTH + 30 > position.x && y < position.y + nodeHeight(node) + 30 && y + 98 > position.y;
  });
  const start = { x: Math.max(0, Math.round(near.x / 20) * 20), y: Math.max(0, Math.round(near.y / 20) * 20) };
  for (let ring = 0; ring < 40; ring += 1) {
    for (let dx = -ring; dx <= ring; dx += 1) {
      for (let dy = -ring; dy <= ring; dy += 1) {
        if (Math.max(Math.abs(dx), Math.abs(dy)) !== ring) continue;
        const x = start.x + dx * 120, y = start.y + dy * 60;
        if (x >= 0 && y >= 0 && !overlaps(x, y)) return { x, y };
      }
    }
  }
  return { x: start.x, y: start.y + 120 };
}

// ---- The published schema ------------------------------------------------------------------------

/** Each schema's resolved config schemas, by step type. */
const resolved = new WeakMap();

/**
 * A step type's config schema from the published definition schema, ready for
 * `<schema-form>`: each `$ref` (`#/$defs/expression`, `#/$defs/workflowName`, …) replaced by
 * `{type: "string"}` (or the type it names) with the referring property's own title and
 * description kept. Also returns where the expressions are (`expression`, `cases.*.expression`)
 * and which properties name a workflow. An unknown type gets an empty object schema.
 */
export function configSchema(schema, type) {
  if (!schema || typeof schema !== "object") return resolveConfig(schema, type);
  if (!resolved.has(schema)) resolved.set(schema, new Map());
  const known = resolved.get(schema);
  if (!known.has(type)) known.set(type, resolveConfig(schema, type));
  const { schema: settings, expressions, workflowFields } = known.get(type);
  return { schema: structuredClone(settings), expressions, workflowFields };
}

function resolveConfig(schema, type) {
  const raw = schema?.$defs?.config?.[type] || { type: "object", properties: {} };
  const expressions = new Set();
  const workflowFields = new Set();
  const resolve = (value, path) => {
    if (Array.isArray(value)) return value.map((item) => resolve(item, path));
    if (!value || typeof value !== "object") return value;
    if (typeof value.$ref === "string") {
      const target = value.$ref.replace(/^#\/\$defs\//, "");
      if (target === "expression") expressions.add(path);
      if (target === "workflowName") workflowFields.add(path);
      const own = { ...value };
      delete own.$ref;
      const referenced = schema?.$defs?.[target];
      return { type: typeof referenced?.type === "string" ? referenced.type : "string", ...resolve(own, path) };
    }
    const copy = {};
    for (const [key, item] of Object.entries(value)) {
      if (key === "properties") copy.properties = Object.fromEntries(Object.entries(item).map(([name, property]) => [name, resolve(property, path ? `${path}.${name}` : name)]));
      else if (key === "items") copy.items = resolve(item, `${path}.*`);
      else copy[key] = resolve(item, path);
    }
    return copy;
  };
  return { schema: resolve(raw, ""), expressions, workflowFields };
}

// ---- Expressions --------------------------------------------------------------------------------

const STEP_REFERENCE = /\bsteps\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*['"]([^'"]+)['"]\s*\])/g;

/** The step ids an expression reads (`steps.check…`, `steps['check']…`). */
function referencedSteps(source) {
  return [...String(source).matchAll(STEP_REFERENCE)].map((match) => match[1] || match[2]);
}

/** The `{{ … }}` parts of every string in a template value. */
function templateExpressions(value) {
  if (typeof value === "string") return [...value.matchAll(/\{\{([\s\S]*?)\}\}/g)].map((match) => match[1]);
  if (Array.isArray(value)) return value.flatMap(templateExpressions);
  if (value && typeof value === "object") return Object.values(value).flatMap(templateExpressions);
  return [];
}

/** Every expression of a step's config: whole strings where the schema says expression,
 *  `{{ … }}` parts elsewhere; each with the config field it is in. */
function configExpressions(config, expressionPaths) {
  const found = [];
  const walk = (value, path, field) => {
    if (typeof value === "string") {
      if (expressionPaths.has(path)) found.push({ field, source: value });
      else for (const source of templateExpressions(value)) found.push({ field, source });
    } else if (Array.isArray(value)) value.forEach((item, index) => walk(item, `${path}.*`, `${field}[${index}]`));
    else if (value && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) walk(item, path ? `${path}.${key}` : key, field ? `${field}.${key}` : key);
    }
  };
  walk(config || {}, "", "");
  return found;
}

// ---- Checks -------------------------------------------------------------------------------------

const isEmpty = (value) => value === undefined || value === null || value === "";

/**
 * The problems the designer shows while people edit, each `{node, field, message}` with
 * `node` null for the workflow's own fields and `field` as the server names it
 * (`config.expression`, `retry.attempts`, `title`): the workflow's name and title; step ids;
 * edges that lead nowhere or leave by a port their step lacks; no first step or more than
 * one; cycles; steps no path reaches; required settings left empty; expressions that read
 * steps that do not exist or do not run before the step; outputs that read unknown steps.
 */
export function validate(definition, schema) {
  const problems = [];
  const add = (node, field, message) => problems.push({ node, field, message });
  if (!isWorkflowName(definition.name)) add(null, "name", "must be 1 to 64 lower-case letters, digits and '-', starting with a letter");
  if (!definition.title || !definition.title.trim()) add(null, "title", "is required");
  if (definition.nodes.length === 0) add(null, "nodes", "add a step: drag one from the palette, or press its button");

  const seen = new Set();
  for (const node of definition.nodes) {
    if (!isStepID(node.id)) add(node.id, "id", "a step id is lower-case letters, digits and '_', starting with a letter");
    else if (seen.has(node.id)) add(node.id, "id", "is used by two steps");
    seen.add(node.id);
    checkCommon(node, add);
    checkConfig(node, schema, add);
  }

  const byID = new Map(definition.nodes.map((node) => [node.id, node]));
  definition.edges.forEach((edge, index) => {
    if (!byID.has(edge.from)) add(null, `edges[${index}].from`, `there is no step '${edge.from}'`);
    else if (!byID.has(edge.to)) add(edge.from, `edges[${index}].to`, `there is no step '${edge.to}'`);
    else if (edge.from === edge.to) add(edge.from, `edges[${index}]`, "a step cannot lead to itself (use a while step to repeat)");
    else if (!portsOf(byID.get(edge.from)).includes(portOf(edge))) add(edge.from, `edges[${index}].port`, `has no port '${portOf(edge)}'`);
  });

  const edges = usableEdges(definition);
  const targets = new Set(edges.map((edge) => edge.to));
  const entries = definition.nodes.filter((node) => !targets.has(node.id));
  if (definition.nodes.length > 0 && entries.length === 0) add(null, "edges", "every step has an edge leading to it: there is no first step");
  if (entries.length > 1) for (const node of entries) add(node.id, null, `nothing leads to it: a workflow has one first step, and ${entries.length} steps have no edge leading to them`);

  const { order, cyclic } = topologicalOrder(definition, edges);
  if (cyclic.length) for (const id of cyclic) add(id, "edges", `is in or behind a cycle (${cyclic.join(", ")}): use a while or for-each step to repeat work`);
  if (entries.length === 1 && cyclic.length === 0) {
    const reachable = new Set([entries[0].id]);
    for (const id of order) if (reachable.has(id)) for (const edge of edges) if (edge.from === id) reachable.add(edge.to);
    for (const node of definition.nodes) if (!reachable.has(node.id)) add(node.id, null, "no path from the first step reaches it");
  }

  const ancestors = new Map();
  for (const id of order) {
    const mine = new Set();
    for (const edge of edges) if (edge.to === id) { mine.add(edge.from); for (const before of ancestors.get(edge.from) || []) mine.add(before); }
    ancestors.set(id, mine);
  }
  for (const node of definition.nodes) {
    const { expressions } = configSchema(schema, node.type);
    for (const { field, source } of configExpressions(node.config, expressions)) {
      for (const step of new Set(referencedSteps(source))) {
        if (!byID.has(step)) add(node.id, `config.${field}`, `"${source.trim().slice(0, 60)}" reads step '${step}', which does not exist`);
        else if (cyclic.length === 0 && !(ancestors.get(node.id) || new Set()).has(step)) add(node.id, `config.${field}`, `"${source.trim().slice(0, 60)}" reads step '${step}', which does not run before this one`);
      }
    }
  }
  for (const [key, value] of Object.entries(definition.outputs || {})) {
    for (const source of templateExpressions(value)) {
      for (const step of referencedSteps(source)) if (!byID.has(step)) add(null, `outputs.${key}`, `reads step '${step}', which does not exist`);
    }
  }
  return problems;
}

/** The limits every step has: time-out, retries. */
function checkCommon(node, add) {
  const between = (value, low, high) => typeof value === "number" && value >= low && value <= high;
  if (node.timeoutSeconds !== undefined && !(Number.isInteger(node.timeoutSeconds) && between(node.timeoutSeconds, 1, 2592000))) add(node.id, "timeoutSeconds", "must be a whole number of seconds from 1 to 2592000 (30 days)");
  if (node.retry) {
    if (!(Number.isInteger(node.retry.attempts) && between(node.retry.attempts, 1, 10))) add(node.id, "retry.attempts", "must be from 1 to 10");
    if (!between(node.retry.backoffSeconds, 0, 3600)) add(node.id, "retry.backoffSeconds", "must be from 0 to 3600");
    if (node.retry.multiplier !== undefined && !between(node.retry.multiplier, 1, 10)) add(node.id, "retry.multiplier", "must be from 1 to 10");
  }
}

/** A step's settings: the schema's required fields, and the rules it cannot say. */
function checkConfig(node, schema, add) {
  const config = node.config || {};
  const { schema: settings } = configSchema(schema, node.type);
  for (const name of settings.required || []) {
    const value = config[name];
    if (isEmpty(value) || (Array.isArray(value) && value.length === 0) || (typeof value === "object" && value && Object.keys(value).length === 0)) add(node.id, `config.${name}`, "is required");
  }
  if (node.type === "switch" && Array.isArray(config.cases)) {
    const names = new Set();
    config.cases.forEach((item, index) => {
      const name = item && item.name;
      if (typeof name !== "string" || !PORT_PATTERN.test(name) || name === "default") add(node.id, `config.cases[${index}].name`, "must be lower-case letters, digits, '_' and '-' (and not 'default')");
      else if (names.has(name)) add(node.id, `config.cases[${index}].name`, `'${name}' is used twice`);
      names.add(name);
      if (!item || isEmpty(item.expression)) add(node.id, `config.cases[${index}].expression`, "is required");
    });
  }
  if (node.type === "join" && config.mode === "count" && isEmpty(config.count)) add(node.id, "config.count", "is required when it goes on after a count");
  if (node.type === "wait" && isEmpty(config.seconds) === isEmpty(config.until)) add(node.id, "config.seconds", "give either seconds or until");
  if (node.type === "approval" && config.mode === "all-of" && !(Array.isArray(config.approvers) && config.approvers.length)) add(node.id, "config.approvers", "all-of needs the approvers named");
}

/**
 * A server's field errors (`nodes.check.config.expression`, `title`, `definition`) as the
 * designer's problems: `{node, field, message}`.
 */
export function serverProblems(errors) {
  return (errors || []).map((error) => {
    const field = String(error.field || "");
    const match = /^nodes\.([a-z][a-z0-9_]*)(?:\.(.+))?$/.exec(field);
    if (match) return { node: match[1], field: match[2] || null, message: error.message };
    return { node: null, field: field === "definition" ? null : field || null, message: error.message };
  });
}
