// Batch backfill against the local emulator: createLeads (10,000 profiles in 50 sObject
// Collections calls and one token request, per-record outcomes, REQUEST_LIMIT_EXCEEDED stop and
// resume, a crash between send and save) and the CLI end to end (NDJSON export, resume file, exit
// codes, dry run without secrets, Bulk API 2.0 mode).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startEmulator } from "../emulator/server.mjs";
import { loadPackage, emulatorSecrets, assertNoSecrets, fixtureText } from "./harness.mjs";

// The backfill has its own entry point, require("sf-lead-rule/backfill").
const sf = loadPackage("sf_lead_rule_backfill.js");
const CLI = fileURLToPath(new URL("../../pkg/bin/sf-lead-rule.js", import.meta.url));
const TMP = fileURLToPath(new URL("./tmp/backfill/", import.meta.url));
const COLLECTIONS = "POST /services/data/v66.0/composite/sobjects";

let emu;
before(async () => {
  emu = await startEmulator();
  rmSync(TMP, { recursive: true, force: true });
  mkdirSync(TMP, { recursive: true });
});
after(() => emu.stop());

function fresh() {
  emu.reset({ sessions: true });
  emu.clearFaults();
  sf.clearTokenCache();
}

/** Auth0 export records (what a users-export job writes, one per NDJSON line). */
function exportUsers(n, from = 0, tweak = () => {}) {
  const users = [];
  for (let i = from; i < from + n; i++) {
    const u = {
      user_id: `auth0|${String(i).padStart(6, "0")}`,
      email: `user${i}@example.com`,
      email_verified: true,
      given_name: "User",
      family_name: `Number ${i}`,
      name: `User Number ${i}`,
      created_at: "2024-05-01T09:18:22.305Z",
      logins_count: 3,
      user_metadata: { company: `Company ${i % 97}` },
      app_metadata: {},
    };
    tweak(u, i);
    users.push(u);
  }
  return users;
}

const lines = (reqs) => reqs.map((r) => `${r.method} ${r.path}`);
const recordsIn = (req) => JSON.parse(req.body).records.length;
const config = (extra = {}) => ({ secrets: emulatorSecrets(emu), ...extra });

test("10,000 profiles: 50 collections calls + 1 token, with per-record outcomes", async (t) => {
  fresh();
  // Three Leads exist already; a duplicate rule matches them on Email (first request only, so
  // the emulator does not scan 10,000 records per record).
  const existing = ["user1@example.com", "user2@example.com", "user3@example.com"].map((Email, i) => ({
    Id: `00Q5e00000000EX${i}AAA`, Email, LastName: "Existing", Company: "Old", CreatedDate: "2024-01-01T00:00:00.000+0000",
  }));
  emu.state.records.Lead.push(...existing);
  emu.setFaults({ kind: "duplicateRule", target: "collections", times: 1 });
  const users = exportUsers(10_000, 0, (u, i) => {
    if (i % 2000 === 999) delete u.family_name; // 5 cannot be built: never sent
    if ([10, 4010, 9010].includes(i)) u.user_metadata.source = "x".repeat(300); // 3 refused by Salesforce
  });
  const mapping = {
    FirstName: "given_name",
    LastName: "family_name",
    Email: "email",
    Company: "user_metadata.company ?? 'Acme'",
    Signup_Source__c: "user_metadata.source ?? 'backfill'",
  };
  const progress = [];
  const started = performance.now();
  const report = await sf.createLeads(users, config({ mapping }), { host: "auth0", onProgress: (d, n) => progress.push([d, n]) });
  const ms = performance.now() - started;
  t.diagnostic(`10,000 profiles: ${emu.state.apiCalls} API calls + ${emu.state.tokensIssued.length} token request in ${ms.toFixed(0)} ms`);

  assert.equal(report.stopped, null);
  assert.equal(report.mode, "collections");
  assert.equal(emu.state.tokensIssued.length, 1);
  assert.equal(emu.state.apiCalls, 50);
  const reqs = emu.state.requests;
  assert.deepEqual(lines(reqs), ["POST /services/oauth2/token", ...Array(50).fill(COLLECTIONS)]);
  assert.deepEqual(reqs.slice(1).map(recordsIn), [...Array(49).fill(200), 195]);
  const first = JSON.parse(reqs[1].body);
  assert.equal(first.allOrNone, false);
  assert.deepEqual(first.records[0], {
    attributes: { type: "Lead" }, FirstName: "User", LastName: "Number 0", Email: "user0@example.com", Company: "Company 0", Signup_Source__c: "backfill",
  });
  assert.equal(reqs[1].headers.authorization, `Bearer ${emu.state.tokensIssued[0].access_token}`);

  assert.deepEqual(report.stats, { apiCalls: 50, requests: 51, created: 9989, duplicate: 3, failed: 3, skipped: 0, invalid: 5, pending: 0 });
  assert.equal(report.results.length, 10_000);
  const byKey = new Map(report.results.map((r) => [r.userKey, r]));
  const created = byKey.get("auth0|000000");
  assert.equal(created.status, "created");
  assert.equal(created.leadId, emu.state.records.Lead.find((l) => l.Email === "user0@example.com").Id);
  assert.deepEqual(byKey.get("auth0|000002"), { userKey: "auth0|000002", status: "duplicate", leadId: "00Q5e00000000EX1AAA", input: 2 });
  const refused = byKey.get("auth0|004010");
  assert.equal(refused.status, "failed");
  assert.equal(refused.error.code, "SALESFORCE_REJECTED");
  assert.equal(refused.error.remoteCode, "STRING_TOO_LONG");
  assert.equal(refused.error.field, "Signup_Source__c");
  const invalid = byKey.get("auth0|000999");
  assert.equal(invalid.status, "invalid");
  assert.equal(invalid.error.code, "MISSING_REQUIRED_FIELD");
  assert.equal(invalid.error.field, "LastName");

  assert.equal(emu.state.records.Lead.length, 3 + 9989);
  assert.equal(new Set(emu.state.records.Lead.map((l) => l.Email)).size, 3 + 9989);
  assert.equal(Object.keys(report.state.users).length, 9989 + 3 + 3);
  assert.deepEqual(progress.at(-1), [10_000, 10_000]);
  assertNoSecrets(report);
});

