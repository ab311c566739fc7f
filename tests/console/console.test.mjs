// End-to-end browser tests of mq-server's web console (issue 11), run by scripts/console-e2e.sh
// against a server it starts: one headless Chromium, one page, steps in order. Each step
// asserts what the page shows, through the accessible names (roles, labels, data-testid) the
// console's pages agreed on for these tests (issue 11), and fails on any uncaught page error
// or console.error it did not provoke on purpose.
//
//   bash scripts/console-e2e.sh                                  # installs, builds, runs
//   MQTEST_CONSOLE_BACKENDS=memory bash scripts/console-e2e.sh   # one backend
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";

import {
    Api,
    PageIssues,
    config,
    desktop,
    parseCount,
    phone,
    screenshot,
    waitFor,
} from "./helpers.mjs";

const consoleUrl = `${config.base}/console/`;
const admin = new Api(config.base, config.token);
const topic = "e2e-orders";
const otherTopic = "e2e-audit-trail";
const group = "e2e-billing";
const serviceMessage = "This token has the service role; the console needs an admin token.";
/** Secrets that must never appear in a URL the page loads. */
const secrets = [config.token];

let browser;
let page;
const issues = new PageIssues();

before(async () => {
    browser = await chromium.launch({
        executablePath: config.chromium,
        args: ["--no-sandbox"],
    });
    const context = await browser.newContext({ viewport: desktop });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    issues.attach(page);
});

after(async () => {
    await browser?.close();
});

/** A test step: page errors not allowed by the step fail it; a failure leaves a screenshot. */
function step(name, fn) {
    test(name, { timeout: 180_000 }, async () => {
        issues.reset();
        try {
            await fn();
        } catch (error) {
            const slug = name.replace(/[^a-z0-9]+/gi, "-").slice(0, 40);
            await screenshot(page, `failed-${slug}`).catch(() => {});
            await page.setViewportSize(desktop).catch(() => {});
            const extra = issues.unexpected();
            if (extra.length) error.message += `\n(the page also reported:\n  ${extra.join("\n  ")})`;
            throw error;
        }
        issues.check();
    });
}

/** A screenshot for the reviewer, once the page's data has loaded. */
async function shot(name) {
    await issues.networkIdle();
    // Toasts the steps already checked would cover the page: dismiss them.
    const dismiss = page.getByRole("button", { name: "Dismiss", exact: true });
    for (let i = 0; i < 10 && (await dismiss.count()) > 0; i++) {
        await dismiss.first().click({ timeout: 1000 }).catch(() => {});
    }
    await screenshot(page, name);
}

// --- locators and small actions -----------------------------------------------------------

const h1 = (name) => page.getByRole("heading", { level: 1, name, exact: true });
const button = (name, scope = page) => scope.getByRole("button", { name, exact: true });
const tokenField = () => page.getByLabel("Admin token", { exact: true });
const signOut = () => button("Sign out");
const dialog = (name) => page.getByRole("dialog", { name, exact: true });
const okToast = (text) => page.getByRole("status").filter({ hasText: text });
const row = (text, scope = page) => scope.getByRole("row").filter({ hasText: text });
const section = (title) =>
    page
        .locator("section")
        .filter({ has: page.getByRole("heading", { name: title, exact: true }) })
        .last();

/** Waits until `locator`'s text satisfies `predicate` (or contains it, for a string). */
async function textOf(locator, predicate, what, timeoutMs = 10_000) {
    const test = typeof predicate === "string" ? (t) => t.includes(predicate) : predicate;
    return waitFor(
        async () => {
            const text = (await locator.textContent({ timeout: 1000 })) ?? "";
            return test(text) ? text : false;
        },
        timeoutMs,
        what,
    );
}

/** Loads the console and waits until it shows either the sign-in form or a signed-in shell. */
async function openConsole(hash = "") {
    await page.goto(consoleUrl + hash);
    await tokenField().or(signOut()).first().waitFor();
}

async function signInWithForm(token) {
    await tokenField().fill(token);
    await button("Sign in").click();
}

/** Makes sure the page is signed in as admin and shows `hash`'s page. */
async function signedIn(hash = "#/overview") {
    await openConsole(hash);
    if (await tokenField().isVisible()) {
        await signInWithForm(config.token);
        await signOut().waitFor();
        if (hash) await page.goto(consoleUrl + hash);
    }
}

