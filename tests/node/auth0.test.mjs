// Auth0 Actions and legacy Rules entry points of the built package, against the local emulator:
// exact requests, exact Lead, exact Slack message, the marker only after Salesforce confirmed,
// never a thrown error, never a secret in anything produced.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { useEmulator } from "./use-emulator.mjs";
import { loadPackage, fixture, auth0Api, emulatorSecrets, assertNoSecrets, captureConsole } from "./harness.mjs";

const sf = loadPackage();
const fixtureEmu = useEmulator(sf);
let emu;
beforeEach(() => {
  emu = fixtureEmu.emu;
});

function actionEvent(secrets = {}) {
  const event = fixture("auth0-action-post-login.json");
  event.secrets = emulatorSecrets(emu, secrets);
  return event;
}

const ANA_LEAD = { FirstName: "Ana", LastName: "Pereira", Email: "ana.pereira@example.com", Company: "Acme Corp", LeadSource: "Web" };

test("first login creates exactly one Lead, one Slack message and marks the user", async () => {
  const api = auth0Api();
  const { result: outcome, lines } = await captureConsole(() => sf.onExecutePostLogin(actionEvent(), api));

  assert.equal(outcome.status, "created");
  assert.match(outcome.leadId, /^00Q[0-9A-Za-z]{15}$/);
  assert.equal(outcome.recordUrl, `${emu.url}/lightning/r/Lead/${outcome.leadId}/view`);
  assert.deepEqual(outcome.record, ANA_LEAD);
  assert.deepEqual(outcome.slack, { status: "sent" });
  assert.equal(outcome.token, "new");
  assert.equal(outcome.requests, 3);

  // Exactly: token (client credentials), create, Slack.
  const reqs = emu.state.requests;
  assert.deepEqual(reqs.map((r) => `${r.method} ${r.path}`), [
    "POST /services/oauth2/token",
    "POST /services/data/v66.0/sobjects/Lead/",
    "POST /slack/services/T000/B000/emuSlackHook",
  ]);
  assert.equal(reqs[0].headers["content-type"], "application/x-www-form-urlencoded");
  assert.equal(reqs[0].body, "grant_type=client_credentials&client_id=emu-client-id&client_secret=emu-client-secret");
  assert.equal(reqs[1].headers.authorization, `Bearer ${emu.state.tokensIssued[0].access_token}`);
  assert.equal(reqs[1].headers["content-type"], "application/json");
  assert.deepEqual(JSON.parse(reqs[1].body), ANA_LEAD);
  assert.equal(reqs[1].body, JSON.stringify(ANA_LEAD), "field order follows the mapping");

  assert.equal(emu.state.records.Lead.length, 1);
  const stored = emu.state.records.Lead[0];
  assert.equal(stored.Id, outcome.leadId);
  for (const [k, v] of Object.entries(ANA_LEAD)) assert.equal(stored[k], v);

  assert.deepEqual(emu.state.slackMessages, [
    { text: `New Salesforce Lead: *Ana Pereira* (ana.pereira@example.com) from Acme Corp — <${outcome.recordUrl}|open in Salesforce>` },
  ]);
  assert.deepEqual(api.calls.setAppMetadata, [["recordedAsLead", true], ["salesforceLeadId", outcome.leadId]]);
  assert.deepEqual(lines, [`sf-lead-rule: created Lead ${outcome.leadId} (3 requests, token new, slack sent)`]);
  assertNoSecrets([outcome, lines, emu.state.slackMessages]);
});

test("second login (marker set) creates nothing and sends nothing", async () => {
  const event = actionEvent();
  event.user.app_metadata = { recordedAsLead: true, salesforceLeadId: "00Q5e00000000001AA" };
  event.stats.logins_count = 2;
  const api = auth0Api();
  const outcome = await sf.onExecutePostLogin(event, api);
  assert.equal(outcome.status, "skipped");
  assert.equal(emu.state.requests.length, 0);
  assert.deepEqual(api.calls.setAppMetadata, []);
});

test("the returning-user fixture is skipped", async () => {
  const event = fixture("auth0-action-returning.json");
  event.secrets = emulatorSecrets(emu);
  const outcome = await sf.onExecutePostLogin(event, auth0Api());
  assert.equal(outcome.status, "skipped");
  assert.equal(emu.state.requests.length, 0);
});

