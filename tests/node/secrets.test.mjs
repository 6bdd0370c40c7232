// Security end to end: every outcome, plan, thrown error, console line and Slack message this file
// produces — for every grant, for refused credentials, for endpoints that echo what they were sent
// — is scanned for every configured secret and every access token the emulator issued. Header
// values with CR/LF and oversized profiles are refused before anything is sent.
import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import crypto from "node:crypto";
import { startEmulator } from "../emulator/server.mjs";
import { loadPackage, fixture, auth0Api, auth0Event, leakScanner, timed } from "./harness.mjs";

const sf = loadPackage();
const SETTINGS = { deadlineMs: 1500, requestTimeoutMs: 400, maxRetries: 1 };
const CLERK_SECRET = `whsec_${crypto.randomBytes(24).toString("base64")}`;
const ORY_KEY = `ory-hook-key-${crypto.randomBytes(12).toString("hex")}`;
const WRONG_SECRET = "wrong-client-secret-4711";
const ECHO_PASSWORD = "p@ss w0rd&more!";

let emu;
let echo;
const leaks = leakScanner();

before(async () => {
  emu = await startEmulator();
  echo = await startEchoServer();
  leaks.secret(CLERK_SECRET, ORY_KEY, WRONG_SECRET, emu.privateKeyPem, echo.secrets);
  // As the echo server quotes it back: form-encoded and percent-encoded.
  leaks.secret(ECHO_PASSWORD, new URLSearchParams({ p: ECHO_PASSWORD }).toString().slice(2), encodeURIComponent(ECHO_PASSWORD));
  leaks.captureConsole();
});
after(async () => {
  leaks.restoreConsole();
  leaks.fromEmulator(emu);
  await Promise.all([emu.stop(), echo.stop()]);
  const scanned = leaks.check();
  assert.ok(scanned > 40, `scanned ${scanned} produced values`);
});
beforeEach(() => {
  leaks.fromEmulator(emu); // issued tokens stay secrets after the reset
  emu.reset({ sessions: true });
  sf.clearTokenCache();
  sf.configure(SETTINGS);
});
afterEach(() => {
  leaks.fromEmulator(emu);
  for (const b of echo.slackBodies.splice(0)) leaks.add("Slack message (echo)", b);
  leaks.check();
});

/** Settings per grant, as a host would pass them (`secrets` in our names). */
function grants() {
  const common = { SALESFORCE_LOGIN_URL: emu.url, SLACK_WEBHOOK_URL: emu.slackWebhookUrl, CLERK_WEBHOOK_SECRET: CLERK_SECRET };
  return {
    client_credentials: { ...common, SALESFORCE_CLIENT_ID: emu.clientId, SALESFORCE_CLIENT_SECRET: emu.clientSecret },
    password: { ...common, SALESFORCE_CLIENT_ID: emu.clientId, SALESFORCE_CLIENT_SECRET: emu.clientSecret, SALESFORCE_USERNAME: emu.username, SALESFORCE_PASSWORD: emu.password },
    jwt_bearer: { ...common, SALESFORCE_CLIENT_ID: emu.clientId, SALESFORCE_USERNAME: emu.username, SALESFORCE_PRIVATE_KEY: emu.privateKeyPem },
    refresh_token: { ...common, SALESFORCE_CLIENT_ID: emu.clientId, SALESFORCE_CLIENT_SECRET: emu.clientSecret, SALESFORCE_REFRESH_TOKEN: emu.refreshToken },
  };
}

const actionEvent = auth0Event;

async function action(secrets, user) {
  const api = auth0Api();
  const { result, ms } = await timed(() => sf.onExecutePostLogin(actionEvent(secrets, user), api));
  leaks.add("onExecutePostLogin outcome", result);
  assert.ok(ms < SETTINGS.deadlineMs + 500);
  return { outcome: result, api };
}

/** Call `fn`, which must throw; the error (message, code, every property) joins the scan. */
function thrown(label, fn) {
  try {
    fn();
  } catch (e) {
    leaks.add(label, e);
    return e;
  }
  assert.fail(`${label} did not throw`);
}

async function rejected(label, promise) {
  try {
    await promise;
  } catch (e) {
    leaks.add(label, e);
    return e;
  }
  assert.fail(`${label} did not reject`);
}

// ---- every grant: plan, run, fail --------------------------------------------------------------

