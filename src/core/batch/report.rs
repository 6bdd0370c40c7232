//! What a run reports: one result per user, in input order, and the run's counts.

use crate::core::error::RuleError;

use super::input::Mode;
use super::machine::{Backfill, BatchUser};
use super::state::Entry;
use crate::core::outcome::Status;

use serde::Serialize;
use serde_json::Value;

/// One user's line in a backfill report: what happened ([`Status`], the vocabulary the login's
/// `Outcome` uses too), to whom, and why. Not an `Outcome`: a backfill sends no Slack message,
/// reports requests and the token per run ([`Stats`]), and names the user and input item. Never
/// contains a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserResult {
    /// The user's key (`user_id`).
    pub user_key: String,
    /// What happened.
    pub status: Status,
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
                Status::Created => stats.created += 1,
                Status::Duplicate => stats.duplicate += 1,
                Status::Failed => stats.failed += 1,
                Status::Skipped => stats.skipped += 1,
                Status::Invalid => stats.invalid += 1,
                Status::Pending | Status::Planned => stats.pending += 1,
            }
        }
        BatchReport { mode: self.mode, results, state: self.state_json(), stats, stopped: self.stopped.clone() }
    }

    /// The user's result; a pending one says what a rerun does with it.
    fn result_of(&self, u: &BatchUser) -> UserResult {
        let mut r = u.result.clone();
        if r.status == Status::Pending {
            r.reason = Some(
                match self.state.users.get(u.key()) {
                    Some(Entry::Sending) => "sent, answer not confirmed: a rerun looks it up before sending again",
                    Some(Entry::Bulk { .. }) => "in the open bulk job: a rerun continues with that job",
                    _ => "not sent yet: rerun with the resume state",
                }
                .to_string(),
            );
        }
        r
    }
}
