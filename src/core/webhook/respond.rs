//! What an identity platform's webhook is answered: which hosts are served, Okta's verification
//! GET, the status code for each failure per host, the auth policy (Svix for Clerk, bearer or basic
//! credentials for Auth0 Event Streams, a shared `Authorization` for Ory, Okta and authentik), the
//! deliveries skipped unread, and the shape of the answer once the logins ran. A driver converts
//! the request to plain values, performs the one HMAC and the logins, and sends back the
//! [`WebhookResponse`] these functions decide.
//!
//! Registration must never be blocked by Salesforce: Ory's and Okta's failures are answered as
//! successes (an Okta registration inline hook always with `ALLOW`); the configuration failures
//! of hosts that redeliver (Clerk, Auth0 Event Streams, authentik) with a 500, so nothing is lost.

use super::{clip, header_given, svix_verify, CLERK_SECRET_FIELD};
use super::{constant_time_eq, okta_verification_response, svix_headers, svix_secret_key, svix_signed_content};
pub use crate::core::config::OKTA_LEAD_ID_ATTRIBUTE;
use crate::core::encoding::decode_base64;
use crate::core::error::{ErrorCode, RuleError};
use crate::core::outcome::{Outcome, Status};
use crate::core::profile::{authentik_no_user, host_from_name, is_user_created, read_json, Host};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Okta drops an event hook delivery not answered within 3 s, and an inline hook times out then:
/// the deadline is capped below that.
pub const OKTA_DEADLINE_MS: u64 = 2_500;

/// The `eventType` of Okta's registration inline hook, answered with `commands`.
pub const OKTA_REGISTRATION_EVENT: &str = "com.okta.user.pre-registration";

/// The request headers this policy reads (lower case): a driver hands over these and no others.
pub const REQUEST_HEADERS: [&str; 8] = [
    "authorization",
    "x-okta-verification-challenge",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// The HTTP answer to send: `body` is JSON text, or empty with no `content-type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: BTreeMap<&'static str, &'static str>,
    /// The response body.
    pub body: String,
}

impl WebhookResponse {
    fn json(status: u16, body: &Value) -> Self {
        WebhookResponse {
            status,
            headers: BTreeMap::from([("content-type", "application/json")]),
            body: body.to_string(),
        }
    }

    fn empty(status: u16) -> Self {
        WebhookResponse { status, headers: BTreeMap::new(), body: String::new() }
    }

    fn error(status: u16, e: &RuleError) -> Self {
        Self::json(status, &json!({ "error": { "code": e.code.as_str(), "message": e.message } }))
    }
}

/// The webhook host `name` names (Ory, Clerk, Okta, Auth0 Event Streams or authentik), or the
/// 500 for any other name.
pub fn webhook_host(name: &str) -> Result<Host, WebhookResponse> {
    match host_from_name(name) {
        Some(host @ (Host::Ory | Host::Clerk | Host::Okta | Host::Auth0Events | Host::Authentik)) => Ok(host),
        _ => Err(WebhookResponse::error(
            500,
            &RuleError::new(
                ErrorCode::ConfigInvalid,
                format!("handleWebhook serves ory, clerk, okta, auth0-events and authentik, not '{}'", clip(name, 64)),
            ),
        )),
    }
}

/// The answer to Okta's one-time verification GET, when the request is one (`method` absent
/// reads as POST): 200 `{"verification"}`, or 400 when the challenge header is missing or unfit.
pub fn verification(host: Host, method: Option<&str>, headers: &Value) -> Option<WebhookResponse> {
    if host != Host::Okta || !method.unwrap_or("POST").eq_ignore_ascii_case("GET") {
        return None;
    }
    Some(match header_given(headers, "x-okta-verification-challenge").map(okta_verification_response) {
        Some(Ok(v)) => WebhookResponse::json(200, &v),
        Some(Err(e)) => WebhookResponse::error(400, &e),
        None => WebhookResponse::error(
            400,
            &RuleError::new(ErrorCode::ProfileInvalid, "missing x-okta-verification-challenge header"),
        ),
    })
}

/// The answer when the configuration cannot be read: 500 for the hosts that redeliver later
/// (Clerk, Auth0 Event Streams, authentik, Okta event hooks); Ory 200 with the error (see
/// [`respond`] for why Ory takes it); an Okta registration inline hook (or a body that does not
/// read as an Okta event) 200 empty, so registration goes on (an empty answer lets an Okta
/// registration through).
pub fn config_refused(host: Host, e: &RuleError, raw_body: &str) -> WebhookResponse {
    let okta_event_hook = || read_json(raw_body, "").is_ok_and(|event| !is_okta_registration(&event));
    match host {
        Host::Clerk | Host::Auth0Events | Host::Authentik => WebhookResponse::error(500, e),
        Host::Okta if okta_event_hook() => WebhookResponse::error(500, e),
        Host::Ory => WebhookResponse::error(200, e),
        _ => WebhookResponse::empty(200),
    }
}

