// Feedback: toasts, the live/stale status of polled views, and polling itself.

import { h } from "./dom.js";
import { hms } from "./format.js";

// The toast region is a manual popover, so that it is in the top layer with the modal dialogs.
// While a modal dialog is open everything outside it is inert, so the region then moves into the
// newest open dialog (still drawn on top of it, but usable); `raiseToasts` puts it back on top
// whenever a toast or a dialog comes or a dialog goes.
function toastRegion() {
  let region = document.getElementById("toasts");
  if (!region) {
    region = h("div", { id: "toasts", class: "toasts", popover: "manual" });
    document.body.append(region);
  }
  return region;
}

/** Moves the toast region above the newest open dialog (or back to <body> once none is open).
 *  Dialogs call it as they open and close; a new toast only needs it shown (`ifHidden`). */
export function raiseToasts({ ifHidden = false } = {}) {
  const region = document.getElementById("toasts");
  if (!region) return;
  const dialogs = document.querySelectorAll("dialog[open]");
  const home = dialogs.length ? dialogs[dialogs.length - 1] : document.body;
  if (region.parentElement !== home) home.append(region);
  if (typeof region.showPopover !== "function") return;
  const open = region.matches(":popover-open");
  if (open && ifHidden) return;
  if (open) region.hidePopover();
  region.showPopover();
}

/** A transient message. "error" toasts use role=alert and stay ~8 s; "ok"/"info" use role=status. */
export function toast(message, kind = "error") {
  const text = message instanceof Error ? message.message : String(message);
  const el = h(
    "div",
    { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: "toast-text", text }),
    h("button", {
      type: "button",
      class: "toast-close",
      "aria-label": "Dismiss",
      onClick: () => el.remove(),
    }),
  );
  toastRegion().append(el);
  raiseToasts({ ifHidden: true });
  let timer = setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
  // Keep it while the pointer or focus is on it, so it can be read or dismissed.
  const hold = () => clearTimeout(timer);
  const release = () => {
    clearTimeout(timer);
    timer = setTimeout(() => el.remove(), 3000);
  };
  el.addEventListener("mouseenter", hold);
  el.addEventListener("focusin", hold);
  el.addEventListener("mouseleave", release);
  el.addEventListener("focusout", release);
  return el;
}

/** Shows `err` as an error toast (the API's message for ApiError), ignoring aborted requests. */
export function toastError(err) {
  if (err && err.name === "AbortError") return;
  toast(errorText(err), "error");
}

/** An error's message for people; a 429 says when to try again. */
export function errorText(err) {
  const text = err instanceof Error ? err.message : String(err);
  return err && err.retryAfter ? `${text} (try again in ${err.retryAfter} s)` : text;
}

/** "Live · updated 09:14:22" / "Update failed: … Retrying." for polled views:
 *  `.ok()` after each successful refresh, `.failed(err)` after a failed one. */
export function liveStatus(everySecs = 5) {
  const el = h("span", { class: "muted live-status", "aria-live": "polite" });
  el.ok = () => {
    el.textContent = `Live · updated ${hms(new Date())}`;
    el.classList.remove("stale");
  };
  el.failed = (err) => {
    el.textContent = `Update failed: ${errorText(err).replace(/\.$/, "")}. Retrying every ${everySecs} s.`;
    el.classList.add("stale");
  };
  return el;
}

/** Runs `fn` every `ms` (not overlapping, paused while the tab is hidden) until `onDispose` fires.
 *  Does not run immediately: call `fn` yourself for the first load. Errors go to `onError`;
 *  without one, a failure is toasted once (not on every tick) until a run succeeds again. */
export function every(ms, fn, onDispose, onError) {
  let timer = null;
  let stopped = false;
  let lastError = null;
  const failed = (err) => {
    if (onError) return onError(err);
    if (errorText(err) !== lastError) toastError(err);
    lastError = errorText(err);
  };
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await fn();
        lastError = null;
      } catch (err) {
        failed(err);
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  onDispose(() => {
    stopped = true;
    clearTimeout(timer);
  });
}

/** `fetch` then `apply(result)`, where only the newest call applies: an older answer that arrives
 *  after a newer one (a poll racing a search) is dropped, and so is an older failure. The
 *  newest failure goes to `fail(err)` when given, else to the caller. */
export function newestOnly(fetch, apply, fail) {
  let seq = 0;
  return async (...args) => {
    seq += 1;
    const mine = seq;
    let result;
    try {
      result = await fetch(...args);
    } catch (err) {
      if (mine !== seq) return undefined;
      if (fail) return fail(err);
      throw err;
    }
    return mine === seq ? apply(result) : undefined;
  };
}

/** A live view: loads now (a failure is toasted and shown by `status`, a `liveStatus`), then
 *  every `ms` until the page is left (failures then only show in `status`). */
export async function keepLive(ms, load, status, onDispose) {
  await load().catch((err) => {
    toastError(err);
    status.failed(err);
  });
  every(ms, load, onDispose, status.failed);
}