/** Follows a nav link and checks the page's heading and the link's `aria-current`. */
async function nav(label) {
    const link = page.getByRole("navigation").getByRole("link", { name: label, exact: true }).first();
    await link.click();
    await h1(label).waitFor();
    assert.equal(await link.getAttribute("aria-current"), "page", `nav link ${label} is current`);
}

/** Fills a labelled field, whether the console made it an input or a select. */
async function setField(scope, label, value) {
    const field = scope.getByLabel(label, { exact: true });
    const tag = await field.evaluate((el) => el.tagName);
    if (tag === "SELECT") {
        await chooseOption(field, value);
    } else {
        await field.fill(value);
    }
}

/** Picks the option whose value or label is `want` (or ends with ` want`). */
async function chooseOption(select, want) {
    const options = await waitFor(
        async () => {
            const all = await select.evaluate((el) =>
                [...el.options].map((o) => ({ value: o.value, label: o.label.trim() })),
            );
            return all.find((o) => o.value === want || o.label === want || o.label.endsWith(` ${want}`))
                ? all
                : false;
        },
        10_000,
        `an option ${want} in the select`,
    );
    const option = options.find(
        (o) => o.value === want || o.label === want || o.label.endsWith(` ${want}`),
    );
    await select.selectOption({ value: option.value });
}

async function figure(testId) {
    const locator = page.getByTestId(testId);
    const text = await textOf(locator, (t) => !Number.isNaN(parseCount(t)), `a number in ${testId}`);
    return parseCount(text);
}

async function noSidewaysScroll(where) {
    const [scrollWidth, innerWidth] = await page.evaluate(() => [
        document.documentElement.scrollWidth,
        window.innerWidth,
    ]);
    assert.ok(
        scrollWidth <= innerWidth,
        `${where} at ${innerWidth} px scrolls sideways (scrollWidth ${scrollWidth})`,
    );
}

/** Consumes from `group` until a message comes (or `timeoutMs` passes). */
async function consumeOne(consumerId, timeoutMs) {
    return waitFor(
        async () => {
            const data = await admin.post("/consume", {
                topicName: topic,
                groupId: group,
                consumerId,
                maxMessages: 1,
                waitMs: 1000,
            });
            return data.messages[0];
        },
        timeoutMs,
        `a message for group ${group}`,
    );
}

/** Creates the test topic through the API when the topics step could not (so one failure does
 * not fail every later step too). */
async function ensureTopic() {
    const { status } = await admin.raw("GET", `/topics/${topic}`);
    if (status === 404) await admin.post("/topics", { name: topic, partitions: 1 });
}

// --- the steps ----------------------------------------------------------------------------

step("sign-in: wrong token, service token refused, admin signs in, reload, sign out", async () => {
    await openConsole();
    await tokenField().waitFor();
    await button("Sign in").waitFor();
    assert.ok(!(await signOut().isVisible()), "no Sign out before signing in");
    await shot("01-sign-in");

    // A wrong token: the API answers 401, which the page logs as a failed resource.
    issues.allow(/status of 401/);
    await signInWithForm("not-a-token");
    await page.getByRole("alert").filter({ hasText: /\S/ }).first().waitFor();
    assert.ok(await tokenField().isVisible(), "still on the sign-in form after a wrong token");

    // A valid token of the service role is refused with the contract's message.
    const service = await admin.post("/tokens", { name: "e2e-service", role: "service" });
    secrets.push(service.tokenSecret);
    await signInWithForm(service.tokenSecret);
    await page.getByRole("alert").filter({ hasText: serviceMessage }).waitFor();
    assert.ok(await tokenField().isVisible(), "still on the sign-in form after a service token");
    assert.ok(!(await signOut().isVisible()), "a service token does not sign in");

    // The admin token signs in: overview, with the token's name in the header.
    await signInWithForm(config.token);
    await h1("Overview").waitFor();
    await signOut().waitFor();
    await page.getByText(config.tokenName, { exact: true }).first().waitFor();
    assert.equal(
        await page.evaluate(() => sessionStorage.getItem("mq.console.token")),
        config.token,
        "the token is kept in sessionStorage",
    );

    // A reload keeps the session, and the token is never in the URL.
    await page.reload();
    await h1("Overview").waitFor();
    await signOut().waitFor();
    assert.ok(!page.url().includes(config.token), `the URL ${page.url()} holds the token`);

    // Sign out: back to the form, the session forgotten (also after a reload).
    await signOut().click();
    await tokenField().waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("mq.console.token")), null);
    await page.reload();
    await tokenField().waitFor();
    assert.ok(!(await signOut().isVisible()), "signed out after a reload");
});

