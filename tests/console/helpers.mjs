// Helpers of the console's browser tests (console.test.mjs): the settings scripts/console-e2e.sh
// passes, a small client of the REST API, polling, and the page-error watch.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

function required(name) {
    const value = process.env[name];
    if (!value) {
        throw new Error(`${name} is not set: run these tests with bash scripts/console-e2e.sh`);
    }
    return value;
}

/** What scripts/console-e2e.sh tells the tests. */
export const config = {
    /** The server, e.g. `http://127.0.0.1:41234`. */
    base: required("MQ_CONSOLE_E2E_BASE"),
    /** A second server without tokens (protected mode). */
    protectedBase: required("MQ_CONSOLE_E2E_PROTECTED_BASE"),
    /** An admin token of the server's config, and its name. */
    token: required("MQ_CONSOLE_E2E_TOKEN"),
    tokenName: required("MQ_CONSOLE_E2E_TOKEN_NAME"),
    backend: process.env.MQ_CONSOLE_E2E_BACKEND ?? "unknown",
    /** Where screenshots go (`<out>/screenshots`). */
    out: required("MQ_CONSOLE_E2E_OUT"),
    chromium: required("MQ_CONSOLE_E2E_CHROMIUM"),
};

export const desktop = { width: 1280, height: 800 };
export const phone = { width: 390, height: 844 };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `fn` until it returns a truthy value (which is returned) or `timeoutMs` passes; then
 * fails with `what` and the last value or error. Errors thrown by `fn` count as "not yet".
 */
export async function waitFor(fn, timeoutMs, what = "the condition", intervalMs = 250) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        try {
            const value = await fn();
            if (value) return value;
            last = value;
        } catch (error) {
            last = error;
        }
        if (Date.now() > deadline) {
            const detail = last instanceof Error ? last.message : JSON.stringify(last);
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
        }
        await sleep(intervalMs);
    }
}

/** A figure as the console prints it (`1,234`, `1.2k`, `3 M`) as a number, or NaN. */
export function parseCount(text) {
    const match = /(-?[\d.,]+)\s*([kKMG]?)/.exec((text ?? "").replace(/\u00a0/g, " "));
    if (!match) return Number.NaN;
    const scale = { "": 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9 }[match[2]];
    return Number(match[1].replace(/,/g, "")) * scale;
}

/** An error answer of the API. */
export class ApiFailure extends Error {
    constructor(method, path, status, envelope) {
        super(`${method} ${path}: HTTP ${status}: ${envelope?.message ?? "(no envelope)"}`);
        this.status = status;
        this.envelope = envelope;
    }
}

/** A client of `/api/v1/mq` with a bearer token; returns the envelope's `data`. */
export class Api {
    constructor(base, token) {
        this.base = `${base}/api/v1/mq`;
        this.token = token;
    }

    /** Returns `{status, envelope}` whatever the status. */
    async raw(method, path, { body, query } = {}) {
        const url = new URL(this.base + path);
        for (const [k, v] of Object.entries(query ?? {})) {
            if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
        }
        const response = await fetch(url, {
            method,
            headers: {
                Authorization: `Bearer ${this.token}`,
                ...(body === undefined ? {} : { "Content-Type": "application/json" }),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(40_000),
        });
        const text = await response.text();
        let envelope;
        try {
            envelope = JSON.parse(text);
        } catch {
            envelope = { message: text };
        }
        return { status: response.status, envelope };
    }

    async call(method, path, options) {
        const { status, envelope } = await this.raw(method, path, options);
        if (status < 200 || status > 299) throw new ApiFailure(method, path, status, envelope);
        return envelope.data;
    }

    get(path, query) {
        return this.call("GET", path, { query });
    }

    post(path, body) {
        return this.call("POST", path, { body });
    }
}

/**
 * Watches a page for uncaught errors and `console.error`s. A step may allow the errors it
 * provokes on purpose (`allow(/status of 401/)`); `check()` fails on any other since `reset()`.
 */
export class PageIssues {
    constructor() {
        this.seen = [];
        this.allowed = [];
        /** Every URL the page requested, to check no token ever lands in one. */
        this.urls = [];
        this.inflight = 0;
        this.lastActivity = 0;
    }

    /** Waits until the page has had no request in flight for `quietMs` (its data loaded). */
    async networkIdle(quietMs = 300, timeoutMs = 10_000) {
        await waitFor(
            () => this.inflight <= 0 && Date.now() - this.lastActivity >= quietMs,
            timeoutMs,
            "the page's requests to finish",
            50,
        );
    }

    attach(page) {
        page.on("pageerror", (error) => this.seen.push(`uncaught ${error.stack ?? error}`));
        page.on("console", (message) => {
            if (message.type() !== "error") return;
            const where = message.location();
            const at = where?.url ? ` (at ${where.url}:${where.lineNumber})` : "";
            this.seen.push(`console.error: ${message.text()}${at}`);
        });
        page.on("request", (request) => {
            this.urls.push(request.url());
            this.inflight += 1;
            this.lastActivity = Date.now();
        });
        const done = () => {
            this.inflight -= 1;
            this.lastActivity = Date.now();
        };
        page.on("requestfinished", done);
        page.on("requestfailed", done);
        page.on("framenavigated", (frame) => this.urls.push(frame.url()));
    }

    reset() {
        this.seen = [];
        this.allowed = [];
    }

    /** Lets errors matching `pattern` through until the next `reset()`. */
    allow(pattern) {
        this.allowed.push(pattern);
    }

    unexpected() {
        return this.seen.filter((text) => !this.allowed.some((p) => p.test(text)));
    }

    check() {
        const unexpected = this.unexpected();
        assert.deepEqual(unexpected, [], `the page reported errors:\n  ${unexpected.join("\n  ")}`);
    }
}

let shotDir;
/** Saves a screenshot of the viewport as `<out>/screenshots/<name>.png`. */
export async function screenshot(page, name) {
    if (!shotDir) {
        shotDir = join(config.out, "screenshots");
        mkdirSync(shotDir, { recursive: true });
    }
    const path = join(shotDir, `${name}.png`);
    await page.screenshot({ path, animations: "disabled", caret: "hide" });
    return path;
}
