// Where the built package sends things, checked against Node's own WHATWG reading:
// - every URL of tests/fixtures/url-confusables.json, as loginUrl, as a token answer's
//   instance_url and as a configured instanceUrl, is refused or sent to exactly `new URL(url).host`;
// - every fetch is made with redirect: "manual", and a redirect from the token endpoint, a create or
//   the Slack webhook is refused (REDIRECT_REFUSED): nothing reaches where it points, no Lead, no
//   marker, no secret anywhere;
// - an external id stays one literal path segment of the upsert URL (or, for `.`/`..`, nothing is sent).
import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startEmulator } from "../emulator/server.mjs";
import { loadPackage, fixture, auth0Api, auth0Event, emulatorSecrets, leakScanner } from "./harness.mjs";

const sf = loadPackage();
const corpus = fixture("url-confusables.json").entries;
const SETTINGS = { deadlineMs: 1500, requestTimeoutMs: 500, maxRetries: 1 };
const FAKE_TOKEN = "00Dfake!tokenValue123";
const PROFILE = { user_id: "auth0|url-test", email: "url@example.com", given_name: "Url", family_name: "Test", user_metadata: { company: "Acme" } };

/** `new URL(url).host`, or null when Node cannot read it. */
function nodeHost(url) {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}

/**
 * Replace the global fetch (the wasm driver calls it at call time) with `answer(request)`; every
 * Request it is given is kept. Nothing goes on the network.
 */
function fakeFetch(answer) {
  const seen = [];
  const real = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    seen.push(request);
    return answer(request);
  };
  return { seen, restore: () => { globalThis.fetch = real; } };
}

const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

test("the corpus' recorded hosts are Node's reading", () => {
  assert.ok(corpus.length >= 40);
  for (const e of corpus) assert.equal(nodeHost(e.url), e.host, JSON.stringify(e.url));
});

test("every corpus URL as loginUrl is refused or the token request goes to Node's host", async () => {
  const f = fakeFetch(() => json(400, { error: "invalid_grant", error_description: "authentication failure" }));
  let refused = 0;
  let sent = 0;
  try {
    for (const e of corpus) {
      f.seen.length = 0;
      let outcome;
      try {
        outcome = await sf.onFirstLogin(PROFILE, { clientId: "cid", clientSecret: "client-secret-1", loginUrl: e.url, ...SETTINGS });
      } catch (err) {
        assert.ok(["CONFIG_INVALID", "INSECURE_URL"].includes(err.code), `${JSON.stringify(e.url)}: ${err.code} ${err.message}`);
        assert.equal(err.field, "loginUrl");
        assert.equal(f.seen.length, 0);
        refused += 1;
        continue;
      }
      assert.equal(outcome.error?.code, "TOKEN_REJECTED", JSON.stringify(e.url));
      assert.equal(f.seen.length, 1);
      const [req] = f.seen;
      assert.equal(new URL(req.url).host, nodeHost(e.url), `${JSON.stringify(e.url)} was sent to ${req.url}`);
      assert.equal(new URL(req.url).pathname.endsWith("/services/oauth2/token"), true, req.url);
      if (req.url.startsWith("http:")) assert.ok(["localhost", "127.0.0.1", "[::1]"].includes(new URL(req.url).hostname), req.url);
      assert.equal(req.redirect, "manual");
      sent += 1;
    }
  } finally {
    f.restore();
  }
  assert.ok(refused >= 20 && sent >= 10, `refused ${refused}, sent ${sent}`);
});

test("every corpus URL as a token answer's instance_url is refused or gets the token at Node's host only", async () => {
  let instance;
  const f = fakeFetch((req) => {
    if (new URL(req.url).pathname === "/services/oauth2/token") return json(200, { access_token: FAKE_TOKEN, instance_url: instance, token_type: "Bearer" });
    return json(201, { id: "00Q5e0000000001AAA", success: true, errors: [] });
  });
  let refused = 0;
  let sent = 0;
  try {
    for (const e of corpus) {
      instance = e.url;
      f.seen.length = 0;
      sf.clearTokenCache();
      const outcome = await sf.onFirstLogin(PROFILE, { clientId: "cid", clientSecret: "client-secret-1", ...SETTINGS });
      assert.ok(!JSON.stringify(outcome).includes(FAKE_TOKEN));
      assert.equal(f.seen[0].url, "https://login.salesforce.com/services/oauth2/token");
      const bearers = f.seen.filter((r) => r.headers.get("authorization"));
      if (outcome.status === "failed") {
        assert.equal(outcome.error.code, "INSTANCE_URL_NOT_ALLOWED", `${JSON.stringify(e.url)}: ${outcome.error.message}`);
        assert.equal(f.seen.length, 1, "only the token request was sent");
        assert.equal(bearers.length, 0);
        refused += 1;
      } else {
        assert.equal(outcome.status, "created", JSON.stringify(outcome));
        assert.ok(bearers.length >= 1);
        for (const r of bearers) {
          assert.equal(new URL(r.url).host, nodeHost(e.url), `${JSON.stringify(e.url)}: the token went to ${r.url}`);
          assert.ok(new URL(r.url).hostname.endsWith(".salesforce.com"), r.url);
          assert.equal(r.redirect, "manual");
        }
        sent += 1;
      }
    }
  } finally {
    f.restore();
    sf.clearTokenCache();
  }
  assert.ok(refused >= 30 && sent >= 5, `refused ${refused}, sent ${sent}`);
});

