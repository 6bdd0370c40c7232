// Every emulator fault, end to end through the Auth0 Action entry point (`onExecutePostLogin`
// with the `api` mock): the outcome, the number of Leads (0 or 1, never 2), the marker (only when
// Salesforce confirmed), the Slack alert, and the hook resolving — never throwing — within
// deadlineMs + 500 ms. Small deadlines keep the file fast.
import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { startEmulator } from "../emulator/server.mjs";
import { loadPackage, fixture, auth0Api, auth0Event, emulatorSecrets, leakScanner, timed, closedPort } from "./harness.mjs";

const sf = loadPackage();
const SETTINGS = { deadlineMs: 1000, requestTimeoutMs: 200, maxRetries: 2 };
let settings = SETTINGS;
/** Settings for this test on top of SETTINGS (the hook's own bound follows `deadlineMs`). */
function configure(over = {}) {
  settings = { ...SETTINGS, ...over };
  sf.configure(settings);
}
const CREATE = "/services/data/v66.0/sobjects/Lead/";
const TOKEN = "/services/oauth2/token";
const QUERY = "/services/data/v66.0/query";

let emu;
const leaks = leakScanner();

before(async () => {
  emu = await startEmulator();
  leaks.captureConsole();
});
after(async () => {
  leaks.restoreConsole();
  await emu.stop();
  leaks.check();
});
beforeEach(() => {
  emu.reset({ sessions: true });
  sf.clearTokenCache();
  configure();
});
afterEach(() => {
  leaks.fromEmulator(emu);
  leaks.check();
});

const actionEvent = (secrets = {}, user = {}) => auth0Event(emulatorSecrets(emu, secrets), user);

/** One login through the Action: the outcome, the api record, and how long the hook took. */
async function login(event = actionEvent(), api = auth0Api()) {
  const deadline = settings.deadlineMs;
  const { result: outcome, ms } = await timed(() => sf.onExecutePostLogin(event, api));
  leaks.add("outcome", outcome);
  assert.ok(outcome && typeof outcome === "object", "the hook resolves to an outcome");
  assert.ok(ms < deadline + 500, `the hook took ${ms.toFixed(0)} ms, over deadlineMs + 500`);
  return { outcome, api, ms };
}

const leads = () => emu.state.records.Lead.length;
const hits = (path) => emu.state.requests.filter((r) => r.path === path).length;
const alerts = () => emu.state.slackMessages.filter((m) => m.text.startsWith(":warning:"));
const notices = () => emu.state.slackMessages.filter((m) => m.text.startsWith("New Salesforce Lead"));

function assertCreated(outcome, api) {
  assert.equal(outcome.status, "created", JSON.stringify(outcome.error));
  assert.equal(leads(), 1);
  assert.equal(outcome.leadId, emu.state.records.Lead[0].Id);
  assert.deepEqual(api.calls.setAppMetadata, [["recordedAsLead", true], ["salesforceLeadId", outcome.leadId]]);
  assert.equal(alerts().length, 0);
}

function assertFailed(outcome, api, code) {
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.code, code, JSON.stringify(outcome.error));
  assert.equal(leads(), 0);
  assert.deepEqual(api.calls.setAppMetadata, [], "no marker without a confirmed Lead");
  assert.equal(alerts().length, 1, "one Slack alert");
  assert.equal(notices().length, 0);
}

// ---- slow / hang / refused ------------------------------------------------------------------

// Tests that count attempts give the deadline room (ROOMY): under a starved CPU the count must come
// from maxRetries and requestTimeoutMs, not from the deadline running out first.
const ROOMY = { deadlineMs: 5000 };

test("slow create (delay beyond requestTimeoutMs, once): timed out, looked up by email, sent again — one Lead", async () => {
  configure(ROOMY);
  emu.setFaults({ kind: "delay", target: "create", ms: 500, times: 1 });
  const { outcome, api } = await login();
  assertCreated(outcome, api);
  assert.deepEqual(emu.state.requests.map((r) => r.path), [TOKEN, CREATE, QUERY, CREATE, "/slack/services/T000/B000/emuSlackHook"]);
  await sleep(400); // let the abandoned request's delay run out: it must not land as a second Lead
  assert.equal(leads(), 1);
});

