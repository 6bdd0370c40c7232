// The package entry sends buildLead, planFirstLogin and onFirstLogin to the Auth0 module unless
// the config names another host, and retries on the hosts module when the Auth0 module refuses
// another host's event. Here every host's event, through the package, gives exactly what the
// hosts module (the build every host read before the split) gives when called directly: the same
// value, or the same error. The reference is its own instance of the hosts module, configured
// through its own configure(), so the entry's replay of configure() is checked too.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import { loadPackage, fixture, fixtureText, captureConsole } from "./harness.mjs";
import { useEmulator } from "./use-emulator.mjs";

const require = createRequire(import.meta.url);
const PKG = fileURLToPath(new URL("../../pkg/", import.meta.url));
const HOSTS_GLUE = `${PKG}sf_lead_rule_hosts.js`;

// The reference: loaded first, then dropped from require's cache, so the entry's own require of
// the hosts module makes a second, independent instance.
const ref = require(HOSTS_GLUE);
delete require.cache[HOSTS_GLUE];
const sf = loadPackage();
const auth0 = loadPackage("sf_lead_rule_auth0.js");
const fixtureEmu = useEmulator(sf);
beforeEach(() => ref.clearTokenCache());

/** Every host's sample events, by the host name a config gives. */
const EVENTS = {
  auth0: [fixture("auth0-action-post-login.json"), fixture("auth0-action-returning.json"), fixture("auth0-action-database-user.json")],
  "auth0-rule": [{ user: fixture("auth0-rule-user.json"), context: fixture("auth0-rule-context.json") }],
  ory: [fixture("ory-registration-after.json"), fixture("ory-settings-after.json")],
  firebase: [fixture("firebase-before-user-created.json"), fixture("firebase-before-user-signed-in.json")],
  cognito: [fixture("cognito-post-confirmation.json"), fixture("cognito-post-authentication.json")],
  clerk: [fixture("clerk-user-created.json")],
  okta: [fixture("okta-registration-inline-hook.json"), fixture("okta-user-lifecycle-create.json"), fixture("okta-verification-request.json")],
  generic: [{ user_id: "x|1", email: "plain@example.com", name: "Plain Person" }, { user: { email: "ana@example.com", given_name: "Ana" } }],
};
const ALL_EVENTS = Object.values(EVENTS).flat();

/**
 * The `host` values a config may carry: every host's name, the spellings host_from_name also
 * accepts, and ones it refuses (unknown, not a string).
 */
const HOST_VALUES = [undefined, null, ...Object.keys(EVENTS), "auth0-action", " Firebase ", "OKTA", "Ory\n", "myspace", "", 5, {}];

const SETTINGS = {
  clientId: "routing-client-id",
  clientSecret: "routing-client-secret",
  loginUrl: "https://acme.my.salesforce.com",
  slackWebhookUrl: "https://hooks.slack.com/services/T000/B000/XXXX",
};

/** `f()`'s value, or what it threw: the error's class, message and every own property. */
function result(f) {
  try {
    return { value: f() };
  } catch (e) {
    return { thrown: describe(e) };
  }
}
async function settled(f) {
  try {
    return { value: await f() };
  } catch (e) {
    return { thrown: describe(e) };
  }
}
function describe(e) {
  return e instanceof Error ? { class: e.constructor.name, message: e.message, ...e } : { value: e };
}

/** Both sides of one call: through the package, and on the reference. */
function same(name, args, what) {
  const got = result(() => sf[name](...args));
  const want = result(() => ref[name](...args));
  assert.deepEqual(got, want, `${name} ${what}`);
  return got;
}

test("buildLead and planFirstLogin: every event under every host value gives what the hosts module gives", () => {
  const seen = { value: 0, thrown: 0 };
  for (const host of HOST_VALUES) {
    for (const [i, event] of ALL_EVENTS.entries()) {
      const what = `(host ${JSON.stringify(host)}, event ${i})`;
      for (const r of [
        same("buildLead", [event, { host }], what),
        same("buildLead", [event.user ?? event, { host, mapping: "auth0-template" }], what),
        same("planFirstLogin", [event, { host, ...SETTINGS }], what),
      ]) {
        seen["value" in r ? "value" : "thrown"] += 1;
      }
    }
  }
  // Both kinds of answer were compared, many of each.
  assert.ok(seen.value > 100 && seen.thrown > 100, JSON.stringify(seen));
});

