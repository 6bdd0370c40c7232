//! HTTP webhook hosts: Ory Actions `web_hook`, Clerk `user.created` (Svix-signed) and Okta event
//! hooks (with the one-time verification GET). One function takes the request as plain values and
//! resolves to the response to send, so it fits any Node/edge HTTP framework.

use super::{host_config, log_config_error, marker, run_event};
use crate::core::error::{ErrorCode, RuleError};
use crate::core::flow::Outcome;
use crate::core::profile::{host_from_name, read_json, Host};
use crate::core::webhook;
use crate::wasm::bindings::{call_method, get, promise, to_js};
use crate::wasm::driver;
use serde_json::{json, Value};
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

/// Okta expects an event hook's answer within 3 s; the deadline is capped below that.
const OKTA_DEADLINE_MS: u64 = 2_500;

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

fn respond(status: u16, body: Option<Value>) -> JsValue {
    let (headers, text) = match body {
        Some(b) => (json!({"content-type": "application/json"}), b.to_string()),
        None => (json!({}), String::new()),
    };
    to_js(&json!({ "status": status, "headers": headers, "body": text }))
}

fn error_response(status: u16, e: &RuleError) -> JsValue {
    respond(status, Some(json!({ "error": { "code": e.code.as_str(), "message": e.message } })))
}

/// Constant-time comparison, so the shared secret cannot be guessed byte by byte from timings.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Handle an identity-platform webhook: `host` is "ory", "clerk" or "okta".
///
/// ```js
/// http.createServer(async (req, res) => {
///   let body = ""; for await (const c of req) body += c;
///   const r = await sf.handleWebhook("clerk", { method: req.method, headers: req.headers, body }, { secrets: process.env });
///   res.writeHead(r.status, r.headers).end(r.body);
/// });
/// ```
/// Answers: Okta verification → 200 `{"verification"}`; bad signature or Authorization → 401;
/// Clerk with bad configuration → 500 (Svix retries later, nothing lost); Ory → 200 with
/// `{"identity":{"metadata_public":…}}` carrying the marker once Salesforce confirmed, else 204,
/// so registration is never blocked; Clerk/Okta → 200 with the outcomes.
#[wasm_bindgen(js_name = handleWebhook, unchecked_return_type = "Promise<WebhookResponse>")]
pub fn handle_webhook(
    host: String,
    #[wasm_bindgen(unchecked_param_type = "WebhookRequest")] request: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Config")] config: JsValue,
) -> js_sys::Promise {
    promise(async move { Ok(handle_webhook_run(host, request, config).await) })
}

