//! The wasm layer: thin. `bindings` converts JS ⇄ core values and errors, `driver` performs the
//! core's steps with `fetch`, timers and WebCrypto, `hosts` adapts each identity host's calling
//! convention. Nothing here decides anything the core could decide.

pub mod alloc;
#[cfg(feature = "batch")]
pub mod batch;
pub mod bindings;
pub mod driver;
pub mod exports;
pub mod hosts;

// Single-threaded wasm only: the allocator relies on there being one thread.
#[cfg(not(target_feature = "atomics"))]
#[global_allocator]
static ALLOCATOR: alloc::SizeClasses = alloc::SizeClasses::new();
