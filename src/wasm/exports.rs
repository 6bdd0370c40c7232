//! The JS API for any host: `buildLead`, `planFirstLogin`, `onFirstLogin`, `configure` and helpers.
//! Each export converts its arguments, calls the core (or the driver) and converts the result.

use crate::core::config::{base_settings, merge_secrets, settings_over, Config, ParseCache};
use crate::core::error::RuleError;
use crate::core::mapping::Mapping;
use crate::core::profile::MAX_PROFILE_BYTES;
use crate::core::profile::{first_user, Host, HostEvent};
use crate::core::record::{build_record, SObject};
use crate::wasm::bindings::{
    events_from_js, json_text_from_js, object_from_js, object_from_text, object_text_from_js, promise, to_js,
    to_js_error, JS_CASE,
};
use crate::wasm::driver;
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::thread::LocalKey;
use wasm_bindgen::prelude::*;

thread_local! {
    /// Set by `configure()`: the settings host entry points lay their secrets over.
    static BASE_CONFIG: RefCell<Map<String, Value>> = RefCell::new(Map::new());
    /// The last merged settings and the `Config` they gave (a host repeats them on every login).
    static CONFIG_CACHE: RefCell<ParseCache<Config>> = const { RefCell::new(ParseCache::new()) };
    /// Bumped by every accepted `configure()`: config arguments read before it are stale.
    static BASE_GENERATION: Cell<u32> = const { Cell::new(0) };
    /// `planFirstLogin`/`onFirstLogin`: the last config argument and the host and settings it gave.
    static CONFIG_ARG: RefCell<ArgCache<(Host, Config)>> = const { RefCell::new(ArgCache::new()) };
    /// `buildLead`: the same, for the host, object and mapping.
    static MAPPING_ARG: RefCell<ArgCache<(Host, SObject, Rc<Mapping>)>> = const { RefCell::new(ArgCache::new()) };
}

/// `Config::parse_with_case`, skipped when the settings are the same as last time.
pub fn parse_config(cfg: &Map<String, Value>) -> Result<Config, RuleError> {
    CONFIG_CACHE.with(|c| c.borrow_mut().get_or_parse(cfg, |cfg| Config::parse_with_case(cfg, JS_CASE)))
}

/// The last config argument, as its JSON text and the `configure()` generation it was read
/// under, and what it gave. A host passes the same settings on every call, so a warm call skips
/// reading, merging and parsing them again: reading the text costs a `JSON.stringify`, the rest
/// a string comparison. Any change of any value, or a new `configure()`, is a miss; only
/// successes are kept. The text holds secrets in the clear, so nothing here is ever shown.
struct ArgCache<T> {
    last: Option<(ArgKey, T)>,
}

type ArgKey = (u32, Option<String>);

