// Many logins at once in one process: concurrent first logins share one token request (single
// flight in the driver), and never across credentials (the cache key has the secret's digest);
// volume mode (batchWindowMs) gathers their creates into sObject Collections requests and their
// email lookups into IN queries, through onFirstLogin and Clerk deliveries signed with svix.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "svix";
import { useEmulator } from "./use-emulator.mjs";
import { loadPackage, emulatorSecrets, assertNoSecrets, fixture } from "./harness.mjs";

const sf = loadPackage();
const TOKEN = "/services/oauth2/token";
const SETTINGS = { deadlineMs: 4000, requestTimeoutMs: 2000, maxRetries: 1 };

const fixtureEmu = useEmulator(sf);
let emu;
beforeEach(() => {
  emu = fixtureEmu.emu;
  sf.configure(SETTINGS);
});

const profile = (i) => ({ user_id: `auth0|c${i}`, email: `concurrent${i}@example.com`, given_name: "Con", family_name: `Current ${i}` });
const tokenRequests = () => emu.state.requests.filter((r) => r.path === TOKEN);

test("10 concurrent first logins: exactly 1 token request, 10 Leads", async () => {
  // The token answer is slow, so every login is waiting for a token while it is on its way.
  emu.setFaults({ kind: "delay", target: "token", ms: 150 });
  const config = { secrets: emulatorSecrets(emu) };
  const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => sf.onFirstLogin(profile(i), config)));
  assert.deepEqual(outcomes.map((o) => o.status), Array(10).fill("created"), JSON.stringify(outcomes.map((o) => o.error)));
  assert.equal(tokenRequests().length, 1);
  assert.equal(emu.state.tokensIssued.length, 1);
  assert.deepEqual(new Set(outcomes.map((o) => o.token)), new Set(["new"]), "each flow read the shared answer as its own");
  const token = emu.state.tokensIssued[0].access_token;
  const creates = emu.state.requests.filter((r) => r.method === "POST" && r.path === "/services/data/v66.0/sobjects/Lead/");
  assert.equal(creates.length, 10);
  for (const c of creates) assert.equal(c.headers.authorization, `Bearer ${token}`);
  assert.deepEqual(emu.state.records.Lead.map((l) => l.Email).sort(), Array.from({ length: 10 }, (_, i) => `concurrent${i}@example.com`).sort());
  // A login after them takes the cached token.
  const later = await sf.onFirstLogin(profile(10), config);
  assert.equal(later.token, "cached");
  assert.equal(tokenRequests().length, 1);
  assertNoSecrets(outcomes, [token]);
});

test("concurrent logins with another client secret do not share the token request", async () => {
  emu.setFaults({ kind: "delay", target: "token", ms: 150 });
  const right = { secrets: emulatorSecrets(emu) };
  const wrong = { secrets: emulatorSecrets(emu, { SALESFORCE_CLIENT_SECRET: "wrong-client-secret" }) };
  const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => sf.onFirstLogin(profile(i), i % 2 ? wrong : right)));
  assert.deepEqual(outcomes.map((o) => o.status), ["created", "failed", "created", "failed", "created", "failed"]);
  for (const o of outcomes.filter((o) => o.status === "failed")) assert.equal(o.error.code, "TOKEN_REJECTED");
  const secrets = tokenRequests().map((r) => new URLSearchParams(r.body).get("client_secret")).sort();
  assert.deepEqual(secrets, ["emu-client-secret", "wrong-client-secret"], "one token request per secret");
  assert.equal(emu.state.records.Lead.length, 3);
  assertNoSecrets(outcomes, ["wrong-client-secret"]);
});

// ---- volume mode ------------------------------------------------------------------------------

const COLLECTIONS = "/services/data/v66.0/composite/sobjects";
const QUERY = "GET /services/data/v66.0/query";
const queries = () => emu.state.requests.filter((r) => r.path === "/services/data/v66.0/query").map((r) => r.query.q);
// The one batched lookup asks about each of `emails` once (in the order the deliveries joined).
const assertInQuery = (q, emails) => {
  const m = /^SELECT Id, Email FROM Lead WHERE Email IN \((.*)\)$/.exec(q);
  assert.ok(m, q);
  assert.deepEqual(m[1].split(",").sort(), emails.map((e) => `'${e}'`).sort());
};
/** A Lead already in the org, created straight through the emulator's REST API (not the package). */
async function seedLead(fields) {
  const form = { grant_type: "client_credentials", client_id: emu.clientId, client_secret: emu.clientSecret };
  const seed = await fetch(`${emu.url}${TOKEN}`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form) }).then((r) => r.json());
  return fetch(`${emu.url}/services/data/v66.0/sobjects/Lead/`, {
    method: "POST",
    headers: { authorization: `Bearer ${seed.access_token}`, "content-type": "application/json" },
    body: JSON.stringify(fields),
  }).then((r) => r.json());
}
const dataCalls = () => emu.state.requests.filter((r) => r.path.startsWith("/services/data/")).map((r) => `${r.method} ${r.path}`);

