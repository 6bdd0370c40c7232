//! The resume state: each user's status and the open bulk job, as the JSON a rerun reads back.

use crate::core::config::Config;
use crate::core::error::{ErrorCode, Result, RuleError};

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The `format` of resume states this version writes and reads.
pub const STATE_FORMAT: &str = "sf-lead-rule/backfill@1";

/// A user's progress as the resume state keeps it for a rerun. Not a [`Status`](crate::core::outcome::Status):
/// it holds in-flight steps (`sending`, `bulk`) and what a rerun must not resend (`unknown`),
/// and its JSON is the persisted state format, which must stay readable across versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Salesforce created it.
    Created {
        /// The new record's id.
        lead_id: String,
    },
    /// A record for this user already existed.
    Duplicate {
        /// That record's id, when Salesforce named it.
        lead_id: Option<String>,
    },
    /// Salesforce refused it; sent again on the next run (it was not created).
    Failed {
        /// The error's code.
        code: String,
        /// The error's message.
        message: String,
    },
    /// A request that may create it went out and its answer is not in yet: look up before resending.
    Sending,
    /// It may or may not exist and cannot be looked up (no email, no external id): never resent.
    Unknown {
        /// Why it cannot be known.
        message: String,
    },
    /// In the bulk job `job`, as the CSV row whose fingerprint is `row`.
    Bulk {
        /// The bulk job's id.
        job: String,
        /// The fingerprint of the user's CSV row.
        row: String,
    },
}

impl Entry {
    pub(super) fn to_json(&self) -> Value {
        match self {
            Entry::Created { lead_id } => json!({"status": "created", "leadId": lead_id}),
            Entry::Duplicate { lead_id: Some(id) } => json!({"status": "duplicate", "leadId": id}),
            Entry::Duplicate { lead_id: None } => json!({"status": "duplicate"}),
            Entry::Failed { code, message } => json!({"status": "failed", "code": code, "message": message}),
            Entry::Sending => json!({"status": "sending"}),
            Entry::Unknown { message } => json!({"status": "unknown", "message": message}),
            Entry::Bulk { job, row } => json!({"status": "bulk", "job": job, "row": row}),
        }
    }
    pub(super) fn from_json(v: &Value) -> Option<Entry> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        Some(match v.get("status")?.as_str()? {
            "created" => Entry::Created { lead_id: s("leadId")? },
            "duplicate" => Entry::Duplicate { lead_id: s("leadId") },
            "failed" => {
                Entry::Failed { code: s("code").unwrap_or_default(), message: s("message").unwrap_or_default() }
            }
            "sending" => Entry::Sending,
            "unknown" => Entry::Unknown { message: s("message").unwrap_or_default() },
            "bulk" => Entry::Bulk { job: s("job")?, row: s("row")? },
            _ => return None,
        })
    }
}

/// How far the open bulk job got, as far as this side knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobPhase {
    /// Created; the upload is not confirmed (a resume aborts it and makes a new one).
    Open,
    /// Data uploaded, not yet closed.
    Uploaded,
    /// Closed (`UploadComplete`): Salesforce processes it; poll.
    Closed,
}

impl JobPhase {
    pub(super) fn name(self) -> &'static str {
        match self {
            JobPhase::Open => "open",
            JobPhase::Uploaded => "uploaded",
            JobPhase::Closed => "closed",
        }
    }
}

/// What a rerun needs: each user's status by user key (`user_id`), the instance the records
/// went to, and the open bulk job. Serialised as JSON (see [`ResumeState::to_json`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResumeState {
    /// The sObject the records are created as (`Lead` or `Contact`).
    pub object: String,
    /// The instance the records went to, once known.
    pub instance_url: Option<String>,
    /// The open bulk job and how far it got.
    pub bulk_job: Option<(String, JobPhase)>,
    /// Each user's status, by user key; ordered, so the state serialises the same every time.
    pub users: BTreeMap<String, Entry>,
}

