// Scheduled messages (#/scheduled): pick a topic, list its delayed messages that are not yet due
// (earliest first, "Load more" for the next page), cancel one or move it to another time.
//
// API: GET /topics (the choices), GET /topics/{name}/scheduled?limit&after,
// DELETE /messages/{messageId} (cancel), PUT /messages/{messageId}/schedule ({deliverAt} or
// {delaySeconds}). Deep link: #/scheduled?topicName=<topic>.

import { api, get } from "../api.js";
import { topicNames } from "../topic-actions.js";
import {
  button, confirmDialog, emptyState, errorState, field, fmtDuration, fmtTime, formDialog, h, intro, newestOnly,
  pageHeader, plural, replace, table, toast, toastError,
} from "../ui.js";

const PAGE_LIMIT = 100;
/** Due times further away than this are not watched (the page is rarely open that long). */
const MAX_WATCH_MS = 60 * 60 * 1000;

export async function render(root, ctx) {
  let topicName = ctx.query.topicName || ctx.query.topic;
  let items = [];
  let nextCursor = null;
  // Reloads the list when its earliest message falls due (it then leaves the schedule).
  let dueTimer = null;
  ctx.onDispose(() => clearTimeout(dueTimer));

  root.append(
    pageHeader("Scheduled"),
    intro(
      "Delayed messages wait here until they are due, then they are appended to their partition and delivered. Cancel one, or move it to another time.",
    ),
  );
  const topics = await topicNames();
  if (!topics.length) {
    root.append(
      emptyState(
        "No topics yet.",
        h("span", {}, "Create a topic on the ", h("a", { href: "#/topics" }, "Topics"), " page, then publish messages with a delay; they wait here until due."),
      ),
    );
    return;
  }
  if (!topics.includes(topicName)) {
    if (topicName) toast(`Topic "${topicName}" does not exist; showing "${topics[0]}".`, "info");
    topicName = topics[0];
  }
  const picker = field({ name: "topicName", label: "Topic", type: "select", value: topicName, options: topics.map((t) => ({ value: t })) });
  picker.input.addEventListener("change", () => {
    topicName = picker.input.value;
    loadFirst();
  });
  const summary = h("p", { class: "list-summary", "aria-live": "polite" });
  const list = h("div", { class: "list" });
  const moreBox = h("div", { class: "list-more" });
  root.append(
    h("div", { class: "toolbar" }, picker.wrap, button("Refresh", () => loadFirst(), { testId: "scheduled-refresh" })),
    summary,
    list,
    moreBox,
  );
  // The first page replaces the list, a next page (`after` its cursor) extends it.
  const load = newestOnly(
    async (after) => ({ after, page: await get(`/topics/${encodeURIComponent(topicName)}/scheduled`, { limit: PAGE_LIMIT, after }) }),
    ({ after, page }) => {
      list.removeAttribute("aria-busy");
      items = after ? items.concat(page.items) : page.items;
      nextCursor = page.nextCursor || null;
      draw();
    },
    (err) => {
      list.removeAttribute("aria-busy");
      toastError(err);
      if (nextCursor) return; // "Load more" failed: the list shown stays

      summary.textContent = "";
      replace(list, errorState(`Could not load the scheduled messages of "${topicName}".`, err));
      replace(moreBox);
    },
  );
  await loadFirst();

  function loadFirst() {
    items = [];
    nextCursor = null;
    return loadPage(undefined);
  }

  function loadPage(after) {
    list.setAttribute("aria-busy", "true");
    return load(after);
  }

  function draw() {
    clearTimeout(dueTimer);
    if (items.length) {
      const wait = Date.parse(items[0].deliverAt) - Date.now();
      // Past due but still listed: the server is about to move it; look again shortly.
      const delay = wait > 0 ? wait + 1000 : 5000;
      if (delay <= MAX_WATCH_MS) dueTimer = setTimeout(() => loadFirst(), delay);
    }
    const shown = items.length;
    summary.textContent = shown
      ? `${plural(shown, "scheduled message")}${nextCursor ? " shown, more to load" : ""} in "${topicName}"; the next is due ${fmtTime(items[0].deliverAt)}.`
      : "";
    // The listing carries no values yet; once the API adds `value` to its items it is shown.
    const withValues = items.some((m) => m.value !== undefined);
    const t = table({
      caption: `Scheduled messages of ${topicName}, earliest first`,
      columns: [
        { label: "Message id", value: (m) => m.messageId, className: "mono" },
        {
          label: "Due",
          value: (m) => h("span", { title: m.deliverAt }, fmtTime(m.deliverAt), h("span", { class: "muted" }, ` (${until(m.deliverAt)})`)),
        },
        { label: "Partition", value: (m) => String(m.partition), className: "num" },
        { label: "Key", value: (m) => m.key, className: "mono" },
        withValues ? { label: "Value", value: (m) => preview(m.value), className: "mono" } : null,
        {
          label: "Actions",
          className: "actions-col",
          value: (m) =>
            h(
              "div",
              { class: "row-actions" },
              button("Reschedule", () => reschedule(m), { testId: `reschedule-${m.messageId}` }),
              button("Cancel delivery", () => cancel(m), { testId: `cancel-${m.messageId}` }),
            ),
        },
      ].filter(Boolean),
      rows: items,
      rowKey: (m) => m.messageId,
      empty: emptyState(
        `No scheduled messages in "${topicName}".`,
        "Messages published with a delay (messageType \"delay\" with delaySeconds or deliverAt) wait here until they are due.",
      ),
    });
    replace(list, t.el);
    replace(moreBox, nextCursor ? button("Load more", () => loadPage(nextCursor), { testId: "scheduled-load-more" }) : null);
  }

  async function cancel(m) {
    const ok = await confirmDialog({
      title: "Cancel delivery",
      message: `Cancel message ${m.messageId} of topic "${topicName}", due ${fmtTime(m.deliverAt)}? It will never be delivered.`,
      confirmLabel: "Cancel delivery",
      cancelLabel: "Keep",
      danger: true,
    });
    if (!ok) return;
    try {
      await api("DELETE", `/messages/${encodeURIComponent(m.messageId)}`);
      toast(`Cancelled delivery of message ${m.messageId}`, "ok");
      items = items.filter((x) => x.messageId !== m.messageId);
      draw();
    } catch (err) {
      toastError(err);
      // It may have become due meanwhile: show what waits now.
      await loadFirst();
    }
  }

  async function reschedule(m) {
    const result = await formDialog({
      title: "Reschedule message",
      submitLabel: "Reschedule",
      fields: [
        {
          name: "deliverAt",
          label: "Deliver at",
          type: "datetime-local",
          value: "",
          help: `Now due ${fmtTime(m.deliverAt)}. Give a new time in your local time zone, or a delay below.`,
        },
        {
          name: "delaySeconds",
          label: "Delay (seconds)",
          type: "number",
          value: "",
          min: 0,
          placeholder: "e.g. 60",
          help: "Seconds from now; instead of a time.",
        },
      ],
      // ui.js gives the number as a number (null when empty) and the time as RFC 3339 UTC.
      // Both at once are passed on: the API's answer says to give one.
      onSubmit: async (values) => {
        const body = {};
        if (values.delaySeconds !== null) body.delaySeconds = values.delaySeconds;
        if (values.deliverAt) body.deliverAt = values.deliverAt;
        if (!Object.keys(body).length) throw new Error("Give a new time in Deliver at, or a delay in seconds.");
        return api("PUT", `/messages/${encodeURIComponent(m.messageId)}/schedule`, { body });
      },
    });
    if (!result) return;
    toast(`Rescheduled message ${m.messageId} to ${fmtTime(result.deliverAt)}`, "ok");
    await loadFirst();
  }
}

/** A value on one line, cut at 80 characters (the whole value in the tooltip). */
function preview(value) {
  const s = typeof value === "string" ? value : JSON.stringify(value);
  if (s === undefined) return "—";
  return h("span", { title: s }, s.length > 80 ? `${s.slice(0, 79)}…` : s);
}

/** "in 4 min 10 s" for a future time, "due now" once passed. */
function until(iso) {
  const ms = Date.parse(iso) - Date.now();
  if (!(ms > 0)) return "due now";
  return `in ${fmtDuration(ms)}`;
}
