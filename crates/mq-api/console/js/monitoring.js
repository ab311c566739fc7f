// Shared by the pages that show monitoring figures (overview, topic detail, alerts): the time
// ranges, the rate history as chart series, the rate tiles, sums over `GET /monitoring` figures
// and an alert's severity badge.

import { get } from "./api.js";
import { badge, fmtDuration, fmtRate, lineChart, toggleGroup } from "./ui.js";

/** The chart ranges `GET /monitoring/history` accepts, with their button labels. */
const RANGES = [
  { value: "5m", label: "5 min", words: "5 min" },
  { value: "1h", label: "1 h", words: "hour" },
  { value: "24h", label: "24 h", words: "24 hours" },
];

/** "last 5 min" / "last hour" / "last 24 hours". */
export function rangeWords(range) {
  const r = RANGES.find((x) => x.value === range);
  return `last ${r ? r.words : range}`;
}

/** The range buttons ("5 min", "1 h", "24 h", aria-pressed). */
export function rangeButtons(value, onChange) {
  return toggleGroup({ label: "Time range", options: RANGES, value, onChange });
}

/** `GET /monitoring/history` for all topics or one. */
export function fetchHistory(timeRange, topicName) {
  return get("/monitoring/history", { timeRange, topicName });
}

/** Publish and consume rate series of a history, for `lineChart`. */
function rateSeries(history) {
  const points = history ? history.points : [];
  const at = (p) => Date.parse(p.at);
  return [
    { name: "Published", className: "series-publish", points: points.map((p) => ({ t: at(p), v: p.publishRate })) },
    { name: "Consumed", className: "series-consume", points: points.map((p) => ({ t: at(p), v: p.consumeRate })) },
  ];
}

/** The "Publish and consume rate" chart; `.update(history)` redraws it. */
export function rateChart(history, label = "Publish and consume rate") {
  const chart = lineChart({ series: rateSeries(history), label, height: 200 });
  const update = chart.update;
  chart.update = (next) => update(rateSeries(next));
  return chart;
}

/** Sets the "Publish rate" and "Consume rate" tiles: the averages over the range `words` names
 *  ("last 5 min"), and in the hint the rate of the step under way (the history's last point). */
export function showRates(tiles, { publish, consume }, history, words) {
  const last = history && history.points.length ? history.points[history.points.length - 1] : null;
  const now = (rate) => (last ? ` · now ${fmtRate(rate)}` : "");
  tiles.publishRate.setValue(fmtRate(publish), `avg ${words}${now(last?.publishRate)}`);
  tiles.consumeRate.setValue(fmtRate(consume), `avg ${words}${now(last?.consumeRate)}`);
}

/** Sum of `key` over a list of objects (missing values count 0). */
export function sumBy(list, key) {
  return (list || []).reduce((total, item) => total + (Number(item[key]) || 0), 0);
}

/** A group's oldest-unconsumed age: "none waiting" when nothing waits. */
export function ageText(ms) {
  return ms === null || ms === undefined ? "none waiting" : fmtDuration(ms);
}

/** An alert's severity: "critical" in red, anything else ("warning") in amber. */
export function severityBadge(severity) {
  return badge(severity || "warning", severity === "critical" ? "danger" : "warn");
}
