// Dead letters (#/dead-letters): filter by topic, group and failure time, page through them,
// inspect one (content, failure reason, attempt history), retry the selected ones or all that
// match, purge all that match. Every destructive action is confirmed with the count and filters.
//
// API: GET /dead-letters?topicName&groupId&from&to&page&pageSize, GET /dead-letters/{id},
// POST /dead-letters/retry ({ids} or {topicName, groupId, from, to}), DELETE /dead-letters/{id},
// DELETE /dead-letters?topicName&groupId&from&to[&all=true].
// Deep links: #/dead-letters?topicName=..&groupId=..&from=<RFC 3339>&to=..&id=<dead letter to open>.

import { api, get } from "../api.js";
import { filteredList } from "../filtered-list.js";
import {
  badge, button, confirmDialog, emptyState, fmtAgo, fmtBytes, fmtCount, fmtTime, h, intro, jsonView,
  keyValues, mono, orDash, pageHeader, plural, showDialog, table, toast, toastError,
} from "../ui.js";
import { topicLink } from "../topic-actions.js";

const PAGE_SIZE = 20;
/** Most ids one POST /dead-letters/retry takes. */
const RETRY_CHUNK = 1000;
/** Most dead letters "Retry all matching" sends back by id (the API's group retry has the same cap). */
const RETRY_ALL_MAX = 100000;
/** Page size when collecting the ids of every matching dead letter (the API's maximum). */
const COLLECT_PAGE = 1000;

const FILTER_FIELDS = [
  { name: "topicName", label: "Topic", type: "text", placeholder: "any topic", help: "Exact topic name" },
  { name: "groupId", label: "Group", type: "text", placeholder: "any group", help: "Exact group id" },
  { name: "from", label: "From", type: "datetime-local", help: "Failed at or after" },
  { name: "to", label: "To", type: "datetime-local", help: "Failed before" },
];

