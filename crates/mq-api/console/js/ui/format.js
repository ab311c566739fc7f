// Formatting for people: times, durations, rates, counts, sizes, "—" for what is missing, and
// counted nouns.

export const pad = (n, w = 2) => String(n).padStart(w, "0");
export const ymd = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
export const hms = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;

function toDate(isoOrMs) {
  if (isoOrMs === undefined || isoOrMs === null || isoOrMs === "") return null;
  const d = isoOrMs instanceof Date ? isoOrMs : new Date(isoOrMs);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Local time "2026-11-27 09:14:22" (or "—"). */
export function fmtTime(isoOrMs) {
  const d = toDate(isoOrMs);
  return d ? `${ymd(d)} ${hms(d)}` : "—";
}

/** "12 s ago", "in 3 min", "just now" (or "—"). */
export function fmtAgo(isoOrMs) {
  const d = toDate(isoOrMs);
  if (!d) return "—";
  const diff = Date.now() - d.getTime();
  if (Math.abs(diff) < 1000) return "just now";
  const text = fmtDuration(Math.abs(diff), { coarse: true });
  return diff > 0 ? `${text} ago` : `in ${text}`;
}

/** "850 ms", "12.3 s", "4 min 12 s", "3 h 5 min", "2 d 4 h". */
export function fmtDuration(ms, { coarse = false } = {}) {
  if (ms === undefined || ms === null || !Number.isFinite(Number(ms))) return "—";
  ms = Math.max(0, Number(ms));
  if (ms < 1000) return coarse ? "1 s" : `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return coarse || s >= 10 ? `${Math.floor(s)} s` : `${Number(s.toFixed(1))} s`;
  const units = [
    [86400, "d"],
    [3600, "h"],
    [60, "min"],
    [1, "s"],
  ];
  const secs = Math.floor(s);
  for (let i = 0; i < units.length - 1; i += 1) {
    const [size, name] = units[i];
    if (secs >= size) {
      const [nextSize, nextName] = units[i + 1];
      const major = Math.floor(secs / size);
      const minor = Math.floor((secs % size) / nextSize);
      return minor && !coarse ? `${major} ${name} ${minor} ${nextName}` : `${major} ${name}`;
    }
  }
  return `${secs} s`;
}

/** Messages per second: "0/s", "0.017/s", "12.5/s", "1,234/s", "1.2M/s". */
export function fmtRate(perSec) {
  const v = Number(perSec);
  if (perSec === undefined || perSec === null || !Number.isFinite(v)) return "—";
  return `${fmtNumber(v)}/s`;
}

function fmtNumber(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a < 0.001) return v < 0 ? "-<0.001" : "<0.001";
  if (a < 1) return String(Number(v.toFixed(3)));
  if (a < 100) return String(Number(v.toFixed(1)));
  if (a < 1e6) return Math.round(v).toLocaleString("en-US");
  return `${Number((v / 1e6).toFixed(1))}M`;
}

/** Whole counts with thousands separators: "1,234" (or "—"). */
export function fmtCount(n) {
  if (n === undefined || n === null || n === "" || !Number.isFinite(Number(n))) return "—";
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: 0 });
}

/** "512 B", "1.5 KiB", "3.2 MiB". */
export function fmtBytes(n) {
  if (n === undefined || n === null || !Number.isFinite(Number(n))) return "—";
  let v = Number(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${Number(v.toFixed(1))} ${units[i]}`;
}

/** "—" for a missing value (undefined, null, ""); anything else as it is. */
export function orDash(value) {
  return value === undefined || value === null || value === "" ? "—" : value;
}

/** A count with its noun: "1 dead letter", "1,234 dead letters". */
export function plural(n, one, many = `${one}s`) {
  return `${fmtCount(n)} ${Number(n) === 1 ? one : many}`;
}
