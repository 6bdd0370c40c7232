// The single-file build (wasm embedded) works when it is the only file: copied alone into an empty
// folder and loaded from there, as when pasted into a host's code editor.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, copyFileSync, readdirSync, statSync, rmSync } from "node:fs";
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
