// Every non-Auth0 host's entry point with its documented sample event (tests/fixtures/) against
// the emulator: the exact Lead, the Slack message, the host-specific answer, and the host's own
// first-login signal (returning users send nothing).
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "svix";
import { useEmulator } from "./use-emulator.mjs";
import { loadPackage, fixture, fixtureText, assertNoSecrets, captureConsole, emulatorSecrets } from "./harness.mjs";

const sf = loadPackage();
const fixtureEmu = useEmulator(sf);
let emu;
beforeEach(() => {
  emu = fixtureEmu.emu;
});

/** Settings the way a serverless host passes them: its environment. */
function env(extra = {}) {
  return {
    secrets: emulatorSecrets(emu, { PATH: "/usr/bin", ...extra }),
  };
}

function onlyLead(expected) {
  const creates = emu.state.requests.filter((r) => r.path === "/services/data/v66.0/sobjects/Lead/");
  assert.equal(creates.length, 1, "exactly one create request");
  assert.equal(creates[0].body, JSON.stringify(expected));
  assert.equal(emu.state.records.Lead.length, 1);
  assert.equal(emu.state.slackMessages.length, 1);
  assertNoSecrets([emu.state.slackMessages]);
  return emu.state.records.Lead[0].Id;
}

function silent() {
  assert.deepEqual(emu.state.requests, []);
}

test("Ory registration.after web hook: Lead created, marker returned in metadata_public", async () => {
  const body = fixtureText("ory-registration-after.json");
  const { result: r } = await captureConsole(() => sf.handleWebhook("ory", { method: "POST", headers: { "content-type": "application/json" }, body }, env()));
  const id = onlyLead({ FirstName: "Lena", LastName: "Fischer", Email: "lena.fischer@example.com", Company: "Fischer Analytics GmbH", LeadSource: "Web" });
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "application/json");
  assert.deepEqual(JSON.parse(r.body), { identity: { metadata_public: { recordedAsLead: true, salesforceLeadId: id } } });
});

test("Ory settings.after with the marker: nothing sent, 200 saying why (no identity to apply)", async () => {
  const body = fixtureText("ory-settings-after.json");
  const { result: r, lines } = await captureConsole(() => sf.handleWebhook("ory", { method: "POST", headers: {}, body }, env()));
  assert.equal(r.status, 200);
  const reason = "user is already recorded in Salesforce (app_metadata.recordedAsLead)";
  assert.deepEqual(JSON.parse(r.body), { outcomes: [{ status: "skipped", leadId: null, error: null, reason }] });
  assert.deepEqual(lines, [`sf-lead-rule: skipped Lead: ${reason} (0 requests, token none, slack not_needed)`]);
  silent();
});

test("Ory body trimmed to { identity } on registration.after: Lead created; with the marker, skipped", async () => {
  const event = fixture("ory-identity-only.json");
  const { result: r } = await captureConsole(() => sf.handleWebhook("ory", { method: "POST", headers: {}, body: JSON.stringify(event) }, env()));
  const id = onlyLead({ FirstName: "Lena", LastName: "Fischer", Email: "lena.fischer@example.com", Company: "Fischer Analytics GmbH", LeadSource: "Web" });
  assert.deepEqual(JSON.parse(r.body), { identity: { metadata_public: { recordedAsLead: true, salesforceLeadId: id } } });
  // The identity Ory stores after applying that answer: the next delivery is skipped.
  event.identity.metadata_public = JSON.parse(r.body).identity.metadata_public;
  const { result: again } = await captureConsole(() => sf.handleWebhook("ory", { method: "POST", headers: {}, body: JSON.stringify(event) }, env()));
  assert.equal(again.status, 200);
  assert.equal(JSON.parse(again.body).outcomes[0].status, "skipped");
  assert.equal(emu.state.records.Lead.length, 1);
});