step("keyboard: Tab to the token field, Enter signs in, Esc closes a dialog", async () => {
    // Without a token the console asks /whoami whether protected mode lets it in: a 401 here.
    issues.allow(/status of 401 .*\/api\/v1\/mq\/whoami/);
    await openConsole();
    await tokenField().waitFor();
    await page.evaluate(() => document.activeElement?.blur());
    const focused = () => tokenField().evaluate((el) => el === document.activeElement);
    let presses = 0;
    while (!(await focused())) {
        assert.ok(presses < 20, "Tab did not reach the Admin token field in 20 presses");
        await page.keyboard.press("Tab");
        presses += 1;
    }
    await page.keyboard.type(config.token);
    await page.keyboard.press("Enter");
    await h1("Overview").waitFor();
    await signOut().waitFor();

    // A dialog opened from the keyboard takes the focus and closes with Esc.
    await nav("Topics");
    await button("New topic").focus();
    await page.keyboard.press("Enter");
    const newTopic = dialog("New topic");
    await newTopic.waitFor();
    await waitFor(
        () => newTopic.evaluate((el) => el.contains(document.activeElement)),
        5000,
        "the focus inside the New topic dialog",
    );
    await page.keyboard.press("Escape");
    await newTopic.waitFor({ state: "hidden" });
});

step("overview: figures, range buttons and the rate chart", async () => {
    await signedIn("#/overview");
    await nav("Overview");
    for (const id of [
        "published-count",
        "acked-count",
        "publish-rate",
        "consume-rate",
        "backlog",
        "dead-letter-count",
        "scheduled-count",
        "half-message-count",
        "active-alert-count",
    ]) {
        await textOf(page.getByTestId(id), (t) => t.trim().length > 0, `the ${id} figure`);
    }
    for (const range of ["5 min", "1 h", "24 h"]) {
        const pressed = await button(range).getAttribute("aria-pressed");
        assert.ok(pressed === "true" || pressed === "false", `${range} has aria-pressed`);
    }
    await button("1 h").click();
    const pressed = (range) => async () => (await button(range).getAttribute("aria-pressed")) === "true";
    await waitFor(pressed("1 h"), 5000, "1 h pressed");
    assert.equal(await button("5 min").getAttribute("aria-pressed"), "false");
    await button("5 min").click();
    await waitFor(pressed("5 min"), 5000, "5 min pressed");
    await page.getByRole("img", { name: /Publish and consume rate/ }).waitFor();
    await shot("02-overview");
});

step("topics: New topic shows the API's validation message, creates, search finds it", async () => {
    await signedIn("#/topics");
    await admin.post("/topics", { name: otherTopic, partitions: 2 });
    await nav("Topics");

    // The API's own message for 0 partitions, to compare with what the dialog shows.
    const invalid = await admin.raw("POST", "/topics", {
        body: { name: "e2e-invalid", partitions: 0 },
    });
    assert.equal(invalid.status, 400, "the API refuses 0 partitions");
    const expected = invalid.envelope.message;

    issues.allow(/status of 400/);
    await button("New topic").click();
    const form = dialog("New topic");
    await form.waitFor();
    await form.getByLabel("Name", { exact: true }).fill(topic);
    await form.getByLabel("Partitions", { exact: true }).fill("0");
    await button("Create", form).click();
    await form.getByRole("alert").filter({ hasText: expected }).waitFor();
    assert.ok(await form.isVisible(), "the dialog stays open on a validation error");
    await shot("15-new-topic-invalid");

    await form.getByLabel("Partitions", { exact: true }).fill("1");
    await button("Create", form).click();
    await form.waitFor({ state: "hidden" });
    // The console lists the new topic or opens it; either way it exists as typed.
    const link = page.getByRole("link", { name: topic, exact: true });
    await link.or(h1(topic)).first().waitFor();
    const created = await admin.get(`/topics/${topic}`);
    assert.equal(created.partitions, 1, "the topic has the partitions typed in the dialog");

    // Search narrows the list.
    await nav("Topics");
    await link.waitFor();
    assert.equal(await link.getAttribute("href"), `#/topics/${topic}`);
    const search = page.getByLabel("Search topics", { exact: true });
    await search.fill(topic);
    await page.getByRole("link", { name: otherTopic, exact: true }).waitFor({ state: "hidden" });
    await link.waitFor();
    await search.fill("no-such-topic-anywhere");
    await link.waitFor({ state: "hidden" });
    await search.fill("");
    await page.getByRole("link", { name: otherTopic, exact: true }).waitFor();
    await link.waitFor();
    await shot("03-topics");

    await link.click();
    await h1(topic).waitFor();
    assert.ok(page.url().endsWith(`#/topics/${topic}`), `the URL ${page.url()} names the topic`);
});