test("every corpus URL as a configured instanceUrl is refused or planned at Node's host", () => {
  let refused = 0;
  let planned = 0;
  for (const e of corpus) {
    let plan;
    try {
      plan = sf.planFirstLogin(PROFILE, { accessToken: FAKE_TOKEN, instanceUrl: e.url });
    } catch (err) {
      assert.ok(["CONFIG_INVALID", "INSECURE_URL"].includes(err.code), `${JSON.stringify(e.url)}: ${err.code}`);
      assert.equal(err.field, "instanceUrl");
      refused += 1;
      continue;
    }
    assert.ok(plan.requests.length >= 1);
    for (const r of plan.requests) assert.equal(new URL(r.url).host, nodeHost(e.url), `${JSON.stringify(e.url)}: planned ${r.url}`);
    planned += 1;
  }
  assert.ok(refused >= 20 && planned >= 10, `refused ${refused}, planned ${planned}`);
});

// ---------------------------------------------------------------------------------------------
// Redirects, against the emulator and a second loopback origin that counts what reaches it.

let emu;
let other;
const leaks = leakScanner();

function startOther() {
  return new Promise((resolve) => {
    const o = { hits: [] };
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => { body += c; });
      req.on("end", () => {
        o.hits.push({ method: req.method, url: req.url, body, authorization: req.headers.authorization });
        // What the attacker answered: a record id, reported `created` before.
        res.writeHead(201, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: "00Q5e0000000666AAA", success: true, errors: [], access_token: "stolen", instance_url: "http://localhost:1" }));
      });
    });
    // Another origin: a different host name for the same machine, and another port.
    server.listen(0, "127.0.0.1", () => {
      o.location = `http://localhost:${server.address().port}/elsewhere`;
      o.stop = () => new Promise((r) => server.close(r));
      resolve(o);
    });
  });
}

before(async () => {
  emu = await startEmulator();
  other = await startOther();
  leaks.captureConsole();
});
after(async () => {
  leaks.restoreConsole();
  leaks.fromEmulator(emu);
  await Promise.all([emu.stop(), other.stop()]);
  leaks.check();
});
beforeEach(() => {
  leaks.fromEmulator(emu);
  emu.reset({ sessions: true });
  other.hits.length = 0;
  sf.clearTokenCache();
  sf.configure(SETTINGS);
});
afterEach(() => {
  leaks.fromEmulator(emu);
  leaks.check();
});

const actionEvent = (secrets = {}, user = {}) => auth0Event(emulatorSecrets(emu, secrets), user);

async function login(event = actionEvent()) {
  const api = auth0Api();
  const outcome = await sf.onExecutePostLogin(event, api);
  leaks.add("outcome", outcome);
  return { outcome, api };
}

const alerts = () => emu.state.slackMessages.filter((m) => m.text.startsWith(":warning:"));

for (const [target, status] of [["token", 307], ["token", 302], ["create", 302], ["create", 307], ["create", 303]]) {
  test(`a ${status} from the ${target} call is refused: nothing reaches the other origin, no Lead, no marker`, async () => {
    emu.setFaults({ kind: "redirect", target, status, location: other.location, times: 1 });
    const { outcome, api } = await login();
    assert.equal(outcome.status, "failed");
    assert.equal(outcome.error?.code, "REDIRECT_REFUSED", JSON.stringify(outcome.error));
    assert.equal(outcome.error.status, status);
    assert.equal(outcome.leadId ?? null, null);
    assert.equal(other.hits.length, 0, "nothing was sent where the redirect pointed");
    assert.equal(emu.state.records.Lead.length, 0);
    assert.deepEqual(api.calls.setAppMetadata, [], "the user is not marked");
    // Not retried: the redirected request went out once.
    const path = target === "token" ? "/services/oauth2/token" : "/services/data/v66.0/sobjects/Lead/";
    assert.equal(emu.state.requests.filter((r) => r.path === path).length, 1);
    assert.equal(emu.state.faultsApplied.redirect, 1);
    // The alert says what happened, without where the redirect pointed or any secret.
    assert.equal(alerts().length, 1);
    assert.match(alerts()[0].text, /REDIRECT_REFUSED/);
    for (const text of [alerts()[0].text, JSON.stringify(outcome)]) {
      assert.ok(!text.includes(String(other.location.split(":")[2])), text);
      assert.ok(!text.includes("emu-client-secret") && !text.includes("emuSlackHook"), text);
    }
  });
}

