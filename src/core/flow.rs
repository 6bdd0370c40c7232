//! The first-login state machine: decide, get a token, (look up,) create or upsert, notify Slack.
//! It consumes `Input`s (responses, signatures, timer wake-ups) and yields `Step`s for a driver to
//! perform. Time and jitter are handed in, so every branch is testable without a server.

use crate::core::config::Config;
use crate::core::error::{ErrorCode, RuleError};
use crate::core::http::{HttpRequest, HttpResponse};
pub use crate::core::outcome::{Outcome, SlackOutcome, Status, LEAD_ID_KEY, MARKER_KEY};
use crate::core::profile::{FirstLoginSignal, HostEvent};
use crate::core::record::{build_record, RecordPayload, SObject, Warning};
use crate::core::retry::{self, Backoff};
use crate::core::salesforce::{self as sf, LookupResult, WriteResult};
use crate::core::secret::{scrub, Secret};
pub use crate::core::session::{cache_identity, CachedToken};
use crate::core::session::{TokenSession, TokenStart};
use crate::core::slack::{self, SlackResult};
pub use crate::core::step::{Input, Step, TokenUpdate};

use serde_json::Value;

const BACKOFF_BASE_MS: u64 = 250;
const BACKOFF_CAP_MS: u64 = 2_000;
/// How far Salesforce's clock may be behind the host's when telling a record this login created
/// (after its create's answer was lost) from one that was there before.
const CLOCK_SKEW_MS: u64 = 120_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Token,
    CheckStored,
    /// Look up by email; `verify` when a create's result was unknown.
    Find {
        verify: bool,
    },
    Write,
    Slack,
}

/// The first-login state machine: sans-I/O, driven with [`Step`]s and [`Input`]s.
pub struct FirstLoginFlow {
    config: Config,
    profile: Value,
    record: Option<RecordPayload>,
    warnings: Vec<Warning>,
    stored_id: Option<String>,
    /// The token; once renewed on an expired session, it resumes the call that was refused
    /// instead of starting over. Renews once per flow.
    session: TokenSession<Pending>,
    pending: Pending,
    attempt: u32,
    last_error: Option<RuleError>,
    deadline_at: u64,
    /// When the flow began (the host's clock).
    started_at: u64,
    now: u64,
    backoff: Backoff,
    requests: u32,
    slack_body: Option<String>,
    result: Option<Outcome>,
    done: bool,
}

impl FirstLoginFlow {
    /// Start a flow. `seed` feeds the retry jitter.
    pub fn new(config: Config, event: HostEvent, cached: Option<CachedToken>, now_ms: u64, seed: u64) -> Self {
        FirstLoginFlow {
            session: TokenSession::new(&config, cached, now_ms),
            deadline_at: now_ms.saturating_add(config.deadline_ms),
            started_at: now_ms,
            config,
            profile: event.profile,
            record: None,
            warnings: Vec::new(),
            stored_id: match &event.signal {
                FirstLoginSignal::AlreadyRecorded { lead_id } => lead_id.clone(),
                _ => None,
            },
            pending: Pending::Token,
            attempt: 0,
            last_error: None,
            now: now_ms,
            backoff: Backoff::new(BACKOFF_BASE_MS, BACKOFF_CAP_MS, seed),
            requests: 0,
            slack_body: None,
            result: None,
            done: false,
        }
        .decide(event.signal)
    }

    fn decide(mut self, signal: FirstLoginSignal) -> Self {
        let skip = match signal {
            // Only a well-formed stored id is checked; anything else cannot be looked up, and the
            // marker alone says the user is recorded.
            FirstLoginSignal::AlreadyRecorded { lead_id: Some(id) }
                if self.config.recreate_deleted && sf::is_record_id(&id) =>
            {
                None
            }
            FirstLoginSignal::AlreadyRecorded { .. } => {
                Some("user is already recorded in Salesforce (app_metadata.recordedAsLead)")
            }
            FirstLoginSignal::ReturningUser => Some("not a first login"),
            // Creating on every event we cannot classify would make a Lead per login.
            FirstLoginSignal::Unknown => Some("the host event does not say this is a first login or sign-up"),
            FirstLoginSignal::FirstLogin => None,
        };
        if let Some(reason) = skip {
            self.result = Some(self.outcome(Status::Skipped, reason.to_string(), None, None));
            self.done = true;
            return self;
        }
        match build_record(self.config.object, &self.config.mapping, &self.profile) {
            Ok((record, warnings)) => {
                self.record = Some(record);
                self.warnings = warnings;
                // Refused before any request: the upsert URL could not name this record.
                let bad_id = self
                    .external_id()
                    .and_then(|(_, value)| sf::check_external_id(&self.config.external_id_source, &value).err());
                if let Some(e) = bad_id {
                    self.fail_later(e);
                }
            }
            Err(e) => self.fail_later(e),
        }
        self
    }

