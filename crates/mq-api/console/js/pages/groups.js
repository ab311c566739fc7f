// Consumer groups: every group with its members, lag (messages and age of the oldest waiting
// message), delivery mode and retry policy; details per group (members, assigned partitions,
// positions), and create / edit retry policy / delete. Refreshed every 5 s.

import { api, get } from "../api.js";
import {
  badge,
  button,
  choiceField,
  confirmDialog,
  emptyState,
  every,
  fmtAgo,
  fmtCount,
  fmtDuration,
  fmtRate,
  fmtTime,
  formDialog,
  h,
  keyValues,
  link,
  mono,
  newestOnly,
  pageHeader,
  pager,
  plural,
  replace,
  section,
  showDialog,
  swap,
  table,
  toast,
  toastError,
} from "../ui.js";
import { ageText } from "../monitoring.js";
import { topicLink, topicNames } from "../topic-actions.js";

const PAGE_SIZE = 50;
const REFRESH_MS = 5000;
const state = { page: 1, filter: "" };

export async function render(root, ctx) {
  const topicName = ctx.query.topicName || "";
  const list = h("div", {});
  const topics = await topicNames();
  const load = newestOnly(() => view(topicName, ctx, load), (nodes) => swap(list, nodes));
  const create = async () => (await createGroup(topics, topicName)) && load();
  replace(
    root,
    pageHeader("Consumer groups", button("New group", create, { kind: "primary", disabled: topics.length === 0 })),
    toolbar(topics, topicName, ctx, () => load().catch(toastError)),
    list,
  );
  await load();
  every(REFRESH_MS, load, ctx.onDispose);
}

function toolbar(topics, topicName, ctx, reload) {
  const topicSelect = h(
    "select",
    {
      id: "groups-topic",
      value: topicName,
      onChange: () => {
        state.page = 1;
        ctx.navigate(topicSelect.value ? `#/groups?topicName=${encodeURIComponent(topicSelect.value)}` : "#/groups");
      },
    },
    h("option", { value: "", text: "All topics" }),
    topics.map((t) => h("option", { value: t, text: t })),
  );
  const filter = h("input", {
    id: "groups-filter",
    type: "search",
    value: state.filter,
    placeholder: "Group or consumer id contains…",
    onInput: () => {
      state.filter = filter.value.trim();
      reload();
    },
  });
  return h(
    "div",
    { class: "toolbar" },
    h("div", { class: "field" }, h("label", { for: "groups-topic", text: "Topic" }), topicSelect),
    h("div", { class: "field grow search" }, h("label", { for: "groups-filter", text: "Filter groups" }), filter),
  );
}

async function view(topicName, ctx, reload) {
  const [paged, consumers, monitoring] = await Promise.all([
    get("/consumer-groups", { topicName, page: state.page, pageSize: PAGE_SIZE }),
    get("/consumers", { topicName, pageSize: 1000 }),
    get("/monitoring", { topicName, metrics: "consumers", timeRange: "5m" }),
  ]);
  const key = (topic, group) => `${topic}\u0000${group}`;
  const figures = new Map((monitoring.consumers || []).map((g) => [key(g.topicName, g.groupId), g]));
  const members = new Map();
  for (const c of consumers.items) {
    const k = key(c.topicName, c.groupId);
    members.set(k, [...(members.get(k) || []), c]);
  }
  const rows = paged.items
    .map((g) => ({ ...g, figures: figures.get(key(g.topicName, g.groupId)), members: members.get(key(g.topicName, g.groupId)) || [] }))
    .filter((g) => matches(g, state.filter));
  const turnTo = (p) => {
    state.page = p;
    return reload();
  };
  return [
    table({
      rows,
      rowKey: (g) => `${g.topicName}/${g.groupId}`,
      empty: emptyGroups(topicName),
      columns: [
        { label: "Group", value: (g) => groupCell(g) },
        { label: "Members", value: (g) => memberSummary(g) },
        { label: "Lag", className: "num", value: (g) => fmtCount(g.figures?.totalLag) },
        { label: "Oldest waiting", className: "num", value: (g) => (g.figures ? ageText(g.figures.oldestUnconsumedAgeMs) : null) },
        { label: "Ack rate", className: "num", value: (g) => (g.figures ? fmtRate(g.figures.consumeRate) : null) },
        { label: "Dead letters", className: "num", value: (g) => deadLetters(g) },
        { label: "Retry policy", className: "wrap small", value: (g) => retrySummary(g.retryPolicy) },
        {
          label: "Actions",
          className: "actions-col",
          value: (g) =>
            h(
              "div",
              { class: "row-actions" },
              button("Details", () => details(g)),
              button("Edit", async () => (await editGroup(g)) && reload()),
              button("Delete", async () => (await deleteGroup(g)) && reload(), { kind: "danger-quiet" }),
            ),
        },
      ],
    }).el,
    paged.total > PAGE_SIZE ? pager({ page: paged.page, pageSize: PAGE_SIZE, total: paged.total, onPage: turnTo }) : null,
  ];
}

