/* @ts-self-types="./sf_lead_rule.d.ts" */
// The package entry (`require("sf-lead-rule")`). Hand-written, not generated: scripts/build.sh
// puts the three wasm modules it uses next to it.
//
// - sf_lead_rule_auth0.js + sf_lead_rule_auth0_bg.wasm: Auth0 (Actions, Rules) and generic events,
//   the helpers and configure(); the single file's build. Loaded (and instantiated) here, at
//   require time.
// - sf_lead_rule_hosts.js + sf_lead_rule_hosts_bg.wasm: every host (Ory, Firebase, Cognito, Clerk,
//   Okta too) and handleWebhook. Loaded the first time an export only it has is called, or
//   buildLead/planFirstLogin/onFirstLogin are given another host's event.
// - sf_lead_rule_batch.js + sf_lead_rule_batch_bg.wasm: the full build, with the batch backfill
//   (createLeads). Loaded only when createLeads is first called.
// So an Auth0 or generic login host never reads or instantiates the other two.
//
// The hosts module runs the same code as the Auth0 one plus the other hosts' readers: for Auth0
// and generic events both give the same results, so sending a call to the hosts module is never
// wrong, only slower the first time. The Auth0 module refuses another host's event with
// CONFIG_INVALID before reading or sending anything else (the event is read after the settings,
// and nothing is sent before it is read), so such a call is simply made again on the hosts module.
//
// Each wasm module has its own memory, so module-wide state is forwarded: the last accepted
// configure() settings are replayed on a module when it loads (and later calls go to all loaded
// ones), and clearTokenCache() clears every loaded module's token cache. Tokens themselves are
// not shared: each module gets (and caches) its own.
'use strict';

const auth0 = require('./sf_lead_rule_auth0.js');

// The configure() settings in effect, as the JSON text the wasm read them as (it reads every JS
// value through JSON.stringify), so a replay sees exactly what the Auth0 module saw then, even
// if the object (e.g. process.env) changed since. `undefined`: configure() was never called.
let configuredJson;
// The lazily loaded modules, by file; null until loaded.
const lazy = { './sf_lead_rule_hosts.js': null, './sf_lead_rule_batch.js': null };

function load(file) {
  if (lazy[file] === null) {
    const m = require(file);
    if (configuredJson !== undefined) m.configure(JSON.parse(configuredJson));
    lazy[file] = m;
  }
  return lazy[file];
}
const loadHosts = () => load('./sf_lead_rule_hosts.js');
const loadBatch = () => load('./sf_lead_rule_batch.js');
const loaded = () => Object.values(lazy).filter((m) => m !== null);

Object.assign(exports, auth0);

/**
 * Settings every host entry point starts from (mapping, object, login URL…), createLeads
 * included. Secrets may be given here too, though host secret stores are the better place.
 * Throws on invalid settings (and then changes nothing).
 */
exports.configure = function configure(config) {
  auth0.configure(config);
  // Accepted, so it is JSON-serialisable; what reads as JSON null (no argument, a function)
  // means no settings, like `{}`.
  configuredJson = JSON.stringify(config ?? {}) ?? '{}';
  for (const m of loaded()) m.configure(JSON.parse(configuredJson));
};

/** Forget cached Salesforce tokens held in module memory (of every loaded wasm module). */
exports.clearTokenCache = function clearTokenCache() {
  auth0.clearTokenCache();
  for (const m of loaded()) m.clearTokenCache();
};

/**
 * `load()` a module and call its async export `name`; a failure to load the module rejects the
 * returned Promise (an async export never throws).
 */
function callAsync(load, name, args) {
  let m;
  try {
    m = load();
  } catch (e) {
    return Promise.reject(e);
  }
  return m[name](...args);
}

// ----- exports only the hosts module has: it is loaded on the first call ---------------------

/** Firebase blocking function handler (see the .d.ts). */
exports.onFirebaseAuthEvent = function onFirebaseAuthEvent(event, config) {
  return callAsync(loadHosts, 'onFirebaseAuthEvent', [event, config]);
};

/** Cognito Lambda trigger handler (see the .d.ts). */
exports.onCognitoTrigger = function onCognitoTrigger(event, config) {
  return callAsync(loadHosts, 'onCognitoTrigger', [event, config]);
};

/** Ory, Clerk and Okta web hooks (see the .d.ts). */
exports.handleWebhook = function handleWebhook(host, request, config) {
  return callAsync(loadHosts, 'handleWebhook', [host, request, config]);
};

// ----- exports that read `config.host`: the Auth0 module unless the host is another one ------

// The host names that only the hosts module reads (`host_from_name` in src/core/profile.rs also
// ignores ASCII case and surrounding spaces). A config whose `host` reads differently once
// serialised (a toJSON, a getter) still gets the right module: see retriesOnHosts.
const OTHER_HOSTS = new Set(['ory', 'firebase', 'cognito', 'clerk', 'okta']);

/**
 * Whether `config` names a host only the hosts module reads, as far as a plain read tells. A
 * `host` getter that throws is left to the wasm, which reports it as it always did.
 */
function namesOtherHost(config) {
  try {
    const host = config !== null && typeof config === 'object' ? config.host : undefined;
    return typeof host === 'string' && OTHER_HOSTS.has(host.trim().toLowerCase());
  } catch {
    return false;
  }
}

/**
 * Whether `e` is the Auth0 module refusing another host's event ("this build reads Auth0 and
 * generic events only; <host> needs the npm package", src/core/profile.rs `normalise`). It
 * throws it before sending anything, so the call can be made again on the hosts module.
 */
function retriesOnHosts(e) {
  return (
    e instanceof Error &&
    e.code === 'CONFIG_INVALID' &&
    e.field === 'host' &&
    e.message.startsWith('this build reads Auth0 and generic events only;')
  );
}

/**
 * Call the synchronous export `name` with `(input, config)` on the module that reads
 * `config`'s host: the hosts module when it names another host or the Auth0 module refuses it.
 */
function callSync(name, input, config) {
  if (namesOtherHost(config)) return loadHosts()[name](input, config);
  try {
    return auth0[name](input, config);
  } catch (e) {
    if (retriesOnHosts(e)) return loadHosts()[name](input, config);
    throw e;
  }
}

/** Build the Lead (or Contact) body for a profile: pure and synchronous (see the .d.ts). */
exports.buildLead = function buildLead(profile, config) {
  return callSync('buildLead', profile, config);
};

/** What a first login would do, without sending anything (see the .d.ts). Synchronous. */
exports.planFirstLogin = function planFirstLogin(event, config) {
  return callSync('planFirstLogin', event, config);
};

/** Run a first login: token, create, Slack (see the .d.ts). */
exports.onFirstLogin = function onFirstLogin(event, config) {
  if (namesOtherHost(config)) return callAsync(loadHosts, 'onFirstLogin', [event, config]);
  return auth0.onFirstLogin(event, config).catch((e) => {
    if (retriesOnHosts(e)) return loadHosts().onFirstLogin(event, config);
    throw e;
  });
};

// ----- the backfill ----------------------------------------------------------------------------

/**
 * Create Leads (or Contacts) for many existing users (see the .d.ts). The first call loads the
 * backfill module; if that fails, the returned Promise rejects with the error.
 */
exports.createLeads = function createLeads(profiles, config, options) {
  return callAsync(loadBatch, 'createLeads', [profiles, config, options]);
};
