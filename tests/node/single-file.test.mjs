// The single-file build (wasm embedded) works when it is the only file: copied alone into an empty
// folder and loaded from there, as when pasted into a host's code editor.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, copyFileSync, readdirSync, statSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { brotliDecompressSync } from "node:zlib";
import { randomBytes } from "node:crypto";
import { encode, decoderSource } from "../../scripts/base93.mjs";
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

test("the single file is for Auth0: other hosts' events are refused with a clear error, nothing sent", async () => {
  const sf = createRequire(import.meta.url)(new URL("../../pkg/sf_lead_rule.single.js", import.meta.url).pathname);
  // What it leaves out is not exported at all…
  for (const name of ["createLeads", "handleWebhook", "onCognitoTrigger", "onFirebaseAuthEvent"]) {
    assert.equal(sf[name], undefined, name);
  }
  // …and an event of another host says which build reads it, before any request.
  const emu = await startEmulator();
  try {
    const config = { host: "ory", secrets: emulatorSecrets(emu) };
    assert.throws(() => sf.planFirstLogin(fixture("ory-registration-after.json"), config), {
      code: "CONFIG_INVALID",
      field: "host",
      message: "this build reads Auth0 and generic events only; ory needs the npm package",
    });
    await assert.rejects(sf.onFirstLogin(fixture("ory-registration-after.json"), config), { code: "CONFIG_INVALID" });
    assert.equal(emu.state.requests.length, 0);
    // Auth0 and plain profiles are read as by the npm package.
    const npm = createRequire(import.meta.url)(new URL("../../pkg/sf_lead_rule.js", import.meta.url).pathname);
    const event = fixture("auth0-action-post-login.json");
    assert.deepEqual(sf.buildLead(event, { host: "auth0" }), npm.buildLead(event, { host: "auth0" }));
    assert.deepEqual(sf.buildLead(event.user), npm.buildLead(event.user));
  } finally {
    await emu.stop();
  }
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

// base93 (scripts/base93.mjs) decoded bit by bit, as its comment specifies, independently of the
// decoder the file ships: pairs of characters carry 13 bits, or 14 when the 13-bit value is ≤ 456;
// a last lone character completes the last byte.
function referenceBase93(text) {
  const alphabet = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).filter((c) => c !== '"' && c !== "\\");
  const value = (c) => {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not a base93 character: ${JSON.stringify(c)}`);
    return v;
  };
  const bits = [];
  const push = (v, width) => { for (let k = 0; k < width; k++) bits.push((v >> k) & 1); };
  for (let i = 0; i < text.length; i += 2) {
    if (i + 1 === text.length) push(value(text[i]), 7);
    else {
      const v = value(text[i]) + 93 * value(text[i + 1]);
      push(v, (v & 8191) > 456 ? 13 : 14);
    }
  }
  const out = Buffer.alloc(bits.length >> 3);
  for (let j = 0; j < out.length; j++) for (let k = 0; k < 8; k++) out[j] |= bits[8 * j + k] << k;
  return out;
}

test("it is printable ASCII, and its one long literal is exactly the single build's wasm", () => {
  const file = readFileSync(new URL("../../pkg/sf_lead_rule.single.js", import.meta.url));
  const bad = file.findIndex((b) => (b < 0x20 || b > 0x7e) && b !== 0x0a);
  assert.equal(bad, -1, `byte ${file[bad]} at offset ${bad}`);
  const literals = [...file.toString("latin1").matchAll(/"([^"\\\n]{10000,})"/g)];
  assert.equal(literals.length, 1);
  const wasm = brotliDecompressSync(referenceBase93(literals[0][1]));
  // scripts/build.sh makes the single file from target/single/pkg (the build without backfill).
  const built = readFileSync(new URL("../../target/single/pkg/sf_lead_rule_bg.wasm", import.meta.url));
  assert.equal(wasm.length, built.length);
  assert.ok(wasm.equals(built), "the embedded wasm differs from target/single/pkg/sf_lead_rule_bg.wasm");
});

test("base93: the shipped (wasm) decoder and the reference decode what the encoder wrote", () => {
  const base93 = new Function(`${decoderSource}\nreturn base93;`)();
  const inputs = [Buffer.alloc(0), randomBytes(200_000)];
  for (let len = 1; len <= 64; len++) inputs.push(Buffer.alloc(len, 0), Buffer.alloc(len, 0xff), randomBytes(len), randomBytes(len));
  for (const bytes of inputs) {
    const text = encode(bytes);
    assert.match(text, /^[ !#-[\]-~]*$/);
    assert.ok(Buffer.from(base93(text)).equals(bytes), `shipped decoder, ${bytes.length} bytes: ${bytes.toString("hex").slice(0, 64)}`);
    assert.ok(referenceBase93(text).equals(bytes), `reference decoder, ${bytes.length} bytes: ${bytes.toString("hex").slice(0, 64)}`);
  }
  // Denser than base64, by the margin the scheme promises (≥ 6.5 bits a character on random bytes).
  assert.ok(encode(inputs[1]).length < Buffer.from(inputs[1]).toString("base64").length * 0.93);
});
