// configure(): the base settings every host entry point starts from, checked when set.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { loadPackage, fixture, auth0Api, captureConsole, emulatorSecrets } from "./harness.mjs";
import { useEmulator } from "./use-emulator.mjs";

const sf = loadPackage();
const fixtureEmu = useEmulator(sf);
let emu;
beforeEach(() => {
  emu = fixtureEmu.emu;
  sf.configure({});
});

test("configure({ mapping, secrets: env }) is what the Auth0 Action uses, with event.secrets on top", async () => {
  sf.configure({
    mapping: { LastName: "family_name", Company: "'Configured Co'", Signup_Source__c: "'auth0'" },
    secrets: { SALESFORCE_CLIENT_ID: "emu-client-id", SALESFORCE_CLIENT_SECRET: "wrong", SALESFORCE_LOGIN_URL: emu.url, HOME: "/root" },
  });
  const event = fixture("auth0-action-post-login.json");
  event.secrets = { SALESFORCE_CLIENT_SECRET: "emu-client-secret" }; // the host's secret wins
  const { result } = await captureConsole(() => sf.onExecutePostLogin(event, auth0Api()));
  assert.equal(result.status, "created");
  assert.equal(emu.state.requests[1].body, JSON.stringify({ LastName: "Pereira", Company: "Configured Co", Signup_Source__c: "auth0" }));
});

test("configure refuses typos and bad mappings when called, not at the first login", () => {
  assert.throws(() => sf.configure({ clientID: "x" }), (e) => e.code === "CONFIG_INVALID" && e.field === "clientID");
  assert.throws(() => sf.configure({ mapping: { LastName: "name |" } }), (e) => e.code === "MAPPING_INVALID" && e.field === "LastName" && e.position === 6);
  assert.throws(() => sf.configure({ secrets: "SALESFORCE_CLIENT_ID=x" }), (e) => e.code === "CONFIG_INVALID" && e.field === "secrets");
});

test("the mapping's field order is the order written, through configure() and each call's settings", async () => {
  // Not alphabetical: the module's JSON objects sort their keys; a mapping keeps the order written.
  const mapping = { Company: "user_metadata.company ?? 'Acme'", LastName: "family_name", Email: "email", FirstName: "given_name" };
  const order = ["Company", "LastName", "Email", "FirstName"];
  const profile = { user_id: "auth0|1", email: "ana@example.com", given_name: "Ana", family_name: "Pereira" };
  const expected = { Company: "Acme", LastName: "Pereira", Email: "ana@example.com", FirstName: "Ana" };
  // Given on the call, and given to configure() with other settings on the call merged over it.
  assert.deepEqual(Object.keys(sf.buildLead(profile, { mapping })), order);
  sf.configure({ mapping, object: "Lead" });
  assert.deepEqual(Object.keys(sf.buildLead(profile, { object: "Lead" })), order);
  assert.deepEqual(Object.keys(sf.buildLead(profile)), order);
  const secrets = emulatorSecrets(emu);
  const plan = sf.planFirstLogin(profile, { secrets, deadlineMs: 4000 });
  const create = plan.requests.find((r) => r.purpose === "createRecord");
  assert.deepEqual(Object.keys(plan.lead), order);
  assert.deepEqual(Object.keys(create.body), order);
  const { result } = await captureConsole(() => sf.onFirstLogin(profile, { secrets }));
  assert.equal(result.status, "created");
  assert.deepEqual(Object.keys(result.record), order);
  const sent = emu.state.requests.find((r) => r.method === "POST" && r.path.endsWith("/sobjects/Lead/"));
  assert.equal(sent.body, JSON.stringify(expected));
  // SALESFORCE_MAPPING text keeps its order too.
  sf.configure({});
  const text = JSON.stringify({ Email: "email", LastName: "family_name", Company: "'X'" });
  assert.deepEqual(Object.keys(sf.buildLead(profile, { secrets: { SALESFORCE_MAPPING: text } })), ["Email", "LastName", "Company"]);
  // Presets come out in their own order, and checkMapping reports the first bad field written.
  assert.deepEqual(Object.keys(sf.mappingPresets().recommended), ["FirstName", "LastName", "Email", "Company", "LeadSource", "Phone"]);
  assert.equal(sf.checkMapping({ Zed: "name |", Abc: "name |" }).field, "Zed");
});
