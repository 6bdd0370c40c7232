// The demo page (www/) in headless Chromium, served by scripts/demo-server.mjs next to a local
// Salesforce + Slack emulator: live Lead, errors with position, host switching, masked requests,
// a real run against the emulator, a 375 px layout and a screenshot that is not blank.
// Needs the browser build (bash scripts/build.sh) and Debian's chromium at /usr/bin/chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { chromium } from "playwright-core";
import { startEmulator } from "../emulator/server.mjs";
import { startDemoServer } from "../../scripts/demo-server.mjs";
import { loadPackage } from "../node/harness.mjs";

const root = new URL("../../", import.meta.url);
const TMP = new URL("tests/browser/tmp/", root);
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

// The auth0-action-post-login.json fixture through the `recommended` preset: every field, in order.
const EXPECTED_LEAD = {
  FirstName: "Ana",
  LastName: "Pereira",
  Email: "ana.pereira@example.com",
  Company: "Acme Corp",
  LeadSource: "Web",
};

const samples = JSON.parse(readFileSync(new URL("www/samples.json", root), "utf8")).samples;

let emu;
let server;
let browser;
let page;
const pageErrors = [];
const foreignRequests = [];

before(async () => {
  assert.ok(existsSync(new URL("www/pkg/sf_lead_rule_bg.wasm", root)), "www/pkg/ is missing: run bash scripts/build.sh first");
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run bash scripts/setup.sh --browser`);
  emu = await startEmulator({ corsOrigins: ["*"] });
  server = await startDemoServer({ emulator: emu });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 20_000 });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  watch(page);
  await open(page, server.url);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await emu?.stop();
});

/** Record page errors, console errors and any request that leaves the two local servers. */
function watch(p, pageServer = server) {
  const allowed = [new URL(pageServer.url).origin, new URL(emu.url).origin];
  p.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
  p.on("console", (m) => m.type() === "error" && pageErrors.push(`console: ${m.text()}`));
  p.on("request", (r) => {
    const u = new URL(r.url());
    if (u.protocol !== "data:" && !allowed.includes(u.origin)) foreignRequests.push(r.url());
  });
}

async function open(p, url) {
  p.setDefaultTimeout(10_000);
  await p.goto(url, { waitUntil: "load" });
  await p.waitForSelector("html[data-ready]", { timeout: 10_000 });
  const ready = await p.getAttribute("html", "data-ready");
  assert.equal(ready, "true", `the page did not start: ${await p.locator("#load-status").textContent()}`);
}

const leadOnPage = async (p = page) => JSON.parse(await p.locator("#lead").textContent());

async function setMapping(mutate) {
  const mapping = JSON.parse(await page.locator("#mapping").inputValue());
  mutate(mapping);
  await page.locator("#mapping").fill(JSON.stringify(mapping, null, 2));
}

async function chooseSample(host) {
  const index = samples.findIndex((s) => s.host === host);
  await page.selectOption("#sample", String(index));
}

async function usePreset(name) {
  await page.selectOption("#preset", name);
  await page.waitForSelector("#results[data-current='true']");
}

test("the page loads with the Auth0 sample and shows the Lead of the recommended mapping", async () => {
  assert.equal(await page.locator("#sample option:checked").textContent(), samples[0].label);
  assert.equal(await page.inputValue("#host"), "auth0");
  assert.equal(await page.inputValue("#preset"), "recommended");
  assert.deepEqual(JSON.parse(await page.inputValue("#event")), samples[0].event);
  assert.equal(await page.locator("#errors").isHidden(), true);
  assert.equal(await page.getAttribute("#results", "data-current"), "true");
  const lead = await leadOnPage();
  assert.deepEqual(lead, EXPECTED_LEAD);
  // Field order is part of the contract (the request body keeps mapping order).
  assert.deepEqual(Object.keys(lead), Object.keys(EXPECTED_LEAD));
  assert.match(await page.locator("#version").textContent(), /^v\d+\.\d+\.\d+/);
});

test("a mapping edit changes the Lead within a second", async () => {
  const started = Date.now();
  await setMapping((m) => {
    m.LeadSource = "'Partner'";
  });
  await page.waitForFunction(() => {
    try {
      return JSON.parse(document.getElementById("lead").textContent).LeadSource === "Partner";
    } catch {
      return false;
    }
  }, null, { timeout: 1_000 });
  assert.ok(Date.now() - started < 1_000);
  assert.equal(await page.inputValue("#preset"), "", "the preset select says the mapping was edited");
  assert.equal(await page.getAttribute("#results", "data-current"), "true");
});

test("the plan's warnings are listed", async () => {
  assert.equal(await page.locator("#warnings li.warning").count(), 0);
  await setMapping((m) => {
    m.LeadSource = `'${"x".repeat(50)}'`;
  });
  const warning = page.locator("#warnings li.warning[data-code='TRUNCATED']");
  await warning.waitFor({ timeout: 1_000 });
  assert.match(await warning.textContent(), /LeadSource/);
  assert.equal((await leadOnPage()).LeadSource, "x".repeat(40));
  await setMapping((m) => {
    m.LeadSource = "'Partner'";
  });
  await page.waitForFunction(() => document.querySelectorAll("#warnings li.warning").length === 0, null, { timeout: 1_000 });
});

test("a broken expression shows MAPPING_INVALID with the field and a caret, and the old Lead is marked not current", async () => {
  await setMapping((m) => {
    m.LastName = "family_name ??";
  });
  const item = page.locator("#error-list li[data-code='MAPPING_INVALID']");
  await item.waitFor({ timeout: 1_000 });
  assert.equal(await item.getAttribute("data-field"), "LastName");
  assert.equal(await item.locator(".error-field").textContent(), "LastName");
  const caret = await item.locator("pre.caret").textContent();
  const [exprLine, caretLine] = caret.split("\n");
  assert.equal(exprLine, "family_name ??");
  assert.match(caretLine, /^ *\^$/, "a caret under the error position");
  assert.equal(await page.getAttribute("#results", "data-current"), "false");
  assert.match(await page.locator("#lead-status").textContent(), /Not current/);
  assert.equal(await page.getAttribute("#mapping", "aria-invalid"), "true");
  // "Show in mapping" selects the spot in the textarea.
  await item.locator("button", { hasText: "Show in mapping" }).click();
  const selected = await page.evaluate(() => {
    const t = document.getElementById("mapping");
    return t.value.slice(t.value.lastIndexOf('"LastName"', t.selectionStart), t.selectionEnd);
  });
  assert.match(selected, /^"LastName": "family_name \?\?/);
});

test("switching the sample host changes the Lead, each to what the package builds in Node", async () => {
  await usePreset("recommended");
  const pkg = loadPackage();
  const seen = new Set();
  for (const s of samples) {
    await chooseSample(s.host);
    assert.equal(await page.inputValue("#host"), s.host);
    await page.waitForSelector("#results[data-current='true']", { timeout: 1_000 });
    assert.equal(await page.locator("#errors").isHidden(), true, `${s.host}: ${await page.locator("#errors").textContent()}`);
    const lead = await leadOnPage();
    assert.deepEqual(lead, pkg.buildLead(s.event, { host: s.host, object: "Lead", mapping: "recommended" }), s.host);
    seen.add(JSON.stringify(lead));
  }
  assert.equal(seen.size, samples.length, "every host's sample gives its own Lead");
  await chooseSample("auth0");
});

test("profile values are shown as text, never as markup", async () => {
  const event = structuredClone(samples[0].event);
  const evil = `<img src=x onerror="window.__xss=1">`;
  event.user.given_name = evil;
  await page.fill("#event", JSON.stringify(event, null, 2));
  await page.waitForFunction((v) => {
    try {
      return JSON.parse(document.getElementById("lead").textContent).FirstName === v;
    } catch {
      return false;
    }
  }, evil, { timeout: 1_000 });
  assert.equal(await page.locator("#results img").count(), 0);
  // In Slack text, `<`, `>` are entities and the `__` cannot format (look-alike ˍ, U+02CD).
  assert.match(await page.locator("#slack").textContent(), /\*&lt;img src=x onerror="window.ˍˍxss=1"&gt; Pereira\*/);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await chooseSample("auth0");
  await page.waitForFunction(() => JSON.parse(document.getElementById("lead").textContent).FirstName === "Ana");
});

test("a bad event and a missing required field are explained", async () => {
  await page.fill("#event", "{ not json");
  const bad = page.locator("#error-list li[data-code='JSON_INVALID']");
  await bad.waitFor({ timeout: 1_000 });
  assert.match(await bad.textContent(), /Event JSON is not valid JSON/);
  assert.equal(await page.getAttribute("#event", "aria-invalid"), "true");
  assert.equal(await page.getAttribute("#results", "data-current"), "false");
  await chooseSample("auth0");
  await page.waitForSelector("#results[data-current='true']", { timeout: 1_000 });
  await setMapping((m) => {
    delete m.Company;
  });
  const missing = page.locator("#error-list li[data-code='MISSING_REQUIRED_FIELD']");
  await missing.waitFor({ timeout: 1_000 });
  assert.equal(await missing.getAttribute("data-field"), "Company");
  await usePreset("recommended");
});

test("Contact instead of Lead", async () => {
  await page.check("input[name='object'][value='Contact']");
  await page.waitForFunction(() => document.getElementById("object-name").textContent === "Contact");
  assert.equal(await page.getAttribute("#results", "data-current"), "true");
  assert.match(await page.locator("#requests").textContent(), /sobjects\/Contact/);
  await page.check("input[name='object'][value='Lead']");
  await page.waitForFunction(() => document.getElementById("object-name").textContent === "Lead");
});

test("the requests panel shows the planned requests with secrets masked", async () => {
  const text = await page.locator("#requests").textContent();
  assert.match(text, /Bearer \*\*\*/);
  assert.doesNotMatch(text, /your-client-secret/);
  assert.doesNotMatch(text, /B000\/XXXX/, "the Slack webhook URL is a secret too");
  assert.match(text, /client_secret=\*\*\*/);
  const purposes = await page.locator("#requests li").evaluateAll((lis) => lis.map((li) => li.dataset.purpose));
  assert.equal(purposes[0], "token");
  assert.ok(purposes.includes("createRecord") || purposes.includes("upsertRecord"), purposes.join());
  assert.ok(purposes.includes("notifySlack"), purposes.join());
  const slack = await page.locator("#slack").textContent();
  assert.match(slack, /^New Salesforce Lead: /);
  // Shown as text: the mrkdwn link syntax is visible, not turned into markup.
  assert.match(slack, /<https?:\/\/[^|]+\|open in Salesforce>/);
  assert.equal(await page.locator("#slack a, #slack *").count(), 0);
});

test("Run against local emulator creates one Lead and posts one Slack message", async () => {
  assert.equal(await page.locator("#run").isEnabled(), true);
  assert.match(await page.locator("#run-hint").textContent(), new RegExp(emu.url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  const expected = await leadOnPage();
  await page.click("#run");
  await page.waitForSelector("#outcome[data-status]", { timeout: 10_000 });
  const outcome = JSON.parse(await page.locator("#outcome").textContent());
  assert.equal(outcome.status, "created", JSON.stringify(outcome));
  assert.equal(emu.state.records.Lead.length, 1);
  assert.equal(emu.state.slackMessages.length, 1);
  const stored = emu.state.records.Lead[0];
  for (const [k, v] of Object.entries(expected)) assert.equal(stored[k], v, k);
  assert.equal(outcome.leadId, stored.Id);
  assert.match(await page.locator("#run-status").textContent(), /created/);
  assert.doesNotMatch(await page.locator("#outcome").textContent(), /emu-client-secret/);
});

test("in the browser a redirected create is an opaqueredirect: refused (status 0), not followed", async () => {
  // The Location is the emulator's own origin (allowed by the page's CSP), so following it could
  // not be blocked by anything but the driver's redirect: "manual".
  const leads = emu.state.records.Lead.length;
  emu.setFaults({ kind: "redirect", target: "create", status: 302, location: `${emu.url}/elsewhere`, times: 1 });
  try {
    await page.click("#run");
    await page.waitForSelector('#outcome[data-status="failed"]', { timeout: 10_000 });
  } finally {
    emu.clearFaults();
  }
  const outcome = JSON.parse(await page.locator("#outcome").textContent());
  assert.equal(outcome.error.code, "REDIRECT_REFUSED", JSON.stringify(outcome.error));
  assert.equal(outcome.error.status, 0, "Chromium hands back an opaqueredirect response, status 0");
  assert.equal(emu.state.faultsApplied.redirect, 1);
  assert.equal(emu.state.records.Lead.length, leads);
  assert.equal(emu.state.requests.filter((r) => r.path === "/elsewhere").length, 0);
});

test("at 375×740 nothing overflows horizontally, also with an error shown", async () => {
  await page.setViewportSize({ width: 375, height: 740 });
  await open(page, server.url);
  const width = () => page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok((await width()) <= 375, `scrollWidth ${await width()}`);
  // Single column: the inputs are above the results.
  const inputs = await page.locator(".inputs").boundingBox();
  const results = await page.locator("#results").boundingBox();
  assert.ok(results.y >= inputs.y + inputs.height, "one column at 375 px");
  await setMapping((m) => {
    m.LastName = "family_name ?? " + "'a very long literal that does not fit on a phone screen at all, not even close' ??";
  });
  await page.locator("#error-list li").first().waitFor();
  assert.ok((await width()) <= 375, `scrollWidth ${await width()} with an error`);
  await usePreset("recommended");
});

test("a screenshot of the page is not blank", async () => {
  mkdirSync(TMP, { recursive: true });
  for (const [name, viewport] of [["phone", { width: 375, height: 740 }], ["wide", { width: 1280, height: 900 }]]) {
    await page.setViewportSize(viewport);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(50);
    const png = await page.screenshot({ fullPage: name === "phone" });
    writeFileSync(new URL(`page-${name}.png`, TMP), png);
    assert.ok(png.length > 10_000, `${name}: ${png.length} bytes`);
    const { colours, dominantShare } = pngStats(png);
    assert.ok(colours >= 16, `${name}: only ${colours} distinct colours`);
    assert.ok(dominantShare < 0.97, `${name}: ${Math.round(dominantShare * 100)}% of the pixels are one colour`);
  }
  assert.ok((await page.evaluate(() => document.body.innerText.length)) > 200);
  for (const sel of [".inputs", "#results", "#lead", "#requests", "#event", "#mapping"]) {
    const box = await page.locator(sel).boundingBox();
    assert.ok(box && box.width > 50 && box.height > 20, `${sel}: ${JSON.stringify(box)}`);
  }
});

test("opened without the emulator, the run button is disabled with the start command", async () => {
  const plain = await startDemoServer({ emulator: null });
  const p = await browser.newPage({ viewport: { width: 1024, height: 800 } });
  try {
    watch(p, plain);
    await open(p, plain.url);
    assert.equal(await p.locator("#run").isDisabled(), true);
    assert.match(await p.locator("#run-hint").textContent(), /start with: bash scripts\/demo\.sh --serve/i);
    assert.ok(Object.keys(await leadOnPage(p)).length > 0, "the page works without the emulator");
  } finally {
    await p.close();
    await plain.stop();
  }
  // The missing emulator.json is an expected 404; nothing else may have gone wrong.
  const unexpected = pageErrors.filter((e) => !/emulator\.json|404/.test(e));
  assert.deepEqual(unexpected, []);
});

test("no external resources and no errors in the page", () => {
  assert.deepEqual(foreignRequests, []);
  assert.deepEqual(pageErrors.filter((e) => !/404/.test(e)), []);
});

/** Distinct colours and the share of the most common one, sampled from an 8-bit RGB(A) PNG. */
function pngStats(buf) {
  assert.equal(buf.readUInt32BE(0), 0x89504e47, "PNG signature");
  let off = 8;
  let width = 0;
  let height = 0;
  let colourType = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString("latin1", off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, "8-bit PNG");
      colourType = data[9];
      assert.equal(data[12], 0, "not interlaced");
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    off += 12 + len;
  }
  const bpp = { 2: 3, 6: 4 }[colourType];
  assert.ok(bpp, `colour type ${colourType}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const px = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = px.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? px.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? out[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      let v = line[i];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[i] = v & 0xff;
    }
  }
  const counts = new Map();
  let n = 0;
  for (let y = 0; y < height; y += 3) {
    for (let x = 0; x < width; x += 3) {
      const i = y * stride + x * bpp;
      const key = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
      counts.set(key, (counts.get(key) ?? 0) + 1);
      n++;
    }
  }
  return { colours: counts.size, dominantShare: Math.max(...counts.values()) / n };
}
