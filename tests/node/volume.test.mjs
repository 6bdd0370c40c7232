// Many logins at once in one process: concurrent first logins share one token request (single
// flight in the driver), and never across credentials (the cache key has the secret's digest).
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startEmulator } from "../emulator/server.mjs";
import { loadPackage, emulatorSecrets, assertNoSecrets } from "./harness.mjs";

const sf = loadPackage();
const TOKEN = "/services/oauth2/token";
const SETTINGS = { deadlineMs: 4000, requestTimeoutMs: 2000, maxRetries: 1 };

let emu;
before(async () => {
  emu = await startEmulator();
});
after(() => emu.stop());
beforeEach(() => {
  emu.reset({ sessions: true });
  emu.clearFaults();
  sf.clearTokenCache();
  sf.configure(SETTINGS);
});

const profile = (i) => ({ user_id: `auth0|c${i}`, email: `concurrent${i}@example.com`, given_name: "Con", family_name: `Current ${i}` });
const tokenRequests = () => emu.state.requests.filter((r) => r.path === TOKEN);

test("10 concurrent first logins: exactly 1 token request, 10 Leads", async () => {
  // The token answer is slow, so every login is waiting for a token while it is on its way.
  emu.setFaults({ kind: "delay", target: "token", ms: 150 });
  const config = { secrets: emulatorSecrets(emu) };
  const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => sf.onFirstLogin(profile(i), config)));
  assert.deepEqual(outcomes.map((o) => o.status), Array(10).fill("created"), JSON.stringify(outcomes.map((o) => o.error)));
  assert.equal(tokenRequests().length, 1);
  assert.equal(emu.state.tokensIssued.length, 1);
  assert.deepEqual(new Set(outcomes.map((o) => o.token)), new Set(["new"]), "each flow read the shared answer as its own");
  const token = emu.state.tokensIssued[0].access_token;
  const creates = emu.state.requests.filter((r) => r.method === "POST" && r.path === "/services/data/v66.0/sobjects/Lead/");
  assert.equal(creates.length, 10);
  for (const c of creates) assert.equal(c.headers.authorization, `Bearer ${token}`);
  assert.deepEqual(emu.state.records.Lead.map((l) => l.Email).sort(), Array.from({ length: 10 }, (_, i) => `concurrent${i}@example.com`).sort());
  // A login after them takes the cached token.
  const later = await sf.onFirstLogin(profile(10), config);
  assert.equal(later.token, "cached");
  assert.equal(tokenRequests().length, 1);
  assertNoSecrets(outcomes, [token]);
});

test("concurrent logins with another client secret do not share the token request", async () => {
  emu.setFaults({ kind: "delay", target: "token", ms: 150 });
  const right = { secrets: emulatorSecrets(emu) };
  const wrong = { secrets: emulatorSecrets(emu, { SALESFORCE_CLIENT_SECRET: "wrong-client-secret" }) };
  const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => sf.onFirstLogin(profile(i), i % 2 ? wrong : right)));
  assert.deepEqual(outcomes.map((o) => o.status), ["created", "failed", "created", "failed", "created", "failed"]);
  for (const o of outcomes.filter((o) => o.status === "failed")) assert.equal(o.error.code, "TOKEN_REJECTED");
  const secrets = tokenRequests().map((r) => new URLSearchParams(r.body).get("client_secret")).sort();
  assert.deepEqual(secrets, ["emu-client-secret", "wrong-client-secret"], "one token request per secret");
  assert.equal(emu.state.records.Lead.length, 3);
  assertNoSecrets(outcomes, ["wrong-client-secret"]);
});
