// Shared pieces of the Node test harness: the built package, fixtures, Auth0-shaped `api`
// objects that record what the rule did, and a scanner that proves no secret leaked.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const root = new URL("../../", import.meta.url);

/** The built npm package (pkg/), loaded the way a host's `require("sf-lead-rule")` does. */
export function loadPackage(file = "sf_lead_rule.js") {
  return require(new URL(`pkg/${file}`, root).pathname);
}

export function fixture(name) {
  return JSON.parse(readFileSync(new URL(`tests/fixtures/${name}`, root), "utf8"));
}

export function fixtureText(name) {
  return readFileSync(new URL(`tests/fixtures/${name}`, root), "utf8");
}

/** Auth0 Actions `api` with a working `api.cache` and a record of every call. */
export function auth0Api() {
  const calls = { setAppMetadata: [], cacheSet: [] };
  const store = new Map();
  return {
    calls,
    store,
    user: {
      setAppMetadata(key, value) {
        calls.setAppMetadata.push([key, value]);
      },
    },
    cache: {
      get(key) {
        const e = store.get(key);
        return e && e.value !== "" ? { value: e.value, expires_at: e.expires_at } : undefined;
      },
      set(key, value, opts) {
        calls.cacheSet.push([key, opts]);
        store.set(key, { value, expires_at: Date.now() + (opts?.ttl ?? 900000) });
        return { type: "success" };
      },
    },
  };
}

/** Secrets pointing at the emulator, in the names the Auth0 Action reads. */
export function emulatorSecrets(emu, extra = {}) {
  return {
    SALESFORCE_CLIENT_ID: "emu-client-id",
    SALESFORCE_CLIENT_SECRET: "emu-client-secret",
    SALESFORCE_LOGIN_URL: emu.url,
    SLACK_WEBHOOK_URL: emu.slackWebhookUrl,
    ...extra,
  };
}

/** The Auth0 post-login fixture with these `secrets` and `user` fields merged into its user. */
export function auth0Event(secrets, user = {}) {
  const event = fixture("auth0-action-post-login.json");
  event.secrets = secrets;
  Object.assign(event.user, user);
  return event;
}

/** One sample event of every host, by the host name a config gives (fresh objects each call). */
export function hostEvents() {
  return {
    auth0: fixture("auth0-action-post-login.json"),
    "auth0-rule": { user: fixture("auth0-rule-user.json"), context: fixture("auth0-rule-context.json") },
    ory: fixture("ory-registration-after.json"),
    firebase: fixture("firebase-before-user-created.json"),
    cognito: fixture("cognito-post-confirmation.json"),
    clerk: fixture("clerk-user-created.json"),
    okta: fixture("okta-registration-inline-hook.json"),
    "auth0-events": fixture("auth0-events-user-created.json"),
    authentik: fixture("authentik-notification-mapped.json"),
    generic: { user_id: "x|1", email: "plain@example.com", family_name: "Person" },
  };
}

/** Every configured secret value the suite uses: none may appear in anything the rule produced. */
export const SECRET_VALUES = ["emu-client-secret", "emu-password", "emu-refresh-token", "emuSlackHook", "00D5e000000emu"];

/** Throw if `text` (or JSON of a value) contains a secret or an issued access token. */
export function assertNoSecrets(value, extraSecrets = []) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  for (const s of [...SECRET_VALUES, ...extraSecrets]) {
    if (s && text.includes(s)) throw new Error(`secret leaked: ${s} found in ${text.slice(0, 300)}`);
  }
}

/** Capture console output while `fn` runs (the rule logs one line per login). */
export async function captureConsole(fn) {
  const lines = [];
  const orig = { log: console.log, error: console.error, warn: console.warn };
  for (const k of Object.keys(orig)) console[k] = (...a) => lines.push(a.join(" "));
  try {
    return { result: await fn(), lines };
  } finally {
    Object.assign(console, orig);
  }
}

/**
 * Collects everything the rule produced in a test file — outcomes, plans, thrown errors, console
 * lines, Slack messages — and every secret that was in play (configured ones, the emulator's
 * private key and every access token it issued), then proves none of the secrets appears anywhere.
 */
export function leakScanner() {
  const items = [];
  const secrets = new Set(SECRET_VALUES);
  const original = { log: console.log, error: console.error, warn: console.warn, info: console.info };
  const scanner = {
    items,
    secrets,
    /** Remember something the rule produced (`label` names it in a failure). */
    add(label, value) {
      let text;
      if (typeof value === "string") text = value;
      else if (value instanceof Error) text = `${value.name}: ${value.message} ${JSON.stringify({ ...value, message: value.message })}`;
      else text = JSON.stringify(value) ?? String(value);
      items.push([label, text]);
      return value;
    },
    /** Add secret values; a PEM key counts whole and line by line (its base64 body). */
    secret(...values) {
      for (const v of values.flat()) {
        if (typeof v !== "string" || v.length < 4) continue;
        secrets.add(v);
        if (v.includes("-----BEGIN")) {
          // Real newlines, or the literal "\n" a secret store may have flattened them to.
          const body = v.split(/\r?\n|\\n/).filter((l) => l && !l.startsWith("-----"));
          for (const line of body) if (line.length >= 16) secrets.add(line);
          if (body.join("").length >= 16) secrets.add(body.join(""));
        }
      }
    },
    /** Take the emulator's issued tokens, private key and Slack messages (call before `reset`). */
    fromEmulator(emu) {
      scanner.secret(emu.state.tokensIssued.map((t) => t.access_token), emu.privateKeyPem ?? []);
      for (const m of emu.state.slackMessages) scanner.add("slack message", m);
    },
    /** Route console output into the scan (the rule logs one line per login). */
    captureConsole() {
      for (const k of Object.keys(original)) console[k] = (...a) => scanner.add(`console.${k}`, a.map(String).join(" "));
    },
    restoreConsole() {
      Object.assign(console, original);
    },
    /** Throw on the first secret found in anything collected. */
    check() {
      for (const [label, text] of items) {
        for (const s of secrets) {
          if (text.includes(s)) throw new Error(`secret leaked into ${label}: …${s.slice(0, 6)}… found in ${text.slice(0, 200)}`);
        }
      }
      return items.length;
    },
  };
  return scanner;
}

/** Record every URL the rule fetches (the wasm driver calls the global `fetch` at call time). */
export function spyFetch() {
  const urls = [];
  const real = globalThis.fetch;
  globalThis.fetch = function (input, init) {
    urls.push(typeof input === "string" ? input : input.url);
    return real.call(this, input, init);
  };
  return { urls, restore: () => { globalThis.fetch = real; } };
}

/** Run `fn`, returning its result and how long it took (performance.now()). */
export async function timed(fn) {
  const start = performance.now();
  const result = await fn();
  return { result, ms: performance.now() - start };
}

/** A loopback port nothing listens on (bound, then closed). */
export async function closedPort() {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