    /// The token the driver should cache (or forget) once the flow is done.
    pub fn token_update(&self) -> &TokenUpdate {
        self.session.update()
    }

    /// The record as mapped, once decided, until the outcome carries it away.
    pub fn record(&self) -> Option<&RecordPayload> {
        self.record.as_ref()
    }

    /// First step.
    pub fn start(&mut self) -> Step {
        if self.done || self.slack_body.is_some() {
            return self.after_record();
        }
        self.begin_salesforce()
    }

    /// Feed the result of the last step, get the next.
    pub fn resume(&mut self, input: Input, now_ms: u64) -> Step {
        self.now = now_ms;
        if self.done {
            return self.finish();
        }
        match input {
            Input::Woke => self.issue(),
            Input::Signed(sig) => self.after_signing(Ok(sig)),
            Input::SignFailed(why) => self.after_signing(Err(why)),
            Input::Response(resp) => self.on_response(resp),
            Input::NetworkError(msg) => self.on_transport_error(RuleError::new(
                ErrorCode::NetworkError,
                format!("network error talking to {}: {}", self.target_name(), scrub(&msg, &self.config.secrets())),
            )),
            Input::TimedOut => self.on_transport_error(RuleError::new(
                ErrorCode::NetworkError,
                format!("{} did not answer in time", self.target_name()),
            )),
        }
    }

    fn after_signing(&mut self, signed: Result<Vec<u8>, String>) -> Step {
        match self.session.request_after_signing(&self.config, signed) {
            Ok(request) => self.send(request),
            Err(e) => self.fail(e),
        }
    }

