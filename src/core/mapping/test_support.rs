//! Helpers shared by the mapping's tests.

use super::{CaseMap, Mapping};
use crate::core::error::{ErrorCode, Result, RuleError};
use serde_json::{json, Value};

pub(crate) fn some(text: &str) -> Option<String> {
    Some(text.to_string())
}

/// Parse `src` for field `F` and evaluate it against `profile`.
pub(crate) fn eval(src: &str, profile: &Value) -> Result<Option<String>> {
    Ok(Mapping::parse_expression("F", src)?.evaluate(profile, &CaseMap::UNICODE))
}

/// The position and message of the error parsing `src` for field `F` (or a marker when it parsed).
pub(crate) fn error(src: &str) -> (Option<usize>, String) {
    match Mapping::parse_expression("F", src) {
        Ok(expr) => (None, format!("parsed as {expr:?}")),
        Err(err) => {
            assert_eq!(err.code, ErrorCode::MappingInvalid);
            assert_eq!(err.field.as_deref(), Some("F"));
            (err.position, err.message.clone())
        }
    }
}

pub(crate) fn mapping_error(obj: Value) -> RuleError {
    let map = obj.as_object().cloned().unwrap_or_default();
    match Mapping::parse(&(&map).into(), CaseMap::UNICODE) {
        Ok(mapping) => RuleError::new(ErrorCode::ConfigInvalid, format!("parsed as {mapping:?}")),
        Err(err) => err,
    }
}

pub(crate) fn profile() -> Value {
    json!({
        "user_id": "auth0|123",
        "email": "jane.doe@acme.com",
        "email_verified": true,
        "name": "Jane Q Doe",
        "given_name": "Jane",
        "nickname": "",
        "username": "   ",
        "picture": null,
        "logins_count": 1,
        "score": 1.5,
        "custom:company": "Cognito Corp",
        "first name": "Spacey",
        "it's": "quoted",
        "tags": ["a", "b", null],
        "identities": [{ "provider": "google-oauth2", "user-id": "g1" }],
        "user_metadata": { "company": "Acme", "address": { "city": "Zürich" }, "empty": {} },
        "app_metadata": { "company": null }
    })
}

pub(crate) fn filter(src: &str, input: &str) -> Result<Option<String>> {
    eval(&format!("v | {src}"), &json!({ "v": input }))
}

pub(crate) fn lead(mapping: &Mapping, profile: Value) -> Vec<(String, Option<String>)> {
    mapping.evaluate(&profile)
}

pub(crate) fn field<'a>(values: &'a [(String, Option<String>)], name: &str) -> Option<&'a str> {
    values.iter().find(|(field, _)| field == name).and_then(|(_, value)| value.as_deref())
}
