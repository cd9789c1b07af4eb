// The portal in a real browser (Debian's Chromium through playwright-core) against a running
// `courier serve`: every connector's create form opens and saves from its catalog example; a
// webhook to a local receiver is created through the form, tested with each step appearing
// live, routed through the route form (event-type picker, mapping, content filter) and
// receives events, mapped and filtered; its signing secret is rotated and shown once; its
// delete is refused while a route sends to it; deliveries a receiver refused show their
// attempts and failure counts and are replayed once it recovers; an OAuth destination is
// connected through a (local, fake) provider's consent; the portal works in a frame of the
// page COURIER_PORTAL_FRAME_ANCESTORS allows and not in another's; a read-only session shows no way to
// change anything and the API refuses it; a used link and an expired session are refused;
// every page passes an axe-core scan without serious violations; screenshots go to
// SCREENSHOTS (outside the repository).
//
// Environment: COURIER_URL, COURIER_KEY (the operator's key), CHROMIUM (the browser),
// E2E_MODULES (where playwright-core and axe-core are installed), SCREENSHOTS (a directory),
// EMBEDDER_PORT (the port of the one page the server lets frame the portal).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const { COURIER_URL, COURIER_KEY, CHROMIUM, E2E_MODULES, SCREENSHOTS, EMBEDDER_PORT } = process.env;
assert.ok(COURIER_URL && COURIER_KEY && CHROMIUM && E2E_MODULES && SCREENSHOTS && EMBEDDER_PORT);
const operator = { authorization: `Bearer ${COURIER_KEY}` };
const COURIER_WORKSPACE = (await (await fetch(`${COURIER_URL}/api/v1/workspaces`, { headers: operator })).json()).data[0].id;
const require = createRequire(join(E2E_MODULES, "node_modules", "x.js"));
const { chromium } = require("playwright-core");
const axeSource = require("axe-core").source;
mkdirSync(SCREENSHOTS, { recursive: true });

let browser;
/** How long the receiver takes to answer a connection test's request. */
const TEST_ANSWER_MS = 1500;
/** Requests the local receiver got: { path, headers, body }. */
const received = [];
/** While set, the receiver answers 500 under `/flaky`. */
let flaky = true;
let receiverUrl;
let receiver;
/** A session opened at the start, to be found expired at the end. */
let expiring;
let expiresAt;

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      // A stand-in OAuth provider: consent is given at once, and codes become tokens.
      if (req.url.startsWith("/oauth/authorize")) {
        const asked = new URL(req.url, "http://x").searchParams;
        const back = new URL(asked.get("redirect_uri"));
        back.searchParams.set("code", "code-from-consent");
        back.searchParams.set("state", asked.get("state"));
        res.writeHead(302, { location: back.toString() }).end();
        return;
      }
      if (req.url.startsWith("/oauth/token")) {
        received.push({ path: req.url, headers: req.headers, body });
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({ access_token: "at-1", refresh_token: "rt-1", token_type: "Bearer", expires_in: 3600 }),
        );
        return;
      }
      received.push({ path: req.url, headers: req.headers, body });
      if (flaky && req.url.startsWith("/flaky")) {
        res.writeHead(500).end("receiver says no");
        return;
      }
      // A connection test's request is answered slowly, so its earlier steps show first.
      if (body.includes('"webhook.test"')) {
        setTimeout(() => res.writeHead(204).end(), TEST_ANSWER_MS);
        return;
      }
      res.writeHead(204).end();
    });
  });
  await new Promise((ok) => receiver.listen(0, "127.0.0.1", ok));
  receiverUrl = `http://127.0.0.1:${receiver.address().port}/hooks`;
  // The workspace's event types, which the route form offers.
  for (const type of [
    {
      name: "order.created",
      description: "An order was placed",
      schema: { type: "object", properties: { id: { type: "integer" }, total: { type: "number" }, customer: { type: "object", properties: { email: { type: "string" } } } } },
    },
    { name: "flaky.test" },
  ]) {
    const made = await api("POST", "/event-types", type);
    assert.equal(made.status, 201, JSON.stringify(made.body));
  }
  expiring = await portal({}, { expires_in_s: 60 });
  expiresAt = Date.now() + 60_000;
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => receiver?.close(ok));
});

