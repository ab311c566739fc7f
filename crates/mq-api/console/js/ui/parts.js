// Page parts: tables, empty and error states, headers and intros, sections, figures, badges, buttons, links,
// key/value lists, toggle groups, JSON views and the pager.

import { h, nextId, replace } from "./dom.js";
import { errorText, toastError } from "./feedback.js";
import { fmtCount, orDash } from "./format.js";

/** A table in a horizontally scrolling container. Columns: [{label, value: row => string|Node,
 *  className}] ("num" right-aligns, "mono" uses monospace). With `selectable`, a checkbox per row
 *  ("Select <rowKey(row)>") and a select-all box. → { el, selected() }. */
export function table({ columns, rows, empty, rowKey, selectable = false, onSelectionChange, caption }) {
  const keyOf = rowKey || ((row, i) => row.id ?? i);
  if (!rows || rows.length === 0) {
    const el = typeof empty === "string" || !empty ? emptyState(empty || "Nothing here yet.") : empty;
    return { el, selected: () => [] };
  }
  const chosen = new Set();
  const boxes = [];
  const selected = () => rows.filter((row, i) => chosen.has(keyOf(row, i)));
  const changed = () => {
    const n = chosen.size;
    all.checked = n > 0 && n === rows.length;
    all.indeterminate = n > 0 && n < rows.length;
    if (onSelectionChange) onSelectionChange(selected());
  };
  const all = selectable
    ? h("input", {
        type: "checkbox",
        "aria-label": "Select all",
        onChange: () => {
          boxes.forEach(({ box, key }) => {
            box.checked = all.checked;
            if (all.checked) chosen.add(key);
            else chosen.delete(key);
          });
          changed();
        },
      })
    : null;
  const head = h(
    "tr",
    {},
    selectable ? h("th", { class: "select", scope: "col" }, all) : null,
    columns.map((c) => h("th", { scope: "col", class: c.className, text: c.label })),
  );
  const body = rows.map((row, i) => {
    const key = keyOf(row, i);
    let box = null;
    if (selectable) {
      box = h("input", {
        type: "checkbox",
        "aria-label": `Select ${key}`,
        onChange: () => {
          if (box.checked) chosen.add(key);
          else chosen.delete(key);
          changed();
        },
      });
      boxes.push({ box, key });
    }
    return h(
      "tr",
      { "data-key": String(key) },
      selectable ? h("td", { class: "select" }, box) : null,
      columns.map((c) => h("td", { class: c.className }, orDash(c.value(row, i)))),
    );
  });
  const tableEl = h(
    "table",
    { class: "table" },
    caption ? h("caption", { text: caption }) : null,
    h("thead", {}, head),
    h("tbody", {}, body),
  );
  const el = h("div", { class: "table-wrap" }, tableEl);
  return { el, selected };
}

/** A friendly "nothing here" block; `hint` says what to do. */
export function emptyState(title, hint) {
  return h(
    "div",
    { class: "empty" },
    h("p", { class: "empty-title", text: title }),
    hint ? h("p", { class: "empty-hint" }, hint) : null,
  );
}

/** A block that says loading failed, with the reason and an optional "Try again" button. */
export function errorState(title, err, retry) {
  return h(
    "div",
    { class: "empty empty-error", role: "alert" },
    h("p", { class: "empty-title", text: title }),
    err ? h("p", { class: "empty-hint", text: errorText(err) }) : null,
    retry ? button("Try again", retry) : null,
  );
}

/** A quiet placeholder while data loads. */
export function loading(text = "Loading…") {
  return h("div", { class: "loading", role: "status", text });
}

/** The page's title row: `<h1>` and action buttons. */
export function pageHeader(title, ...actions) {
  return h(
    "header",
    { class: "page-header" },
    typeof title === "string" ? h("h1", { text: title }) : title,
    h("div", { class: "actions" }, actions),
  );
}

/** The sentence under a page's title that says what the page is for. */
export function intro(text) {
  return h("p", { class: "muted lead", text });
}

/** A titled panel (`<section>` named by its `<h2>`, so it is a landmark region). */
export function section(title, ...children) {
  const id = nextId("sec");
  return h(
    "section",
    { class: "panel", "aria-labelledby": id },
    h("h2", { id, text: title }),
    children,
  );
}

/** A figure tile. The value element carries data-testid; `.setValue(v)` updates it in place. */
export function stat(label, value, { testId, hint } = {}) {
  const labelId = nextId("stat");
  const valueEl = h("div", { class: "stat-value", "data-testid": testId }, value ?? "—");
  const hintEl = h("div", { class: "stat-hint" }, hint || "");
  const el = h(
    "div",
    { class: "stat", role: "group", "aria-labelledby": labelId },
    h("div", { class: "stat-label", id: labelId, text: label }),
    valueEl,
    hintEl,
  );
  el.setValue = (v, newHint) => {
    replace(valueEl, v ?? "—");
    if (newHint !== undefined) replace(hintEl, newHint || "");
  };
  return el;
}