export async function render(root, ctx) {
  let listTable = null;
  const selectionNote = h("span", { class: "list-selection" });
  const list = filteredList({
    path: "/dead-letters",
    pageSize: PAGE_SIZE,
    fields: FILTER_FIELDS,
    query: ctx.query,
    noun: ["dead letter", "dead letters"],
    describe: (f) => `matching ${describe(f)}`,
    failTitle: "Could not load dead letters.",
    aside: selectionNote,
    table: (items, filtered) => {
      selectionNote.textContent = "";
      listTable = letterTable(items, filtered);
      return listTable.el;
    },
  });

  root.append(
    pageHeader(
      "Dead letters",
      button("Retry selected", retrySelected, { kind: "primary", testId: "retry-selected" }),
      button("Retry all matching", retryAllMatching, { testId: "retry-all-matching" }),
      button("Purge matching", purgeMatching, { kind: "danger", testId: "purge-matching" }),
    ),
    intro(
      "Messages a consumer group gave up on once its retry policy ran out. Inspect them, send them back to their group, or purge them.",
    ),
    ...list.el,
  );

  await list.load();
  if (ctx.query.id) await inspect(ctx.query.id).catch(toastError);

  function letterTable(items, filtered) {
    return table({
      caption: "Dead letters, newest first",
      columns: columns(),
      rows: items,
      rowKey: (row) => row.id,
      selectable: true,
      onSelectionChange: (rows) => {
        selectionNote.textContent = rows.length ? `${rows.length} selected` : "";
      },
      empty: filtered
        ? emptyState("No dead letters match these filters.", "Change the filters, or press Reset to see every dead letter.")
        : emptyState("No dead letters.", "Messages land here after a consumer group gives up on them."),
    });
  }

  function columns() {
    return [
      { label: "Failed", value: (row) => h("span", { title: fmtTime(row.failedAt) }, fmtAgo(row.failedAt)) },
      { label: "Topic", value: (row) => topicLink(row.originalTopicName) },
      { label: "Group", value: (row) => row.consumerGroupId },
      { label: "Partition:offset", value: (row) => mono(`${row.partition}:${row.offset}`), className: "num" },
      { label: "Key", value: (row) => row.messageKey, className: "mono" },
      { label: "Failure reason", value: (row) => row.failureReason, className: "wrap" },
      { label: "Retries", value: (row) => String(row.retryCount), className: "num" },
      { label: "Status", value: (row) => statusBadge(row.status) },
      {
        label: "Actions",
        value: (row) => h("div", { class: "row-actions" }, button("Inspect", () => inspect(row.id), { testId: `inspect-${row.id}` })),
        className: "actions-col",
      },
    ];
  }

  // Runs `action` and reloads the list, whether it worked or not; its failure is toasted.
  async function thenReload(action) {
    try {
      await action();
    } catch (err) {
      toastError(err);
    }
    await list.load();
  }

  async function retrySelected() {
    const rows = listTable ? listTable.selected() : [];
    if (!rows.length) {
      toast("Select the dead letters to retry first: tick their checkboxes.", "info");
      return;
    }
    const n = rows.length;
    const ok = await confirmDialog({
      title: `Retry ${plural(n, "dead letter")}`,
      message: `Send ${plural(n, "selected dead letter")} back to ${groupsOf(rows)} for redelivery?`,
      confirmLabel: "Retry",
    });
    if (ok) await thenReload(async () => reportRetry(await retryIds(rows.map((r) => r.id))));
  }

  // The number of dead letters the filter matches now, or null (after saying so) when there are
  // none to `verb`.
  async function matchingTotal(verb) {
    const { total } = await get("/dead-letters", { ...list.filter(), page: 1, pageSize: 1 });
    if (total > 0) return total;
    toast(list.filtered() ? `No dead letters match the filters: nothing to ${verb}.` : `There are no dead letters to ${verb}.`, "info");
    await list.load();
    return null;
  }

  async function retryAllMatching() {
    const filter = list.filter();
    const total = await matchingTotal("retry");
    if (total === null) return;
    const byGroup = Boolean(filter.topicName && filter.groupId);
    if (!byGroup && total > RETRY_ALL_MAX) {
      toast(`${fmtCount(total)} dead letters match; at most ${fmtCount(RETRY_ALL_MAX)} can be retried at once. Filter by topic and group, or by time.`);
      return;
    }
    const ok = await confirmDialog({
      title: "Retry all matching",
      message: list.filtered()
        ? `Send ${allOf(total)} matching ${describe(filter)} back to their consumer group for redelivery?`
        : `Send ${allOf(total)} of every topic and group back to their consumer groups for redelivery?`,
      confirmLabel: "Retry",
    });
    if (!ok) return;
    // The API retries "all of a filter" only for one topic and group; otherwise the ids of every
    // match are collected and sent in chunks.
    await thenReload(async () =>
      byGroup
        ? reportRetry(await api("POST", "/dead-letters/retry", { body: filter }))
        : retryInChunks(await collectIds(filter, total)),
    );
  }

  async function purgeMatching() {
    const filter = list.filter();
    const total = await matchingTotal("purge");
    if (total === null) return;
    const all = !list.filtered();
    const ok = await confirmDialog({
      title: "Purge dead letters",
      message: all
        ? `Permanently delete ${allOf(total)} of every topic and group? They cannot be retried afterwards.`
        : `Permanently delete ${plural(total, "dead letter")} matching ${describe(filter)}? They cannot be retried afterwards.`,
      confirmLabel: "Purge",
      danger: true,
    });
    if (!ok) return;
    await thenReload(async () => {
      const out = await api("DELETE", "/dead-letters", { query: { ...filter, all: all ? "true" : undefined } });
      toast(`Purged ${plural(out.deleted, "dead letter")}`, "ok");
    });
  }

  async function inspect(id) {
    const dl = await get(`/dead-letters/${encodeURIComponent(id)}`);
    if (!root.isConnected) return; // the page was left meanwhile
    const choice = await showDialog({
      title: h("span", {}, "Dead letter ", h("code", {}, dl.id)),
      content: inspectBody(dl),
      wide: true,
      actions: [
        { label: "Retry this dead letter", value: "retry", kind: "primary" },
        { label: "Delete", value: "delete", kind: "danger" },
      ],
    });
    if (choice === "retry") await retryOne(dl);
    if (choice === "delete") await deleteOne(dl);
  }

  async function retryOne(dl) {
    const ok = await confirmDialog({
      title: "Retry 1 dead letter",
      message: `Send dead letter ${dl.id} (message ${dl.originalMessageId}) back to group "${dl.consumerGroupId}" of topic "${dl.originalTopicName}" for redelivery?`,
      confirmLabel: "Retry",
    });
    if (ok) await thenReload(async () => reportRetry(await retryIds([dl.id])));
  }

  async function deleteOne(dl) {
    const ok = await confirmDialog({
      title: "Delete 1 dead letter",
      message: `Permanently delete dead letter ${dl.id} (message ${dl.originalMessageId} of topic "${dl.originalTopicName}")? It cannot be retried afterwards.`,
      confirmLabel: "Delete",
      danger: true,
    });
    if (!ok) return;
    await thenReload(async () => {
      const out = await api("DELETE", `/dead-letters/${encodeURIComponent(dl.id)}`);
      toast(`Deleted ${plural(out.deleted ?? 1, "dead letter")}`, "ok");
    });
  }
}

