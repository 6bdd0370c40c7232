//! Helpers shared by the profile adapters' tests: the fixtures in `tests/fixtures/` and one-line
//! expectations on `normalise`.

use super::{normalise, FirstLoginSignal, Host, HostEvent};
use crate::core::error::ErrorCode;
use serde_json::Value;

pub(super) fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

pub(super) fn one(host: Host, event: &Value) -> HostEvent {
    let mut users = normalise(host, event).unwrap_or_else(|e| panic!("{host:?}: {e}"));
    assert_eq!(users.len(), 1, "{host:?} yields exactly one user");
    users.remove(0)
}

pub(super) fn refused(host: Host, event: &Value) -> String {
    let err = normalise(host, event).expect_err("must be refused");
    assert_eq!(err.code, ErrorCode::ProfileInvalid);
    err.into_details().message
}

/// Every fixture's text (each line of an `.ndjson`).
pub(super) fn fixture_texts() -> Vec<String> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => texts.push(text),
            Some("ndjson") => texts.extend(text.lines().map(str::to_owned)),
            _ => {}
        }
    }
    texts
}

pub(super) fn recorded(lead: &str) -> FirstLoginSignal {
    FirstLoginSignal::AlreadyRecorded { lead_id: Some(lead.into()) }
}