function matches(g, filter) {
  if (!filter) return true;
  const f = filter.toLowerCase();
  return g.groupId.toLowerCase().includes(f) || g.members.some((m) => m.consumerId.toLowerCase().includes(f));
}

function emptyGroups(topicName) {
  if (state.filter) return emptyState(`No group matches "${state.filter}".`, "Clear the filter to see every group.");
  return emptyState(
    topicName ? `No consumer group reads ${topicName} yet.` : "No consumer groups yet.",
    "A group appears when a consumer first fetches with a group id (POST /consume), or add one with New group.",
  );
}

function groupCell(g) {
  return h(
    "div",
    {},
    h("strong", { class: "mono", text: g.groupId }),
    " ",
    badge(g.deliveryMode, g.deliveryMode === "ordered" ? "warn" : null),
    h("div", { class: "cell-sub" }, "on ", topicLink(g.topicName)),
  );
}

function memberSummary(g) {
  const status = g.figures?.status || g.status;
  const live = g.members.filter((m) => m.status === "active").length;
  const names = g.members.map((m) => m.consumerId);
  return h(
    "div",
    {},
    badge(status, status === "active" ? "ok" : status === "rebalancing" ? "warn" : "muted"),
    ` ${live}/${names.length} live`,
    names.length
      ? h("div", { class: "cell-sub mono", title: names.join(", ") }, names.slice(0, 2).join(", ") + (names.length > 2 ? ` +${names.length - 2}` : ""))
      : null,
  );
}

function deadLetters(g) {
  const n = g.figures?.deadLetterCount;
  if (!n) return fmtCount(n);
  const q = `topicName=${encodeURIComponent(g.topicName)}&groupId=${encodeURIComponent(g.groupId)}`;
  return link(fmtCount(n), `#/dead-letters?${q}`, { class: "danger-link" });
}

/** "16 retries · 1 s ×2 up to 2 h", "no retries", "3 retries · 1 s, 5 s, 30 s". */
function retrySummary(p) {
  if (!p) return "—";
  const retries = p.maxRetries === 0 ? "no retries" : plural(p.maxRetries, "retry", "retries");
  if (p.maxRetries === 0) return retries;
  const pauses =
    p.backoff === "explicit"
      ? (p.delaysMs || []).map((d) => fmtDuration(d)).join(", ")
      : `${fmtDuration(p.initialBackoffMs)} ×${p.multiplier} up to ${fmtDuration(p.maxBackoffMs)}`;
  const jitter = p.jitter ? `, jitter ${Math.round(p.jitter * 100)}%` : "";
  return `${retries} · ${pauses}${jitter}`;
}

// ---------------------------------------------------------------------------------------------
// Details

