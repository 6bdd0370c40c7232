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
use crate::core::in_flight;
use crate::core::outcome::Outcome;
use crate::core::profile::{normalise, Host, HostEvent};
use crate::wasm::bindings::{from_js, to_js};
use crate::wasm::driver;
use crate::wasm::exports::{load_config, parse_config};
use crate::wasm::platform::Latch;
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
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

/// Normalise `event` as `host` and run a first login for each user in it, one after another; a
/// user whose login is already running in this process waits for it instead (see [`run_once`]).
pub async fn run_event(host: Host, event: &Value, config: Config) -> Result<Vec<Outcome>, RuleError> {
    let mut outcomes = Vec::new();
    for e in normalise(host, event)? {
        let outcome = run_once(host, config.clone(), e).await;
        log_outcome(&outcome);
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

thread_local! {
    /// Logins in flight, by `in_flight::login_key`, with the outcome their waiters await. Few at
    /// a time: a list.
    static IN_FLIGHT: RefCell<Vec<(String, Rc<Latch<Outcome>>)>> = const { RefCell::new(Vec::new()) };
}

/// Run the login of `event`, unless the same user's login is running (a redelivery arriving
/// with the original): then wait for it and answer what the core makes of its outcome.
async fn run_once(host: Host, config: Config, event: HostEvent) -> Outcome {
    let Some(key) = in_flight::login_key(host, &event, &config) else {
        return driver::run_first_login(config, event, None).await;
    };
    // Until no login of this key runs: waiters woken together run one at a time, as each
    // registers its own flight below before its first await.
    while let Some(running) = IN_FLIGHT.with(|f| f.borrow().iter().find(|(k, _)| *k == key).map(|(_, l)| l.clone())) {
        if let Some(joined) = running.wait().await.as_ref().and_then(in_flight::joined_outcome) {
            return joined;
        }
    }
    let flight = Latch::new();
    IN_FLIGHT.with(|f| f.borrow_mut().push((key.clone(), flight.clone())));
    let outcome = driver::run_first_login(config, event, None).await;
    IN_FLIGHT.with(|f| f.borrow_mut().retain(|(k, _)| *k != key));
    flight.set(outcome.clone());
    outcome
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