/// The deadline for the logins of one delivery: the configured one, capped for Okta at
/// [`OKTA_DEADLINE_MS`].
pub fn deadline_ms(host: Host, configured_ms: u64) -> u64 {
    match host {
        Host::Okta => configured_ms.min(OKTA_DEADLINE_MS),
        _ => configured_ms,
    }
}

/// Whether a delivery's logins look up a record with the same email before creating one:
/// `dedupeByEmail` when configured, else this host's default. Every webhook host delivers at
/// least once and a redelivery comes without a marker, so each looks up by default; with
/// `externalIdField` set the create is an upsert instead and no lookup is made. One arm per host
/// (no catch-all: a new host must say).
pub fn dedupe_by_email(host: Host, configured: Option<bool>) -> bool {
    configured.unwrap_or(match host {
        // Stores the marker the answer carries (metadata_public), but a retry resends the body
        // as it was, without it.
        Host::Ory => true,
        // Store no marker anywhere: the lookup alone tells a redelivery from a new user.
        Host::Clerk | Host::Okta | Host::Auth0Events | Host::Authentik => true,
        // Login hooks, never served here: the host keeps the marker on the user.
        Host::Auth0Action | Host::Auth0Rule | Host::Firebase | Host::Cognito | Host::Generic => false,
    })
}

/// The answer when the body was not handed over as text: 400 for Clerk (its signature covers the
/// exact bytes); `None` for the others, whose driver serialises the body it was given.
pub fn body_not_text(host: Host) -> Option<WebhookResponse> {
    (host == Host::Clerk).then(|| {
        WebhookResponse::error(
            400,
            &RuleError::new(
                ErrorCode::SignatureInvalid,
                "pass the raw request body as a string: the Svix signature covers its exact bytes",
            ),
        )
    })
}

/// Whether a delivery may be read, as far as can be told without an HMAC.
pub enum Auth {
    /// Read it.
    Accepted,
    /// Answer this (401) and read nothing.
    Refused(WebhookResponse),
    /// Compute HMAC-SHA256 over [`SvixCheck::content`] with [`SvixCheck::key`], then ask
    /// [`SvixCheck::verify`].
    Svix(SvixCheck),
}

/// A Svix signature check waiting for its HMAC. Holds the signing key: never logged.
pub struct SvixCheck {
    key: Vec<u8>,
    content: String,
    signature: String,
    timestamp: String,
}

impl SvixCheck {
    /// The HMAC key (from `CLERK_WEBHOOK_SECRET`).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The exact bytes Svix signed.
    pub fn content(&self) -> &[u8] {
        self.content.as_bytes()
    }

    /// The verdict once the driver computed the HMAC (or could not, and says why): `Ok` to read
    /// the delivery, else the 401 to answer. `now_secs` is the host's clock, in Unix seconds.
    pub fn verify(&self, mac: Result<Vec<u8>, String>, now_secs: u64) -> Result<(), WebhookResponse> {
        mac.map_err(|why| {
            RuleError::new(ErrorCode::SignatureInvalid, format!("could not compute the signature: {why}"))
        })
        .and_then(|mac| svix_verify(&self.signature, &self.timestamp, now_secs, &mac))
        .map_err(|e| WebhookResponse::error(401, &e))
    }
}

/// The auth policy. Clerk: a Svix signature over the raw body, and a delivery without a configured
/// `CLERK_WEBHOOK_SECRET` is refused. Auth0 Event Streams: `webhookSecret` is required and the
/// `Authorization` header must carry it as the stream sends it ([`stream_credentials_match`]).
/// Ory, Okta and authentik: when `webhookSecret` is set, the `Authorization` header must equal it
/// (compared in constant time); when unset, anyone may call.
pub fn authenticate(host: Host, headers: &Value, raw_body: &str, secret: Option<&str>) -> Auth {
    let refused = |e: RuleError| Auth::Refused(WebhookResponse::error(401, &e));
    match (host, secret) {
        (Host::Auth0Events, None) => refused(RuleError::new(
            ErrorCode::SignatureInvalid,
            "set webhookSecret (AUTH0_EVENTS_AUTHORIZATION) to the stream's bearer token or user:password; unauthenticated Auth0 Event Streams deliveries are refused",
        )),
        (Host::Auth0Events, Some(secret)) => match header_given(headers, "authorization") {
            Some(header) if stream_credentials_match(header, secret) => Auth::Accepted,
            _ => refused(RuleError::new(
                ErrorCode::SignatureInvalid,
                "the Authorization header does not carry the configured webhookSecret (Bearer <token>, or Basic for user:password)",
            )),
        },
        (Host::Clerk, None) => refused(RuleError::new(
            ErrorCode::SignatureInvalid,
            format!("set {CLERK_SECRET_FIELD} (webhookSecret) to the endpoint's whsec_ signing secret; unsigned Clerk webhooks are refused"),
        )),
        (Host::Clerk, Some(secret)) => {
            let check = svix_headers(headers).and_then(|h| {
                Ok(SvixCheck {
                    key: svix_secret_key(secret)?,
                    content: svix_signed_content(h.id, h.timestamp, raw_body),
                    signature: h.signature.to_owned(),
                    timestamp: h.timestamp.to_owned(),
                })
            });
            match check {
                Ok(check) => Auth::Svix(check),
                Err(e) => refused(e),
            }
        }
        (_, Some(secret)) => match header_given(headers, "authorization") {
            Some(header) if constant_time_eq(header.as_bytes(), secret.as_bytes()) => Auth::Accepted,
            _ => refused(RuleError::new(
                ErrorCode::SignatureInvalid,
                "the Authorization header does not match the configured webhookSecret",
            )),
        },
        (_, None) => Auth::Accepted,
    }
}