async function api(method, path, body) {
  const response = await fetch(`${COURIER_URL}/api/v1/workspaces/${COURIER_WORKSPACE}${path}`, {
    method,
    headers: { authorization: `Bearer ${COURIER_KEY}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function session(capabilities = {}, extra = {}) {
  const made = await api("POST", "/portal-sessions", { capabilities, ...extra });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  return made.body.url;
}

/** A page with a portal session open. */
async function portal(capabilities, extra) {
  const context = await browser.newContext();
  // The themes' logo host (no request leaves the machine).
  await context.route("https://logo.example/**", (route) =>
    route.fulfill({
      contentType: "image/svg+xml",
      body: '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="28"><rect width="40" height="28" fill="#ff6600"/></svg>',
    }),
  );
  const page = await context.newPage();
  // Confirmations (rotate, delete) are accepted.
  page.on("dialog", (d) => void d.accept());
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(await session(capabilities, extra));
  // The link's page names the portal; its button opens it.
  const started = Date.now();
  await page.click("button:text('Open the portal')");
  await page.waitForSelector("body[data-ready]");
  const firstRender = Date.now() - started;
  assert.equal(new URL(page.url()).pathname, "/portal/", "the token left the address bar");
  assert.equal(new URL(page.url()).search, "");
  return { context, page, errors, firstRender };
}

/** axe-core's serious and critical violations on the page. */
async function accessibility(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

const catalog = await (
  await fetch(`${COURIER_URL}/api/v1/catalog/connectors`, { headers: { authorization: `Bearer ${COURIER_KEY}` } })
).json();

test("every connector's create form opens and saves from its example", async () => {
  const { context, page, errors } = await portal({});
  const refused = [];
  for (const connector of catalog.connectors) {
    for (const [i, example] of (connector.examples ?? []).entries()) {
      await page.click("#create");
      await page.selectOption("#destination-type", connector.type);
      await page.selectOption("#destination-example", String(i));
      const name = `${connector.type} ${i} ${Date.now()}`;
      await page.fill("#destination-name", name);
      // The form holds the example: its first config value is in its field.
      const [first, value] = Object.entries(example.config ?? {}).find(([, v]) => typeof v === "string") ?? [];
      if (first) {
        const shown = await page.inputValue(`[name="/config/${first}"]`);
        assert.equal(shown, value, `${connector.type}: /config/${first}`);
      }
      await page.click("#editor button[type=submit]");
      const outcome = await Promise.race([
        page.waitForSelector(`tr:has(th:text-is("${name}"))`).then(() => "saved"),
        page.waitForSelector("#editor .problem:not([hidden])").then(() => "refused"),
      ]);
      if (outcome === "refused") {
        const shown = await page.$$eval("#editor .problem:not([hidden])", (ps) =>
          ps.map((p) => `${p.closest("[data-path]")?.getAttribute("data-path") ?? "form"}: ${p.textContent}`),
        );
        refused.push(`${connector.type} "${example.name}": ${shown.join("; ")}`);
        await page.click("#editor button:text('Cancel')");
      }
    }
    if (connector.type === "kafka") await page.screenshot({ path: join(SCREENSHOTS, "create-form.png"), fullPage: true });
  }
  await page.screenshot({ path: join(SCREENSHOTS, "destinations.png"), fullPage: true });
  assert.deepEqual(refused, [], refused.join("\n"));
  assert.deepEqual(errors, []);
  await context.close();
});

test("a webhook is created, tested live and receives events", async () => {
  const { context, page, errors, firstRender } = await portal({ manage_routes: true }, {
    theme: { name: "Acme", accent_color: "#ff6600", mode: "dark", logo_url: "https://logo.example/acme.svg" },
  });
  console.log(`first render (button press to a drawn list): ${firstRender} ms`);
  assert.equal(await page.textContent("#title"), "Acme");
  // The theme: the logo (loaded, named), the accent, dark mode and readable text on the accent.
  await page.waitForFunction(() => document.getElementById("logo").naturalWidth > 0);
  assert.equal(await page.getAttribute("#logo", "alt"), "Acme logo");
  const theme = await page.evaluate(() => {
    const root = document.documentElement;
    const style = getComputedStyle(root);
    return [root.dataset.mode, style.getPropertyValue("--accent").trim(), style.getPropertyValue("--on-accent").trim()];
  });
  assert.deepEqual(theme, ["dark", "#ff6600", "#000000"]);
  await page.click("#create");
  await page.selectOption("#destination-type", "webhook");
  const receiverName = `Receiver ${Date.now()}`;
  await page.fill("#destination-name", receiverName);
  // Saving without the URL names the field.
  await page.click("#editor button[type=submit]");
  await page.waitForSelector('[data-path="/config/url"] .problem:not([hidden])');
  await page.fill('[name="/config/url"]', receiverUrl);
  await page.check('[name="/config/allow_private_network"]');
  await page.click("#editor button[type=submit]");
  await page.waitForSelector(`tr:has(th:text-is("${receiverName}"))`);
  // The signing secret is shown once.
  await page.waitForSelector("#once-value");
  assert.match(await page.textContent("#once-value"), /^whsec_/);
  await page.click("#once button:text('Done')");

  // Each step is drawn when it arrives: those before the request show while the receiver
  // still holds its answer.
  await page.evaluate(() => {
    window.drawn = [];
    new MutationObserver((changes) => {
      for (const c of changes) for (const n of c.addedNodes) if (n.nodeName === "LI") window.drawn.push([n.className, performance.now()]);
    }).observe(document.getElementById("test"), { childList: true, subtree: true });
  });
  await page.getByRole("button", { name: `Test ${receiverName}`, exact: true }).click();
  await page.waitForSelector("#test li.done", { timeout: 30000 });
  const drawn = await page.evaluate(() => window.drawn);
  const firstStep = drawn.find(([c]) => c.startsWith("step"));
  const done = drawn.find(([c]) => c === "done");
  assert.ok(firstStep && done, JSON.stringify(drawn));
  assert.ok(done[1] - firstStep[1] >= TEST_ANSWER_MS * 0.8, `steps drawn live: ${JSON.stringify(drawn)}`);
  const steps = await page.$$eval("#test li.step", (items) => items.map((i) => `${i.className}: ${i.textContent}`));
  assert.ok(steps.length >= 2, JSON.stringify(steps));
  assert.ok(steps.some((c) => c.includes("passed")), JSON.stringify(steps));
  assert.ok(!steps.some((c) => c.includes("failed")), JSON.stringify(steps));
  assert.equal(await page.textContent("#test li.done"), "Connection works.", JSON.stringify(steps));
  await page.screenshot({ path: join(SCREENSHOTS, "connection-test.png"), fullPage: true });

  // A route through its form: the picker offers the workspace's event types, the mapping
  // offers the destination's fields, and problems land on their fields.
  const routeName = `orders to ${receiverName}`;
  await page.click("#create-route");
  await page.fill("#route-name", routeName);
  await page.selectOption("#route-destination", { label: receiverName });
  await page.check('#route-editor input[value="order.created"]');
  await page.waitForFunction(() => /\.$/.test(document.getElementById("route-fields")?.textContent ?? ""));
  // A webhook takes the whole payload (its describe_fields names only `payload`): any target.
  assert.equal(await page.textContent("#route-fields"), "The destination takes the whole payload: any field.");
  assert.deepEqual(await page.$$eval("#route-targets option", (o) => o.map((x) => x.value)), []);
  // The chosen type's payload fields are offered as mapping sources.
  assert.ok((await page.$$eval("#route-sources option", (o) => o.map((x) => x.value))).includes("customer.email"));
  await page.click("#route-editor button:text('Add a rule')");
  await page.fill("#route-editor li.rule:nth-child(1) [data-part=source]", "id");
  await page.fill("#route-editor li.rule:nth-child(1) [data-part=target]", "order_id");
  await page.fill("#route-editor li.rule:nth-child(1) [data-part=default]", "0");
  await page.click("#route-editor button:text('Add a rule')");
  await page.selectOption("#route-editor li.rule:nth-child(2) [data-part=kind]", "constant");
  await page.fill("#route-editor li.rule:nth-child(2) [data-part=target]", "via");
  await page.fill("#route-editor li.rule:nth-child(2) [data-part=value]", '"portal"');
  // A filter that is not JSON is named on its field before anything is sent.
  await page.fill("#route-filter", "{not json");
  await page.click("#route-editor button[type=submit]");
  await page.waitForSelector('[data-path="/filter"] .problem:not([hidden])');
  await page.fill("#route-filter", '{"total": {"$gte": 100}}');
  // A type the workspace does not define is refused by the API, on the event types.
  await page.fill("#route-patterns", "no.such.type");
  await page.click("#route-editor button[type=submit]");
  await page.waitForSelector("#route-types-problem:not([hidden])");
  assert.match(await page.textContent("#route-types-problem"), /names no event type/);
  // The browser logs the refusal it was meant to get; only that one is forgiven.
  const refusal = errors.findIndex((e) => e.includes("status of 422"));
  assert.ok(refusal >= 0, JSON.stringify(errors));
  errors.splice(refusal, 1);
  assert.equal(await page.isHidden('[data-path="/filter"] .problem'), true);
  await page.fill("#route-patterns", "");
  await page.screenshot({ path: join(SCREENSHOTS, "route-form.png"), fullPage: true });
  assert.deepEqual(await accessibility(page), []);
  await page.click("#route-editor button[type=submit]");
  await page.waitForSelector(`#routes tr:has(th:text-is("${routeName}"))`);
  // Editing shows the route as saved.
  await page.getByRole("button", { name: `Edit route ${routeName}`, exact: true }).click();
  await page.waitForSelector("#route-editor li.rule");
  assert.equal(await page.$$eval("#route-editor li.rule", (r) => r.length), 2);
  assert.equal(await page.isChecked('#route-editor input[value="order.created"]'), true);
  assert.equal(await page.inputValue("#route-editor li.rule:nth-child(1) [data-part=target]"), "order_id");
  assert.equal(await page.inputValue("#route-editor li.rule:nth-child(1) [data-part=default]"), "0");
  // Opening the form does not read the destination's fields (it may connect to it).
  assert.equal(await page.textContent("#route-fields"), "");
  // Saved unchanged, it keeps every rule as it was, the default included.
  await page.click("#route-editor button[type=submit]");
  await page.waitForSelector(`#status:text("Saved the route ${routeName}.")`);
  const saved = (await api("GET", "/routes")).body.data.find((r) => r.name === routeName);
  assert.deepEqual(saved.field_mapping, [
    { source: "id", target: "order_id", default: 0 },
    { target: "via", value: "portal" },
  ]);

  // Events sent through the API arrive at the receiver, mapped; the filter holds one back.
  const held = await api("POST", "/events", { type: "order.created", payload: { id: 6, total: 5 } });
  assert.equal(held.body.deliveries, 0, JSON.stringify(held.body));
  const sent = await api("POST", "/events", { type: "order.created", payload: { id: 7, total: 150 } });
  assert.equal(sent.body.deliveries, 1, JSON.stringify(sent.body));
  const deadline = Date.now() + 20000;
  const arrived = () => received.find((r) => r.path === "/hooks" && r.body.includes("order_id"));
  while (!arrived() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(arrived(), "the receiver got the event");
  assert.deepEqual(JSON.parse(arrived().body), { order_id: 7, total: 150, via: "portal" });
  // The attempt log shows it without being asked (it refreshes every few seconds).
  await page.waitForSelector(
    `#deliveries tbody tr[data-status="delivered"]:has(td:text-is("${receiverName}")):has(td:text-is("order.created"))`,
    { timeout: 15000 },
  );
  await page.screenshot({ path: join(SCREENSHOTS, "routes.png"), fullPage: true });

  // The signing secret is rotated and shown once; the next delivery is signed with it too.
  await page.getByRole("button", { name: `Rotate secret of ${receiverName}`, exact: true }).click();
  await page.waitForSelector("#once-value");
  const rotated = await page.textContent("#once-value");
  assert.match(rotated, /^whsec_/);
  await page.click("#once button:text('Done')");
  assert.equal(await page.isHidden("#once"), true, "the secret is not shown again");
  const after = received.length;
  await api("POST", "/events", { type: "order.created", payload: { id: 8, total: 200 } });
  const signedUntil = Date.now() + 20000;
  while (!received.slice(after).some((r) => r.path === "/hooks") && Date.now() < signedUntil) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const signed = received.slice(after).find((r) => r.path === "/hooks");
  assert.ok(signed, "the receiver got the event after the rotation");
  const content = `${signed.headers["webhook-id"]}.${signed.headers["webhook-timestamp"]}.${signed.body}`;
  const expected = createHmac("sha256", Buffer.from(rotated.slice("whsec_".length), "base64")).update(content).digest("base64");
  assert.ok(signed.headers["webhook-signature"].split(" ").includes(`v1,${expected}`), signed.headers["webhook-signature"]);

  // Disabled and enabled again from the list.
  await page.getByRole("button", { name: `Disable ${receiverName}`, exact: true }).click();
  await page.waitForSelector(`#status:text("${receiverName} is disabled.")`);
  const hookId = await page.getAttribute(`#destinations tr:has(th:text-is("${receiverName}"))`, "data-destination");
  assert.equal((await api("GET", `/destinations/${hookId}`)).body.is_active, false);
  await page.getByRole("button", { name: `Enable ${receiverName}`, exact: true }).click();
  await page.waitForSelector(`#status:text("${receiverName} is enabled.")`);
  assert.equal((await api("GET", `/destinations/${hookId}`)).body.is_active, true);

  // The route blocks the delete, and is named; disabled, it no longer does.
  await page.getByRole("button", { name: `Delete ${receiverName}`, exact: true }).click();
  await page.waitForSelector(`#status:has-text("cannot be deleted while these active routes send to it: ${routeName}")`);
  await page.getByRole("button", { name: `Disable route ${routeName}`, exact: true }).click();
  await page.waitForSelector(`#status:text("${routeName} is disabled.")`);
  await page.getByRole("button", { name: `Delete ${receiverName}`, exact: true }).click();
  await page.waitForSelector(`#status:text("Deleted ${receiverName}.")`);

  assert.deepEqual(await accessibility(page), []);
  assert.deepEqual(errors, []);
  await context.close();
});

test("failed deliveries show their attempts and are replayed", async () => {
  const name = `Flaky ${Date.now()}`;
  const origin = new URL(receiverUrl).origin;
  const made = await api("POST", "/destinations", {
    name,
    destination_type: "webhook",
    config: { url: `${origin}/flaky`, allow_private_network: true },
    retry_max_attempts: 1,
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const id = made.body.id;
  const route = await api("POST", "/routes", { name: `to ${name}`, destination_id: id, event_types: ["flaky.*"] });
  assert.equal(route.status, 201, JSON.stringify(route.body));
  for (let i = 0; i < 3; i++) {
    const sent = await api("POST", "/events", { type: "flaky.test", payload: { n: i } });
    assert.ok(sent.status < 300, JSON.stringify(sent.body));
  }
  const failed = async () =>
    (await api("GET", `/deliveries?destination_id=${id}&status=failed`)).body.data.length;
  const deadline = Date.now() + 30000;
  while ((await failed()) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.equal(await failed(), 3, "three deliveries failed");

  // The destination counts them (statistics are written within a cycle).
  const counted = Date.now() + 10000;
  while ((await api("GET", `/destinations/${id}`)).body.failed_count < 3 && Date.now() < counted) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const { context, page, errors } = await portal({});
  // What is shown here changes only when asked.
  await page.uncheck("#live");
  const row = `#destinations tr[data-destination="${id}"]`;
  assert.equal(await page.getAttribute(`${row} td[data-failed]`, "data-failed"), "3");
  assert.match(await page.textContent(`${row} td[data-failed]`), /^3, failing since /);
  await page.selectOption("#filter-status", "failed");
  await page.selectOption("#filter-destination", id);
  await page.click("#delivery-filters button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("#deliveries tbody tr").length === 3);
  assert.equal(await page.$$eval('#deliveries tbody tr[data-status="failed"]', (r) => r.length), 3);
  // One delivery's attempts: the receiver's 500 and the start of its answer.
  await page.locator("#deliveries tbody tr button").first().click();
  await page.waitForSelector("#delivery:not([hidden]) tbody tr");
  const attempt = await page.textContent("#delivery tbody tr");
  assert.match(attempt, /500/);
  assert.match(attempt, /receiver says no/);
  await page.screenshot({ path: join(SCREENSHOTS, "deliveries.png"), fullPage: true });
  assert.deepEqual(await accessibility(page), []);
  // The event-type and time filters narrow the log too.
  const shown = async () => {
    const drawn = await page.getAttribute("#deliveries", "data-drawn");
    await page.click("#delivery-filters button[type=submit]");
    await page.waitForFunction((before) => document.getElementById("deliveries").dataset.drawn !== before, drawn);
    return page.$$eval("#deliveries tbody tr", (r) => r.length);
  };
  await page.fill("#filter-type", "order.created");
  assert.equal(await shown(), 0);
  await page.fill("#filter-type", "flaky.test");
  assert.equal(await shown(), 3);
  await page.fill("#filter-since", "2999-01-01T00:00");
  assert.equal(await shown(), 0);
  await page.fill("#filter-since", "");
  await page.fill("#filter-type", "");

  // Its connection test fails at the request, with the step's hint.
  await page.getByRole("button", { name: `Test ${name}`, exact: true }).click();
  await page.waitForSelector("#test li.done", { timeout: 30000 });
  assert.equal(await page.textContent("#test li.done"), "The test failed.");
  const failedStep = await page.textContent("#test li.step.failed");
  assert.match(failedStep, /500/, failedStep);
  assert.match(await page.textContent("#test li.step.failed .hint"), /^Hint: ./);
  // The browser logs nothing for it: the answer was a stream, not a failed load.

  // The receiver recovers: one is retried from its attempts, the other two replayed together,
  // and all three are delivered.
  flaky = false;
  await page.click("#delivery button:text('Retry now')");
  await page.waitForSelector("#status:text('Queued again.')");
  const retried = Date.now() + 30000;
  while ((await failed()) > 2 && Date.now() < retried) await new Promise((r) => setTimeout(r, 100));
  await page.click("#replay");
  await page.waitForSelector("#status:text('2 failed deliveries queued again.')");
  await page.selectOption("#filter-status", "delivered");
  const until = Date.now() + 30000;
  let delivered = 0;
  while (delivered < 3 && Date.now() < until) {
    await page.click("#delivery-filters button[type=submit]");
    await page.waitForTimeout(300);
    delivered = await page.$$eval('#deliveries tbody tr[data-status="delivered"]', (r) => r.length);
  }
  assert.equal(delivered, 3, "the replayed deliveries arrived");
  assert.deepEqual(errors, []);
  await context.close();
});

test("first render, measured", async () => {
  // Printed, not asserted: the machine is shared. From the button press on the link's page
  // (the token exchange, the redirect, the page and its scripts, the session, the lists) to
  // the drawn page, over this run's destinations, routes and deliveries.
  const times = [];
  const destinations = (await api("GET", "/destinations?limit=500")).body.data.length;
  for (let i = 0; i < 15; i++) {
    const { context, page, firstRender } = await portal({ read_only: true });
    times.push(firstRender);
    // What was timed is the whole list drawn.
    assert.equal(await page.$$eval("#destinations tbody tr", (r) => r.length), destinations);
    await context.close();
  }
  times.sort((a, b) => a - b);
  console.log(
    `first render over ${times.length} opens with ${destinations} destinations: median ${times[7]} ms, quartiles ${times[3]}–${times[11]} ms, min ${times[0]} ms, max ${times[14]} ms`,
  );
});

/** A page on 127.0.0.1:`port` that frames `url`. */
async function framing(port, url) {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" }).end(
      `<!doctype html><html lang="en"><title>Platform</title><h1>Platform</h1><iframe title="Destinations" src="${url}" width="1200" height="800"></iframe></html>`,
    );
  });
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  return server;
}

test("the portal works framed by the allowed page, and refuses other framers", async () => {
  // The allowed embedder: the person presses the button inside the frame and uses the portal.
  const allowed = await framing(Number(EMBEDDER_PORT), await session({}));
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${EMBEDDER_PORT}/`);
  const frame = page.frameLocator("iframe");
  await frame.locator("button:text('Open the portal')").click();
  await frame.locator("body[data-ready]").waitFor();
  await frame.locator("#destinations tbody tr").first().waitFor();
  assert.equal(await frame.locator("#status").textContent(), "");
  await page.screenshot({ path: join(SCREENSHOTS, "framed.png"), fullPage: true });
  await context.close();
  allowed.close();

  // Any other page: the browser does not draw the portal in its frame.
  const stranger = await framing(0, await session({}));
  const other = await (await browser.newContext()).newPage();
  await other.goto(`http://127.0.0.1:${stranger.address().port}/`);
  await other.waitForTimeout(1000);
  const child = other.frames().find((f) => f !== other.mainFrame());
  const drawn = await child.evaluate(() => document.body?.innerText ?? "").catch(() => "");
  assert.doesNotMatch(drawn, /Open the portal/, `the frame showed: ${drawn} (${child.url()})`);
  // Chromium puts its error page in a frame its content's frame-ancestors refuse.
  assert.match(child.url(), /^chrome-error:/);
  await other.context().close();
  stranger.close();
});

test("a read-only session cannot change anything", async () => {
  const { context, page, errors } = await portal({ read_only: true });
  assert.equal(await page.isVisible("#create"), false);
  assert.equal(await page.$$eval("td.actions button", (b) => b.length), 0);
  assert.equal(await page.isVisible("#create-route"), false);
  assert.ok((await page.$$eval("#routes tbody tr", (r) => r.length)) > 0, "routes are listed");
  assert.deepEqual(errors, []);
  // The API refuses, whatever the page offers.
  const status = await page.evaluate(async (ws) => {
    const session = await (await fetch("/api/v1/portal/session")).json();
    const response = await fetch(`/api/v1/workspaces/${ws}/destinations`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-courier-csrf": session.csrf_token },
      body: JSON.stringify({ name: "x", destination_type: "webhook", config: { url: "https://example.com" } }),
    });
    return response.status;
  }, COURIER_WORKSPACE);
  assert.equal(status, 403);
  await page.screenshot({ path: join(SCREENSHOTS, "read-only.png"), fullPage: true });
  assert.deepEqual(await accessibility(page), []);
  await context.close();
});

test("an OAuth destination is connected through the provider's consent", async () => {
  const origin = new URL(receiverUrl).origin;
  const name = `Drive ${Date.now()}`;
  const made = await api("POST", "/destinations", {
    name,
    destination_type: "onedrive",
    config: { folder_path: "Exports", graph_base_url: origin },
    auth_config: {
      client_id: "portal-client",
      client_secret: "portal-client-secret",
      authorization_url: `${origin}/oauth/authorize`,
      token_url: `${origin}/oauth/token`,
    },
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  assert.equal(made.body.has_oauth_tokens, false);
  const { context, page, errors } = await portal({});
  const opened = context.waitForEvent("page");
  await page.getByRole("button", { name: `Connect ${name}`, exact: true }).click();
  const consent = await opened;
  // The provider sends the window back through the callback to the portal, which says so.
  await consent.waitForSelector("#status:text('Connected.')", { timeout: 20000 });
  assert.equal(new URL(consent.url()).pathname, "/portal/");
  const exchanged = received.find((r) => r.path === "/oauth/token");
  assert.match(exchanged.body, /grant_type=authorization_code/);
  assert.match(exchanged.body, /code=code-from-consent/);
  assert.match(exchanged.body, /code_verifier=/);
  const connected = await api("GET", `/destinations/${made.body.id}`);
  assert.equal(connected.body.has_oauth_tokens, true);
  assert.equal(connected.body.status, "connected");
  // Back in the portal, it reads as connected.
  await page.reload();
  await page.waitForSelector("body[data-ready]");
  await page.getByRole("button", { name: `Reconnect ${name}`, exact: true }).waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});

test("an expired session is refused", async () => {
  const { context, page } = expiring;
  const wait = expiresAt + 1500 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await page.reload();
  await page.waitForSelector("body[data-ready]");
  assert.match(await page.textContent("#status"), /could not load/);
  assert.equal(await page.isVisible("#destinations"), false);
  const status = await page.evaluate(async () => (await fetch("/api/v1/portal/session")).status);
  assert.equal(status, 401);
  await page.screenshot({ path: join(SCREENSHOTS, "expired.png"), fullPage: true });
  await context.close();
});

test("a used or expired link is refused", async () => {
  const url = await session({}, { expires_in_s: 60 });
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(url);
  assert.deepEqual(await accessibility(page), []);
  await page.click("button:text('Open the portal')");
  await page.waitForSelector("body[data-ready]");
  assert.equal(new URL(page.url()).pathname, "/portal/");
  const again = await (await browser.newContext()).newPage();
  const response = await again.goto(url);
  assert.equal(response.status(), 400);
  assert.match(await again.textContent("body"), /expired or was already used/);
  assert.deepEqual(await accessibility(again), []);
  // Signed out, the session no longer works.
  await page.click("#sign-out");
  await page.waitForSelector("#status:text('Signed out.')");
  const status = await page.evaluate(async () => (await fetch("/api/v1/portal/session")).status);
  assert.equal(status, 401);
  await context.close();
});
