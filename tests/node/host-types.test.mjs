// The hosts' own TypeScript types against the package: tests/types/host-handlers.ts (a Cognito
// handler typed by @types/aws-lambda, an Ory hook typed by @ory/client's Identity) compiles under
// `tsc --strict` and its emitted JavaScript runs against the emulator; the Cognito and Ory
// fixtures type-check as the hosts' own event types.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { startEmulator } from "../emulator/server.mjs";
import { loadPackage, fixture, captureConsole, emulatorSecrets } from "./harness.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TSC = fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url));
// Two levels below the root, like tests/types/, so the emitted `require("../../pkg/…")` resolves.
const OUT = "target/host-types";
const require = createRequire(import.meta.url);
const sf = loadPackage();

function tsc(...args) {
  const r = spawnSync(process.execPath, [TSC, "--strict", "--target", "es2022", "--module", "commonjs", "--lib", "es2022,dom", "--types", "node", ...args], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
}

let emu;
let handlers;
before(async () => {
  tsc("--outDir", OUT, "--rootDir", "tests/types", "tests/types/host-handlers.ts");
  // tsc emits CommonJS; the repository's package.json says "module".
  writeFileSync(`${ROOT}${OUT}/package.json`, '{ "type": "commonjs" }\n');
  handlers = require(`${ROOT}${OUT}/host-handlers.js`);
  emu = await startEmulator();
  Object.assign(process.env, emulatorSecrets(emu));
});
after(() => emu.stop());
beforeEach(() => {
  emu.reset({ sessions: true });
  sf.clearTokenCache();
});

function creates() {
  return emu.state.requests.filter((r) => r.path === "/services/data/v66.0/sobjects/Lead/").map((r) => JSON.parse(r.body));
}

test("the Cognito and Ory fixtures are the hosts' own types (@types/aws-lambda, @ory/client) under tsc --strict", () => {
  const dir = fileURLToPath(new URL("./tmp/host-types/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const literal = (name) => JSON.stringify(fixture(name), null, 2);
  writeFileSync(
    `${dir}fixtures.ts`,
    [
      `import type { Identity } from "@ory/client";`,
      `import type { PostAuthenticationTriggerEvent, PostConfirmationTriggerEvent } from "aws-lambda";`,
      `export const confirmation: PostConfirmationTriggerEvent = ${literal("cognito-post-confirmation.json")};`,
      `export const authentication: PostAuthenticationTriggerEvent = ${literal("cognito-post-authentication.json")};`,
      `export const identityOnly: { identity: Identity } = ${literal("ory-identity-only.json")};`,
      // The whole Jsonnet ctx: the identity is Ory's type, the rest (flow, request_url, …) anything.
      `export const registration: { identity: Identity; [key: string]: unknown } = ${literal("ory-registration-after.json")};`,
      `export const settings: { identity: Identity; [key: string]: unknown } = ${literal("ory-settings-after.json")};`,
      "",
    ].join("\n"),
  );
  tsc("--noEmit", `${dir}fixtures.ts`);
});

test("typed Cognito PostConfirmation handler: Lead created, the event returned", async () => {
  const event = fixture("cognito-post-confirmation.json");
  const { result } = await captureConsole(() => handlers.postConfirmation(event, {}, () => {}));
  assert.equal(result, event);
  assert.deepEqual(creates(), [{ FirstName: "Olivia", LastName: "Brown", Email: "olivia.brown@example.com", Company: "Brown & Partners Ltd", LeadSource: "Web", Phone: "+447700900123" }]);
  assert.equal(emu.state.records.Lead.length, 1);
});

test("typed Cognito PostAuthentication handler: nothing sent, the event returned", async () => {
  const event = fixture("cognito-post-authentication.json");
  const { result } = await captureConsole(() => handlers.postAuthentication(event, {}, () => {}));
  assert.equal(result, event);
  assert.deepEqual(emu.state.requests, []);
});

test("typed Ory hook with an identity-only body: Lead once; the identity Ory stores then skips, saying why", async () => {
  let identity = fixture("ory-identity-only.json").identity;
  const { result: first } = await captureConsole(() => handlers.oryIdentityHook(identity, { "content-type": "application/json" }));
  assert.equal(first.status, 200);
  assert.equal(creates().length, 1);
  const id = emu.state.records.Lead[0].Id;
  identity = handlers.applyOryAnswer(identity, first);
  assert.deepEqual(identity.metadata_public, { recordedAsLead: true, salesforceLeadId: id });

  const { result: second } = await captureConsole(() => handlers.oryIdentityHook(identity, {}));
  assert.equal(second.status, 200);
  assert.deepEqual(JSON.parse(second.body), {
    outcomes: [{ status: "skipped", leadId: null, error: null, reason: "user is already recorded in Salesforce (app_metadata.recordedAsLead)" }],
  });
  assert.equal(handlers.applyOryAnswer(identity, second), identity, "no identity in the answer: Ory changes nothing");
  assert.equal(emu.state.records.Lead.length, 1);
});