step("topic: send a test message; toast, message browser, published counts go up", async () => {
    await ensureTopic();
    await signedIn("#/overview");
    const overviewBefore = await figure("published-count");

    await page.goto(`${consoleUrl}#/topics/${topic}`);
    await h1(topic).waitFor();
    const topicBefore = await figure("topic-published-count");
    for (const header of ["Partition", "End offset", "Messages", "Rate"]) {
        await page.getByRole("columnheader", { name: header, exact: true }).first().waitFor();
    }

    await button("Send test message").click();
    const send = dialog("Send test message");
    await send.waitFor();
    await send.getByLabel("Key", { exact: true }).fill("order-42");
    await send.getByLabel("Value (JSON)", { exact: true }).fill('{"order": 42, "item": "e2e-widget"}');
    await send.getByLabel("Headers (JSON)", { exact: true }).fill('{"source": "console-e2e"}');
    await send.getByLabel("Delay (ms)", { exact: true }).waitFor();
    await button("Send", send).click();
    await okToast("Message sent").first().waitFor();
    await send.waitFor({ state: "hidden" });

    // The message browser shows the value as formatted JSON.
    const messages = section("Messages");
    await chooseOption(messages.getByLabel("Partition", { exact: true }), "0");
    await messages.getByLabel("From offset", { exact: true }).fill("0");
    await button("Load", messages).click();
    await textOf(messages, '"item": "e2e-widget"', "the sent value in the message browser");
    await textOf(messages, '"order": 42', "the sent value in the message browser");
    await shot("14-topic-messages");
    await h1(topic).scrollIntoViewIfNeeded();
    await shot("04-topic-detail");

    // Rate counters are flushed every second; the topic page is reloaded while it waits, the
    // overview is left to refresh itself (it is live).
    let loads = 0;
    await waitFor(
        async () => {
            if (++loads % 12 === 0) {
                await page.reload();
                await h1(topic).waitFor();
            }
            return (await figure("topic-published-count")) > topicBefore;
        },
        30_000,
        `topic-published-count above ${topicBefore}`,
        500,
    );
    await nav("Overview");
    const overviewAfter = await waitFor(
        async () => {
            const now = await figure("published-count");
            return now > overviewBefore ? now : false;
        },
        30_000,
        `published-count above ${overviewBefore}`,
        500,
    );

    // The rate moves with the count: the publish rate over the range is above zero, and the
    // chart's summary names the published series.
    await waitFor(
        async () => (await figure("publish-rate")) > 0,
        30_000,
        "publish-rate above 0/s",
        500,
    );
    const chart = page.getByRole("img", { name: /Publish and consume rate/ });
    const summary = await chart.getAttribute("aria-label");
    assert.match(summary, /Published [\d.]+\/s/, `the chart's summary: ${summary}`);

    // Live: a message published elsewhere shows up without reloading or navigating.
    await admin.post("/messages", { topicName: topic, key: "order-43", value: { order: 43 } });
    await waitFor(
        async () => (await figure("published-count")) > overviewAfter,
        30_000,
        `published-count above ${overviewAfter} without a reload (the overview refreshes every 5 s)`,
        500,
    );
    await shot("02-overview"); // again, now with traffic to show
});

let deadLetterId;