test("REQUEST_LIMIT_EXCEEDED stops cleanly; the rerun after the reset creates no duplicates", async () => {
  const limited = await startEmulator({ dailyApiLimit: 5 });
  try {
    sf.clearTokenCache();
    const users = exportUsers(2000);
    const cfg = { secrets: emulatorSecrets(limited) };
    const first = await sf.createLeads(users, cfg, { host: "auth0" });
    assert.equal(first.stopped.code, "RATE_LIMITED");
    assert.equal(first.stopped.remoteCode, "REQUEST_LIMIT_EXCEEDED");
    assert.equal(first.stopped.status, 403);
    assert.deepEqual([first.stats.created, first.stats.pending], [1000, 1000]);
    assert.equal(limited.state.records.Lead.length, 1000);
    assert.equal(Object.keys(first.state.users).length, 1000, "the refused chunk is pending, not sending");
    assert.equal(first.results[1999].status, "pending");

    limited.state.apiCalls = 0; // the org's 24-hour window rolls over
    const second = await sf.createLeads(users, cfg, { host: "auth0", state: first.state });
    assert.equal(second.stopped, null);
    assert.deepEqual([second.stats.created, second.stats.skipped, second.stats.apiCalls], [1000, 1000, 5]);
    assert.equal(limited.state.records.Lead.length, 2000);
    assert.equal(new Set(limited.state.records.Lead.map((l) => l.Email)).size, 2000);
  } finally {
    await limited.stop();
  }
});

