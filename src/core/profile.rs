//! Host events → one normalised profile plus the host's own first-login signal.
//! INTERFACE STUB — being implemented.

use crate::core::error::Result;
use serde_json::Value;

/// Largest event/profile accepted, in bytes of JSON.
pub const MAX_PROFILE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// Auth0 Actions post-login `event` (`event.user`, `event.stats.logins_count`).
    Auth0Action,
    /// Legacy Auth0 Rule `(user, context)` merged as `{ "user": …, "context": … }`.
    Auth0Rule,
    /// Ory Actions web hook body (`ctx.identity` … as sent by the Jsonnet template).
    Ory,
    /// Firebase `beforeUserCreated` / `beforeUserSignedIn` event.
    Firebase,
    /// AWS Cognito PostConfirmation / PostAuthentication trigger event.
    Cognito,
    /// Clerk `user.created` webhook body.
    Clerk,
    /// Okta event hook `user.lifecycle.create` body.
    Okta,
    /// A plain profile, or `{ user, stats? }` in the Auth0 shape.
    Generic,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstLoginSignal {
    FirstLogin,
    ReturningUser,
    AlreadyRecorded { lead_id: Option<String> },
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostEvent {
    /// Normalised profile object (keys documented in README "Profile fields").
    pub profile: Value,
    pub signal: FirstLoginSignal,
}

pub fn normalise(_host: Host, _event: &Value) -> Result<Vec<HostEvent>> {
    unimplemented!()
}
pub fn host_from_name(_name: &str) -> Option<Host> {
    unimplemented!()
}