test("slow Salesforce throughout (every create slower than requestTimeoutMs): failed, no Lead, within the deadline", async () => {
  emu.setFaults({ kind: "delay", target: "create", ms: 500 });
  const { outcome, api } = await login();
  assert.equal(outcome.status, "failed");
  assert.ok(["NETWORK_ERROR", "DEADLINE_EXCEEDED"].includes(outcome.error.code), outcome.error.code);
  assert.equal(leads(), 0);
  assert.deepEqual(api.calls.setAppMetadata, []);
  await sleep(500);
  assert.equal(leads(), 0, "no abandoned create landed later");
});

test("hang on create: the hook returns within deadlineMs + margin, nothing created, no marker", async () => {
  emu.setFaults({ kind: "hang", target: "create" });
  const { outcome, api } = await login();
  assert.equal(outcome.status, "failed");
  assert.equal(leads(), 0);
  assert.deepEqual(api.calls.setAppMetadata, []);
  assert.match(outcome.error.message, /did not answer in time|deadlineMs|may or may not/);
});

test("hang on the token endpoint: failed NETWORK_ERROR within the deadline, alert sent", async () => {
  emu.setFaults({ kind: "hang", target: "token" });
  const { outcome, api } = await login();
  assert.equal(hits(CREATE), 0);
  assertFailed(outcome, api, outcome.error.code);
  assert.ok(["NETWORK_ERROR", "DEADLINE_EXCEEDED"].includes(outcome.error.code));
});

test("hang on Slack: the Lead is created and marked, Slack failed, within the deadline", async () => {
  emu.setFaults({ kind: "hang", target: "slack" });
  const { outcome, api } = await login();
  assertCreated(outcome, api);
  assert.equal(outcome.slack.status, "failed");
});

test("connection refused (loginUrl on a closed loopback port): NETWORK_ERROR, retried, alert without secrets", async () => {
  configure(ROOMY);
  const port = await closedPort();
  const { outcome, api } = await login(actionEvent({ SALESFORCE_LOGIN_URL: `http://127.0.0.1:${port}` }));
  assertFailed(outcome, api, "NETWORK_ERROR");
  assert.match(outcome.error.message, /network error talking to Salesforce/);
  assert.equal(outcome.requests, SETTINGS.maxRetries + 1 + 1, "token tried 1 + maxRetries times, then Slack");
  assert.match(alerts()[0].text, /NETWORK_ERROR/);
});

// ---- 5xx / 429 / limits ---------------------------------------------------------------------

test("status500 once on create: retried, one Lead, marker, success notice", async () => {
  emu.setFaults({ kind: "status500", target: "create", times: 1 });
  const { outcome, api } = await login();
  assertCreated(outcome, api);
  assert.equal(hits(CREATE), 2);
  assert.equal(notices().length, 1);
});

test("status500 once on the token endpoint: retried, one Lead", async () => {
  emu.setFaults({ kind: "status500", target: "token", times: 1, status: 500 });
  const { outcome, api } = await login();
  assertCreated(outcome, api);
  assert.equal(hits(TOKEN), 2);
});

test("status500 persistent: SALESFORCE_UNAVAILABLE after 1 + maxRetries creates, no Lead, one alert", async () => {
  configure(ROOMY);
  emu.setFaults({ kind: "status500", target: "create" });
  const { outcome, api } = await login();
  assertFailed(outcome, api, "SALESFORCE_UNAVAILABLE");
  assert.equal(hits(CREATE), SETTINGS.maxRetries + 1);
  assert.equal(outcome.error.remoteCode, "SERVER_UNAVAILABLE");
});