    fn target_name(&self) -> &'static str {
        if self.pending == Pending::Slack {
            "Slack"
        } else {
            "Salesforce"
        }
    }

    fn begin_salesforce(&mut self) -> Step {
        self.attempt = 0;
        self.pending = if self.session.token().is_none() { Pending::Token } else { self.after_token() };
        self.issue()
    }

    /// Which Salesforce call follows once a token is at hand.
    fn after_token(&self) -> Pending {
        if self.stored_id.is_some() {
            Pending::CheckStored
        } else if self.config.external_id_field.is_none()
            // Unset is off here: a login hook has the host's marker; webhook hosts set it on.
            && self.config.dedupe_by_email.unwrap_or(false)
            && self.email().is_some()
        {
            Pending::Find { verify: false }
        } else {
            Pending::Write
        }
    }

    fn email(&self) -> Option<&str> {
        self.record.as_ref().and_then(|r| r.get("Email"))
    }

    /// Build and emit the request for `self.pending`.
    fn issue(&mut self) -> Step {
        let req = match (self.pending, self.session.token()) {
            (Pending::Slack, _) => match (&self.config.slack_webhook_url, &self.slack_body) {
                (Some(url), Some(body)) => slack::webhook_request(url, body.clone()),
                _ => return self.finish(),
            },
            (Pending::Token, _) | (_, None) => {
                self.pending = Pending::Token;
                match self.session.request(&self.config, self.now) {
                    TokenStart::Sign { input, key } => return Step::Sign { input, key },
                    TokenStart::Send(r) => r,
                    TokenStart::NotRenewable => {
                        return self.fail(RuleError::new(
                            ErrorCode::SessionExpired,
                            "the configured access token was rejected",
                        ))
                    }
                }
            }
            (Pending::CheckStored, Some(t)) => {
                sf::get_record_request(t, &self.config, self.stored_id.as_deref().unwrap_or_default())
            }
            (Pending::Find { verify }, Some(t)) => {
                sf::find_by_email_request(t, &self.config, self.email().unwrap_or_default(), verify)
            }
            (Pending::Write, Some(t)) => {
                let empty = RecordPayload::default();
                let record = self.record.as_ref().unwrap_or(&empty);
                match self.external_id() {
                    Some((field, value)) => sf::upsert_request(t, &self.config, &field, &value, record),
                    None => sf::create_request(t, &self.config, record),
                }
            }
        };
        self.send(req)
    }

    fn external_id(&self) -> Option<(String, String)> {
        let field = self.config.external_id_field.clone()?;
        let value = json_path(&self.profile, &self.config.external_id_source)?;
        Some((field, value))
    }

    fn send(&mut self, request: HttpRequest) -> Step {
        if let Err(e) = request.check_headers() {
            return self.give_up(e);
        }
        let remaining = self.phase_deadline().saturating_sub(self.now);
        if remaining == 0 {
            let e = self.deadline_error();
            return self.give_up(e);
        }
        self.requests += 1;
        Step::Send { request, timeout_ms: remaining.min(self.config.request_timeout_ms) }
    }

    /// When the current phase must be over. Salesforce calls leave a slice of the deadline for
    /// the Slack message: the alert matters most when Salesforce hangs and eats the rest.
    fn phase_deadline(&self) -> u64 {
        if self.pending == Pending::Slack || self.config.slack_webhook_url.is_none() {
            return self.deadline_at;
        }
        let reserve = self.config.request_timeout_ms.min(self.config.deadline_ms / 5);
        self.deadline_at.saturating_sub(reserve)
    }

    fn deadline_error(&self) -> RuleError {
        let mut e = RuleError::new(
            ErrorCode::DeadlineExceeded,
            format!("gave up after {} ms (deadlineMs) before Salesforce confirmed", self.config.deadline_ms),
        );
        if let Some(last) = &self.last_error {
            e.message.push_str(&format!("; last error: {}", last.message));
        }
        e
    }

    fn on_response(&mut self, resp: HttpResponse) -> Step {
        match self.pending {
            Pending::Token => match self.session.read_answer(&resp, &self.config) {
                Ok(token) => {
                    let resumed = self.session.accept(&self.config, token, self.now);
                    self.attempt = 0;
                    self.pending = resumed.unwrap_or_else(|| self.after_token());
                    self.issue()
                }
                // 5xx, 429 and unreadable answers (a cut-off body, a proxy's page) are worth
                // another try: a token request changes nothing on the server.
                Err(e) if matches!(e.code, ErrorCode::SalesforceUnavailable | ErrorCode::ResponseInvalid) => {
                    let after = sf::retry_after_ms(&resp);
                    self.retry(e, after)
                }
                Err(e) => self.fail(e),
            },
            Pending::CheckStored => match sf::parse_lookup_response(&resp, &self.config) {
                LookupResult::Found(id) => {
                    let url = self.record_url(&id);
                    self.result = Some(self.outcome(
                        Status::Skipped,
                        "user is already recorded and the record still exists in Salesforce".into(),
                        Some(id),
                        url,
                    ));
                    self.finish()
                }
                LookupResult::NotFound => {
                    self.stored_id = None;
                    self.next_call(self.after_token())
                }
                other => self.on_lookup_problem(other),
            },
            Pending::Find { verify } => match sf::parse_lookup_response(&resp, &self.config) {
                // Ours unless it was there before this login began (clocks may disagree a little).
                LookupResult::Found(id)
                    if verify && sf::created_before(&resp, self.started_at.saturating_sub(CLOCK_SKEW_MS)) =>
                {
                    self.existing(Some(id), "a record with this email already existed (the create's answer was lost)")
                }
                LookupResult::Found(id) if verify => self.created(id),
                LookupResult::Found(id) => self.existing(Some(id), "a record with this email already exists"),
                LookupResult::NotFound if verify => {
                    // The earlier create did not land: safe to send it again now (the pause before
                    // the lookup already counted as this attempt's backoff).
                    self.pending = Pending::Write;
                    self.issue()
                }
                LookupResult::NotFound => self.next_call(Pending::Write),
                other => self.on_lookup_problem(other),
            },
            Pending::Write => match sf::parse_write_response(&resp, &self.config) {
                WriteResult::Created { id } => self.created(id),
                WriteResult::Existing { id, via } => self.existing(id, via),
                WriteResult::SessionInvalid => self.refresh_session(),
                WriteResult::Retryable { error, retry_after_ms } => self.retry(error, retry_after_ms),
                WriteResult::Unknown { error } => self.on_transport_error(error),
                WriteResult::Failed(e) => self.fail(e),
            },
            Pending::Slack => match slack::parse_webhook_response(&resp, &self.secrets()) {
                SlackResult::Sent => {
                    self.set_slack("sent", None);
                    self.finish()
                }
                SlackResult::Retryable { error, retry_after_ms } => self.retry(error, retry_after_ms),
                SlackResult::Failed(e) => {
                    self.set_slack("failed", Some(e));
                    self.finish()
                }
            },
        }
    }

    fn next_call(&mut self, pending: Pending) -> Step {
        self.pending = pending;
        self.attempt = 0;
        self.issue()
    }

    fn on_lookup_problem(&mut self, r: LookupResult) -> Step {
        match r {
            LookupResult::SessionInvalid => self.refresh_session(),
            LookupResult::Retryable { error, retry_after_ms } => self.retry(error, retry_after_ms),
            LookupResult::Failed(e) => self.fail(e),
            LookupResult::Found(_) | LookupResult::NotFound => {
                self.fail(RuleError::new(ErrorCode::ResponseInvalid, "unexpected lookup state"))
            }
        }
    }

    /// A request whose fate is unknown (network error, timeout, unreadable success).
    fn on_transport_error(&mut self, error: RuleError) -> Step {
        match self.pending {
            Pending::Write if self.external_id().is_none() => {
                // A create may have landed. Never send it twice blind: look it up by email first.
                if self.email().is_some() && self.attempt < self.config.max_retries {
                    self.last_error = Some(error.clone());
                    self.pending = Pending::Find { verify: true };
                    self.retry(error, None)
                } else {
                    let mut e = error;
                    e.message.push_str("; the record may or may not have been created, so it was not sent again");
                    self.fail(e)
                }
            }
            _ => self.retry(error, None),
        }
    }

    /// 401 INVALID_SESSION_ID: one new token, then the same call again (a verifying lookup must
    /// stay one).
    fn refresh_session(&mut self) -> Step {
        if let Err(e) = self.session.session_invalid(&self.config, self.pending) {
            return self.fail(e);
        }
        self.attempt = 0;
        self.pending = Pending::Token;
        self.issue()
    }

    /// Wait and try `self.pending` again, or give up when retries or the deadline are used up.
    fn retry(&mut self, error: RuleError, retry_after_ms: Option<u64>) -> Step {
        self.last_error = Some(error.clone());
        if self.attempt >= self.config.max_retries {
            return self.give_up(error);
        }
        let wait = self.backoff.delay(self.attempt, retry_after_ms);
        self.attempt += 1;
        // Leave room for the request itself after the pause.
        if !retry::fits(self.now, wait, 50, self.phase_deadline()) {
            let mut e = error;
            match retry_after_ms {
                Some(_) => e.message.push_str(&format!("; Retry-After {wait} ms does not fit in deadlineMs")),
                None => e.message.push_str("; no time left within deadlineMs to try again"),
            }
            return self.give_up(e);
        }
        Step::Sleep { ms: wait }
    }

    fn give_up(&mut self, mut error: RuleError) -> Step {
        if self.pending == Pending::Slack {
            // Callers read `slack.error.code`: one code for every way Slack can fail.
            error.code = ErrorCode::SlackFailed;
            self.set_slack("failed", Some(error));
            return self.finish();
        }
        self.fail(error)
    }

    fn record_url(&self, id: &str) -> Option<String> {
        self.session.token().map(|t| sf::record_url(&t.instance_url, self.config.object, id))
    }

    fn created(&mut self, id: String) -> Step {
        let url = self.record_url(&id);
        // The message first, so the URL then moves into the outcome instead of being copied.
        if self.config.notify_on_success {
            if let Some(record) = &self.record {
                self.slack_body =
                    Some(slack::created_message(self.config.object, record, url.as_deref().unwrap_or("")));
            }
        }
        let reason = created_reason(self.config.object).into();
        self.result = Some(self.outcome(Status::Created, reason, Some(id), url));
        self.after_record()
    }

    fn existing(&mut self, id: Option<String>, via: &str) -> Step {
        let url = id.as_deref().and_then(|i| self.record_url(i));
        let status = if id.is_some() { Status::Duplicate } else { Status::Failed };
        let mut outcome = self.outcome(status, format!("not created: {via}"), id, url);
        if status == Status::Failed {
            outcome.error =
                Some(RuleError::new(ErrorCode::ResponseInvalid, format!("{via}, but Salesforce did not say which")));
        }
        self.result = Some(outcome);
        self.finish()
    }

    /// Record a failure now; the Slack alert (if any) goes out next.
    fn fail(&mut self, error: RuleError) -> Step {
        self.fail_later(error);
        self.after_record()
    }

    fn fail_later(&mut self, error: RuleError) {
        let error = self.scrub_error(error);
        let mut outcome =
            self.outcome(Status::Failed, format!("{} not created", self.config.object.name()), None, None);
        if self.config.notify_on_failure {
            let who = ["email", "user_id"]
                .iter()
                .find_map(|k| json_path(&self.profile, k))
                .unwrap_or_else(|| "an unknown user".into());
            self.slack_body = Some(slack::failure_message(self.config.object, &who, &error));
        }
        outcome.error = Some(error);
        self.result = Some(outcome);
    }

    fn after_record(&mut self) -> Step {
        if self.slack_body.is_some() && self.config.slack_webhook_url.is_some() && self.pending != Pending::Slack {
            self.set_slack("failed", None);
            self.pending = Pending::Slack;
            self.attempt = 0;
            return self.issue();
        }
        self.finish()
    }

    /// Every secret an answer could echo: the configured ones and the access tokens.
    fn secrets(&self) -> Vec<&Secret> {
        let mut secrets = self.config.secrets();
        // Access tokens are secrets too, though no one configured them. The one held is the
        // latest seen, so it comes last, as it was seen.
        secrets.extend(self.session.tokens());
        secrets
    }

    /// Errors may carry text from a remote answer (message, error code, field): mask any
    /// configured secret an answer echoed back before it reaches an outcome or Slack.
    fn scrub_error(&self, mut e: RuleError) -> RuleError {
        let secrets = self.secrets();
        e.message = scrub(&e.message, &secrets);
        e.remote_code = e.remote_code.take().map(|c| scrub(&c, &secrets));
        e.field = e.field.take().map(|f| scrub(&f, &secrets));
        e
    }

    fn set_slack(&mut self, status: &'static str, error: Option<RuleError>) {
        let error = error.map(|e| self.scrub_error(e));
        if let Some(o) = self.result.as_mut() {
            o.slack = SlackOutcome { status, error };
        }
    }

    fn finish(&mut self) -> Step {
        self.done = true;
        let mut outcome = match self.result.take() {
            Some(o) => o,
            None => self.outcome(Status::Failed, "flow ended without a result".into(), None, None),
        };
        outcome.requests = self.requests;
        outcome.token = self.session.source();
        outcome.error = outcome.error.map(|e| self.scrub_error(e));
        if outcome.slack.status == "failed" && outcome.slack.error.is_none() {
            // Slack was due but the deadline ran out before it could be sent.
            outcome.slack.error =
                Some(RuleError::new(ErrorCode::SlackFailed, "Slack was not notified: no time left within deadlineMs"));
        }
        // Kept for a `resume` after the end, which repeats the outcome. The record and warnings
        // move into the one handed out now instead of being copied, so a repeat comes without them.
        self.result = Some(outcome.clone());
        outcome.record = self.record.take();
        outcome.warnings = std::mem::take(&mut self.warnings);
        Step::Done(Box::new(outcome))
    }

    fn outcome(&self, status: Status, reason: String, lead_id: Option<String>, record_url: Option<String>) -> Outcome {
        let slack_status = if self.config.slack_webhook_url.is_none() { "not_configured" } else { "not_needed" };
        Outcome {
            status,
            reason,
            object: self.config.object,
            lead_id,
            record_url,
            // Filled in by `finish`: both are set once, when the flow decides, before any outcome.
            record: None,
            warnings: Vec::new(),
            error: None,
            slack: SlackOutcome { status: slack_status, error: None },
            token: self.session.source(),
            requests: self.requests,
        }
    }
}

/// The reason of an outcome `Created`: fixed text per object rather than a `format!`, which is
/// slow in wasm, for a reason every login gives.
fn created_reason(object: SObject) -> &'static str {
    match object {
        SObject::Lead => "Lead created in Salesforce",
        SObject::Contact => "Contact created in Salesforce",
    }
}

/// A dotted path (`user_id`, `app_metadata.crm_id`) as a string, for ids and alert text.
pub fn json_path(v: &Value, path: &str) -> Option<String> {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    match cur {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_created_reason_names_the_object() {
        for object in [SObject::Lead, SObject::Contact] {
            assert_eq!(created_reason(object), format!("{} created in Salesforce", object.name()));
        }
    }
}
