//! What a run reports: one result per user, in input order, and the run's counts.

use crate::core::error::RuleError;

use super::input::Mode;
use super::machine::{Backfill, BatchUser, Disposition, RunOutcome};
use super::state::Entry;

use serde::Serialize;
use serde_json::Value;

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

impl Backfill {
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

    pub(super) fn result_of(&self, u: &BatchUser) -> UserResult {
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
}