async fn handle_webhook_run(host: String, request: JsValue, config: JsValue) -> JsValue {
    let host = match host_from_name(&host) {
        Some(h @ (Host::Ory | Host::Clerk | Host::Okta)) => h,
        _ => {
            let e = RuleError::new(
                ErrorCode::ConfigInvalid,
                format!("handleWebhook serves ory, clerk and okta, not '{host}'"),
            );
            return error_response(500, &e);
        }
    };
    let headers = get(&request, "headers");
    let method = get(&request, "method").as_string().unwrap_or_else(|| "POST".into()).to_ascii_uppercase();

    if host == Host::Okta && method == "GET" {
        return match header(&headers, "x-okta-verification-challenge").map(|c| webhook::okta_verification_response(&c))
        {
            Some(Ok(v)) => respond(200, Some(v)),
            Some(Err(e)) => error_response(400, &e),
            None => error_response(
                400,
                &RuleError::new(ErrorCode::ProfileInvalid, "missing x-okta-verification-challenge header"),
            ),
        };
    }

    let config = match host_config(&config) {
        Ok(mut c) => {
            if host == Host::Okta {
                // Okta drops an event hook delivery not answered within 3 s.
                c.deadline_ms = c.deadline_ms.min(OKTA_DEADLINE_MS);
            }
            c
        }
        Err(e) => {
            log_config_error(host.name(), &e);
            // Clerk (Svix) retries failed deliveries; Ory and Okta must not be blocked.
            return if host == Host::Clerk {
                error_response(500, &e)
            } else {
                respond(if host == Host::Ory { 204 } else { 200 }, None)
            };
        }
    };

    let body_value = get(&request, "body");
    let raw = match body_value.as_string() {
        Some(s) => s,
        None if host == Host::Clerk => {
            let e = RuleError::new(
                ErrorCode::SignatureInvalid,
                "pass the raw request body as a string: the Svix signature covers its exact bytes",
            );
            return error_response(400, &e);
        }
        None => js_sys::JSON::stringify(&body_value).ok().and_then(|s| s.as_string()).unwrap_or_default(),
    };

    if let Err(e) = authenticate(host, &headers, &raw, config.webhook_secret.as_ref().map(|s| s.expose())).await {
        return error_response(401, &e);
    }

    // Read as an event is (lone surrogates as U+FFFD, too deep named as such).
    let event: Value = match read_json(&raw, "the webhook body") {
        Ok(v) => v,
        Err(e) => return error_response(400, &e),
    };
    match run_event(host, &event, config).await {
        Ok(outcomes) => answer(host, &event, &outcomes),
        Err(e) => {
            log_config_error(host.name(), &e);
            if host == Host::Ory {
                respond(204, None)
            } else {
                error_response(400, &e)
            }
        }
    }
}

async fn authenticate(host: Host, headers: &JsValue, raw: &str, secret: Option<&str>) -> Result<(), RuleError> {
    match (host, secret) {
        (Host::Clerk, None) => Err(RuleError::new(
            ErrorCode::SignatureInvalid,
            "set CLERK_WEBHOOK_SECRET (webhookSecret) to the endpoint's whsec_ signing secret; unsigned Clerk webhooks are refused",
        )),
        (Host::Clerk, Some(secret)) => {
            let names = ["svix-id", "svix-timestamp", "svix-signature", "webhook-id", "webhook-timestamp", "webhook-signature"];
            let found: serde_json::Map<String, serde_json::Value> =
                names.iter().filter_map(|n| header(headers, n).map(|v| ((*n).to_string(), Value::String(v)))).collect();
            let found = Value::Object(found);
            let h = webhook::svix_headers(&found)?;
            let key = webhook::svix_secret_key(secret)?;
            let mac = driver::hmac_sha256(&key, webhook::svix_signed_content(h.id, h.timestamp, raw).as_bytes())
                .await
                .map_err(|why| RuleError::new(ErrorCode::SignatureInvalid, format!("could not compute the signature: {why}")))?;
            webhook::svix_verify(h.signature, h.timestamp, driver::now_ms() / 1000, &mac)
        }
        (_, Some(secret)) => match header(headers, "authorization") {
            Some(given) if same_secret(&given, secret) => Ok(()),
            _ => Err(RuleError::new(ErrorCode::SignatureInvalid, "the Authorization header does not match the configured webhookSecret")),
        },
        (_, None) => Ok(()),
    }
}

fn answer(host: Host, event: &Value, outcomes: &[Outcome]) -> JsValue {
    if host == Host::Ory {
        return match outcomes.first().and_then(marker) {
            Some(m) => {
                let identity = event.get("identity").or_else(|| event.pointer("/ctx/identity"));
                let mut meta = identity
                    .and_then(|i| i.get("metadata_public"))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                meta.extend(m);
                respond(200, Some(json!({ "identity": { "metadata_public": meta } })))
            }
            None => respond(204, None),
        };
    }
    let summary: Vec<Value> = outcomes
        .iter()
        .map(|o| json!({ "status": o.status, "leadId": o.lead_id, "error": o.error.as_ref().map(|e| e.code.as_str()) }))
        .collect();
    respond(200, Some(json!({ "outcomes": summary })))
}
