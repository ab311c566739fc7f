// Transactions (#/transactions): transactional (half) messages by topic and state, a details
// panel with the history timeline, and commit / rollback of prepared ones behind confirmations.
//
// API: GET /transactions?topicName&state&page&pageSize, GET /transactions/{id},
// POST /transactions/{id}/commit, POST /transactions/{id}/rollback.
// Deep link: #/transactions?topicName=..&state=prepared|committed|rolled_back&id=<to open>.

import { api, get } from "../api.js";
import { filteredList } from "../filtered-list.js";
import {
  badge, button, choiceField, confirmDialog, emptyState, fmtAgo, fmtDuration, fmtTime, h, intro, keyValues,
  mono, pageHeader, showDialog, table, toast, toastError,
} from "../ui.js";
import { topicLink } from "../topic-actions.js";

const PAGE_SIZE = 20;

/** Labels and badge kinds of the states and of the other history events. */
const KINDS = {
  prepared: ["Prepared", "warn"],
  committed: ["Committed", "ok"],
  rolled_back: ["Rolled back", "muted"],
  check: ["Check-back", "muted"],
  applied: ["Applied", "ok"],
};
const STATES = Object.fromEntries(["prepared", "committed", "rolled_back"].map((s) => [s, KINDS[s][0]]));

const FILTER_FIELDS = [
  { name: "topicName", label: "Topic", type: "text", placeholder: "any topic", help: "Exact topic name" },
  choiceField("state", "State", "", { "": "Any state", ...STATES }, { help: "Prepared ones await a decision" }),
];

export async function render(root, ctx) {
  const list = filteredList({
    path: "/transactions",
    pageSize: PAGE_SIZE,
    fields: FILTER_FIELDS,
    query: ctx.query,
    noun: ["transaction", "transactions"],
    describe,
    failTitle: "Could not load transactions.",
    table: (items, filtered) => transactionTable(items, filtered, { details, decide }),
  });
  root.append(
    pageHeader("Transactions", button("Refresh", () => list.load(), { testId: "transactions-refresh" })),
    intro(
      "A transactional message is held as a half message until its producer (or a check-back) commits it, which delivers it, or rolls it back, which discards it.",
    ),
    ...list.el,
  );

  await list.load();
  if (ctx.query.id) await details(ctx.query.id).catch(toastError);

  async function decide(x, action) {
    const commit = action === "commit";
    const ok = await confirmDialog({
      title: commit ? "Commit transaction" : "Roll back transaction",
      message: commit
        ? `Commit transaction ${x.transactionId} of topic "${x.topicName}"? Its message is appended to partition ${x.partition} and delivered to consumers.`
        : `Roll back transaction ${x.transactionId} of topic "${x.topicName}"? Its message is discarded and never delivered.`,
      confirmLabel: commit ? "Commit" : "Rollback",
      danger: !commit,
    });
    if (!ok) return;
    try {
      const out = await api("POST", `/transactions/${encodeURIComponent(x.transactionId)}/${action}`);
      toast(`${commit ? "Committed" : "Rolled back"} transaction ${out.transactionId}`, "ok");
    } catch (err) {
      toastError(err);
    }
    await list.load();
  }

  async function details(id) {
    const x = await get(`/transactions/${encodeURIComponent(id)}`);
    if (!root.isConnected) return; // the page was left meanwhile
    const prepared = x.state === "prepared";
    const choice = await showDialog({
      title: h("span", {}, "Transaction ", h("code", {}, x.transactionId)),
      content: detailsBody(x),
      wide: true,
      actions: prepared
        ? [
            { label: "Commit", value: "commit", kind: "primary" },
            { label: "Rollback", value: "rollback", kind: "danger" },
          ]
        : [],
    });
    if (choice) await decide(x, choice);
  }
}

/** 'with topic "x", state prepared'. */
function describe(filter) {
  const parts = [];
  if (filter.topicName) parts.push(`topic "${filter.topicName}"`);
  if (filter.state) parts.push(`state ${STATES[filter.state].toLowerCase()}`);
  return `with ${parts.join(", ")}`;
}

