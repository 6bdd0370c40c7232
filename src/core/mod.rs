//! The pure core: decides and describes, never performs I/O.
//! Every function here is deterministic given its inputs (time and randomness are parameters).

pub mod config;
pub mod error;
pub mod flow;
pub mod http;
pub mod mapping;
pub mod profile;
pub mod record;
pub mod salesforce;
pub mod secret;
pub mod slack;
pub mod base64;
pub mod plan;
pub mod webhook;
pub mod batch;
pub mod batch_api;
pub mod csv;
pub mod retry;
pub mod session;
