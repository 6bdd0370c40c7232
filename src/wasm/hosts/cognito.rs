//! AWS Cognito Lambda triggers (`PostConfirmation_ConfirmSignUp` is the first-login signal).
//! Resolves to the event itself, as Cognito requires, whatever happened in Salesforce.

use super::{event_json, host_config, js_failure_logged, run_event};
use crate::core::profile::Host;
use crate::wasm::bindings::promise;
use wasm_bindgen::prelude::*;

/// `export const handler = (event) => sf.onCognitoTrigger(event, { secrets: process.env });`
#[wasm_bindgen(js_name = onCognitoTrigger, unchecked_return_type = "Promise<CognitoTriggerEvent>")]
pub fn on_cognito_trigger(
    #[wasm_bindgen(unchecked_param_type = "CognitoTriggerEvent")] event: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Config")] config: JsValue,
) -> js_sys::Promise {
    promise(async move { Ok(on_cognito_trigger_run(event, config).await) })
}

async fn on_cognito_trigger_run(event: JsValue, config: JsValue) -> JsValue {
    let result = async {
        let config = host_config(&config)?;
        run_event(Host::Cognito, &event_json(&event)?, config).await
    }
    .await;
    if let Err(e) = result {
        js_failure_logged("cognito", &e);
    }
    event
}