test("wrong credentials: no Lead, no marker, an alert without secrets, the login proceeds", async () => {
  const api = auth0Api();
  const event = actionEvent({ SALESFORCE_CLIENT_SECRET: "wrong-secret-value" });
  const { result: outcome, lines } = await captureConsole(() => sf.onExecutePostLogin(event, api));
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error.code, "TOKEN_REJECTED");
  assert.equal(outcome.error.remoteCode, "invalid_client");
  assert.equal(emu.state.records.Lead.length, 0);
  assert.deepEqual(api.calls.setAppMetadata, []);
  assert.equal(emu.state.slackMessages.length, 1);
  assert.equal(
    emu.state.slackMessages[0].text,
    ":warning: Could not create the Salesforce Lead for ana.pereira@example.com: TOKEN_REJECTED — Salesforce refused the token request (invalid_client: invalid client credentials); check clientId/clientSecret of the connected app (Salesforce: invalid_client). The user was not marked as recorded; the next login tries again.",
  );
  assertNoSecrets([outcome, lines, emu.state.slackMessages], ["wrong-secret-value"]);
});

test("template parity: password grant with the Auth0 docs' secret names and the template mapping", async () => {
  const sfTemplate = { SFCOM_CLIENT_ID: "emu-client-id", SFCOM_CLIENT_SECRET: "emu-client-secret", USERNAME: "integration@example.com", PASSWORD: "emu-password", MY_SLACK_WEBHOOK_URL: emu.slackWebhookUrl, SALESFORCE_LOGIN_URL: emu.url, SALESFORCE_MAPPING: "auth0-template" };
  const event = fixture("auth0-action-post-login.json");
  event.secrets = sfTemplate;
  const api = auth0Api();
  const outcome = await sf.onExecutePostLogin(event, api);
  assert.equal(outcome.status, "created");
  assert.equal(emu.state.requests[0].body, "grant_type=password&client_id=emu-client-id&client_secret=emu-client-secret&username=integration%40example.com&password=emu-password");
  assert.deepEqual(JSON.parse(emu.state.requests[1].body), { LastName: "Ana Pereira", Company: "Web channel signups" });
  assert.equal(emu.state.tokensIssued[0].grant, "password");
  assertNoSecrets(outcome);
});

test("a warm token costs one Salesforce round trip; api.cache carries it across cold starts", async () => {
  const api = auth0Api();
  await sf.onExecutePostLogin(actionEvent(), api);
  assert.equal(api.calls.cacheSet.length, 1);
  assert.match(api.calls.cacheSet[0][0], /^sf-lead-rule:token:[0-9a-f]{16}$/);

  const other = actionEvent();
  other.user.user_id = "auth0|second";
  other.user.email = "second@example.com";
  emu.state.requests.length = 0;
  const warm = await sf.onExecutePostLogin(other, api);
  assert.equal(warm.token, "cached");
  assert.deepEqual(emu.state.requests.map((r) => r.path), ["/services/data/v66.0/sobjects/Lead/", "/slack/services/T000/B000/emuSlackHook"]);

  // A new process (module memory empty) still finds the token in api.cache.
  sf.clearTokenCache();
  const third = actionEvent();
  third.user.user_id = "auth0|third";
  third.user.email = "third@example.com";
  emu.state.requests.length = 0;
  const fromHostCache = await sf.onExecutePostLogin(third, api);
  assert.equal(fromHostCache.token, "cached");
  assert.equal(emu.state.requests.filter((r) => r.path === "/services/oauth2/token").length, 0);
  assert.equal(emu.state.records.Lead.length, 3);
});

test("a session that expired between logins gets one new token and one Lead", async () => {
  const api = auth0Api();
  await sf.onExecutePostLogin(actionEvent(), api);
  emu.setFaults({ kind: "expireSessions" });
  const next = actionEvent();
  next.user.user_id = "auth0|next";
  next.user.email = "next@example.com";
  emu.state.requests.length = 0;
  const outcome = await sf.onExecutePostLogin(next, api);
  assert.equal(outcome.status, "created");
  assert.deepEqual(emu.state.requests.map((r) => r.path), [
    "/services/data/v66.0/sobjects/Lead/",
    "/services/oauth2/token",
    "/services/data/v66.0/sobjects/Lead/",
    "/slack/services/T000/B000/emuSlackHook",
  ]);
  assert.equal(emu.state.records.Lead.length, 2);
});