function retryIds(ids) {
  return api("POST", "/dead-letters/retry", { body: { ids } });
}

// Sends `ids` back in chunks the API takes; what went back before a failure is reported too.
async function retryInChunks(ids) {
  if (ids.length > RETRY_CHUNK) toast(`Retrying ${plural(ids.length, "dead letter")}…`, "info");
  const sum = { retried: 0, alreadyRetried: 0, notFound: [], failed: [] };
  try {
    for (let i = 0; i < ids.length; i += RETRY_CHUNK) {
      const out = await retryIds(ids.slice(i, i + RETRY_CHUNK));
      sum.retried += out.retried || 0;
      sum.alreadyRetried += out.alreadyRetried || 0;
      sum.notFound.push(...(out.notFound || []));
      sum.failed.push(...(out.failed || []));
      if (out.lastDueAt) sum.lastDueAt = out.lastDueAt;
    }
  } finally {
    if (sum.retried || sum.alreadyRetried || sum.failed.length) reportRetry(sum);
  }
}

async function collectIds(filter, total) {
  const ids = new Set();
  for (let p = 1; ids.size < total && p <= Math.ceil(RETRY_ALL_MAX / COLLECT_PAGE); p += 1) {
    const data = await get("/dead-letters", { ...filter, page: p, pageSize: COLLECT_PAGE });
    for (const item of data.items) ids.add(item.id);
    if (data.items.length < COLLECT_PAGE) break;
  }
  return [...ids];
}

/** Says what a filter selects, for confirmations and the summary line. */
function describe(f) {
  const parts = [];
  if (f.topicName) parts.push(`topic "${f.topicName}"`);
  if (f.groupId) parts.push(`group "${f.groupId}"`);
  if (f.from) parts.push(`failed from ${fmtTime(f.from)}`);
  if (f.to) parts.push(`failed before ${fmtTime(f.to)}`);
  return parts.length ? parts.join(", ") : "no filter";
}

/** "the 1 dead letter", "all 5 dead letters". */
function allOf(n) {
  return n === 1 ? "the 1 dead letter" : `all ${fmtCount(n)} dead letters`;
}

/** `group "g" of topic "t"`, or "their consumer groups" for several. */
function groupsOf(rows) {
  const keys = new Set(rows.map((r) => `${r.originalTopicName}\u0000${r.consumerGroupId}`));
  if (keys.size !== 1) return "their consumer groups";
  const r = rows[0];
  return `group "${r.consumerGroupId}" of topic "${r.originalTopicName}"`;
}