// Positions come from the group itself, so they show also when no member is live.
async function details(g) {
  const partitions = await get(`${groupPath(g)}/partitions`, { topicName: g.topicName });
  return showDialog({
    title: `Group ${g.groupId} on ${g.topicName}`,
    wide: true,
    content: [
      keyValues([
        ["Delivery mode", g.deliveryMode === "ordered" ? "ordered: one consumer per partition, in order" : "shared: any consumer, any partition"],
        ["Start from", g.startFrom],
        ["Ack timeout", fmtDuration(g.ackTimeoutMs)],
        ["Session timeout", fmtDuration(g.sessionTimeoutMs)],
        ["Retry policy", retrySummary(g.retryPolicy)],
        ["Last commit", lastCommit(g.lastCommitTime)],
        ["Created", fmtTime(g.createdAt)],
        ["Id", mono(g.id)],
      ]),
      section("Members", memberTable(g)),
      section("Partitions", positionTable(g, partitions)),
    ],
  });
}

// The server records it after acknowledgements (at most once a second).
function lastCommit(at) {
  if (!at) return h("span", { title: "no acknowledgement recorded yet", text: "—" });
  return `${fmtTime(at)} (${fmtAgo(at)})`;
}

function memberTable(g) {
  return table({
    rows: g.members,
    rowKey: (m) => m.consumerId,
    empty: emptyState("No members.", "Consumers join when they fetch with this group id."),
    columns: [
      { label: "Consumer", className: "mono", value: (m) => m.consumerId },
      { label: "Status", value: (m) => badge(m.status, m.status === "active" ? "ok" : m.status === "error" ? "danger" : "muted") },
      { label: "Last heartbeat", value: (m) => h("span", { title: fmtTime(m.lastHeartbeat), text: fmtAgo(m.lastHeartbeat) }) },
      {
        label: "Assigned partitions",
        className: "mono",
        value: (m) => (m.assignedPartitions.length ? m.assignedPartitions.join(", ") : g.deliveryMode === "shared" ? "all (shared)" : "none"),
      },
      { label: "Lag", className: "num", value: (m) => fmtCount(m.lag) },
      { label: "Joined", value: (m) => fmtTime(m.createdAt) },
    ],
  }).el;
}

// One row per partition; in an ordered group each has one owner, in a shared group every
// live member reads it.
function positionTable(g, partitions) {
  return table({
    rows: partitions,
    rowKey: (p) => p.partition,
    empty: "The topic has no partitions.",
    columns: [
      { label: "Partition", className: "num mono", value: (p) => String(p.partition) },
      { label: "Owner", className: "mono", value: (p) => p.owner ?? (g.deliveryMode === "shared" ? "any member" : "unassigned") },
      { label: "Committed", className: "num mono", value: (p) => fmtCount(p.committedOffset) },
      { label: "Next", className: "num mono", value: (p) => fmtCount(p.nextOffset) },
      { label: "End offset", className: "num mono", value: (p) => fmtCount(p.endOffset) },
      { label: "Lag", className: "num", value: (p) => fmtCount(p.lag) },
      { label: "Pending", className: "num", value: (p) => fmtCount(p.pending) },
    ],
  }).el;
}

// ---------------------------------------------------------------------------------------------
// Create, edit, delete

const groupPath = (g) => `/consumer-groups/${encodeURIComponent(g.groupId)}`;

// Fields of both the create and the edit dialog.
const ackTimeoutField = (value) => ({
  name: "ackTimeoutMs",
  label: "Ack timeout (ms)",
  type: "number",
  value,
  help: "Unacknowledged deliveries come back after this.",
});
const maxRetriesField = (value) => ({
  name: "maxRetries",
  label: "Max retries",
  type: "number",
  value,
  help: "0 to 1000; then the message becomes a dead letter (with 0, on the first failure).",
});