test("missing configuration never throws out of the Action", async () => {
  const event = fixture("auth0-action-post-login.json");
  event.secrets = { SALESFORCE_CLIENT_ID: "only-an-id" };
  const api = auth0Api();
  const { result, lines } = await captureConsole(() => sf.onExecutePostLogin(event, api));
  assert.equal(result.status, "failed");
  assert.equal(result.error.code, "CONFIG_MISSING");
  assert.equal(result.error.field, "clientSecret");
  assert.equal(lines.length, 1);
  assert.match(lines[0], /configuration error CONFIG_MISSING: clientSecret is required/);
  assert.deepEqual(api.calls.setAppMetadata, []);
  // Not even an event object: still no throw.
  const nothing = await sf.onExecutePostLogin(undefined, undefined);
  assert.equal(nothing.status, "failed");
});

function ruleGlobals(configuration) {
  const updates = [];
  globalThis.configuration = configuration;
  globalThis.auth0 = { users: { updateAppMetadata: async (id, meta) => { updates.push([id, structuredClone(meta)]); } } };
  return updates;
}

function runRule(user, context) {
  return new Promise((resolve) => sf.rule(user, context, (err, u, c) => resolve({ err, u, c })));
}

test("legacy Rule: creates the Lead, saves the marker, calls back with the user", async () => {
  const updates = ruleGlobals({ SALESFORCE_CLIENT_ID: "emu-client-id", SALESFORCE_CLIENT_SECRET: "emu-client-secret", SALESFORCE_LOGIN_URL: emu.url, SLACK_WEBHOOK_URL: emu.slackWebhookUrl });
  const user = fixture("auth0-rule-user.json");
  const context = fixture("auth0-rule-context.json");
  const { err, u, c } = await runRule(user, context);
  assert.equal(err, null);
  assert.equal(u, user);
  assert.equal(c, context);
  assert.equal(emu.state.records.Lead.length, 1);
  const id = emu.state.records.Lead[0].Id;
  assert.deepEqual(updates, [[user.user_id, { ...fixture("auth0-rule-user.json").app_metadata, recordedAsLead: true, salesforceLeadId: id }]]);
  assert.deepEqual(JSON.parse(emu.state.requests[1].body), { FirstName: "David", LastName: "Okafor", Email: "david.okafor@example.com", Company: "Web channel signups", LeadSource: "Web" });

  // Second login with the saved marker: nothing sent.
  emu.state.requests.length = 0;
  await runRule(u, context);
  assert.equal(emu.state.requests.length, 0);
  assert.equal(updates.length, 1);
});

test("legacy Rule: Salesforce down still calls back, without marker", async () => {
  const updates = ruleGlobals({ SALESFORCE_CLIENT_ID: "emu-client-id", SALESFORCE_CLIENT_SECRET: "emu-client-secret", SALESFORCE_LOGIN_URL: emu.url, SLACK_WEBHOOK_URL: emu.slackWebhookUrl });
  emu.setFaults({ kind: "status500", target: "salesforce" });
  const { result } = await captureConsole(() => runRule(fixture("auth0-rule-user.json"), fixture("auth0-rule-context.json")));
  assert.equal(result.err, null);
  assert.equal(updates.length, 0);
  assert.equal(emu.state.records.Lead.length, 0);
  assert.equal(emu.state.slackMessages.length, 1);
  assertNoSecrets(emu.state.slackMessages);
});

test("legacy Rule: bad configuration still calls back", async () => {
  ruleGlobals({});
  const { result, lines } = await captureConsole(() => runRule(fixture("auth0-rule-user.json"), fixture("auth0-rule-context.json")));
  assert.equal(result.err, null);
  assert.match(lines[0], /CONFIG_MISSING/);
  assert.equal(emu.state.requests.length, 0);
});

test("a database user whose name is the email: LastName from the email, no FirstName", async () => {
  const event = fixture("auth0-action-database-user.json");
  event.secrets = emulatorSecrets(emu);
  const { result } = await captureConsole(() => sf.onExecutePostLogin(event, auth0Api()));
  assert.equal(result.status, "created");
  assert.equal(emu.state.requests[1].body, JSON.stringify({ LastName: "sam.taylor", Email: "sam.taylor@example.com", Company: "Web channel signups", LeadSource: "Web" }));
});
