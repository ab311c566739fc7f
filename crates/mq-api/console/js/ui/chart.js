// The line chart: SVG drawn at the container's real width so text stays crisp, with a legend,
// round axis ticks and a hover read-out.

import { h, replace, svg } from "./dom.js";
import { fmtRate, fmtTime, hms, pad } from "./format.js";

const CHART_PAD = { top: 12, right: 16, bottom: 26, left: 56 };

/** A time-series line chart. series: [{name, className, points: [{t: ms, v}]}]. The node has
 *  `.update(series)`. role=img with aria-label = label plus the latest values. */
export function lineChart({ series, height = 180, yFormat = fmtRate, label }) {
  const svgEl = svg("svg", { class: "chart-svg", role: "img", height, preserveAspectRatio: "none" });
  const tip = h("div", { class: "chart-tip", hidden: true });
  const legend = h("ul", { class: "chart-legend" });
  const plot = h("div", { class: "chart-plot" }, svgEl, tip);
  const el = h("figure", { class: "chart" }, plot, legend);
  let current = series;
  let width = 640;

  const draw = () => {
    svgEl.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svgEl.setAttribute("width", width);
    svgEl.setAttribute("aria-label", chartLabel(label, current, yFormat));
    replace(svgEl, chartBody(current, width, height, yFormat));
    replace(legend, current.map((s) => legendItem(s, yFormat)));
  };
  el.update = (next) => {
    current = next;
    draw();
  };
  const observer = new ResizeObserver((entries) => {
    if (!el.isConnected) return observer.disconnect();
    const w = Math.floor(entries[0].contentRect.width);
    if (w > 0 && w !== width) {
      width = w;
      draw();
    }
  });
  observer.observe(plot);
  attachHover(plot, svgEl, tip, () => ({ series: current, width, height, yFormat }));
  draw();
  return el;
}

function chartLabel(label, series, yFormat) {
  const latest = series.map((s) => `${s.name} ${yFormat(lastValue(s))}`).join(", ");
  return latest ? `${label}. Latest: ${latest}` : label;
}

function lastValue(s) {
  return s.points.length ? s.points[s.points.length - 1].v : null;
}

function legendItem(s, yFormat) {
  return h(
    "li",
    { class: s.className },
    h("span", { class: "swatch", "aria-hidden": "true" }),
    `${s.name} `,
    h("strong", { text: yFormat(lastValue(s)) }),
  );
}

function chartScales(series, width, height) {
  const all = series.flatMap((s) => s.points);
  const ts = all.map((p) => p.t);
  const t0 = Math.min(...ts);
  const t1 = Math.max(...ts);
  const { yMax, yStep } = yAxis(Math.max(0, ...all.map((p) => p.v)));
  const w = width - CHART_PAD.left - CHART_PAD.right;
  const hgt = height - CHART_PAD.top - CHART_PAD.bottom;
  const x = (t) => CHART_PAD.left + (t1 === t0 ? w : ((t - t0) / (t1 - t0)) * w);
  const y = (v) => CHART_PAD.top + hgt - (v / yMax) * hgt;
  return { t0, t1, yMax, yStep, x, y, w, hgt };
}

// Up to 4 steps of 1, 2 or 5 × 10^k, so tick labels stay round.
function yAxis(max) {
  if (max <= 0) return { yMax: 1, yStep: 0.25 };
  const raw = max / 4;
  const exp = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / exp;
  const yStep = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * exp;
  return { yMax: yStep * Math.ceil(max / yStep - 1e-9), yStep };
}