impl ResumeState {
    /// The state as JSON, users sorted by key: the same state is always the same text.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("format".into(), STATE_FORMAT.into());
        m.insert("object".into(), self.object.clone().into());
        if let Some(url) = &self.instance_url {
            m.insert("instanceUrl".into(), url.clone().into());
        }
        if let Some((id, phase)) = &self.bulk_job {
            m.insert("bulkJob".into(), json!({"id": id, "phase": phase.name()}));
        }
        // Sorted by user key (a BTreeMap), so the same state is always the same text.
        let users = self.users.iter().map(|(k, e)| (k.clone(), e.to_json())).collect();
        m.insert("users".into(), Value::Object(users));
        Value::Object(m)
    }

    /// Read a state written by [`ResumeState::to_json`]; `null` is a fresh start.
    /// Errors are `CONFIG_INVALID` with field `state`.
    pub fn from_json(v: &Value, config: &Config) -> Result<ResumeState> {
        let bad =
            |why: &str| RuleError::new(ErrorCode::ConfigInvalid, format!("the resume state {why}")).with_field("state");
        let object = config.object.name().to_string();
        if v.is_null() {
            return Ok(ResumeState { object, ..ResumeState::default() });
        }
        if v.get("format").and_then(Value::as_str) != Some(STATE_FORMAT) {
            return Err(bad(&format!("is not one this version wrote (format must be \"{STATE_FORMAT}\")")));
        }
        if v.get("object").and_then(Value::as_str) != Some(object.as_str()) {
            return Err(bad(&format!("was written for another object; this configuration creates {object} records")));
        }
        let bulk_job = match v.get("bulkJob") {
            None | Some(Value::Null) => None,
            Some(j) => {
                let id = j
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| bad("has a bulkJob without an id"))?;
                let phase = match j.get("phase").and_then(Value::as_str) {
                    Some("open") => JobPhase::Open,
                    Some("uploaded") => JobPhase::Uploaded,
                    Some("closed") => JobPhase::Closed,
                    _ => return Err(bad("has a bulkJob with an unknown phase")),
                };
                Some((id.to_string(), phase))
            }
        };
        let mut users = BTreeMap::new();
        for (key, e) in v.get("users").and_then(Value::as_object).ok_or_else(|| bad("has no users object"))? {
            let entry = Entry::from_json(e).ok_or_else(|| bad(&format!("has an unreadable entry for user {key}")))?;
            users.insert(key.clone(), entry);
        }
        Ok(ResumeState {
            object,
            instance_url: v.get("instanceUrl").and_then(Value::as_str).map(String::from),
            bulk_job,
            users,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_refuses_foreign_states() {
        let config = Config::parse(json!({"clientId": "c", "clientSecret": "s"}).as_object().unwrap()).unwrap();
        let mut s = ResumeState {
            object: "Lead".into(),
            instance_url: Some("https://a.my.salesforce.com".into()),
            ..Default::default()
        };
        s.bulk_job = Some(("750x".into(), JobPhase::Uploaded));
        s.users.insert("u1".into(), Entry::Created { lead_id: "00Q1".into() });
        s.users.insert("u2".into(), Entry::Failed { code: "STRING_TOO_LONG".into(), message: "m".into() });
        s.users.insert("u3".into(), Entry::Bulk { job: "750x".into(), row: "r1".into() });
        s.users.insert("u4".into(), Entry::Sending);
        assert_eq!(ResumeState::from_json(&s.to_json(), &config).unwrap(), s);
        let contact =
            Config::parse(json!({"clientId": "c", "clientSecret": "s", "object": "Contact"}).as_object().unwrap())
                .unwrap();
        assert_eq!(ResumeState::from_json(&s.to_json(), &contact).unwrap_err().field.as_deref(), Some("state"));
        assert!(ResumeState::from_json(&json!({"users": {}}), &config).is_err());
        assert!(ResumeState::from_json(
            &json!({"format": STATE_FORMAT, "object": "Lead", "users": {"u": {"status": "?"}}}),
            &config
        )
        .is_err());
    }
}
