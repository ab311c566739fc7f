// The console's shell: sign-in, the header and sidebar, and a hash router that loads one page module
// at a time (`js/pages/<name>.js`, `export async function render(root, ctx)`) and disposes the
// previous page (its polling, its listeners) on every navigation.

import { ApiError, clearToken, get, getToken, setToken } from "./api.js";
import { errorState, h, plural, replace, svg, toastError } from "./ui.js";

// "Continue without token" in protected mode is remembered for this tab only, like the token.
const LOCAL_KEY = "mq.console.local";
const SERVICE_REFUSED = "This token has the service role; the console needs an admin token.";

const NAV = [
  { page: "overview", label: "Overview" },
  { page: "topics", label: "Topics" },
  { page: "groups", label: "Consumer groups" },
  { page: "dead-letters", label: "Dead letters" },
  { page: "scheduled", label: "Scheduled" },
  { page: "transactions", label: "Transactions" },
  { page: "alerts", label: "Alerts" },
  { page: "audit", label: "Audit log" },
];

// Route patterns → page module and parameter names; `nav` is the sidebar entry it belongs to.
const ROUTES = [
  ...NAV.map((n) => ({ pattern: new RegExp(`^/${n.page}$`), page: n.page, nav: n.page, params: [] })),
  { pattern: /^\/topics\/([^/]+)$/, page: "topic", nav: "topics", params: ["name"] },
];

const app = document.getElementById("app");
const state = { user: null, shell: null, current: null, seq: 0, alertTimer: null };
const ALERT_POLL_MS = 15000;
const REVEAL_MS = 400;

// ---------------------------------------------------------------------------------------------
// Start-up and sign-in

async function boot() {
  window.addEventListener("mq:signed-out", (event) => {
    if (!state.user) return; // sign-in screen probes whoami itself; nothing to undo
    const reason = event.detail?.message || "the token was refused";
    signOut(`Your session ended: ${reason}. Sign in again.`, { error: true });
  });
  // Only "#/..." hashes are routes; others (an in-page anchor) leave the page alone.
  window.addEventListener("hashchange", () => state.user && isRoute(location.hash) && route(true));
  if (getToken() || sessionStorage.getItem(LOCAL_KEY)) {
    try {
      const me = await get("/whoami");
      if (acceptable(me)) return enter(me);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) return showSignIn({ error: err.message });
    }
    forget();
  }
  showSignIn({});
}

// Only admins may use the console; protected mode (no token, loopback) counts as admin.
function acceptable(me) {
  return me && (me.role === "admin" || (me.protectedMode && !getToken()));
}

function forget() {
  clearToken();
  sessionStorage.removeItem(LOCAL_KEY);
}

function showSignIn({ error, notice }) {
  state.user = null;
  clearTimeout(state.alertTimer);
  disposeCurrent();
  document.title = "Sign in · mq console";
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
  });
  const errorBox = h("div", { class: "form-error", role: "alert", hidden: !error, text: error || "" });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", text: "Sign in" });
  const protectedBox = h("div", { class: "signin-protected", hidden: true });
  const form = h(
    "form",
    { class: "signin-form", onSubmit: (e) => signIn(e, input, errorBox, submit) },
    h("label", { for: "token", text: "Admin token" }),
    input,
    h("p", { class: "field-help", text: "Kept in this browser tab only (session storage), never in the URL." }),
    errorBox,
    submit,
  );
  replace(
    app,
    h(
      "main",
      { class: "signin" },
      h(
        "div",
        { class: "signin-card" },
        h("div", { class: "brand brand-large" }, logo(), h("span", { text: "mq console" })),
        h("h1", { text: "Sign in" }),
        notice ? h("p", { class: "signin-notice", role: "status", text: notice }) : null,
        form,
        protectedBox,
      ),
    ),
  );
  app.className = "";
  input.focus();
  probeProtectedMode(protectedBox);
}

// In protected mode the server lets loopback in without a token: say so and offer to continue.
async function probeProtectedMode(box) {
  try {
    const me = await get("/whoami");
    if (!me || !me.protectedMode || state.user) return;
    replace(
      box,
      h(
        "p",
        {},
        h("strong", { text: "Protected mode. " }),
        "This server has no tokens configured and accepts requests from this machine (loopback) without one.",
      ),
      h("button", {
        type: "button",
        class: "btn btn-secondary btn-block",
        text: "Continue without token",
        onClick: () => {
          clearToken();
          sessionStorage.setItem(LOCAL_KEY, "1");
          enter(me);
        },
      }),
    );
    box.hidden = false;
  } catch {
    // 401 is the normal answer when tokens are configured; anything else shows up on sign-in.
  }
}

