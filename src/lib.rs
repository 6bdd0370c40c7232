//! sf-lead-rule: on a user's first login, build a Salesforce Lead (or Contact) from the profile,
//! create it through the REST API and tell Slack — from any JavaScript identity host, as wasm.
//!
//! Three layers, arrows pointing inward:
//! - [`core`]: pure and deterministic. Profile → record → planned HTTP requests → outcome. No
//!   networking, no clock, no randomness; everything is handed in. Tested natively.
//! - `wasm::bindings`: converts JS values to core types and core errors to JS `Error`s with a `code`.
//! - `wasm::driver`: the one `fetch` binding, timers, host objects (`api`, `callback`, caches).

#![forbid(unsafe_code)]

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod wasm;
