// The package entry (pkg/sf_lead_rule.js) and its three wasm modules: requiring it instantiates
// only the Auth0 module; the hosts module is read and instantiated when another host's event or
// an export only it has needs it; the backfill module (createLeads) on the first createLeads call.
// Both get the configure() settings and clearTokenCache() of the entry (tests/node/routing.test.mjs
// checks the hosts module's results). Each test file runs in its own process, so this one starts
// with the backfill module unloaded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { loadPackage, emulatorSecrets } from "./harness.mjs";
import { useEmulator } from "./use-emulator.mjs";

const require = createRequire(import.meta.url);
const PKG = fileURLToPath(new URL("../../pkg/", import.meta.url));
const BATCH_GLUE = `${PKG}sf_lead_rule_batch.js`;
const HOSTS_GLUE = `${PKG}sf_lead_rule_hosts.js`;

const sf = loadPackage();
const fixtureEmu = useEmulator(sf);

/** Export records of `n` users (Auth0 export shape). */
function users(n, from = 0) {
  return Array.from({ length: n }, (_, i) => ({
    user_id: `auth0|split${from + i}`,
    email: `split${from + i}@example.com`,
    given_name: "Split",
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

test("require() reads and instantiates only the Auth0 wasm; another host loads the hosts wasm, the first createLeads the backfill wasm", () => {
  // A fresh process, so nothing else has loaded anything yet; every file read is recorded.
  const script = `
    const fs = require("fs");
    const reads = [];
    const readFileSync = fs.readFileSync;
    fs.readFileSync = function (p, ...rest) { reads.push(String(p)); return readFileSync.call(this, p, ...rest); };
    const loaded = () => Object.keys(require.cache).map((f) => require("path").basename(f));
    const wasmReads = () => reads.filter((p) => p.endsWith(".wasm")).map((p) => require("path").basename(p));
    const out = {};
    const sf = require(${JSON.stringify(`${PKG}sf_lead_rule.js`)});
    out.afterRequire = { modules: loaded(), wasm: wasmReads() };
    const config = { clientId: "id", clientSecret: "secret", loginUrl: "https://acme.my.salesforce.com" };
    sf.configure({ mapping: "auth0-template" });
    sf.buildLead({ user_id: "auth0|1", name: "Ana Pereira" });
    sf.buildLead({ user: { user_id: "auth0|1", name: "Ana Pereira" } }, { host: " Auth0-Action " });
    sf.planFirstLogin({ user: { user_id: "auth0|1", name: "Ana Pereira" } }, { host: "auth0", ...config });
    sf.planFirstLogin({ user_id: "auth0|1", name: "Ana Pereira" }, { host: "generic", ...config });
    try { sf.buildLead({}, { host: "myspace" }); } catch (e) { out.unknownHost = e.code; }
    sf.checkMapping("recommended");
    sf.clearTokenCache();
    out.afterAuth0Calls = { modules: loaded(), wasm: wasmReads() };
    // Another host's event: straight to the hosts module, the Auth0 module is not called.
    const auth0 = require(${JSON.stringify(`${PKG}sf_lead_rule_auth0.js`)});
    const auth0Calls = [];
    for (const name of ["buildLead", "planFirstLogin", "onFirstLogin"]) {
      const f = auth0[name];
      auth0[name] = (...args) => (auth0Calls.push(name), f(...args));
    }
    const firebase = { data: { uid: "u1", email: "u1@example.com", displayName: "Una Uno" }, eventType: "providers/cloud.auth/eventTypes/user.beforeCreate" };
    out.firebaseLead = sf.buildLead(firebase, { host: "firebase" });
    out.afterFirebase = { modules: loaded(), wasm: wasmReads() };
    for (const host of ["ory", "Cognito", " clerk", "OKTA"]) {
      try { sf.planFirstLogin({}, { host, ...config }); } catch {}
      sf.onFirstLogin({}, { host, ...config }).catch(() => {});
    }
    out.auth0Calls = auth0Calls;
    sf.createLeads([{ user_id: "auth0|1", name: "Ana Pereira" }], config, { dryRun: true }).then(async (plan) => {
      out.plan = plan.requests.map((r) => r.purpose);
      out.afterCreateLeads = { modules: loaded(), wasm: wasmReads() };
      await sf.createLeads([], config, { dryRun: true });
      sf.buildLead(firebase, { host: "firebase" });
      out.afterSecondCalls = { wasm: wasmReads() };
      out.entryExports = Object.keys(sf).sort();
      out.fullBuildExports = Object.keys(require(${JSON.stringify(BATCH_GLUE)})).sort();
      out.auth0Exports = Object.keys(auth0).sort();
      out.hostsExports = Object.keys(require(${JSON.stringify(HOSTS_GLUE)})).sort();
      process.stdout.write(JSON.stringify(out));
    });
  `;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  for (const when of ["afterRequire", "afterAuth0Calls"]) {
    assert.deepEqual(out[when].wasm, ["sf_lead_rule_auth0_bg.wasm"], when);
    assert.ok(out[when].modules.includes("sf_lead_rule_auth0.js"), when);
    for (const other of ["sf_lead_rule_hosts.js", "sf_lead_rule_batch.js"]) {
      assert.ok(!out[when].modules.includes(other), `${when}: ${other} is loaded`);
    }
  }
  assert.equal(out.unknownHost, "CONFIG_INVALID");
  assert.deepEqual(out.firebaseLead, { LastName: "Una Uno", Company: "Web channel signups" }, "the configured (auth0-template) mapping");
  assert.deepEqual(out.afterFirebase.wasm, ["sf_lead_rule_auth0_bg.wasm", "sf_lead_rule_hosts_bg.wasm"]);
  assert.ok(out.afterFirebase.modules.includes("sf_lead_rule_hosts.js"));
  assert.ok(!out.afterFirebase.modules.includes("sf_lead_rule_batch.js"));
  assert.deepEqual(out.auth0Calls, [], "calls naming another host go straight to the hosts module");
  assert.deepEqual(out.plan, ["token", "createCollection"]);
  const all = ["sf_lead_rule_auth0_bg.wasm", "sf_lead_rule_hosts_bg.wasm", "sf_lead_rule_batch_bg.wasm"];
  assert.deepEqual(out.afterCreateLeads.wasm, all);
  assert.ok(out.afterCreateLeads.modules.includes("sf_lead_rule_batch.js"));
  assert.deepEqual(out.afterSecondCalls.wasm, all, "each loaded once");
  // Everything the full build exports (createLeads included), the entry exports too; the exports
  // only the hosts module has are the ones the entry sends there.
  assert.deepEqual(out.entryExports, out.fullBuildExports);
  assert.deepEqual(
    out.hostsExports.filter((name) => !out.auth0Exports.includes(name)),
    ["handleWebhook", "onCognitoTrigger", "onFirebaseAuthEvent"],
  );
  assert.deepEqual(out.fullBuildExports.filter((name) => !out.hostsExports.includes(name)), ["createLeads"]);
});

test("the exports only the hosts module has load it on their first call, and return Promises", () => {
  for (const [name, args] of [
    ["onFirebaseAuthEvent", "[{}, {}]"],
    ["onCognitoTrigger", "[{}, {}]"],
    ["handleWebhook", `["ory", { method: "GET", headers: {}, body: "" }, {}]`],
  ]) {
    const script = `
      const sf = require(${JSON.stringify(`${PKG}sf_lead_rule.js`)});
      const hostsLoaded = () => Object.keys(require.cache).some((f) => f.endsWith("sf_lead_rule_hosts.js"));
      const before = hostsLoaded();
      const p = sf[${JSON.stringify(name)}](...${args});
      process.stdout.write(JSON.stringify({ before, after: hostsLoaded(), promise: p instanceof Promise }));
      p.catch(() => {});
    `;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { before: false, after: true, promise: true }, name);
  }
});

test("configure() before the first createLeads: the backfill uses its mapping and credentials", async () => {
  const emu = fixtureEmu.emu;
  assert.equal(require.cache[BATCH_GLUE], undefined, "the backfill module must not be loaded before this test");
  sf.configure({
    mapping: { LastName: "family_name", Company: "'Configured Co'", LeadSource: "'Backfill'" },
    secrets: emulatorSecrets(emu),
  });
  try {
    const report = await sf.createLeads(users(3), {}, { host: "auth0" });
    assert.ok(require.cache[BATCH_GLUE], "createLeads loaded the backfill module");
    assert.equal(report.stopped, null);
    assert.equal(report.stats.created, 3);
    assert.deepEqual(sentRecords(emu), [0, 1, 2].map((i) => ({ LastName: `User ${i}`, Company: "Configured Co", LeadSource: "Backfill" })));
  } finally {
    sf.configure({});
  }
});

test("configure() once the backfill module is loaded applies to both modules; a refused one changes neither", async () => {
  const emu = fixtureEmu.emu;
  assert.ok(require.cache[BATCH_GLUE], "the backfill module is loaded by the test before");
  const config = { secrets: emulatorSecrets(emu) };
  try {
    sf.configure({ mapping: { LastName: "family_name", Company: "'Second Co'" } });
    assert.throws(() => sf.configure({ mapping: { LastName: "name |" } }), { code: "MAPPING_INVALID" });
    assert.deepEqual(sf.buildLead(users(1)[0]), { LastName: "User 0", Company: "Second Co" });
    await sf.createLeads(users(2), config, { host: "auth0" });
    assert.deepEqual(sentRecords(emu), [0, 1].map((i) => ({ LastName: `User ${i}`, Company: "Second Co" })));

    sf.configure({}); // back to the defaults, in both
    emu.reset();
    await sf.createLeads(users(1, 10), config, { host: "auth0" });
    const [record] = sentRecords(emu);
    assert.equal(record.Company, "From Profile", "the recommended mapping again");
    assert.deepEqual(record, sf.buildLead(users(1, 10)[0]));
  } finally {
    sf.configure({});
  }
});

test("clearTokenCache() empties the backfill module's token cache too", async () => {
  const emu = fixtureEmu.emu;
  const config = { secrets: emulatorSecrets(emu) };
  await sf.createLeads(users(1, 20), config, { host: "auth0" });
  await sf.createLeads(users(1, 21), config, { host: "auth0" });
  assert.equal(emu.state.tokensIssued.length, 1, "the second run reuses the backfill module's token");
  sf.clearTokenCache();
  await sf.createLeads(users(1, 22), config, { host: "auth0" });
  assert.equal(emu.state.tokensIssued.length, 2, "a new token after clearTokenCache()");
  assert.equal(emu.state.records.Lead.length, 3);
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
