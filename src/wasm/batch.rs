//! `createLeads`: the batch backfill for JS. Converts the profiles, config and options, runs
//! `core::batch::Backfill` with the driver's fetch, timers, signing and token cache, and reports
//! progress and the resume state to callbacks. Decides nothing the core could decide.

use crate::core::batch::{self, Backfill, InputItem, RunOptions};
use crate::core::config::Config;
use crate::core::error::RuleError;
use crate::core::session::cache_identity;
use crate::wasm::bindings::{from_js, from_js_within, get, promise, to_js, to_js_error, JS_CASE};
use crate::wasm::driver;
use crate::wasm::exports::load_config;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// A resume state may hold every user of a large export.
const MAX_STATE_BYTES: usize = 512 * 1024 * 1024;

#[wasm_bindgen(typescript_custom_section)]
const TS_BATCH: &'static str = r#"
export interface CreateLeadsOptions {
  /** Shape of each profile: an export record or event of this host (default: config.host, else "generic"). */
  host?: HostName;
  /** A resume state from an earlier run (object or JSON text): done users are skipped, interrupted ones looked up. */
  state?: BackfillState | string | null;
  /** Return the plan (requests with secrets as ***) without sending anything. */
  dryRun?: boolean;
  /** "auto" (default): Bulk API 2.0 above config.bulkThreshold records, else sObject Collections. */
  mode?: "collections" | "bulk" | "auto";
  onProgress?: (done: number, total: number) => void;
  /** Called with the state as JSON text whenever it changes, before the next request goes out; persist it. */
  onState?: (stateJson: string) => void | Promise<void>;
  /** Per request (default 120000). */
  requestTimeoutMs?: number;
  /** Retries of one request on 429/503/network errors (default 5). */
  maxRetries?: number;
  /** First pause between bulk job polls, doubling up to 30 s (default 1000). */
  pollIntervalMs?: number;
  /** Longest wait for one bulk job before stopping, resumable (default 3600000). */
  maxWaitMs?: number;
}
export interface BackfillUserResult {
  /** The user's `user_id` (or `input[N]` for an unreadable input item). */
  userKey: string;
  status: "created" | "duplicate" | "failed" | "skipped" | "invalid" | "pending" | "planned";
  leadId?: string;
  error?: RuleErrorInfo;
  reason?: string;
  /** Index of the profile it came from. */
  input: number;
}
export interface BackfillStats {
  apiCalls: number; requests: number;
  created: number; duplicate: number; failed: number; skipped: number; invalid: number; pending: number;
}
export interface BackfillState {
  format: "sf-lead-rule/backfill@1";
  object: "Lead" | "Contact";
  instanceUrl?: string;
  bulkJob?: { id: string; phase: "open" | "uploaded" | "closed" };
  users: Record<string, {
    status: "created" | "duplicate" | "failed" | "sending" | "unknown" | "bulk";
    leadId?: string;
    /** Salesforce's own code when it gave one (e.g. "STRING_TOO_LONG"), else one of ours. */
    code?: ErrorCode | (string & {});
    message?: string; job?: string; row?: string;
  }>;
}
export interface BackfillReport {
  mode: "collections" | "bulk";
  results: BackfillUserResult[];
  state: BackfillState;
  stats: BackfillStats;
  /** Why it stopped early (code RATE_LIMITED for REQUEST_LIMIT_EXCEEDED): rerun with `state`. */
  stopped: RuleErrorInfo | null;
}
export interface BackfillPlan {
  dryRun: true;
  mode: "collections" | "bulk";
  requests: PlannedRequest[];
  results: BackfillUserResult[];
  stats: BackfillStats;
}
"#;

/// Create Leads (or Contacts) for many existing users: sObject Collections, 200 records a
/// request, or a Bulk API 2.0 job above `bulkThreshold`. Resolves to per-user results, the resume
/// state and counts, also when Salesforce stops it (`stopped`); rejects only for bad
/// configuration, options or state. Exported by the backfill entry only,
/// `require("sf-lead-rule/backfill")`: a module of its own, with its own `configure()` settings
/// and token cache.
#[wasm_bindgen(js_name = createLeads, unchecked_return_type = "Promise<BackfillReport | BackfillPlan>")]
pub fn create_leads(
    #[wasm_bindgen(unchecked_param_type = "unknown[]")] profiles: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Config")] config: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "CreateLeadsOptions")] options: Option<JsValue>,
) -> js_sys::Promise {
    promise(create_leads_run(profiles, config, options))
}

async fn create_leads_run(profiles: JsValue, config: JsValue, options: Option<JsValue>) -> Result<JsValue, JsValue> {
    let options = options.unwrap_or(JsValue::UNDEFINED);
    let prepared = prepare(&profiles, &config, &options).map_err(|e| to_js_error(&e))?;
    let Prepared { machine, identity, planned_instance, token_ttl_ms, dry_run, on_progress, on_state } = prepared;
    if dry_run {
        return Ok(to_js(&batch::plan(machine, &planned_instance)));
    }
    let (machine, report) = run(machine, on_progress.as_ref(), on_state.as_ref()).await;
    driver::update_token_cache(&identity, machine.token_update(), token_ttl_ms, None);
    Ok(to_js(&report))
}

