//! What a run reads: exported users (one input item each) and the run's options; and how the
//! machine turns them into users to send, skip or report invalid, sorted against the resume state.

use crate::core::error::{Result, RuleError};
use crate::core::profile::{normalise, FirstLoginSignal, Host, HostEvent};
use crate::core::record::{build_record, json_path, RecordPayload};

use super::job::Job;
use super::machine::{unknown_error, Backfill, BatchUser};
use super::state::Entry;
use crate::core::outcome::Status;

use serde::Serialize;
use serde_json::{json, Map, Value};

/// Rows per Bulk API 2.0 job.
pub const MAX_JOB_ROWS: usize = 100_000;
/// The CSV size, in bytes, a job stays under.
/// One input item's users (see [`users_of`]), or why the item could not be read.
pub type InputItem = std::result::Result<Vec<HostEvent>, RuleError>;

/// Which API creates the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// sObject Collections: up to 200 records a request.
    Collections,
    /// One Bulk API 2.0 ingest job (CSV upload, then polling).
    Bulk,
    /// Bulk when more than `bulkThreshold` records are to be sent, else collections.
    Auto,
}

impl Mode {
    /// Reads `collections`, `bulk` or `auto` (any case, spaces trimmed).
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "collections" => Some(Mode::Collections),
            "bulk" => Some(Mode::Bulk),
            "auto" => Some(Mode::Auto),
            _ => None,
        }
    }
}

/// Timing and sizing of a run. Batches are not logins: requests may take long, and a bulk job
/// may run for minutes, so these are separate from the login flow's `deadlineMs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOptions {
    /// Which API creates the records.
    pub mode: Mode,
    /// Abort one request after this long.
    pub request_timeout_ms: u64,
    /// How long one request may keep being retried (5xx, 429, network) before the run stops.
    pub retry_window_ms: u64,
    /// Retries of one request before the run stops.
    pub max_retries: u32,
    /// First pause between bulk job polls; doubles up to `poll_max_ms`.
    pub poll_interval_ms: u64,
    /// Longest pause between bulk job polls.
    pub poll_max_ms: u64,
    /// How long to wait for one bulk job before stopping (resumable: a rerun polls the same job).
    pub max_wait_ms: u64,
    /// Rows per bulk job (at most [`MAX_JOB_ROWS`]).
    pub max_job_rows: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            mode: Mode::Auto,
            request_timeout_ms: 120_000,
            retry_window_ms: 300_000,
            max_retries: 5,
            poll_interval_ms: 1_000,
            poll_max_ms: 30_000,
            max_wait_ms: 3_600_000,
            max_job_rows: MAX_JOB_ROWS,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Input: exported users → host events → records

/// An exported user (as a host's admin API or export job lists them) in the shape `normalise`
/// reads for `host`; events already in that shape pass through. Auth0 export lines become
/// `{user}`, Ory identities `{identity}`, Firebase user records `{data}` (`localId` read as
/// `uid`), Cognito `ListUsers` entries `{userName, request.userAttributes}`, Clerk users
/// `{type: "user.created", data}` and Okta users an inline-hook `data.context.user`.
pub fn as_host_event(host: Host, item: &Value) -> Value {
    let has = |k: &str| item.get(k).is_some_and(Value::is_object);
    match host {
        Host::Auth0Action | Host::Auth0Rule if !has("user") => json!({ "user": item }),
        Host::Ory if !has("identity") && !has("ctx") => json!({ "identity": item }),
        Host::Firebase if !has("data") => {
            let mut user = item.clone();
            if let (Some(m), Some(id)) = (user.as_object_mut(), item.get("localId")) {
                m.entry("uid").or_insert_with(|| id.clone());
            }
            json!({ "data": user })
        }
        Host::Cognito if item.pointer("/request/userAttributes").is_none() => {
            let list = item.get("Attributes").or_else(|| item.get("UserAttributes")).and_then(Value::as_array);
            match list {
                Some(list) => {
                    let attributes: Map<String, Value> = list
                        .iter()
                        .filter_map(|a| Some((a.get("Name")?.as_str()?.to_string(), a.get("Value")?.clone())))
                        .collect();
                    json!({ "userName": item.get("Username"), "request": { "userAttributes": attributes } })
                }
                None => item.clone(),
            }
        }
        Host::Clerk if !has("data") => json!({ "type": "user.created", "data": item }),
        Host::Okta if !has("data") && has("profile") => {
            json!({ "data": { "context": { "user": { "id": item.get("id"), "profile": item.get("profile") } } } })
        }
        _ => item.clone(),
    }
}

/// The users one input item carries (Okta event hooks may carry several, or none).
pub fn users_of(host: Host, item: &Value) -> Result<Vec<HostEvent>> {
    normalise(host, &as_host_event(host, item))
}