for (const name of ["client_credentials", "password", "jwt_bearer", "refresh_token"]) {
  test(`${name}: plan, onFirstLogin, onExecutePostLogin and a refused login carry no secret`, async () => {
    const secrets = grants()[name];
    const event = fixture("auth0-action-post-login.json");
    const plan = leaks.add("plan", sf.planFirstLogin(event, { host: "auth0", secrets }));
    assert.equal(plan.requests[0].purpose, "token");
    assert.match(JSON.stringify(plan.requests[0].body), /\*\*\*/, "the credential is shown masked");
    assert.equal(plan.requests.at(-1).url, "***", "the Slack webhook URL is a secret");

    const direct = leaks.add("onFirstLogin outcome", await sf.onFirstLogin(event, { host: "auth0", secrets }));
    assert.equal(direct.status, "created", JSON.stringify(direct.error));
    assert.equal(emu.state.tokensIssued.at(-1).grant.endsWith(name.replace("_bearer", "-bearer")), true);

    const { outcome } = await action(secrets, { user_id: `auth0|${name}`, email: `${name}@example.com` });
    assert.equal(outcome.status, "created");

    // Refused credentials: the outcome, log line and alert explain without quoting anything secret.
    const refused = { ...secrets };
    if (refused.SALESFORCE_PRIVATE_KEY) refused.SALESFORCE_USERNAME = "someone-else@example.com";
    else refused.SALESFORCE_CLIENT_SECRET = WRONG_SECRET;
    sf.clearTokenCache();
    const bad = await action(refused, { user_id: `auth0|${name}-bad`, email: `${name}-bad@example.com` });
    assert.equal(bad.outcome.status, "failed");
    assert.equal(bad.outcome.error.code, "TOKEN_REJECTED");
    assert.match(emu.state.slackMessages.at(-1).text, /TOKEN_REJECTED/);
  });
}

