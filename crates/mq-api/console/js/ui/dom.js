// DOM helpers: build elements (CSP-safe: no inline styles or handlers), replace children, and
// redraw polled views without losing the keyboard focus.

const SVG_NS = "http://www.w3.org/2000/svg";
// Properties that must be set on the element (not as attributes) to take effect on live controls.
const PROPS = new Set(["value", "checked", "disabled", "selected", "indeterminate", "multiple"]);
let lastId = 0;

/** A fresh id for label/aria wiring. */
export function nextId(prefix = "ui") {
  lastId += 1;
  return `${prefix}-${lastId}`;
}

// ---------------------------------------------------------------------------------------------
// DOM

/** Creates an element. `attrs`: class, id, text, for, type, value, checked, disabled, aria-*,
 *  data-*, role, title, href, ...; `onClick`/`onInput`/... add listeners; `style` may be an object
 *  (CSSOM, allowed by the CSP). Children: strings, nodes, arrays; null/false/undefined are skipped. */
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children, false);
}

/** Same as `h`, in the SVG namespace. */
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children, true);
}

function build(el, attrs, children, isSvg) {
  const late = [];
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (/^on[A-Z]/.test(key)) {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (!isSvg && PROPS.has(key)) {
      late.push([key, value]);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  // A <select>'s value only sticks once its options exist.
  for (const [key, value] of late) el[key] = value;
  return el;
}

/** Appends children (same rules as `h`). */
export function append(parent, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false || child === true) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Replaces the children of `container`, keeping keyboard focus on the same control (same row
 *  `data-key`, same label) when it was inside: for views that polling redraws. */
export function swap(container, ...children) {
  const active = document.activeElement;
  let mark = null;
  if (active && active !== document.body && container.contains(active)) {
    const row = active.closest("[data-key]");
    mark = { key: row ? row.dataset.key : null, name: controlName(active), tag: active.tagName };
  }
  replace(container, children);
  if (!mark) return container;
  const scope = mark.key === null ? container : container.querySelector(`[data-key="${CSS.escape(mark.key)}"]`);
  const match = scope && [...scope.querySelectorAll(mark.tag)].find((el) => controlName(el) === mark.name);
  if (match) match.focus({ preventScroll: true });
  return container;
}

function controlName(el) {
  return el.getAttribute("aria-label") || el.textContent.trim() || el.getAttribute("href") || "";
}
