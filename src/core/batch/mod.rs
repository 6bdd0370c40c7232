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

pub mod api;
mod input;
mod job;
mod machine;
mod plan;
mod report;
mod state;

pub use crate::core::outcome::Status;
pub use input::{
    as_host_event, callback_error, option_error, profiles_error, read_options, state_not_saved, users_of, BatchOptions,
    InputItem, Mode, RunOptions, MAX_JOB_ROWS,
};
pub use job::MAX_JOB_BYTES;
pub use machine::{Backfill, MAX_LOOKUP_PAGES};
pub use plan::{plan, BatchPlan, PLANNED_JOB_ID};
pub use report::{BatchReport, Stats, UserResult};
pub use state::{Entry, JobPhase, ResumeState, STATE_FORMAT};

/// What the driver must do next: the first-login flow's steps; `Done` carries nothing, read
/// [`Backfill::report`].
pub type Step = crate::core::step::Step<()>;
