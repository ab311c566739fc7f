// Topics seen from any page: their paths and links, and the dialogs of the topic list and the
// topic detail page (create, edit, delete, "Send test message"). Validation is left to the API
// so its messages show in the dialog as is.

import { api, get } from "./api.js";
import { choiceField, confirmDialog, fmtTime, formDialog, h, link, toast } from "./ui.js";

const HOUR_MS = 3600 * 1000;
const ENCRYPTION = "aes-256-gcm";

/** Encodes a topic name for a path segment. */
export const topicPath = (name) => `/topics/${encodeURIComponent(name)}`;
/** The console link of a topic. */
export const topicHref = (name) => `#/topics/${encodeURIComponent(name)}`;
/** A topic's name as a link to its page. */
export const topicLink = (name, attrs) => link(name, topicHref(name), attrs);

/** The names of the existing topics, sorted (for pickers). */
export async function topicNames() {
  const paged = await get("/topics", { pageSize: 1000 });
  return paged.items.filter((t) => t.status !== "deleted").map((t) => t.name).sort();
}

const hours = (ms) => Number((ms / HOUR_MS).toFixed(3));
const retentionMs = (h) => (h === null ? null : Math.round(h * HOUR_MS));

// The settings a topic is created with and edited by, with their values in the form's units.
function settingFields(values, partitionsHelp) {
  return [
    { name: "description", label: "Description", value: values.description, placeholder: "What flows through it" },
    { name: "partitions", label: "Partitions", type: "number", value: values.partitions, help: partitionsHelp },
    {
      name: "retentionHours",
      label: "Retention (hours)",
      type: "number",
      value: values.retentionHours,
      help: "How long messages are kept (168 = 7 days).",
    },
    {
      name: "maxMessageSize",
      label: "Max message size (bytes)",
      type: "number",
      value: values.maxMessageSize,
      help: "Largest value, up to 16 MiB (16777216).",
    },
  ];
}

/** Asks for a new topic and creates it; resolves to the created topic or null. */
export async function createTopic() {
  const created = await formDialog({
    title: "New topic",
    submitLabel: "Create",
    fields: [
      {
        name: "name",
        label: "Name",
        placeholder: "orders",
        help: "Letters, digits, '.', '_' and '-', starting with a letter or digit.",
      },
      ...settingFields(
        { partitions: 1, retentionHours: 168, maxMessageSize: 1048576 },
        "1 to 1024; can grow later, never shrink.",
      ),
      { name: "encrypted", label: "Encrypt values at rest (AES-256-GCM)", type: "checkbox", help: "Needs an encryption key in the server's config." },
    ],
    onSubmit: (v) =>
      api("POST", "/topics", {
        body: dropEmpty({
          name: v.name,
          description: v.description || undefined,
          partitions: v.partitions,
          retentionMs: retentionMs(v.retentionHours),
          maxMessageSize: v.maxMessageSize,
          config: v.encrypted ? { encryption: ENCRYPTION } : undefined,
        }),
      }),
  });
  if (created) toast(`Topic ${created.name} created`, "ok");
  return created;
}

/** Edits a topic's settings (only the changed fields are sent); resolves to the topic or null. */
export async function editTopic(topic) {
  const updated = await formDialog({
    title: `Edit ${topic.name}`,
    submitLabel: "Save",
    fields: [
      ...settingFields(
        { ...topic, retentionHours: hours(topic.retentionMs) },
        "Can grow, never shrink; groups get the new partitions.",
      ),
      choiceField("status", "Status", topic.status, {
        active: "Active: accepts and delivers messages",
        inactive: "Inactive: closed to producers",
      }),
    ],
    onSubmit: (v) => {
      const body = changes(topic, {
        description: v.description,
        partitions: v.partitions,
        retentionMs: retentionMs(v.retentionHours),
        maxMessageSize: v.maxMessageSize,
        status: v.status,
      });
      return api("PUT", topicPath(topic.name), { body });
    },
  });
  if (updated) toast(`Topic ${topic.name} updated`, "ok");
  return updated;
}

/** Confirms and deletes a topic; resolves true when deleted. */
export async function deleteTopic(name) {
  const ok = await confirmDialog({
    title: `Delete topic ${name}?`,
    message: h(
      "p",
      {},
      "This deletes ",
      h("strong", { text: name }),
      " with all its messages, scheduled messages and consumer groups. It cannot be undone.",
    ),
    confirmLabel: "Delete",
    danger: true,
  });
  if (!ok) return false;
  await api("DELETE", topicPath(name));
  toast(`Topic ${name} deleted`, "ok");
  return true;
}

/** The "Send test message" dialog; resolves to where the message landed, or null. */
export async function sendTestMessage(topicName) {
  const sent = await formDialog({
    title: "Send test message",
    submitLabel: "Send",
    fields: [
      { name: "key", label: "Key", placeholder: "optional: same key, same partition" },
      { name: "value", label: "Value (JSON)", type: "textarea", value: '{\n  "hello": "world"\n}' },
      { name: "headers", label: "Headers (JSON)", type: "textarea", rows: 3, placeholder: '{"source": "console"}', help: "An object of text values; optional." },
      { name: "delayMs", label: "Delay (ms)", type: "number", placeholder: "0", help: "Deliver later: the message waits in Scheduled until due." },
    ],
    onSubmit: (v) => api("POST", "/messages", { body: messageBody(topicName, v) }),
  });
  if (sent) {
    const where =
      sent.status === "scheduled"
        ? `scheduled for ${fmtTime(sent.deliverAt)}`
        : `partition ${sent.partition}, offset ${sent.offset}`;
    toast(`Message sent: ${sent.messageId} (${where})`, "ok");
  }
  return sent;
}

function messageBody(topicName, v) {
  const body = { topicName, value: parseJson("Value (JSON)", v.value, true) };
  if (v.key) body.key = v.key;
  const headers = parseJson("Headers (JSON)", v.headers, false);
  if (headers !== undefined) body.headers = headers;
  if (v.delayMs) {
    body.messageType = "delay";
    body.delaySeconds = v.delayMs / 1000;
  }
  return body;
}

function parseJson(label, text, required) {
  if (!text.trim()) {
    if (required) throw new Error(`${label}: enter a JSON value, e.g. {"id": 1} or "text"`);
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${label}: not valid JSON (${err.message})`);
  }
}

function dropEmpty(body) {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined && v !== null));
}

function changes(before, after) {
  return Object.fromEntries(
    Object.entries(after).filter(([k, v]) => v !== null && v !== undefined && v !== before[k]),
  );
}