async function createGroup(topics, topicName) {
  const created = await formDialog({
    title: "New consumer group",
    submitLabel: "Create",
    fields: [
      { name: "groupId", label: "Group id", placeholder: "billing" },
      { name: "topicName", label: "Topic", type: "select", value: topicName || topics[0], options: topics.map((t) => ({ value: t })) },
      choiceField("deliveryMode", "Delivery mode", "shared", {
        shared: "Shared: a work queue over all partitions",
        ordered: "Ordered: one consumer per partition, in order",
      }),
      choiceField("startFrom", "Start from", "latest", {
        latest: "Latest: only messages published from now on",
        earliest: "Earliest: every stored message",
      }),
      ackTimeoutField(30000),
      maxRetriesField(16),
    ],
    onSubmit: (v) =>
      api("POST", "/consumer-groups", {
        body: {
          groupId: v.groupId,
          topicName: v.topicName,
          deliveryMode: v.deliveryMode,
          startFrom: v.startFrom,
          ...(v.ackTimeoutMs === null ? {} : { ackTimeoutMs: v.ackTimeoutMs }),
          ...(v.maxRetries === null ? {} : { retryPolicy: { maxRetries: v.maxRetries } }),
        },
      }),
  });
  if (created) toast(`Group ${created.groupId} created on ${created.topicName}`, "ok");
  return created;
}

async function editGroup(g) {
  const p = g.retryPolicy;
  const updated = await formDialog({
    title: `Edit ${g.groupId}`,
    submitLabel: "Save",
    fields: [
      maxRetriesField(p.maxRetries),
      choiceField("backoff", "Backoff kind", p.backoff, { exponential: "Exponential", explicit: "Explicit list of delays" }),
      { name: "initialBackoffMs", label: "Initial backoff (ms)", type: "number", value: p.initialBackoffMs, showIf: exponential },
      { name: "multiplier", label: "Multiplier", type: "number", value: p.multiplier, help: "1 to 100.", showIf: exponential },
      { name: "maxBackoffMs", label: "Max backoff (ms)", type: "number", value: p.maxBackoffMs, showIf: exponential },
      {
        name: "delaysMs",
        label: "Delays (ms, comma-separated)",
        value: (p.delaysMs || []).join(", "),
        help: "The pause before retry 1, 2, …; the last repeats. E.g. 1000, 5000, 30000.",
        showIf: (v) => !exponential(v),
      },
      { name: "jitter", label: "Jitter (0 to 1)", type: "number", value: p.jitter },
      ackTimeoutField(g.ackTimeoutMs),
      { name: "sessionTimeoutMs", label: "Session timeout (ms)", type: "number", value: g.sessionTimeoutMs },
    ],
    onSubmit: (v) => api("PUT", groupPath(g), { query: { topicName: g.topicName }, body: groupUpdate(v) }),
  });
  if (updated) toast(`Group ${g.groupId} updated`, "ok");
  return updated;
}

const exponential = (v) => v.backoff === "exponential";

function groupUpdate(v) {
  const explicit = v.backoff === "explicit";
  const retryPolicy = { maxRetries: v.maxRetries, backoff: v.backoff, jitter: v.jitter ?? 0 };
  if (explicit) {
    retryPolicy.delaysMs = v.delaysMs
      .split(",")
      .map((d) => d.trim())
      .filter(Boolean)
      .map(Number);
  } else {
    Object.assign(retryPolicy, {
      initialBackoffMs: v.initialBackoffMs,
      multiplier: v.multiplier,
      maxBackoffMs: v.maxBackoffMs,
    });
  }
  return {
    retryPolicy: Object.fromEntries(Object.entries(retryPolicy).filter(([, x]) => x !== null)),
    ackTimeoutMs: v.ackTimeoutMs ?? undefined,
    sessionTimeoutMs: v.sessionTimeoutMs ?? undefined,
  };
}

async function deleteGroup(g) {
  const ok = await confirmDialog({
    title: `Delete group ${g.groupId}?`,
    message: h(
      "p",
      {},
      "This removes ",
      h("strong", { text: g.groupId }),
      ` from topic ${g.topicName}, with its read positions and pending deliveries. It cannot be undone.`,
    ),
    confirmLabel: "Delete",
    danger: true,
  });
  if (!ok) return false;
  await api("DELETE", groupPath(g), { query: { topicName: g.topicName } });
  toast(`Group ${g.groupId} deleted`, "ok");
  return true;
}
