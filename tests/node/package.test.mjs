// The npm package (pkg/): `require("sf-lead-rule")` is wasm-bindgen's nodejs output for one wasm
// module with every login host and the webhooks: one configure() state and one token cache for
// every entry point. The batch backfill (createLeads) is a module of its own, reached only as its
// own entry point, `require("sf-lead-rule/backfill")` (and the CLI). These tests hold the package
// to that, and to its files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, symlinkSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { loadPackage, fixture, fixtureText, emulatorSecrets, captureConsole, hostEvents } from "./harness.mjs";
import { useEmulator } from "./use-emulator.mjs";

const require = createRequire(import.meta.url);
const PKG = fileURLToPath(new URL("../../pkg/", import.meta.url));

const sf = loadPackage();
const backfill = loadPackage("sf_lead_rule_backfill.js");
const fixtureEmu = useEmulator(sf);

/** Every entry point require("sf-lead-rule") exports, in name order. */
const EXPORTS = [
  "buildLead",
  "checkMapping",
  "clearTokenCache",
  "configure",
  "handleWebhook",
  "mappingPresets",
  "onCognitoTrigger",
  "onExecutePostLogin",
  "onFirebaseAuthEvent",
  "onFirstLogin",
  "planFirstLogin",
  "rule",
  "version",
];

/** One sample event of every host, by the host name a config gives. */
const EVENTS = hostEvents();

const SETTINGS = {
  clientId: "package-client-id",
  clientSecret: "package-client-secret",
  loginUrl: "https://acme.my.salesforce.com",
};

/** Export records of `n` users (Auth0 export shape). */
function users(n, from = 0) {
  return Array.from({ length: n }, (_, i) => ({
    user_id: `auth0|pkg${from + i}`,
    email: `pkg${from + i}@example.com`,
    given_name: "Pkg",
    family_name: `User ${from + i}`,
    user_metadata: { company: "From Profile" },
  }));
}

/** The records of every sObject Collections request the emulator received. */
function sentRecords(emu) {
  return emu.state.requests
    .filter((r) => r.method === "POST" && r.path.endsWith("/composite/sobjects"))
    .flatMap((r) => JSON.parse(r.body).records.map(({ attributes, ...fields }) => fields));
}

/**
 * Run `script` in a fresh `node` from a folder where the package is installed (node_modules/
 * sf-lead-rule, a symlink to pkg/), with every file it reads recorded: `wasmReads()` lists the
 * .wasm files read so far. The script writes its findings as JSON to stdout.
 */
