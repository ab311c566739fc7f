// Topic detail: figures, rate chart, partitions with end offsets, configuration, the topic's
// consumer groups, and a message browser by partition and offset. Live parts refresh every 5 s;
// the message browser only loads when asked.

import { ApiError, get } from "../api.js";
import {
  badge,
  button,
  emptyState,
  errorState,
  fmtBytes,
  fmtCount,
  fmtDuration,
  fmtRate,
  fmtTime,
  h,
  jsonView,
  keepLive,
  keyValues,
  link,
  liveStatus,
  mono,
  newestOnly,
  pageHeader,
  replace,
  section,
  stat,
  swap,
  table,
  toastError,
} from "../ui.js";
import { ageText, fetchHistory, rangeButtons, rateChart, showRates } from "../monitoring.js";
import { deleteTopic, editTopic, sendTestMessage, topicPath } from "../topic-actions.js";

const REFRESH_MS = 5000;
const BROWSE_LIMIT = 20;
let range = "5m";

export async function render(root, ctx) {
  const name = ctx.params.name;
  let topic;
  try {
    topic = await get(topicPath(name));
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    return replace(root, pageHeader(name), notFound(name, err));
  }
  const view = buildView(topic, ctx);
  replace(root, ...view.layout);
  await keepLive(REFRESH_MS, view.load, view.status, ctx.onDispose);
  view.browser.start();
}

function notFound(name, err) {
  return h("div", {}, errorState(`Topic ${name} not found`, err), h("p", { class: "center" }, link("Back to topics", "#/topics")));
}

function buildView(topic, ctx) {
  const name = topic.name;
  const tiles = {
    published: stat("Published", null, { testId: "topic-published-count", hint: "last 5 min" }),
    stored: stat("Messages stored", null, { testId: "topic-message-count" }),
    publishRate: stat("Publish rate", null, { testId: "topic-publish-rate" }),
    consumeRate: stat("Consume rate", null, { testId: "topic-consume-rate" }),
    lag: stat("Lag", null, { testId: "topic-lag", hint: "messages not yet delivered" }),
    deadLetters: stat("Dead letters", null, { testId: "topic-dead-letter-count" }),
    scheduled: stat("Scheduled", null, { testId: "topic-scheduled-count" }),
    half: stat("Half messages", null, { testId: "topic-half-message-count" }),
  };
  const status = liveStatus();
  const chart = rateChart(null, `Publish and consume rate of ${name}`);
  const partitions = h("div", {});
  const groups = h("div", {});
  const config = h("div", {});
  const browser = messageBrowser(topic);
  const view = { browser, status };

  const subtitle = h("div", { class: "subtitle" });
  const refreshConfig = (t) => {
    topic = t;
    subtitle.textContent = t.description || "No description";
    replace(config, configList(t));
    browser.setPartitions(t.partitions);
  };
  const afterChange = async (changed) => {
    if (changed) refreshConfig(await get(topicPath(name)));
  };
  const header = pageHeader(
    h("div", {}, h("h1", { text: name }), subtitle),
    status,
    button("Send test message", () => sendAndShow(name, view), { kind: "primary" }),
    button("Edit", async () => afterChange(await editTopic(topic))),
    button("Delete", async () => (await deleteTopic(name)) && ctx.navigate("#/topics"), { kind: "danger-quiet" }),
  );
  const chartRange = rangeButtons(range, (value) => {
    range = value;
    view.load().catch(toastError);
  });

  view.layout = [
    header,
    h("div", { class: "stats" }, Object.values(tiles)),
    section("Publish and consume rate", h("div", { class: "panel-tools" }, chartRange), chart),
    h("div", { class: "grid-2" }, section("Partitions", partitions), section("Configuration", config)),
    section("Consumer groups", groups),
    browser.el,
  ];
  refreshConfig(topic);

  const fetchAll = () =>
    Promise.all([
      get("/monitoring", { topicName: name, timeRange: "5m" }),
      fetchHistory("5m", name),
      range === "5m" ? null : fetchHistory(range, name),
    ]);
  view.load = newestOnly(fetchAll, ([monitoring, last5, history]) => {
    const figures = (monitoring.topics || [])[0] || null;
    showTiles(tiles, figures, last5, name);
    chart.update(history || last5);
    swap(partitions, partitionTable(figures));
    swap(groups, groupTable(monitoring.consumers || [], name));
    browser.setEnds(figures);
    status.ok();
  });
  return view;
}

