//! The step machine: sequences token, lookups, collections and the bulk job, and settles users.

use crate::core::config::Config;
use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::http::{HttpRequest, HttpResponse, Purpose};
use crate::core::record::RecordPayload;
use crate::core::retry::{fits, Backoff};
use crate::core::salesforce as sf;
use crate::core::secret::scrub;
use crate::core::session::CachedToken;
use crate::core::session::{TokenSession, TokenStart};
use crate::core::step::{Input, TokenUpdate};

use super::api::{self, Answer, JobInfo, RecordResult, ResultKind};
use super::input::{BatchOptions, InputItem, Mode};
use super::job::Job;
use super::report::{Stats, UserResult};
use super::state::{Entry, JobPhase, ResumeState};
use super::Step;
use crate::core::outcome::Status;

use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};

/// URL budget for the `IN (…)` list of one lookup query (Salesforce accepts about 16,000 characters).
const LOOKUP_URL_BUDGET: usize = 8_000;

/// The most query pages one lookup reads, restarts included: at 2,000 records a page, far more
/// than the records of its at most 200 values. An answer still not done then is not trusted.
pub const MAX_LOOKUP_PAGES: usize = 50;

fn too_many_pages(status: u16) -> RuleError {
    sf::invalid_response(&format!("query answer still not done after {MAX_LOOKUP_PAGES} pages"), status)
}