test("every host's events are read by the right module: the Auth0 module for Auth0 and generic ones", () => {
  // The Auth0 module alone reads its own hosts as the reference does, and refuses the others
  // with the error the entry recognises (if the wording changes, the entry must follow).
  for (const [host, events] of Object.entries(EVENTS)) {
    for (const event of events) {
      const got = result(() => auth0.planFirstLogin(event, { host, ...SETTINGS }));
      const want = result(() => ref.planFirstLogin(event, { host, ...SETTINGS }));
      if (["auth0", "auth0-rule", "generic"].includes(host)) {
        assert.deepEqual(got, want, host);
      } else {
        assert.equal(got.thrown?.code, "CONFIG_INVALID", host);
        assert.equal(got.thrown.field, "host", host);
        assert.ok(got.thrown.message.startsWith("this build reads Auth0 and generic events only;"), got.thrown.message);
      }
    }
  }
});

test("a config whose host shows only once serialised (toJSON, getter) still reaches the hosts module", () => {
  const event = fixture("firebase-before-user-created.json");
  const configs = [
    { toJSON: () => ({ host: "firebase", ...SETTINGS }) },
    Object.defineProperty({ ...SETTINGS }, "host", { get: () => "firebase", enumerable: true }),
    new Proxy({ ...SETTINGS, host: "firebase" }, {}),
    Object.assign(Object.create({ host: "generic" }), { host: "firebase" }, SETTINGS),
    { toJSON: () => ({ host: "generic", ...SETTINGS }), host: "firebase" }, // the other way round
    Object.defineProperty({ ...SETTINGS }, "host", { get: () => { throw new Error("no host"); }, enumerable: true }),
  ];
  for (const [i, config] of configs.entries()) {
    const r = same("planFirstLogin", [event, config], `config ${i}`);
    assert.ok(i >= 4 ? r.thrown : r.value?.action === "create", `config ${i}: ${JSON.stringify(r)}`);
    same("buildLead", [event, config], `config ${i}`);
  }
});

test("configure() settings reach the hosts module, loaded later or already loaded; a refused one changes neither", () => {
  const event = fixture("cognito-post-confirmation.json");
  const mapping = { LastName: "family_name ?? 'Unknown'", Company: "user_metadata.company ?? 'Configured'" };
  try {
    for (const m of [sf, ref]) m.configure({ mapping, object: "Contact" });
    same("buildLead", [event, { host: "cognito" }], "configured");
    same("planFirstLogin", [event, { host: "cognito", ...SETTINGS }], "configured");
    for (const m of [sf, ref]) assert.throws(() => m.configure({ mapping: { LastName: "name |" } }), { code: "MAPPING_INVALID" });
    same("buildLead", [event, { host: "cognito" }], "after a refused configure()");
    for (const m of [sf, ref]) m.configure({ mapping: "auth0-template" });
    same("buildLead", [event, { host: "cognito" }], "configured again");
    same("buildLead", [fixture("auth0-action-post-login.json"), { host: "auth0" }], "Auth0, configured again");
  } finally {
    for (const m of [sf, ref]) m.configure({});
  }
});

