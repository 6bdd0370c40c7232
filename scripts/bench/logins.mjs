// Child process of scripts/bench.mjs: runs COUNT first logins through the package's Auth0 Action
// entry point (`onExecutePostLogin`, a unique user each, one shared `api.cache` like Auth0's)
// against an emulator started by the parent, in concurrent batches, and reports its own memory at
// checkpoints over IPC. Started with --expose-gc so heap figures are taken after a full GC.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const root = new URL("../../", import.meta.url);
const sf = require(new URL("pkg/sf_lead_rule.js", root).pathname);
const fixture = readFileSync(new URL("tests/fixtures/auth0-action-post-login.json", root), "utf8");

const { url, slackWebhookUrl, count, concurrency, every } = JSON.parse(process.argv[2]);
const secrets = {
  SALESFORCE_CLIENT_ID: "emu-client-id",
  SALESFORCE_CLIENT_SECRET: "emu-client-secret",
  SALESFORCE_LOGIN_URL: url,
  SLACK_WEBHOOK_URL: slackWebhookUrl,
};

// One log line per login is what the rule writes; a host collects it, here it goes nowhere.
console.log = () => {};

// Auth0's api.cache outlives an execution; api.user is per execution.
const cacheStore = new Map();
const cache = {
  get: (k) => cacheStore.get(k),
  set: (k, value, opts) => {
    cacheStore.set(k, { value, expires_at: Date.now() + (opts?.ttl ?? 900000) });
    return { type: "success" };
  },
};

function eventFor(i) {
  const event = JSON.parse(fixture);
  event.user.user_id = `auth0|bench${String(i).padStart(8, "0")}`;
  event.user.email = `user${i}@bench.example.com`;
  event.user.given_name = `Given${i}`;
  event.user.family_name = `Family${i}`;
  event.user.name = `Given${i} Family${i}`;
  event.secrets = secrets;
  return event;
}

async function login(i) {
  let marked = 0;
  const api = { cache, user: { setAppMetadata: () => { marked += 1; } } };
  const outcome = await sf.onExecutePostLogin(eventFor(i), api);
  return outcome.status === "created" && outcome.slack?.status === "sent" && marked === 2;
}

function snapshot(done) {
  globalThis.gc();
  const m = process.memoryUsage();
  return { logins: done, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

const t0 = process.hrtime.bigint();
const checkpoints = [snapshot(0)];
let ok = 0;
let done = 0;
while (done < count) {
  const n = Math.min(concurrency, count - done);
  const results = await Promise.all(Array.from({ length: n }, (_, k) => login(done + k)));
  ok += results.filter(Boolean).length;
  done += n;
  if (done % every === 0 || done === count) checkpoints.push(snapshot(done));
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
process.send({ count, concurrency, ok, seconds, checkpoints, maxRSS: process.resourceUsage().maxRSS * 1024 }, () => process.exit(0));
