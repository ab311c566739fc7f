// Audit log (#/audit): admin actions, failed authentications and refusals, newest first,
// filtered by actor, action and time, page by page.
//
// API: GET /audit-logs?actor&action&from&to&page&pageSize (actor and action match exactly).
// Deep link: #/audit?actor=..&action=..&from=<RFC 3339>&to=..

import { filteredList } from "../filtered-list.js";
import { badge, button, emptyState, fmtAgo, fmtTime, h, intro, pageHeader, table } from "../ui.js";

const PAGE_SIZE = 50;

const FILTER_FIELDS = [
  { name: "actor", label: "Actor", type: "text", placeholder: "e.g. admin, local", help: "A token's name" },
  { name: "action", label: "Action", type: "text", placeholder: "e.g. POST /topics", help: "Method and route" },
  { name: "from", label: "From", type: "datetime-local", help: "At or after" },
  { name: "to", label: "To", type: "datetime-local", help: "Before" },
];

export async function render(root, ctx) {
  const list = filteredList({
    path: "/audit-logs",
    pageSize: PAGE_SIZE,
    fields: FILTER_FIELDS,
    query: ctx.query,
    noun: ["record", "records"],
    describe: () => "match the filters",
    failTitle: "Could not load the audit log.",
    table: auditTable,
  });
  root.append(
    pageHeader("Audit log", button("Refresh", () => list.load(), { testId: "audit-refresh" })),
    intro(
      "Every admin action, failed sign-in and refused request, newest first. Actor and action match exactly.",
    ),
    ...list.el,
  );
  await list.load();
}

function auditTable(items, filtered) {
  return table({
    caption: "Audit records, newest first",
    columns: [
      { label: "Time", value: (x) => h("span", { title: fmtAgo(x.at) }, fmtTime(x.at)) },
      { label: "Actor", value: (x) => x.actor },
      { label: "Action", value: (x) => x.action, className: "mono" },
      { label: "Target", value: (x) => x.target, className: "wrap" },
      { label: "Outcome", value: (x) => outcomeBadge(x.outcome) },
      { label: "Status", value: (x) => String(x.status), className: "num mono" },
      { label: "Client", value: (x) => x.clientIp, className: "mono" },
    ],
    rows: items,
    rowKey: (x) => x.id,
    empty: filtered
      ? emptyState("No audit records match these filters.", "Actor and action must match exactly (e.g. \"POST /topics\"); press Reset to see every record.")
      : emptyState("No audit records yet.", "Admin actions such as creating a topic or retrying dead letters, failed sign-ins and refused requests are recorded here."),
  }).el;
}

function outcomeBadge(outcome) {
  const kind = outcome === "ok" ? "ok" : outcome === "denied" ? "warn" : "danger";
  return badge(outcome, kind);
}
