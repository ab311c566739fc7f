// Topics: the list (search by name prefix, paging) with live figures from `GET /monitoring`, and
// the create / edit / delete dialogs.

import { get } from "../api.js";
import {
  badge,
  button,
  emptyState,
  every,
  fmtBytes,
  fmtCount,
  fmtDuration,
  fmtRate,
  h,
  newestOnly,
  pageHeader,
  pager,
  replace,
  swap,
  table,
  toastError,
} from "../ui.js";
import { createTopic, deleteTopic, editTopic, topicHref, topicLink } from "../topic-actions.js";

const PAGE_SIZE = 20;
const REFRESH_MS = 5000;
const SEARCH_DELAY_MS = 250;
// Kept while the console is open: coming back to the list keeps the search and page.
const state = { search: "", page: 1 };

export async function render(root, ctx) {
  const list = h("div", {});
  const load = newestOnly(() => view(ctx, load), (nodes) => swap(list, nodes));
  const search = searchBox(() => {
    state.page = 1;
    load().catch(toastError);
  });
  const create = async () => {
    const created = await createTopic();
    if (created) ctx.navigate(topicHref(created.name));
  };
  replace(
    root,
    pageHeader("Topics", button("New topic", create, { kind: "primary" })),
    h("div", { class: "toolbar" }, search),
    list,
  );
  await load();
  every(REFRESH_MS, load, ctx.onDispose);
}

function searchBox(onSearch) {
  let timer = null;
  const input = h("input", {
    id: "topic-search",
    type: "search",
    value: state.search,
    placeholder: "Name starts with…",
    autocomplete: "off",
    onInput: () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        state.search = input.value.trim();
        onSearch();
      }, SEARCH_DELAY_MS);
    },
  });
  return h("div", { class: "field grow search" }, h("label", { for: "topic-search", text: "Search topics" }), input);
}

async function view(ctx, reload) {
  const [paged, figures] = await Promise.all([
    get("/topics", { page: state.page, pageSize: PAGE_SIZE, prefix: state.search }),
    topicFigures(),
  ]);
  if (paged.items.length === 0 && state.page > 1) {
    state.page = 1;
    return view(ctx, reload);
  }
  const turnTo = (p) => {
    state.page = p;
    return reload();
  };
  const rows = paged.items.map((t) => ({ ...t, figures: figures.get(t.name) }));
  const tableEl = table({
    rows,
    rowKey: (t) => t.name,
    empty: state.search
      ? emptyState(`No topic name starts with "${state.search}".`, "Clear the search, or create the topic with New topic.")
      : emptyState("No topics yet.", "Create one with New topic; producers can then publish to it."),
    columns: [
      { label: "Name", value: (t) => topicLink(t.name, { class: "strong-link" }) },
      { label: "Status", value: (t) => badge(t.status, t.status === "active" ? "ok" : "muted") },
      { label: "Partitions", className: "num", value: (t) => fmtCount(t.partitions) },
      { label: "Messages", className: "num", value: (t) => fmtCount(t.figures?.messageCount) },
      { label: "Publish rate", className: "num", value: (t) => (t.figures ? fmtRate(t.figures.messageRate) : null) },
      { label: "Lag", className: "num", value: (t) => fmtCount(t.figures?.consumerLag) },
      { label: "Retention", className: "num", value: (t) => fmtDuration(t.retentionMs) },
      { label: "Max size", className: "num", value: (t) => fmtBytes(t.maxMessageSize) },
      { label: "Encryption", value: (t) => (t.config?.encryption ? badge(t.config.encryption, "ok") : h("span", { class: "muted", text: "off" })) },
      {
        label: "Actions",
        className: "actions-col",
        value: (t) =>
          h(
            "div",
            { class: "row-actions" },
            button("Edit", async () => (await editTopic(t)) && reload()),
            button("Delete", async () => (await deleteTopic(t.name)) && reload(), { kind: "danger-quiet" }),
          ),
      },
    ],
  });
  return [
    tableEl.el,
    paged.total > PAGE_SIZE ? pager({ page: paged.page, pageSize: PAGE_SIZE, total: paged.total, onPage: turnTo }) : null,
  ];
}

// Live figures per topic; the list still shows when monitoring is unavailable.
async function topicFigures() {
  try {
    const m = await get("/monitoring", { timeRange: "5m", metrics: "topics" });
    return new Map((m.topics || []).map((t) => [t.name, t]));
  } catch {
    return new Map();
  }
}