async function signIn(event, input, errorBox, submit) {
  event.preventDefault();
  const token = input.value.trim();
  if (!token) return;
  errorBox.hidden = true;
  submit.disabled = true;
  sessionStorage.removeItem(LOCAL_KEY);
  setToken(token);
  try {
    const me = await get("/whoami");
    if (me.role !== "admin") {
      clearToken();
      return fail(errorBox, SERVICE_REFUSED, input);
    }
    enter(me);
  } catch (err) {
    clearToken();
    fail(errorBox, err.status === 401 ? `Sign-in failed: ${err.message}` : err.message, input);
  } finally {
    submit.disabled = false;
  }
}

function fail(errorBox, message, input) {
  errorBox.textContent = message;
  errorBox.hidden = false;
  input.select();
  input.focus();
}

function signOut(message, { error = false } = {}) {
  forget();
  showSignIn(error ? { error: message } : { notice: message });
}

// ---------------------------------------------------------------------------------------------
// The shell

function enter(me) {
  state.user = me;
  state.shell = buildShell(me);
  watchAlerts(state.shell.links.find((a) => a.dataset.page === "alerts"));
  replace(app, state.shell.root);
  app.className = "";
  if (!isRoute(location.hash) || location.hash === "" || location.hash === "#" || location.hash === "#/") {
    history.replaceState(null, "", "#/overview");
  }
  route(false);
}

function buildShell(me) {
  const menu = h(
    "button",
    {
      type: "button",
      class: "menu-btn",
      "aria-expanded": "false",
      "aria-controls": "nav",
      onClick: () => setMenu(menu.getAttribute("aria-expanded") !== "true"),
    },
    menuIcon(),
    "Menu",
  );
  const links = NAV.map((n) => h("a", { href: `#/${n.page}`, "data-page": n.page, text: n.label }));
  const nav = h(
    "nav",
    { id: "nav", class: "sidebar", "aria-label": "Main" },
    h(
      "div",
      { class: "sidebar-inner" },
      h("ul", {}, links.map((a) => h("li", {}, a))),
      h("div", { class: "sidebar-foot" }, h("a", { href: "../docs/", text: "API docs" })),
    ),
  );
  const main = h("main", { id: "main", class: "main", tabindex: "-1" });
  const who = me.protectedMode && !getToken() ? `${me.name} (protected mode)` : me.name;
  const header = h(
    "header",
    { class: "topbar" },
    h("a", { class: "skip-link", href: "#main", text: "Skip to content", onClick: skipToMain }),
    menu,
    h("a", { class: "brand", href: "#/overview" }, logo(), h("span", { text: "mq console" })),
    h("div", { class: "topbar-spacer" }),
    h("span", { class: "user", title: `Role: ${me.role}` }, h("span", { class: "user-label", text: "Signed in as " }), h("strong", { class: "user-name", text: who })),
    h("button", { type: "button", class: "btn btn-ghost", text: "Sign out", onClick: () => signOut("Signed out.") }),
  );
  const root = h("div", { class: "shell" }, header, nav, main);
  const setMenu = (open) => {
    menu.setAttribute("aria-expanded", String(open));
    root.classList.toggle("nav-open", open);
  };
  main.addEventListener("click", () => setMenu(false));
  return { root, main, links, setMenu };
}

// The number of active alerts next to "Alerts" in the sidebar, on every page. The count is
// aria-hidden so the link's name stays "Alerts"; its title says it in words.
function watchAlerts(link) {
  const shell = state.shell;
  const count = h("span", { class: "nav-count", "aria-hidden": "true", hidden: true });
  link.append(count);
  const poll = async () => {
    try {
      const n = (await get("/alerts", { limit: 1 })).active.length;
      count.textContent = String(n);
      count.hidden = n === 0;
      link.title = n ? plural(n, "active alert") : "";
    } catch {
      // The page shows the error; the badge just keeps its last value.
    }
    if (state.user && state.shell === shell) state.alertTimer = setTimeout(poll, ALERT_POLL_MS);
  };
  poll();
}

function skipToMain(event) {
  event.preventDefault();
  document.getElementById("main")?.focus();
}

// Three bars, hidden from assistive technology: the button's name is just "Menu".
function menuIcon() {
  return svg(
    "svg",
    { class: "menu-icon", width: 14, height: 14, viewBox: "0 0 14 14", "aria-hidden": "true", focusable: "false" },
    svg("path", { d: "M1 3h12M1 7h12M1 11h12", stroke: "currentColor", "stroke-width": 1.6, "stroke-linecap": "round" }),
  );
}

