// At-least-once delivery never makes two records: every handleWebhook host gets the same signed
// request twice in a row, and twice at the same moment, against the emulator. Counted: records in
// the emulator, the requests sent, and each delivery's exact answer and outcome.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "svix";
import { useEmulator } from "./use-emulator.mjs";
import { loadPackage, fixture, fixtureText, captureConsole, emulatorSecrets } from "./harness.mjs";

const sf = loadPackage();
const fixtureEmu = useEmulator(sf);
let emu;
beforeEach(() => {
  emu = fixtureEmu.emu;
});

const CLERK_SECRET = fixture("clerk-user-created.headers.json")._secret;

/** One request per host, built once and delivered as it is each time (a redelivery). */
const HOSTS = {
  ory: {
    secrets: {},
    email: "lena.fischer@example.com",
    request: () => ({ method: "POST", headers: { "content-type": "application/json" }, body: fixtureText("ory-registration-after.json") }),
    // Ory's answer carries the marker, whatever the status: both deliveries hand it the record.
    answer: (r, id) => {
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(JSON.parse(r.body), { identity: { metadata_public: { recordedAsLead: true, salesforceLeadId: id } } });
    },
  },
  clerk: {
    secrets: { CLERK_WEBHOOK_SECRET: CLERK_SECRET },
    email: "dana.brooks@example.com",
    request: () => {
      const body = fixtureText("clerk-user-created.json");
      const id = "msg_redelivered01";
      const when = new Date();
      const headers = { "svix-id": id, "svix-timestamp": String(Math.floor(when / 1000)), "svix-signature": new Webhook(CLERK_SECRET).sign(id, when, body) };
      return { method: "POST", headers, body };
    },
    answer: (r, id, status) => {
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(JSON.parse(r.body), { outcomes: [{ status, leadId: id, error: null }] });
    },
  },
  okta: {
    secrets: { OKTA_WEBHOOK_AUTHORIZATION: "okta-shared" },
    email: "priya.sharma@example.com",
    request: () => ({ method: "POST", headers: { authorization: "okta-shared" }, body: fixtureText("okta-user-lifecycle-create.json") }),
    answer: (r, id, status) => {
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(JSON.parse(r.body), { outcomes: [{ status, leadId: id, error: null }] });
    },
  },
  "auth0-events": {
    secrets: { AUTH0_EVENTS_AUTHORIZATION: "stream-token-7d1e" },
    email: "marta.kowalska@example.com",
    // The CloudEvent `id` repeats on redelivery; the request is resent as it was.
    request: () => ({ method: "POST", headers: { "content-type": "application/json", authorization: "Bearer stream-token-7d1e" }, body: fixtureText("auth0-events-user-created.json") }),
    answer: (r, id, status) => {
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(JSON.parse(r.body), { outcomes: [{ status, leadId: id, error: null }] });
    },
  },
  authentik: {
    secrets: { AUTHENTIK_WEBHOOK_AUTHORIZATION: "Bearer ak-hook-9f3c" },
    email: "jonas.berg@example.com",
    request: () => ({ method: "POST", headers: { "content-type": "text/json", authorization: "Bearer ak-hook-9f3c" }, body: fixtureText("authentik-notification-default.json") }),
    answer: (r, id, status) => {
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(JSON.parse(r.body), { outcomes: [{ status, leadId: id, error: null }] });
    },
  },
};

/** `host`'s settings as its server would pass them: the environment, plus `extra` settings. */
function env(host, extra = {}) {
  return {
    secrets: emulatorSecrets(emu, HOSTS[host].secrets),
    ...extra,
  };
}

/** The requests the emulator saw, as `METHOD path` (Slack included). */
function calls() {
  return emu.state.requests.map((r) => `${r.method} ${r.path}`);
}

const TOKEN = "POST /services/oauth2/token";
const QUERY = "GET /services/data/v66.0/query";
const CREATE = "POST /services/data/v66.0/sobjects/Lead/";
const SLACK = "POST /slack/services/T000/B000/emuSlackHook";

/** Each login's log line: `[status, id]`. */
function logged(lines) {
  return lines.map((l) => /^sf-lead-rule: (\w+) Lead (\w+) /.exec(l)).filter(Boolean).map((m) => [m[1], m[2]]);
}

function oneLead(email) {
  assert.equal(emu.state.records.Lead.length, 1, "one record");
  assert.equal(emu.state.records.Lead[0].Email, email);
  return emu.state.records.Lead[0].Id;
}