impl<T: Clone> ArgCache<T> {
    const fn new() -> Self {
        ArgCache { last: None }
    }
    fn get(&self, key: &ArgKey) -> Option<T> {
        self.last.as_ref().filter(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
}

/// A JS config argument's cache key: its JSON text and the `configure()` generation.
fn arg_key(config: &JsValue) -> Result<ArgKey, RuleError> {
    Ok((BASE_GENERATION.with(Cell::get), object_text_from_js(config, "config")?))
}

/// `make(host, settings)` for a JS config argument (see [`load_config`]), or a copy of what it
/// gave for the same argument last time.
fn cached_arg<T: Clone>(
    cache: &'static LocalKey<RefCell<ArgCache<T>>>,
    config: &JsValue,
    make: fn(Host, Map<String, Value>) -> Result<T, RuleError>,
) -> Result<T, RuleError> {
    let key = arg_key(config)?;
    if let Some(hit) = cache.with(|c| c.borrow().get(&key)) {
        return Ok(hit);
    }
    let (host, cfg) = settings_from(object_from_text(key.1.as_deref(), "config")?)?;
    let made = make(host, cfg)?;
    cache.with(|c| c.borrow_mut().last = Some((key, made.clone())));
    Ok(made)
}

/// The host and `Config` of a JS config argument, cached.
fn config_arg(config: &JsValue) -> Result<(Host, Config), RuleError> {
    cached_arg(&CONFIG_ARG, config, |host, cfg| Ok((host, Config::parse_with_case(&cfg, JS_CASE)?)))
}

/// The host, object and mapping of a JS config argument, cached.
fn mapping_arg(config: &JsValue) -> Result<(Host, SObject, Rc<Mapping>), RuleError> {
    cached_arg(&MAPPING_ARG, config, |host, cfg| {
        let (object, mapping) = Config::parse_mapping_only(&cfg, JS_CASE)?;
        Ok((host, object, Rc::new(mapping)))
    })
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A Salesforce record body: field API name → value, in mapping order. */
export type Lead = Record<string, string>;
/** Mapping: Salesforce field → expression (see README "Mapping language"), or a preset name. */
export type MappingSource = Record<string, string> | "recommended" | "auth0-template";
/** A Cognito Lambda trigger event as AWS passes it (e.g. `PostConfirmation_ConfirmSignUp`). */
export interface CognitoTriggerEvent {
  version: string;
  region: string;
  userPoolId: string;
  userName: string;
  callerContext: { awsSdkVersion: string; clientId: string };
  triggerSource: string;
  request: { userAttributes: Record<string, string>; clientMetadata?: Record<string, string> };
  response: Record<string, unknown>;
}
export type HostName = "auth0" | "auth0-action" | "auth0-rule" | "ory" | "firebase" | "cognito" | "clerk" | "okta" | "auth0-events" | "authentik" | "generic";
export interface Config {
  object?: "Lead" | "Contact";
  mapping?: MappingSource;
  /** Which host's event shape `event` has; default "generic" (a profile or an Auth0-style `{user}`). */
  host?: HostName;
  /** Host secrets by their environment names (`SALESFORCE_CLIENT_ID`, …), e.g. `process.env`. */
  secrets?: Record<string, string | undefined>;
  /** Clerk's Svix secret (`whsec_…`), Auth0 Event Streams' bearer token or `user:password`, or the Authorization header value Ory/Okta/authentik hooks must send. */
  webhookSecret?: string;
  /** Okta profile attribute a registration inline hook answer sets to the Lead id (default "salesforceLeadId"); false: none. */
  oktaLeadIdAttribute?: string | false;
  loginUrl?: string;
  apiVersion?: string;
  grant?: "password" | "client_credentials" | "jwt_bearer" | "refresh_token" | "access_token";
  clientId?: string;
  clientSecret?: string;
  username?: string;
  password?: string;
  securityToken?: string;
  privateKey?: string;
  refreshToken?: string;
  accessToken?: string;
  instanceUrl?: string;
  slackWebhookUrl?: string;
  externalIdField?: string;
  externalIdSource?: string;
  dedupeByEmail?: boolean;
  recreateDeleted?: boolean;
  autoAssign?: string;
  deadlineMs?: number;
  requestTimeoutMs?: number;
  maxRetries?: number;
  tokenTtlMs?: number;
  allowedInstanceHosts?: string[] | string;
  notifyOnSuccess?: boolean;
  notifyOnFailure?: boolean;
  /** createLeads in "auto" mode: above this many records use a Bulk API 2.0 job (default 50000). */
  bulkThreshold?: number;
  /** Volume mode for long-running webhook servers: creates wait up to this long to share one sObject Collections request (0 = off). */
  batchWindowMs?: number;
}
/** The stable error codes (`err.code`, `error.code`); a code is never renamed, only added. */
export type ErrorCode =
  "CONFIG_INVALID"
  | "CONFIG_MISSING"
  | "MAPPING_INVALID"
  | "INSECURE_URL"
  | "INSTANCE_URL_NOT_ALLOWED"
  | "HEADER_INVALID"
  | "PROFILE_INVALID"
  | "SIGNATURE_INVALID"
  | "MISSING_REQUIRED_FIELD"
  | "TOKEN_REJECTED"
  | "SESSION_EXPIRED"
  | "SALESFORCE_REJECTED"
  | "RATE_LIMITED"
  | "SALESFORCE_UNAVAILABLE"
  | "RESPONSE_INVALID"
  | "NETWORK_ERROR"
  | "DEADLINE_EXCEEDED"
  | "AMBIGUOUS_MATCH"
  | "SLACK_FAILED"
  | "OUTCOME_UNKNOWN"
  | "REDIRECT_REFUSED";
export interface RuleErrorInfo {
  code: ErrorCode;
  message: string;
  field?: string;
  position?: number;
  remoteCode?: string;
  status?: number;
}
export interface Warning { code: "TRUNCATED" | "INVALID_EMAIL_DROPPED"; field: string; message: string; }
export interface PlannedRequest {
  purpose: "token" | "findExisting" | "checkExisting" | "createRecord" | "upsertRecord" | "createCollection" | "notifySlack" | "bulkJob";
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}
export interface Plan {
  action: "create" | "skip" | "fail";
  reason: string;
  lead: Lead | null;
  warnings: Warning[];
  requests: PlannedRequest[];
  slackPreview: { text: string } | null;
}
export interface Outcome {
  status: "created" | "duplicate" | "skipped" | "failed";
  reason: string;
  object: "Lead" | "Contact";
  leadId?: string;
  recordUrl?: string;
  record?: Lead;
  warnings: Warning[];
  error?: RuleErrorInfo;
  slack: { status: "sent" | "failed" | "not_configured" | "not_needed"; error?: RuleErrorInfo };
  token: "cached" | "new" | "config" | "none";
  requests: number;
}
"#;

/// A JS config argument → the host it names and the settings: `configure()` values, then the
/// object's own keys, then its `secrets` (e.g. `process.env`: `SALESFORCE_CLIENT_ID`, …) on top.
pub fn load_config(config: &JsValue) -> Result<(Host, Map<String, Value>), RuleError> {
    settings_from(object_from_js(config, "config")?)
}

/// [`load_config`] for the argument as read.
fn settings_from(cfg: Map<String, Value>) -> Result<(Host, Map<String, Value>), RuleError> {
    BASE_CONFIG.with(|b| settings_over(&b.borrow(), cfg))
}

/// The base config with host secrets (`SALESFORCE_CLIENT_ID`, …) laid over it.
pub fn with_secrets(secrets: &Map<String, Value>) -> Map<String, Value> {
    BASE_CONFIG.with(|b| merge_secrets(&b.borrow(), secrets))
}

fn first_event(host: Host, event: &JsValue) -> Result<HostEvent, RuleError> {
    first_user(events_from_js(host, event)?)
}

/// Settings every host entry point starts from (mapping, object, login URL…). Secrets may be
/// given here too, though host secret stores are the better place. Throws on invalid settings.
#[wasm_bindgen]
pub fn configure(#[wasm_bindgen(unchecked_param_type = "Config")] config: JsValue) -> Result<(), JsValue> {
    let checked =
        object_from_js(&config, "config").and_then(|cfg| base_settings(cfg, JS_CASE)).map_err(|e| to_js_error(&e))?;
    BASE_CONFIG.with(|b| *b.borrow_mut() = checked);
    BASE_GENERATION.with(|g| g.set(g.get().wrapping_add(1)));
    Ok(())
}

/// Build the Lead (or Contact) body for a profile: pure and synchronous. Throws `MAPPING_INVALID`
/// (with `field` and `position`), `MISSING_REQUIRED_FIELD` or `PROFILE_INVALID`.
#[wasm_bindgen(js_name = buildLead, unchecked_return_type = "Lead")]
pub fn build_lead(
    profile: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Config | undefined")] config: JsValue,
) -> Result<JsValue, JsValue> {
    let run = || -> Result<JsValue, RuleError> {
        let (host, object, mapping) = mapping_arg(&config)?;
        let event = first_event(host, &profile)?;
        let (record, _) = build_record(object, &mapping, &event.profile)?;
        Ok(to_js(&record))
    };
    run().map_err(|e| to_js_error(&e))
}

/// What a first login would do — decision, record, warnings, the exact requests (secrets shown
/// as `***`) and the Slack message — without sending anything.
#[wasm_bindgen(js_name = planFirstLogin, unchecked_return_type = "Plan")]
pub fn plan_first_login(
    event: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Config")] config: JsValue,
) -> Result<JsValue, JsValue> {
    let run = || -> Result<JsValue, RuleError> {
        let (host, config) = config_arg(&config)?;
        let event = first_event(host, &event)?;
        Ok(to_js(&crate::core::plan::plan(config, event, driver::now_ms())?))
    };
    run().map_err(|e| to_js_error(&e))
}

/// Run a first login: token, create, Slack. Resolves to an `Outcome` (remote failures included);
/// rejects only for bad configuration or an unreadable event.
#[wasm_bindgen(js_name = onFirstLogin, unchecked_return_type = "Promise<Outcome>")]
pub fn on_first_login(
    event: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Config")] config: JsValue,
) -> js_sys::Promise {
    promise(on_first_login_run(event, config))
}

async fn on_first_login_run(event: JsValue, config: JsValue) -> Result<JsValue, JsValue> {
    let (config, event) = (|| -> Result<_, RuleError> {
        let (host, config) = config_arg(&config)?;
        Ok((config, first_event(host, &event)?))
    })()
    .map_err(|e| to_js_error(&e))?;
    Ok(to_js(&driver::run_first_login(config, event, None).await))
}

/// Check a mapping without a profile: `null` when valid, else the error (`code`, `message`,
/// `field`, `position`). For editors that show errors as the user types.
#[wasm_bindgen(js_name = checkMapping, unchecked_return_type = "RuleErrorInfo | null")]
pub fn check_mapping(#[wasm_bindgen(unchecked_param_type = "MappingSource")] mapping: JsValue) -> JsValue {
    let checked = json_text_from_js(&mapping, "mapping", MAX_PROFILE_BYTES)
        .and_then(|text| Config::check_mapping(text.as_deref(), JS_CASE));
    match checked {
        Ok(_) => JsValue::NULL,
        Err(e) => to_js(&e),
    }
}

/// Built-in mappings: `{ name: { Field: expression } }`, fields in order.
#[wasm_bindgen(js_name = mappingPresets, unchecked_return_type = "Record<string, Record<string, string>>")]
pub fn mapping_presets() -> JsValue {
    struct Presets;
    impl serde::Serialize for Presets {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_map(Mapping::PRESETS.iter().filter_map(|name| Some((*name, Mapping::preset_source(name)?))))
        }
    }
    to_js(&Presets)
}

/// Forget cached Salesforce tokens held in module memory.
#[wasm_bindgen(js_name = clearTokenCache)]
pub fn clear_token_cache() {
    driver::clear_token_cache();
}

/// The package version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
