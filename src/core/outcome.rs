//! What happened to a user: the [`Status`] vocabulary the login and the backfill share; for one
//! first login, the `Outcome` (status, record, error, Slack, token), the marker a host stores once
//! Salesforce confirmed, and the log line.

use crate::core::config::Config;
use crate::core::error::RuleError;
use crate::core::record::{RecordPayload, SObject, Warning};
use serde::Serialize;
use serde_json::{Map, Value};

/// What happened to a user: to a first login (`Outcome::status`) or to one user of a backfill
/// (`batch::UserResult::status`). A login ends in one of the first four; the last three are the
/// backfill's, for users it never sends or has not reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A record was created.
    Created,
    /// An existing record was found (duplicate rule, unique field, email or external id lookup,
    /// upsert match); the user is recorded.
    Duplicate,
    /// Nothing to do (returning user, already recorded, done in an earlier run, repeated input).
    Skipped,
    /// No record could be confirmed.
    Failed,
    /// Backfill: the record could not be built (e.g. `MISSING_REQUIRED_FIELD`) or the input is
    /// unreadable; never sent.
    Invalid,
    /// Backfill: not processed because the run stopped; a rerun with the resume state continues.
    Pending,
    /// Backfill dry run: would be sent.
    Planned,
}

/// What happened to the Slack notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackOutcome {
    /// `sent`, `failed`, `not_configured` or `not_needed`.
    pub status: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RuleError>,
}

/// The result of one first login. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// What happened.
    pub status: Status,
    /// Why, in words.
    pub reason: String,
    /// The sObject (`Lead` or `Contact`).
    pub object: SObject,
    /// The record's id, once Salesforce confirmed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    /// The record in Salesforce's UI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_url: Option<String>,
    /// The record built from the profile (sent or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordPayload>,
    /// What changed on the way without stopping the record.
    pub warnings: Vec<Warning>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RuleError>,
    /// The Slack notification.
    pub slack: SlackOutcome,
    /// `cached`, `new` or `none`: where the access token came from.
    pub token: &'static str,
    /// HTTP requests sent, retries included.
    pub requests: u32,
}

/// The marker keys a host stores on the user once Salesforce confirmed (app metadata, claims).
pub const MARKER_KEY: &str = "recordedAsLead";
/// The marker key that carries the record's id.
pub const LEAD_ID_KEY: &str = "salesforceLeadId";

impl Outcome {
    /// Whether the host should mark the user as recorded (only after Salesforce confirmed).
    pub fn confirmed(&self) -> bool {
        matches!(self.status, Status::Created | Status::Duplicate) && self.lead_id.is_some()
    }

    /// A login that was not attempted because its configuration or event could not be read: no
    /// request was sent. `config` is the configuration when it was read (it names the object and
    /// whether Slack is configured); without one, the object is a Lead and Slack is not configured.
    /// Every field the published `Outcome` type promises is there.
    pub fn not_attempted(error: RuleError, config: Option<&Config>) -> Outcome {
        let slack = match config {
            Some(c) if c.slack_webhook_url.is_some() => "not_needed",
            _ => "not_configured",
        };
        Outcome {
            status: Status::Failed,
            reason: "not attempted".into(),
            object: config.map_or(SObject::Lead, |c| c.object),
            lead_id: None,
            record_url: None,
            record: None,
            warnings: Vec::new(),
            error: Some(error),
            slack: SlackOutcome { status: slack, error: None },
            token: "none",
            requests: 0,
        }
    }

    /// The marker a host stores once Salesforce confirmed (`recordedAsLead`, `salesforceLeadId`,
    /// in that order), else `None`.
    pub fn marker(&self) -> Option<Map<String, Value>> {
        let id = self.lead_id.as_ref().filter(|_| self.confirmed())?;
        let mut m = Map::new();
        m.insert(MARKER_KEY.into(), Value::Bool(true));
        m.insert(LEAD_ID_KEY.into(), Value::String(id.clone()));
        Some(m)
    }

    /// The one log line of a login, with no secret (errors are already scrubbed): for a failure
    /// the object, code and message; else the status, object, id (a skip: and why), requests,
    /// token and Slack.
    pub fn log_line(&self) -> String {
        match (&self.status, &self.error) {
            (Status::Failed, Some(e)) => {
                format!("sf-lead-rule: {} not created: {}: {}", self.object.name(), e.code, e.message)
            }
            _ => format!(
                "sf-lead-rule: {} {}{}{} ({} requests, token {}, slack {})",
                self.status.name(),
                self.object.name(),
                self.lead_id.as_deref().map(|i| format!(" {i}")).unwrap_or_default(),
                if self.status == Status::Skipped { format!(": {}", self.reason) } else { String::new() },
                self.requests,
                self.token,
                self.slack.status
            ),
        }
    }