function chartBody(series, width, height, yFormat) {
  if (!series.some((s) => s.points.length)) {
    return svg("text", { x: width / 2, y: height / 2, class: "chart-empty", "text-anchor": "middle" }, "No data yet");
  }
  const sc = chartScales(series, width, height);
  const yTicks = [];
  for (let i = 0; i * sc.yStep <= sc.yMax * (1 + 1e-9); i += 1) yTicks.push(i * sc.yStep);
  const grid = yTicks.map((v) =>
    svg(
      "g",
      { class: "chart-grid" },
      svg("line", { x1: CHART_PAD.left, x2: width - CHART_PAD.right, y1: sc.y(v), y2: sc.y(v) }),
      svg("text", { x: CHART_PAD.left - 6, y: sc.y(v) + 4, "text-anchor": "end" }, yFormat(v)),
    ),
  );
  const xTicks = timeTicks(sc.t0, sc.t1, Math.max(3, Math.floor(sc.w / 120)));
  const xStep = xTicks.length > 1 ? xTicks[1] - xTicks[0] : 60000;
  const anchor = (x) => (x > width - CHART_PAD.right - 24 ? "end" : "middle");
  const axis = xTicks.map((t) =>
    svg("text", { class: "chart-axis", x: sc.x(t), y: height - 8, "text-anchor": anchor(sc.x(t)) }, tickLabel(t, xStep)),
  );
  const lines = series.map((s) => seriesPath(s, sc));
  const guide = svg("line", { class: "chart-guide", x1: 0, x2: 0, y1: CHART_PAD.top, y2: height - CHART_PAD.bottom, visibility: "hidden" });
  return [...grid, ...axis, ...lines, guide];
}

function seriesPath(s, sc) {
  if (s.points.length === 1) {
    const p = s.points[0];
    return svg("circle", { class: `chart-dot ${s.className || ""}`, cx: sc.x(p.t), cy: sc.y(p.v), r: 3 });
  }
  const d = s.points.map((p, i) => `${i ? "L" : "M"}${sc.x(p.t).toFixed(1)},${sc.y(p.v).toFixed(1)}`).join("");
  const base = sc.y(0).toFixed(1);
  const first = sc.x(s.points[0].t).toFixed(1);
  const last = sc.x(s.points[s.points.length - 1].t).toFixed(1);
  return svg(
    "g",
    { class: `chart-series ${s.className || ""}` },
    svg("path", { class: "chart-area", d: `${d}L${last},${base}L${first},${base}Z` }),
    svg("path", { class: "chart-line", d, fill: "none" }),
  );
}

const TICK_STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map(
  (s) => s * 1000,
);

function timeTicks(t0, t1, count) {
  if (t1 <= t0) return [t0];
  const span = t1 - t0;
  const step = TICK_STEPS.find((s) => span / s <= count) || TICK_STEPS[TICK_STEPS.length - 1];
  const ticks = [];
  // Align to local clock boundaries so labels read 09:15, 09:20...
  const offset = new Date(t0).getTimezoneOffset() * 60000;
  for (let t = Math.ceil((t0 - offset) / step) * step + offset; t <= t1; t += step) ticks.push(t);
  return ticks;
}

function tickLabel(t, step) {
  const d = new Date(t);
  if (step < 60000) return hms(d);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function attachHover(plot, svgEl, tip, state) {
  const hide = () => {
    tip.hidden = true;
    const guide = svgEl.querySelector(".chart-guide");
    if (guide) guide.setAttribute("visibility", "hidden");
  };
  plot.addEventListener("pointerleave", hide);
  plot.addEventListener("pointermove", (event) => {
    const { series, width, height, yFormat } = state();
    const pts = series[0] && series[0].points;
    if (!pts || !pts.length) return hide();
    const rect = svgEl.getBoundingClientRect();
    const px = ((event.clientX - rect.left) / rect.width) * width;
    const sc = chartScales(series, width, height);
    let best = 0;
    pts.forEach((p, i) => {
      if (Math.abs(sc.x(p.t) - px) < Math.abs(sc.x(pts[best].t) - px)) best = i;
    });
    const t = pts[best].t;
    const guide = svgEl.querySelector(".chart-guide");
    if (guide) {
      guide.setAttribute("x1", sc.x(t));
      guide.setAttribute("x2", sc.x(t));
      guide.setAttribute("visibility", "visible");
    }
    replace(
      tip,
      h("div", { class: "chart-tip-time", text: fmtTime(t) }),
      series.map((s) => {
        const p = s.points.find((q) => q.t === t);
        return h("div", { class: s.className }, h("span", { class: "swatch" }), `${s.name}: ${yFormat(p ? p.v : null)}`);
      }),
    );
    tip.hidden = false;
    const left = (sc.x(t) / width) * rect.width;
    tip.style.left = `${Math.min(Math.max(left + 12, 0), rect.width - tip.offsetWidth - 4)}px`;
  });
}
