// A filtered, paged list of one API collection, shared by the dead-letter, transaction and audit
// pages: the filter bar (its first values from the route's query, so links can pre-filter), a
// summary line, the table and the pager. "Apply" and paging reload it; only the newest answer
// is shown; a page emptied by an action steps back to the new last page.

import { get } from "./api.js";
import { errorState, filters, h, newestOnly, pager, plural, replace, toastError } from "./ui.js";

/**
 * `path`: the collection (`GET path?<filter>&page&pageSize` → `{items, total, page, pageSize}`).
 * `fields`: the filter's field specs (formDialog's), first filled from `query`; a select takes
 * only a value it offers. `noun`: [one, many] for the summary ("3 dead letters"), followed by
 * `describe(filter)` while a filter is set ('matching topic "x"'). `table(items, filtered)`: the
 * rows as a Node (`filtered`: whether a filter is set, for the empty state). `failTitle`: the
 * heading when loading fails. `aside`: a node beside the summary (e.g. a selection count).
 * → { el: the nodes to place, load(), filter(): the applied filter, filtered() }.
 */
export function filteredList({ path, pageSize, fields, query = {}, noun, describe, table, failTitle, aside }) {
  let filter = normalise(fields, query);
  let page = Number(query.page) > 0 ? Math.floor(Number(query.page)) : 1;
  const summary = h("p", { class: "list-summary", "aria-live": "polite" });
  const list = h("div", { class: "list" });
  const pagerBox = h("div", {});
  const form = filters(
    fields.map((f) => ({ ...f, value: filter[f.name] ?? "" })),
    (values) => {
      filter = normalise(fields, values);
      page = 1;
      load();
    },
  );
  const filtered = () => Object.values(filter).some((v) => v !== undefined);

  const show = (data) => {
    // An action may have emptied the last page: step back to the new last one.
    if (data.items.length === 0 && data.total > 0 && page > 1) {
      page = Math.ceil(data.total / pageSize);
      return load();
    }
    list.removeAttribute("aria-busy");
    const what = filtered() && describe ? ` ${describe(filter)}` : "";
    summary.textContent = data.total ? `${plural(data.total, ...noun)}${what}` : "";
    replace(list, table(data.items, filtered()));
    replace(pagerBox, data.total > 0 ? pager({ page: data.page, pageSize: data.pageSize, total: data.total, onPage }) : null);
  };
  const fail = (err) => {
    list.removeAttribute("aria-busy");
    toastError(err);
    summary.textContent = "";
    replace(list, errorState(failTitle, err));
    replace(pagerBox);
  };
  const fetchPage = () => get(path, { ...filter, page, pageSize });
  const newest = newestOnly(fetchPage, show, fail);
  function load() {
    list.setAttribute("aria-busy", "true");
    return newest();
  }
  function onPage(p) {
    page = p;
    return load();
  }

  return {
    el: [form, h("div", { class: "list-summary-row" }, summary, aside), list, pagerBox],
    load,
    filter: () => ({ ...filter }),
    filtered,
  };
}

// Trimmed text, `undefined` when empty (api.js then leaves it out of the query); a select's value
// only when it is one of its options.
function normalise(fields, values) {
  const out = {};
  for (const f of fields) {
    const text = String(values[f.name] ?? "").trim();
    const offered = f.type !== "select" || f.options.some((o) => String(o.value) === text);
    out[f.name] = text && offered ? text : undefined;
  }
  return out;
}