function reportRetry(out) {
  const failed = out.failed || [];
  const notFound = out.notFound || [];
  const parts = [`Retried ${plural(out.retried || 0, "dead letter")}`];
  if (out.alreadyRetried) parts.push(`${out.alreadyRetried} already retried`);
  if (notFound.length) parts.push(`${notFound.length} not found (retried or purged meanwhile)`);
  if (failed.length) parts.push(`${failed.length} could not go back: ${failed[0].reason}`);
  if (out.lastDueAt && Date.parse(out.lastDueAt) > Date.now() + 1000) parts.push(`the last is redelivered at ${fmtTime(out.lastDueAt)}`);
  toast(parts.join("; "), failed.length ? "error" : "ok");
}

function statusBadge(status) {
  return status === "retrying" ? badge("retrying", "warn") : badge(status || "dead", "danger");
}

function inspectBody(dl) {
  const headers = Object.entries(dl.headers || {});
  return h(
    "div",
    { class: "inspect" },
    keyValues([
      ["Topic", topicLink(dl.originalTopicName)],
      ["Group", dl.consumerGroupId],
      ["Message id", mono(dl.originalMessageId)],
      ["Partition", mono(dl.partition)],
      ["Offset", mono(dl.offset)],
      ["Key", mono(dl.messageKey)],
      ["Published", dl.publishedAt ? `${fmtTime(dl.publishedAt)} (${fmtAgo(dl.publishedAt)})` : "—"],
      ["Failed", `${fmtTime(dl.failedAt)} (${fmtAgo(dl.failedAt)})`],
      ["Stored", fmtTime(dl.createdAt)],
      ["Retries", String(dl.retryCount)],
      [
        "Status",
        h(
          "span",
          {},
          statusBadge(dl.status),
          " ",
          dl.status === "retrying"
            ? "A retry is under way: the message is being sent back to its group."
            : "Waiting: retry it to send it back to its group.",
        ),
      ],
    ]),
    h("h3", {}, "Failure reason"),
    h("p", { class: "failure-reason" }, orDash(dl.failureReason)),
    h("h3", {}, "Content"),
    contentView(dl),
    h("h3", {}, "Headers"),
    headers.length
      ? table({
          columns: [
            { label: "Name", value: ([k]) => k, className: "mono" },
            { label: "Value", value: ([, v]) => v, className: "wrap" },
          ],
          rows: headers,
          rowKey: ([k]) => k,
          empty: "No headers.",
        }).el
      : h("p", { class: "muted" }, "No headers."),
    h("h3", {}, "Attempts (oldest first)"),
    table({
      columns: [
        { label: "Delivery", value: (a) => String(a.delivery), className: "num" },
        { label: "Failed at", value: (a) => fmtTime(a.failedAt) },
        { label: "Consumer", value: (a) => a.consumerId, className: "mono" },
        { label: "Reason", value: (a) => a.reason, className: "wrap" },
      ],
      rows: dl.attempts || [],
      rowKey: (a) => String(a.delivery),
      empty: "No delivery attempts recorded.",
    }).el,
  );
}

/**
 * The message value: JSON as formatted JSON; text as text; base64 (`contentEncoding: base64`)
 * decoded when it is UTF-8 (and then as JSON when it parses), else shown as base64 with its size.
 */
function contentView(dl) {
  const c = dl.messageContent;
  if (dl.contentEncoding === "base64" && typeof c === "string") {
    const bytes = decodeBase64(c);
    if (bytes === null) return h("pre", { class: "json json-text" }, c);
    const decoded = utf8(bytes);
    if (decoded === null) {
      return h(
        "div",
        {},
        h("p", { class: "muted" }, `Binary content, ${fmtBytes(bytes.length)}, shown as base64.`),
        h("pre", { class: "json json-text" }, c),
      );
    }
    return jsonView(decoded);
  }
  return jsonView(c);
}

function decodeBase64(s) {
  try {
    const bin = atob(s);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i += 1) bytes[i] = bin.charCodeAt(i);
    return bytes;
  } catch {
    return null;
  }
}

function utf8(bytes) {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}