function installed(script) {
  const dir = mkdtempSync(join(tmpdir(), "sf-pkg-"));
  try {
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(PKG, join(dir, "node_modules", "sf-lead-rule"), "dir");
    const prelude = `
      const fs = require("fs");
      const path = require("path");
      const reads = [];
      const readFileSync = fs.readFileSync;
      fs.readFileSync = function (p, ...rest) { reads.push(String(p)); return readFileSync.call(this, p, ...rest); };
      const wasmReads = () => reads.filter((p) => p.endsWith(".wasm")).map((p) => path.basename(p));
    `;
    const r = spawnSync(process.execPath, ["-e", prelude + script], { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('require("sf-lead-rule") resolves through package.json to one wasm module that reads every host', () => {
  const out = installed(`
    const out = {};
    const sf = require("sf-lead-rule");
    out.main = path.basename(require.resolve("sf-lead-rule"));
    out.manifest = require("sf-lead-rule/package.json").name;
    out.afterRequire = wasmReads();
    out.exports = Object.keys(sf).sort();
    out.leads = {};
    for (const [host, event] of Object.entries(${JSON.stringify(EVENTS)})) {
      out.leads[host] = sf.buildLead(event, { host, mapping: { LastName: "family_name ?? 'None'", Company: "'C'" } }).LastName;
    }
    Promise.all([
      sf.handleWebhook("okta", { method: "GET", headers: { "x-okta-verification-challenge": "c" }, body: "" }, {}),
      sf.onFirebaseAuthEvent({}, {}).catch((e) => e.code),
      sf.onCognitoTrigger({}, {}).catch((e) => e.code),
    ]).then(([okta]) => {
      out.okta = okta.status;
      out.afterCalls = wasmReads();
      process.stdout.write(JSON.stringify(out));
    });
  `);
  assert.equal(out.main, "sf_lead_rule.js");
  assert.equal(out.manifest, "sf-lead-rule");
  assert.deepEqual(out.afterRequire, ["sf_lead_rule_bg.wasm"], "require reads the one module");
  assert.deepEqual(out.exports, EXPORTS);
  assert.deepEqual(out.leads, {
    auth0: "Pereira",
    "auth0-rule": "Okafor",
    ory: "Fischer",
    firebase: "Watanabe",
    cognito: "Brown",
    clerk: "Brooks",
    okta: "Novák",
    "auth0-events": "Kowalska",
    authentik: "None",
    generic: "Person",
  });
  assert.equal(out.okta, 200);
  assert.deepEqual(out.afterCalls, ["sf_lead_rule_bg.wasm"], "no other module is ever read");
});

test('require("sf-lead-rule/backfill") is the backfill module: createLeads beside every other export', () => {
  const out = installed(`
    const out = {};
    const backfill = require("sf-lead-rule/backfill");
    out.main = path.basename(require.resolve("sf-lead-rule/backfill"));
    out.afterRequire = wasmReads();
    out.exports = Object.keys(backfill).sort();
    const config = ${JSON.stringify(SETTINGS)};
    backfill.createLeads([{ user_id: "auth0|1", name: "Ana Pereira" }], config, { dryRun: true }).then((plan) => {
      out.plan = plan.requests.map((r) => r.purpose);
      out.afterCalls = wasmReads();
      process.stdout.write(JSON.stringify(out));
    });
  `);
  assert.equal(out.main, "sf_lead_rule_backfill.js");
  assert.deepEqual(out.afterRequire, ["sf_lead_rule_backfill_bg.wasm"]);
  assert.deepEqual(out.exports, [...EXPORTS, "createLeads"].sort());
  assert.deepEqual(out.plan, ["token", "createCollection"]);
  assert.deepEqual(out.afterCalls, ["sf_lead_rule_backfill_bg.wasm"]);
});

test("configure() applies to every host's event; a refused one changes nothing", () => {
  const mapping = { LastName: "family_name ?? 'Unknown'", Email: "email", Company: "'Configured Co'" };
  try {
    sf.configure({ mapping, object: "Contact" });
    const got = {};
    for (const [host, event] of Object.entries(EVENTS)) {
      const lead = sf.buildLead(event, { host });
      const plan = sf.planFirstLogin(event, { host, ...SETTINGS });
      assert.equal(plan.action, "create", host);
      assert.deepEqual(
        plan.requests.map((r) => [r.purpose, r.url]),
        [
          ["token", "https://acme.my.salesforce.com/services/oauth2/token"],
          ["createRecord", "https://acme.my.salesforce.com/services/data/v66.0/sobjects/Contact/"],
        ],
        host,
      );
      assert.deepEqual(plan.requests[1].body, lead, host);
      got[host] = lead;
    }
    assert.deepEqual(got, {
      auth0: { LastName: "Pereira", Email: "ana.pereira@example.com", Company: "Configured Co" },
      "auth0-rule": { LastName: "Okafor", Email: "david.okafor@example.com", Company: "Configured Co" },
      ory: { LastName: "Fischer", Email: "lena.fischer@example.com", Company: "Configured Co" },
      firebase: { LastName: "Watanabe", Email: "kenji.watanabe@example.com", Company: "Configured Co" },
      cognito: { LastName: "Brown", Email: "olivia.brown@example.com", Company: "Configured Co" },
      clerk: { LastName: "Brooks", Email: "dana.brooks@example.com", Company: "Configured Co" },
      okta: { LastName: "Novák", Email: "tomas.novak@example.com", Company: "Configured Co" },
      "auth0-events": { LastName: "Kowalska", Email: "marta.kowalska@example.com", Company: "Configured Co" },
      authentik: { LastName: "Unknown", Email: "jonas.berg@example.com", Company: "Configured Co" },
      generic: { LastName: "Person", Email: "plain@example.com", Company: "Configured Co" },
    });
    assert.throws(() => sf.configure({ mapping: { LastName: "name |" } }), { code: "MAPPING_INVALID" });
    for (const [host, event] of Object.entries(EVENTS)) {
      assert.deepEqual(sf.buildLead(event, { host }), got[host], `${host}, after a refused configure()`);
    }
  } finally {
    sf.configure({});
  }
  assert.deepEqual(sf.buildLead(EVENTS.cognito, { host: "cognito" }), {
    FirstName: "Olivia",
    LastName: "Brown",
    Email: "olivia.brown@example.com",
    Company: "Brown & Partners Ltd",
    LeadSource: "Web",
    Phone: "+447700900123",
  }, "configure({}) is back to the recommended mapping");
});

test("backfill: createLeads uses the configure() mapping and credentials, and follows later configure() calls", async () => {
  const emu = fixtureEmu.emu;
  const sf = backfill;
  try {
    sf.configure({
      mapping: { LastName: "family_name", Company: "'Configured Co'", LeadSource: "'Backfill'" },
      secrets: emulatorSecrets(emu),
    });
    const report = await sf.createLeads(users(3), {}, { host: "auth0" });
    assert.equal(report.stopped, null);
    assert.equal(report.stats.created, 3);
    assert.deepEqual(sentRecords(emu), [0, 1, 2].map((i) => ({ LastName: `User ${i}`, Company: "Configured Co", LeadSource: "Backfill" })));

    emu.reset();
    sf.configure({ mapping: { LastName: "family_name", Company: "'Second Co'" } });
    assert.throws(() => sf.configure({ mapping: { LastName: "name |" } }), { code: "MAPPING_INVALID" });
    await sf.createLeads(users(2), { secrets: emulatorSecrets(emu) }, { host: "auth0" });
    assert.deepEqual(sentRecords(emu), [0, 1].map((i) => ({ LastName: `User ${i}`, Company: "Second Co" })));

    sf.configure({}); // back to the defaults
    emu.reset();
    await sf.createLeads(users(1, 10), { secrets: emulatorSecrets(emu) }, { host: "auth0" });
    const [record] = sentRecords(emu);
    assert.equal(record.Company, "From Profile", "the recommended mapping again");
    assert.deepEqual(record, sf.buildLead(users(1, 10)[0]));
  } finally {
    sf.configure({});
  }
});

test("one token cache: a login's token serves the webhooks and the other hosts; clearTokenCache() forgets it", async () => {
  const emu = fixtureEmu.emu;
  const config = { secrets: emulatorSecrets(emu) };
  const { result: first } = await captureConsole(() => sf.onFirstLogin(EVENTS.generic, config));
  assert.equal(first.token, "new");
  const body = fixtureText("ory-registration-after.json");
  const { result: hook } = await captureConsole(() => sf.handleWebhook("ory", { method: "POST", headers: {}, body }, config));
  assert.equal(hook.status, 200);
  await captureConsole(() => sf.onCognitoTrigger(EVENTS.cognito, config));
  assert.equal(emu.state.tokensIssued.length, 1, "one token for the login, the webhook and the trigger");
  sf.clearTokenCache();
  const { result: again } = await captureConsole(() => sf.onFirebaseAuthEvent(EVENTS.firebase, config));
  assert.ok(again.customClaims.recordedAsLead);
  assert.equal(emu.state.tokensIssued.length, 2, "a new token after clearTokenCache()");
  assert.equal(emu.state.records.Lead.length, 4);
});

test("backfill: clearTokenCache() empties the backfill module's token cache", async () => {
  const emu = fixtureEmu.emu;
  const config = { secrets: emulatorSecrets(emu) };
  backfill.clearTokenCache();
  await backfill.createLeads(users(1, 20), config, { host: "auth0" });
  await backfill.createLeads(users(1, 21), config, { host: "auth0" });
  assert.equal(emu.state.tokensIssued.length, 1, "the second run reuses the backfill module's token");
  backfill.clearTokenCache();
  await backfill.createLeads(users(1, 22), config, { host: "auth0" });
  assert.equal(emu.state.tokensIssued.length, 2, "a new token after clearTokenCache()");
  assert.equal(emu.state.records.Lead.length, 3);
});

test("package.json: main, types, exports and files name the files the build writes", () => {
  const manifest = require(`${PKG}package.json`);
  assert.equal(manifest.main, "sf_lead_rule.js");
  assert.equal(manifest.types, "sf_lead_rule.d.ts");
  assert.deepEqual(manifest.exports, {
    ".": { types: "./sf_lead_rule.d.ts", default: "./sf_lead_rule.js" },
    "./backfill": { types: "./sf_lead_rule_backfill.d.ts", default: "./sf_lead_rule_backfill.js" },
    "./package.json": "./package.json",
  });
  assert.deepEqual(manifest.files, [
    "sf_lead_rule.js",
    "sf_lead_rule.d.ts",
    "sf_lead_rule_bg.wasm",
    "sf_lead_rule_backfill.js",
    "sf_lead_rule_backfill.d.ts",
    "sf_lead_rule_backfill_bg.wasm",
    "bin/",
    "README.md",
  ]);
  // Each file the manifest names is one the build wrote (wasm-bindgen's, as generated).
  for (const f of [manifest.main, manifest.types, ...Object.values(manifest.exports).flatMap((e) => (typeof e === "string" ? [e] : Object.values(e)))]) {
    assert.ok(existsSync(join(PKG, f)), f);
  }
});

test("npm pack ships exactly the package's files, README included, and nothing else", () => {
  const { files } = require(`${PKG}package.json`);
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: PKG, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const packed = JSON.parse(r.stdout)[0].files.map((f) => f.path).sort();
  const expected = files.flatMap((f) => (f.endsWith("/") ? packed.filter((p) => p.startsWith(f)) : [f]));
  assert.deepEqual(packed, [...expected, "package.json"].sort());
  assert.ok(packed.includes("README.md") && packed.includes("bin/sf-lead-rule.js"), packed.join(", "));
});