test("volume mode: 30 concurrent logins, 1 token + 1 collections request, each answered with its own record", async () => {
  // One person already has a Lead, and the duplicate rule is on for the batch.
  const existing = await seedLead({ LastName: "Earlier", Company: "Seed", Email: "concurrent7@example.com" });
  emu.state.requests.length = 0;
  emu.setFaults({ kind: "duplicateRule", target: "collections" });

  const config = { secrets: emulatorSecrets(emu), batchWindowMs: 300 };
  const people = Array.from({ length: 30 }, (_, i) => profile(i));
  const outcomes = await Promise.all(people.map((p) => sf.onFirstLogin(p, config)));
  assert.deepEqual(dataCalls(), [`POST ${COLLECTIONS}`]);
  assert.equal(tokenRequests().length, 1);
  const batch = JSON.parse(emu.state.requests.find((r) => r.path === COLLECTIONS).body);
  assert.equal(batch.allOrNone, false);
  assert.deepEqual(batch.records.map((r) => r.Email), people.map((p) => p.email));
  assert.deepEqual(batch.records[0].attributes, { type: "Lead" });
  const byEmail = new Map(emu.state.records.Lead.filter((l) => l.Id !== existing.id).map((l) => [l.Email, l.Id]));
  outcomes.forEach((o, i) => {
    if (i === 7) {
      assert.deepEqual([o.status, o.leadId], ["duplicate", existing.id], "the duplicate rule named the earlier Lead");
    } else {
      assert.equal(o.status, "created", JSON.stringify(o.error));
      assert.equal(o.leadId, byEmail.get(people[i].email), "its own record's id");
    }
  });
  assert.equal(emu.state.records.Lead.length, 30);
});

test("volume mode: a window longer than a create's time never makes it late (sent at half its request time)", async () => {
  // Sent at half the request time (1,500 ms), not after the window; the rest of the request time
  // is slack for a loaded machine, and a batch sent later would have no time left for its request.
  const config = { secrets: emulatorSecrets(emu), batchWindowMs: 60000, requestTimeoutMs: 3000, deadlineMs: 8000 };
  sf.configure({}); // this test's own timeouts
  await sf.onFirstLogin(profile(100), { ...config, batchWindowMs: 0 }); // warm token, so only the create waits
  const t0 = performance.now();
  const outcomes = await Promise.all([0, 1, 2].map((i) => sf.onFirstLogin(profile(i), config)));
  const ms = performance.now() - t0;
  assert.deepEqual(outcomes.map((o) => o.status), ["created", "created", "created"], JSON.stringify(outcomes.map((o) => o.error)));
  assert.ok(ms >= 1450 && ms < 3000, `answered after ${ms.toFixed(0)} ms`);
  assert.equal(dataCalls().filter((c) => c === `POST ${COLLECTIONS}`).length, 1);
});

test("volume mode: a batch whose answer is lost is looked up per record, then sent again once: no duplicates", async () => {
  emu.setFaults({ kind: "drop", target: "collections", times: 1 });
  const config = { secrets: emulatorSecrets(emu), batchWindowMs: 200, deadlineMs: 8000 };
  const outcomes = await Promise.all(Array.from({ length: 5 }, (_, i) => sf.onFirstLogin(profile(i), config)));
  assert.deepEqual(outcomes.map((o) => o.status), Array(5).fill("created"), JSON.stringify(outcomes.map((o) => o.error)));
  const calls = dataCalls();
  assert.equal(calls.filter((c) => c === `POST ${COLLECTIONS}`).length, 2, calls.join("\n"));
  assert.equal(calls.filter((c) => c === "GET /services/data/v66.0/query").length, 5, "each flow verified its own record");
  assert.equal(emu.state.records.Lead.length, 5);
});

