//! `createLeads`: the batch backfill for JS. Converts the profiles, config and options, runs
//! `core::batch::Backfill` with the driver's fetch, timers, signing and token cache, and reports
//! progress and the resume state to callbacks. Decides nothing the core could decide.

use crate::core::batch::{self, Backfill, BatchOptions, InputItem, Mode};
use crate::core::config::Config;
use crate::core::error::{ErrorCode, RuleError};
use crate::core::session::cache_identity;
use crate::core::profile::host_from_name;
use crate::wasm::bindings::{from_js, from_js_within, get, promise, to_js, to_js_error, JS_CASE};
use crate::wasm::driver;
use crate::wasm::exports::load_config;
use serde_json::Value;
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
  users: Record<string, { status: "created" | "duplicate" | "failed" | "sending" | "unknown" | "bulk"; leadId?: string; code?: string; message?: string; job?: string; row?: string }>;
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
        let plan = batch::plan(machine, &planned_instance);
        let mut v = serde_json::to_value(&plan).unwrap_or(Value::Null);
        if let Some(m) = v.as_object_mut() {
            m.insert("dryRun".into(), Value::Bool(true));
        }
        return Ok(to_js(&v));
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
    let opt_err = |key: &str, what: &str| {
        RuleError::new(ErrorCode::ConfigInvalid, format!("options.{key} {what}")).with_field(format!("options.{key}"))
    };
    if !(options.is_undefined() || options.is_null() || options.is_object()) {
        return Err(RuleError::new(ErrorCode::ConfigInvalid, "options must be an object"));
    }
    let (config_host, cfg) = load_config(config)?;
    let host = match get(options, "host") {
        v if v.is_undefined() || v.is_null() => config_host,
        v => v.as_string().and_then(|s| host_from_name(&s)).ok_or_else(|| {
            opt_err("host", "must be auth0, auth0-rule, ory, firebase, cognito, clerk, okta or generic")
        })?,
    };
    let config = Config::parse_with_case(&cfg, JS_CASE)?;

    let mut opts = BatchOptions::default();
    match get(options, "mode") {
        v if v.is_undefined() || v.is_null() => {}
        v => {
            opts.mode = v
                .as_string()
                .and_then(|s| Mode::parse(&s))
                .ok_or_else(|| opt_err("mode", "must be \"collections\", \"bulk\" or \"auto\""))?
        }
    }
    // Integer bounds in messages: formatting an f64 would pull float formatting into the wasm.
    let number = |key: &str, min: u64, max: u64| -> Result<Option<u64>, RuleError> {
        let v = get(options, key);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        match v.as_f64() {
            Some(n) if n.is_finite() && n >= min as f64 && n <= max as f64 => Ok(Some(n as u64)),
            _ => Err(opt_err(key, &format!("must be a number from {min} to {max}"))),
        }
    };
    if let Some(n) = number("requestTimeoutMs", 50, 600_000)? {
        opts.request_timeout_ms = n;
    }
    if let Some(n) = number("maxRetries", 0, 20)? {
        opts.max_retries = n as u32;
    }
    if let Some(n) = number("pollIntervalMs", 1, 600_000)? {
        opts.poll_interval_ms = n;
    }
    if let Some(n) = number("maxWaitMs", 0, 7 * 24 * 3_600_000)? {
        opts.max_wait_ms = n;
    }
    let dry_run = get(options, "dryRun").is_truthy();
    let callback = |key: &str| -> Result<Option<js_sys::Function>, RuleError> {
        let v = get(options, key);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        v.dyn_into::<js_sys::Function>().map(Some).map_err(|_| opt_err(key, "must be a function"))
    };
    let on_progress = callback("onProgress")?;
    let on_state = callback("onState")?;

    let state = match get(options, "state") {
        v if v.is_undefined() || v.is_null() => Value::Null,
        v => match v.as_string() {
            Some(text) if text.trim().is_empty() => Value::Null,
            Some(text) => {
                serde_json::from_str(&text).map_err(|e| opt_err("state", &format!("is not valid JSON: {e}")))?
            }
            None => from_js_within(&v, "options.state", MAX_STATE_BYTES).map_err(|e| opt_err("state", &e.message))?,
        },
    };

    if !js_sys::Array::is_array(profiles) {
        return Err(RuleError::new(
            ErrorCode::ConfigInvalid,
            "profiles must be an array of host events or exported users",
        ));
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
                    // Sending on without a saved state could make duplicates after a crash.
                    machine.interrupt(
                        RuleError::new(ErrorCode::ConfigInvalid, format!("onState failed, so the run stopped: {why}"))
                            .with_field("options.onState"),
                    );
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