    /// The host's own object (`metadata_public`, `customClaims`; anything not an object counts as
    /// empty) with the marker laid over it, when there is a marker: what the host keeps, plus ours.
    pub fn marker_over(&self, existing: Option<&Value>) -> Option<Map<String, Value>> {
        let marker = self.marker()?;
        let mut merged = existing.and_then(Value::as_object).cloned().unwrap_or_default();
        merged.extend(marker);
        Some(merged)
    }
}

impl Status {
    /// The name outcomes and log lines show.
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Duplicate => "duplicate",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Invalid => "invalid",
            Status::Pending => "pending",
            Status::Planned => "planned",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::ErrorCode;

    fn config(v: Value) -> Config {
        Config::parse(v.as_object().expect("object")).expect("valid config")
    }

    #[test]
    fn a_login_not_attempted_has_every_field_of_an_outcome() {
        let e = RuleError::new(ErrorCode::ConfigInvalid, "clientId is missing").with_field("clientId");
        let o = Outcome::not_attempted(e.clone(), None);
        assert_eq!(
            serde_json::to_value(&o).expect("serialises"),
            serde_json::json!({
                "status": "failed", "reason": "not attempted", "object": "Lead", "warnings": [],
                "error": serde_json::to_value(&e).expect("serialises"),
                "slack": {"status": "not_configured"}, "token": "none", "requests": 0
            })
        );
        assert!(!o.confirmed() && o.marker().is_none());
        let c = config(serde_json::json!({
            "clientId": "cid", "clientSecret": "s", "object": "Contact",
            "slackWebhookUrl": "https://hooks.slack.com/services/T0/B0/x"
        }));
        let o = Outcome::not_attempted(e, Some(&c));
        assert_eq!((o.object, o.slack.status), (SObject::Contact, "not_needed"));
        let plain = config(serde_json::json!({"clientId": "cid", "clientSecret": "s"}));
        let o = Outcome::not_attempted(RuleError::new(ErrorCode::ProfileInvalid, "x"), Some(&plain));
        assert_eq!((o.object, o.slack.status), (SObject::Lead, "not_configured"));
    }

    #[test]
    fn the_marker_only_once_salesforce_confirmed_and_over_the_hosts_own_keys() {
        let mut o = Outcome::not_attempted(RuleError::new(ErrorCode::ProfileInvalid, "x"), None);
        o.lead_id = Some("00Q000000000001AAA".into());
        assert_eq!(o.marker(), None, "failed, though it has an id");
        for status in [Status::Created, Status::Duplicate] {
            o.status = status;
            let m = o.marker().expect("confirmed");
            assert_eq!(m.keys().collect::<Vec<_>>(), [MARKER_KEY, LEAD_ID_KEY]);
            assert_eq!(
                Value::Object(m),
                serde_json::json!({"recordedAsLead": true, "salesforceLeadId": "00Q000000000001AAA"})
            );
        }
        let existing = serde_json::json!({"plan": "pro", "recordedAsLead": false});
        assert_eq!(
            o.marker_over(Some(&existing)).map(Value::Object),
            Some(serde_json::json!({"plan": "pro", "recordedAsLead": true, "salesforceLeadId": "00Q000000000001AAA"}))
        );
        assert_eq!(o.marker_over(Some(&serde_json::json!("odd"))), o.marker());
        assert_eq!(o.marker_over(None), o.marker());
        o.status = Status::Skipped;
        assert_eq!(o.marker_over(Some(&existing)), None);
        o.status = Status::Created;
        o.lead_id = None;
        assert_eq!(o.marker(), None);
    }

    #[test]
    fn one_log_line_per_login() {
        let e = RuleError::new(ErrorCode::TokenRejected, "invalid_client: bad secret");
        let mut o = Outcome::not_attempted(e, None);
        assert_eq!(o.log_line(), "sf-lead-rule: Lead not created: TOKEN_REJECTED: invalid_client: bad secret");
        o.error = None;
        assert_eq!(o.log_line(), "sf-lead-rule: failed Lead (0 requests, token none, slack not_configured)");
        o.status = Status::Created;
        o.lead_id = Some("00Q000000000001AAA".into());
        (o.requests, o.token, o.slack.status) = (3, "new", "sent");
        assert_eq!(o.log_line(), "sf-lead-rule: created Lead 00Q000000000001AAA (3 requests, token new, slack sent)");
        o.status = Status::Skipped;
        o.lead_id = None;
        o.object = SObject::Contact;
        o.reason = "not a first login".into();
        assert_eq!(
            o.log_line(),
            "sf-lead-rule: skipped Contact: not a first login (3 requests, token new, slack sent)"
        );
    }
}