test("volume mode: a batch refused as a whole (404, nothing processed) sends each create alone", async () => {
  // An org or proxy without sObject Collections: the collection request gets 404 NOT_FOUND.
  const real = globalThis.fetch;
  const refused = [];
  globalThis.fetch = function (input, init) {
    const url = typeof input === "string" ? input : input.url;
    if (url.endsWith(COLLECTIONS)) {
      refused.push(url);
      return Promise.resolve(new Response(JSON.stringify([{ errorCode: "NOT_FOUND", message: "The requested resource does not exist" }]), { status: 404, headers: { "content-type": "application/json" } }));
    }
    return real.call(this, input, init);
  };
  try {
    const config = { secrets: emulatorSecrets(emu), batchWindowMs: 100 };
    const outcomes = await Promise.all(Array.from({ length: 3 }, (_, i) => sf.onFirstLogin(profile(i), config)));
    assert.deepEqual(outcomes.map((o) => o.status), ["created", "created", "created"], JSON.stringify(outcomes.map((o) => o.error)));
  } finally {
    globalThis.fetch = real;
  }
  assert.equal(refused.length, 1);
  assert.deepEqual(dataCalls(), Array(3).fill("POST /services/data/v66.0/sobjects/Lead/"));
  assert.equal(emu.state.records.Lead.length, 3);
});

test("volume mode: Clerk deliveries signed with svix are answered 200 only once their own record exists", async () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const wh = new Webhook(secret);
  const config = { host: "clerk", secrets: { ...emulatorSecrets(emu), CLERK_WEBHOOK_SECRET: secret }, batchWindowMs: 250 };
  const deliveries = Array.from({ length: 8 }, (_, i) => {
    const event = fixture("clerk-user-created.json");
    event.data.id = `user_volume${i}`;
    event.data.email_addresses = [{ ...event.data.email_addresses[1], id: `idn_v${i}`, email_address: `clerk${i}@example.com` }];
    event.data.primary_email_address_id = `idn_v${i}`;
    const body = JSON.stringify(event);
    const id = `msg_volume${i}`;
    const now = new Date();
    const headers = { "svix-id": id, "svix-timestamp": String(Math.floor(now.getTime() / 1000)), "svix-signature": wh.sign(id, now, body) };
    return { method: "POST", headers, body };
  });
  const answers = await Promise.all(deliveries.map((d) => sf.handleWebhook("clerk", d, config)));
  assert.deepEqual(answers.map((a) => a.status), Array(8).fill(200), JSON.stringify(answers[0]));
  // Webhook hosts look the email up first: the 8 lookups share one query, as the creates do.
  assert.deepEqual(dataCalls(), [QUERY, `POST ${COLLECTIONS}`]);
  assertInQuery(queries()[0], Array.from({ length: 8 }, (_, i) => `clerk${i}@example.com`));
  const byEmail = new Map(emu.state.records.Lead.map((l) => [l.Email, l.Id]));
  answers.forEach((a, i) => {
    const text = a.body;
    assert.ok(text.includes(byEmail.get(`clerk${i}@example.com`)), text);
  });
  assertNoSecrets(answers, [secret]);
});

// A Clerk user.created delivery for `user` with `email`, signed with svix as Clerk signs it.
function clerkDelivery(wh, user, email, msg) {
  const event = fixture("clerk-user-created.json");
  event.data.id = user;
  event.data.email_addresses = [{ ...event.data.email_addresses[1], id: `idn_${user}`, email_address: email }];
  event.data.primary_email_address_id = `idn_${user}`;
  const body = JSON.stringify(event);
  const now = new Date();
  const headers = { "svix-id": msg, "svix-timestamp": String(Math.floor(now.getTime() / 1000)), "svix-signature": wh.sign(msg, now, body) };
  return { method: "POST", headers, body };
}

const CLERK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const clerkConfig = () => ({ host: "clerk", secrets: { ...emulatorSecrets(emu), CLERK_WEBHOOK_SECRET: CLERK_SECRET }, batchWindowMs: 250 });

