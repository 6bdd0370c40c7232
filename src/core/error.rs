//! `RuleError` and its stable `ErrorCode`s: the one error type of the crate. The code string is
//! what JS callers see as `err.code`; never rename a code, only add new ones.

use serde::{Serialize, Serializer};
use std::fmt;

/// Stable machine-readable error codes. `as_str` is the public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    // --- bad configuration: rejects (throws) ---
    /// A configuration value has the wrong type or an unknown value.
    ConfigInvalid,
    /// A configuration key that the chosen grant or feature needs is missing.
    ConfigMissing,
    /// A mapping expression does not parse or names an unknown filter.
    MappingInvalid,
    /// A URL is not https (plain http is allowed only on loopback).
    InsecureUrl,
    /// Salesforce returned an `instance_url` outside the login domain family and the allowlist.
    InstanceUrlNotAllowed,
    /// A header value would carry CR or LF.
    HeaderInvalid,
    // --- bad input from the host ---
    /// The event/profile is not an object, is over the size limit, or has no usable identity.
    ProfileInvalid,
    /// A webhook signature (Svix for Clerk) is missing or does not verify.
    SignatureInvalid,
    /// A field Salesforce requires (Lead: LastName, Company; Contact: LastName) has no value.
    MissingRequiredField,
    // --- remote failures: become a `failed` outcome ---
    /// The token endpoint refused the credentials (`invalid_grant`, `invalid_client`, …).
    TokenRejected,
    /// The session token was rejected again after one refresh.
    SessionExpired,
    /// Salesforce refused the record (validation, field, permission error).
    SalesforceRejected,
    /// `REQUEST_LIMIT_EXCEEDED`: the org's API limit is used up. Not retried.
    RateLimited,
    /// 5xx / `SERVER_UNAVAILABLE` after the retries the deadline allowed.
    SalesforceUnavailable,
    /// A response was not the JSON Salesforce documents.
    ResponseInvalid,
    /// The network failed (connection refused, DNS, aborted).
    NetworkError,
    /// The total deadline ran out before Salesforce confirmed.
    DeadlineExceeded,
    /// Several records matched an upsert key (HTTP 300).
    AmbiguousMatch,
    /// The Slack webhook refused or failed the message (never affects the record outcome).
    SlackFailed,
    /// A request that may have created the record got no answer and the record cannot be looked
    /// up, so it is not sent again (batch backfill).
    OutcomeUnknown,
    /// Salesforce answered with a redirect (3xx). Redirects are never followed: nothing is sent
    /// where it points, and the request is not retried.
    RedirectRefused,
}

impl ErrorCode {
    /// The code as JS sees it (`SCREAMING_SNAKE_CASE`).
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            ConfigInvalid => "CONFIG_INVALID",
            ConfigMissing => "CONFIG_MISSING",
            MappingInvalid => "MAPPING_INVALID",
            InsecureUrl => "INSECURE_URL",
            InstanceUrlNotAllowed => "INSTANCE_URL_NOT_ALLOWED",
            HeaderInvalid => "HEADER_INVALID",
            ProfileInvalid => "PROFILE_INVALID",
            SignatureInvalid => "SIGNATURE_INVALID",
            MissingRequiredField => "MISSING_REQUIRED_FIELD",
            TokenRejected => "TOKEN_REJECTED",
            SessionExpired => "SESSION_EXPIRED",
            SalesforceRejected => "SALESFORCE_REJECTED",
            RateLimited => "RATE_LIMITED",
            SalesforceUnavailable => "SALESFORCE_UNAVAILABLE",
            ResponseInvalid => "RESPONSE_INVALID",
            NetworkError => "NETWORK_ERROR",
            DeadlineExceeded => "DEADLINE_EXCEEDED",
            AmbiguousMatch => "AMBIGUOUS_MATCH",
            SlackFailed => "SLACK_FAILED",
            OutcomeUnknown => "OUTCOME_UNKNOWN",
            RedirectRefused => "REDIRECT_REFUSED",
        }
    }

    /// Configuration errors reject the call; everything else resolves to a `failed` outcome.
    pub fn is_configuration(self) -> bool {
        use ErrorCode::*;
        matches!(self, ConfigInvalid | ConfigMissing | MappingInvalid | InsecureUrl | HeaderInvalid)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with a stable code and a message that tells the user what to change. Its details
/// ([`ErrorDetails`], reached through `Deref`: `e.code`, `e.message`, …) are boxed, so a
/// `Result<T>` is little more than a `T`: every `?` in the crate moves a pointer instead of six
/// fields, which keeps the wasm smaller. Errors are rare, so the allocation is too.
/// Serialised as its details: `{code, message, field?, position?, remoteCode?, status?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RuleError(Box<ErrorDetails>);

/// What a [`RuleError`] says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetails {
    /// The stable code.
    pub code: ErrorCode,
    /// What to change, for a person.
    pub message: String,
    /// The configuration key or Salesforce field concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Character offset (0-based) inside a mapping expression, for `MAPPING_INVALID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// Salesforce's own `errorCode` (or the OAuth `error`) when the failure came from there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_code: Option<String>,
    /// HTTP status of the response that failed, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl std::ops::Deref for RuleError {
    type Target = ErrorDetails;
    fn deref(&self) -> &ErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for RuleError {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.0
    }
}

impl RuleError {
    /// An error with `code` and `message`, nothing else.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        RuleError(Box::new(ErrorDetails {
            code,
            message: message.into(),
            field: None,
            position: None,
            remote_code: None,
            status: None,
        }))
    }
    /// The details, owned (to move the message or field out).
    pub fn into_details(self) -> ErrorDetails {
        *self.0
    }
    /// The configuration key or Salesforce field concerned.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    /// The position (in the mapping text) the error is at.
    pub fn at(mut self, position: usize) -> Self {
        self.position = Some(position);
        self
    }
    /// Salesforce's (or Slack's) own error code and the HTTP status it came with.
    pub fn with_remote(mut self, remote_code: impl Into<String>, status: u16) -> Self {
        self.remote_code = Some(remote_code.into());
        self.status = Some(status);
        self
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for RuleError {}

/// The code's stable name (`as_str`), as JS sees it in `err.code`.
impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A result whose error is a [`RuleError`].
pub type Result<T> = std::result::Result<T, RuleError>;
