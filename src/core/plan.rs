//! `plan`: what a first login would do, without doing it. Drives the real flow with simulated
//! successful answers and collects the requests it would send (secrets masked when serialised),
//! so the plan can never drift from what `onFirstLogin` really sends.

use crate::core::config::{Config, TokenGrant};
use crate::core::endpoint::is_loopback_host;
use crate::core::flow::FirstLoginFlow;
use crate::core::http::{HttpRequest, HttpResponse, Purpose};
use crate::core::outcome::{Outcome, Status};
use crate::core::step::{Input, Step};

use crate::core::profile::HostEvent;
use crate::core::record::{RecordPayload, SObject, Warning};
use serde::Serialize;
use std::borrow::Cow;

/// Id shown for the record a plan would create.
pub const PLANNED_ID: &str = "00Q000000000000AAA";

/// Salesforce's answer to a create, with [`PLANNED_ID`] (written out: a `const` cannot `format!`).
const CREATED_ANSWER: &str = r#"{"id":"00Q000000000000AAA","success":true,"errors":[],"created":true}"#;

/// What a login would do, without doing it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// `create` or `skip`.
    pub action: &'static str,
    /// Why, in words.
    pub reason: Cow<'static, str>,
    /// The record that would be sent.
    pub lead: Option<RecordPayload>,
    /// What changed on the way without stopping the record.
    pub warnings: Vec<Warning>,
    /// The requests that would be sent, secrets as `***`.
    pub requests: Vec<HttpRequest>,
    /// The Slack message body that would be posted, if any, as compact JSON text (shown as JSON).
    #[serde(serialize_with = "crate::core::http::as_raw_json")]
    pub slack_preview: Option<String>,
}

/// Plan a first login. Returns the outcome's error when the record cannot be built
/// (e.g. `MISSING_REQUIRED_FIELD`), since nothing would be sent for Salesforce then.
pub fn plan(config: Config, event: HostEvent, now_ms: u64) -> Result<Plan, crate::core::error::RuleError> {
    let instance = planned_instance_url(&config);
    let slack_configured = config.slack_webhook_url.is_some();
    let mut flow = FirstLoginFlow::new(config, event, None, now_ms, 1);
    let mut requests = Vec::new();
    let mut slack_preview = None;
    let mut step = flow.start();
    // Bounded: a happy path is at most token + check + find + write + slack.
    for _ in 0..16 {
        match step {
            Step::Done(outcome) => return Ok(finish(*outcome, requests, slack_preview, slack_configured)),
            Step::Sign { .. } => step = flow.resume(Input::Signed(vec![0; 256]), now_ms),
            Step::Sleep { .. } => step = flow.resume(Input::Woke, now_ms),
            Step::Send { request, .. } => {
                let resp = simulated_response(&request, &instance);
                if request.purpose == Purpose::NotifySlack {
                    slack_preview = request.json_body_text();
                }
                requests.push(request);
                step = flow.resume(Input::Response(resp), now_ms);
            }
        }
    }
    Err(crate::core::error::RuleError::new(crate::core::error::ErrorCode::ConfigInvalid, "plan did not finish"))
}

fn finish(outcome: Outcome, requests: Vec<HttpRequest>, slack_preview: Option<String>, _slack: bool) -> Plan {
    if outcome.status == Status::Failed {
        // Only a record that cannot be built fails a plan; remote answers are all simulated successes.
        if let Some(e) = &outcome.error {
            return Plan {
                action: "fail",
                reason: Cow::Owned(e.message.clone()),
                lead: outcome.record,
                warnings: outcome.warnings,
                requests,
                slack_preview,
            };
        }
    }
    let creating = outcome.status != Status::Skipped;
    Plan {
        action: if creating { "create" } else { "skip" },
        // The flow's reason describes a simulated success; say what would happen instead.
        reason: if creating { Cow::Borrowed(creating_reason(outcome.object)) } else { Cow::Owned(outcome.reason) },
        lead: outcome.record,
        warnings: outcome.warnings,
        requests,
        slack_preview,
    }
}

/// What a plan that creates says (the flow's reason describes a simulated success): fixed text,
/// not a `format!`, as every plan shows it.
fn creating_reason(object: SObject) -> &'static str {
    match object {
        SObject::Lead => "first login: the Lead would be created, then Slack notified",
        SObject::Contact => "first login: the Contact would be created, then Slack notified",
    }
}

/// The instance URL a token response would carry: the login host itself for a My Domain or the
/// local emulator, otherwise a placeholder My Domain.
pub fn planned_instance_url(config: &Config) -> String {
    if let TokenGrant::AccessToken { instance_url, .. } = &config.grant {
        return instance_url.clone();
    }
    let host = &config.login_host;
    if host.ends_with(".my.salesforce.com") || is_loopback_host(host) {
        config.login_url.clone()
    } else {
        "https://yourdomain.my.salesforce.com".to_string()
    }
}

/// `{"access_token":"planned","instance_url":…,"token_type":"Bearer"}`.
fn token_answer(instance: &str) -> String {
    serde_json::json!({ "access_token": "planned", "instance_url": instance, "token_type": "Bearer" }).to_string()
}

fn simulated_response(req: &HttpRequest, instance: &str) -> HttpResponse {
    match req.purpose {
        Purpose::Token => HttpResponse::new(200, token_answer(instance)),
        Purpose::FindExisting => HttpResponse::new(200, r#"{"totalSize":0,"done":true,"records":[]}"#),
        Purpose::CheckExisting => {
            HttpResponse::new(404, r#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#)
        }
        Purpose::NotifySlack => HttpResponse::new(200, "ok"),
        _ => HttpResponse::new(201, CREATED_ANSWER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_creating_reason_names_the_object() {
        for object in [SObject::Lead, SObject::Contact] {
            assert_eq!(
                creating_reason(object),
                format!("first login: the {} would be created, then Slack notified", object.name())
            );
        }
    }

    #[test]
    fn the_slack_preview_is_the_message_body_as_json() {
        let config = serde_json::json!({"clientId": "c", "clientSecret": "s", "mapping": "recommended",
            "slackWebhookUrl": "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX"});
        let config = Config::parse(config.as_object().unwrap()).unwrap();
        let profile = serde_json::json!({"user_id": "auth0|1", "email": "a\"b@example.com", "name": "A <B> \"C\""});
        let event = HostEvent { profile, signal: crate::core::profile::FirstLoginSignal::FirstLogin };
        let plan = plan(config, event, 0).unwrap();
        let slack = plan.requests.iter().find(|r| r.purpose == Purpose::NotifySlack).unwrap();
        let body = serde_json::from_str::<serde_json::Value>(&slack.body.as_ref().unwrap().expose()).unwrap();
        assert_eq!(
            plan.slack_preview.as_deref().map(serde_json::from_str::<serde_json::Value>).map(Result::ok),
            Some(Some(body.clone()))
        );
        assert_eq!(serde_json::to_value(&plan).unwrap()["slackPreview"], body);
        assert_eq!(
            serde_json::to_value(&plan).unwrap()["reason"],
            "first login: the Lead would be created, then Slack notified"
        );
    }

    #[test]
    fn simulated_answers_are_the_json_they_stand_for() {
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(CREATED_ANSWER).ok(),
            Some(serde_json::json!({"id": PLANNED_ID, "success": true, "errors": [], "created": true}))
        );
        let instance = "https://a.my.salesforce.com/\"x\"";
        assert_eq!(
            token_answer(instance),
            serde_json::json!({"access_token": "planned", "instance_url": instance, "token_type": "Bearer"})
                .to_string()
        );
    }
}