test("rateLimit429 with a Retry-After that fits in the deadline: waits, retries, one Lead", async () => {
  configure({ deadlineMs: 2000 });
  emu.setFaults({ kind: "rateLimit429", target: "create", retryAfter: 1, times: 1 });
  const { outcome, api, ms } = await login();
  assertCreated(outcome, api);
  assert.equal(hits(CREATE), 2);
  assert.ok(ms >= 1000, `waited the Retry-After (${ms.toFixed(0)} ms)`);
});

test("rateLimit429 on the token endpoint, Retry-After fits: retried, one Lead", async () => {
  emu.setFaults({ kind: "rateLimit429", target: "token", retryAfter: 0, times: 1 });
  const { outcome, api } = await login();
  assertCreated(outcome, api);
  assert.equal(hits(TOKEN), 2);
});

test("rateLimit429 with a Retry-After beyond the deadline: fails fast, one create attempt, alert", async () => {
  emu.setFaults({ kind: "rateLimit429", target: "create", retryAfter: 30 });
  const { outcome, api, ms } = await login();
  assertFailed(outcome, api, "SALESFORCE_UNAVAILABLE");
  assert.equal(hits(CREATE), 1);
  assert.match(outcome.error.message, /Retry-After 30000 ms does not fit in deadlineMs/);
  assert.ok(ms < settings.deadlineMs / 2, `failed fast (${ms.toFixed(0)} ms), without waiting`);
});

test("requestLimit (REQUEST_LIMIT_EXCEEDED): RATE_LIMITED, exactly one create attempt, not retried", async () => {
  emu.setFaults({ kind: "requestLimit", target: "create" });
  const { outcome, api } = await login();
  assertFailed(outcome, api, "RATE_LIMITED");
  assert.equal(outcome.error.remoteCode, "REQUEST_LIMIT_EXCEEDED");
  assert.equal(hits(CREATE), 1);
});

// ---- sessions -------------------------------------------------------------------------------

test("expireSessions mid-flow (while the create is in flight): one new token, create again, one Lead", async () => {
  emu.setFaults({ kind: "delay", target: "create", ms: 120, times: 1 });
  const timer = setTimeout(() => emu.addFaults({ kind: "expireSessions" }), 40);
  const { outcome, api } = await login();
  clearTimeout(timer);
  assertCreated(outcome, api);
  assert.equal(emu.state.faultsApplied.expireSessions, 1);
  assert.deepEqual(emu.state.requests.map((r) => r.path).slice(0, 4), [TOKEN, CREATE, TOKEN, CREATE]);
  assert.equal(emu.state.tokensIssued.length, 2);
});

test("expireSessions between logins with a cached token: refreshed once, one Lead per user", async () => {
  const api = auth0Api();
  await login(actionEvent(), api);
  emu.setFaults({ kind: "expireSessions" });
  const { outcome } = await login(actionEvent({}, { user_id: "auth0|second", email: "second@example.com" }), api);
  assert.equal(outcome.status, "created");
  assert.equal(leads(), 2);
  assert.equal(emu.state.tokensIssued.length, 2);
});

test("invalidSession once: one new token, create again, one Lead", async () => {
  emu.setFaults({ kind: "invalidSession", target: "create" });
  const { outcome, api } = await login();
  assertCreated(outcome, api);
  assert.equal(hits(TOKEN), 2);
  assert.equal(hits(CREATE), 2);
});

test("invalidSession on every request: SESSION_EXPIRED after one refresh, the token is forgotten", async () => {
  emu.setFaults({ kind: "invalidSession", target: "create", times: null });
  const api = auth0Api();
  const { outcome } = await login(actionEvent(), api);
  assertFailed(outcome, api, "SESSION_EXPIRED");
  assert.equal(hits(TOKEN), 2);
  assert.equal(hits(CREATE), 2);
  // Forgotten in api.cache too (Auth0's cache has no delete: an empty value is a miss).
  assert.ok([...api.store.values()].every((e) => e.value === ""));
});

// ---- duplicates / drops / malformed ---------------------------------------------------------

