//! What a run reads: exported users (one input item each) and the run's options; and how the
//! machine turns them into users to send, skip or report invalid, sorted against the resume state.

use crate::core::config::split_host;
use crate::core::error::{ErrorCode, Result, RuleError};
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

/// A run's options other than its callbacks, read by [`read_options`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The shape of each profile: `options.host`, else the config's host.
    pub host: Host,
    /// Mode, timeouts and retries.
    pub batch: BatchOptions,
    /// Plan only, send nothing.
    pub dry_run: bool,
    /// The resume state as JSON (`null` for none) for [`Backfill::new`].
    pub state: Value,
}

/// An option's error: `CONFIG_INVALID` with `field` `options.{key}`.
pub fn option_error(key: &str, what: &str) -> RuleError {
    RuleError::new(ErrorCode::ConfigInvalid, format!("options.{key} {what}")).with_field(format!("options.{key}"))
}

/// A callback option (`onProgress`, `onState`) given but not a function.
pub fn callback_error(key: &str) -> RuleError {
    option_error(key, "must be a function")
}

/// The profiles argument is not a list.
pub fn profiles_error() -> RuleError {
    RuleError::new(ErrorCode::ConfigInvalid, "profiles must be an array of host events or exported users")
}

/// The error that stops a run whose `onState` callback failed (`why`): sending on without a
/// saved state could make duplicates after a crash.
pub fn state_not_saved(why: &str) -> RuleError {
    RuleError::new(ErrorCode::ConfigInvalid, format!("onState failed, so the run stopped: {why}"))
        .with_field("options.onState")
}

/// Read a run's options: `options` is `null` (none) or an object of `host`, `mode`,
/// `requestTimeoutMs`, `maxRetries`, `pollIntervalMs`, `maxWaitMs`, `dryRun` and `state` (an
/// object, or its JSON text; blank text is none); anything else is refused. `config_host` is the
/// host when `options.host` is absent.
pub fn read_options(options: &Value, config_host: Host) -> Result<RunOptions> {
    let none = Map::new();
    let options = match options {
        Value::Null => &none,
        Value::Object(m) => m,
        _ => return Err(RuleError::new(ErrorCode::ConfigInvalid, "options must be an object")),
    };
    let given = |key: &str| options.get(key).filter(|v| !v.is_null());
    let host = match given("host") {
        None => config_host,
        // The config's host key is read the same way, so the message names every host once.
        Some(v) => {
            split_host(Map::from_iter([("host".to_string(), v.clone())]))
                .map_err(|e| option_error("host", e.message.trim_start_matches("host ")))?
                .0
        }
    };
    let mut batch = BatchOptions::default();
    if let Some(v) = given("mode") {
        batch.mode = v
            .as_str()
            .and_then(Mode::parse)
            .ok_or_else(|| option_error("mode", "must be \"collections\", \"bulk\" or \"auto\""))?;
    }
    // Integer bounds in messages: formatting an f64 would pull float formatting into the wasm.
    let number = |key: &str, min: u64, max: u64| -> Result<Option<u64>> {
        let Some(v) = given(key) else { return Ok(None) };
        match v.as_f64() {
            Some(n) if n >= min as f64 && n <= max as f64 => Ok(Some(n as u64)),
            _ => Err(option_error(key, &format!("must be a number from {min} to {max}"))),
        }
    };
    if let Some(n) = number("requestTimeoutMs", 50, 600_000)? {
        batch.request_timeout_ms = n;
    }
    if let Some(n) = number("maxRetries", 0, 20)? {
        batch.max_retries = n as u32;
    }
    if let Some(n) = number("pollIntervalMs", 1, 600_000)? {
        batch.poll_interval_ms = n;
    }
    if let Some(n) = number("maxWaitMs", 0, 7 * 24 * 3_600_000)? {
        batch.max_wait_ms = n;
    }
    let dry_run = given("dryRun").is_some_and(truthy);
    let state = match given("state") {
        None => Value::Null,
        Some(Value::String(text)) if text.trim().is_empty() => Value::Null,
        Some(Value::String(text)) => {
            serde_json::from_str(text).map_err(|e| option_error("state", &format!("is not valid JSON: {e}")))?
        }
        Some(v) => v.clone(),
    };
    Ok(RunOptions { host, batch, dry_run, state })
}

