//! Typed reads of event fields: each accepts exactly one JSON type (plus documented spellings) and
//! never panics, so a field of the wrong type is simply absent.

use serde_json::Value;

pub(super) fn path<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(value, |v, key| v.get(*key))
}

/// A non-empty string, kept as given.
pub(super) fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// An id: a non-empty string, or an integer (some exports carry numeric ids).
pub(super) fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        other => text(Some(other)),
    }
}

/// A boolean, or the strings `"true"` / `"false"` (Cognito sends every attribute as a string).
pub(super) fn flag(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

pub(super) fn count(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

/// `"First Last"` from whichever parts exist.
pub(super) fn join_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let joined = [first, last].into_iter().flatten().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    (!joined.is_empty()).then_some(joined)
}

pub(super) fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}
