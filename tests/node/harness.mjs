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