/** Lead and contact ids the emulator made up, and the URLs with them, as `<id>`. */
function withoutIds(v) {
  return JSON.parse(JSON.stringify(v).replace(/\b00[QR3][A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?\b/g, "<id>"));
}

/** `f()`'s outcome, its log lines, and what the emulator (reset first) was sent meanwhile. */
async function run(emu, f) {
  emu.reset({ sessions: true });
  const { result: r, lines } = await captureConsole(() => settled(f));
  const requests = emu.state.requests.map(({ method, path, body }) => ({ method, path, body }));
  return withoutIds({ result: r, lines, requests, slack: emu.state.slackMessages });
}

test("onFirstLogin and the hosts-only exports: the same outcome and the same requests for every host's event", async () => {
  const emu = fixtureEmu.emu;
  const secrets = {
    SALESFORCE_CLIENT_ID: "emu-client-id",
    SALESFORCE_CLIENT_SECRET: "emu-client-secret",
    SALESFORCE_LOGIN_URL: emu.url,
    SLACK_WEBHOOK_URL: emu.slackWebhookUrl,
  };
  const both = async (name, args, what) => {
    sf.clearTokenCache();
    const got = await run(emu, () => sf[name](...args));
    ref.clearTokenCache();
    const want = await run(emu, () => ref[name](...args));
    assert.deepEqual(got, want, `${name} ${what}`);
    return got;
  };
  let created = 0;
  for (const host of [...Object.keys(EVENTS), "myspace"]) {
    for (const [i, event] of [...(EVENTS[host] ?? []), fixture("firebase-before-user-created.json")].entries()) {
      const r = await both("onFirstLogin", [event, { host, secrets }], `(${host}, event ${i})`);
      if (r.result.value?.status === "created") created += 1;
    }
  }
  assert.ok(created >= 8, `${created} Leads created`);
  // The exports only the hosts module has pass straight through.
  await both("onFirebaseAuthEvent", [fixture("firebase-before-user-created.json"), { secrets }], "");
  await both("onCognitoTrigger", [fixture("cognito-post-confirmation.json"), { secrets }], "");
  const body = fixtureText("ory-registration-after.json");
  await both("handleWebhook", ["ory", { method: "POST", headers: { "content-type": "application/json" }, body }, { secrets }], "");
  await both("handleWebhook", ["myspace", { method: "POST", headers: {}, body }, { secrets }], "(unknown host)");
});

test("a hosts module that cannot be loaded: sync exports throw, async ones reject, and the Auth0 module still works", () => {
  // A fresh process in which reading the hosts wasm fails.
  const script = `
    const fs = require("fs");
    const readFileSync = fs.readFileSync;
    fs.readFileSync = function (p, ...rest) {
      if (String(p).endsWith("sf_lead_rule_hosts_bg.wasm")) throw Object.assign(new Error("unreadable"), { code: "EACCES" });
      return readFileSync.call(this, p, ...rest);
    };
    const sf = require(${JSON.stringify(`${PKG}sf_lead_rule.js`)});
    const out = {};
    const event = { uid: "u1", email: "a@example.com" };
    const settings = ${JSON.stringify(SETTINGS)};
    try { sf.buildLead(event, { host: "firebase" }); } catch (e) { out.buildLead = e.code; }
    try { sf.planFirstLogin(event, { toJSON: () => ({ host: "firebase", ...settings }) }); } catch (e) { out.planFirstLogin = e.code; }
    const promises = {
      onFirstLogin: sf.onFirstLogin(event, { host: "firebase" }),
      onFirstLoginRetried: sf.onFirstLogin(event, { toJSON: () => ({ host: "firebase", ...settings }) }),
      onFirebaseAuthEvent: sf.onFirebaseAuthEvent(event, {}),
      onCognitoTrigger: sf.onCognitoTrigger(event, {}),
      handleWebhook: sf.handleWebhook("ory", { method: "POST", headers: {}, body: "{}" }, {}),
    };
    out.lead = sf.buildLead({ user_id: "auth0|1", name: "Ana Pereira" });
    Promise.all(Object.entries(promises).map(([k, p]) => p.then(() => [k, "resolved"], (e) => [k, e.code]))).then((r) => {
      Object.assign(out, Object.fromEntries(r));
      process.stdout.write(JSON.stringify(out));
    });
  `;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out, {
    buildLead: "EACCES",
    planFirstLogin: "EACCES",
    onFirstLogin: "EACCES",
    onFirstLoginRetried: "EACCES",
    onFirebaseAuthEvent: "EACCES",
    onCognitoTrigger: "EACCES",
    handleWebhook: "EACCES",
    lead: { FirstName: "Ana", LastName: "Pereira", Company: "Web channel signups", LeadSource: "Web" },
  });
});