test("pre-issued access token: plan, outcome and an expired-token failure carry no token", async () => {
  const res = await fetch(`${emu.url}/services/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: emu.clientId, client_secret: emu.clientSecret }),
  });
  const token = (await res.json()).access_token;
  const secrets = { SALESFORCE_ACCESS_TOKEN: token, SALESFORCE_INSTANCE_URL: emu.url, SLACK_WEBHOOK_URL: emu.slackWebhookUrl, ORY_WEBHOOK_API_KEY: ORY_KEY };
  const plan = leaks.add("plan", sf.planFirstLogin(fixture("auth0-action-post-login.json"), { host: "auth0", secrets }));
  assert.equal(plan.requests[0].headers.Authorization, "Bearer ***");
  assert.equal((await action(secrets)).outcome.status, "created");
  emu.setFaults({ kind: "expireSessions" });
  const { outcome } = await action(secrets, { user_id: "auth0|expired" });
  assert.equal(outcome.error.code, "SESSION_EXPIRED");
});

test("Salesforce down, hanging, throttled: failure outcomes and alerts carry no secret", async () => {
  const secrets = grants().password;
  for (const fault of [
    { kind: "status500", target: "salesforce" },
    { kind: "hang", target: "create" },
    { kind: "rateLimit429", target: "create", retryAfter: 60 },
    { kind: "requestLimit", target: "create" },
    { kind: "invalidSession", target: "create", times: null },
    { kind: "malformed", target: "token" },
  ]) {
    emu.setFaults(fault);
    sf.clearTokenCache();
    const { outcome } = await action(secrets, { user_id: `auth0|${fault.kind}` });
    assert.equal(outcome.status, "failed", fault.kind);
  }
  assert.ok(emu.state.slackMessages.length >= 6);
});

// ---- thrown errors ----------------------------------------------------------------------------

test("configuration errors thrown by planFirstLogin, onFirstLogin and configure quote no secret", async () => {
  const event = fixture("auth0-action-post-login.json");
  const S = { clientId: emu.clientId, clientSecret: emu.clientSecret, webhookSecret: CLERK_SECRET };
  const cases = [
    [{ ...S, slackWebhookUrl: "http://hooks.example.com/services/T0/B0/insecureHookToken123" }, "INSECURE_URL"],
    [{ ...S, mapping: { LastName: "name |" } }, "MAPPING_INVALID"],
    [{ clientSecrett: emu.clientSecret, password: emu.password }, "CONFIG_INVALID"],
    [{ ...S, privateKey: "not a key but secret material 9f8e7d6c5b", username: emu.username }, "CONFIG_INVALID"],
    [{ ...S, autoAssign: "TRUE\r\nX-Evil: 1" }, "HEADER_INVALID"],
    [{ ...S, loginUrl: "https://user:pw-in-the-url-1234@login.salesforce.com" }, "CONFIG_INVALID"],
    [{ ...S, username: emu.username }, "CONFIG_MISSING"], // password grant without its password
    [{ accessToken: "00Dbroker!token-value-xyz" }, "CONFIG_MISSING"],
  ];
  leaks.secret("insecureHookToken123", "not a key but secret material 9f8e7d6c5b", "pw-in-the-url-1234", "00Dbroker!token-value-xyz");
  for (const [config, code] of cases) {
    const planned = thrown(`planFirstLogin(${code})`, () => sf.planFirstLogin(event, { host: "auth0", ...config }));
    assert.equal(planned.code, code, planned.message);
    assert.equal(planned.name, "SfLeadRuleError");
    const run = await rejected(`onFirstLogin(${code})`, sf.onFirstLogin(event, { host: "auth0", ...config }));
    assert.equal(run.code, code);
  }
  assert.equal(thrown("configure", () => sf.configure({ mapping: { LastName: "name |" }, clientSecret: emu.clientSecret })).code, "MAPPING_INVALID");
  assert.equal(emu.state.requests.length, 0, "nothing sent for a bad configuration");
});

// ---- endpoints that echo what they were sent --------------------------------------------------

test("a login URL and Slack hook that echo requests back: nothing secret reaches the outcome, log or alert", async () => {
  const secrets = {
    SALESFORCE_LOGIN_URL: echo.url,
    SALESFORCE_CLIENT_ID: "echo-client",
    SALESFORCE_CLIENT_SECRET: emu.clientSecret,
    SALESFORCE_USERNAME: emu.username,
    SALESFORCE_PASSWORD: ECHO_PASSWORD,
    SLACK_WEBHOOK_URL: `${echo.url}/services/T0/B0/${echo.hookToken}`,
  };
  echo.mode = "token-error";
  const refused = await action(secrets, { user_id: "auth0|echo1" });
  assert.equal(refused.outcome.error.code, "TOKEN_REJECTED");
  // The endpoint quoted the form body, where the password is form-encoded: masked all the same.
  assert.equal(refused.outcome.error.remoteCode, "grant_type=password&client_id=echo-client&client_secret=***&username=integration%40example.com&password=***");
  assert.equal(refused.outcome.slack.error.remoteCode.includes(echo.hookToken), false);

  echo.mode = "create-error";
  sf.clearTokenCache();
  const rejected = await action(secrets, { user_id: "auth0|echo2" });
  assert.equal(rejected.outcome.error.code, "SALESFORCE_REJECTED");
  assert.match(rejected.outcome.error.message, /Bearer \*\*\*/);

  echo.mode = "create-echo-id";
  sf.clearTokenCache();
  const odd = await action(secrets, { user_id: "auth0|echo3" });
  assert.equal(odd.outcome.status, "failed", "an id that is not a record id is never taken");
  assert.equal(odd.api.calls.setAppMetadata.length, 0);
  assert.ok(echo.slackBodies.length >= 3);
});

// ---- refused before anything is sent ----------------------------------------------------------

test("CR/LF in a configured header value (autoAssign): HEADER_INVALID, nothing sent, the hook resolves", async () => {
  const { outcome, api } = await action({ ...grants().client_credentials, SALESFORCE_AUTO_ASSIGN: "TRUE\r\nX-Evil: 1" });
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error.code, "HEADER_INVALID");
  assert.equal(outcome.error.field, "autoAssign");
  assert.equal(emu.state.requests.length, 0);
  assert.deepEqual(api.calls.setAppMetadata, []);
});

test("a profile over 256 KiB: PROFILE_INVALID, nothing sent, every entry point resolves or rejects cleanly", async () => {
  const huge = { user_metadata: { company: "Acme", bio: "x".repeat(300 * 1024) } };
  const { outcome, api } = await action(grants().client_credentials, huge);
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error.code, "PROFILE_INVALID");
  assert.match(outcome.error.message, /limit is 262144 bytes/);
  assert.deepEqual(api.calls.setAppMetadata, []);

  const event = actionEvent(undefined, huge);
  delete event.secrets;
  const config = { host: "auth0", secrets: grants().client_credentials };
  assert.equal((await rejected("onFirstLogin(huge)", sf.onFirstLogin(event, config))).code, "PROFILE_INVALID");
  assert.equal(thrown("planFirstLogin(huge)", () => sf.planFirstLogin(event, config)).code, "PROFILE_INVALID");
  assert.equal(emu.state.requests.length, 0);
});

// ---- a misbehaving endpoint -------------------------------------------------------------------

/**
 * A login URL + Slack hook that quote requests back in every field they can: the OAuth error,
 * Salesforce error codes and messages, even the "id". `mode` picks the misbehaviour.
 */
async function startEchoServer() {
  const hookToken = `echoHook${crypto.randomBytes(8).toString("hex")}`;
  const accessToken = `00Decho!${crypto.randomBytes(16).toString("hex")}`;
  const state = { mode: "token-error", slackBodies: [] };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const send = (status, value) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(typeof value === "string" ? value : JSON.stringify(value));
      };
      const auth = req.headers.authorization ?? "";
      if (req.url.startsWith("/services/T0/")) {
        state.slackBodies.push(body);
        return send(404, `no_service ${req.url} ${hookToken}`);
      }
      if (req.url === "/services/oauth2/token") {
        if (state.mode === "token-error") return send(400, { error: body, error_description: `${body} ${auth}` });
        return send(200, { access_token: accessToken, instance_url: url, token_type: "Bearer" });
      }
      if (state.mode === "create-echo-id") {
        if (req.url.includes("/query")) return send(200, { totalSize: 1, records: [{ Id: auth }] });
        return send(201, { id: auth, success: true, errors: [] });
      }
      return send(400, [{ errorCode: auth, message: `rejected ${auth} ${body}`, fields: [auth] }]);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return Object.assign(state, {
    url,
    hookToken,
    secrets: [hookToken, accessToken],
    stop: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  });
}