/// Whether an Auth0 Event Streams `Authorization` header carries `secret` as the stream's
/// `webhook_authorization` sends it: `Bearer <secret>`, or `Basic base64(secret)` when the secret
/// is `user:password`; a secret configured as the whole header value (`Bearer …`) matches it.
/// The scheme is read without regard to case (RFC 9110); credentials compare in constant time.
pub fn stream_credentials_match(header: &str, secret: &str) -> bool {
    let header = header.trim();
    let (scheme, credentials) = header.split_once(' ').unwrap_or_default();
    let credentials = credentials.trim_start().as_bytes();
    let bearer = scheme.eq_ignore_ascii_case("bearer") && constant_time_eq(credentials, secret.as_bytes());
    let basic = scheme.eq_ignore_ascii_case("basic")
        && secret.contains(':')
        && std::str::from_utf8(credentials)
            .ok()
            .and_then(|c| decode_base64(c).ok())
            .is_some_and(|pair| constant_time_eq(&pair, secret.as_bytes()));
    let configured_whole = secret
        .split_once(' ')
        .is_some_and(|(s, _)| s.eq_ignore_ascii_case("bearer") || s.eq_ignore_ascii_case("basic"));
    let whole = configured_whole && constant_time_eq(header.as_bytes(), secret.as_bytes());
    bearer | basic | whole
}

/// The answer to a delivery that names no user to record, when it is one: 200
/// `{"outcomes": [], "skipped": reason}`, so the host does not redeliver it. Auth0 Event Streams:
/// any type but `user.created`, or a dashboard test (`a0purpose: "test"`); authentik: a
/// notification without an event user, or with the anonymous one.
pub fn skipped(host: Host, event: &Value) -> Option<WebhookResponse> {
    let reason = match host {
        Host::Auth0Events => auth0_events_skip(event),
        Host::Authentik => authentik_no_user(event),
        _ => None,
    }?;
    Some(WebhookResponse::json(200, &json!({ "outcomes": [], "skipped": reason })))
}

fn auth0_events_skip(event: &Value) -> Option<String> {
    if event.get("a0purpose").and_then(Value::as_str) == Some("test") {
        return Some("a test event (`a0purpose: test`): nothing is recorded".into());
    }
    match event.get("type").and_then(Value::as_str) {
        Some(t) if is_user_created(t) => None,
        Some(t) => Some(format!("`{}` is not `user.created`: only new users are recorded", clip(t, 64))),
        None => Some("the event has no `type`: only `user.created` is recorded".into()),
    }
}

/// The delivery's body as an event (read as every event is), or the 400 to answer.
pub fn read_event(raw_body: &str) -> Result<Value, WebhookResponse> {
    read_json(raw_body, "the webhook body").map_err(|e| WebhookResponse::error(400, &e))
}

/// The answer once the logins of `event` ran (`Ok`), or could not run because the event is no
/// login of this host (`Err`, already logged by the driver).
/// - Ory: 200 `{"identity":{"metadata_public":…}}`, the identity's own metadata plus the marker
///   once Salesforce confirmed the first user. Anything else is 200 too, saying why without an
///   `identity` key: `{"outcomes":[{status, leadId, error, reason}]}` or `{"error":{code, message}}`.
///   Ory leaves the identity unchanged for such a body with `response.parse: true` (it reads only
///   `identity` from a 200) and reads only the status without it; a 4xx would fail the flow.
/// - Okta registration inline hook: 200 with Okta's `commands`, see [`okta_registration`].
/// - Clerk, Okta event hooks, Auth0 Event Streams, authentik: `{"outcomes":[{status, leadId,
///   error}]}` (the error as its code), 200, or 503 when a login failed: these hosts redeliver a
///   delivery that was not answered 2xx, and the redelivery's email lookup or upsert makes sure it
///   finds, not doubles, a record that did land. 400 with the error when the event could not be
///   read as a login (a redelivery would not read better).
///
/// `okta_lead_id_attribute` is `oktaLeadIdAttribute` as configured (`None`: no profile update).
pub fn respond(
    host: Host,
    event: &Value,
    outcomes: Result<&[Outcome], &RuleError>,
    okta_lead_id_attribute: Option<&str>,
) -> WebhookResponse {
    match (host, outcomes) {
        (Host::Okta, outcomes) if is_okta_registration(event) => {
            okta_registration(event, outcomes.unwrap_or_default(), okta_lead_id_attribute)
        }
        (Host::Ory, Ok(outcomes)) => {
            let identity = event.get("identity").or_else(|| event.pointer("/ctx/identity"));
            let existing = identity.and_then(|i| i.get("metadata_public"));
            match outcomes.first().and_then(|o| o.marker_over(existing)) {
                Some(meta) => WebhookResponse::json(200, &json!({ "identity": { "metadata_public": meta } })),
                None => {
                    let summary: Vec<Value> = outcomes
                        .iter()
                        .map(|o| json!({ "status": o.status, "leadId": o.lead_id, "error": o.error.as_ref().map(|e| e.code.as_str()), "reason": o.reason }))
                        .collect();
                    WebhookResponse::json(200, &json!({ "outcomes": summary }))
                }
            }
        }
        (Host::Ory, Err(e)) => WebhookResponse::error(200, e),
        (_, Ok(outcomes)) => {
            let summary: Vec<Value> = outcomes
                .iter()
                .map(|o| json!({ "status": o.status, "leadId": o.lead_id, "error": o.error.as_ref().map(|e| e.code.as_str()) }))
                .collect();
            let failed = outcomes.iter().any(|o| o.status == Status::Failed);
            WebhookResponse::json(if failed { 503 } else { 200 }, &json!({ "outcomes": summary }))
        }
        (_, Err(e)) => WebhookResponse::error(400, e),
    }
}

