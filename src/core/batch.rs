//! Batch backfill: many existing users → many Leads, through sObject Collections (≤ 200 records
//! a request) or, above `bulkThreshold`, a Bulk API 2.0 ingest job. A sans-I/O state machine
//! like `flow`: it yields `Step`s and consumes `flow::Input`s, and keeps a resumable state (JSON)
//! so a rerun after a crash or a `REQUEST_LIMIT_EXCEEDED` stop creates no duplicates.
//!
//! Why a rerun cannot duplicate: a user is marked `sending` in the state *before* the request
//! that may create their record goes out (the driver persists the state whenever
//! [`Backfill::state_version`] changes, before performing the next step). A `sending` user, or one
//! whose request's answer was lost, is looked up (`SELECT Id, Email … WHERE Email IN (…)`, or by
//! `externalIdField` when configured) before anything is sent again. Bulk rows are matched back
//! to users by the external id column when configured, else by a fingerprint of the row's own
//! cells (Salesforce returns the uploaded columns, in no particular order); identical rows are
//! interchangeable, and a row that matches nobody sends its users to the same lookup.

use crate::core::batch_api::{self as api, Answer, JobInfo, RecordResult, ResultKind, ResultRow};
use crate::core::config::{Config, TokenGrant};
use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::flow::json_path;
use crate::core::hash::fnv1a;
use crate::core::http::{HttpRequest, HttpResponse, Purpose};
use crate::core::profile::{normalise, FirstLoginSignal, Host, HostEvent};
use crate::core::record::{build_record, RecordPayload};
use crate::core::retry::{fits, Backoff};
use crate::core::salesforce::{self as sf, AccessToken};
use crate::core::secret::scrub;
use crate::core::session::CachedToken;
use crate::core::session::{self, TokenStart};
use crate::core::step::{Input, TokenUpdate};

use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};

/// The `format` of resume states this version writes and reads.
pub const STATE_FORMAT: &str = "sf-lead-rule/backfill@1";
/// Rows per Bulk API 2.0 job, and the CSV size a job stays under (Salesforce accepts 150 MB).
pub const MAX_JOB_ROWS: usize = 100_000;
/// The CSV size, in bytes, a job stays under.
pub const MAX_JOB_BYTES: usize = 100_000_000;
/// URL budget for the `IN (…)` list of one lookup query (Salesforce accepts about 16,000 characters).
const LOOKUP_URL_BUDGET: usize = 8_000;

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

// ---------------------------------------------------------------------------------------------
// Resume state

/// A user's status in the resume state.
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
    fn to_json(&self) -> Value {
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
    fn from_json(v: &Value) -> Option<Entry> {
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
    fn name(self) -> &'static str {
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

// ---------------------------------------------------------------------------------------------
// Results

/// What happened to one user of a backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    /// A record was created.
    Created,
    /// A record for this user already existed (duplicate rule, unique field, or found by lookup).
    Duplicate,
    /// No record was confirmed (see `error`).
    Failed,
    /// Already recorded (`app_metadata.recordedAsLead`, done in an earlier run, or repeated input).
    Skipped,
    /// The record could not be built (e.g. `MISSING_REQUIRED_FIELD`) or the input is unreadable; never sent.
    Invalid,
    /// Not processed because the run stopped; a rerun with the state continues with it.
    Pending,
    /// Dry run: would be sent.
    Planned,
}

/// One user's result. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserResult {
    /// The user's key (`user_id`).
    pub user_key: String,
    /// What happened.
    pub status: ResultStatus,
    /// The record's id, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    /// Why it failed or is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RuleError>,
    /// Why it was skipped or is pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Index of the input item the user came from.
    pub input: usize,
}

/// Counts of a run: requests sent and users per result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Requests to the data API (what the org's daily API limit counts); token requests excluded.
    pub api_calls: u32,
    /// Every request, token requests and retries included.
    pub requests: u32,
    /// Users with a record created.
    pub created: u32,
    /// Users whose record already existed.
    pub duplicate: u32,
    /// Users whose record failed.
    pub failed: u32,
    /// Users skipped (already recorded).
    pub skipped: u32,
    /// Users never sent (record not buildable, input unreadable).
    pub invalid: u32,
    /// Users not processed because the run stopped.
    pub pending: u32,
}

/// The result of a backfill run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchReport {
    /// `collections` or `bulk`: the API used for new records.
    pub mode: Mode,
    /// One result per user, in input order.
    pub results: Vec<UserResult>,
    /// The resume state to keep for a rerun ([`ResumeState::to_json`]).
    pub state: Value,
    /// The run's counts.
    pub stats: Stats,
    /// Why the run stopped before every user was processed (`RATE_LIMITED` for
    /// `REQUEST_LIMIT_EXCEEDED`); rerun with `state` to continue.
    pub stopped: Option<RuleError>,
}

/// What the driver must do next: the first-login flow's steps; `Done` carries nothing, read
/// [`Backfill::report`].
pub type Step = crate::core::flow::Step<()>;

// ---------------------------------------------------------------------------------------------
// The machine

