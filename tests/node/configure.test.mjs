// configure(): the base settings every host entry point starts from, checked when set.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { loadPackage, fixture, auth0Api, captureConsole } from "./harness.mjs";
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
