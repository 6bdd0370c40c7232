//! One login per user at a time in one process. At-least-once hosts may deliver the same event
//! twice at the same moment (a retry racing a slow original): both would miss each other's record
//! in an email lookup and create two. The driver keeps the logins in flight by [`login_key`]; a
//! delivery whose key is in flight waits for that login and answers [`joined_outcome`] instead of
//! running its own (after a skip, it runs its own then). Several processes are not covered:
//! there, `externalIdField` (an upsert) is.

use crate::core::config::Config;
use crate::core::outcome::{Outcome, SlackOutcome, Status};
use crate::core::profile::{Host, HostEvent};
use crate::core::session::cache_identity;
use serde_json::Value;

/// The key a login of `event` from `host` runs under: the host, the user's id (or the email with
/// ASCII letters lowered, when the event has no id; Unicode case tables would cost the wasm
/// ~8 kB gzip), and where the record goes (the object and whose token:
/// two configurations in one process never wait for each other). A redelivery carries the same
/// user, so it has the same key whatever its delivery id. `None` when the profile has neither id
/// nor email (no login runs then). Held in memory only: it names no secret.
pub fn login_key(host: Host, event: &HostEvent, config: &Config) -> Option<String> {
    let field = |name: &str| event.profile.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let target = cache_identity(config);
    // Host and object names hold no `|`, the identity is length-prefixed, and the word before
    // the user keeps an id and an email apart: no two different logins share a key.
    let prefix = format!("{}|{}|{}:{target}", host.name(), config.object.name(), target.len());
    match (field("user_id"), field("email")) {
        (Some(id), _) => Some(format!("{prefix}|id|{id}")),
        (None, Some(email)) => Some(format!("{prefix}|email|{}", email.to_ascii_lowercase())),
        (None, None) => None,
    }
}

/// What a delivery that waited for the same user's login answers, given that login's outcome:
/// `duplicate` with the same record id once Salesforce confirmed it; a failure as it was (not
/// retried at once: the host redelivers on the 503). It sent no request and no Slack message of
/// its own, so its counts say so. `None` after a skip: the skip was that delivery's own (a
/// returning user's or unknown signal, a marker) and a 200 is never redelivered, so the waiting
/// delivery runs its own login now that the first is done.
pub fn joined_outcome(first: &Outcome) -> Option<Outcome> {
    if first.status == Status::Skipped {
        return None;
    }
    let slack = if first.slack.status == "not_configured" { "not_configured" } else { "not_needed" };
    let (status, reason) = if first.confirmed() {
        (Status::Duplicate, "not created: the same user's login was running in this process (a redelivery)".to_string())
    } else {
        (first.status, format!("{} (the same user's login running in this process)", first.reason))
    };
    Some(Outcome {
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
    })
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

    fn config(extra: Value) -> Config {
        let mut settings =
            json!({"clientId": "cid", "clientSecret": "s", "loginUrl": "https://acme.my.salesforce.com"});
        settings.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        Config::parse(settings.as_object().expect("object")).expect("valid config")
    }

    #[test]
    fn the_key_is_the_host_the_user_and_where_the_record_goes() {
        let c = config(json!({}));
        let clerk = json!({"type": "user.created", "data": {"id": "user_29w83", "object": "user",
            "email_addresses": [{"id": "e1", "email_address": "Dana@Example.com"}], "primary_email_address_id": "e1"}});
        let users = normalise(Host::Clerk, &clerk).expect("a Clerk user");
        let target = cache_identity(&c);
        assert_eq!(
            login_key(Host::Clerk, &users[0], &c),
            Some(format!("clerk|Lead|{}:{target}|id|user_29w83", target.len()))
        );
        // The same user from another host, into another object or org, is another login.
        let others = [
            login_key(Host::Okta, &users[0], &c),
            login_key(Host::Clerk, &users[0], &config(json!({"object": "Contact"}))),
            login_key(Host::Clerk, &users[0], &config(json!({"clientId": "other"}))),
            login_key(Host::Clerk, &users[0], &config(json!({"loginUrl": "https://other.my.salesforce.com"}))),
        ];
        for other in &others {
            assert!(other.is_some() && *other != login_key(Host::Clerk, &users[0], &c), "{other:?}");
        }
        // A redelivery is the same user: the same key.
        let again = normalise(Host::Clerk, &clerk).expect("a Clerk user");
        assert_eq!(login_key(Host::Clerk, &again[0], &c), login_key(Host::Clerk, &users[0], &c));
        assert_eq!(
            login_key(Host::Okta, &event(json!({"email": "Dana@Example.com"})), &c),
            Some(format!("okta|Lead|{}:{target}|email|dana@example.com", target.len()))
        );
        // An id that looks like the email form is still an id.
        assert_ne!(
            login_key(Host::Okta, &event(json!({"user_id": "email|a@b.c"})), &c),
            login_key(Host::Okta, &event(json!({"email": "a@b.c"})), &c)
        );
        assert_eq!(login_key(Host::Okta, &event(json!({"user_id": "", "email": ""})), &c), None);
        assert_eq!(login_key(Host::Okta, &event(json!({"user_id": 5})), &c), None);
    }

    #[test]
    fn a_confirmed_record_is_the_waiting_deliverys_duplicate() {
        for status in [Status::Created, Status::Duplicate] {
            let o = joined_outcome(&first(status, Some(ID))).expect("joined");
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
    fn a_failure_is_shared_as_it_was_and_a_skip_is_not() {
        let mut failed = first(Status::Failed, None);
        failed.reason = "not created".into();
        failed.slack.status = "not_configured";
        failed.error = Some(RuleError::new(ErrorCode::DeadlineExceeded, "gave up after 2500 ms"));
        let o = joined_outcome(&failed).expect("joined");
        assert_eq!(
            (o.status, o.reason.as_str(), o.slack.status, o.requests, o.lead_id.as_deref()),
            (Status::Failed, "not created (the same user's login running in this process)", "not_configured", 0, None)
        );
        assert_eq!(o.error.map(|e| e.code), Some(ErrorCode::DeadlineExceeded));
        assert!(!joined_outcome(&failed).expect("joined").confirmed());
        // An id without confirmation (a failure that names one) is no duplicate.
        assert_eq!(joined_outcome(&first(Status::Failed, Some(ID))).map(|o| o.status), Some(Status::Failed));
        // A skip was the first delivery's own (a login hook of a returning user racing the
        // registration's): answering it 200 would lose this one's user, so it runs its own login.
        let mut skipped = first(Status::Skipped, None);
        skipped.reason = "not a first login".into();
        assert_eq!(joined_outcome(&skipped), None);
    }
}