test("duplicateRule: outcome duplicate with the existing id, marker with that id, no alert, still one Lead", async () => {
  const first = await login(actionEvent({}, { user_id: "auth0|first" }));
  assert.equal(first.outcome.status, "created");
  const existing = first.outcome.leadId;
  emu.state.slackMessages.length = 0;
  emu.setFaults({ kind: "duplicateRule", target: "create" });
  const { outcome, api } = await login(actionEvent({}, { user_id: "auth0|second-account-same-email" }));
  assert.equal(outcome.status, "duplicate");
  assert.equal(outcome.leadId, existing);
  assert.deepEqual(api.calls.setAppMetadata, [["recordedAsLead", true], ["salesforceLeadId", existing]]);
  assert.equal(emu.state.slackMessages.length, 0, "no alert and no notice for a duplicate");
  assert.equal(leads(), 1);
  assert.equal(emu.state.faultsApplied.duplicateRule, 1);
});

test("drop on create (connection reset, once): looked up by email before resending — exactly one Lead", async () => {
  emu.setFaults({ kind: "drop", target: "create", times: 1 });
  const { outcome, api } = await login();
  assertCreated(outcome, api);
  assert.deepEqual(emu.state.requests.map((r) => r.path).slice(0, 4), [TOKEN, CREATE, QUERY, CREATE]);
  assert.equal(
    emu.state.requests[2].query.q,
    "SELECT Id, CreatedDate FROM Lead WHERE Email = 'ana.pereira@example.com' ORDER BY CreatedDate DESC LIMIT 1",
  );
});

test("drop on create when a Lead with this email is older than the login: duplicate with that id, no 'new Lead' message", async () => {
  const first = await login(actionEvent({}, { user_id: "auth0|first" }));
  const existing = first.outcome.leadId;
  // Created ten minutes ago, in the REST API's date-time shape.
  emu.state.records.Lead[0].CreatedDate = new Date(Date.now() - 600_000).toISOString().replace("Z", "+0000");
  emu.state.slackMessages.length = 0;
  emu.setFaults({ kind: "drop", target: "create", times: 1 });
  const { outcome, api } = await login(actionEvent({}, { user_id: "auth0|second-account-same-email" }));
  assert.equal(outcome.status, "duplicate");
  assert.equal(outcome.leadId, existing);
  assert.equal(outcome.reason, "not created: a record with this email already existed (the create's answer was lost)");
  assert.deepEqual(api.calls.setAppMetadata, [["recordedAsLead", true], ["salesforceLeadId", existing]]);
  assert.equal(emu.state.slackMessages.length, 0);
  assert.equal(leads(), 1);
});

test("drop on every create: never two Leads, failed after the retries, no marker", async () => {
  configure(ROOMY);
  emu.setFaults({ kind: "drop", target: "create" });
  const { outcome, api } = await login();
  assertFailed(outcome, api, "NETWORK_ERROR");
  assert.ok(hits(CREATE) >= 2 && hits(QUERY) === hits(CREATE) - 1, "every resend follows a lookup");
  assert.match(outcome.error.message, /may or may not have been created/);
});

test("drop on create for a user without email: not sent twice blind", async () => {
  emu.setFaults({ kind: "drop", target: "create", times: 1 });
  const event = actionEvent();
  delete event.user.email;
  const { outcome, api } = await login(event);
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error.code, "NETWORK_ERROR");
  assert.match(outcome.error.message, /may or may not have been created, so it was not sent again/);
  assert.equal(hits(CREATE), 1);
  assert.equal(leads(), 0);
  assert.deepEqual(api.calls.setAppMetadata, []);
});

test("drop on the token endpoint (once): retried, one Lead", async () => {
  emu.setFaults({ kind: "drop", target: "token", times: 1 });
  const { outcome, api } = await login();
  assertCreated(outcome, api);
});

test("malformed token response (once): retried like any unreadable answer, one Lead", async () => {
  emu.setFaults({ kind: "malformed", target: "token", times: 1 });
  const { outcome, api } = await login();
  assertCreated(outcome, api);
  assert.equal(hits(TOKEN), 2);
});

