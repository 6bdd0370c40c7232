//! The wasm layer: thin. `bindings` converts JS ⇄ core values and errors, `platform` binds
//! `fetch`, timers, the clock and WebCrypto, `driver` performs the core's steps with them (and
//! `volume` batches them), `hosts` adapts each identity host's calling convention. Nothing here decides anything the core could decide.

#[cfg(feature = "batch")]
pub mod batch;
pub mod bindings;
pub mod driver;
pub mod exports;
pub mod hosts;
pub mod platform;
pub mod volume;