test("a crash after a request went out: the rerun looks those users up instead of sending them again", async () => {
  fresh();
  const users = exportUsers(1000);
  let saved = null;
  const crashed = await sf.createLeads(users, config(), {
    host: "auth0",
    onState: (json) => {
      const done = Object.values(JSON.parse(json).users).filter((u) => u.status === "created").length;
      // The answer to the second request arrived, and the process dies before saving it.
      if (done >= 400) throw new Error("simulated crash");
      saved = json;
    },
  });
  assert.equal(crashed.stopped.field, "options.onState");
  assert.equal(emu.state.records.Lead.length, 400);
  const savedUsers = Object.values(JSON.parse(saved).users);
  assert.deepEqual([savedUsers.filter((u) => u.status === "created").length, savedUsers.filter((u) => u.status === "sending").length], [200, 200]);

  emu.state.requests.length = 0;
  const resumed = await sf.createLeads(users, config(), { host: "auth0", state: saved });
  const l = lines(emu.state.requests);
  assert.match(l[0], /^GET \/services\/data\/v66\.0\/query$/, "verify first (the token is cached)");
  assert.match(emu.state.requests[0].query.q, /^SELECT Id, Email FROM Lead WHERE Email IN \('user200@example\.com',/);
  assert.deepEqual(l.slice(1), Array(3).fill(COLLECTIONS));
  assert.deepEqual([resumed.stats.skipped, resumed.stats.created], [200, 800]);
  assert.equal(emu.state.records.Lead.length, 1000);
  assert.equal(new Set(emu.state.records.Lead.map((r) => r.Email)).size, 1000);
});

test("a lookup answered in pages (2,250 rows): every nextRecordsUrl is read, nothing is sent twice", async () => {
  fresh();
  const users = exportUsers(150);
  // 15 Leads already carry each user's email: one lookup of the 150 emails matches 2,250 rows.
  const auth = await fetch(`${emu.url}/services/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: emu.clientId, client_secret: emu.clientSecret }),
  }).then((r) => r.json());
  const existing = users.flatMap((u) => Array.from({ length: 15 }, (_, k) => ({ attributes: { type: "Lead" }, LastName: `Old ${k}`, Company: "Seed", Email: u.email })));
  for (let i = 0; i < existing.length; i += 200) {
    const r = await fetch(`${emu.url}/services/data/v66.0/composite/sobjects`, {
      method: "POST",
      headers: { authorization: `Bearer ${auth.access_token}`, "content-type": "application/json" },
      body: JSON.stringify({ allOrNone: false, records: existing.slice(i, i + 200) }),
    });
    assert.equal(r.status, 200);
  }
  const ids = new Set(emu.state.records.Lead.map((l) => l.Id));
  assert.equal(ids.size, 2250);
  emu.state.requests.length = 0;
  // A resume state where every user's send went out and its answer was lost: each is looked up.
  const state = { format: "sf-lead-rule/backfill@1", object: "Lead", users: Object.fromEntries(users.map((u) => [u.user_id, { status: "sending" }])) };
  const report = await sf.createLeads(users, config(), { host: "auth0", state });
  const l = lines(emu.state.requests);
  assert.deepEqual(l.slice(1), ["GET /services/data/v66.0/query", l[2]], JSON.stringify(l));
  assert.match(l[2], /^GET \/services\/data\/v66\.0\/query\/01g[0-9a-zA-Z]+-2000$/);
  assert.deepEqual([report.stats.created, report.stats.failed], [150, 0]);
  for (const r of report.results) assert.ok(ids.has(r.leadId), `${r.userKey}: ${r.leadId}`);
  assert.equal(emu.state.records.Lead.length, 2250, "nobody was sent again");
});

test("createLeads rejects bad options and config with a code; a dry run sends nothing", async () => {
  fresh();
  await assert.rejects(sf.createLeads([], config(), { mode: "fast" }), { code: "CONFIG_INVALID", field: "options.mode" });
  await assert.rejects(sf.createLeads({}, config()), { code: "CONFIG_INVALID" });
  await assert.rejects(sf.createLeads([], { secrets: { SALESFORCE_CLIENT_ID: "x" } }), { code: "CONFIG_MISSING", field: "clientSecret" });
  await assert.rejects(sf.createLeads([], config(), { state: '{"format":"other"}' }), { code: "CONFIG_INVALID", field: "state" });

  const plan = await sf.createLeads(exportUsers(450), config(), { host: "auth0", dryRun: true });
  assert.equal(plan.dryRun, true);
  assert.deepEqual(plan.requests.map((r) => r.purpose), ["token", "createCollection", "createCollection", "createCollection"]);
  assert.equal(plan.requests[0].body, "grant_type=client_credentials&client_id=emu-client-id&client_secret=***");
  assert.equal(plan.requests[1].headers.Authorization, "Bearer ***");
  assert.equal(plan.requests[3].body.records.length, 50);
  assert.equal(plan.stats.pending, 450);
  assert.equal(plan.results[0].status, "planned");
  assert.equal(emu.state.requests.length, 0);
  assertNoSecrets(plan);
});

// ---- the CLI ----------------------------------------------------------------------------------

function cli(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, cwd: TMP });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const cliEnv = (e = emu) => ({
  SALESFORCE_CLIENT_ID: "emu-client-id",
  SALESFORCE_CLIENT_SECRET: "emu-client-secret",
  SALESFORCE_LOGIN_URL: e.url,
});

test("CLI: backfill an Auth0 NDJSON export with a resume file; rerun skips everything", async () => {
  fresh();
  const input = `${TMP}export.ndjson`;
  const fixture = fixtureText("auth0-users-export.ndjson").trimEnd().split("\n");
  // Blank lines are fine; a bad line is reported with its number and skipped.
  writeFileSync(input, [fixture[0], "", fixture[1], "{not json", ...fixture.slice(2), ""].join("\n"));
  const state = `${TMP}export.state.json`;
  rmSync(state, { force: true });

  const run = await cli(["backfill", input, "--resume", state], cliEnv());
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /export\.ndjson:4: skipped, not a JSON object/);
  assert.match(run.stderr, /created 4, duplicate 0, failed 0, skipped 1, invalid 0, pending 0 — 1 API calls \(2 requests\) via collections/);
  assert.doesNotMatch(run.stderr, /\r/, "no progress bar when stderr is not a terminal");
  assert.match(run.stderr, /progress: 5\/5 users \(100%\)/);
  const out = JSON.parse(run.stdout);
  assert.deepEqual(
    { ...out.stats, seconds: 0 },
    { apiCalls: 1, requests: 2, created: 4, duplicate: 0, failed: 0, skipped: 1, invalid: 0, pending: 0, unreadable: 1, seconds: 0 },
  );
  assert.deepEqual([out.mode, out.stopped, out.resumeFile, out.problems], ["collections", null, state, []]);
  assertNoSecrets(run.stdout + run.stderr);

  const saved = JSON.parse(readFileSync(state, "utf8"));
  assert.equal(saved.format, "sf-lead-rule/backfill@1");
  assert.deepEqual(Object.keys(saved.users).sort(), [
    "auth0|6601a2b3c4d5e6f7a8b9c0d1", "auth0|6612b3c4d5e6f7a8b9c0d1e2", "auth0|6623c4d5e6f7a8b9c0d1e2f3", "google-oauth2|110384756201938475612",
  ]);
  const leads = emu.state.records.Lead;
  assert.equal(leads.length, 4);
  assert.equal(saved.users["auth0|6601a2b3c4d5e6f7a8b9c0d1"].leadId, leads.find((l) => l.Email === "maria.gonzalez@example.com").Id);
  assert.equal(leads.find((l) => l.Email === "maria.gonzalez@example.com").Company, "González Logística S.L.");

  const again = await cli(["backfill", input, "--resume", state], cliEnv());
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(JSON.parse(again.stdout).stats.skipped, 5);
  assert.equal(emu.state.requests.length, 2, "nothing sent, not even a token request");
  assert.equal(emu.state.records.Lead.length, 4);
});

test("CLI: dry run prints the masked plan and sends nothing; bad settings exit 1", async () => {
  fresh();
  const input = `${TMP}plan.ndjson`;
  writeFileSync(input, fixtureText("auth0-users-export.ndjson"));
  const dry = await cli(["backfill", input, "--dry-run"], cliEnv());
  assert.equal(dry.code, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout);
  assert.equal(plan.dryRun, true);
  assert.deepEqual(plan.requests.map((r) => `${r.method} ${r.url.replace(emu.url, "")}`), [
    "POST /services/oauth2/token",
    "POST /services/data/v66.0/composite/sobjects",
  ]);
  assert.equal(plan.requests[1].body.records.length, 4);
  assert.match(dry.stdout, /client_secret=\*\*\*/);
  assert.match(dry.stdout, /"Authorization": "Bearer \*\*\*"/);
  assertNoSecrets(dry.stdout + dry.stderr);
  assert.equal(emu.state.requests.length, 0);
  assert.equal(existsSync(`${input}.state.json`), false, "a dry run writes no state");

  const missing = await cli(["backfill", input], { ...cliEnv(), SALESFORCE_CLIENT_SECRET: "" });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /CONFIG_MISSING: clientSecret is required/);
  const usage = await cli(["backfill", input, "--mode", "fast"], cliEnv());
  assert.equal(usage.code, 1);
  assert.match(usage.stderr, /--mode must be auto, collections or bulk/);
  const refused = await cli(["backfill", input], { ...cliEnv(), SALESFORCE_CLIENT_SECRET: "wrong-secret" });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /stopped: TOKEN_REJECTED/);
  assertNoSecrets(refused.stdout + refused.stderr, ["wrong-secret"]);
  assert.equal(existsSync(`${input}.state.json`), false, "nothing recorded, no state file");
  // Without --resume the state goes next to the input, and is never silently reused.
  const ok = await cli(["backfill", input], cliEnv());
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).resumeFile, `${input}.state.json`);
  const again = await cli(["backfill", input], cliEnv());
  assert.equal(again.code, 1);
  assert.match(again.stderr, /plan\.ndjson\.state\.json exists from an earlier run: rerun with --resume/);
  assert.equal(emu.state.records.Lead.length, 4);
});

test("CLI: exit 2 on REQUEST_LIMIT_EXCEEDED, then --resume finishes without duplicates", async () => {
  const limited = await startEmulator({ dailyApiLimit: 3 });
  try {
    const input = `${TMP}limited.json`;
    writeFileSync(input, JSON.stringify(exportUsers(1000)));
    const state = `${TMP}limited.state.json`;
    rmSync(state, { force: true });
    const first = await cli(["backfill", input, "--host", "auth0", "--resume", state], cliEnv(limited));
    assert.equal(first.code, 2, first.stderr);
    assert.match(first.stderr, /REQUEST_LIMIT_EXCEEDED\)\. Rerun with --resume .*limited\.state\.json after the limit resets/);
    const out = JSON.parse(first.stdout);
    assert.equal(out.stopped.code, "RATE_LIMITED");
    assert.equal(out.stats.created, 600);
    assert.equal(out.problems.filter((p) => p.status === "pending").length, 400);
    assert.equal(Object.keys(JSON.parse(readFileSync(state, "utf8")).users).length, 600);

    limited.state.apiCalls = 0;
    const second = await cli(["backfill", input, "--host", "auth0", "--resume", state], cliEnv(limited));
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual([JSON.parse(second.stdout).stats.created, JSON.parse(second.stdout).stats.skipped], [400, 600]);
    assert.equal(limited.state.records.Lead.length, 1000);
    assert.equal(new Set(limited.state.records.Lead.map((l) => l.Email)).size, 1000);
  } finally {
    await limited.stop();
  }
});

test("CLI: --mode bulk runs one Bulk API 2.0 job and reports its failed rows", async () => {
  fresh();
  const users = exportUsers(300, 0, (u, i) => {
    u.family_name = `O'Brien, "${i}"`; // commas and quotes in the CSV
    u.user_metadata.source = i % 100 === 7 ? "y".repeat(300) : "=formula-looking";
  });
  const input = `${TMP}bulk.json`;
  writeFileSync(input, JSON.stringify({ users }));
  const mapping = `${TMP}bulk-mapping.json`;
  writeFileSync(mapping, JSON.stringify({ LastName: "family_name", Email: "email", Company: "'Acme'", Signup_Source__c: "user_metadata.source" }));
  const state = `${TMP}bulk.state.json`;
  rmSync(state, { force: true });

  const run = await cli(["backfill", input, "--host", "auth0", "--mode", "bulk", "--mapping", mapping, "--resume", state], cliEnv());
  assert.equal(run.code, 0, run.stderr);
  const job = emu.state.bulkJobs[0].id;
  const base = "/services/data/v66.0/jobs/ingest";
  assert.deepEqual(lines(emu.state.requests), [
    "POST /services/oauth2/token",
    `POST ${base}`,
    `PUT ${base}/${job}/batches`,
    `PATCH ${base}/${job}`,
    `GET ${base}/${job}`,
    `GET ${base}/${job}`,
    `GET ${base}/${job}/successfulResults/`,
    `GET ${base}/${job}/failedResults/`,
  ]);
  assert.deepEqual(JSON.parse(emu.state.requests[1].body), { object: "Lead", operation: "insert", contentType: "CSV", lineEnding: "LF" });
  assert.equal(emu.state.requests[2].headers["content-type"], "text/csv");
  assert.match(emu.state.requests[2].body, /^LastName,Email,Company,Signup_Source__c\n"O'Brien, ""0""",user0@example\.com,Acme,"=formula-looking"\n/);
  assert.deepEqual(JSON.parse(emu.state.requests[3].body), { state: "UploadComplete" });
  assert.equal(emu.state.bulkJobs[0].state, "JobComplete");

  const out = JSON.parse(run.stdout);
  assert.equal(out.mode, "bulk");
  assert.deepEqual([out.stats.created, out.stats.failed, out.stats.apiCalls], [297, 3, 7]);
  assert.deepEqual(out.problems.map((p) => [p.userKey, p.index, p.error.remoteCode, p.error.field]), [
    ["auth0|000007", 7, "STRING_TOO_LONG", "Signup_Source__c"],
    ["auth0|000107", 107, "STRING_TOO_LONG", "Signup_Source__c"],
    ["auth0|000207", 207, "STRING_TOO_LONG", "Signup_Source__c"],
  ]);
  assert.equal(emu.state.records.Lead.length, 297);
  const lead = emu.state.records.Lead.find((l) => l.Email === "user5@example.com");
  assert.equal(lead.LastName, `O'Brien, "5"`);
  assert.equal(lead.Signup_Source__c, "=formula-looking");
  const saved = JSON.parse(readFileSync(state, "utf8"));
  assert.equal(saved.bulkJob, undefined, "the finished job is forgotten");
  assert.equal(saved.users["auth0|000005"].leadId, lead.Id, "rows mapped back to users by content");
  assert.equal(saved.users["auth0|000007"].status, "failed");
});
