//! What a function host's entry point resolves to and logs (Auth0, Firebase, Cognito and the
//! webhook hosts' configuration failures): decided here, so the wasm layer only converts and
//! writes to the console.

use crate::core::error::RuleError;
use crate::core::outcome::{Outcome, Status};
use serde_json::{json, Value};

/// One line for the host's log, and whether it goes to the error stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `console.error` rather than `console.log`.
    pub error: bool,
    /// The text, with no secret in it.
    pub text: String,
}

/// The line logged for each login: outcome, id, error code and message (already scrubbed); a
/// failure goes to the error stream.
pub fn outcome_log(outcome: &Outcome) -> LogLine {
    LogLine { error: outcome.status == Status::Failed, text: outcome.log_line() }
}

/// The line logged when a login is not attempted because the settings or the event could not be
/// read; `host` names the entry point (`auth0 action`, `firebase`, …).
pub fn config_error_log(host: &str, e: &RuleError) -> LogLine {
    LogLine {
        error: true,
        text: format!("sf-lead-rule ({host}): configuration error {}: {} — the login continues", e.code, e.message),
    }
}

/// The line logged when a webhook delivery names no user to record (`answer` is the body of
/// the 200 that says why).
pub fn delivery_skipped_log(host: &str, answer: &str) -> LogLine {
    LogLine { error: false, text: format!("sf-lead-rule ({host}): delivery skipped: {answer}") }
}

/// The line logged when the legacy Auth0 Rule could not save the marker after the record was
/// created (`auth0.users.updateAppMetadata` rejected).
pub fn auth0_rule_marker_not_saved_log() -> LogLine {
    LogLine {
        error: true,
        text: "sf-lead-rule (auth0 rule): updateAppMetadata failed; the record exists, the marker was not saved".into(),
    }
}

/// What a Firebase blocking function returns for `event`: `{ customClaims }` with the user's
/// claims kept and the marker laid over them once Salesforce confirmed the first login, else
/// nothing (the user is created or signed in unchanged).
pub fn firebase_answer(event: &Value, outcomes: &[Outcome]) -> Option<Value> {
    let claims = outcomes.first()?.marker_over(event.pointer("/data/customClaims"))?;
    Some(json!({ "customClaims": claims }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::Config;
    use crate::core::error::ErrorCode;

    fn config() -> Config {
        Config::parse(json!({"clientId": "c", "clientSecret": "s"}).as_object().expect("object")).expect("valid config")
    }

    #[test]
    fn a_configuration_error_is_logged_as_an_error_naming_host_code_and_message() {
        let e = RuleError::new(ErrorCode::ConfigMissing, "clientId is required");
        assert_eq!(
            config_error_log("auth0 action", &e),
            LogLine {
                error: true,
                text: "sf-lead-rule (auth0 action): configuration error CONFIG_MISSING: clientId is required — the login continues"
                    .into()
            }
        );
        assert!(auth0_rule_marker_not_saved_log().error);
        assert_eq!(
            delivery_skipped_log("authentik", r#"{"skipped":"no event user"}"#),
            LogLine {
                error: false,
                text: r#"sf-lead-rule (authentik): delivery skipped: {"skipped":"no event user"}"#.into()
            }
        );
    }

    #[test]
    fn only_a_failed_login_is_logged_as_an_error() {
        let failed = Outcome::not_attempted(RuleError::new(ErrorCode::ConfigMissing, "x"), Some(&config()));
        let line = outcome_log(&failed);
        assert!(line.error);
        assert_eq!(line.text, failed.log_line());
    }

    #[test]
    fn firebase_is_answered_only_with_a_marker_and_keeps_the_users_claims() {
        let event = json!({ "data": { "uid": "u1", "customClaims": { "role": "admin" } } });
        assert_eq!(firebase_answer(&event, &[]), None);
        let failed = Outcome::not_attempted(RuleError::new(ErrorCode::ConfigMissing, "x"), Some(&config()));
        assert_eq!(firebase_answer(&event, std::slice::from_ref(&failed)), None);
        let mut created = failed;
        created.status = Status::Created;
        created.lead_id = Some("00Q000000000001AAA".into());
        assert_eq!(
            firebase_answer(&event, &[created.clone()]),
            Some(
                json!({ "customClaims": { "role": "admin", "recordedAsLead": true, "salesforceLeadId": "00Q000000000001AAA" } })
            )
        );
        assert_eq!(
            firebase_answer(&json!({ "data": { "uid": "u1" } }), &[created]),
            Some(json!({ "customClaims": { "recordedAsLead": true, "salesforceLeadId": "00Q000000000001AAA" } }))
        );
    }
}
