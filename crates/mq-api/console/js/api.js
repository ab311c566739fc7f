// The console's only door to the REST API (`/api/v1/mq`): token handling, the `{code, message, data}`
// envelope, and one error type carrying the API's own message so pages can show it verbatim.

const BASE = "../api/v1/mq";
const TOKEN_KEY = "mq.console.token";

/** An API failure: `.status` is the HTTP status (0 when the server could not be reached),
 *  `.message` the API's message, meant to be shown to the user as is. */
export class ApiError extends Error {
  constructor(message, status, { retryAfter = null, code = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    /** Seconds from a 429's `Retry-After` header, else null. */
    this.retryAfter = retryAfter;
    /** The envelope's `code`, when the server sent one. */
    this.code = code;
  }
}

/** The admin token of this browser tab (session storage only: never in the URL or local storage). */
export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** `path` below `/api/v1/mq` plus a query object whose undefined, null and "" values are dropped. */
function apiUrl(path, query) {
  const url = new URL(BASE + path, document.baseURI);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    url.searchParams.set(key, String(value));
  }
  return url;
}

/** Calls the API and returns the envelope's `data`; throws `ApiError`. A 401 also tells the app
 *  (window event "mq:signed-out") so it can go back to the sign-in screen. */
export async function api(method, path, { query, body, signal } = {}) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, signal, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(apiUrl(path, query), init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError("Cannot reach the server. Check that mq-server is running.", 0);
  }
  const envelope = await readEnvelope(response);
  if (response.ok) return envelope ? envelope.data : null;
  throw failure(response, envelope);
}

export const get = (path, query) => api("GET", path, { query });

async function readEnvelope(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function failure(response, envelope) {
  const message =
    (envelope && typeof envelope.message === "string" && envelope.message) ||
    `${response.status} ${response.statusText || "request failed"}`.trim();
  const retry = Number(response.headers.get("Retry-After"));
  const error = new ApiError(message, response.status, {
    retryAfter: Number.isFinite(retry) && retry > 0 ? retry : null,
    code: envelope ? envelope.code ?? null : null,
  });
  if (response.status === 401) {
    window.dispatchEvent(new CustomEvent("mq:signed-out", { detail: { message } }));
  }
  return error;
}
