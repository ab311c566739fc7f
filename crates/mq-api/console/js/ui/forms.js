// Form fields built from a spec (shared by formDialog and the filter bars) and reading their values.

import { h, nextId } from "./dom.js";
import { hms, ymd } from "./format.js";

/** Builds one labelled control from a field spec; → { spec, wrap, input }. */
export function field(spec) {
  const id = nextId(`f-${spec.name}`);
  const helpId = spec.help ? `${id}-help` : null;
  const common = {
    id,
    name: spec.name,
    required: spec.required || false,
    disabled: spec.disabled || false,
    placeholder: spec.placeholder,
    "aria-describedby": helpId,
  };
  const input = control(spec, common);
  const label = h("label", { for: id, text: spec.label });
  const help = spec.help ? h("div", { id: helpId, class: "field-help", text: spec.help }) : null;
  const wrap =
    spec.type === "checkbox"
      ? h("div", { class: "field field-check" }, input, label, help)
      : h("div", { class: "field" }, label, input, help);
  return { spec, wrap, input };
}

function control(spec, common) {
  switch (spec.type) {
    case "textarea":
      return h("textarea", { ...common, rows: spec.rows || 5, spellcheck: "false", value: spec.value ?? "" });
    case "select":
      return h(
        "select",
        { ...common, value: spec.value ?? "" },
        (spec.options || []).map((o) => h("option", { value: String(o.value), text: o.label ?? o.value })),
      );
    case "checkbox":
      return h("input", { ...common, type: "checkbox", checked: Boolean(spec.value) });
    case "number":
      return h("input", {
        ...common,
        type: "number",
        min: spec.min,
        max: spec.max,
        step: spec.step ?? "any",
        value: spec.value ?? "",
      });
    case "datetime-local":
      return h("input", { ...common, type: "datetime-local", step: 1, value: toLocalInput(spec.value) });
    default:
      return h("input", { ...common, type: spec.type || "text", value: spec.value ?? "", autocomplete: "off" });
  }
}

/** A select field spec from a `{value: label}` map (in display order), plus other spec keys. */
export function choiceField(name, label, value, choices, extra = {}) {
  const options = Object.entries(choices).map(([v, text]) => ({ value: v, label: text }));
  return { name, label, type: "select", value, options, ...extra };
}

/** Values of built controls: text → trimmed string; number → number or null when empty;
 *  checkbox → boolean; datetime-local → ISO 8601 UTC string or "" when empty; others → string. */
export function readControls(controls) {
  const values = {};
  for (const { spec, input } of controls) values[spec.name] = readControl(spec, input);
  return values;
}

function readControl(spec, input) {
  switch (spec.type) {
    case "checkbox":
      return input.checked;
    case "number":
      return input.value === "" ? null : Number(input.value);
    case "datetime-local":
      return input.value ? new Date(input.value).toISOString() : "";
    case "textarea":
    case "select":
      return input.value;
    default:
      return input.value.trim();
  }
}

/** An ISO string or epoch ms → the local "YYYY-MM-DDTHH:MM:SS" a datetime-local input wants. */
function toLocalInput(value) {
  if (value === undefined || value === null || value === "") return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return "";
  return `${ymd(d)}T${hms(d)}`;
}

/** A `<form class="filters">` of labelled inputs with "Apply" and "Reset" (which clears them).
 *  Calls `onApply(values)` (same value rules as formDialog). The form also has `.values()`. */
export function filters(fields, onApply) {
  const controls = fields.map(field);
  const form = h(
    "form",
    { class: "filters", role: "search" },
    controls.map((c) => c.wrap),
    h(
      "div",
      { class: "filters-actions" },
      h("button", { type: "submit", class: "btn btn-primary", text: "Apply" }),
      h("button", { type: "button", class: "btn btn-secondary", text: "Reset", onClick: reset }),
    ),
  );
  function reset() {
    for (const { spec, input } of controls) {
      if (spec.type === "checkbox") input.checked = false;
      else if (spec.type === "select") input.value = spec.options?.[0] ? String(spec.options[0].value) : "";
      else input.value = "";
    }
    onApply(readControls(controls));
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onApply(readControls(controls));
  });
  form.values = () => readControls(controls);
  return form;
}