/// One user of the run: what happened to them so far (`Pending` until settled), and what is
/// needed to send them.
#[derive(Debug, Clone)]
pub(super) struct BatchUser {
    /// Its key, input index and status: `Skipped` and `Invalid` users are never sent.
    pub(super) result: UserResult,
    pub(super) record: RecordPayload,
    /// `(field, value)` to find this user's record by: the external id, else the Email.
    pub(super) lookup: Option<(String, String)>,
    /// Sends whose answer was lost or whose job was abandoned; bounded by `max_retries`.
    pub(super) tries: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Op {
    None,
    Token,
    /// `verify`: found → created, missing → send (again). Else (duplicates Salesforce did not
    /// name): found → duplicate, missing → failed.
    /// `page`: the next page to read (`nextRecordsUrl`), `found` what earlier pages found,
    /// `reads` the pages asked for so far, this one and restarts included ([`MAX_LOOKUP_PAGES`]).
    Lookup {
        users: Vec<usize>,
        field: String,
        verify: bool,
        page: Option<String>,
        found: Vec<(String, String)>,
        reads: usize,
    },
    Collection(Vec<usize>),
    JobCreate,
    JobUpload,
    JobClose,
    JobInfo,
    JobAbort,
    JobResults(ResultKind),
}

/// The backfill state machine: sans-I/O, driven with [`Step`]s and [`Input`]s like the login flow.
pub struct Backfill {
    pub(super) config: Config,
    pub(super) opts: BatchOptions,
    pub(super) users: Vec<BatchUser>,
    pub(super) index: BTreeMap<String, usize>,
    pub(super) state: ResumeState,
    pub(super) version: u64,
    pub(super) mode: Mode,
    pub(super) queue: VecDeque<usize>,
    pub(super) verify: VecDeque<usize>,
    pub(super) resolve: VecDeque<usize>,
    pub(super) job: Option<Job>,
    pub(super) op: Op,
    /// The token; renews once per operation on an expired session, then resumes that operation.
    pub(super) session: TokenSession<Op>,
    pub(super) backoff: Backoff,
    pub(super) attempt: u32,
    pub(super) op_started: u64,
    pub(super) last_error: Option<RuleError>,
    pub(super) now: u64,
    pub(super) stats: Stats,
    pub(super) stopped: Option<RuleError>,
    pub(super) done: bool,
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
        let mut b = Backfill {
            session: TokenSession::new(&config, cached, now_ms),
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

    /// Queue `i` for a lookup that tells whether an earlier send created it. Until it is answered
    /// the user stays `sending`, so a crash meanwhile leads to the same lookup, never a resend.
    pub(super) fn queue_verify(&mut self, i: usize) {
        if self.users[i].lookup.is_some() {
            self.set_entry(i, Entry::Sending);
            self.verify.push_back(i);
        } else {
            let message = "a request that may have created this record got no answer, and the record has neither \
                           Email nor external id to look it up by, so it is not sent again; check Salesforce";
            self.settle(i, Status::Failed, None, Some(unknown_error(message.into())));
            self.set_entry(i, Entry::Unknown { message: message.into() });
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
        let done = self.users.iter().filter(|u| u.result.status != Status::Pending).count();
        (done, self.users.len())
    }

    /// The API used for new records (`auto` resolved once the users are counted).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What the driver should do with its token cache.
    pub fn token_update(&self) -> &TokenUpdate {
        self.session.update()
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
        match self.session.request_after_signing(&self.config, signed) {
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

    // ----- sequencing ---------------------------------------------------------------------

    /// Pick the next operation once the current one is settled.
    pub(super) fn next(&mut self) -> Step {
        self.op = Op::None;
        if self.stopped.is_some() {
            return self.finish();
        }
        let work = self.job.is_some() || !self.verify.is_empty() || !self.resolve.is_empty() || !self.queue.is_empty();
        if !work {
            return self.finish();
        }
        if self.session.token().is_none() {
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
                    let key = self.users[i].key().to_string();
                    self.state.users.insert(key, Entry::Sending);
                }
                self.version += 1;
                self.begin(Op::Collection(chunk))
            }
        }
    }

    pub(super) fn begin(&mut self, op: Op) -> Step {
        self.op = op;
        self.attempt = 0;
        self.session.new_call();
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
        Some(Op::Lookup { users, field, verify, page: None, found: Vec::new(), reads: 1 })
    }

    /// Build and emit the request for `self.op`.
    fn issue(&mut self) -> Step {
        let Some(token) = self.session.token().cloned() else {
            if self.op != Op::Token {
                let op = std::mem::replace(&mut self.op, Op::Token);
                self.session.suspend(op);
            }
            return self.issue_token();
        };
        let config = &self.config;
        let job_id = self.job.as_ref().and_then(|j| j.id.clone()).unwrap_or_default();
        let req = match &self.op {
            Op::None => return self.next(),
            Op::Token => return self.issue_token(),
            Op::Lookup { page: Some(path), .. } => api::next_page_request(&token, path),
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
        match self.session.request(&self.config, self.now) {
            TokenStart::Sign { input, key } => Step::Sign { input, key },
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

    pub(super) fn send(&mut self, request: HttpRequest) -> Step {
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
        match self.session.read_answer(&resp, &self.config) {
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
                match self.session.accept(&self.config, token, self.now) {
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

    /// A 2xx answer to `self.op`: read it with the handler of that operation.
    fn on_ok(&mut self, resp: HttpResponse) -> Step {
        match std::mem::replace(&mut self.op, Op::None) {
            Op::None | Op::Token => self.next(),
            Op::Collection(users) => self.on_collection_ok(users, &resp),
            Op::Lookup { users, field, verify, page, found, reads } => {
                self.on_lookup_ok(users, field, verify, (page, reads), found, &resp)
            }
            Op::JobCreate => self.on_job_created(&resp),
            Op::JobUpload => self.on_job_uploaded(),
            Op::JobClose => self.on_job_closed(),
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
            Op::JobResults(kind) => self.on_job_results(kind, &resp),
        }
    }

    /// Each record's result, in the order sent.
    fn on_collection_ok(&mut self, users: Vec<usize>, resp: &HttpResponse) -> Step {
        let results = match api::parse_collection_results(resp, &self.config, users.len()) {
            Ok(results) => results,
            Err(e) => {
                self.op = Op::Collection(users);
                return self.on_lost(e);
            }
        };
        for (&i, r) in users.iter().zip(results) {
            match r {
                RecordResult::Created { id } => self.settle_created(i, id),
                RecordResult::Duplicate { id: Some(id) } => self.settle_duplicate(i, Some(id)),
                RecordResult::Duplicate { id: None } => self.queue_resolve(i),
                RecordResult::Failed(e) => self.settle_failed(i, e),
            }
        }
        self.version += 1;
        self.next()
    }

    /// The records a lookup found, matched to its users by the lookup value (any case), once its
    /// last page is in: each `nextRecordsUrl` is read first.
    fn on_lookup_ok(
        &mut self,
        users: Vec<usize>,
        field: String,
        verify: bool,
        (page, reads): (Option<String>, usize),
        mut found: Vec<(String, String)>,
        resp: &HttpResponse,
    ) -> Step {
        match api::parse_lookup(resp, &field) {
            Ok(read) => {
                found.extend(read.found);
                if let Some(next) = read.next {
                    if reads >= MAX_LOOKUP_PAGES {
                        // An answer that pages on without end (or a locator that always
                        // expires): stop, leaving the users to the next run's lookup.
                        self.op = Op::Lookup { users, field, verify, page: None, found: Vec::new(), reads };
                        return self.give_up(too_many_pages(resp.status));
                    }
                    // The next page is a call of its own (its own renewal on an expired session).
                    let op = Op::Lookup { users, field, verify, page: Some(next), found, reads: reads + 1 };
                    return self.begin(op);
                }
            }
            Err(e) => {
                self.op = Op::Lookup { users, field, verify, page, found, reads };
                return self.retry(e, None);
            }
        }
        let by_value: BTreeMap<String, String> =
            found.into_iter().map(|(v, id)| (v.to_ascii_lowercase(), id)).collect();
        for i in users {
            let value = self.users[i].lookup.as_ref().map(|(_, v)| v.to_ascii_lowercase()).unwrap_or_default();
            match (by_value.get(&value).cloned(), verify) {
                (Some(id), true) => self.settle_created(i, id),
                (Some(id), false) => self.settle_duplicate(i, Some(id)),
                (None, true) => self.resend(i),
                // Salesforce said duplicate but named nothing, and nothing matches this
                // field: still a duplicate (the rule may match on other fields).
                (None, false) => self.settle_duplicate(i, None),
            }
        }
        self.version += 1;
        self.next()
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
            Op::Lookup { reads, .. }
                if reads >= MAX_LOOKUP_PAGES && e.remote_code.as_deref() == Some("INVALID_QUERY_LOCATOR") =>
            {
                self.give_up(too_many_pages(e.status.unwrap_or(400)))
            }
            Op::Lookup { users, field, verify, page: Some(_), reads, .. }
                if e.remote_code.as_deref() == Some("INVALID_QUERY_LOCATOR") =>
            {
                // The locator expired between pages: read the lookup again from its first page
                // (its pages still count towards MAX_LOOKUP_PAGES).
                self.op = Op::Lookup { users, field, verify, page: None, found: Vec::new(), reads: reads + 1 };
                self.retry(e, None)
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
                let key = self.users[i].key().to_string();
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
        // The operation is cloned for the session to resume: on giving up, `put_back` reads it.
        if let Err(e) = self.session.session_invalid(&self.config, self.op.clone()) {
            self.put_back();
            return self.stop(e);
        }
        self.attempt = 0;
        self.issue_token()
    }

    /// Wait and repeat `self.op`, or stop when retries or the retry window are used up.
    pub(super) fn retry(&mut self, error: RuleError, retry_after_ms: Option<u64>) -> Step {
        self.last_error = Some(error.clone());
        let wait = self.backoff.delay(self.attempt, retry_after_ms);
        let window_end = self.op_started.saturating_add(self.opts.retry_window_ms);
        if self.attempt >= self.opts.max_retries || !fits(self.now, wait, 50, window_end) {
            let mut e = error;
            e.message.push_str(&format!("; gave up after {} attempts", self.attempt + 1));
            return self.give_up(e);
        }
        self.attempt += 1;
        Step::Sleep { ms: wait }
    }

    /// Stop the run on `error` (resumable): a lookup's users stay `sending`, for the next run.
    fn give_up(&mut self, error: RuleError) -> Step {
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
        self.put_back();
        self.stop(error)
    }

    // ----- settling users -----------------------------------------------------------------

    /// The user's final result in this run (the resume state is the caller's: see `set_entry`).
    pub(super) fn settle(&mut self, i: usize, status: Status, lead_id: Option<String>, error: Option<RuleError>) {
        let r = &mut self.users[i].result;
        (r.status, r.lead_id, r.error) = (status, lead_id, error);
    }

    fn set_entry(&mut self, i: usize, entry: Entry) {
        let key = self.users[i].result.user_key.clone();
        self.state.users.insert(key, entry);
    }

    pub(super) fn settle_created(&mut self, i: usize, id: String) {
        self.set_entry(i, Entry::Created { lead_id: id.clone() });
        self.settle(i, Status::Created, Some(id), None);
    }

    fn settle_duplicate(&mut self, i: usize, id: Option<String>) {
        self.set_entry(i, Entry::Duplicate { lead_id: id.clone() });
        self.settle(i, Status::Duplicate, id, None);
    }

    pub(super) fn settle_failed(&mut self, i: usize, e: RuleError) {
        self.set_entry(i, failed_entry(&e));
        self.settle(i, Status::Failed, None, Some(e));
    }

    /// Salesforce named no duplicate: find it. The user is already done (a duplicate) in the state.
    pub(super) fn queue_resolve(&mut self, i: usize) {
        self.set_entry(i, Entry::Duplicate { lead_id: None });
        if self.users[i].lookup.is_some() {
            self.resolve.push_back(i);
        } else {
            self.settle_duplicate(i, None);
        }
    }

    /// Verified not created: send again, unless it has been tried too often.
    pub(super) fn resend(&mut self, i: usize) {
        self.users[i].tries += 1;
        if self.users[i].tries > self.opts.max_retries {
            let mut e = self.last_error.clone().unwrap_or_else(|| RuleError::new(ErrorCode::NetworkError, "no answer"));
            e.message.push_str(&format!(
                "; not created after {} tries (verified), sent again on the next run",
                self.users[i].tries
            ));
            self.settle_failed(i, e);
        } else {
            let key = self.users[i].key().to_string();
            self.state.users.remove(&key);
            self.queue.push_front(i);
        }
    }

    pub(super) fn stop(&mut self, error: RuleError) -> Step {
        if self.stopped.is_none() {
            self.stopped = Some(error);
        }
        self.finish()
    }

    pub(super) fn finish(&mut self) -> Step {
        self.done = true;
        self.op = Op::None;
        Step::Done(())
    }
}

impl BatchUser {
    /// A user to send, `Pending` until settled.
    pub(super) fn new(key: String, input: usize) -> Self {
        let result =
            UserResult { user_key: key, status: Status::Pending, lead_id: None, error: None, reason: None, input };
        BatchUser { result, record: RecordPayload::default(), lookup: None, tries: 0 }
    }

    /// The user's key (`user_id`, else `input[n]`).
    pub(super) fn key(&self) -> &str {
        &self.result.user_key
    }

    /// Whether the run sends this user (it is neither skipped nor invalid).
    pub(super) fn to_send(&self) -> bool {
        !matches!(self.result.status, Status::Skipped | Status::Invalid)
    }

    /// Never sent: `why` the record or input is unusable.
    pub(super) fn invalidate(&mut self, why: RuleError) {
        let r = &mut self.result;
        (r.status, r.lead_id, r.error, r.reason) = (Status::Invalid, None, Some(why), None);
    }

    /// Never sent: recorded already (`lead_id` when known), for `reason`.
    pub(super) fn skip(&mut self, lead_id: Option<String>, reason: &str) {
        let r = &mut self.result;
        (r.status, r.lead_id, r.error, r.reason) = (Status::Skipped, lead_id, None, Some(reason.to_string()));
    }
}

pub(super) fn failed_entry(e: &RuleError) -> Entry {
    Entry::Failed {
        code: e.remote_code.clone().unwrap_or_else(|| e.code.as_str().to_string()),
        message: e.message.clone(),
    }
}

pub(super) fn unknown_error(message: String) -> RuleError {
    RuleError::new(ErrorCode::OutcomeUnknown, message)
}

pub(super) fn is_duplicate_code(code: Option<&str>) -> bool {
    matches!(code, Some("DUPLICATES_DETECTED" | "DUPLICATE_VALUE"))
}
