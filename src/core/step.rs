//! The step protocol between a sans-I/O state machine (the first-login flow, the backfill) and its
//! driver: the machine asks for a [`Step`] (send, sign, sleep, done), the driver performs it and
//! answers with an [`Input`]; [`TokenUpdate`] (from `session`) says what to do with the token cache
//! afterwards.

use crate::core::http::{HttpRequest, HttpResponse};
use crate::core::outcome::Outcome;
use crate::core::secret::Secret;
pub use crate::core::session::TokenUpdate;

/// What the driver must do next. `D` is what a finished machine hands back: the first-login flow
/// its `Outcome`, the backfill nothing (its report is read separately).
#[derive(Debug, Clone, PartialEq)]
pub enum Step<D = Box<Outcome>> {
    /// Send this request; abort it after `timeout_ms`.
    Send {
        /// The request.
        request: HttpRequest,
        /// How long it may take.
        timeout_ms: u64,
    },
    /// Sign `input` with RS256 using the PKCS#8 PEM `key`; answer with `Input::Signed`.
    Sign {
        /// The JWT signing input.
        input: String,
        /// The private key.
        key: Secret,
    },
    /// Wait, then answer with `Input::Woke`.
    Sleep {
        /// How long, in ms.
        ms: u64,
    },
    /// Finished: what the machine hands back.
    Done(D),
}

/// What happened to the last step.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The answer to [`Step::Send`].
    Response(HttpResponse),
    /// The request failed without an answer (why, in words).
    NetworkError(String),
    /// The request took longer than its `timeout_ms`.
    TimedOut,
    /// The signature [`Step::Sign`] asked for.
    Signed(Vec<u8>),
    /// Signing failed (unreadable key, say).
    SignFailed(String),
    /// The [`Step::Sleep`] is over.
    Woke,
}
