// Auth flows and idempotency end to end through the Auth0 Action against the emulator: JWT bearer
// signed by WebCrypto inside wasm and verified by the emulator, refresh token, the password grant
// an org refuses, a broker's pre-issued token, an instance_url we must not trust; upsert by
// external id, dedupe by email (SOQL escaping), re-creating a deleted Lead.
import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startEmulator } from "../emulator/server.mjs";
import { loadPackage, fixture, auth0Api, emulatorSecrets, leakScanner, spyFetch, timed } from "./harness.mjs";

const sf = loadPackage();
const SETTINGS = { deadlineMs: 1500, requestTimeoutMs: 400, maxRetries: 1 };
const JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const CREATE = "/services/data/v66.0/sobjects/Lead/";
const TOKEN = "/services/oauth2/token";

let emu;
const leaks = leakScanner();
const others = []; // emulators started by single tests, stopped at the end

before(async () => {
  emu = await startEmulator();
  leaks.captureConsole();
});
after(async () => {
  leaks.restoreConsole();
  for (const e of others) leaks.fromEmulator(e);
  await Promise.all([emu.stop(), ...others.map((e) => e.stop())]);
  leaks.check();
});
beforeEach(() => {
  emu.reset({ sessions: true });
  sf.clearTokenCache();
  sf.configure(SETTINGS);
});
afterEach(() => {
  leaks.fromEmulator(emu);
  leaks.check();
});

/** An Auth0 post-login event for `e`; `secrets` replace the default client-credentials ones. */
function actionEvent(secrets, user = {}, e = emu) {
  const event = fixture("auth0-action-post-login.json");
  event.secrets = secrets ?? emulatorSecrets(e);
  Object.assign(event.user, user);
  return event;
}

async function login(event, api = auth0Api()) {
  leaks.secret(Object.values(event.secrets ?? {}).filter((v) => !/^https?:|^emu-client-id$|@/.test(v)));
  const { result: outcome, ms } = await timed(() => sf.onExecutePostLogin(event, api));
  leaks.add("outcome", outcome);
  assert.ok(ms < SETTINGS.deadlineMs + 500, `hook took ${ms.toFixed(0)} ms`);
  return { outcome, api };
}

const baseSecrets = (e = emu) => ({ SALESFORCE_CLIENT_ID: e.clientId, SALESFORCE_LOGIN_URL: e.url, SLACK_WEBHOOK_URL: e.slackWebhookUrl });
const leads = () => emu.state.records.Lead;

