//! One login per user at a time in one process. At-least-once hosts may deliver the same event
//! twice at the same moment (a retry racing a slow original): both would miss each other's record
//! in an email lookup and create two. The driver keeps the logins in flight by [`login_key`]; a
//! delivery whose key is in flight waits for that login and answers [`joined_outcome`] instead of
//! running its own. Several processes are not covered: there, `externalIdField` (an upsert) is.

use crate::core::outcome::{Outcome, SlackOutcome, Status};
use crate::core::profile::{Host, HostEvent};
use serde_json::Value;

/// The key a login of `event` from `host` runs under: the host and the user's id, or the email
/// (lower case) when the event has no id. A redelivery carries the same user, so it has the same
/// key whatever its delivery id. `None` when the profile has neither (no login runs then).
pub fn login_key(host: Host, event: &HostEvent) -> Option<String> {
    let field = |name: &str| event.profile.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    // The middle word keeps an id and an email apart, whatever characters either holds.
    match (field("user_id"), field("email")) {
        (Some(id), _) => Some(format!("{}|id|{id}", host.name())),
        (None, Some(email)) => Some(format!("{}|email|{}", host.name(), email.to_lowercase())),
        (None, None) => None,
    }
}

/// What a delivery that waited for the same user's login answers, given that login's outcome:
/// `duplicate` with the same record id once Salesforce confirmed it; otherwise the same status
/// and error (a skip or a failure is shared, not retried at once: the host redelivers). It sent
/// no request and no Slack message of its own, so its counts say so.
pub fn joined_outcome(first: &Outcome) -> Outcome {
    let slack = if first.slack.status == "not_configured" { "not_configured" } else { "not_needed" };
    let (status, reason) = if first.confirmed() {
        (Status::Duplicate, "not created: the same user's login was running in this process (a redelivery)".to_string())
    } else {
        (first.status, format!("{} (the same user's login running in this process)", first.reason))
    };
    Outcome {
        status,
        reason,
        object: first.object,
        lead_id: first.lead_id.clone(),
        record_url: first.record_url.clone(),
        record: None,
        warnings: Vec::new(),
        error: first.error.clone(),
        slack: SlackOutcome { status: slack, error: None },
        token: "none",
        requests: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::{ErrorCode, RuleError};
    use crate::core::profile::{normalise, FirstLoginSignal};
    use serde_json::json;

    const ID: &str = "00Q000000000001AAA";

    fn event(profile: Value) -> HostEvent {
        HostEvent { profile, signal: FirstLoginSignal::FirstLogin }
    }

    fn first(status: Status, lead_id: Option<&str>) -> Outcome {
        let mut o = Outcome::not_attempted(RuleError::new(ErrorCode::OutcomeUnknown, "why"), None);
        o.status = status;
        o.reason = "Lead created in Salesforce".into();
        o.lead_id = lead_id.map(str::to_owned);
        o.record_url = lead_id.map(|id| format!("https://acme.my.salesforce.com/lightning/r/Lead/{id}/view"));
        o.error = None;
        o.record = Some(Default::default());
        (o.requests, o.token, o.slack.status) = (3, "new", "sent");
        o
    }

    #[test]
    fn the_key_is_the_host_and_the_user() {
        let clerk = json!({"type": "user.created", "data": {"id": "user_29w83", "object": "user",
            "email_addresses": [{"id": "e1", "email_address": "Dana@Example.com"}], "primary_email_address_id": "e1"}});
        let users = normalise(Host::Clerk, &clerk).expect("a Clerk user");
        assert_eq!(login_key(Host::Clerk, &users[0]).as_deref(), Some("clerk|id|user_29w83"));
        // The same user from another host is another login.
        assert_eq!(login_key(Host::Okta, &users[0]).as_deref(), Some("okta|id|user_29w83"));
        assert_eq!(
            login_key(Host::Okta, &event(json!({"email": "Dana@Example.com"}))).as_deref(),
            Some("okta|email|dana@example.com")
        );
        // An id that looks like the email form is still an id.
        assert_ne!(
            login_key(Host::Okta, &event(json!({"user_id": "email|a@b.c"}))),
            login_key(Host::Okta, &event(json!({"email": "a@b.c"})))
        );
        assert_eq!(login_key(Host::Okta, &event(json!({"user_id": "", "email": ""}))), None);
        assert_eq!(login_key(Host::Okta, &event(json!({"user_id": 5}))), None);
    }

    #[test]
    fn a_confirmed_record_is_the_waiting_deliverys_duplicate() {
        for status in [Status::Created, Status::Duplicate] {
            let o = joined_outcome(&first(status, Some(ID)));
            assert_eq!(
                serde_json::to_value(&o).expect("serialises"),
                json!({"status": "duplicate",
                    "reason": "not created: the same user's login was running in this process (a redelivery)",
                    "object": "Lead", "leadId": ID,
                    "recordUrl": format!("https://acme.my.salesforce.com/lightning/r/Lead/{ID}/view"),
                    "warnings": [], "slack": {"status": "not_needed"}, "token": "none", "requests": 0})
            );
            assert!(o.confirmed(), "the waiting delivery may mark the user as well");
        }
    }

    #[test]
    fn a_skip_or_a_failure_is_shared_as_it_was() {
        let mut skipped = first(Status::Skipped, None);
        skipped.reason = "not a first login".into();
        skipped.slack.status = "not_configured";
        let o = joined_outcome(&skipped);
        assert_eq!(
            (o.status, o.reason.as_str(), o.slack.status, o.requests),
            (Status::Skipped, "not a first login (the same user's login running in this process)", "not_configured", 0)
        );
        let mut failed = first(Status::Failed, None);
        failed.error = Some(RuleError::new(ErrorCode::DeadlineExceeded, "gave up after 2500 ms"));
        let o = joined_outcome(&failed);
        assert_eq!((o.status, o.lead_id.as_deref()), (Status::Failed, None));
        assert_eq!(o.error.map(|e| e.code), Some(ErrorCode::DeadlineExceeded));
        assert!(!joined_outcome(&failed).confirmed());
        // An id without confirmation (a failure that names one) is no duplicate.
        assert_eq!(joined_outcome(&first(Status::Failed, Some(ID))).status, Status::Failed);
    }
}
