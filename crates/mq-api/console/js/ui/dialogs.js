// Modal dialogs on native <dialog>: showModal makes the rest of the page inert (the focus stays
// inside), Esc cancels, and the focus goes back to the control that opened the dialog. Toasts
// stay above the newest dialog (feedback.js).

import { ApiError } from "../api.js";
import { h, nextId } from "./dom.js";
import { errorText, raiseToasts } from "./feedback.js";
import { field, readControls } from "./forms.js";

function openDialog({ title, className = "", body, actions, form = false }) {
  const titleId = nextId("dlg-title");
  const opener = document.activeElement;
  const container = form ? "form" : "div";
  const dialog = h(
    "dialog",
    { class: ["dialog", className], "aria-labelledby": titleId },
    h(
      container,
      { class: "dialog-inner" },
      h(
        "div",
        { class: "dialog-head" },
        h("h2", { id: titleId }, title),
        h("button", {
          type: "button",
          class: "icon-btn dialog-x",
          "aria-label": "Close",
          onClick: () => dialog.close(""),
        }),
      ),
      h("div", { class: "dialog-body" }, body),
      actions ? h("div", { class: "dialog-actions" }, actions) : null,
    ),
  );
  dialog.addEventListener("close", () => {
    raiseToasts();
    dialog.remove();
    if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  raiseToasts();
  return dialog;
}

/** Asks for confirmation; resolves true only when the confirm button is pressed. */
export function confirmDialog({
  title,
  message,
  confirmLabel = "Confirm",
  cancelLabel = "Cancel",
  danger = false,
}) {
  return new Promise((resolve) => {
    let answer = false;
    const cancel = h("button", {
      type: "button",
      class: "btn btn-secondary",
      text: cancelLabel,
      onClick: () => dialog.close(),
    });
    const confirm = h("button", {
      type: "button",
      class: `btn ${danger ? "btn-danger" : "btn-primary"}`,
      text: confirmLabel,
      onClick: () => {
        answer = true;
        dialog.close();
      },
    });
    const body = message instanceof Node ? message : h("p", { text: message });
    const dialog = openDialog({ title, body, actions: [cancel, confirm], className: "dialog-confirm" });
    dialog.addEventListener("close", () => resolve(answer));
    (danger ? cancel : confirm).focus();
  });
}

/** A modal with arbitrary content (inspect panels, details); `title` is text or a Node.
 *  `actions`: [{label, value, kind}] buttons before "Close"; one closes the dialog and the promise
 *  resolves to its `value` (to null on Close or Esc). */
export function showDialog({ title, content, closeLabel = "Close", wide = false, actions = [] }) {
  return new Promise((resolve) => {
    let answer = null;
    const choose = (value) => {
      answer = value;
      dialog.close();
    };
    const buttons = actions.map((a) =>
      h("button", { type: "button", class: `btn btn-${a.kind || "secondary"}`, text: a.label, onClick: () => choose(a.value) }),
    );
    const close = h("button", { type: "button", class: "btn btn-secondary", text: closeLabel, onClick: () => choose(null) });
    const dialog = openDialog({
      title,
      body: content,
      actions: [...buttons, close],
      className: wide ? "dialog-wide" : "",
    });
    dialog.addEventListener("close", () => resolve(answer));
    close.focus();
  });
}

/** A form in a modal. `onSubmit(values)` may throw: its message is shown in the dialog (role=alert)
 *  and the dialog stays open. Resolves to onSubmit's result, or null when cancelled.
 *  A field may have `showIf(values) → bool` to show only while it holds. */
export function formDialog({ title, fields, submitLabel = "Save", cancelLabel = "Cancel", onSubmit }) {
  return new Promise((resolve) => {
    let result = null;
    const error = h("div", { class: "form-error", role: "alert", hidden: true });
    const submit = h("button", { type: "submit", class: "btn btn-primary", text: submitLabel });
    const cancel = h("button", {
      type: "button",
      class: "btn btn-secondary",
      text: cancelLabel,
      onClick: () => dialog.close(),
    });
    const controls = fields.map(field);
    const dialog = openDialog({
      title,
      body: [error, ...controls.map((c) => c.wrap)],
      actions: [cancel, submit],
      form: true,
      className: "dialog-form",
    });
    const form = dialog.querySelector("form");
    // Fields with `showIf(values)` show only while it holds (e.g. settings of one mode).
    const conditional = controls.filter((c) => c.spec.showIf);
    const showFields = () => {
      const values = readControls(controls);
      for (const c of conditional) c.wrap.hidden = !c.spec.showIf(values);
    };
    if (conditional.length) {
      form.addEventListener("change", showFields);
      showFields();
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      error.hidden = true;
      submit.disabled = true;
      form.setAttribute("aria-busy", "true");
      try {
        result = await onSubmit(readControls(controls));
        dialog.close();
      } catch (err) {
        error.textContent = errorText(err);
        error.hidden = false;
        focusInvalid(controls, err);
      } finally {
        submit.disabled = false;
        form.removeAttribute("aria-busy");
      }
    });
    dialog.addEventListener("close", () => resolve(result));
    const first = controls.find((c) => !c.input.disabled);
    if (first) first.input.focus();
  });
}

// When the API names the field ("partitions must be ...", "retryPolicy.maxRetries ..."), put the
// focus on it.
function focusInvalid(controls, err) {
  if (!(err instanceof ApiError)) return;
  const path = (err.message.match(/^[A-Za-z][\w.]*/) || [""])[0];
  const names = [path, path.split(".").pop()];
  const hit = controls.find((c) => names.includes(c.spec.name));
  if (hit) hit.input.focus();
}