#[derive(Debug, Clone, PartialEq)]
enum Disposition {
    Send,
    Skip { lead_id: Option<String>, reason: &'static str },
    Invalid(RuleError),
}

#[derive(Debug, Clone, PartialEq)]
enum RunOutcome {
    Created(String),
    Duplicate(Option<String>),
    Failed(RuleError),
}

#[derive(Debug, Clone)]
struct BatchUser {
    key: String,
    input: usize,
    disposition: Disposition,
    record: RecordPayload,
    /// `(field, value)` to find this user's record by: the external id, else the Email.
    lookup: Option<(String, String)>,
    outcome: Option<RunOutcome>,
    /// Sends whose answer was lost or whose job was abandoned; bounded by `max_retries`.
    tries: u32,
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    None,
    Token,
    /// `verify`: found → created, missing → send (again). Else (duplicates Salesforce did not
    /// name): found → duplicate, missing → failed.
    Lookup {
        users: Vec<usize>,
        field: String,
        verify: bool,
    },
    Collection(Vec<usize>),
    JobCreate,
    JobUpload,
    JobClose,
    JobInfo,
    JobAbort,
    JobResults(ResultKind),
}

#[derive(Debug, Clone)]
struct Job {
    id: Option<String>,
    phase: JobPhase,
    /// The job's users by key (a resumed job may hold users missing from this run's input).
    users: Vec<String>,
    /// Row fingerprint → users with that row, for matching result rows.
    rows: BTreeMap<String, VecDeque<String>>,
    csv: Option<String>,
    /// A resumed job: ask Salesforce where it is before anything else.
    check_first: bool,
    info: Option<JobInfo>,
    polls: u32,
    waiting_since: u64,
    aborts: u32,
}

/// The backfill state machine: sans-I/O, driven with [`Step`]s and [`Input`]s like the login flow.
pub struct Backfill {
    config: Config,
    opts: BatchOptions,
    users: Vec<BatchUser>,
    index: BTreeMap<String, usize>,
    state: ResumeState,
    version: u64,
    mode: Mode,
    queue: VecDeque<usize>,
    verify: VecDeque<usize>,
    resolve: VecDeque<usize>,
    job: Option<Job>,
    op: Op,
    suspended: Option<Op>,
    token: Option<AccessToken>,
    token_update: TokenUpdate,
    refreshed_for_op: bool,
    signing_input: Option<String>,
    backoff: Backoff,
    attempt: u32,
    op_started: u64,
    last_error: Option<RuleError>,
    now: u64,
    stats: Stats,
    stopped: Option<RuleError>,
    done: bool,
}

impl Backfill {
    /// Prepare a run: take every input item's users (from [`users_of`]), build their records,
    /// and sort them against `state` (done → skipped, `sending` → looked up first). Fails only for a state that cannot be used (`CONFIG_INVALID`, field `state`).
    pub fn new(
        config: Config,
        items: Vec<InputItem>,
        state: &Value,
        opts: BatchOptions,
        cached: Option<CachedToken>,
        now_ms: u64,
        seed: u64,
    ) -> Result<Backfill> {
        let state = ResumeState::from_json(state, &config)?;
        let token = session::initial_token(&config, cached, now_ms);
        let mut b = Backfill {
            users: Vec::new(),
            index: BTreeMap::new(),
            state,
            version: 0,
            mode: opts.mode,
            queue: VecDeque::new(),
            verify: VecDeque::new(),
            resolve: VecDeque::new(),
            job: None,
            op: Op::None,
            suspended: None,
            token,
            token_update: TokenUpdate::Unchanged,
            refreshed_for_op: false,
            signing_input: None,
            backoff: Backoff::new(1_000, 30_000, seed),
            attempt: 0,
            op_started: now_ms,
            last_error: None,
            now: now_ms,
            stats: Stats::default(),
            stopped: None,
            done: false,
            config,
            opts,
        };
        for (input, item) in items.into_iter().enumerate() {
            b.add_input(input, item);
        }
        b.sort_against_state();
        Ok(b)
    }

    fn add_input(&mut self, input: usize, item: InputItem) {
        let events = match item {
            Ok(events) => events,
            Err(e) => {
                self.users.push(BatchUser::invalid(format!("input[{input}]"), input, e));
                return;
            }
        };
        for event in events {
            let key = json_path(&event.profile, "user_id").unwrap_or_else(|| format!("input[{input}]"));
            let mut user = BatchUser::invalid(key.clone(), input, RuleError::new(ErrorCode::ProfileInvalid, ""));
            user.disposition = if self.index.contains_key(&key) {
                Disposition::Skip { lead_id: None, reason: "the same user appears earlier in the input" }
            } else if let FirstLoginSignal::AlreadyRecorded { lead_id } = &event.signal {
                Disposition::Skip { lead_id: lead_id.clone(), reason: "already recorded (app_metadata.recordedAsLead)" }
            } else {
                match self.build(&event.profile) {
                    Ok((record, lookup)) => {
                        user.record = record;
                        user.lookup = lookup;
                        Disposition::Send
                    }
                    Err(e) => Disposition::Invalid(e),
                }
            };
            self.index.entry(key).or_insert(self.users.len());
            self.users.push(user);
        }
    }

