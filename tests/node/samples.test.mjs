// The demo page's sample events (www/samples.json) are copies of the host fixtures: this keeps
// them from drifting apart, and makes sure every host the page offers has its sample.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fixture } from "./harness.mjs";

const samples = JSON.parse(readFileSync(new URL("../../www/samples.json", import.meta.url), "utf8")).samples;

const EXPECTED = {
  auth0: "auth0-action-post-login.json",
  "auth0-rule": { user: "auth0-rule-user.json", context: "auth0-rule-context.json" },
  ory: "ory-registration-after.json",
  firebase: "firebase-before-user-created.json",
  cognito: "cognito-post-confirmation.json",
  clerk: "clerk-user-created.json",
  okta: "okta-user-lifecycle-create.json",
  "auth0-events": "auth0-events-user-created.json",
  authentik: "authentik-notification-mapped.json",
};

test("www/samples.json has exactly one sample per host, in the page's order", () => {
  assert.deepEqual(
    samples.map((s) => s.host),
    Object.keys(EXPECTED),
  );
  for (const s of samples) {
    assert.equal(typeof s.label, "string", `${s.host}: label`);
    assert.ok(s.label.length > 0, `${s.host}: label`);
  }
});

for (const [host, source] of Object.entries(EXPECTED)) {
  test(`sample "${host}" equals its fixture`, () => {
    const sample = samples.find((s) => s.host === host);
    assert.ok(sample, `no sample for ${host}`);
    assert.deepEqual(sample.fixture, source, `${host}: names the wrong fixture`);
    const expected =
      typeof source === "string"
        ? fixture(source)
        : Object.fromEntries(Object.entries(source).map(([k, file]) => [k, fixture(file)]));
    assert.deepEqual(sample.event, expected, `${host}: www/samples.json differs from tests/fixtures/; copy the fixture again`);
  });
}