step("dead letters: a failing consumer's message inspected and retried in the console", async () => {
    await ensureTopic();
    await signedIn("#/overview");
    // A group that dead-letters on the first failure, and a message it fails on.
    await admin.post("/consumer-groups", {
        groupId: group,
        topicName: topic,
        retryPolicy: { maxRetries: 0 },
    });
    const value = { order: 7, card: "declined-e2e" };
    await admin.post("/messages", { topicName: topic, key: "order-7", value });
    const delivered = await consumeOne("e2e-worker", 20_000);
    assert.deepEqual(delivered.value, value);
    const reason = "e2e: card declined by the test";
    const nacked = await admin.post("/nack", {
        topicName: topic,
        groupId: group,
        receipts: [delivered.receipt],
        reason,
    });
    assert.ok(nacked, "nack answered");
    const letters = await waitFor(
        async () => {
            const found = await admin.get("/dead-letters", { topicName: topic });
            return found.items.length === 1 ? found.items : false;
        },
        20_000,
        "one dead letter of the topic in the API",
    );
    deadLetterId = letters[0].id;

    await nav("Dead letters");
    const filters = page.locator("form.filters").first();
    await setField(filters, "Topic", topic);
    await button("Apply", filters).click();
    const selectLetter = page.getByRole("checkbox", { name: `Select ${deadLetterId}`, exact: true });
    const letterRow = page.getByRole("row").filter({ has: selectLetter });
    await letterRow.waitFor();
    await textOf(letterRow, group, "the group in the dead letter's row");
    await shot("06-dead-letters");

    // Inspect: content as JSON, the failure reason, the attempts.
    await button("Inspect", letterRow).click();
    const inspect = page.getByRole("dialog").filter({ hasText: "Failure reason" }).last();
    await inspect.waitFor();
    await textOf(inspect, reason, "the failure reason in Inspect");
    await textOf(inspect, '"card": "declined-e2e"', "the content as JSON in Inspect");
    const attempts = inspect.getByRole("table").filter({ hasText: "e2e-worker" });
    await attempts.first().waitFor();
    await shot("07-dead-letter-inspect");
    await page.keyboard.press("Escape");
    await inspect.waitFor({ state: "hidden" });

    // Retry the selected one, confirmed.
    await selectLetter.check();
    await button("Retry selected").click();
    const confirm = page.getByRole("dialog").filter({ has: button("Retry") }).last();
    await confirm.waitFor();
    await button("Retry", confirm).click();
    await okToast(/retr/i).filter({ hasText: /\b1\b/ }).first().waitFor();
    await letterRow.waitFor({ state: "hidden" });
    await page.getByText(/No dead letters/).first().waitFor();

    // The group gets the same message again.
    const again = await consumeOne("e2e-worker", 30_000);
    assert.deepEqual(again.value, value, "the retried dead letter is redelivered");
    await admin.post("/ack", { topicName: topic, groupId: group, receipts: [again.receipt] });
});

step("scheduled: a delayed message is listed and its delivery cancelled", async () => {
    await ensureTopic();
    await signedIn("#/overview");
    const sent = await admin.post("/messages", {
        topicName: topic,
        key: "reminder-1",
        value: { remind: "in an hour" },
        messageType: "delay",
        delaySeconds: 3600,
    });
    const id = sent.messageId;
    assert.ok(id, "a scheduled message id");

    await nav("Scheduled");
    await chooseOption(page.getByLabel("Topic", { exact: true }), topic);
    const scheduledRow = row(id).first();
    await scheduledRow.waitFor();
    await textOf(scheduledRow, "reminder-1", "the key in the scheduled row");
    await shot("08-scheduled");

    // "Keep" keeps it.
    await button("Cancel delivery", scheduledRow).click();
    let confirm = page.getByRole("dialog").filter({ has: button("Keep") }).last();
    await button("Keep", confirm).click();
    await confirm.waitFor({ state: "hidden" });
    assert.ok(await scheduledRow.isVisible(), "Keep leaves the message scheduled");

    await button("Cancel delivery", scheduledRow).click();
    confirm = page.getByRole("dialog").filter({ has: button("Keep") }).last();
    await button("Cancel delivery", confirm).click();
    await scheduledRow.waitFor({ state: "hidden" });

    const listed = await admin.get(`/topics/${topic}/scheduled`);
    assert.ok(
        !listed.items.some((item) => item.messageId === id),
        "the API no longer lists the cancelled message",
    );
});