    /// The record as the login flow would send it, plus the external id field (its value from
    /// `externalIdSource`) so that later logins upsert onto the backfilled record.
    fn build(&self, profile: &Value) -> Result<(RecordPayload, Option<(String, String)>)> {
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

    fn sort_against_state(&mut self) {
        let job_id = self.state.bulk_job.as_ref().map(|(id, _)| id.clone());
        for i in 0..self.users.len() {
            let u = &self.users[i];
            if matches!(u.disposition, Disposition::Skip { .. }) || self.index.get(&u.key) != Some(&i) {
                continue;
            }
            if matches!(u.disposition, Disposition::Invalid(_)) {
                // Done in an earlier run (with another mapping, say): still done.
                if let Some(Entry::Created { lead_id } | Entry::Duplicate { lead_id: Some(lead_id) }) =
                    self.state.users.get(&u.key)
                {
                    self.users[i].disposition =
                        Disposition::Skip { lead_id: Some(lead_id.clone()), reason: "done in an earlier run" };
                }
                continue;
            }
            match self.state.users.get(&u.key) {
                Some(Entry::Created { lead_id }) | Some(Entry::Duplicate { lead_id: Some(lead_id) }) => {
                    self.users[i].disposition =
                        Disposition::Skip { lead_id: Some(lead_id.clone()), reason: "done in an earlier run" };
                }
                Some(Entry::Duplicate { lead_id: None }) => {
                    self.users[i].disposition = Disposition::Skip { lead_id: None, reason: "done in an earlier run" };
                }
                Some(Entry::Unknown { message }) => {
                    let e = unknown_error(message.clone());
                    self.users[i].outcome = Some(RunOutcome::Failed(e));
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

    /// Queue `i` for a lookup that tells whether an earlier send created it. Until it is answered
    /// the user stays `sending`, so a crash meanwhile leads to the same lookup, never a resend.
    fn queue_verify(&mut self, i: usize) {
        if self.users[i].lookup.is_some() {
            let key = self.users[i].key.clone();
            self.state.users.insert(key, Entry::Sending);
            self.verify.push_back(i);
        } else {
            let message = "a request that may have created this record got no answer, and the record has neither \
                           Email nor external id to look it up by, so it is not sent again; check Salesforce";
            self.settle(
                i,
                RunOutcome::Failed(unknown_error(message.into())),
                Some(Entry::Unknown { message: message.into() }),
            );
        }
    }

    // ----- public surface -----------------------------------------------------------------

    /// Changes each time the resume state changes; persist [`Backfill::state_json`] when it does.
    pub fn state_version(&self) -> u64 {
        self.version
    }

    /// The resume state as JSON ([`ResumeState::to_json`]).
    pub fn state_json(&self) -> Value {
        self.state.to_json()
    }

    /// `(users with a final result, all users)`.
    pub fn progress(&self) -> (usize, usize) {
        let done = self.users.iter().filter(|u| u.disposition != Disposition::Send || u.outcome.is_some()).count();
        (done, self.users.len())
    }

    /// The API used for new records (`auto` resolved once the users are counted).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What the driver should do with its token cache.
    pub fn token_update(&self) -> &TokenUpdate {
        &self.token_update
    }

    /// The first step of the run.
    pub fn start(&mut self) -> Step {
        self.next()
    }

    /// Stop before performing the step in hand (the driver could not persist the state, say).
    /// Users it would have sent stay `sending`, so a rerun looks them up before sending.
    pub fn interrupt(&mut self, error: RuleError) {
        if self.stopped.is_none() {
            self.stopped = Some(error);
        }
        self.finish();
    }

    fn after_signing(&mut self, signed: std::result::Result<Vec<u8>, String>) -> Step {
        match session::token_request_after_signing(&self.config, self.signing_input.take(), signed) {
            Ok(request) => self.send(request),
            Err(e) => self.stop(e),
        }
    }

    /// Feed the result of the last step, get the next.
    pub fn resume(&mut self, input: Input, now_ms: u64) -> Step {
        self.now = now_ms;
        if self.done {
            return Step::Done(());
        }
        match input {
            Input::Woke => self.issue(),
            Input::Signed(sig) => self.after_signing(Ok(sig)),
            Input::SignFailed(why) => self.after_signing(Err(why)),
            Input::Response(resp) => self.on_response(resp),
            Input::NetworkError(msg) => {
                let msg = scrub(&msg, &self.config.secrets());
                self.on_lost(RuleError::new(
                    ErrorCode::NetworkError,
                    format!("network error talking to Salesforce: {msg}"),
                ))
            }
            Input::TimedOut => self.on_lost(RuleError::new(
                ErrorCode::NetworkError,
                format!("Salesforce did not answer within {} ms", self.opts.request_timeout_ms),
            )),
        }
    }

    /// The outcome: per-user results in input order, the resume state, counts, and why it stopped.
    pub fn report(&self) -> BatchReport {
        let results: Vec<UserResult> = self.users.iter().map(|u| self.result_of(u)).collect();
        let mut stats = Stats { api_calls: self.stats.api_calls, requests: self.stats.requests, ..Stats::default() };
        for r in &results {
            match r.status {
                ResultStatus::Created => stats.created += 1,
                ResultStatus::Duplicate => stats.duplicate += 1,
                ResultStatus::Failed => stats.failed += 1,
                ResultStatus::Skipped => stats.skipped += 1,
                ResultStatus::Invalid => stats.invalid += 1,
                ResultStatus::Pending | ResultStatus::Planned => stats.pending += 1,
            }
        }
        BatchReport { mode: self.mode, results, state: self.state_json(), stats, stopped: self.stopped.clone() }
    }

    fn result_of(&self, u: &BatchUser) -> UserResult {
        let mut r = UserResult {
            user_key: u.key.clone(),
            status: ResultStatus::Pending,
            lead_id: None,
            error: None,
            reason: None,
            input: u.input,
        };
        match (&u.disposition, &u.outcome) {
            (Disposition::Invalid(e), _) => {
                r.status = ResultStatus::Invalid;
                r.error = Some(e.clone());
            }
            (Disposition::Skip { lead_id, reason }, _) => {
                r.status = ResultStatus::Skipped;
                r.lead_id = lead_id.clone();
                r.reason = Some((*reason).to_string());
            }
            (Disposition::Send, Some(RunOutcome::Created(id))) => {
                r.status = ResultStatus::Created;
                r.lead_id = Some(id.clone());
            }
            (Disposition::Send, Some(RunOutcome::Duplicate(id))) => {
                r.status = ResultStatus::Duplicate;
                r.lead_id = id.clone();
            }
            (Disposition::Send, Some(RunOutcome::Failed(e))) => {
                r.status = ResultStatus::Failed;
                r.error = Some(e.clone());
            }
            (Disposition::Send, None) => {
                r.reason = Some(
                    match self.state.users.get(&u.key) {
                        Some(Entry::Sending) => "sent, answer not confirmed: a rerun looks it up before sending again",
                        Some(Entry::Bulk { .. }) => "in the open bulk job: a rerun continues with that job",
                        _ => "not sent yet: rerun with the resume state",
                    }
                    .to_string(),
                );
            }
        }
        r
    }

    // ----- sequencing ---------------------------------------------------------------------

    /// Pick the next operation once the current one is settled.
    fn next(&mut self) -> Step {
        self.op = Op::None;
        if self.stopped.is_some() {
            return self.finish();
        }
        let work = self.job.is_some() || !self.verify.is_empty() || !self.resolve.is_empty() || !self.queue.is_empty();
        if !work {
            return self.finish();
        }
        if self.token.is_none() {
            return self.begin(Op::Token);
        }
        if let Some(job) = &self.job {
            let op = if job.check_first {
                Op::JobInfo
            } else if job.info.is_some() {
                // Finished: fetch the successful rows, then the failed ones.
                Op::JobResults(ResultKind::Successful)
            } else {
                match (&job.id, job.phase) {
                    (None, _) => Op::JobCreate,
                    (Some(_), JobPhase::Open) => Op::JobUpload,
                    (Some(_), JobPhase::Uploaded) => Op::JobClose,
                    (Some(_), JobPhase::Closed) => Op::JobInfo,
                }
            };
            return self.begin(op);
        }
        if let Some(op) = self.lookup_chunk(true).or_else(|| self.lookup_chunk(false)) {
            return self.begin(op);
        }
        match self.mode {
            Mode::Bulk => self.begin_job(),
            _ => {
                let n = self.queue.len().min(api::COLLECTION_LIMIT);
                let chunk: Vec<usize> = self.queue.drain(..n).collect();
                for &i in &chunk {
                    let key = self.users[i].key.clone();
                    self.state.users.insert(key, Entry::Sending);
                }
                self.version += 1;
                self.begin(Op::Collection(chunk))
            }
        }
    }

    fn begin(&mut self, op: Op) -> Step {
        self.op = op;
        self.attempt = 0;
        self.refreshed_for_op = false;
        self.op_started = self.now;
        self.issue()
    }

    /// Users from the front of a lookup queue that share one lookup field, within the URL budget.
    fn lookup_chunk(&mut self, verify: bool) -> Option<Op> {
        let queue = if verify { &mut self.verify } else { &mut self.resolve };
        let first = *queue.front()?;
        let field = self.users[first].lookup.as_ref()?.0.clone();
        let mut users = Vec::new();
        let mut cost = 0;
        let mut rest = VecDeque::new();
        while let Some(i) = queue.pop_front() {
            match &self.users[i].lookup {
                Some((f, v))
                    if *f == field
                        && users.len() < api::COLLECTION_LIMIT
                        && cost + api::lookup_cost(v) <= LOOKUP_URL_BUDGET =>
                {
                    cost += api::lookup_cost(v);
                    users.push(i);
                }
                _ => rest.push_back(i),
            }
            if cost >= LOOKUP_URL_BUDGET || users.len() >= api::COLLECTION_LIMIT {
                break;
            }
        }
        rest.extend(queue.drain(..));
        *queue = rest;
        Some(Op::Lookup { users, field, verify })
    }

    /// Take the next users for a bulk job and write their CSV.
    fn begin_job(&mut self) -> Step {
        let take = self.queue.len().min(self.opts.max_job_rows.max(1));
        let users: Vec<usize> = self.queue.drain(..take).collect();
        let mut columns: Vec<String> = Vec::new();
        for &i in &users {
            for (k, _) in &self.users[i].record.fields {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
        let mut job = Job::new(None, JobPhase::Open);
        let mut text = api::csv_line(&columns);
        for (n, &i) in users.iter().enumerate() {
            let u = &self.users[i];
            let cells: Vec<&str> = columns.iter().map(|c| u.record.get(c).unwrap_or("")).collect();
            let line = api::csv_line(&cells);
            if text.len() + line.len() > MAX_JOB_BYTES && n > 0 {
                // The rest waits for the next job.
                for &j in users[n..].iter().rev() {
                    self.queue.push_front(j);
                }
                break;
            }
            text.push_str(&line);
            let pairs: Vec<(&str, &str)> = columns.iter().map(String::as_str).zip(cells.iter().copied()).collect();
            let row = self.row_key(&pairs);
            job.users.push(u.key.clone());
            job.rows.entry(row).or_default().push_back(u.key.clone());
        }
        job.csv = Some(text);
        self.job = Some(job);
        self.begin(Op::JobCreate)
    }

    /// A result row's identity: the external id when configured, else a fingerprint of its
    /// non-empty cells by column name (column order and empty cells do not matter: the cells'
    /// own fingerprints are summed).
    fn row_key(&self, cells: &[(&str, &str)]) -> String {
        if let Some(field) = &self.config.external_id_field {
            if let Some((_, v)) = cells.iter().find(|(c, v)| c == field && !v.trim().is_empty()) {
                return format!("x{:016x}", fnv1a(&[v.trim().as_bytes()]));
            }
        }
        let sum = cells
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .fold(0u64, |acc, (c, v)| acc.wrapping_add(fnv1a(&[c.as_bytes(), b"\0", v.trim().as_bytes()])));
        format!("r{sum:016x}")
    }

    /// Build and emit the request for `self.op`.
    fn issue(&mut self) -> Step {
        let Some(token) = self.token.clone() else {
            if self.op != Op::Token {
                self.suspended = Some(std::mem::replace(&mut self.op, Op::Token));
            }
            return self.issue_token();
        };
        let config = &self.config;
        let job_id = self.job.as_ref().and_then(|j| j.id.clone()).unwrap_or_default();
        let req = match &self.op {
            Op::None => return self.next(),
            Op::Token => return self.issue_token(),
            Op::Lookup { users, field, .. } => {
                let values: Vec<&str> =
                    users.iter().filter_map(|&i| self.users[i].lookup.as_ref().map(|(_, v)| v.as_str())).collect();
                api::lookup_request(&token, config, field, &values)
            }
            Op::Collection(users) => {
                let records: Vec<&RecordPayload> = users.iter().map(|&i| &self.users[i].record).collect();
                api::collection_request(&token, config, &records)
            }
            Op::JobCreate => api::create_job_request(&token, config),
            Op::JobUpload => {
                let csv = self.job.as_ref().and_then(|j| j.csv.clone()).unwrap_or_default();
                api::upload_request(&token, config, &job_id, csv)
            }
            Op::JobClose => api::set_job_state_request(&token, config, &job_id, "UploadComplete"),
            Op::JobAbort => api::set_job_state_request(&token, config, &job_id, "Aborted"),
            Op::JobInfo => api::job_info_request(&token, config, &job_id),
            Op::JobResults(kind) => api::results_request(&token, config, &job_id, *kind),
        };
        self.send(req)
    }

    fn issue_token(&mut self) -> Step {
        self.op = Op::Token;
        match session::start_token(&self.config, self.now) {
            TokenStart::Sign { input, key } => {
                self.signing_input = Some(input.clone());
                Step::Sign { input, key }
            }
            TokenStart::Send(req) => self.send(req),
            TokenStart::NotRenewable => self.stop(
                RuleError::new(
                    ErrorCode::SessionExpired,
                    "the configured access token was rejected (INVALID_SESSION_ID)",
                )
                .with_remote("INVALID_SESSION_ID", 401),
            ),
        }
    }

    fn send(&mut self, request: HttpRequest) -> Step {
        if let Err(e) = request.check_headers() {
            return self.stop(e);
        }
        self.stats.requests += 1;
        if request.purpose != Purpose::Token {
            self.stats.api_calls += 1;
        }
        Step::Send { request, timeout_ms: self.opts.request_timeout_ms }
    }

    // ----- answers ------------------------------------------------------------------------

    fn on_response(&mut self, resp: HttpResponse) -> Step {
        if self.op == Op::Token {
            return self.on_token(resp);
        }
        match api::classify(&resp, &self.config) {
            Answer::Ok => self.on_ok(resp),
            Answer::SessionInvalid => self.refresh_session(),
            Answer::LimitExceeded(e) => {
                self.put_back();
                self.stop(e)
            }
            // 429 and 503 turn a request away unprocessed: send it again after a pause. Other 5xx
            // may come after part of the work was done: treat like a lost answer.
            Answer::Retry { error, retry_after_ms } if resp.status == 429 || resp.status == 503 => {
                self.retry(error, retry_after_ms)
            }
            Answer::Retry { error, .. } => self.on_lost(error),
            Answer::Refused(e) => self.on_refused(e),
        }
    }

    fn on_token(&mut self, resp: HttpResponse) -> Step {
        match sf::parse_token_response(&resp, &self.config) {
            Ok(token) => {
                if let Some(old) = &self.state.instance_url {
                    if *old != token.instance_url {
                        return self.stop(
                            RuleError::new(
                                ErrorCode::ConfigInvalid,
                                format!("the resume state is for {old}, but these credentials log in to {}; use the state of this org or start without one", token.instance_url),
                            )
                            .with_field("state"),
                        );
                    }
                } else {
                    self.state.instance_url = Some(token.instance_url.clone());
                    self.version += 1;
                }
                self.token_update = TokenUpdate::Store(session::cache_entry(&self.config, &token, self.now));
                self.token = Some(token);
                match self.suspended.take() {
                    Some(op) => {
                        self.op = op;
                        self.attempt = 0;
                        self.issue()
                    }
                    None => self.next(),
                }
            }
            Err(e) if matches!(e.code, ErrorCode::SalesforceUnavailable | ErrorCode::ResponseInvalid) => {
                let after = sf::retry_after_ms(&resp);
                self.retry(e, after)
            }
            Err(e) => self.stop(e),
        }
    }

    fn on_ok(&mut self, resp: HttpResponse) -> Step {
        match std::mem::replace(&mut self.op, Op::None) {
            Op::None | Op::Token => self.next(),
            Op::Collection(users) => match api::parse_collection_results(&resp, &self.config, users.len()) {
                Ok(results) => {
                    for (&i, r) in users.iter().zip(results) {
                        match r {
                            RecordResult::Created { id } => {
                                self.settle(i, RunOutcome::Created(id.clone()), Some(Entry::Created { lead_id: id }))
                            }
                            RecordResult::Duplicate { id: Some(id) } => self.settle(
                                i,
                                RunOutcome::Duplicate(Some(id.clone())),
                                Some(Entry::Duplicate { lead_id: Some(id) }),
                            ),
                            RecordResult::Duplicate { id: None } => self.queue_resolve(i),
                            RecordResult::Failed(e) => self.settle_failed(i, e),
                        }
                    }
                    self.version += 1;
                    self.next()
                }
                Err(e) => {
                    self.op = Op::Collection(users);
                    self.on_lost(e)
                }
            },
            Op::Lookup { users, field, verify } => match api::parse_lookup(&resp, &field) {
                Ok(found) => {
                    let by_value: BTreeMap<String, String> =
                        found.into_iter().map(|(v, id)| (v.to_ascii_lowercase(), id)).collect();
                    for i in users {
                        let value =
                            self.users[i].lookup.as_ref().map(|(_, v)| v.to_ascii_lowercase()).unwrap_or_default();
                        match (by_value.get(&value).cloned(), verify) {
                            (Some(id), true) => {
                                self.settle(i, RunOutcome::Created(id.clone()), Some(Entry::Created { lead_id: id }))
                            }
                            (Some(id), false) => self.settle(
                                i,
                                RunOutcome::Duplicate(Some(id.clone())),
                                Some(Entry::Duplicate { lead_id: Some(id) }),
                            ),
                            (None, true) => self.resend(i),
                            // Salesforce said duplicate but named nothing, and nothing matches this
                            // field: still a duplicate (the rule may match on other fields).
                            (None, false) => {
                                self.settle(i, RunOutcome::Duplicate(None), Some(Entry::Duplicate { lead_id: None }))
                            }
                        }
                    }
                    self.version += 1;
                    self.next()
                }
                Err(e) => {
                    self.op = Op::Lookup { users, field, verify };
                    self.retry(e, None)
                }
            },
            Op::JobCreate => match api::parse_job_info(&resp) {
                Ok(info) => {
                    if let Some(job) = self.job.as_mut() {
                        job.id = Some(info.id.clone());
                        job.phase = JobPhase::Open;
                        self.state.bulk_job = Some((info.id.clone(), JobPhase::Open));
                        for (row, keys) in &job.rows {
                            for key in keys {
                                self.state
                                    .users
                                    .insert(key.clone(), Entry::Bulk { job: info.id.clone(), row: row.clone() });
                            }
                        }
                        self.version += 1;
                    }
                    self.next()
                }
                Err(e) => {
                    self.op = Op::JobCreate;
                    self.retry(e, None)
                }
            },
            Op::JobUpload => {
                self.set_phase(JobPhase::Uploaded);
                if let Some(job) = self.job.as_mut() {
                    job.csv = None;
                }
                self.next()
            }
            Op::JobClose => {
                self.set_phase(JobPhase::Closed);
                if let Some(job) = self.job.as_mut() {
                    job.waiting_since = self.now;
                }
                self.op = Op::JobInfo;
                self.poll_later()
            }
            Op::JobAbort => {
                self.requeue_job("the bulk job was aborted before processing");
                self.next()
            }
            Op::JobInfo => match api::parse_job_info(&resp) {
                Ok(info) => self.on_job_info(info),
                Err(e) => {
                    self.op = Op::JobInfo;
                    self.retry(e, None)
                }
            },
            Op::JobResults(kind) => match api::parse_result_rows(&resp) {
                Ok(rows) => {
                    self.apply_rows(kind, rows);
                    match kind {
                        ResultKind::Successful => self.begin(Op::JobResults(ResultKind::Failed)),
                        ResultKind::Failed => {
                            self.close_out_job();
                            self.next()
                        }
                    }
                }
                Err(e) => {
                    self.op = Op::JobResults(kind);
                    self.retry(e, None)
                }
            },
        }
    }

    fn on_job_info(&mut self, info: JobInfo) -> Step {
        let Some(job) = self.job.as_mut() else { return self.next() };
        job.check_first = false;
        match info.state.as_str() {
            "Open" if job.phase == JobPhase::Open => {
                // Whether the data landed is unknown: abort it (nothing was processed) and start over.
                self.begin(Op::JobAbort)
            }
            "Open" => {
                job.phase = JobPhase::Uploaded;
                self.begin(Op::JobClose)
            }
            "UploadComplete" | "InProgress" => {
                if job.phase != JobPhase::Closed {
                    job.phase = JobPhase::Closed;
                    job.waiting_since = self.now;
                    self.state.bulk_job = job.id.clone().map(|id| (id, JobPhase::Closed));
                    self.version += 1;
                }
                if self.now.saturating_sub(job.waiting_since) >= self.opts.max_wait_ms {
                    let id = job.id.clone().unwrap_or_default();
                    return self.stop(RuleError::new(
                        ErrorCode::DeadlineExceeded,
                        format!(
                            "bulk job {id} is still {} after {} ms; rerun with the resume state to keep waiting for it",
                            info.state, self.opts.max_wait_ms
                        ),
                    ));
                }
                self.op = Op::JobInfo;
                self.poll_later()
            }
            _ => {
                // JobComplete, Failed, Aborted: read what it did.
                job.info = Some(info);
                self.begin(Op::JobResults(ResultKind::Successful))
            }
        }
    }

    fn poll_later(&mut self) -> Step {
        let Some(job) = self.job.as_mut() else { return self.next() };
        let mut poll = Backoff::new(
            self.opts.poll_interval_ms,
            self.opts.poll_max_ms.max(self.opts.poll_interval_ms),
            self.backoff.next_random(),
        );
        let ms = poll.delay(job.polls, None);
        job.polls += 1;
        self.attempt = 0;
        self.op_started = self.now.saturating_add(ms);
        Step::Sleep { ms }
    }

    fn set_phase(&mut self, phase: JobPhase) {
        if let Some(job) = self.job.as_mut() {
            job.phase = phase;
            if let Some(id) = &job.id {
                self.state.bulk_job = Some((id.clone(), phase));
                self.version += 1;
            }
        }
    }

    /// Match result rows back to the job's users and settle them.
    fn apply_rows(&mut self, kind: ResultKind, rows: Vec<ResultRow>) {
        let keyed: Vec<(String, ResultRow)> = rows
            .into_iter()
            .map(|r| {
                let cells: Vec<(&str, &str)> = r.columns.iter().map(|(c, v)| (c.as_str(), v.as_str())).collect();
                (self.row_key(&cells), r)
            })
            .collect();
        for (row, r) in keyed {
            let Some(key) = self.job.as_mut().and_then(|j| j.rows.get_mut(&row)).and_then(VecDeque::pop_front) else {
                continue;
            };
            let outcome = match kind {
                ResultKind::Successful if r.id.is_empty() => None,
                ResultKind::Successful => Some(RunOutcome::Created(r.id.clone())),
                ResultKind::Failed => {
                    let e = api::bulk_row_error(r.error.as_deref().unwrap_or(""), &self.config);
                    Some(RunOutcome::Failed(e))
                }
            };
            self.settle_key(&key, outcome);
        }
        self.version += 1;
    }

    /// Settle a job user by key (they may be missing from this run's input).
    fn settle_key(&mut self, key: &str, outcome: Option<RunOutcome>) {
        let i = self.index.get(key).copied().filter(|&i| self.users[i].disposition == Disposition::Send);
        match (outcome, i) {
            (Some(RunOutcome::Failed(e)), Some(i)) if is_duplicate_code(e.remote_code.as_deref()) => {
                self.queue_resolve(i)
            }
            (Some(RunOutcome::Created(id)), Some(i)) => {
                self.settle(i, RunOutcome::Created(id.clone()), Some(Entry::Created { lead_id: id }))
            }
            (Some(RunOutcome::Failed(e)), Some(i)) => self.settle_failed(i, e),
            (Some(RunOutcome::Created(id)), None) => {
                self.state.users.insert(key.to_string(), Entry::Created { lead_id: id });
            }
            (Some(RunOutcome::Failed(e)), None) => {
                self.state.users.insert(key.to_string(), failed_entry(&e));
            }
            (None, Some(i)) | (Some(RunOutcome::Duplicate(_)), Some(i)) => self.queue_verify(i),
            (None, None) | (Some(RunOutcome::Duplicate(_)), None) => {
                self.state.users.insert(key.to_string(), Entry::Sending);
            }
        }
    }

    /// After both result files: users no row named are looked up (a finished job) or sent again
    /// (an aborted job never processed them); then the job is forgotten.
    fn close_out_job(&mut self) {
        let Some(job) = self.job.take() else { return };
        let state = job.info.as_ref().map(|i| i.state.clone()).unwrap_or_default();
        let leftovers: Vec<String> = job.rows.into_values().flatten().collect();
        for key in leftovers {
            let i = self.index.get(&key).copied().filter(|&i| self.users[i].disposition == Disposition::Send);
            match (state.as_str(), i) {
                ("Aborted", Some(i)) => {
                    self.state.users.remove(&key);
                    self.resend(i);
                }
                ("Failed", Some(i)) => {
                    let why = job
                        .info
                        .as_ref()
                        .and_then(|i| i.error_message.clone())
                        .unwrap_or_else(|| "no reason given".into());
                    let e = RuleError::new(ErrorCode::SalesforceRejected, format!("the bulk job failed: {why}"))
                        .with_remote("BULK_JOB_FAILED", 200);
                    self.settle_failed(i, e);
                }
                (_, Some(i)) => {
                    self.state.users.insert(key, Entry::Sending);
                    self.queue_verify(i);
                }
                ("Aborted", None) => {
                    self.state.users.remove(&key);
                }
                (_, None) => {
                    self.state.users.insert(key, Entry::Sending);
                }
            }
        }
        self.state.bulk_job = None;
        self.version += 1;
    }

    /// The job's users go back to the queue (an aborted job processed none of them).
    fn requeue_job(&mut self, why: &str) {
        let Some(job) = self.job.take() else { return };
        for key in job.users {
            self.state.users.remove(&key);
            if let Some(&i) = self.index.get(&key) {
                if self.users[i].disposition == Disposition::Send && self.users[i].outcome.is_none() {
                    self.last_error = Some(RuleError::new(ErrorCode::NetworkError, why));
                    self.resend(i);
                }
            }
        }
        self.state.bulk_job = None;
        self.version += 1;
    }

    /// A lost answer (network, timeout, unreadable body, 5xx other than 503): the request may or
    /// may not have done its work.
    fn on_lost(&mut self, error: RuleError) -> Step {
        self.last_error = Some(error.clone());
        match std::mem::replace(&mut self.op, Op::None) {
            Op::Collection(users) => {
                // Never send blind: look the records up first.
                for i in users {
                    self.queue_verify(i);
                }
                self.version += 1;
                self.next()
            }
            Op::JobUpload => {
                // Unknown whether the data landed: abort the job (nothing processed yet) and redo it.
                self.begin(Op::JobAbort)
            }
            op => {
                // Token, lookups, job create/close/poll/results and aborts are safe to repeat.
                self.op = op;
                self.retry(error, None)
            }
        }
    }

    fn on_refused(&mut self, e: RuleError) -> Step {
        match self.op.clone() {
            // Already closed (or finished): find out where it is.
            Op::JobClose | Op::JobAbort if e.remote_code.as_deref() == Some("INVALIDJOBSTATE") => {
                let aborts = self.job.as_mut().map(|j| {
                    j.aborts += 1;
                    j.aborts
                });
                if aborts.unwrap_or(0) > 3 {
                    return self.stop(e);
                }
                self.begin(Op::JobInfo)
            }
            Op::JobInfo if e.status == Some(404) => {
                // The job is gone (deleted): what it did cannot be read; look its users up.
                if let Some(job) = self.job.as_mut() {
                    job.info = Some(JobInfo {
                        id: job.id.clone().unwrap_or_default(),
                        state: "Deleted".into(),
                        error_message: None,
                    });
                }
                if self.job.as_ref().is_some_and(|j| j.phase == JobPhase::Open) {
                    self.requeue_job("the bulk job no longer exists");
                } else {
                    self.close_out_job();
                }
                self.next()
            }
            _ => {
                self.put_back();
                self.stop(e)
            }
        }
    }

    /// A send that was refused as a whole (not processed): its users are pending again.
    fn put_back(&mut self) {
        if let Op::Collection(users) = &self.op {
            for &i in users {
                let key = self.users[i].key.clone();
                self.state.users.remove(&key);
            }
            self.version += 1;
        }
        if self.op == Op::JobCreate {
            // No job exists: forget the prepared one, its users are simply not sent.
            self.job = None;
        }
    }

    /// INVALID_SESSION_ID: one new token per operation, then the same request again.
    fn refresh_session(&mut self) -> Step {
        let renewable = !matches!(self.config.grant, TokenGrant::AccessToken { .. });
        if self.refreshed_for_op || !renewable {
            if renewable {
                self.token_update = TokenUpdate::Forget;
            }
            self.put_back();
            return self.stop(
                RuleError::new(
                    ErrorCode::SessionExpired,
                    "Salesforce rejected the session (INVALID_SESSION_ID) even after getting a new token",
                )
                .with_remote("INVALID_SESSION_ID", 401),
            );
        }
        self.refreshed_for_op = true;
        self.token = None;
        self.token_update = TokenUpdate::Forget;
        self.suspended = Some(std::mem::replace(&mut self.op, Op::Token));
        self.attempt = 0;
        self.issue_token()
    }

    /// Wait and repeat `self.op`, or stop when retries or the retry window are used up.
    fn retry(&mut self, error: RuleError, retry_after_ms: Option<u64>) -> Step {
        self.last_error = Some(error.clone());
        let wait = self.backoff.delay(self.attempt, retry_after_ms);
        let window_end = self.op_started.saturating_add(self.opts.retry_window_ms);
        if self.attempt >= self.opts.max_retries || !fits(self.now, wait, 50, window_end) {
            if let Op::Lookup { users, verify, .. } = &self.op {
                // Leave them `sending`: the next run looks them up again.
                let (users, verify) = (users.clone(), *verify);
                for i in users {
                    if verify {
                        self.verify.push_back(i);
                    } else {
                        self.resolve.push_back(i);
                    }
                }
            }
            let mut e = error;
            e.message.push_str(&format!("; gave up after {} attempts", self.attempt + 1));
            self.put_back();
            return self.stop(e);
        }
        self.attempt += 1;
        Step::Sleep { ms: wait }
    }

    // ----- settling users -----------------------------------------------------------------

    fn settle(&mut self, i: usize, outcome: RunOutcome, entry: Option<Entry>) {
        let key = self.users[i].key.clone();
        if let Some(entry) = entry {
            self.state.users.insert(key, entry);
        }
        self.users[i].outcome = Some(outcome);
    }

    fn settle_failed(&mut self, i: usize, e: RuleError) {
        let entry = failed_entry(&e);
        self.settle(i, RunOutcome::Failed(e), Some(entry));
    }

    /// Salesforce named no duplicate: find it. The user is already done (a duplicate) in the state.
    fn queue_resolve(&mut self, i: usize) {
        let key = self.users[i].key.clone();
        self.state.users.insert(key, Entry::Duplicate { lead_id: None });
        if self.users[i].lookup.is_some() {
            self.resolve.push_back(i);
        } else {
            self.settle(i, RunOutcome::Duplicate(None), Some(Entry::Duplicate { lead_id: None }));
        }
    }

    /// Verified not created: send again, unless it has been tried too often.
    fn resend(&mut self, i: usize) {
        self.users[i].tries += 1;
        if self.users[i].tries > self.opts.max_retries {
            let mut e = self.last_error.clone().unwrap_or_else(|| RuleError::new(ErrorCode::NetworkError, "no answer"));
            e.message.push_str(&format!(
                "; not created after {} tries (verified), sent again on the next run",
                self.users[i].tries
            ));
            self.settle_failed(i, e);
        } else {
            let key = self.users[i].key.clone();
            self.state.users.remove(&key);
            self.queue.push_front(i);
        }
    }

    fn stop(&mut self, error: RuleError) -> Step {
        if self.stopped.is_none() {
            self.stopped = Some(error);
        }
        self.finish()
    }

    fn finish(&mut self) -> Step {
        self.done = true;
        self.op = Op::None;
        Step::Done(())
    }
}

impl BatchUser {
    fn invalid(key: String, input: usize, e: RuleError) -> Self {
        BatchUser {
            key,
            input,
            disposition: Disposition::Invalid(e),
            record: RecordPayload::default(),
            lookup: None,
            outcome: None,
            tries: 0,
        }
    }
}

impl Job {
    fn new(id: Option<String>, phase: JobPhase) -> Self {
        Job {
            id,
            phase,
            users: Vec::new(),
            rows: BTreeMap::new(),
            csv: None,
            check_first: false,
            info: None,
            polls: 0,
            waiting_since: 0,
            aborts: 0,
        }
    }
}

fn failed_entry(e: &RuleError) -> Entry {
    Entry::Failed {
        code: e.remote_code.clone().unwrap_or_else(|| e.code.as_str().to_string()),
        message: e.message.clone(),
    }
}

fn unknown_error(message: String) -> RuleError {
    RuleError::new(ErrorCode::OutcomeUnknown, message)
}

fn is_duplicate_code(code: Option<&str>) -> bool {
    matches!(code, Some("DUPLICATES_DETECTED" | "DUPLICATE_VALUE"))
}

// ---------------------------------------------------------------------------------------------
// Dry run

/// What a run would send, without sending: the machine driven with simulated successful answers
/// (so the plan cannot drift from a real run), requests serialised with secrets as `***`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchPlan {
    /// `collections` or `bulk`: the API a run would use.
    pub mode: Mode,
    /// The requests a run would send, in order.
    pub requests: Vec<HttpRequest>,
    /// `planned` for users that would be sent; skipped and invalid ones as a run would report them.
    pub results: Vec<UserResult>,
    /// The counts a run would report.
    pub stats: Stats,
}

/// Id shown for records and jobs a plan would create.
pub const PLANNED_JOB_ID: &str = "750000000000000AAA";

/// Drive `machine` with simulated successful answers from `instance_url` and collect what it would send.
pub fn plan(mut machine: Backfill, instance_url: &str) -> BatchPlan {
    let now = machine.now;
    let mut requests = Vec::new();
    let mut uploaded = String::new();
    let mut step = machine.start();
    // Bounded: every simulated answer settles users or advances a job.
    for _ in 0..(machine.users.len() * 4 + 64) {
        step = match step {
            Step::Done(()) => break,
            Step::Sleep { .. } => machine.resume(Input::Woke, now),
            Step::Sign { .. } => machine.resume(Input::Signed(vec![0; 256]), now),
            Step::Send { request, .. } => {
                let resp = simulated_response(&request, instance_url, &mut uploaded);
                requests.push(request);
                machine.resume(Input::Response(resp), now)
            }
        };
    }
    let mut report = machine.report();
    for r in &mut report.results {
        if r.status == ResultStatus::Created {
            r.status = ResultStatus::Planned;
            r.lead_id = None;
        }
    }
    let mut stats = report.stats;
    stats.pending += stats.created;
    stats.created = 0;
    BatchPlan { mode: report.mode, requests, results: report.results, stats }
}

fn simulated_response(req: &HttpRequest, instance: &str, uploaded: &mut String) -> HttpResponse {
    let planned = crate::core::plan::PLANNED_ID;
    let url = req.url.masked();
    match (req.purpose, req.method) {
        (Purpose::Token, _) => HttpResponse::new(
            200,
            json!({"access_token": "planned", "instance_url": instance, "token_type": "Bearer"}).to_string(),
        ),
        (Purpose::FindExisting, _) => HttpResponse::new(200, r#"{"totalSize":0,"done":true,"records":[]}"#),
        (Purpose::CreateCollection, _) => {
            let n = req
                .body
                .as_ref()
                .and_then(|b| serde_json::from_str::<Value>(&b.expose()).ok())
                .and_then(|v| v.get("records").and_then(Value::as_array).map(Vec::len))
                .unwrap_or(0);
            let one = json!({"id": planned, "success": true, "errors": []});
            HttpResponse::new(200, Value::Array(vec![one; n]).to_string())
        }
        (Purpose::BulkJob, "PUT") => {
            *uploaded = req.body.as_ref().map(|b| b.expose()).unwrap_or_default();
            HttpResponse::new(201, "")
        }
        (Purpose::BulkJob, "GET") if url.ends_with("/successfulResults/") => {
            let rows = api::parse_csv(uploaded).unwrap_or_default();
            let mut out = String::new();
            for (n, row) in rows.iter().enumerate() {
                let lead: [&str; 2] = if n == 0 { ["sf__Id", "sf__Created"] } else { [planned, "true"] };
                let cells: Vec<&str> = lead.iter().copied().chain(row.iter().map(String::as_str)).collect();
                out.push_str(&api::csv_line(&cells));
            }
            HttpResponse::new(200, out)
        }
        (Purpose::BulkJob, "GET") if url.ends_with("/failedResults/") => HttpResponse::new(200, "sf__Id,sf__Error\n"),
        (Purpose::BulkJob, "GET") => {
            HttpResponse::new(200, json!({"id": PLANNED_JOB_ID, "state": "JobComplete"}).to_string())
        }
        (Purpose::BulkJob, "PATCH") => {
            HttpResponse::new(200, json!({"id": PLANNED_JOB_ID, "state": "UploadComplete"}).to_string())
        }
        (Purpose::BulkJob, _) => HttpResponse::new(200, json!({"id": PLANNED_JOB_ID, "state": "Open"}).to_string()),
        _ => HttpResponse::new(200, "{}"),
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

    #[test]
    fn fingerprints_ignore_column_order_and_empty_cells() {
        let config = Config::parse(json!({"clientId": "c", "clientSecret": "s"}).as_object().unwrap()).unwrap();
        let b = Backfill::new(config, vec![], &Value::Null, BatchOptions::default(), None, 0, 1).unwrap();
        let a = b.row_key(&[("LastName", "Doe"), ("Email", ""), ("Company", "Acme")]);
        assert_eq!(a, b.row_key(&[("Company", "Acme"), ("LastName", "Doe")]));
        assert_ne!(a, b.row_key(&[("Company", "Acme"), ("LastName", "Do")]));
        assert_ne!(b.row_key(&[("A", "bc")]), b.row_key(&[("Ab", "c")]));
    }
}