test("volume mode: two deliveries of one user in one window make one record (one query, one collections request)", async () => {
  const wh = new Webhook(CLERK_SECRET);
  const deliveries = [
    clerkDelivery(wh, "user_twice", "twice@example.com", "msg_twice_a"),
    clerkDelivery(wh, "user_once", "once@example.com", "msg_once"),
    clerkDelivery(wh, "user_twice", "twice@example.com", "msg_twice_b"), // Clerk's retry of the first
  ];
  const answers = await Promise.all(deliveries.map((d) => sf.handleWebhook("clerk", d, clerkConfig())));
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200], JSON.stringify(answers));
  assert.deepEqual(dataCalls(), [QUERY, `POST ${COLLECTIONS}`]);
  assertInQuery(queries()[0], ["twice@example.com", "once@example.com"]);
  const batch = JSON.parse(emu.state.requests.find((r) => r.path === COLLECTIONS).body);
  assert.deepEqual(batch.records.map((r) => r.Email).sort(), ["once@example.com", "twice@example.com"]);
  const leads = emu.state.records.Lead;
  assert.deepEqual(leads.map((l) => l.Email).sort(), ["once@example.com", "twice@example.com"]);
  const twice = leads.find((l) => l.Email === "twice@example.com").Id;
  // Whichever of the two is read first creates; the other waits for it (same user, same process).
  const [a, , b] = answers.map((x) => JSON.parse(x.body).outcomes[0]);
  assert.deepEqual([[a.status, a.leadId], [b.status, b.leadId]].sort(), [["created", twice], ["duplicate", twice]], JSON.stringify([a, b]));
});

test("volume mode: a user whose email already has a Lead is answered duplicate from the batched lookup, with no create", async () => {
  // Stored in another case: SOQL's = ignores case, and so does the split of the batched answer.
  const existing = await seedLead({ LastName: "Earlier", Company: "Seed", Email: "Known@Example.com" });
  emu.state.requests.length = 0;
  const wh = new Webhook(CLERK_SECRET);
  const emails = ["new0@example.com", "known@example.com", "new1@example.com"];
  const deliveries = emails.map((e, i) => clerkDelivery(wh, `user_known${i}`, e, `msg_known${i}`));
  const answers = await Promise.all(deliveries.map((d) => sf.handleWebhook("clerk", d, clerkConfig())));
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200], JSON.stringify(answers));
  assert.deepEqual(dataCalls(), [QUERY, `POST ${COLLECTIONS}`]);
  assertInQuery(queries()[0], emails);
  const batch = JSON.parse(emu.state.requests.find((r) => r.path === COLLECTIONS).body);
  assert.deepEqual(batch.records.map((r) => r.Email).sort(), ["new0@example.com", "new1@example.com"], "no create for the known user");
  const bodies = answers.map((a) => JSON.parse(a.body).outcomes[0]);
  assert.deepEqual([bodies[1].status, bodies[1].leadId], ["duplicate", existing.id], JSON.stringify(bodies[1]));
  for (const i of [0, 2]) {
    const lead = emu.state.records.Lead.find((l) => l.Email === emails[i]);
    assert.deepEqual([bodies[i].status, bodies[i].leadId], ["created", lead.Id], JSON.stringify(bodies[i]));
  }
  assert.equal(emu.state.records.Lead.length, 3);
});

test("volume mode: a lookup batch refused as a whole (400) sends each lookup alone; the creates still batch", async () => {
  const real = globalThis.fetch;
  const refused = [];
  globalThis.fetch = function (input, init) {
    const url = typeof input === "string" ? input : input.url;
    if (url.includes("%20IN%20%28")) {
      refused.push(new URL(url).searchParams.get("q"));
      return Promise.resolve(new Response(JSON.stringify([{ errorCode: "MALFORMED_QUERY", message: "unexpected token" }]), { status: 400, headers: { "content-type": "application/json" } }));
    }
    return real.call(this, input, init);
  };
  let answers;
  const wh = new Webhook(CLERK_SECRET);
  const emails = ["alone0@example.com", "alone1@example.com", "alone2@example.com"];
  try {
    const deliveries = emails.map((e, i) => clerkDelivery(wh, `user_alone${i}`, e, `msg_alone${i}`));
    answers = await Promise.all(deliveries.map((d) => sf.handleWebhook("clerk", d, clerkConfig())));
  } finally {
    globalThis.fetch = real;
  }
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200], JSON.stringify(answers));
  assert.equal(refused.length, 1);
  assertInQuery(refused[0], emails);
  assert.deepEqual(dataCalls(), [QUERY, QUERY, QUERY, `POST ${COLLECTIONS}`]);
  assert.deepEqual(queries().sort(), emails.map((e) => `SELECT Id FROM Lead WHERE Email = '${e}' LIMIT 1`).sort());
  assert.deepEqual(emu.state.records.Lead.map((l) => l.Email).sort(), emails);
});