struct Prepared {
    machine: Backfill,
    identity: String,
    planned_instance: String,
    token_ttl_ms: u64,
    dry_run: bool,
    on_progress: Option<js_sys::Function>,
    on_state: Option<js_sys::Function>,
}

fn prepare(profiles: &JsValue, config: &JsValue, options: &JsValue) -> Result<Prepared, RuleError> {
    let given = options_from_js(options)?;
    let (config_host, cfg) = load_config(config)?;
    let RunOptions { host, batch: opts, dry_run, state } = batch::read_options(&given, config_host)?;
    let config = Config::parse_with_case(&cfg, JS_CASE)?;
    let callback = |key: &str| -> Result<Option<js_sys::Function>, RuleError> {
        let v = get(options, key);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        v.dyn_into::<js_sys::Function>().map(Some).map_err(|_| batch::callback_error(key))
    };
    let on_progress = callback("onProgress")?;
    let on_state = callback("onState")?;

    if !js_sys::Array::is_array(profiles) {
        return Err(batch::profiles_error());
    }
    let items: Vec<InputItem> = js_sys::Array::from(profiles)
        .iter()
        .map(|p| from_js(&p, "profile").and_then(|v| batch::users_of(host, &v)))
        .collect();

    let identity = cache_identity(&config);
    let planned_instance = crate::core::plan::planned_instance_url(&config);
    let token_ttl_ms = config.token_ttl_ms;
    let cached = if dry_run { None } else { driver::cached_token(&identity, None) };
    let seed = (js_sys::Math::random() * 9.0e15) as u64;
    let machine = Backfill::new(config, items, &state, opts, cached, driver::now_ms(), seed)?;
    Ok(Prepared { machine, identity, planned_instance, token_ttl_ms, dry_run, on_progress, on_state })
}

/// `options` as JSON for `batch::read_options`: the keys it reads, `dryRun` as its JS
/// truthiness and `state` as its text or read within `MAX_STATE_BYTES`; a non-object as its
/// `typeof` text, which the core refuses.
fn options_from_js(options: &JsValue) -> Result<Value, RuleError> {
    if options.is_undefined() || options.is_null() {
        return Ok(Value::Null);
    }
    if !options.is_object() {
        return Ok(Value::String(options.js_typeof().as_string().unwrap_or_default()));
    }
    let mut given = Map::new();
    for key in ["host", "mode", "requestTimeoutMs", "maxRetries", "pollIntervalMs", "maxWaitMs"] {
        given.insert(key.to_string(), scalar(&get(options, key)));
    }
    given.insert("dryRun".to_string(), Value::Bool(get(options, "dryRun").is_truthy()));
    let state = get(options, "state");
    let state = match state.as_string() {
        Some(text) => Value::String(text),
        None => from_js_within(&state, "options.state", MAX_STATE_BYTES)
            .map_err(|e| batch::option_error("state", &e.message))?,
    };
    given.insert("state".to_string(), state);
    Ok(Value::Object(given))
}

/// A string, number or boolean option as JSON; `undefined`/`null` as `null`. What JSON cannot
/// hold as such a scalar (NaN, ±Infinity, an object, a function) becomes `{}`, so the core
/// refuses it as the wrong type rather than reading it as absent.
fn scalar(v: &JsValue) -> Value {
    if v.is_undefined() || v.is_null() {
        Value::Null
    } else if let Some(s) = v.as_string() {
        Value::String(s)
    } else if let Some(b) = v.as_bool() {
        Value::Bool(b)
    } else {
        v.as_f64().and_then(serde_json::Number::from_f64).map_or_else(|| Value::Object(Map::new()), Value::Number)
    }
}

/// Drive the machine to its end, persisting the state through `on_state` before each step.
async fn run(
    mut machine: Backfill,
    on_progress: Option<&js_sys::Function>,
    on_state: Option<&js_sys::Function>,
) -> (Backfill, batch::BatchReport) {
    let mut saved = u64::MAX;
    let mut shown = (usize::MAX, usize::MAX);
    let mut step = machine.start();
    loop {
        if let Some(f) = on_state {
            if machine.state_version() != saved {
                saved = machine.state_version();
                if let Err(why) = persist(f, &machine.state_json()).await {
                    machine.interrupt(batch::state_not_saved(&why));
                    break;
                }
            }
        }
        if let Some(f) = on_progress {
            let p = machine.progress();
            if p != shown {
                shown = p;
                let _ = f.call2(&JsValue::NULL, &JsValue::from_f64(p.0 as f64), &JsValue::from_f64(p.1 as f64));
            }
        }
        match driver::perform(step).await {
            Ok(input) => step = machine.resume(input, driver::now_ms()),
            Err(()) => break,
        }
    }
    let report = machine.report();
    (machine, report)
}

/// Call `onState(json)`; wait for it when it returns a Promise.
async fn persist(f: &js_sys::Function, state: &Value) -> Result<(), String> {
    let text = state.to_string();
    let describe =
        |e: JsValue| get(&e, "message").as_string().or_else(|| e.as_string()).unwrap_or_else(|| "it threw".into());
    let ret = f.call1(&JsValue::NULL, &JsValue::from_str(&text)).map_err(describe)?;
    if let Some(p) = ret.dyn_ref::<js_sys::Promise>() {
        JsFuture::from(p.clone()).await.map_err(describe)?;
    }
    Ok(())
}