for (const [host, h] of Object.entries(HOSTS)) {
  test(`${host}: the same request delivered twice makes one record; the second answers duplicate with its id`, async () => {
    const request = h.request();
    const first = await captureConsole(() => sf.handleWebhook(host, request, env(host)));
    const second = await captureConsole(() => sf.handleWebhook(host, request, env(host)));
    const id = oneLead(h.email);
    h.answer(first.result, id, "created");
    h.answer(second.result, id, "duplicate");
    assert.deepEqual([...logged(first.lines), ...logged(second.lines)], [["created", id], ["duplicate", id]]);
    // The email looked up before each create: found the second time, so no second create.
    assert.deepEqual(calls(), [TOKEN, QUERY, CREATE, SLACK, QUERY]);
    const q = emu.state.requests[1].query.q;
    assert.equal(q, `SELECT Id FROM Lead WHERE Email = '${h.email}' LIMIT 1`);
  });

  test(`${host}: the same request delivered twice at the same moment makes one record`, async () => {
    const request = h.request();
    const { result, lines } = await captureConsole(() => Promise.all([sf.handleWebhook(host, request, env(host)), sf.handleWebhook(host, request, env(host))]));
    const id = oneLead(h.email);
    // Either may run first (Clerk's signature checks finish in any order): one of each.
    const firstRan = result.findIndex((r) => JSON.parse(r.body).outcomes?.[0].status !== "duplicate");
    h.answer(result[firstRan], id, "created");
    h.answer(result[1 - firstRan], id, "duplicate");
    assert.deepEqual(logged(lines).sort(), [["created", id], ["duplicate", id]]);
    // The second waited for the first login in this process: it sent nothing of its own (both
    // lookups would have found nothing, and both would have created).
    assert.deepEqual(calls(), [TOKEN, QUERY, CREATE, SLACK]);
  });

  test(`${host}: with externalIdField, a redelivery is an upsert of the same record`, async () => {
    const request = h.request();
    const config = env(host, { externalIdField: "External_User_Id__c" });
    const first = await captureConsole(() => sf.handleWebhook(host, request, config));
    const second = await captureConsole(() => sf.handleWebhook(host, request, config));
    const id = oneLead(h.email);
    h.answer(first.result, id, "created");
    h.answer(second.result, id, "duplicate");
    const upserts = emu.state.requests.filter((r) => r.method === "PATCH" && r.path.startsWith("/services/data/v66.0/sobjects/Lead/External_User_Id__c/"));
    assert.equal(upserts.length, 2, "no lookup: both deliveries upsert");
    assert.equal(upserts[0].path, upserts[1].path);
    assert.equal(calls().filter((c) => c === QUERY).length, 0);
  });

  test(`${host}: dedupeByEmail: false is kept, and then a redelivery makes a second record`, async () => {
    const request = h.request();
    const config = env(host, { dedupeByEmail: false });
    await captureConsole(() => sf.handleWebhook(host, request, config));
    await captureConsole(() => sf.handleWebhook(host, request, config));
    assert.equal(emu.state.records.Lead.length, 2);
    assert.deepEqual(calls(), [TOKEN, CREATE, SLACK, CREATE, SLACK]);
  });
}

test("a delivery of another user at the same moment is not held back", async () => {
  const ory = HOSTS.ory.request();
  const okta = HOSTS.okta.request();
  const { result } = await captureConsole(() => Promise.all([sf.handleWebhook("ory", ory, env("ory")), sf.handleWebhook("okta", okta, env("okta"))]));
  assert.equal(emu.state.records.Lead.length, 2);
  HOSTS.ory.answer(result[0], emu.state.records.Lead.find((l) => l.Email === HOSTS.ory.email).Id);
  HOSTS.okta.answer(result[1], emu.state.records.Lead.find((l) => l.Email === HOSTS.okta.email).Id, "created");
});

test("the same user sent to another object at the same moment is another login", async () => {
  const request = HOSTS.okta.request();
  const { result } = await captureConsole(() => Promise.all([sf.handleWebhook("okta", request, env("okta")), sf.handleWebhook("okta", request, env("okta", { object: "Contact", mapping: { LastName: "name", Email: "email" } }))]));
  assert.equal(emu.state.records.Lead.length, 1);
  assert.equal(emu.state.records.Contact.length, 1);
  HOSTS.okta.answer(result[0], emu.state.records.Lead[0].Id, "created");
  HOSTS.okta.answer(result[1], emu.state.records.Contact[0].Id, "created");
});

test("a redelivery after a failed first delivery creates the record then", async () => {
  emu.setFaults({ kind: "status500", target: "create", count: 3 });
  const request = HOSTS.clerk.request();
  const first = await captureConsole(() => sf.handleWebhook("clerk", request, env("clerk", { maxRetries: 0 })));
  assert.equal(first.result.status, 503, "not acknowledged: Svix delivers it again");
  assert.equal(JSON.parse(first.result.body).outcomes[0].status, "failed");
  assert.equal(emu.state.records.Lead.length, 0);
  emu.clearFaults();
  const second = await captureConsole(() => sf.handleWebhook("clerk", request, env("clerk")));
  HOSTS.clerk.answer(second.result, oneLead(HOSTS.clerk.email), "created");
});