test("Ory with webhookSecret: a wrong Authorization header is refused", async () => {
  const body = fixtureText("ory-registration-after.json");
  const r = await sf.handleWebhook("ory", { method: "POST", headers: { authorization: "Bearer nope" }, body }, env({ ORY_WEBHOOK_API_KEY: "Bearer ory-hook-key" }));
  assert.equal(r.status, 401);
  assert.equal(JSON.parse(r.body).error.code, "SIGNATURE_INVALID");
  assertNoSecrets(r, ["ory-hook-key"]);
  silent();
  const ok = await sf.handleWebhook("ory", { method: "POST", headers: { authorization: "Bearer ory-hook-key" }, body }, env({ ORY_WEBHOOK_API_KEY: "Bearer ory-hook-key" }));
  assert.equal(ok.status, 200);
});

test("Firebase beforeUserCreated: Lead created, marker returned as custom claims", async () => {
  const { result } = await captureConsole(() => sf.onFirebaseAuthEvent(fixture("firebase-before-user-created.json"), env()));
  const id = onlyLead({ FirstName: "Kenji", LastName: "Watanabe", Email: "kenji.watanabe@example.com", Company: "Web channel signups", LeadSource: "Web", Phone: "+14155550123" });
  assert.deepEqual(result, { customClaims: { recordedAsLead: true, salesforceLeadId: id } });
});

test("Firebase beforeUserSignedIn without the marker: Lead created, the user's claims kept; with it, nothing sent", async () => {
  const event = fixture("firebase-before-user-signed-in.json");
  assert.equal(event.additionalUserInfo.isNewUser, false, "firebase-functions sets isNewUser only on beforeCreate");
  const { result } = await captureConsole(() => sf.onFirebaseAuthEvent(event, env()));
  const id = onlyLead({ FirstName: "Chiara", LastName: "Rossi", Email: "chiara.rossi@example.com", Company: "Web channel signups", LeadSource: "Web" });
  assert.deepEqual(result, { customClaims: { plan: "pro", recordedAsLead: true, salesforceLeadId: id } });
  emu.reset();
  event.data.customClaims = result.customClaims;
  const { result: again } = await captureConsole(() => sf.onFirebaseAuthEvent(event, env()));
  assert.equal(again, undefined);
  silent();
});

test("Cognito PostConfirmation: Lead created, the event is returned", async () => {
  const event = fixture("cognito-post-confirmation.json");
  const { result } = await captureConsole(() => sf.onCognitoTrigger(event, env()));
  assert.equal(result, event, "Cognito needs its event object back");
  onlyLead({ FirstName: "Olivia", LastName: "Brown", Email: "olivia.brown@example.com", Company: "Brown & Partners Ltd", LeadSource: "Web", Phone: "+447700900123" });
  assert.match(emu.state.slackMessages[0].text, /from Brown &amp; Partners Ltd/);
});

test("Cognito PostAuthentication: nothing sent; bad config still returns the event", async () => {
  const event = fixture("cognito-post-authentication.json");
  assert.equal(await sf.onCognitoTrigger(event, env()), event);
  silent();
  const { result, lines } = await captureConsole(() => sf.onCognitoTrigger(fixture("cognito-post-confirmation.json"), { secrets: {} }));
  assert.equal(result.triggerSource, "PostConfirmation_ConfirmSignUp");
  assert.match(lines[0], /CONFIG_MISSING/);
  silent();
});

/** The Clerk fixture signed now by the `svix` library, as Clerk delivers it. */
function clerkDelivery(body = fixtureText("clerk-user-created.json")) {
  const h = fixture("clerk-user-created.headers.json");
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = new Webhook(h._secret).sign(h["svix-id"], new Date(Number(ts) * 1000), body);
  return { secret: h._secret, request: { method: "POST", headers: { "svix-id": h["svix-id"], "svix-timestamp": ts, "svix-signature": sig }, body } };
}

