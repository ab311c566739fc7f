// Overview: the figures an operator checks first (throughput, backlog, dead letters, scheduled and
// half messages, alerts), the publish/consume chart and a per-topic table; refreshed every 5 s.

import { get } from "../api.js";
import {
  emptyState,
  fmtAgo,
  fmtCount,
  fmtRate,
  fmtTime,
  h,
  keepLive,
  link,
  liveStatus,
  newestOnly,
  pageHeader,
  replace,
  section,
  stat,
  swap,
  table,
} from "../ui.js";
import { ageText, fetchHistory, rangeButtons, rangeWords, rateChart, severityBadge, showRates, sumBy } from "../monitoring.js";
import { topicLink } from "../topic-actions.js";

const REFRESH_MS = 5000;
// Kept while the console is open, so coming back to the overview shows the same range.
let range = "5m";

export async function render(root, ctx) {
  const view = buildView();
  const load = newestOnly(fetchAll, (data) => show(view, data));
  view.rangeButtons = rangeButtons(range, (value) => {
    range = value;
    load().catch(view.failed);
  });
  replace(
    root,
    pageHeader("Overview", view.status, view.rangeButtons),
    view.stats,
    section("Publish and consume rate", view.chart),
    h("div", { class: "grid-2" }, section("Topics", view.topics), section("Consumer groups by lag", view.groups)),
    section("Active alerts", view.alerts),
  );
  await keepLive(REFRESH_MS, load, view.status, ctx.onDispose);
}

function buildView() {
  const tiles = {
    published: stat("Published", null, { testId: "published-count" }),
    acked: stat("Acknowledged", null, { testId: "acked-count" }),
    publishRate: stat("Publish rate", null, { testId: "publish-rate" }),
    consumeRate: stat("Consume rate", null, { testId: "consume-rate" }),
    backlog: stat("Backlog", null, { testId: "backlog", hint: "messages not yet delivered" }),
    deadLetters: stat("Dead letters", null, { testId: "dead-letter-count" }),
    scheduled: stat("Scheduled", null, { testId: "scheduled-count" }),
    half: stat("Half messages", null, { testId: "half-message-count" }),
    alerts: stat("Active alerts", null, { testId: "active-alert-count" }),
  };
  const status = liveStatus();
  const view = {
    tiles,
    status,
    stats: h("div", { class: "stats" }, Object.values(tiles)),
    chart: rateChart(null),
    topics: h("div", {}),
    groups: h("div", {}),
    alerts: h("div", {}),
    failed: status.failed,
  };
  return view;
}

async function fetchAll() {
  const [history, monitoring, alerts] = await Promise.all([
    fetchHistory(range),
    get("/monitoring", { timeRange: range }),
    get("/alerts", { limit: 1 }),
  ]);
  return { history, topics: monitoring.topics || [], groups: monitoring.consumers || [], alerts: alerts.active || [] };
}

function show(view, { history, topics, groups, alerts }) {
  const t = view.tiles;
  const words = rangeWords(range);
  t.published.setValue(fmtCount(history.published), words);
  t.acked.setValue(fmtCount(history.acked), `${words}, all groups`);
  showRates(t, { publish: sumBy(topics, "messageRate"), consume: sumBy(topics, "consumeRate") }, history, words);
  t.backlog.setValue(fmtCount(sumBy(topics, "consumerLag")));
  t.deadLetters.setValue(fmtCount(sumBy(topics, "deadLetterCount")), link("Inspect dead letters", "#/dead-letters"));
  t.scheduled.setValue(fmtCount(sumBy(topics, "scheduledCount")), link("Scheduled messages", "#/scheduled"));
  t.half.setValue(fmtCount(sumBy(topics, "halfMessageCount")), link("Open transactions", "#/transactions"));
  t.alerts.setValue(fmtCount(alerts.length), link(alerts.length ? "See alerts" : "Alert history", "#/alerts"));
  view.chart.update(history);
  swap(view.topics, topicTable(topics));
  swap(view.groups, groupTable(groups));
  swap(view.alerts, alertList(alerts));
  view.status.ok();
}

function topicTable(topics) {
  const rows = [...topics].sort((a, b) => b.messageRate - a.messageRate || a.name.localeCompare(b.name));
  return table({
    rows,
    rowKey: (t) => t.name,
    empty: emptyState("No topics yet.", h("span", {}, "Create one on the ", link("Topics", "#/topics"), " page.")),
    columns: [
      { label: "Topic", value: (t) => topicLink(t.name) },
      { label: "Publish rate", className: "num", value: (t) => fmtRate(t.messageRate) },
      { label: "Consume rate", className: "num", value: (t) => fmtRate(t.consumeRate) },
      { label: "Lag", className: "num", value: (t) => fmtCount(t.consumerLag) },
      { label: "Dead letters", className: "num", value: (t) => deadLetterCell(t) },
    ],
  }).el;
}

const GROUPS_SHOWN = 8;

function groupTable(groups) {
  const rows = [...groups]
    .sort((a, b) => b.totalLag - a.totalLag || (b.oldestUnconsumedAgeMs ?? 0) - (a.oldestUnconsumedAgeMs ?? 0))
    .slice(0, GROUPS_SHOWN);
  const more = groups.length - rows.length;
  return [
    table({
      rows,
      rowKey: (g) => `${g.topicName}/${g.groupId}`,
      empty: emptyState("No consumer groups yet.", "A group appears when a consumer first fetches from a topic."),
      columns: [
        {
          label: "Group",
          value: (g) =>
            h("span", {}, link(g.groupId, `#/groups?topicName=${encodeURIComponent(g.topicName)}`, { class: "mono" }), h("span", { class: "muted", text: ` on ${g.topicName}` })),
        },
        { label: "Members", className: "num", value: (g) => fmtCount(g.consumerCount) },
        { label: "Lag", className: "num", value: (g) => fmtCount(g.totalLag) },
        { label: "Oldest waiting", className: "num", value: (g) => ageText(g.oldestUnconsumedAgeMs) },
      ],
    }).el,
    more > 0 ? h("p", { class: "muted more" }, `${more} more on `, link("Consumer groups", "#/groups"), ".") : null,
  ];
}

function deadLetterCell(topic) {
  if (!topic.deadLetterCount) return "0";
  return link(fmtCount(topic.deadLetterCount), `#/dead-letters?topicName=${encodeURIComponent(topic.name)}`, {
    class: "danger-link",
  });
}

function alertList(alerts) {
  if (!alerts.length) return emptyState("No active alerts.", "Alerts fire on consumer lag, slow consumers and dead letters.");
  return h(
    "ul",
    { class: "alert-list" },
    alerts.map((a) =>
      h(
        "li",
        {},
        severityBadge(a.severity),
        h("span", { class: "alert-msg", text: a.message }),
        h("span", { class: "muted alert-when", title: fmtTime(a.firedAt), text: fmtAgo(a.firedAt) }),
      ),
    ),
  );
}
