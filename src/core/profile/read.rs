//! Reading JSON text from JS: serde_json with the two things JavaScript text needs on top (lone
//! surrogate escapes, a depth limit with its own message). Used for events and for any other value
//! the bindings read; never panics.

use crate::core::error::{ErrorCode, Result, RuleError};
use serde_json::Value;
use std::borrow::Cow;

/// Deepest nesting of arrays and objects that is read: serde_json's recursion limit of 128 lets
/// 127 levels through.
pub const MAX_DEPTH: usize = 127;

/// Read the JSON text of an event (or any value from JS) that `what` names. Refused with
/// `PROFILE_INVALID`: text that is not JSON, and JSON nested more than [`MAX_DEPTH`] levels deep,
/// with a message of its own (the text is valid JSON; it is only too deep). Reading takes time in
/// proportion to the text (objects are `BTreeMap`s: O(log n) per key, whatever the keys). A lone surrogate escape, which
/// `JSON.stringify` writes for a lone surrogate in a JS string, is read as U+FFFD.
pub fn read_json(text: &str, what: &str) -> Result<Value> {
    read_json_as(text, what)
}

/// [`read_json`] as any type.
pub fn read_json_as<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(&lone_surrogates_replaced(text)).map_err(|e| {
        // serde_json has no error kind for this: its message is the only way to tell.
        let message = if e.to_string().starts_with("recursion limit exceeded") {
            format!("{what} is nested more than {MAX_DEPTH} levels deep (the JSON is valid; it is too deep)")
        } else {
            format!("{what} is not valid JSON: {e}")
        };
        RuleError::new(ErrorCode::ProfileInvalid, message)
    })
}

/// `text` with every `\uXXXX` escape of a lone UTF-16 surrogate (one not paired with its other
/// half) written `\ufffd`: serde_json refuses lone surrogates in a string, JavaScript strings may
/// hold them, and `JSON.stringify` writes them as such escapes. Borrowed when there is none.
fn lone_surrogates_replaced(text: &str) -> Cow<'_, str> {
    fn surrogate_at(bytes: &[u8], i: usize) -> Option<u16> {
        let hex = bytes.get(i..i + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        let n = u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()?;
        (0xD800..0xE000).contains(&n).then_some(n)
    }
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(at) = bytes.get(i..).and_then(|rest| rest.iter().position(|&b| b == b'\\')) {
        i += at;
        let lone = match surrogate_at(bytes, i) {
            // A pair: kept.
            Some(0xD800..=0xDBFF) if matches!(surrogate_at(bytes, i + 6), Some(0xDC00..=0xDFFF)) => {
                i += 12;
                continue;
            }
            Some(_) => true,
            None => false,
        };
        if lone {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(text.get(copied..i).unwrap_or_default());
            o.push_str("\\ufffd");
            i += 6;
            copied = i;
        } else {
            // Any other escape: step over the backslash and the character it escapes.
            i += 2;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(text.get(copied..).unwrap_or_default());
            Cow::Owned(o)
        }
    }
}
