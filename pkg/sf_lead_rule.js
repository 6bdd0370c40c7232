/* @ts-self-types="./sf_lead_rule.d.ts" */
// The package entry (`require("sf-lead-rule")`). Hand-written, not generated: scripts/build.sh
// puts the two wasm modules it uses next to it.
//
// - sf_lead_rule_login.js + sf_lead_rule_login_bg.wasm: every first-login entry point,
//   handleWebhook and the helpers. Loaded (and instantiated) here, at require time.
// - sf_lead_rule_batch.js + sf_lead_rule_batch_bg.wasm: the full build, with the batch backfill
//   (createLeads). Loaded only when a batch export is first called, so a login host never reads
//   or instantiates it.
//
// Each wasm module has its own memory, so module-wide state is forwarded: the last accepted
// configure() settings are replayed on the backfill module when it loads (and later calls go to
// both), and clearTokenCache() clears both modules' token caches. Tokens themselves are not shared:
// createLeads and the first-login functions each get (and cache) their own.
'use strict';

const login = require('./sf_lead_rule_login.js');

let batch = null;
// The configure() settings in effect, as the JSON text the wasm read them as (it reads every JS
// value through JSON.stringify), so a replay sees exactly what the login module saw then, even
// if the object (e.g. process.env) changed since. `undefined`: configure() was never called.
let configuredJson;

function loadBatch() {
  if (batch === null) {
    const m = require('./sf_lead_rule_batch.js');
    if (configuredJson !== undefined) m.configure(JSON.parse(configuredJson));
    batch = m;
  }
  return batch;
}

Object.assign(exports, login);

/**
 * Settings every host entry point starts from (mapping, object, login URL…), createLeads
 * included. Secrets may be given here too, though host secret stores are the better place.
 * Throws on invalid settings (and then changes nothing).
 */
exports.configure = function configure(config) {
  login.configure(config);
  // Accepted, so it is JSON-serialisable; what reads as JSON null (no argument, a function)
  // means no settings, like `{}`.
  configuredJson = JSON.stringify(config ?? {}) ?? '{}';
  if (batch !== null) batch.configure(JSON.parse(configuredJson));
};

/** Forget cached Salesforce tokens held in module memory (of both wasm modules). */
exports.clearTokenCache = function clearTokenCache() {
  login.clearTokenCache();
  if (batch !== null) batch.clearTokenCache();
};

/**
 * Create Leads (or Contacts) for many existing users (see the .d.ts). The first call loads the
 * backfill module; if that fails, the returned Promise rejects with the error.
 */
exports.createLeads = function createLeads(profiles, config, options) {
  let m;
  try {
    m = loadBatch();
  } catch (e) {
    return Promise.reject(e);
  }
  return m.createLeads(profiles, config, options);
};