impl Backfill {
    pub(super) fn add_input(&mut self, input: usize, item: InputItem) {
        let events = match item {
            Ok(events) => events,
            Err(e) => {
                let mut user = BatchUser::new(format!("input[{input}]"), input);
                user.invalidate(e);
                self.users.push(user);
                return;
            }
        };
        for event in events {
            let key = json_path(&event.profile, "user_id").unwrap_or_else(|| format!("input[{input}]"));
            let mut user = BatchUser::new(key.clone(), input);
            if self.index.contains_key(&key) {
                user.skip(None, "the same user appears earlier in the input");
            } else if let FirstLoginSignal::AlreadyRecorded { lead_id } = &event.signal {
                user.skip(lead_id.clone(), "already recorded (app_metadata.recordedAsLead)");
            } else {
                match self.build(&event.profile) {
                    Ok((record, lookup)) => {
                        user.record = record;
                        user.lookup = lookup;
                    }
                    Err(e) => user.invalidate(e),
                }
            }
            self.index.entry(key).or_insert(self.users.len());
            self.users.push(user);
        }
    }

    /// The record as the login flow would send it, plus the external id field (its value from
    /// `externalIdSource`) so that later logins upsert onto the backfilled record.
    pub(super) fn build(&self, profile: &Value) -> Result<(RecordPayload, Option<(String, String)>)> {
        let (mut record, _warnings) = build_record(self.config.object, &self.config.mapping, profile)?;
        if let Some(field) = &self.config.external_id_field {
            if let Some(value) = json_path(profile, &self.config.external_id_source) {
                record.fields.retain(|(k, _)| k != field);
                record.fields.push((field.clone(), value.clone()));
                return Ok((record, Some((field.clone(), value))));
            }
        }
        let email = record.get("Email").map(|e| ("Email".to_string(), e.to_string()));
        Ok((record, email))
    }

    pub(super) fn sort_against_state(&mut self) {
        let job_id = self.state.bulk_job.as_ref().map(|(id, _)| id.clone());
        for i in 0..self.users.len() {
            let u = &self.users[i];
            if u.result.status == Status::Skipped || self.index.get(u.key()) != Some(&i) {
                continue;
            }
            if u.result.status == Status::Invalid {
                // Done in an earlier run (with another mapping, say): still done.
                if let Some(Entry::Created { lead_id } | Entry::Duplicate { lead_id: Some(lead_id) }) =
                    self.state.users.get(u.key())
                {
                    self.users[i].skip(Some(lead_id.clone()), "done in an earlier run");
                }
                continue;
            }
            match self.state.users.get(u.key()) {
                Some(Entry::Created { lead_id }) | Some(Entry::Duplicate { lead_id: Some(lead_id) }) => {
                    self.users[i].skip(Some(lead_id.clone()), "done in an earlier run");
                }
                Some(Entry::Duplicate { lead_id: None }) => self.users[i].skip(None, "done in an earlier run"),
                Some(Entry::Unknown { message }) => {
                    let e = unknown_error(message.clone());
                    self.settle(i, Status::Failed, None, Some(e));
                }
                Some(Entry::Sending) => self.queue_verify(i),
                Some(Entry::Bulk { job, .. }) if Some(job) == job_id.as_ref() => {}
                // Failed earlier (not created), or in a job that is no longer open: send.
                Some(Entry::Failed { .. }) | Some(Entry::Bulk { .. }) | None => self.queue.push_back(i),
            }
        }
        if let Some((id, phase)) = self.state.bulk_job.clone() {
            let mut job = Job::new(Some(id.clone()), phase);
            job.check_first = true;
            for (key, e) in &self.state.users {
                if let Entry::Bulk { job: j, row } = e {
                    if *j == id {
                        job.users.push(key.clone());
                        job.rows.entry(row.clone()).or_default().push_back(key.clone());
                    }
                }
            }
            self.job = Some(job);
        }
        if self.mode == Mode::Auto {
            let threshold = self.config.bulk_threshold as usize;
            self.mode = if self.queue.len() > threshold { Mode::Bulk } else { Mode::Collections };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_records_become_host_events() {
        let auth0 = json!({"user_id": "auth0|1", "email": "a@x.com"});
        assert_eq!(users_of(Host::Auth0Action, &auth0).unwrap()[0].profile["user_id"], "auth0|1");
        let ory = json!({"id": "ory-1", "traits": {"email": "o@x.com", "name": {"first": "O", "last": "Ry"}}});
        assert_eq!(users_of(Host::Ory, &ory).unwrap()[0].profile["family_name"], "Ry");
        let firebase = json!({"localId": "fb-1", "email": "f@x.com", "displayName": "F B"});
        assert_eq!(users_of(Host::Firebase, &firebase).unwrap()[0].profile["user_id"], "fb-1");
        let cognito = json!({"Username": "c1", "Attributes": [{"Name": "sub", "Value": "sub-1"}, {"Name": "email", "Value": "c@x.com"}]});
        assert_eq!(users_of(Host::Cognito, &cognito).unwrap()[0].profile["user_id"], "sub-1");
        let clerk =
            json!({"id": "user_1", "object": "user", "first_name": "C", "last_name": "L", "email_addresses": []});
        assert_eq!(users_of(Host::Clerk, &clerk).unwrap()[0].profile["family_name"], "L");
        let okta = json!({"id": "00u1", "profile": {"firstName": "O", "lastName": "K", "email": "ok@x.com", "login": "ok@x.com"}});
        assert_eq!(users_of(Host::Okta, &okta).unwrap()[0].profile["user_id"], "00u1");
    }
}