function logo() {
  return h("img", { class: "logo", src: "favicon.svg", alt: "", width: 22, height: 22 });
}

// ---------------------------------------------------------------------------------------------
// Router and page lifecycle

// A malformed %-escape in a typed URL shows as is rather than breaking the router.
function decode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function isRoute(hash) {
  return !hash || hash === "#" || hash.startsWith("#/");
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/overview";
  const [path, search = ""] = raw.split("?");
  const query = Object.fromEntries(new URLSearchParams(search));
  for (const r of ROUTES) {
    const m = path.match(r.pattern);
    if (m) {
      const params = Object.fromEntries(r.params.map((p, i) => [p, decode(m[i + 1])]));
      return { route: r, params, query, path };
    }
  }
  return { route: null, params: {}, query, path };
}

// Leaving a page (or signing out) closes its dialogs too: they belong to what is gone.
function disposeCurrent() {
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  const current = state.current;
  state.current = null;
  if (!current) return;
  current.disposed = true;
  for (const fn of current.disposers.splice(0)) {
    try {
      fn();
    } catch (err) {
      console.error("dispose failed", err);
    }
  }
}

async function route(focus) {
  const { route: r, params, query, path } = parseHash();
  const { main, links, setMenu } = state.shell;
  disposeCurrent();
  setMenu(false);
  const seq = ++state.seq;
  const current = { disposers: [], disposed: false };
  state.current = current;
  for (const a of links) {
    if (r && a.dataset.page === r.nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const title = r ? (NAV.find((n) => n.page === r.page)?.label ?? params.name) : "Not found";
  document.title = `${title} · mq console`;
  if (!r) {
    replace(main, notFound(path));
    return;
  }
  const ctx = {
    params,
    query,
    onDispose: (fn) => (current.disposed ? fn() : current.disposers.push(fn)),
    navigate: (hash) => {
      location.hash = hash.startsWith("#") ? hash : `#${hash}`;
    },
    refresh: () => state.current === current && route(false),
  };
  if (focus) main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
  await renderPage(r.page, title, main, ctx, () => seq === state.seq);
}

// Each page gets a fresh container inside <main>: a slow page that finishes after the user moved
// on writes into a detached node instead of over the next page.
// The page shows once its first data is in (no flash of empty figures), or after REVEAL_MS when
// that takes long, so a slow server still shows the page building up.
async function renderPage(page, label, main, ctx, stillCurrent) {
  const root = h("div", { class: "page", hidden: true });
  replace(main, root);
  main.setAttribute("aria-busy", "true");
  const reveal = setTimeout(() => (root.hidden = false), REVEAL_MS);
  try {
    const mod = await loadPage(page);
    if (!stillCurrent()) return;
    await mod.render(root, ctx);
  } catch (err) {
    if (!stillCurrent()) return;
    if (err instanceof ApiError && err.status === 401) return; // mq:signed-out takes over
    console.error(err);
    const title = err.loadFailed ? "This page failed to load" : "This page could not be shown";
    replace(main, pageFailed(label, title, err, ctx));
  } finally {
    clearTimeout(reveal);
    root.hidden = false;
    if (stillCurrent()) main.removeAttribute("aria-busy");
  }
}

// The browser remembers a module that failed to load; a retry asks for it under a new URL.
const loadFailures = new Map();

async function loadPage(page) {
  const failures = loadFailures.get(page) || 0;
  const url = `./pages/${page}.js${failures ? `?retry=${failures}` : ""}`;
  try {
    return await import(url);
  } catch (err) {
    loadFailures.set(page, failures + 1);
    throw Object.assign(new Error(err && err.message ? err.message : String(err)), { loadFailed: true });
  }
}

function pageFailed(label, title, err, ctx) {
  const detail = err.loadFailed
    ? new Error(`${err.message}. Reload the console; if it persists, the server may be older than this console.`)
    : err;
  return h(
    "div",
    { class: "page" },
    h("header", { class: "page-header" }, h("h1", { text: label })),
    errorState(title, detail, () => ctx.refresh()),
  );
}

function notFound(path) {
  return h(
    "div",
    { class: "page" },
    h("header", { class: "page-header" }, h("h1", { text: "Page not found" })),
    h(
      "div",
      { class: "empty" },
      h("p", { class: "empty-title", text: `Nothing lives at #${path}.` }),
      h("p", { class: "empty-hint" }, "Go to the ", h("a", { href: "#/overview", text: "Overview" }), "."),
    ),
  );
}

boot().catch(toastError);
