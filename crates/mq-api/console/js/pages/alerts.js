// Alerts (#/alerts): the open alerts and the latest resolved ones, refreshed every 10 s while
// the page is shown.
//
// API: GET /alerts?limit → {active: Alert[], history: Alert[]} (history newest first).

import { get } from "../api.js";
import {
  button, emptyState, errorState, fmtAgo, fmtCount, fmtDuration, fmtTime, h, intro, keepLive, liveStatus, newestOnly,
  pageHeader, section, swap, table,
} from "../ui.js";
import { severityBadge } from "../monitoring.js";
import { topicLink } from "../topic-actions.js";

const REFRESH_MS = 10000;
const HISTORY_LIMIT = 100;

const RULES = {
  backlog: "Backlog",
  consumer_lag: "Consumer lag",
  dead_letters: "Dead letters",
  no_consumer: "No consumer",
};

export async function render(root, ctx) {
  const status = liveStatus(REFRESH_MS / 1000);
  const activeBox = h("div", {});
  const historyBox = h("div", {});
  let shown = null;

  root.append(
    pageHeader("Alerts", status, button("Refresh", () => load(), { testId: "alerts-refresh" })),
    intro(
      "An alert fires when a consumer group's backlog, lag, new dead letters or missing consumers cross the configured thresholds, and resolves when the condition ends.",
    ),
    section("Active", activeBox),
    section("History", historyBox),
  );

  const load = newestOnly(
    () => get("/alerts", { limit: HISTORY_LIMIT }),
    (data) => {
      status.ok();
      // Redrawn only on change (or once a minute, for the "ago" times), so that scrolling
      // inside the tables survives a refresh.
      const key = `${Math.floor(Date.now() / 60000)} ${JSON.stringify(data)}`;
      if (key === shown) return;
      shown = key;
      swap(activeBox, activeTable(data.active || []));
      swap(historyBox, historyTable(data.history || []));
    },
  );
  await keepLive(REFRESH_MS, load, status, ctx.onDispose);
  if (shown === null) swap(activeBox, errorState("Could not load alerts.", "It is tried again every 10 s."));
}

// The columns both tables show.
const COLUMNS = [
  { label: "Severity", value: (a) => severityBadge(a.severity) },
  { label: "Rule", value: rule },
  { label: "Subject", value: subject },
  { label: "Value / threshold", value: valueAndThreshold, className: "num" },
  { label: "Message", value: (a) => a.message, className: "wrap" },
];

function activeTable(rows) {
  return table({
    columns: [...COLUMNS, { label: "Fired", value: (a) => `${fmtTime(a.firedAt)} (${fmtAgo(a.firedAt)})` }],
    rows,
    rowKey: (a) => a.id,
    empty: emptyState(
      "No active alerts.",
      "All consumer groups are within their thresholds. Alerts fire on backlog, consumer lag, new dead letters and groups without consumers.",
    ),
  }).el;
}

function historyTable(rows) {
  return table({
    columns: [
      ...COLUMNS,
      { label: "Fired", value: (a) => fmtTime(a.firedAt) },
      { label: "Resolved", value: (a) => fmtTime(a.resolvedAt) },
      {
        label: "Lasted",
        value: (a) => (a.resolvedAt ? fmtDuration(Date.parse(a.resolvedAt) - Date.parse(a.firedAt)) : "—"),
        className: "num",
      },
    ],
    rows,
    rowKey: (a) => a.id,
    empty: emptyState("No resolved alerts yet.", "Alerts move here once their condition ends."),
  }).el;
}

/** The rule's name; for dead letters a link to that group's dead letters. */
function rule(a) {
  const name = RULES[a.rule] ?? a.rule;
  if (a.rule !== "dead_letters" || !a.groupId) return name;
  const q = new URLSearchParams({ topicName: a.topicName, groupId: a.groupId });
  return h("a", { href: `#/dead-letters?${q}`, title: "Show these dead letters" }, name);
}

function subject(a) {
  const topic = topicLink(a.topicName);
  return a.groupId ? h("span", {}, topic, " / ", a.groupId) : topic;
}

/** The measured value against the threshold it crossed, in the rule's unit. */
function valueAndThreshold(a) {
  if (a.rule === "consumer_lag") return `${fmtDuration(a.value)} > ${fmtDuration(a.threshold)}`;
  const unit = UNITS[a.rule] ?? "";
  return `${fmtCount(a.value)} > ${fmtCount(a.threshold)}${unit ? ` ${unit}` : ""}`;
}

const UNITS = { backlog: "messages", dead_letters: "dead letters", no_consumer: "undelivered" };