test("a redirect from the Slack webhook is a Slack failure only, and is not followed", async () => {
  emu.setFaults({ kind: "redirect", target: "slack", status: 302, location: other.location, times: 1 });
  const { outcome, api } = await login();
  assert.equal(outcome.status, "created", JSON.stringify(outcome.error));
  assert.equal(emu.state.records.Lead.length, 1);
  assert.equal(api.calls.setAppMetadata.length, 2, "the Lead was confirmed, so the user is marked");
  assert.equal(outcome.slack.status, "failed");
  assert.equal(outcome.slack.error.code, "SLACK_FAILED");
  assert.equal(outcome.slack.error.remoteCode, "REDIRECT_REFUSED");
  assert.equal(outcome.slack.error.status, 302);
  assert.ok(!outcome.slack.error.message.includes("emuSlackHook"));
  assert.equal(other.hits.length, 0);
  assert.equal(emu.state.slackMessages.length, 0);
  assert.equal(emu.state.requests.filter((r) => r.path.startsWith("/slack/")).length, 1, "not retried");
});

test("a redirected create whose failure alert is redirected too: nothing reaches the other origin", async () => {
  emu.setFaults([
    { kind: "redirect", target: "create", status: 307, location: other.location },
    { kind: "redirect", target: "slack", status: 308, location: other.location },
  ]);
  const { outcome, api } = await login();
  assert.equal(outcome.error?.code, "REDIRECT_REFUSED");
  assert.equal(outcome.slack.error?.remoteCode, "REDIRECT_REFUSED");
  assert.equal(other.hits.length, 0);
  assert.deepEqual(api.calls.setAppMetadata, []);
});

test("the driver sends every request with redirect: manual", async () => {
  const seen = [];
  const real = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    seen.push(input.redirect);
    return real(input, init);
  };
  try {
    const { outcome } = await login();
    assert.equal(outcome.status, "created");
  } finally {
    globalThis.fetch = real;
  }
  assert.deepEqual(seen, ["manual", "manual", "manual"], "token, create, Slack");
});

// ---------------------------------------------------------------------------------------------
// External ids as path segments

test("an external id stays one literal segment of the upsert URL", async () => {
  const values = ["a/b", "?x", "#x", "%2e", "%2e%2e", ".x", "...", "auth0|1", "a b\\c", "Zoë 日本"];
  for (const value of values) {
    emu.reset({ sessions: true });
    sf.clearTokenCache();
    const { outcome } = await login(actionEvent({ SALESFORCE_EXTERNAL_ID_FIELD: "Auth0_User_Id__c" }, { user_id: value }));
    assert.equal(outcome.status, "created", `${JSON.stringify(value)}: ${JSON.stringify(outcome.error)}`);
    const upserts = emu.state.requests.filter((r) => r.method === "PATCH");
    assert.equal(upserts.length, 1);
    const segments = upserts[0].path.split("/");
    assert.deepEqual(segments.slice(0, -1), ["", "services", "data", "v66.0", "sobjects", "Lead", "Auth0_User_Id__c"], upserts[0].path);
    assert.equal(decodeURIComponent(segments.at(-1)), value);
    assert.equal(emu.state.records.Lead[0].Auth0_User_Id__c, value);
  }
});

test("an external id of . or .. is refused before anything is sent to Salesforce", async () => {
  for (const value of [".", ".."]) {
    emu.reset({ sessions: true });
    sf.clearTokenCache();
    const { outcome, api } = await login(actionEvent({ SALESFORCE_EXTERNAL_ID_FIELD: "Auth0_User_Id__c" }, { user_id: value }));
    assert.equal(outcome.status, "failed");
    assert.equal(outcome.error.code, "PROFILE_INVALID");
    assert.equal(outcome.error.field, "user_id");
    assert.equal(emu.state.requests.filter((r) => !r.path.startsWith("/slack/")).length, 0, "nothing went to Salesforce");
    assert.deepEqual(api.calls.setAppMetadata, []);
    // Why: even encoded, Node (like every fetch) reads the segment away.
    const url = new URL(`${emu.url}/services/data/v66.0/sobjects/Lead/Auth0_User_Id__c/${value.replaceAll(".", "%2E")}`);
    assert.ok(!url.pathname.endsWith(value.replaceAll(".", "%2E")), url.pathname);
  }
});
