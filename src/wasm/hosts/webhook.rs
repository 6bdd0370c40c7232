//! HTTP webhook hosts: Ory Actions `web_hook`, Clerk `user.created` (Svix-signed), Okta event
//! hooks (with the one-time verification GET) and registration inline hooks, Auth0 Event Streams
//! and authentik notifications. One function takes the request as plain values and
//! resolves to the response to send, so it fits any Node/edge HTTP framework.

use super::{host_config, log, log_config_error, run_event};
use crate::core::answer;
use crate::core::webhook::respond::{self, Auth};
use crate::core::webhook::WebhookResponse;
use crate::wasm::bindings::{call_method, get, promise, to_js};
use crate::wasm::driver;
use serde_json::Value;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_WEBHOOK: &'static str = r#"
export interface WebhookRequest {
  method: string;
  /** Node's `req.headers` or a fetch `Headers`. */
  headers: Record<string, string | string[] | undefined> | Headers;
  /** The raw body text (Clerk's signature covers the exact bytes). */
  body: string;
}
export interface WebhookResponse { status: number; headers: Record<string, string>; body: string; }
"#;

/// Read a header from Node's lower-case header object or a fetch `Headers`.
fn header(headers: &JsValue, name: &str) -> Option<String> {
    if let Some(v) = call_method(headers, "get", &[JsValue::from_str(name)]) {
        return v.as_string();
    }
    let v = get(headers, name);
    if let Some(s) = v.as_string() {
        return Some(s);
    }
    // Node joins repeated headers into arrays for some names; take the first.
    if js_sys::Array::is_array(&v) {
        return js_sys::Array::from(&v).get(0).as_string();
    }
    None
}

/// The headers the policy reads ([`respond::REQUEST_HEADERS`]), as a JSON object.
fn policy_headers(headers: &JsValue) -> Value {
    let found: serde_json::Map<String, Value> = respond::REQUEST_HEADERS
        .iter()
        .filter_map(|n| header(headers, n).map(|v| ((*n).to_string(), Value::String(v))))
        .collect();
    Value::Object(found)
}

/// Handle an identity-platform webhook: `host` is "ory", "clerk", "okta", "auth0-events" or
/// "authentik".
///
/// ```js
/// http.createServer(async (req, res) => {
///   let body = ""; for await (const c of req) body += c;
///   const r = await sf.handleWebhook("clerk", { method: req.method, headers: req.headers, body }, { secrets: process.env });
///   res.writeHead(r.status, r.headers).end(r.body);
/// });
/// ```
/// Answers: Okta verification → 200 `{"verification"}`; bad signature or Authorization → 401;
/// Clerk, Auth0 Event Streams, authentik with bad configuration → 500 (redelivered later, nothing
/// lost); Ory → 200 with `{"identity":{"metadata_public":…}}` carrying the marker once Salesforce
/// confirmed, else 200 saying why (`{"outcomes":[{…, "reason"}]}` or `{"error"}`, no `identity`),
/// so registration is never blocked; Okta registration inline hook → 200
/// `{"commands"}` allowing it; a delivery naming no new user → 200 `{"outcomes":[],"skipped"}`;
/// others → 200 with the outcomes.
#[wasm_bindgen(js_name = handleWebhook, unchecked_return_type = "Promise<WebhookResponse>")]
pub fn handle_webhook(
    host: String,
    #[wasm_bindgen(unchecked_param_type = "WebhookRequest")] request: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Config")] config: JsValue,
) -> js_sys::Promise {
    promise(async move { Ok(handle_webhook_run(host, request, config).await) })
}

async fn handle_webhook_run(host: String, request: JsValue, config: JsValue) -> JsValue {
    to_js(&webhook_response(host, request, config).await)
}

async fn webhook_response(host: String, request: JsValue, config: JsValue) -> WebhookResponse {
    let host = match respond::webhook_host(&host) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let headers = policy_headers(&get(&request, "headers"));
    let method = get(&request, "method").as_string();
    if let Some(r) = respond::verification(host, method.as_deref(), &headers) {
        return r;
    }

    let body_value = get(&request, "body");
    let raw = match body_value.as_string() {
        Some(s) => s,
        None => match respond::body_not_text(host) {
            Some(r) => return r,
            None => js_sys::JSON::stringify(&body_value).ok().and_then(|s| s.as_string()).unwrap_or_default(),
        },
    };

    let config = match host_config(&config) {
        Ok(mut c) => {
            c.deadline_ms = respond::deadline_ms(host, c.deadline_ms);
            c.dedupe_by_email = Some(respond::dedupe_by_email(host, c.dedupe_by_email));
            c
        }
        Err(e) => {
            log_config_error(host.name(), &e);
            return respond::config_refused(host, &e, &raw);
        }
    };

    match respond::authenticate(host, &headers, &raw, config.webhook_secret.as_ref().map(|s| s.expose())) {
        Auth::Accepted => {}
        Auth::Refused(r) => return r,
        Auth::Svix(check) => {
            let mac = driver::hmac_sha256(check.key(), check.content()).await;
            if let Err(r) = check.verify(mac, driver::now_ms() / 1000) {
                return r;
            }
        }
    }

    let event = match respond::read_event(&raw) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(r) = respond::skipped(host, &event) {
        log(&answer::delivery_skipped_log(host.name(), &r.body));
        return r;
    }
    let okta_attribute = config.okta_lead_id_attribute.clone();
    match run_event(host, &event, config).await {
        Ok(outcomes) => respond::respond(host, &event, Ok(&outcomes), okta_attribute.as_deref()),
        Err(e) => {
            log_config_error(host.name(), &e);
            respond::respond(host, &event, Err(&e), okta_attribute.as_deref())
        }
    }
}