/** An access token straight from the emulator (what a token broker would hand over). */
async function brokerToken(e = emu) {
  const res = await fetch(`${e.url}${TOKEN}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: e.clientId, client_secret: e.clientSecret }),
  });
  return (await res.json()).access_token;
}

// ---- grants ---------------------------------------------------------------------------------

test("JWT bearer: wasm signs RS256 with WebCrypto, the emulator verifies it with the public key", async () => {
  const { outcome, api } = await login(
    actionEvent({ ...baseSecrets(), SALESFORCE_PRIVATE_KEY: emu.privateKeyPem, SALESFORCE_USERNAME: emu.username }),
  );
  assert.equal(outcome.status, "created", JSON.stringify(outcome.error));
  assert.deepEqual(emu.state.tokensIssued.map((t) => t.grant), [JWT_GRANT], "the emulator accepted the assertion");
  assert.equal(leads().length, 1);
  assert.equal(api.calls.setAppMetadata.length, 2);

  // The assertion on the wire: a well-formed RS256 JWT with the right claims, signature valid.
  const form = new URLSearchParams(emu.state.requests[0].body);
  assert.deepEqual([...form.keys()], ["grant_type", "assertion"]);
  assert.equal(form.get("grant_type"), JWT_GRANT);
  const [h, c, s] = form.get("assertion").split(".");
  assert.deepEqual(JSON.parse(Buffer.from(h, "base64url")), { alg: "RS256", typ: "JWT" });
  const claims = JSON.parse(Buffer.from(c, "base64url"));
  assert.deepEqual({ ...claims, exp: undefined }, { iss: emu.clientId, sub: emu.username, aud: emu.url, exp: undefined });
  const now = Date.now() / 1000;
  assert.ok(claims.exp > now + 170 && claims.exp <= now + 181, "exp within 3 minutes");
  assert.ok(crypto.verify("sha256", Buffer.from(`${h}.${c}`), emu.publicKeyPem, Buffer.from(s, "base64url")));
  leaks.secret(form.get("assertion"));
});

test("JWT bearer: a PEM whose newlines a secret store flattened to \\n still signs", async () => {
  const flat = emu.privateKeyPem.trim().replace(/\n/g, "\\n");
  const { outcome } = await login(actionEvent({ ...baseSecrets(), SALESFORCE_PRIVATE_KEY: flat, SALESFORCE_USERNAME: emu.username }));
  assert.equal(outcome.status, "created", JSON.stringify(outcome.error));
});

test("JWT bearer with a key the connected app does not know: TOKEN_REJECTED, no Lead, key never echoed", async () => {
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
  leaks.secret(privateKey);
  const { outcome, api } = await login(actionEvent({ ...baseSecrets(), SALESFORCE_PRIVATE_KEY: privateKey, SALESFORCE_USERNAME: emu.username }));
  assert.equal(outcome.error.code, "TOKEN_REJECTED");
  assert.equal(outcome.error.remoteCode, "invalid_grant");
  assert.equal(leads().length, 0);
  assert.deepEqual(api.calls.setAppMetadata, []);
});

test("JWT bearer with a PKCS#8 key WebCrypto cannot use for RS256 (EC): CONFIG_INVALID, no token request", async () => {
  const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256", privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
  leaks.secret(privateKey);
  const { outcome } = await login(actionEvent({ ...baseSecrets(), SALESFORCE_PRIVATE_KEY: privateKey, SALESFORCE_USERNAME: emu.username }));
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error.code, "CONFIG_INVALID");
  assert.equal(outcome.error.field, "privateKey");
  assert.equal(emu.state.requests.filter((r) => r.path === TOKEN).length, 0);
});

test("token cache: a config with the same client id but another secret never rides on the cached token", async () => {
  const api = auth0Api(); // one api.cache for every login, beside module memory
  const right = { ...emulatorSecrets(emu) };
  const wrong = { ...right, SALESFORCE_CLIENT_SECRET: "wrong-client-secret" };
  const first = await login(actionEvent(right, { email: "first@example.com", app_metadata: {} }), api);
  assert.equal(first.outcome.status, "created", JSON.stringify(first.outcome.error));
  const second = await login(actionEvent(wrong, { email: "second@example.com", app_metadata: {} }), api);
  assert.equal(second.outcome.status, "failed");
  assert.equal(second.outcome.token, "none");
  assert.equal(second.outcome.error.code, "TOKEN_REJECTED");
  const third = await login(actionEvent(right, { email: "third@example.com", app_metadata: {} }), api);
  assert.equal(third.outcome.status, "created", JSON.stringify(third.outcome.error));
  assert.equal(third.outcome.token, "cached", "the right secret still finds its own token");
  const tokenBodies = emu.state.requests.filter((r) => r.path === TOKEN).map((r) => new URLSearchParams(r.body).get("client_secret"));
  assert.deepEqual(tokenBodies, ["emu-client-secret", "wrong-client-secret"], "the wrong secret asked for its own token");
  assert.deepEqual(leads().map((l) => l.Email), ["first@example.com", "third@example.com"]);
  // Distinct keys in api.cache; neither holds a secret.
  const keys = [...api.store.keys()];
  assert.equal(keys.length, 1, "only the token the right secret got is stored");
  for (const k of keys) assert.ok(!k.includes("secret"), k);
});

test("refresh_token grant: one token request with the refresh token, one Lead", async () => {
  const { outcome } = await login(actionEvent({ ...baseSecrets(), SALESFORCE_REFRESH_TOKEN: emu.refreshToken }));
  assert.equal(outcome.status, "created", JSON.stringify(outcome.error));
  assert.deepEqual(emu.state.tokensIssued.map((t) => t.grant), ["refresh_token"]);
  assert.equal(emu.state.requests[0].body, `grant_type=refresh_token&client_id=${emu.clientId}&refresh_token=${emu.refreshToken}`);
  assert.equal(leads().length, 1);
});

test("password grant refused by the org (disabledGrants: password): TOKEN_REJECTED with the client-credentials hint", async () => {
  const strict = await startEmulator({ disabledGrants: ["password"] });
  others.push(strict);
  const secrets = { ...baseSecrets(strict), SALESFORCE_CLIENT_SECRET: strict.clientSecret, SALESFORCE_USERNAME: strict.username, SALESFORCE_PASSWORD: strict.password };
  const api = auth0Api();
  const { outcome } = await login(actionEvent(secrets, {}, strict), api);
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error.code, "TOKEN_REJECTED");
  assert.equal(outcome.error.remoteCode, "invalid_grant");
  assert.match(outcome.error.message, /block the password grant: use client_credentials or jwt_bearer/);
  assert.equal(strict.state.records.Lead.length, 0);
  assert.deepEqual(api.calls.setAppMetadata, []);
  assert.equal(strict.state.slackMessages.length, 1);
  assert.match(strict.state.slackMessages[0].text, /use client_credentials or jwt_bearer/);
});

test("pre-issued access token (accessToken + instanceUrl): no token request, one Lead", async () => {
  const token = await brokerToken();
  emu.state.requests.length = 0;
  const { outcome } = await login(actionEvent({ SALESFORCE_ACCESS_TOKEN: token, SALESFORCE_INSTANCE_URL: emu.url, SLACK_WEBHOOK_URL: emu.slackWebhookUrl }));
  assert.equal(outcome.status, "created", JSON.stringify(outcome.error));
  assert.equal(outcome.token, "config");
  assert.deepEqual(emu.state.requests.map((r) => r.path), [CREATE, "/slack/services/T000/B000/emuSlackHook"]);
  assert.equal(emu.state.requests[0].headers.authorization, `Bearer ${token}`);
});

test("pre-issued access token that expired: SESSION_EXPIRED, never refreshed, no Lead", async () => {
  const token = await brokerToken();
  emu.setFaults({ kind: "expireSessions" });
  emu.state.requests.length = 0;
  const { outcome } = await login(actionEvent({ SALESFORCE_ACCESS_TOKEN: token, SALESFORCE_INSTANCE_URL: emu.url, SLACK_WEBHOOK_URL: emu.slackWebhookUrl }));
  assert.equal(outcome.error.code, "SESSION_EXPIRED");
  assert.equal(emu.state.requests.filter((r) => r.path === TOKEN).length, 0);
  assert.equal(leads().length, 0);
});

test("instance_url outside Salesforce and the allowlist: INSTANCE_URL_NOT_ALLOWED, the token goes nowhere", async () => {
  const evil = await startEmulator({ instanceUrl: "https://evil.example.net" });
  others.push(evil);
  const spy = spyFetch();
  const api = auth0Api();
  let outcome;
  try {
    ({ outcome } = await login(actionEvent({ ...baseSecrets(evil), SALESFORCE_CLIENT_SECRET: evil.clientSecret }, {}, evil), api));
  } finally {
    spy.restore();
  }
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error.code, "INSTANCE_URL_NOT_ALLOWED");
  assert.equal(outcome.error.field, "allowedInstanceHosts");
  assert.ok(spy.urls.length === 2 && spy.urls.every((u) => u.startsWith(evil.url)), `fetched only the emulator: ${spy.urls}`);
  assert.ok(!spy.urls.some((u) => u.includes("evil.example.net")));
  assert.deepEqual(evil.state.requests.map((r) => r.path), [TOKEN, "/slack/services/T000/B000/emuSlackHook"]);
  const issued = evil.state.tokensIssued[0].access_token;
  assert.ok(!JSON.stringify(evil.state.requests).includes(issued), "the issued token was never sent back anywhere");
  assert.deepEqual(api.calls.cacheSet, [], "a refused token is not cached");
  assert.equal(evil.state.records.Lead.length, 0);
});

// ---- idempotency ----------------------------------------------------------------------------

test("externalIdField upsert: two logins without the marker still make one Lead", async () => {
  sf.configure({ ...SETTINGS, externalIdField: "Auth0_User_Id__c" });
  const userId = "auth0|6655a1b2c3d4e5f6a7b8c9d0";
  const first = await login(actionEvent());
  assert.equal(first.outcome.status, "created", JSON.stringify(first.outcome.error));
  const second = await login(actionEvent()); // marker lost: app_metadata still empty
  assert.equal(second.outcome.status, "duplicate");
  assert.equal(second.outcome.leadId, first.outcome.leadId);
  assert.deepEqual(second.api.calls.setAppMetadata, [["recordedAsLead", true], ["salesforceLeadId", first.outcome.leadId]]);
  assert.equal(leads().length, 1);
  assert.equal(leads()[0].Auth0_User_Id__c, userId);
  const writes = emu.state.requests.filter((r) => r.path.includes("/sobjects/Lead/"));
  assert.deepEqual(writes.map((r) => `${r.method} ${r.path}`), Array(2).fill(`PATCH /services/data/v66.0/sobjects/Lead/Auth0_User_Id__c/${encodeURIComponent(userId)}`));
});

test("dedupeByEmail with o'brien@example.com: escaped in SOQL, the second account finds the first Lead", async () => {
  sf.configure({ ...SETTINGS, dedupeByEmail: true });
  const email = "o'brien@example.com";
  const first = await login(actionEvent(undefined, { user_id: "auth0|obrien1", email }));
  assert.equal(first.outcome.status, "created", JSON.stringify(first.outcome.error));
  const second = await login(actionEvent(undefined, { user_id: "auth0|obrien2", email }));
  assert.equal(second.outcome.status, "duplicate");
  assert.equal(second.outcome.leadId, first.outcome.leadId);
  assert.equal(leads().length, 1);
  const queries = emu.state.requests.filter((r) => r.path.endsWith("/query")).map((r) => r.query.q);
  assert.deepEqual(queries, Array(2).fill("SELECT Id FROM Lead WHERE Email = 'o\\'brien@example.com' LIMIT 1"));
});

test("dedupeByEmail with injection attempts: nothing matches that should not", async () => {
  sf.configure({ ...SETTINGS, dedupeByEmail: true });
  const bystander = await login(actionEvent(undefined, { user_id: "auth0|bystander", email: "bystander@example.com" }));
  assert.equal(bystander.outcome.status, "created");

  // With spaces or parentheses it is not an address Salesforce takes: left out of the Lead (so the
  // Lead is still created), and never queried.
  for (const [i, email] of ["x' OR Name != '@example.com", "x'OR(Name!='')OR'@example.com"].entries()) {
    const before = emu.state.requests.filter((r) => r.path.endsWith("/query")).length;
    const dropped = await login(actionEvent(undefined, { user_id: `auth0|dropped${i}`, email }));
    assert.equal(dropped.outcome.status, "created", JSON.stringify(dropped.outcome.error));
    assert.notEqual(dropped.outcome.leadId, bystander.outcome.leadId);
    assert.deepEqual(dropped.outcome.warnings.map((w) => w.code), ["INVALID_EMAIL_DROPPED"]);
    assert.equal(emu.state.requests.filter((r) => r.path.endsWith("/query")).length, before);
  }

  // Quotes and '=' are valid in an address: queried as one escaped literal, matching only itself.
  const tricky = "x'OR'1'='1@example.com";
  const first = await login(actionEvent(undefined, { user_id: "auth0|inj2", email: tricky }));
  assert.equal(first.outcome.status, "created", JSON.stringify(first.outcome.error));
  assert.notEqual(first.outcome.leadId, bystander.outcome.leadId);
  const again = await login(actionEvent(undefined, { user_id: "auth0|inj3", email: tricky }));
  assert.equal(again.outcome.status, "duplicate");
  assert.equal(again.outcome.leadId, first.outcome.leadId, "finds the Lead with exactly that email");
  const q = emu.state.requests.filter((r) => r.path.endsWith("/query")).map((r) => r.query.q);
  assert.equal(q.at(-1), "SELECT Id FROM Lead WHERE Email = 'x\\'OR\\'1\\'=\\'1@example.com' LIMIT 1");
  assert.equal(leads().length, 4);
});

test("recreateDeleted: a stored Lead id Salesforce reports deleted is created again and the marker updated", async () => {
  sf.configure({ ...SETTINGS, recreateDeleted: true });
  const first = await login(actionEvent());
  const oldId = first.outcome.leadId;
  const token = await brokerToken();
  const del = await fetch(`${emu.url}/services/data/v66.0/sobjects/Lead/${oldId}`, { method: "DELETE", headers: { authorization: `Bearer ${token}` } });
  assert.equal(del.status, 204);
  assert.equal(leads().length, 0);

  const returning = actionEvent(undefined, { app_metadata: { recordedAsLead: true, salesforceLeadId: oldId } });
  returning.stats.logins_count = 2;
  emu.state.requests.length = 0;
  const { outcome, api } = await login(returning);
  assert.equal(outcome.status, "created", JSON.stringify(outcome.error));
  assert.notEqual(outcome.leadId, oldId);
  assert.deepEqual(api.calls.setAppMetadata, [["recordedAsLead", true], ["salesforceLeadId", outcome.leadId]]);
  assert.deepEqual(emu.state.requests.map((r) => `${r.method} ${r.path}`).slice(0, 2), [`GET /services/data/v66.0/sobjects/Lead/${oldId}`, `POST ${CREATE}`]);
  assert.equal(leads().length, 1);

  // Still there: the next login only checks, creates nothing, changes no marker.
  returning.user.app_metadata.salesforceLeadId = outcome.leadId;
  const check = await login(returning);
  assert.equal(check.outcome.status, "skipped");
  assert.deepEqual(check.api.calls.setAppMetadata, []);
  assert.equal(leads().length, 1);

  // Without recreateDeleted the marker alone decides: nothing is sent.
  sf.configure(SETTINGS);
  emu.state.requests.length = 0;
  const plain = await login(returning);
  assert.equal(plain.outcome.status, "skipped");
  assert.equal(emu.state.requests.length, 0);
});

test("a login that ends late does not put back the token another login replaced after a 401", async () => {
  const config = { secrets: emulatorSecrets(emu), deadlineMs: 4000, requestTimeoutMs: 3000 };
  const user = (n) => ({ user_id: `auth0|late${n}`, email: `late${n}@example.com`, name: `Late User${n}` });
  const tokens = () => emu.state.requests.filter((r) => r.path === TOKEN).length;
  // B gets the first token and creates its Lead, then waits for a slow Slack.
  emu.setFaults({ kind: "delay", target: "slack", ms: 800, times: 1 });
  const late = sf.onFirstLogin(user(1), config);
  while (leads().length === 0) await new Promise((r) => setTimeout(r, 10));
  // Meanwhile the first token's session ends: A is refused with it and renews it.
  emu.addFaults({ kind: "expireSessions" });
  assert.equal((await sf.onFirstLogin(user(2), config)).status, "created");
  assert.equal(tokens(), 2);
  assert.equal((await late).status, "created");
  // C uses A's token: had B written its own (expired) token back, C would be refused and renew.
  const c = await sf.onFirstLogin(user(3), config);
  assert.equal(c.status, "created");
  assert.equal(c.token, "cached");
  assert.equal(tokens(), 2);
});