/// JavaScript's truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
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

    #[test]
    fn options_default_and_take_the_config_host() {
        let read = read_options(&Value::Null, Host::Ory).unwrap();
        let want = RunOptions { host: Host::Ory, batch: BatchOptions::default(), dry_run: false, state: Value::Null };
        assert_eq!(read, want);
        assert_eq!(read_options(&json!({"host": null, "state": "  "}), Host::Ory).unwrap(), want);
    }

    #[test]
    fn options_are_read_into_the_run() {
        let options = json!({
            "host": "Firebase", "mode": " BULK ", "requestTimeoutMs": 50, "maxRetries": 2.7,
            "pollIntervalMs": 10, "maxWaitMs": 0, "dryRun": 1, "state": "{\"format\": \"x\"}",
        });
        let read = read_options(&options, Host::Generic).unwrap();
        assert_eq!((read.host, read.batch.mode, read.dry_run), (Host::Firebase, Mode::Bulk, true));
        let b = &read.batch;
        assert_eq!((b.request_timeout_ms, b.max_retries, b.poll_interval_ms, b.max_wait_ms), (50, 2, 10, 0));
        assert_eq!(read.state, json!({"format": "x"}));
        let state = json!({"format": "y"});
        assert_eq!(read_options(&json!({"state": state}), Host::Generic).unwrap().state, state);
        for (falsy, want) in [(json!(0), false), (json!(""), false), (json!(false), false), (json!("no"), true)] {
            assert_eq!(read_options(&json!({"dryRun": falsy}), Host::Generic).unwrap().dry_run, want);
        }
    }

    #[test]
    fn a_bad_option_is_named_in_its_error() {
        let refused = |options: Value| read_options(&options, Host::Generic).unwrap_err();
        let e = refused(json!("function"));
        assert_eq!(
            (e.code, e.message.as_str(), e.field.as_deref()),
            (ErrorCode::ConfigInvalid, "options must be an object", None)
        );
        let cases = [
            (json!({"mode": "fast"}), "options.mode", "options.mode must be \"collections\", \"bulk\" or \"auto\""),
            (json!({"maxRetries": 21}), "options.maxRetries", "options.maxRetries must be a number from 0 to 20"),
            (json!({"requestTimeoutMs": "5"}), "options.requestTimeoutMs", "must be a number from 50 to 600000"),
            (json!({"pollIntervalMs": {}}), "options.pollIntervalMs", "must be a number from 1 to 600000"),
            (json!({"maxWaitMs": -1}), "options.maxWaitMs", "must be a number from 0 to 604800000"),
            (json!({"state": "{"}), "options.state", "options.state is not valid JSON: "),
            (json!({"host": 5}), "options.host", "options.host must be a string"),
        ];
        for (options, field, message) in cases {
            let e = refused(options);
            assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ConfigInvalid, Some(field)));
            assert!(e.message.contains(message), "{}", e.message);
        }
        // The host message is the config's own, naming every host.
        let e = refused(json!({"host": "myspace"}));
        let config_message = crate::core::config::split_host(Map::from_iter([("host".into(), json!("myspace"))]))
            .unwrap_err()
            .message
            .clone();
        assert_eq!(e.message, format!("options.{config_message}"));
        assert!(e.message.contains("authentik"), "{}", e.message);
    }

    #[test]
    fn the_js_layers_refusals_are_worded_here() {
        let e = callback_error("onProgress");
        assert_eq!((e.code, e.message.as_str()), (ErrorCode::ConfigInvalid, "options.onProgress must be a function"));
        assert_eq!(e.field.as_deref(), Some("options.onProgress"));
        let e = state_not_saved("disk full");
        assert_eq!(e.message, "onState failed, so the run stopped: disk full");
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ConfigInvalid, Some("options.onState")));
        let e = profiles_error();
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::ConfigInvalid, "profiles must be an array of host events or exported users")
        );
    }
}
