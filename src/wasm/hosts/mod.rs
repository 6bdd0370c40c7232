//! Host entry points: each adapts one identity platform's calling convention (arguments, secrets,
//! where the "recorded" marker lives, how to answer) to `driver::run_first_login`. One file per
//! host family. They never throw and never block a login past the configured deadline.

pub mod auth0;
pub mod cognito;
pub mod firebase;
pub mod webhook;

use crate::core::answer::{self, LogLine};
use crate::core::config::Config;
use crate::core::error::RuleError;
use crate::core::outcome::Outcome;
use crate::core::profile::{normalise, Host};
use crate::wasm::bindings::{from_js, to_js};
use crate::wasm::driver;
use crate::wasm::exports::{load_config, parse_config};
use serde_json::Value;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    pub fn console_log(s: &str);
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    pub fn console_error(s: &str);
}

/// Write a line the core chose to the console stream it chose.
pub fn log(line: &LogLine) {
    if line.error {
        console_error(&line.text);
    } else {
        console_log(&line.text);
    }
}

/// One log line per login (see [`answer::outcome_log`]).
pub fn log_outcome(outcome: &Outcome) {
    log(&answer::outcome_log(outcome));
}

/// The log line of a login not attempted (see [`answer::config_error_log`]).
pub fn log_config_error(host: &str, e: &RuleError) {
    log(&answer::config_error_log(host, e));
}

/// The outcome of a login not attempted (bad config, unreadable event), built by the core;
/// `config` when it was read.
pub fn js_failure(e: &RuleError, config: Option<&Config>) -> JsValue {
    to_js(&Outcome::not_attempted(e.clone(), config))
}

/// Settings for a host whose entry point takes `(event, config)`: `configure()` values, the config
/// object, its `secrets` (e.g. `process.env`) on top.
pub fn host_config(config: &JsValue) -> Result<Config, RuleError> {
    let (_, cfg) = load_config(config)?;
    parse_config(&cfg)
}

/// Normalise `event` as `host` and run a first login for each user in it, one after another.
pub async fn run_event(host: Host, event: &Value, config: Config) -> Result<Vec<Outcome>, RuleError> {
    let mut outcomes = Vec::new();
    for e in normalise(host, event)? {
        let outcome = driver::run_first_login(config.clone(), e, None).await;
        log_outcome(&outcome);
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// The host's event as JSON, or the reason it cannot be read.
pub fn event_json(event: &JsValue) -> Result<Value, RuleError> {
    from_js(event, "event")
}

/// Log a failure that happened before any request (bad config, unreadable event).
pub fn js_failure_logged(host: &str, e: &RuleError) -> JsValue {
    log_config_error(host, e);
    js_failure(e, None)
}