/** A small coloured label: "ok" | "warn" | "danger" | "muted" (default: neutral). */
export function badge(text, kind) {
  return h("span", { class: ["badge", kind && `badge-${kind}`], text });
}

/** A button. While an async onClick runs, further clicks are ignored (no double submits); the
 *  button stays enabled so a dialog it opened can give the focus back to it. */
export function button(label, onClick, { kind = "secondary", testId, disabled, title, ariaLabel } = {}) {
  let busy = false;
  const el = h("button", {
    type: "button",
    class: `btn btn-${kind}`,
    "data-testid": testId,
    disabled: Boolean(disabled),
    title,
    "aria-label": ariaLabel,
    text: label,
    onClick: async (event) => {
      if (busy || !onClick) return;
      const result = onClick(event);
      if (!result || typeof result.then !== "function") return;
      busy = true;
      el.setAttribute("aria-busy", "true");
      try {
        await result;
      } catch (err) {
        toastError(err);
      } finally {
        busy = false;
        el.removeAttribute("aria-busy");
      }
    },
  });
  return el;
}

/** A real link (for the router: `href: "#/topics/x"`). */
export function link(text, href, attrs = {}) {
  return h("a", { href, ...attrs, text });
}

/** Monospace text for ids, offsets, keys ("—" when missing). */
export function mono(text) {
  return h("span", { class: "mono", text: orDash(text) });
}

/** A definition list of [label, value] pairs (value: text or Node; missing ones show "—").
 *  A pair that is null or false is left out, for rows that apply only sometimes. */
export function keyValues(pairs) {
  return h(
    "dl",
    { class: "kv" },
    pairs
      .filter(Boolean)
      .map(([k, v]) => h("div", { class: "kv-row" }, h("dt", { text: k }), h("dd", {}, orDash(v)))),
  );
}

/** A row of toggle buttons with aria-pressed (e.g. time ranges). `options`: [{value, label}].
 *  The returned node has `.set(value)` to change the pressed one without calling onChange. */
export function toggleGroup({ label, options, value, onChange }) {
  const buttons = options.map((o) =>
    h("button", {
      type: "button",
      class: "toggle",
      "aria-pressed": String(o.value === value),
      text: o.label,
      onClick: () => {
        el.set(o.value);
        onChange(o.value);
      },
    }),
  );
  const el = h("div", { class: "toggle-group", role: "group", "aria-label": label }, buttons);
  el.set = (v) => options.forEach((o, i) => buttons[i].setAttribute("aria-pressed", String(o.value === v)));
  return el;
}

/** Pretty-printed, lightly highlighted JSON; a string that parses as JSON is shown parsed. */
export function jsonView(value) {
  let shown = value;
  if (typeof value === "string") {
    try {
      shown = JSON.parse(value);
    } catch {
      return h("pre", { class: "json json-text", text: value });
    }
  }
  const text = shown === undefined ? "undefined" : JSON.stringify(shown, null, 2);
  return h("pre", { class: "json" }, highlight(text));
}

const JSON_TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

function highlight(text) {
  const parts = [];
  let last = 0;
  for (const m of text.matchAll(JSON_TOKEN)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    if (m[1]) {
      parts.push(h("span", { class: m[2] ? "j-key" : "j-str", text: m[1] }));
      if (m[2]) parts.push(m[2]);
    } else if (m[3]) {
      parts.push(h("span", { class: "j-lit", text: m[3] }));
    } else {
      parts.push(h("span", { class: "j-num", text: m[4] }));
    }
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

/** "1–20 of 53" with Previous/Next; `page` counts from 1 (as the API does). `onPage(p)` may
 *  return a promise; its failure is toasted. */
export function pager({ page, pageSize, total, onPage }) {
  const first = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = Math.min(total, page * pageSize);
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const turn = (p) => Promise.resolve(onPage(p)).catch(toastError);
  return h(
    "nav",
    { class: "pager", "aria-label": "Pagination" },
    h("span", { class: "pager-text", "aria-live": "polite", text: `${first}–${last} of ${fmtCount(total)}` }),
    h("button", {
      type: "button",
      class: "btn btn-secondary btn-sm",
      text: "Previous",
      disabled: page <= 1,
      onClick: () => turn(page - 1),
    }),
    h("button", {
      type: "button",
      class: "btn btn-secondary btn-sm",
      text: "Next",
      disabled: page >= pages,
      onClick: () => turn(page + 1),
    }),
  );
}
