// The single-file build (wasm embedded) works when it is the only file: copied alone into an empty
// folder and loaded from there, as when pasted into a host's code editor.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, copyFileSync, readdirSync, statSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { startEmulator } from "../emulator/server.mjs";
import { fixture, auth0Api, emulatorSecrets, captureConsole } from "./harness.mjs";

test("pkg/sf_lead_rule.single.js runs a first login on its own", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sf-single-"));
  const file = join(dir, "rule.js");
  copyFileSync(new URL("../../pkg/sf_lead_rule.single.js", import.meta.url), file);
  assert.deepEqual(readdirSync(dir), ["rule.js"]);
  const sf = createRequire(file)(file);
  const emu = await startEmulator();
  try {
    const event = fixture("auth0-action-post-login.json");
    event.secrets = emulatorSecrets(emu);
    const api = auth0Api();
    const { result } = await captureConsole(() => sf.onExecutePostLogin(event, api));
    assert.equal(result.status, "created");
    assert.equal(emu.state.records.Lead.length, 1);
    assert.deepEqual(api.calls.setAppMetadata.map(([k]) => k), ["recordedAsLead", "salesforceLeadId"]);
  } finally {
    await emu.stop();
    rmSync(dir, { recursive: true });
  }
  // Auth0 counts an Action's own code against 100 kB; this file is that code.
  const size = statSync(new URL("../../pkg/sf_lead_rule.single.js", import.meta.url)).size;
  console.log(`single-file build: ${size} bytes`);
});

test("pasted into an Auth0 Rule's function body, it runs the rule", async () => {
  const code = readFileSync(new URL("../../pkg/sf_lead_rule.single.js", import.meta.url), "utf8");
  // What Auth0 runs: one function whose body is the pasted file plus the call.
  const ruleFn = new Function("user", "context", "callback", "require", `${code}\nsfLeadRule.rule(user, context, callback);`);
  const emu = await startEmulator();
  const updates = [];
  globalThis.configuration = { SALESFORCE_CLIENT_ID: "emu-client-id", SALESFORCE_CLIENT_SECRET: "emu-client-secret", SALESFORCE_LOGIN_URL: emu.url, SLACK_WEBHOOK_URL: emu.slackWebhookUrl };
  globalThis.auth0 = { users: { updateAppMetadata: async (id, meta) => updates.push([id, { ...meta }]) } };
  try {
    const user = fixture("auth0-rule-user.json");
    const { result } = await captureConsole(
      () => new Promise((resolve) => ruleFn(user, fixture("auth0-rule-context.json"), (err, u) => resolve({ err, u }), createRequire(import.meta.url))),
    );
    assert.equal(result.err, null);
    assert.equal(emu.state.records.Lead.length, 1);
    assert.deepEqual(updates, [[user.user_id, { recordedAsLead: true, salesforceLeadId: emu.state.records.Lead[0].Id }]]);
  } finally {
    delete globalThis.configuration;
    delete globalThis.auth0;
    await emu.stop();
  }
});
