// <schema-form>: the fields of a JSON Schema object, and the values typed into them.
import { h } from "../lib/dom.js";

/**
 * `<schema-form>` guarantees: one labelled control per property of `schema` (light DOM), in the
 * schema's order. Each control has id `<idPrefix>-<name>`, `data-field=<name>`,
 * `data-type=<type>`, a `<label for>` (the property's `title`, else its name; required ones
 * marked and `required`), the `description` as a hint tied by `aria-describedby`, and an error
 * slot `<span class="error" id="<idPrefix>-error-<name>" data-error-for="<name>">` (also in
 * `aria-describedby`), where `submitForm()` puts the server's field errors. `enum` → select,
 * boolean → checkbox, integer/number → number input (min/max), `format: "uri"` → url input,
 * object/array → a JSON textarea, anything else → text input (maxLength). `default` fills the
 * control. The server validates again: put the element in a `<form novalidate>` so its field
 * errors (not the browser's) are shown. Controls have no `name`: read them with values(), not
 * formValues().
 *
 * Properties: schema, idPrefix (default "field"). Method: values() → the input object.
 */
class SchemaForm extends HTMLElement {
  #schema = null;
  #idPrefix = "field";

  connectedCallback() {
    for (const name of ["schema", "idPrefix"]) {
      if (Object.prototype.hasOwnProperty.call(this, name)) {
        const value = this[name];
        delete this[name];
        this[name] = value;
      }
    }
  }

  get schema() { return this.#schema; }
  set schema(value) { this.#schema = value || { type: "object", properties: {} }; this.#render(); }
  get idPrefix() { return this.#idPrefix; }
  set idPrefix(value) { this.#idPrefix = value || "field"; if (this.#schema) this.#render(); }

  /**
   * The input object: numbers as numbers, checkboxes as booleans, enum choices as the schema's
   * own values (so an integer enum stays a number), JSON fields parsed (left as text when they
   * do not parse, for the server to report). Empty fields are left out, so a missing required
   * field is reported by the server next to its control.
   */
  values() {
    const input = {};
    for (const control of this.querySelectorAll("[data-field]")) {
      const name = control.dataset.field;
      const type = control.dataset.type;
      const property = ((this.#schema && this.#schema.properties) || {})[name] || {};
      if (control.type === "checkbox") input[name] = control.checked;
      else if (control.value === "") continue;
      else if (Array.isArray(property.enum)) input[name] = property.enum.find((choice) => String(choice) === control.value);
      else if (type === "integer" || type === "number") input[name] = Number(control.value);
      else if (type === "object" || type === "array") {
        try { input[name] = JSON.parse(control.value); } catch { input[name] = control.value; }
      } else input[name] = control.value;
    }
    return input;
  }

  #render() {
    const schema = this.#schema;
    const required = new Set(schema.required || []);
    this.replaceChildren(...Object.entries(schema.properties || {}).map(([name, property]) => this.#field(name, property || {}, required.has(name))));
  }

  #field(name, property, required) {
    const id = `${this.#idPrefix}-${name}`;
    const type = (Array.isArray(property.type) ? property.type.find((one) => one !== "null") : property.type) || "string";
    let control;
    if (Array.isArray(property.enum)) {
      control = h("select", {}, !required || property.default === undefined ? h("option", { value: "" }, "") : null,
        property.enum.map((choice) => h("option", { value: String(choice), selected: choice === property.default }, String(choice))));
    } else if (type === "boolean") {
      control = h("input", { type: "checkbox", props: { checked: property.default === true } });
    } else if (type === "integer" || type === "number") {
      control = h("input", { type: "number", step: type === "integer" ? "1" : "any", min: property.minimum, max: property.maximum, inputmode: type === "integer" ? "numeric" : "decimal" });
    } else if (type === "object" || type === "array") {
      control = h("textarea", { rows: 4, spellcheck: "false" });
      if (property.default !== undefined) control.value = JSON.stringify(property.default, null, 2);
    } else {
      control = h("input", { type: property.format === "uri" ? "url" : "text", maxlength: property.maxLength });
    }
    if (property.default !== undefined && control.tagName === "INPUT" && control.type !== "checkbox") control.value = String(property.default);
    control.id = id;
    control.dataset.field = name;
    control.dataset.type = type;
    // A required checkbox would force the box ticked; false is a valid answer.
    if (required && type !== "boolean") control.required = true;

    const hint = property.description ? h("span", { class: "field-hint", id: `${id}-hint` }, property.description) : null;
    const error = h("span", { class: "error", id: `${this.#idPrefix}-error-${name}`, "data-error-for": name });
    control.setAttribute("aria-describedby", [hint && hint.id, error.id].filter(Boolean).join(" "));
    const label = h("label", { for: id }, property.title || name, required && type !== "boolean" ? h("span", { class: "required-mark", "aria-hidden": "true" }, " *") : null);
    const checkbox = type === "boolean";
    return h("div", { class: checkbox ? "field checkbox" : "field" },
      checkbox ? [control, label] : [label, control], hint, error);
  }
}

customElements.define("schema-form", SchemaForm);
