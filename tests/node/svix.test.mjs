// Clerk deliveries signed by the real libraries: `svix` (what Clerk's webhooks use) and
// `standardwebhooks` (the same scheme under `webhook-*` header names). For every case the package's
// verdict is checked against the library's own `verify`, so the two can never disagree unnoticed.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { Webhook as SvixWebhook } from "svix";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { useEmulator } from "./use-emulator.mjs";
import { loadPackage, fixture, fixtureText, assertNoSecrets, captureConsole } from "./harness.mjs";

const sf = loadPackage();
const fixtureEmu = useEmulator(sf);
let emu;
beforeEach(() => {
  emu = fixtureEmu.emu;
});

const HEADERS = fixture("clerk-user-created.headers.json");
const SECRET = HEADERS._secret;
const OTHER_SECRET = "whsec_" + Buffer.from("another endpoint's signing key!!").toString("base64");
const BODY = fixtureText("clerk-user-created.json");
const MSG_ID = HEADERS["svix-id"];

function env() {
  return {
    secrets: {
      SALESFORCE_CLIENT_ID: "emu-client-id",
      SALESFORCE_CLIENT_SECRET: "emu-client-secret",
      SALESFORCE_LOGIN_URL: emu.url,
      CLERK_WEBHOOK_SECRET: SECRET,
    },
  };
}

/** Svix's headers for `body`, signed by the svix library with `secret` at `when`. */
function svixHeaders(body, { secret = SECRET, when = new Date(), id = MSG_ID } = {}) {
  return {
    "svix-id": id,
    "svix-timestamp": String(Math.floor(when.getTime() / 1000)),
    "svix-signature": new SvixWebhook(secret).sign(id, when, body),
  };
}

/** The same delivery as Standard Webhooks names its headers, signed by `standardwebhooks`. */
function standardHeaders(body, { secret = SECRET, when = new Date(), id = MSG_ID } = {}) {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(when.getTime() / 1000)),
    "webhook-signature": new StandardWebhook(secret).sign(id, when, body),
  };
}

/** Whether the library itself accepts the delivery (its verify throws when not). */
function libraryAccepts(Library, body, headers) {
  try {
    new Library(SECRET).verify(body, headers);
    return true;
  } catch {
    return false;
  }
}

async function deliver(body, headers) {
  const { result } = await captureConsole(() => sf.handleWebhook("clerk", { method: "POST", headers, body }, env()));
  return result;
}

function created(r) {
  assert.equal(r.status, 200, r.body);
  const { outcomes } = JSON.parse(r.body);
  assert.equal(outcomes.length, 1);
  assert.deepEqual(outcomes[0], { status: "created", leadId: emu.state.records.Lead[0].Id, error: null });
  assert.equal(emu.state.records.Lead.length, 1);
  assert.equal(emu.state.records.Lead[0].Email, "dana.brooks@example.com");
}

function refused(r, message) {
  assert.equal(r.status, 401, r.body);
  const { error } = JSON.parse(r.body);
  assert.equal(error.code, "SIGNATURE_INVALID");
  assert.match(error.message, message);
  assertNoSecrets(r, [SECRET, SECRET.slice(6)]);
  assert.deepEqual(emu.state.requests, [], "refused before any request");
}

test("the fixture's signature is the one svix computes for its bytes", () => {
  const when = new Date(Number(HEADERS["svix-timestamp"]) * 1000);
  assert.equal(new SvixWebhook(SECRET).sign(MSG_ID, when, BODY), HEADERS["svix-signature"]);
  assert.equal(new StandardWebhook(SECRET).sign(MSG_ID, when, BODY), HEADERS["svix-signature"]);
});

test("svix: a valid delivery creates the Lead, as svix's verify accepts it", async () => {
  const headers = svixHeaders(BODY);
  assert.equal(libraryAccepts(SvixWebhook, BODY, headers), true);
  created(await deliver(BODY, headers));
});

test("standardwebhooks: webhook-* header names are read as Svix's", async () => {
  const headers = standardHeaders(BODY);
  assert.equal(libraryAccepts(StandardWebhook, BODY, headers), true);
  assert.equal(libraryAccepts(SvixWebhook, BODY, headers), true);
  created(await deliver(BODY, headers));
});

test("svix: a tampered body is refused, as svix refuses it", async () => {
  const headers = svixHeaders(BODY);
  const tampered = BODY.replace("Dana", "Dona");
  assert.equal(libraryAccepts(SvixWebhook, tampered, headers), false);
  refused(await deliver(tampered, headers), /no v1 signature matches/);
  // A body re-serialised after parsing is another body too.
  const reserialised = JSON.stringify(JSON.parse(BODY));
  assert.equal(libraryAccepts(SvixWebhook, reserialised, headers), false);
  refused(await deliver(reserialised, headers), /no v1 signature matches/);
});

test("svix: a timestamp over 5 minutes old or ahead is refused, as svix refuses it", async () => {
  // Ahead by 305 s, not 301: the package reads its clock a moment after signing, and a second
  // boundary crossed in between would leave 301 s only 300 s ahead (accepted). Behind only grows.
  for (const [offsetSecs, message] of [[-301, /s old/], [+305, /in the future/]]) {
    const headers = svixHeaders(BODY, { when: new Date(Date.now() + offsetSecs * 1000) });
    assert.equal(libraryAccepts(SvixWebhook, BODY, headers), false, `${offsetSecs}`);
    refused(await deliver(BODY, headers), message);
  }
  // Within the window: accepted by both.
  const headers = svixHeaders(BODY, { when: new Date(Date.now() - 240 * 1000) });
  assert.equal(libraryAccepts(SvixWebhook, BODY, headers), true);
  created(await deliver(BODY, headers));
});

test("svix: a secret rotation's two signatures, one right, is accepted in either order", async () => {
  const when = new Date();
  const right = new SvixWebhook(SECRET).sign(MSG_ID, when, BODY);
  const old = new SvixWebhook(OTHER_SECRET).sign(MSG_ID, when, BODY);
  assert.notEqual(right, old);
  for (const signature of [`${old} ${right}`, `${right} ${old}`]) {
    emu.reset({ sessions: true });
    sf.clearTokenCache();
    const headers = { ...svixHeaders(BODY, { when }), "svix-signature": signature };
    assert.equal(libraryAccepts(SvixWebhook, BODY, headers), true, signature);
    created(await deliver(BODY, headers));
  }
});

test("svix: signed with another endpoint's secret is refused, as svix refuses it", async () => {
  const headers = svixHeaders(BODY, { secret: OTHER_SECRET });
  assert.equal(libraryAccepts(SvixWebhook, BODY, headers), false);
  refused(await deliver(BODY, headers), /wrong CLERK_WEBHOOK_SECRET/);
  const standard = standardHeaders(BODY, { secret: OTHER_SECRET });
  assert.equal(libraryAccepts(StandardWebhook, BODY, standard), false);
  refused(await deliver(BODY, standard), /wrong CLERK_WEBHOOK_SECRET/);
});

test("svix: a delivery missing a header is refused, as svix refuses it", async () => {
  const full = svixHeaders(BODY);
  for (const name of ["svix-id", "svix-timestamp", "svix-signature"]) {
    const headers = { ...full };
    delete headers[name];
    assert.equal(libraryAccepts(SvixWebhook, BODY, headers), false, name);
    refused(await deliver(BODY, headers), new RegExp(`missing ${name} header`));
  }
});
