// handleWebhook for the hosts added by issue 13 against the emulator: Auth0 Event Streams
// (bearer/basic Authorization), authentik notifications (default and mapped bodies) and the Okta
// registration inline hook (`commands`). Exact Lead, exact answer, the 401s, the skips with their
// reason, and one record when a delivery comes twice.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { useEmulator } from "./use-emulator.mjs";
import { loadPackage, fixtureText, assertNoSecrets, captureConsole } from "./harness.mjs";

const sf = loadPackage();
const fixtureEmu = useEmulator(sf);
let emu;
beforeEach(() => {
  emu = fixtureEmu.emu;
});

function env(extra = {}, config = {}) {
  return {
    ...config,
    secrets: {
      SALESFORCE_CLIENT_ID: "emu-client-id",
      SALESFORCE_CLIENT_SECRET: "emu-client-secret",
      SALESFORCE_LOGIN_URL: emu.url,
      SLACK_WEBHOOK_URL: emu.slackWebhookUrl,
      ...extra,
    },
  };
}

const CREATE = "/services/data/v66.0/sobjects/Lead/";

function creates() {
  return emu.state.requests.filter((r) => r.path === CREATE);
}

/** The one Lead created, sent with exactly `expected`; its id. */
function onlyLead(expected) {
  assert.equal(creates().length, 1, "exactly one create request");
  assert.equal(creates()[0].body, JSON.stringify(expected));
  assert.equal(emu.state.records.Lead.length, 1);
  return emu.state.records.Lead[0].Id;
}

function silent() {
  assert.deepEqual(emu.state.requests, []);
}

const json = (r) => JSON.parse(r.body);

/** `handleWebhook` with console output kept out of the test log. */
async function hook(host, request, config) {
  const { result } = await captureConsole(() => sf.handleWebhook(host, request, config));
  return result;
}

// ------------------------------------------------------------------------ Auth0 Event Streams

const AUTH0_TOKEN = "evt-stream-token-7Qk2";
const auth0Delivery = (authorization, body = fixtureText("auth0-events-user-created.json")) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...(authorization === undefined ? {} : { authorization }) },
  body,
});
const MARTA = { FirstName: "Marta", LastName: "Kowalska", Email: "marta.kowalska@example.com", Company: "Kowalska Logistics", LeadSource: "Web", Phone: "+15555550142" };

test("Auth0 Event Streams user.created with the bearer token: Lead created, outcomes answered", async () => {
  const r = await hook("auth0-events", auth0Delivery(`Bearer ${AUTH0_TOKEN}`), env({ AUTH0_EVENTS_AUTHORIZATION: AUTH0_TOKEN }));
  const id = onlyLead(MARTA);
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "application/json");
  assert.deepEqual(json(r), { outcomes: [{ status: "created", leadId: id, error: null }] });
  assert.equal(emu.state.slackMessages.length, 1);
  assertNoSecrets([r, emu.state.slackMessages], [AUTH0_TOKEN]);
});

test("Auth0 Event Streams with basic credentials (user:password)", async () => {
  const secret = "stream-user:Pa55:word";
  const basic = `Basic ${Buffer.from(secret).toString("base64")}`;
  const r = await hook("auth0-events", auth0Delivery(basic), env({}, { webhookSecret: secret }));
  assert.equal(r.status, 200);
  assert.equal(json(r).outcomes[0].status, "created");
  onlyLead(MARTA);
});

test("Auth0 Event Streams: a missing or wrong Authorization, or no webhookSecret, is a 401 before any request", async () => {
  const secret = { AUTH0_EVENTS_AUTHORIZATION: AUTH0_TOKEN };
  for (const [authorization, config] of [
    [undefined, env(secret)],
    [`Bearer ${AUTH0_TOKEN}x`, env(secret)],
    [AUTH0_TOKEN, env(secret)],
    [`Basic ${Buffer.from(AUTH0_TOKEN).toString("base64")}`, env(secret)],
    [`Bearer ${AUTH0_TOKEN}`, env()],
  ]) {
    const r = await hook("auth0-events", auth0Delivery(authorization), config);
    assert.equal(r.status, 401, String(authorization));
    assert.equal(json(r).error.code, "SIGNATURE_INVALID");
    assertNoSecrets(r, [AUTH0_TOKEN]);
  }
  silent();
});