/// Whether `event` is an Okta registration inline hook (not an event hook).
pub fn is_okta_registration(event: &Value) -> bool {
    event.get("eventType").and_then(Value::as_str) == Some(OKTA_REGISTRATION_EVENT)
}

/// The `commands` answer to an Okta registration inline hook: `com.okta.action.update`
/// `{"registration": "ALLOW"}` always (Salesforce never blocks a registration), then, when a
/// Lead was confirmed and `attribute` is set, `com.okta.user.profile.update` `{attribute: id}`.
/// Never a profile update on progressive profiling, where Okta refuses that command.
pub fn okta_registration(event: &Value, outcomes: &[Outcome], attribute: Option<&str>) -> WebhookResponse {
    let mut commands = vec![json!({ "type": "com.okta.action.update", "value": { "registration": "ALLOW" } })];
    let progressive = event.get("requestType").and_then(Value::as_str) == Some("progressive.profile");
    let lead_id = outcomes.iter().find_map(|o| o.marker().and(o.lead_id.as_deref()));
    if let (Some(attribute), Some(id), false) = (attribute, lead_id, progressive) {
        commands.push(json!({ "type": "com.okta.user.profile.update", "value": { attribute: id } }));
    }
    WebhookResponse::json(200, &json!({ "commands": commands }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    const ID: &str = "00Q000000000001AAA";

    fn body(r: &WebhookResponse) -> Value {
        serde_json::from_str(&r.body).expect("a JSON body")
    }

    fn error_code(r: &WebhookResponse) -> String {
        body(r)["error"]["code"].as_str().expect("an error code").to_owned()
    }

    fn assert_empty(r: &WebhookResponse, status: u16) {
        assert_eq!(r, &WebhookResponse { status, headers: BTreeMap::new(), body: String::new() });
    }

    fn outcome(status: Status, lead_id: Option<&str>, error: Option<ErrorCode>) -> Outcome {
        let mut o = Outcome::not_attempted(RuleError::new(ErrorCode::ProfileInvalid, "unused"), None);
        o.status = status;
        o.lead_id = lead_id.map(str::to_owned);
        o.error = error.map(|code| RuleError::new(code, "why"));
        o
    }

    #[test]
    fn a_failed_login_is_answered_503_so_the_redelivering_hosts_send_it_again() {
        let user_created = json!({"type": "user.created", "data": {"id": "user_1"}});
        for host in [Host::Clerk, Host::Okta, Host::Auth0Events, Host::Authentik] {
            let failed = outcome(Status::Failed, None, Some(ErrorCode::SalesforceUnavailable));
            assert_eq!(respond(host, &user_created, Ok(&[failed]), None).status, 503, "{host:?}");
            for fine in [Status::Created, Status::Duplicate, Status::Skipped] {
                let r = respond(host, &user_created, Ok(&[outcome(fine, Some(ID), None)]), None);
                assert_eq!(r.status, 200, "{host:?} {fine:?}");
            }
        }
        let failed = [outcome(Status::Failed, None, Some(ErrorCode::SalesforceUnavailable))];
        let ory = respond(Host::Ory, &json!({}), Ok(&failed), None);
        assert_eq!(ory.status, 200, "Ory never blocks a registration");
        assert_eq!(body(&ory).get("identity"), None, "and gets no identity to store");
        let inline = json!({"eventType": OKTA_REGISTRATION_EVENT});
        assert_eq!(respond(Host::Okta, &inline, Ok(&failed), None).status, 200, "nor does Okta's inline hook");
    }

    fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    #[test]
    fn only_the_webhook_hosts_are_served() {
        assert_eq!(webhook_host("ory"), Ok(Host::Ory));
        assert_eq!(webhook_host("Clerk"), Ok(Host::Clerk));
        assert_eq!(webhook_host("okta"), Ok(Host::Okta));
        assert_eq!(webhook_host("auth0-events"), Ok(Host::Auth0Events));
        assert_eq!(webhook_host("authentik"), Ok(Host::Authentik));
        for other in ["auth0", "firebase", "generic", "myspace"] {
            let r = webhook_host(other).unwrap_err();
            assert_eq!((r.status, error_code(&r)), (500, "CONFIG_INVALID".into()), "{other}");
            assert_eq!(r.headers.get("content-type"), Some(&"application/json"));
            assert_eq!(
                body(&r)["error"]["message"],
                format!("handleWebhook serves ory, clerk, okta, auth0-events and authentik, not '{other}'")
            );
        }
    }

    #[test]
    fn okta_verification_get_is_answered_with_the_challenge() {
        let headers = json!({"x-okta-verification-challenge": "abc"});
        for method in [Some("GET"), Some("get")] {
            let r = verification(Host::Okta, method, &headers).expect("a verification request");
            assert_eq!((r.status, body(&r)), (200, json!({"verification": "abc"})));
        }
        assert_eq!(
            verification(Host::Okta, Some("GET"), &json!({"X-Okta-Verification-Challenge": ["c", "d"]}))
                .map(|r| body(&r)),
            Some(json!({"verification": "c"}))
        );
        let missing = verification(Host::Okta, Some("GET"), &json!({})).expect("answered");
        assert_eq!((missing.status, error_code(&missing)), (400, "PROFILE_INVALID".into()));
        assert_eq!(body(&missing)["error"]["message"], "missing x-okta-verification-challenge header");
        let empty =
            verification(Host::Okta, Some("GET"), &json!({"x-okta-verification-challenge": ""})).expect("answered");
        assert_eq!(body(&empty)["error"]["message"], "x-okta-verification-challenge is missing or empty");
        let evil = json!({"x-okta-verification-challenge": "a\r\nSet-Cookie: x"});
        assert_eq!(verification(Host::Okta, Some("GET"), &evil).map(|r| r.status), Some(400));
        // Not a verification: an Okta POST, a method left out (POST), a GET to another host.
        assert_eq!(verification(Host::Okta, Some("POST"), &headers), None);
        assert_eq!(verification(Host::Okta, None, &headers), None);
        assert_eq!(verification(Host::Ory, Some("GET"), &headers), None);
        assert_eq!(verification(Host::Clerk, Some("GET"), &headers), None);
    }

    #[test]
    fn a_configuration_error_blocks_no_registration_but_clerk_is_retried() {
        let e = RuleError::new(ErrorCode::ConfigInvalid, "clientId is missing");
        let clerk = config_refused(Host::Clerk, &e, "{}");
        assert_eq!(
            (clerk.status, body(&clerk)),
            (500, json!({"error": {"code": "CONFIG_INVALID", "message": "clientId is missing"}}))
        );
        let ory = config_refused(Host::Ory, &e, "{}");
        assert_eq!(
            (ory.status, body(&ory)),
            (200, json!({"error": {"code": "CONFIG_INVALID", "message": "clientId is missing"}}))
        );
        // Okta: an inline hook is let through; an event hook is redelivered, as Clerk's.
        let inline = json!({"eventType": OKTA_REGISTRATION_EVENT, "data": {}}).to_string();
        assert_empty(&config_refused(Host::Okta, &e, &inline), 200);
        assert_empty(&config_refused(Host::Okta, &e, "not json"), 200);
        let event_hook = json!({"eventType": "com.okta.event_hook", "data": {"events": []}}).to_string();
        assert_eq!(config_refused(Host::Okta, &e, &event_hook), clerk);
        // Auth0 Event Streams and authentik redeliver too: 500, as Clerk.
        for host in [Host::Auth0Events, Host::Authentik] {
            assert_eq!(config_refused(host, &e, "{}"), clerk, "{host:?}");
        }
    }

    #[test]
    fn okta_deadline_is_capped_below_its_three_seconds() {
        assert_eq!(deadline_ms(Host::Okta, 5_000), OKTA_DEADLINE_MS);
        assert_eq!(deadline_ms(Host::Okta, 1_000), 1_000);
        assert_eq!(deadline_ms(Host::Ory, 5_000), 5_000);
        assert_eq!(deadline_ms(Host::Clerk, 9_000), 9_000);
    }

    #[test]
    fn auth0_events_and_authentik_keep_the_configured_deadline() {
        assert_eq!(deadline_ms(Host::Auth0Events, 9_000), 9_000);
        assert_eq!(deadline_ms(Host::Authentik, 9_000), 9_000);
    }

    #[test]
    fn every_webhook_host_looks_up_the_email_unless_configured_not_to() {
        for host in [Host::Ory, Host::Clerk, Host::Okta, Host::Auth0Events, Host::Authentik] {
            assert!(dedupe_by_email(host, None), "{host:?}");
            assert!(dedupe_by_email(host, Some(true)), "{host:?}");
            assert!(!dedupe_by_email(host, Some(false)), "{host:?}: an explicit false is kept");
        }
    }

    #[test]
    fn only_clerk_needs_the_body_as_text() {
        let r = body_not_text(Host::Clerk).expect("refused");
        assert_eq!((r.status, error_code(&r)), (400, "SIGNATURE_INVALID".into()));
        assert_eq!(body_not_text(Host::Ory), None);
        assert_eq!(body_not_text(Host::Okta), None);
    }

    fn refused(auth: Auth) -> WebhookResponse {
        match auth {
            Auth::Refused(r) => r,
            Auth::Accepted => panic!("accepted"),
            Auth::Svix(_) => panic!("asked for an HMAC"),
        }
    }

    #[test]
    fn ory_okta_and_authentik_check_the_shared_authorization_when_one_is_set() {
        for host in [Host::Ory, Host::Okta, Host::Authentik] {
            let given = |h: Value| authenticate(host, &h, "{}", Some("Bearer key"));
            assert!(matches!(given(json!({"authorization": "Bearer key"})), Auth::Accepted));
            assert!(matches!(given(json!({"Authorization": ["Bearer key"]})), Auth::Accepted));
            for wrong in [json!({"authorization": "Bearer kez"}), json!({"authorization": ""}), json!({}), json!(null)]
            {
                let r = refused(given(wrong.clone()));
                assert_eq!((r.status, error_code(&r)), (401, "SIGNATURE_INVALID".into()), "{wrong}");
                assert!(!r.body.contains("Bearer key"), "the secret is never echoed");
            }
            // No secret configured: anyone may call.
            assert!(matches!(authenticate(host, &json!({}), "{}", None), Auth::Accepted));
        }
    }

    #[test]
    fn auth0_event_streams_need_the_bearer_token_or_basic_credentials() {
        let given = |secret: &str, h: Value| authenticate(Host::Auth0Events, &h, "{}", Some(secret));
        let bearer = "s3cr3t-token";
        for ok in ["Bearer s3cr3t-token", "bearer s3cr3t-token", "  Bearer   s3cr3t-token ", "BEARER s3cr3t-token"] {
            assert!(matches!(given(bearer, json!({"authorization": ok})), Auth::Accepted), "{ok}");
        }
        let basic = "stream-user:pa:ss";
        let encoded = BASE64.encode(basic);
        for ok in [format!("Basic {encoded}"), format!("basic {}", encoded.trim_end_matches('='))] {
            assert!(matches!(given(basic, json!({"Authorization": ok.clone()})), Auth::Accepted), "{ok}");
        }
        // Bearer with a token that has a colon, and the whole header value configured as the secret.
        assert!(matches!(given(basic, json!({"authorization": "Bearer stream-user:pa:ss"})), Auth::Accepted));
        assert!(matches!(given("Bearer whole", json!({"authorization": "Bearer whole"})), Auth::Accepted));
        for (secret, wrong) in [
            (bearer, json!({"authorization": "Bearer s3cr3t-tokeN"})),
            (bearer, json!({"authorization": "s3cr3t-token"})),
            (bearer, json!({"authorization": format!("Basic {}", BASE64.encode(bearer))})),
            (bearer, json!({"authorization": "Token s3cr3t-token"})),
            (bearer, json!({"authorization": ""})),
            (bearer, json!({})),
            (basic, json!({"authorization": format!("Basic {}", BASE64.encode("stream-user:wrong"))})),
            (basic, json!({"authorization": format!("Bearer {encoded}")})),
            (basic, json!({"authorization": "Basic !!!"})),
        ] {
            let r = refused(given(secret, wrong.clone()));
            assert_eq!((r.status, error_code(&r)), (401, "SIGNATURE_INVALID".into()), "{wrong}");
            assert!(!r.body.contains(secret) && !r.body.contains(&encoded), "the secret is never echoed");
        }
        // No secret configured: every delivery is refused, saying what to set.
        let r = refused(authenticate(Host::Auth0Events, &json!({"authorization": "Bearer x"}), "{}", None));
        assert_eq!((r.status, error_code(&r)), (401, "SIGNATURE_INVALID".into()));
        assert!(body(&r)["error"]["message"].as_str().is_some_and(|m| m.contains("AUTH0_EVENTS_AUTHORIZATION")));
    }

    #[test]
    fn deliveries_naming_no_new_user_are_skipped_with_the_reason() {
        let skip = |host, event: Value| skipped(host, &event).map(|r| (r.status, body(&r)));
        let created = json!({"type": "user.created", "data": {"object": {"user_id": "auth0|1"}}});
        assert_eq!(skipped(Host::Auth0Events, &created), None);
        assert_eq!(skipped(Host::Auth0Events, &json!({"type": "com.auth0.user.created"})), None);
        assert_eq!(
            skip(Host::Auth0Events, json!({"type": "user.updated", "data": {}})),
            Some((
                200,
                json!({"outcomes": [], "skipped": "`user.updated` is not `user.created`: only new users are recorded"})
            ))
        );
        assert_eq!(
            skip(Host::Auth0Events, json!({"data": {}})).map(|(_, b)| b["skipped"].clone()),
            Some(json!("the event has no `type`: only `user.created` is recorded"))
        );
        let mut test_event = created.clone();
        test_event["a0purpose"] = json!("test");
        assert_eq!(
            skip(Host::Auth0Events, test_event).map(|(_, b)| b["skipped"].clone()),
            Some(json!("a test event (`a0purpose: test`): nothing is recorded"))
        );
        let long = "x".repeat(500);
        let r = skip(Host::Auth0Events, json!({"type": long})).expect("skipped");
        assert!(r.1["skipped"].as_str().is_some_and(|m| m.len() < 200), "the type is clipped");

        assert_eq!(skipped(Host::Authentik, &json!({"event_user_email": "a@example.com"})), None);
        assert_eq!(skipped(Host::Authentik, &json!({"user": {"pk": 1, "username": "jo"}})), None);
        for nobody in
            [json!({"body": "x", "user_email": "admin@example.com"}), json!({"event_user_username": "AnonymousUser"})]
        {
            let (status, b) = skip(Host::Authentik, nobody.clone()).expect("skipped");
            assert_eq!((status, &b["outcomes"]), (200, &json!([])), "{nobody}");
            assert!(b["skipped"].as_str().is_some_and(|m| !m.is_empty()));
        }
        // Other hosts never skip here.
        for host in [Host::Ory, Host::Clerk, Host::Okta] {
            assert_eq!(skipped(host, &json!({"type": "user.updated"})), None);
        }
    }

    #[test]
    fn okta_registration_inline_hook_gets_commands_always_allowing() {
        let hook =
            json!({"eventType": OKTA_REGISTRATION_EVENT, "requestType": "self.service.registration", "data": {}});
        let allow = json!({"type": "com.okta.action.update", "value": {"registration": "ALLOW"}});
        let update = json!({"type": "com.okta.user.profile.update", "value": {"salesforceLeadId": ID}});
        let attr = Some(OKTA_LEAD_ID_ATTRIBUTE);
        let answer = |event: &Value, outcomes: Result<&[Outcome], &RuleError>, attr| {
            let r = respond(Host::Okta, event, outcomes, attr);
            assert_eq!((r.status, r.headers.get("content-type")), (200, Some(&"application/json")));
            body(&r)
        };
        for status in [Status::Created, Status::Duplicate] {
            let done = [outcome(status, Some(ID), None)];
            assert_eq!(answer(&hook, Ok(&done), attr), json!({"commands": [allow, update]}), "{status:?}");
            assert_eq!(answer(&hook, Ok(&done), None), json!({"commands": [allow]}), "no attribute configured");
            let custom = answer(&hook, Ok(&done), Some("crmLeadId"));
            assert_eq!(custom["commands"][1]["value"], json!({"crmLeadId": ID}));
        }
        let e = RuleError::new(ErrorCode::ProfileInvalid, "no user");
        for nothing in [
            Ok(&[outcome(Status::Failed, None, Some(ErrorCode::OutcomeUnknown))][..]),
            Ok(&[outcome(Status::Skipped, None, None)][..]),
            Ok(&[][..]),
            Err(&e),
        ] {
            assert_eq!(answer(&hook, nothing, attr), json!({"commands": [allow]}));
        }
        // Progressive profiling: Okta refuses a profile update there.
        let mut progressive = hook.clone();
        progressive["requestType"] = json!("progressive.profile");
        assert_eq!(
            answer(&progressive, Ok(&[outcome(Status::Duplicate, Some(ID), None)]), attr),
            json!({"commands": [allow]})
        );
        // An event hook keeps its outcomes answer.
        let event_hook = json!({"eventType": "com.okta.event_hook", "data": {"events": []}});
        assert_eq!(answer(&event_hook, Ok(&[]), attr), json!({"outcomes": []}));
        assert!(is_okta_registration(&hook) && !is_okta_registration(&event_hook));
    }

    #[test]
    fn clerk_needs_a_secret_and_a_valid_svix_signature() {
        let r = refused(authenticate(Host::Clerk, &json!({}), "{}", None));
        assert_eq!((r.status, error_code(&r)), (401, "SIGNATURE_INVALID".into()));
        assert!(body(&r)["error"]["message"].as_str().is_some_and(|m| m.contains("CLERK_WEBHOOK_SECRET")));

        let secret = format!("whsec_{}", BASE64.encode(b"0123456789abcdef0123456789abcdef"));
        let raw = r#"{"type":"user.created"}"#;
        let now = 1_700_000_000u64;
        let key = svix_secret_key(&secret).expect("a valid secret");
        let mac = hmac_sha256(&key, svix_signed_content("msg_1", &now.to_string(), raw).as_bytes());
        let headers = json!({"svix-id": "msg_1", "svix-timestamp": now.to_string(), "svix-signature": format!("v1,{}", BASE64.encode(&mac))});
        let Auth::Svix(check) = authenticate(Host::Clerk, &headers, raw, Some(&secret)) else {
            panic!("an HMAC to compute")
        };
        assert_eq!(check.key(), key.as_slice());
        assert_eq!(check.content(), format!("msg_1.{now}.{raw}").as_bytes());
        assert_eq!(check.verify(Ok(hmac_sha256(check.key(), check.content())), now + 10), Ok(()));
        let stale = check.verify(Ok(mac.clone()), now + 301).unwrap_err();
        assert_eq!((stale.status, error_code(&stale)), (401, "SIGNATURE_INVALID".into()));
        let tampered = check.verify(Ok(hmac_sha256(&key, b"msg_1.1700000000.{}")), now).unwrap_err();
        assert_eq!(tampered.status, 401);
        let failed = check.verify(Err("WebCrypto is not available".into()), now).unwrap_err();
        assert_eq!(failed.status, 401);
        assert_eq!(body(&failed)["error"]["message"], "could not compute the signature: WebCrypto is not available");

        let unsigned = refused(authenticate(Host::Clerk, &json!({"svix-id": "msg_1"}), raw, Some(&secret)));
        assert_eq!((unsigned.status, error_code(&unsigned)), (401, "SIGNATURE_INVALID".into()));
        let bad_secret = refused(authenticate(Host::Clerk, &headers, raw, Some("whsec_!!!!")));
        assert_eq!((bad_secret.status, error_code(&bad_secret)), (401, "CONFIG_INVALID".into()));
    }

    #[test]
    fn an_unreadable_body_is_a_400() {
        assert_eq!(read_event(r#"{"a":1}"#), Ok(json!({"a": 1})));
        let r = read_event("{not json").unwrap_err();
        assert_eq!(r.status, 400);
        assert!(!error_code(&r).is_empty());
    }

    #[test]
    fn ory_gets_its_metadata_with_the_marker_once_confirmed_else_why() {
        let created = [outcome(Status::Created, Some(ID), None)];
        let marker = json!({"recordedAsLead": true, "salesforceLeadId": ID});
        for event in [
            json!({"identity": {"metadata_public": {"plan": "pro"}}}),
            json!({"ctx": {"identity": {"metadata_public": {"plan": "pro"}}}}),
        ] {
            let r = respond(Host::Ory, &event, Ok(&created), None);
            assert_eq!(r.status, 200);
            assert_eq!(r.headers, BTreeMap::from([("content-type", "application/json")]));
            assert_eq!(
                body(&r),
                json!({"identity": {"metadata_public": {"plan": "pro", "recordedAsLead": true, "salesforceLeadId": ID}}})
            );
        }
        let bare = respond(Host::Ory, &json!({}), Ok(&[outcome(Status::Duplicate, Some(ID), None)]), None);
        assert_eq!(body(&bare), json!({"identity": {"metadata_public": marker}}));
        // Not recorded: 200 with a body that says why and has no `identity` for Ory to apply.
        let why = |outcomes: Result<&[Outcome], &RuleError>| {
            let r = respond(Host::Ory, &json!({"identity": {"metadata_public": {"plan": "pro"}}}), outcomes, None);
            assert_eq!((r.status, r.headers.get("content-type")), (200, Some(&"application/json")));
            assert!(body(&r).get("identity").is_none());
            body(&r)
        };
        let mut skipped = outcome(Status::Skipped, None, None);
        skipped.reason = "not a first login".into();
        assert_eq!(
            why(Ok(&[skipped])),
            json!({"outcomes": [{"status": "skipped", "leadId": null, "error": null, "reason": "not a first login"}]})
        );
        let failed = outcome(Status::Failed, None, Some(ErrorCode::OutcomeUnknown));
        assert_eq!(
            why(Ok(&[failed])),
            json!({"outcomes": [{"status": "failed", "leadId": null, "error": "OUTCOME_UNKNOWN", "reason": "not attempted"}]})
        );
        assert_eq!(why(Ok(&[])), json!({"outcomes": []}));
        let e = RuleError::new(ErrorCode::ProfileInvalid, "not a registration");
        assert_eq!(why(Err(&e)), json!({"error": {"code": "PROFILE_INVALID", "message": "not a registration"}}));
    }

    #[test]
    fn clerk_okta_auth0_events_and_authentik_get_the_outcomes_or_a_400() {
        let outcomes =
            [outcome(Status::Created, Some(ID), None), outcome(Status::Failed, None, Some(ErrorCode::OutcomeUnknown))];
        for host in [Host::Clerk, Host::Okta, Host::Auth0Events, Host::Authentik] {
            let r = respond(host, &json!({}), Ok(&outcomes), None);
            assert_eq!(r.status, 503, "one login failed: the host redelivers");
            assert_eq!(
                body(&r),
                json!({"outcomes": [
                    {"status": "created", "leadId": ID, "error": null},
                    {"status": "failed", "leadId": null, "error": "OUTCOME_UNKNOWN"}
                ]})
            );
            assert_eq!(body(&respond(host, &json!({}), Ok(&[]), None)), json!({"outcomes": []}));
            let e = RuleError::new(ErrorCode::ProfileInvalid, "no user in the event");
            let r = respond(host, &json!({}), Err(&e), None);
            assert_eq!(
                (r.status, body(&r)),
                (400, json!({"error": {"code": "PROFILE_INVALID", "message": "no user in the event"}}))
            );
        }
    }
}