test("malformed token response throughout: RESPONSE_INVALID, no Lead, alert", async () => {
  emu.setFaults({ kind: "malformed", target: "token" });
  const { outcome, api } = await login();
  assertFailed(outcome, api, "RESPONSE_INVALID");
  assert.equal(hits(CREATE), 0);
});

test("malformed create response (once): nothing was created, so the lookup finds nothing and one Lead is made", async () => {
  emu.setFaults({ kind: "malformed", target: "create", times: 1 });
  const { outcome, api } = await login();
  assertCreated(outcome, api);
  assert.deepEqual(emu.state.requests.map((r) => r.path).slice(0, 4), [TOKEN, CREATE, QUERY, CREATE]);
});

test("malformed create response throughout: Leads ≤ 1 (here 0), failed, no marker", async () => {
  emu.setFaults({ kind: "malformed", target: "create" });
  const { outcome, api } = await login();
  assertFailed(outcome, api, outcome.error.code);
  assert.ok(["RESPONSE_INVALID", "NETWORK_ERROR"].includes(outcome.error.code), outcome.error.code);
  assert.ok(leads() <= 1);
});

// ---- Slack faults never change the Lead outcome ---------------------------------------------

for (const [name, secrets, fault, slackStatus] of [
  ["500 once (retried)", {}, { kind: "status500", target: "slack", times: 1 }, "sent"],
  ["500 throughout", {}, { kind: "status500", target: "slack" }, "failed"],
  ["429 once with Retry-After 0", {}, { kind: "rateLimit429", target: "slack", retryAfter: 0, times: 1 }, "sent"],
  ["429 beyond the deadline", {}, { kind: "rateLimit429", target: "slack", retryAfter: 30 }, "failed"],
  ["404 no_service (wrong webhook path)", { SLACK_WEBHOOK_URL: "/slack/services/T000/B000/wrongHookPath" }, null, "failed"],
  ["dropped connection", {}, { kind: "drop", target: "slack" }, "failed"],
]) {
  test(`Slack ${name}: the Lead is still created and marked`, async () => {
    if (fault) emu.setFaults(fault);
    const s = { ...secrets };
    if (s.SLACK_WEBHOOK_URL) s.SLACK_WEBHOOK_URL = emu.url + s.SLACK_WEBHOOK_URL;
    const { outcome, api } = await login(actionEvent(s));
    assertCreated(outcome, api);
    assert.equal(outcome.slack.status, slackStatus);
    if (slackStatus === "failed") assert.equal(outcome.slack.error.code, "SLACK_FAILED");
  });
}

test("Slack failing on a failure alert does not change the failed outcome", async () => {
  emu.setFaults([{ kind: "requestLimit", target: "create" }, { kind: "status500", target: "slack" }]);
  const { outcome, api } = await login();
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error.code, "RATE_LIMITED");
  assert.equal(outcome.slack.status, "failed");
  assert.deepEqual(api.calls.setAppMetadata, []);
});

test("legacy Rule with Salesforce hanging: the callback comes within deadlineMs + 500 ms, user unchanged, no marker", async () => {
  const updates = [];
  globalThis.configuration = emulatorSecrets(emu); // deadlineMs etc. come from configure()
  globalThis.auth0 = { users: { updateAppMetadata: async (id, meta) => updates.push([id, meta]) } };
  emu.setFaults({ kind: "hang", target: "salesforce" });
  const user = fixture("auth0-rule-user.json");
  const { result, ms } = await timed(() => new Promise((resolve) => sf.rule(user, fixture("auth0-rule-context.json"), (err, u) => resolve({ err, u }))));
  assert.ok(ms < settings.deadlineMs + 500, `callback after ${ms.toFixed(0)} ms`);
  assert.equal(result.err, null);
  assert.equal(result.u, user);
  assert.deepEqual(updates, []);
  assert.equal(leads(), 0);
  assert.equal(alerts().length, 1, "the alert still went out");
});
