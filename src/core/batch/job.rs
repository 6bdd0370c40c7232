//! The Bulk API 2.0 job sub-machine: write the CSV, create, upload, close, poll, read the
//! result files and match their rows back to users.

use crate::core::error::{ErrorCode, RuleError};
use crate::core::hash::fnv1a;
use crate::core::http::HttpResponse;
use crate::core::retry::Backoff;

use super::api::{self, JobInfo, ResultKind, ResultRow};
use super::machine::{failed_entry, is_duplicate_code};
use super::machine::{Backfill, Op};
use super::state::{Entry, JobPhase};
use super::Step;
use crate::core::outcome::Status;

use std::collections::{BTreeMap, VecDeque};

/// The CSV size, in bytes, a Bulk API 2.0 job stays under (Salesforce accepts 150 MB).
pub const MAX_JOB_BYTES: usize = 100_000_000;

#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) id: Option<String>,
    pub(super) phase: JobPhase,
    /// The job's users by key (a resumed job may hold users missing from this run's input).
    pub(super) users: Vec<String>,
    /// Row fingerprint → users with that row, for matching result rows.
    pub(super) rows: BTreeMap<String, VecDeque<String>>,
    pub(super) csv: Option<String>,
    /// A resumed job: ask Salesforce where it is before anything else.
    pub(super) check_first: bool,
    pub(super) info: Option<JobInfo>,
    pub(super) polls: u32,
    pub(super) waiting_since: u64,
    pub(super) aborts: u32,
}

impl Job {
    pub(super) fn new(id: Option<String>, phase: JobPhase) -> Self {
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

impl Backfill {
    /// Take the next users for a bulk job and write their CSV.
    pub(super) fn begin_job(&mut self) -> Step {
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
            job.users.push(u.key().to_string());
            job.rows.entry(row).or_default().push_back(u.key().to_string());
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

    /// The job exists: its users are in it (`bulk` in the state) from now on.
    pub(super) fn on_job_created(&mut self, resp: &HttpResponse) -> Step {
        let info = match api::parse_job_info(resp) {
            Ok(info) => info,
            Err(e) => {
                self.op = Op::JobCreate;
                return self.retry(e, None);
            }
        };
        if let Some(job) = self.job.as_mut() {
            job.id = Some(info.id.clone());
            job.phase = JobPhase::Open;
            self.state.bulk_job = Some((info.id.clone(), JobPhase::Open));
            for (row, keys) in &job.rows {
                for key in keys {
                    self.state.users.insert(key.clone(), Entry::Bulk { job: info.id.clone(), row: row.clone() });
                }
            }
            self.version += 1;
        }
        self.next()
    }

    pub(super) fn on_job_uploaded(&mut self) -> Step {
        self.set_phase(JobPhase::Uploaded);
        if let Some(job) = self.job.as_mut() {
            job.csv = None;
        }
        self.next()
    }

    /// Closed: Salesforce processes it; poll until it is done.
    pub(super) fn on_job_closed(&mut self) -> Step {
        self.set_phase(JobPhase::Closed);
        if let Some(job) = self.job.as_mut() {
            job.waiting_since = self.now;
        }
        self.op = Op::JobInfo;
        self.poll_later()
    }

    /// One result file read: the successful rows first, then the failed ones, then the job is done.
    pub(super) fn on_job_results(&mut self, kind: ResultKind, resp: &HttpResponse) -> Step {
        let rows = match api::parse_result_rows(resp) {
            Ok(rows) => rows,
            Err(e) => {
                self.op = Op::JobResults(kind);
                return self.retry(e, None);
            }
        };
        self.apply_rows(kind, rows);
        match kind {
            ResultKind::Successful => self.begin(Op::JobResults(ResultKind::Failed)),
            ResultKind::Failed => {
                self.close_out_job();
                self.next()
            }
        }
    }

    pub(super) fn on_job_info(&mut self, info: JobInfo) -> Step {
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
            let row = match kind {
                ResultKind::Successful if r.id.is_empty() => None,
                ResultKind::Successful => Some(Ok(r.id.clone())),
                ResultKind::Failed => {
                    let e = api::bulk_row_error(r.error.as_deref().unwrap_or(""), &self.config);
                    Some(Err(e))
                }
            };
            self.settle_key(&key, row);
        }
        self.version += 1;
    }

    /// Settle a job user by key (they may be missing from this run's input): `row` is the id a
    /// successful row created or a failed row's error; `None` for a successful row without an id.
    fn settle_key(&mut self, key: &str, row: Option<std::result::Result<String, RuleError>>) {
        let i = self.index.get(key).copied().filter(|&i| self.users[i].to_send());
        match (row, i) {
            (Some(Err(e)), Some(i)) if is_duplicate_code(e.remote_code.as_deref()) => self.queue_resolve(i),
            (Some(Ok(id)), Some(i)) => self.settle_created(i, id),
            (Some(Err(e)), Some(i)) => self.settle_failed(i, e),
            (Some(Ok(id)), None) => {
                self.state.users.insert(key.to_string(), Entry::Created { lead_id: id });
            }
            (Some(Err(e)), None) => {
                self.state.users.insert(key.to_string(), failed_entry(&e));
            }
            (None, Some(i)) => self.queue_verify(i),
            (None, None) => {
                self.state.users.insert(key.to_string(), Entry::Sending);
            }
        }
    }

    /// After both result files: users no row named are looked up (a finished job) or sent again
    /// (an aborted job never processed them); then the job is forgotten.
    pub(super) fn close_out_job(&mut self) {
        let Some(job) = self.job.take() else { return };
        let state = job.info.as_ref().map(|i| i.state.clone()).unwrap_or_default();
        let leftovers: Vec<String> = job.rows.into_values().flatten().collect();
        for key in leftovers {
            let i = self.index.get(&key).copied().filter(|&i| self.users[i].to_send());
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
    pub(super) fn requeue_job(&mut self, why: &str) {
        let Some(job) = self.job.take() else { return };
        for key in job.users {
            self.state.users.remove(&key);
            if let Some(&i) = self.index.get(&key) {
                if self.users[i].result.status == Status::Pending {
                    self.last_error = Some(RuleError::new(ErrorCode::NetworkError, why));
                    self.resend(i);
                }
            }
        }
        self.state.bulk_job = None;
        self.version += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::batch::BatchOptions;
    use crate::core::config::Config;
    use serde_json::{json, Value};

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