function transactionTable(items, filtered, { details, decide }) {
  const actions = (x) =>
    h(
      "div",
      { class: "row-actions" },
      button("Details", () => details(x.transactionId), { testId: `details-${x.transactionId}` }),
      x.state === "prepared" ? button("Commit", () => decide(x, "commit"), { testId: `commit-${x.transactionId}` }) : null,
      x.state === "prepared" ? button("Rollback", () => decide(x, "rollback"), { testId: `rollback-${x.transactionId}` }) : null,
    );
  return table({
    caption: "Transactions, newest first",
    columns: [
      { label: "Transaction id", value: (x) => x.transactionId, className: "mono" },
      { label: "Topic", value: (x) => topicLink(x.topicName) },
      { label: "Partition", value: (x) => String(x.partition), className: "num" },
      { label: "Key", value: (x) => x.key, className: "mono" },
      { label: "State", value: (x) => kindBadge(x.state) },
      { label: "Prepared", value: (x) => h("span", { title: fmtTime(x.createdAt) }, fmtAgo(x.createdAt)) },
      { label: "Actions", className: "actions-col", value: actions },
    ],
    rows: items,
    rowKey: (x) => x.transactionId,
    empty: filtered
      ? emptyState("No transactions match these filters.", "Change the filters, or press Reset to see every transaction.")
      : emptyState(
          "No transactions.",
          "Transactions appear here when a producer sends a message with messageType \"transaction\"; it stays prepared until committed or rolled back.",
        ),
  }).el;
}

/** A state's or history event's badge. */
function kindBadge(kind) {
  const [label, look] = KINDS[kind] ?? [String(kind), "muted"];
  return badge(label, look);
}

const DECIDERS = {
  producer: "A commit or rollback call",
  checkback: "A check-back (the producer's answer)",
  final_action: "The final action after the last check-back",
};

function detailsBody(x) {
  const headers = Object.entries(x.headers || {});
  return h(
    "div",
    { class: "inspect" },
    keyValues([
      ["State", kindBadge(x.state)],
      ["Topic", topicLink(x.topicName)],
      ["Partition", mono(x.partition)],
      ["Message id", mono(x.messageId)],
      ["Key", mono(x.key)],
      ["Producer", x.producerId],
      ["Prepared", `${fmtTime(x.createdAt)} (${fmtAgo(x.createdAt)})`],
      ["Last change", fmtTime(x.updatedAt)],
      ["Check-back after", fmtDuration(x.timeoutMs)],
      ["Check-back URL", mono(x.checkbackUrl)],
      x.state === "prepared" && ["Next check-back", fmtTime(x.checkAt)],
      ["Check-backs made", String(x.checkCount ?? 0)],
      ["Decided by", DECIDERS[x.decidedBy] ?? x.decidedBy],
      ["Reason", x.reason],
      ["Applied", applied(x)],
      ["Headers", headers.map(([k, v]) => `${k}: ${v}`).join(", ")],
    ]),
    h("h3", {}, "History"),
    timeline(x.history || []),
  );
}

/** Whether the decision has been carried out ("—" while none is taken). */
function applied(x) {
  if (x.state === "prepared") return "—";
  if (!x.applied) return "Not yet";
  if (x.state !== "committed") return "Yes, discarded";
  return x.offset === undefined || x.offset === null ? "Yes, appended" : `Yes, appended at offset ${x.offset}`;
}

function timeline(history) {
  if (!history.length) return h("p", { class: "muted" }, "No history recorded.");
  return h(
    "ol",
    { class: "timeline", "aria-label": "History, oldest first" },
    history.map((ev) =>
      h(
        "li",
        {},
        h("time", { datetime: ev.at }, fmtTime(ev.at)),
        " ",
        kindBadge(ev.kind),
        ev.detail ? h("span", { class: "timeline-detail" }, ev.detail) : null,
      ),
    ),
  );
}
