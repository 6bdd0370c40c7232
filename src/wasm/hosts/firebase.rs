//! Firebase Authentication blocking functions (`beforeUserCreated`, `beforeUserSignedIn`).
//! Resolves to what the blocking function should return: `{ customClaims }` carrying the marker
//! once Salesforce confirmed, else `undefined`. Never rejects: sign-up is never blocked.

use super::{event_json, host_config, js_failure_logged, run_event};
use crate::core::answer::firebase_answer;
use crate::core::profile::Host;
use crate::wasm::bindings::{promise, to_js};
use wasm_bindgen::prelude::*;

/// `exports.beforecreated = beforeUserCreated((event) => sf.onFirebaseAuthEvent(event, { secrets: process.env }));`
/// Firebase allows 7 s per blocking function: keep `deadlineMs` (default 5000) below that.
#[wasm_bindgen(js_name = onFirebaseAuthEvent, unchecked_return_type = "Promise<{ customClaims: Record<string, unknown> } | undefined>")]
pub fn on_firebase_auth_event(
    event: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Config")] config: JsValue,
) -> js_sys::Promise {
    promise(async move { Ok(on_firebase_auth_event_run(event, config).await) })
}

async fn on_firebase_auth_event_run(event: JsValue, config: JsValue) -> JsValue {
    let run = async {
        let config = host_config(&config)?;
        let json = event_json(&event)?;
        let outcomes = run_event(Host::Firebase, &json, config).await?;
        Ok::<_, crate::core::error::RuleError>((json, outcomes))
    };
    match run.await {
        Ok((json, outcomes)) => firebase_answer(&json, &outcomes).map_or(JsValue::UNDEFINED, |answer| to_js(&answer)),
        Err(e) => {
            js_failure_logged("firebase", &e);
            JsValue::UNDEFINED
        }
    }
}