step("groups, transactions (details, commit), alerts and audit log pages", async () => {
    await ensureTopic();
    await signedIn("#/overview");

    await nav("Consumer groups");
    await page.getByRole("main").getByText(group, { exact: true }).first().waitFor();
    await shot("05-groups");
    // Details: the group's position in each partition, from the group itself.
    await button("Details", row(group).first()).click();
    const groupDetails = dialog(`Group ${group} on ${topic}`);
    await groupDetails.waitFor();
    await groupDetails.getByRole("columnheader", { name: "End offset", exact: true }).waitFor();
    await textOf(groupDetails, "any member", "the shared group's partitions in Details");
    await shot("17-group-details");
    await page.keyboard.press("Escape");
    await groupDetails.waitFor({ state: "hidden" });

    const prepared = await admin.post("/messages", {
        topicName: topic,
        key: "txn-1",
        value: { payment: "pending" },
        messageType: "transaction",
        transactionTimeoutSeconds: 3600,
    });
    assert.ok(prepared.transactionId, "a transaction id");
    await nav("Transactions");
    const txnRow = row(prepared.transactionId).first();
    await txnRow.waitFor();
    await button("Commit", txnRow).waitFor();
    await button("Rollback", txnRow).waitFor();
    await shot("09-transactions");

    // Details shows the history; Commit asks first, then the API has it committed.
    await button("Details", txnRow).click();
    const details = page.getByRole("dialog").filter({ hasText: prepared.transactionId }).last();
    await textOf(details, (t) => /prepared/i.test(t), "the prepared event in the history");
    await page.keyboard.press("Escape");
    await details.waitFor({ state: "hidden" });
    await button("Commit", txnRow).click();
    const confirmCommit = page.getByRole("dialog").filter({ has: button("Commit") }).last();
    await button("Commit", confirmCommit).click();
    await okToast(prepared.transactionId).first().waitFor();
    await waitFor(
        async () => (await admin.get(`/transactions/${prepared.transactionId}`)).state === "committed",
        10_000,
        "the transaction committed in the API",
    );

    await nav("Alerts");
    await page.getByRole("heading", { level: 2, name: "Active", exact: true }).waitFor();
    await page.getByRole("heading", { level: 2, name: "History", exact: true }).waitFor();
    await shot("10-alerts");

    // The topic created in the console is in the audit log (its target is the route).
    await nav("Audit log");
    const filters = page.locator("form.filters").first();
    await setField(filters, "Actor", config.tokenName);
    await setField(filters, "Action", "POST /topics");
    await button("Apply", filters).click();
    const created = page
        .getByRole("row")
        .filter({ hasText: "POST /topics" })
        .filter({ has: page.getByText("ok", { exact: true }) });
    await created.first().waitFor();
    await waitFor(
        async () => !(await page.getByRole("row").filter({ hasText: "GET /whoami" }).count()),
        10_000,
        "the Action filter to hide other actions",
    );
    await setField(filters, "Actor", "");
    await setField(filters, "Action", "");
    await button("Apply", filters).click();
    await page.getByRole("row").filter({ hasText: "GET /whoami" }).first().waitFor();
    await shot("11-audit");
});

step("phone width: no sideways scroll, the Menu button opens the nav", async () => {
    await signedIn("#/overview");
    await page.setViewportSize(phone);
    await page.goto(`${consoleUrl}#/overview`);
    await h1("Overview").waitFor();
    await page.getByRole("img", { name: /Publish and consume rate/ }).waitFor();
    await issues.networkIdle();
    await noSidewaysScroll("the overview");
    await shot("12-overview-phone");

    const menu = button("Menu");
    assert.equal(await menu.getAttribute("aria-expanded"), "false");
    await menu.click();
    assert.equal(await menu.getAttribute("aria-expanded"), "true");
    const topicsLink = page.getByRole("navigation").getByRole("link", { name: "Topics", exact: true });
    await topicsLink.first().click();
    await h1("Topics").waitFor();

    await page.goto(`${consoleUrl}#/topics/${topic}`);
    await h1(topic).waitFor();
    await page.getByTestId("topic-published-count").waitFor();
    await issues.networkIdle();
    await noSidewaysScroll("the topic page");
    await shot("13-topic-detail-phone");

    for (const [hash, title] of [
        ["#/topics", "Topics"],
        ["#/groups", "Consumer groups"],
        ["#/dead-letters", "Dead letters"],
        ["#/scheduled", "Scheduled"],
        ["#/transactions", "Transactions"],
        ["#/alerts", "Alerts"],
        ["#/audit", "Audit log"],
    ]) {
        await page.goto(consoleUrl + hash);
        await h1(title).waitFor();
        await issues.networkIdle();
        await noSidewaysScroll(`the ${title} page`);
    }
    await page.setViewportSize(desktop);
});

step("protected mode: the sign-in screen offers Continue without token", async () => {
    await page.goto(`${config.protectedBase}/console/`);
    const proceed = button("Continue without token");
    await proceed.waitFor();
    await shot("16-protected-mode-sign-in");
    await proceed.click();
    await h1("Overview").waitFor();
    await page.getByText(/\blocal\b/).first().waitFor();
    await page.reload();
    await h1("Overview").waitFor();
    await signOut().click();
    await proceed.waitFor();
});

step("no token ever appears in a URL the page loaded", async () => {
    assert.ok(issues.urls.length > 0, "the page loaded URLs");
    for (const url of issues.urls) {
        for (const secret of secrets) {
            assert.ok(!url.includes(secret), `a token appears in ${url}`);
        }
    }
});