test("Clerk user.created with a valid Svix signature: Lead created from the primary email", async () => {
  const { secret, request } = clerkDelivery();
  const { result: r } = await captureConsole(() => sf.handleWebhook("clerk", request, env({ CLERK_WEBHOOK_SECRET: secret })));
  const id = onlyLead({ FirstName: "Dana", LastName: "Brooks", Email: "dana.brooks@example.com", Company: "Northwind Traders", LeadSource: "Web", Phone: "+15555550199" });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { outcomes: [{ status: "created", leadId: id, error: null }] });
  assertNoSecrets(r, [secret]);
});

test("Clerk: a tampered body, a stale timestamp or no secret is refused before any request", async () => {
  const { secret, request } = clerkDelivery();
  const tampered = { ...request, body: request.body.replace("Dana", "Dona") };
  let r = await sf.handleWebhook("clerk", tampered, env({ CLERK_WEBHOOK_SECRET: secret }));
  assert.equal(r.status, 401);
  assert.equal(JSON.parse(r.body).error.code, "SIGNATURE_INVALID");
  const stale = fixture("clerk-user-created.headers.json"); // signed long ago
  r = await sf.handleWebhook("clerk", { method: "POST", headers: stale, body: request.body }, env({ CLERK_WEBHOOK_SECRET: secret }));
  assert.equal(r.status, 401);
  const { result } = await captureConsole(() => sf.handleWebhook("clerk", request, env()));
  assert.equal(result.status, 401);
  assert.match(JSON.parse(result.body).error.message, /CLERK_WEBHOOK_SECRET/);
  silent();
});

test("Okta: one-time verification GET is answered with the challenge", async () => {
  const { headers } = fixture("okta-verification-request.json");
  const r = await sf.handleWebhook("okta", { method: "GET", headers, body: "" }, env());
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { verification: headers["x-okta-verification-challenge"] });
  silent();
});

test("Okta user.lifecycle.create event hook: one Lead for the created user, none for the other event", async () => {
  const body = fixtureText("okta-user-lifecycle-create.json");
  const { result: r } = await captureConsole(() => sf.handleWebhook("okta", { method: "POST", headers: { authorization: "okta-shared" }, body }, env({ OKTA_WEBHOOK_AUTHORIZATION: "okta-shared" })));
  const id = onlyLead({ FirstName: "Priya", LastName: "Sharma", Email: "priya.sharma@example.com", Company: "Web channel signups", LeadSource: "Web" });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { outcomes: [{ status: "created", leadId: id, error: null }] });
  const refused = await sf.handleWebhook("okta", { method: "POST", headers: { authorization: "wrong" }, body }, env({ OKTA_WEBHOOK_AUTHORIZATION: "okta-shared" }));
  assert.equal(refused.status, 401);
});

test("onFirstLogin with host: 'okta' inline hook and plain profiles", async () => {
  const outcome = await sf.onFirstLogin(fixture("okta-registration-inline-hook.json"), { host: "okta", ...env() });
  assert.equal(outcome.status, "created");
  const plain = await sf.onFirstLogin({ user_id: "x|1", email: "plain@example.com", name: "Plain Person" }, env());
  assert.equal(plain.status, "created");
  assert.deepEqual(plain.record, { FirstName: "Plain", LastName: "Person", Email: "plain@example.com", Company: "Web channel signups", LeadSource: "Web" });
  await assert.rejects(() => sf.onFirstLogin({}, { host: "myspace" }), (e) => e.code === "CONFIG_INVALID" && e.field === "host");
});

test("Okta: the hook answers within Okta's 3 s even when Salesforce hangs (deadline capped at 2.5 s)", async () => {
  emu.setFaults({ kind: "hang", target: "create" });
  const body = fixtureText("okta-user-lifecycle-create.json");
  const t0 = performance.now();
  const { result: r } = await captureConsole(() => sf.handleWebhook("okta", { method: "POST", headers: {}, body }, env()));
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `answered after ${ms.toFixed(0)} ms`);
  assert.equal(r.status, 503, "a failed login is not acknowledged: Okta may send it again");
  const [outcome] = JSON.parse(r.body).outcomes;
  assert.equal(outcome.status, "failed");
  assert.equal(emu.state.records.Lead.length, 0);
});
