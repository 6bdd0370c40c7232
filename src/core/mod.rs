//! The pure core: decides and describes, never performs I/O.
//! Every function here is deterministic given its inputs (time and randomness are parameters).

#![warn(missing_docs)]

pub mod answer;
pub mod batch;
// The backfill's wire format lives in `batch::api`; this keeps its earlier public path.
pub use batch::api as batch_api;
pub mod config;
pub mod encoding;
pub mod endpoint;
pub mod error;
pub mod flow;
pub mod hash;
pub mod http;
pub mod in_flight;
pub mod mapping;
pub mod outcome;
pub mod plan;
pub mod profile;
pub mod record;
pub mod retry;
pub mod salesforce;
pub mod secret;
pub mod session;
pub mod slack;
pub mod step;
pub mod text;
pub mod volume;
pub mod webhook;