// After a test message, refresh the figures and show the newest messages of its partition.
async function sendAndShow(name, view) {
  const sent = await sendTestMessage(name);
  if (!sent) return;
  await view.load();
  if (sent.status !== "scheduled") await view.browser.showNewest(sent.partition);
}

function showTiles(t, figures, last5, name) {
  const q = encodeURIComponent(name);
  t.published.setValue(fmtCount(last5.published));
  t.stored.setValue(fmtCount(figures?.messageCount));
  showRates(t, { publish: figures?.messageRate, consume: figures?.consumeRate }, last5, "last 5 min");
  t.lag.setValue(fmtCount(figures?.consumerLag));
  t.deadLetters.setValue(fmtCount(figures?.deadLetterCount), link("Inspect", `#/dead-letters?topicName=${q}`));
  t.scheduled.setValue(fmtCount(figures?.scheduledCount), link("See scheduled", `#/scheduled?topicName=${q}`));
  t.half.setValue(fmtCount(figures?.halfMessageCount), link("See transactions", `#/transactions?topicName=${q}`));
}

function configList(t) {
  const extra = Object.entries(t.config || {}).filter(([k]) => k !== "encryption");
  return keyValues([
    ["Partitions", fmtCount(t.partitions)],
    ["Status", badge(t.status, t.status === "active" ? "ok" : "muted")],
    ["Retention", fmtDuration(t.retentionMs)],
    ["Max message size", fmtBytes(t.maxMessageSize)],
    ["Encryption", t.config?.encryption ? badge(t.config.encryption, "ok") : "off"],
    ["Replication factor", fmtCount(t.replicationFactor)],
    ["Created", `${fmtTime(t.createdAt)}${t.createdBy ? ` by ${t.createdBy}` : ""}`],
    ["Updated", fmtTime(t.updatedAt)],
    ["Id", mono(t.id)],
    ...extra.map(([k, v]) => [k, mono(v)]),
  ]);
}

function partitionTable(figures) {
  return table({
    rows: figures ? figures.partitions : [],
    rowKey: (p) => p.partition,
    empty: "No partition figures yet.",
    columns: [
      { label: "Partition", className: "num mono", value: (p) => String(p.partition) },
      { label: "End offset", className: "num mono", value: (p) => fmtCount(p.offset) },
      { label: "Messages", className: "num", value: (p) => fmtCount(p.messageCount) },
      { label: "Rate", className: "num", value: (p) => fmtRate(p.messageRate) },
    ],
  }).el;
}

function groupTable(groups, name) {
  return table({
    rows: groups,
    rowKey: (g) => g.groupId,
    empty: emptyState(
      "No consumer group reads this topic yet.",
      h("span", {}, "Consumers create one on their first fetch, or add one on ", link("Consumer groups", "#/groups"), "."),
    ),
    columns: [
      { label: "Group", className: "mono", value: (g) => link(g.groupId, `#/groups?topicName=${encodeURIComponent(name)}`) },
      { label: "Status", value: (g) => badge(g.status, g.status === "active" ? "ok" : "muted") },
      { label: "Mode", value: (g) => g.deliveryMode },
      { label: "Members", className: "num", value: (g) => fmtCount(g.consumerCount) },
      { label: "Lag", className: "num", value: (g) => fmtCount(g.totalLag) },
      { label: "Oldest unconsumed", className: "num", value: (g) => ageText(g.oldestUnconsumedAgeMs) },
      { label: "Pending", className: "num", value: (g) => fmtCount(g.pending) },
      { label: "Consume rate", className: "num", value: (g) => fmtRate(g.consumeRate) },
      { label: "Dead letters", className: "num", value: (g) => fmtCount(g.deadLetterCount) },
    ],
  }).el;
}

// ---------------------------------------------------------------------------------------------
// Message browser

