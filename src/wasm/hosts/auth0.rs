//! Auth0: the Actions post-login handler (`api.user.setAppMetadata`, `api.cache`) and the legacy
//! Rule signature (`configuration`, `auth0.users.updateAppMetadata`, `callback`).

use super::{js_failure, log, log_config_error, log_outcome};
use crate::core::answer;
use crate::core::error::RuleError;
use crate::core::flow::CachedToken;
use crate::core::profile::{normalise, Host};
use crate::core::session;
use crate::wasm::bindings::{call_method, events_from_js, from_js, get, object_from_js, promise, to_js};
use crate::wasm::driver::{self, HostTokenCache};
use crate::wasm::exports::{parse_config, with_secrets};
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Auth0 `api.cache`: string values with a lifetime; entries may vanish early.
struct Auth0Cache(JsValue);

impl HostTokenCache for Auth0Cache {
    fn load(&self, identity: &str) -> Option<CachedToken> {
        let cache = get(&self.0, "cache");
        let record = call_method(&cache, "get", &[JsValue::from_str(&session::host_cache_key(identity))])?;
        session::read_host_cache_value(identity, &get(&record, "value").as_string()?)
    }
    fn store(&self, token: &CachedToken, ttl_ms: u64) {
        let value = session::host_cache_value(token);
        let opts = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&opts, &"ttl".into(), &JsValue::from_f64(ttl_ms as f64));
        let cache = get(&self.0, "cache");
        call_method(
            &cache,
            "set",
            &[JsValue::from_str(&session::host_cache_key(&token.identity)), JsValue::from_str(&value), opts.into()],
        );
    }
    fn forget(&self, identity: &str) {
        let cache = get(&self.0, "cache");
        // Auth0's cache has no delete; an empty value reads as a miss.
        let opts = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&opts, &"ttl".into(), &JsValue::from_f64(1.0));
        call_method(
            &cache,
            "set",
            &[JsValue::from_str(&session::host_cache_key(identity)), JsValue::from_str(""), opts.into()],
        );
    }
}

/// **Auth0 Actions** post-login handler:
/// `exports.onExecutePostLogin = require("sf-lead-rule").onExecutePostLogin;`
/// Settings come from `event.secrets` over `configure()`. Marks the user through
/// `api.user.setAppMetadata` only after Salesforce confirmed. Never throws.
#[wasm_bindgen(js_name = onExecutePostLogin, unchecked_return_type = "Promise<Outcome>")]
pub fn on_execute_post_login(event: JsValue, api: JsValue) -> js_sys::Promise {
    promise(async move { Ok(on_execute_post_login_run(event, api).await) })
}

async fn on_execute_post_login_run(event: JsValue, api: JsValue) -> JsValue {
    let secrets = object_from_js(&get(&event, "secrets"), "event.secrets").unwrap_or_default();
    let config = match parse_config(&with_secrets(&secrets)) {
        Ok(c) => c,
        Err(e) => {
            log_config_error("auth0 action", &e);
            return js_failure(&e, None);
        }
    };
    // Only the keys the profile is read from: never `secrets`, nor the large `request`.
    let host_event = match events_from_js(Host::Auth0Action, &event).map(|v| v.into_iter().next()) {
        Ok(Some(e)) => e,
        Ok(None) => return JsValue::UNDEFINED,
        Err(e) => {
            log_config_error("auth0 action", &e);
            return js_failure(&e, Some(&config));
        }
    };
    let cache = Auth0Cache(api.clone());
    let outcome = driver::run_first_login(config, host_event, Some(&cache)).await;
    if let Some(entries) = outcome.marker() {
        let user = get(&api, "user");
        for (key, value) in entries {
            call_method(&user, "setAppMetadata", &[JsValue::from_str(&key), to_js(&value)]);
        }
    }
    log_outcome(&outcome);
    to_js(&outcome)
}

/// **Auth0 Rules** (legacy: Rules reached end of life on 18 Nov 2026; new setups use
/// `onExecutePostLogin` in an Action) `function (user, context, callback)`: settings from the
/// global `configuration`; on success `auth0.users.updateAppMetadata`. Always calls
/// `callback(null, user, context)`, after the attempt (bounded by `deadlineMs`).
#[wasm_bindgen]
pub fn rule(user: JsValue, context: JsValue, callback: JsValue) {
    // Started now, finished by the JS event loop; the Rule's result is the callback, not this.
    let _ = promise(async move {
        run_rule(&user, &context).await;
        if let Ok(cb) = callback.dyn_into::<js_sys::Function>() {
            let _ = cb.call3(&JsValue::NULL, &JsValue::NULL, &user, &context);
        }
        Ok(JsValue::UNDEFINED)
    });
}

async fn run_rule(user: &JsValue, context: &JsValue) {
    let global = js_sys::global();
    let secrets = object_from_js(&get(&global, "configuration"), "configuration").unwrap_or_default();
    let config = match parse_config(&with_secrets(&secrets)) {
        Ok(c) => c,
        Err(e) => return log_config_error("auth0 rule", &e),
    };
    let input = (|| -> Result<_, RuleError> {
        let v = json!({ "user": from_js(user, "user")?, "context": from_js(context, "context")? });
        Ok(normalise(Host::Auth0Rule, &v)?.into_iter().next())
    })();
    let host_event = match input {
        Ok(Some(e)) => e,
        Ok(None) => return,
        Err(e) => return log_config_error("auth0 rule", &e),
    };
    let outcome = driver::run_first_login(config, host_event, None).await;
    if let Some(entries) = outcome.marker() {
        let mut meta = get(user, "app_metadata");
        if !meta.is_object() {
            meta = js_sys::Object::new().into();
            let _ = js_sys::Reflect::set(user, &"app_metadata".into(), &meta);
        }
        for (key, value) in entries {
            let _ = js_sys::Reflect::set(&meta, &JsValue::from_str(&key), &to_js(&value));
        }
        let users = get(&get(&global, "auth0"), "users");
        if let Some(p) = call_method(&users, "updateAppMetadata", &[get(user, "user_id"), meta]) {
            if let Ok(p) = p.dyn_into::<js_sys::Promise>() {
                if JsFuture::from(p).await.is_err() {
                    log(&answer::auth0_rule_marker_not_saved_log());
                }
            }
        }
    }
    log_outcome(&outcome);
}
