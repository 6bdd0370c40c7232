// Firebase blocking functions through firebase-functions 7.4 itself (tests/node/firebase/index.cjs,
// the functions file a user writes): (a) wrapped by firebase-functions-test and called with an
// AuthBlockingEvent, (b) over the function's own HTTP handler, as Identity Platform calls it, with
// an unsigned blocking token (debug mode skips its verification). Each asserts the Lead in the
// emulator and the exact answer.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { startEmulator } from "../emulator/server.mjs";
import { loadPackage, fixture, captureConsole, emulatorSecrets } from "./harness.mjs";

// Read by firebase-functions when it loads, so set before the first require.
process.env.FIREBASE_DEBUG_MODE = "true";
process.env.FIREBASE_DEBUG_FEATURES = JSON.stringify({ skipTokenVerification: true });
process.env.GCLOUD_PROJECT = "acme-signups-prod";
const require = createRequire(import.meta.url);
const testEnv = require("firebase-functions-test")({ projectId: "acme-signups-prod" });
const express = require("express");
const functions = require("./firebase/index.cjs");
const sf = loadPackage();

let emu;
let server;
let baseUrl;
before(async () => {
  emu = await startEmulator();
  // The settings the functions read from the environment, as a deployed function would.
  Object.assign(process.env, emulatorSecrets(emu));
  // The HTTP path: each function is an (req, res) handler, served the way the Functions
  // Framework serves it (Express, JSON body).
  const app = express();
  app.use(express.json());
  app.post("/beforecreated", functions.beforecreated);
  app.post("/beforesignedin", functions.beforesignedin);
  server = createServer(app);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${server.address().port}`;
});
after(async () => {
  await new Promise((resolve) => server.close(resolve));
  emu.stop();
  testEnv.cleanup();
});
beforeEach(() => {
  emu.reset({ sessions: true });
  emu.clearFaults();
  sf.clearTokenCache();
});

const KENJI = { FirstName: "Kenji", LastName: "Watanabe", Email: "kenji.watanabe@example.com", Company: "Web channel signups", LeadSource: "Web", Phone: "+14155550123" };
const CHIARA = { FirstName: "Chiara", LastName: "Rossi", Email: "chiara.rossi@example.com", Company: "Web channel signups", LeadSource: "Web" };

/** The one create request's body and the id of the one Lead. */
function onlyLead(expected) {
  const creates = emu.state.requests.filter((r) => r.path === "/services/data/v66.0/sobjects/Lead/");
  assert.equal(creates.length, 1, "exactly one create request");
  assert.deepEqual(JSON.parse(creates[0].body), expected);
  assert.equal(emu.state.records.Lead.length, 1);
  return emu.state.records.Lead[0].Id;
}

/** An unsigned blocking token (`alg: none`) carrying `payload`, as Identity Platform posts it. */
function unsignedJwt(payload) {
  const part = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part(payload)}.`;
}

async function postBlocking(path, payload) {
  const r = await fetch(baseUrl + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ data: { jwt: unsignedJwt(payload) } }),
  });
  return { status: r.status, body: await r.json() };
}

// (a) wrapped ---------------------------------------------------------------------------------

test("wrapped beforeUserCreated: Lead created, answer carries the marker as custom claims", async () => {
  const { result } = await captureConsole(() => testEnv.wrap(functions.beforecreated)(fixture("firebase-before-user-created.json")));
  const id = onlyLead(KENJI);
  assert.deepEqual(result, { customClaims: { recordedAsLead: true, salesforceLeadId: id } });
});

test("wrapped beforeUserSignedIn: no marker → Lead and the claims come back with it; marker → skipped", async () => {
  const signIn = testEnv.wrap(functions.beforesignedin);
  const event = fixture("firebase-before-user-signed-in.json");
  const { result } = await captureConsole(() => signIn(event));
  const id = onlyLead(CHIARA);
  assert.deepEqual(result, { customClaims: { plan: "pro", recordedAsLead: true, salesforceLeadId: id } });

  emu.reset();
  event.data.customClaims = result.customClaims;
  const { result: again, lines } = await captureConsole(() => signIn(event));
  assert.equal(again, undefined);
  assert.deepEqual(emu.state.requests, []);
  assert.deepEqual(lines, ["sf-lead-rule: skipped Lead: user is already recorded in Salesforce (app_metadata.recordedAsLead) (0 requests, token cached, slack not_needed)"]);
});

test("wrapped beforeUserSignedIn: Salesforce down → no marker, sign-in not blocked, retried next time", async () => {
  emu.setFaults({ kind: "status500", target: "salesforce" });
  const signIn = testEnv.wrap(functions.beforesignedin);
  const { result } = await captureConsole(() => signIn(fixture("firebase-before-user-signed-in.json")));
  assert.equal(result, undefined, "no claims: the marker is never set without a confirmed record");
  assert.equal(emu.state.records.Lead.length, 0);

  emu.clearFaults();
  const { result: retried } = await captureConsole(() => signIn(fixture("firebase-before-user-signed-in.json")));
  assert.equal(retried.customClaims.recordedAsLead, true);
  assert.equal(emu.state.records.Lead.length, 1);
});

// (b) HTTP ------------------------------------------------------------------------------------

test("HTTP beforeUserCreated: the blocking token's user becomes a Lead; the answer sets the claims", async () => {
  const { result: r } = await captureConsole(() => postBlocking("/beforecreated", fixture("firebase-blocking-token-before-create.json")));
  const id = onlyLead(KENJI);
  assert.deepEqual(r, { status: 200, body: { userRecord: { customClaims: { recordedAsLead: true, salesforceLeadId: id }, updateMask: "customClaims" } } });
});

test("HTTP beforeUserSignedIn: no marker → Lead, claims kept plus the marker; marker → empty answer", async () => {
  const token = fixture("firebase-blocking-token-before-sign-in.json");
  const { result: r } = await captureConsole(() => postBlocking("/beforesignedin", token));
  const id = onlyLead(CHIARA);
  const claims = { plan: "pro", recordedAsLead: true, salesforceLeadId: id };
  assert.deepEqual(r, { status: 200, body: { userRecord: { customClaims: claims, updateMask: "customClaims" } } });

  emu.reset();
  token.user_record.custom_claims = claims;
  const { result: again } = await captureConsole(() => postBlocking("/beforesignedin", token));
  assert.deepEqual(again, { status: 200, body: {} });
  assert.deepEqual(emu.state.requests, []);
});

test("HTTP beforeUserSignedIn with bad settings: 200 {}, the sign-in goes on", async () => {
  const saved = process.env.SALESFORCE_CLIENT_ID;
  delete process.env.SALESFORCE_CLIENT_ID;
  try {
    const { result: r, lines } = await captureConsole(() => postBlocking("/beforesignedin", fixture("firebase-blocking-token-before-sign-in.json")));
    assert.deepEqual(r, { status: 200, body: {} });
    assert.match(lines.join("\n"), /CONFIG_MISSING/);
    assert.deepEqual(emu.state.requests, []);
  } finally {
    process.env.SALESFORCE_CLIENT_ID = saved;
  }
});