test("Auth0 Event Streams: other event types and dashboard tests are answered 200 and skipped with the reason", async () => {
  const event = JSON.parse(fixtureText("auth0-events-user-created.json"));
  const updated = JSON.stringify({ ...event, type: "user.updated" });
  let r = await hook("auth0-events", auth0Delivery(`Bearer ${AUTH0_TOKEN}`, updated), env({ AUTH0_EVENTS_AUTHORIZATION: AUTH0_TOKEN }));
  assert.equal(r.status, 200);
  assert.deepEqual(json(r), { outcomes: [], skipped: "`user.updated` is not `user.created`: only new users are recorded" });
  const testEvent = JSON.stringify({ ...event, a0purpose: "test" });
  r = await hook("auth0-events", auth0Delivery(`Bearer ${AUTH0_TOKEN}`, testEvent), env({ AUTH0_EVENTS_AUTHORIZATION: AUTH0_TOKEN }));
  assert.deepEqual(json(r), { outcomes: [], skipped: "a test event (`a0purpose: test`): nothing is recorded" });
  silent();
});

test("Auth0 Event Streams: bad configuration is a 500 (the stream redelivers later)", async () => {
  const r = await hook("auth0-events", auth0Delivery(`Bearer ${AUTH0_TOKEN}`), { secrets: { AUTH0_EVENTS_AUTHORIZATION: AUTH0_TOKEN } });
  assert.equal(r.status, 500);
  assert.equal(json(r).error.code, "CONFIG_MISSING");
  silent();
});

test("Auth0 Event Streams redelivery (same event id) with dedupeByEmail: one Lead, the second answer is duplicate", async () => {
  const request = auth0Delivery(`Bearer ${AUTH0_TOKEN}`);
  const config = env({ AUTH0_EVENTS_AUTHORIZATION: AUTH0_TOKEN }, { dedupeByEmail: true });
  const first = await hook("auth0-events", request, config);
  const second = await hook("auth0-events", request, config);
  assert.equal(emu.state.records.Lead.length, 1);
  const id = emu.state.records.Lead[0].Id;
  assert.deepEqual(json(first), { outcomes: [{ status: "created", leadId: id, error: null }] });
  assert.equal(second.status, 200);
  assert.deepEqual(json(second), { outcomes: [{ status: "duplicate", leadId: id, error: null }] });
  assert.equal(creates().length, 1);
});

// ---------------------------------------------------------------------------------- authentik

const AUTHENTIK_KEY = "Bearer ak-hook-9f3c";
const authentikDelivery = (fixture, authorization = AUTHENTIK_KEY) => ({
  method: "POST",
  headers: { "content-type": "text/json", authorization },
  body: fixtureText(fixture),
});

test("authentik default body: a Lead for the event user (never the notified admin)", async () => {
  const r = await hook("authentik", authentikDelivery("authentik-notification-default.json"), env({ AUTHENTIK_WEBHOOK_AUTHORIZATION: AUTHENTIK_KEY }));
  const id = onlyLead({ LastName: "jonas.berg", Email: "jonas.berg@example.com", Company: "Web channel signups", LeadSource: "Web" });
  assert.equal(r.status, 200);
  assert.deepEqual(json(r), { outcomes: [{ status: "created", leadId: id, error: null }] });
  assert.doesNotMatch(JSON.stringify(emu.state.slackMessages), /akadmin|it-admin/);
  assertNoSecrets([r, emu.state.slackMessages], [AUTHENTIK_KEY]);
});

test("authentik body from the README webhook mapping: name and attributes reach the Lead", async () => {
  const r = await hook("authentik", authentikDelivery("authentik-notification-mapped.json"), env({ AUTHENTIK_WEBHOOK_AUTHORIZATION: AUTHENTIK_KEY }));
  const id = onlyLead({ FirstName: "Jonas", LastName: "Berg", Email: "jonas.berg@example.com", Company: "Berg Engineering AB", LeadSource: "Web" });
  assert.deepEqual(json(r), { outcomes: [{ status: "created", leadId: id, error: null }] });
});

test("authentik: an Authorization header other than webhookSecret is a 401", async () => {
  for (const wrong of ["Bearer ak-hook-9f3d", "", "ak-hook-9f3c"]) {
    const r = await hook("authentik", authentikDelivery("authentik-notification-mapped.json", wrong), env({ AUTHENTIK_WEBHOOK_AUTHORIZATION: AUTHENTIK_KEY }));
    assert.equal(r.status, 401, wrong);
    assert.equal(json(r).error.code, "SIGNATURE_INVALID");
    assertNoSecrets(r, [AUTHENTIK_KEY]);
  }
  silent();
});

test("authentik: a notification without a real event user is answered 200 and skipped with the reason", async () => {
  const anonymous = { ...JSON.parse(fixtureText("authentik-notification-default.json")), event_user_username: "AnonymousUser", event_user_email: "" };
  const request = { method: "POST", headers: { authorization: AUTHENTIK_KEY }, body: JSON.stringify(anonymous) };
  const r = await hook("authentik", request, env({ AUTHENTIK_WEBHOOK_AUTHORIZATION: AUTHENTIK_KEY }));
  assert.equal(r.status, 200);
  assert.deepEqual(json(r), { outcomes: [], skipped: "the event user is authentik's `AnonymousUser`: nobody signed up" });
  silent();
});