function messageBrowser(topic) {
  const name = topic.name;
  let ends = new Map();
  let started = false;
  const partition = h("select", { id: "browse-partition", onChange: () => newest() });
  const from = h("input", { id: "browse-from", type: "number", min: 0, step: 1, value: 0, class: "mono" });
  const results = h("div", { class: "messages", "aria-live": "polite" });
  const info = h("span", { class: "muted browse-info" });
  const older = button("Older", () => page(-1), { disabled: true });
  const newer = button("Newer", () => page(1), { disabled: true });
  const form = h(
    "form",
    { class: "toolbar browse-form", onSubmit: (e) => (e.preventDefault(), load()) },
    h("div", { class: "field" }, h("label", { for: "browse-partition", text: "Partition" }), partition),
    h("div", { class: "field" }, h("label", { for: "browse-from", text: "From offset" }), from),
    h("button", { type: "submit", class: "btn btn-primary", text: "Load" }),
    button("Newest", () => newest()),
    h("div", { class: "grow" }),
    older,
    newer,
  );
  const el = section("Messages", form, info, results);

  const endOf = () => ends.get(Number(partition.value)) ?? null;
  async function load() {
    const p = Number(partition.value);
    const offset = Math.max(0, Number(from.value) || 0);
    info.textContent = "Loading…";
    try {
      const data = await get(`${topicPath(name)}/messages`, { partition: p, fromOffset: offset, limit: BROWSE_LIMIT });
      showMessages(data.messages, p, offset);
    } catch (err) {
      info.textContent = "";
      toastError(err);
    }
  }
  function showMessages(messages, p, offset) {
    const end = endOf();
    older.disabled = offset <= 0;
    newer.disabled = end !== null && offset + BROWSE_LIMIT >= end;
    info.textContent = messages.length
      ? `Partition ${p}: offsets ${messages[0].offset}–${messages[messages.length - 1].offset}${end !== null ? ` (end offset ${end})` : ""}`
      : "";
    replace(
      results,
      messages.length
        ? messages.map(messageCard)
        : emptyState(
            `No messages from offset ${offset} in partition ${p}.`,
            end === null || end === 0
              ? "This partition is empty: send a test message, or publish with a key that maps here."
              : `This partition's messages end before offset ${fmtCount(end)}; older ones may have passed the retention.`,
          ),
    );
  }
  function page(direction) {
    from.value = String(Math.max(0, (Number(from.value) || 0) + direction * BROWSE_LIMIT));
    return load();
  }
  function newest() {
    const end = endOf();
    from.value = String(Math.max(0, (end ?? 0) - BROWSE_LIMIT));
    return load();
  }
  return {
    el,
    setPartitions(count) {
      const current = partition.value || "0";
      replace(partition, Array.from({ length: count }, (_, i) => h("option", { value: String(i), text: String(i) })));
      partition.value = Number(current) < count ? current : "0";
    },
    setEnds(figures) {
      ends = new Map((figures?.partitions || []).map((p) => [p.partition, p.offset]));
    },
    showNewest(p) {
      partition.value = String(p);
      return newest();
    },
    start() {
      if (started) return;
      started = true;
      newest();
    },
  };
}

function messageCard(m) {
  const headers = Object.entries(m.headers || {});
  return h(
    "article",
    { class: "message", "aria-label": `Message at offset ${m.offset}` },
    h(
      "div",
      { class: "message-meta" },
      h("span", { class: "message-offset mono", text: `Offset ${m.offset}` }),
      m.key ? h("span", {}, h("span", { class: "muted", text: "Key " }), mono(m.key)) : h("span", { class: "muted", text: "No key" }),
      h("span", { class: "muted", title: m.timestamp, text: fmtTime(m.timestamp) }),
      h("span", { class: "mono muted message-id", text: m.messageId }),
      m.messageType && m.messageType !== "normal" ? h("span", {}, badge(m.messageType)) : null,
      m.valueEncoding ? h("span", {}, badge(`value: ${m.valueEncoding}`, "warn")) : null,
      headers.length
        ? h("div", { class: "message-headers" }, headers.map(([k, v]) => h("span", { class: "header-chip mono", text: `${k}: ${v}` })))
        : null,
    ),
    jsonView(m.value),
  );
}