test("authentik redelivery with dedupeByEmail: one Lead, the second answer is duplicate", async () => {
  const request = authentikDelivery("authentik-notification-mapped.json");
  const config = env({ AUTHENTIK_WEBHOOK_AUTHORIZATION: AUTHENTIK_KEY }, { dedupeByEmail: true });
  await hook("authentik", request, config);
  const second = await hook("authentik", request, config);
  assert.equal(emu.state.records.Lead.length, 1);
  assert.deepEqual(json(second), { outcomes: [{ status: "duplicate", leadId: emu.state.records.Lead[0].Id, error: null }] });
  assert.equal(creates().length, 1);
});

// ------------------------------------------------------------------ Okta registration inline hook

const ALLOW = { type: "com.okta.action.update", value: { registration: "ALLOW" } };
const oktaInline = () => ({ method: "POST", headers: { authorization: "okta-shared" }, body: fixtureText("okta-registration-inline-hook.json") });
const TOMAS = { FirstName: "Tomáš", LastName: "Novák", Email: "tomas.novak@example.com", Company: "Web channel signups", LeadSource: "Web" };

test("Okta with bad configuration: an inline hook still lets the registration through, an event hook gets 500", async () => {
  const noCredentials = { secrets: { OKTA_WEBHOOK_AUTHORIZATION: "okta-shared" } };
  const inline = await hook("okta", oktaInline(), noCredentials);
  assert.deepEqual([inline.status, inline.body], [200, ""]);
  const eventHook = { method: "POST", headers: { authorization: "okta-shared" }, body: fixtureText("okta-user-lifecycle-create.json") };
  const r = await hook("okta", eventHook, noCredentials);
  assert.equal(r.status, 500, "not acknowledged: the event is not lost");
  assert.equal(json(r).error.code, "CONFIG_MISSING");
  assert.equal(emu.state.requests.length, 0);
  silent();
});

test("Okta registration inline hook: commands allow the registration and write the Lead id to the profile", async () => {
  const r = await hook("okta", oktaInline(), env({ OKTA_WEBHOOK_AUTHORIZATION: "okta-shared" }));
  const id = onlyLead(TOMAS);
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "application/json");
  assert.deepEqual(json(r), { commands: [ALLOW, { type: "com.okta.user.profile.update", value: { salesforceLeadId: id } }] });
});

test("Okta registration inline hook: oktaLeadIdAttribute renames the attribute, false leaves the profile alone", async () => {
  let r = await hook("okta", oktaInline(), env({ OKTA_WEBHOOK_AUTHORIZATION: "okta-shared", OKTA_LEAD_ID_ATTRIBUTE: "crmLeadId" }));
  const id = onlyLead(TOMAS);
  assert.deepEqual(json(r), { commands: [ALLOW, { type: "com.okta.user.profile.update", value: { crmLeadId: id } }] });
  emu.reset();
  r = await hook("okta", oktaInline(), env({ OKTA_WEBHOOK_AUTHORIZATION: "okta-shared" }, { oktaLeadIdAttribute: false }));
  onlyLead(TOMAS);
  assert.deepEqual(json(r), { commands: [ALLOW] });
});

test("Okta registration inline hook: Salesforce failing still allows, with no profile update", async () => {
  emu.setFaults({ kind: "status500", target: "create" });
  const r = await hook("okta", oktaInline(), env({ OKTA_WEBHOOK_AUTHORIZATION: "okta-shared" }));
  assert.equal(r.status, 200);
  assert.deepEqual(json(r), { commands: [ALLOW] });
  assert.equal(emu.state.records.Lead.length, 0);
});

test("Okta registration inline hook: answered within Okta's 3 s when Salesforce hangs", async () => {
  emu.setFaults({ kind: "hang", target: "create" });
  const t0 = performance.now();
  const r = await hook("okta", oktaInline(), env({ OKTA_WEBHOOK_AUTHORIZATION: "okta-shared" }, { deadlineMs: 10000 }));
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `answered after ${ms.toFixed(0)} ms`);
  assert.deepEqual(json(r), { commands: [ALLOW] });
  assert.equal(emu.state.records.Lead.length, 0);
});

test("Okta registration inline hook: a wrong Authorization is still a 401; an event hook keeps its outcomes", async () => {
  const refused = await hook("okta", { ...oktaInline(), headers: { authorization: "nope" } }, env({ OKTA_WEBHOOK_AUTHORIZATION: "okta-shared" }));
  assert.equal(refused.status, 401);
  silent();
  const r = await hook("okta", { method: "POST", headers: {}, body: fixtureText("okta-user-lifecycle-create.json") }, env());
  assert.deepEqual(json(r), { outcomes: [{ status: "created", leadId: emu.state.records.Lead[0].Id, error: null }] });
});
