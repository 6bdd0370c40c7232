//! Every JS ⇄ Rust conversion: JS values become `serde_json::Value` through `JSON.stringify`
//! (so getters, Dates and class instances behave as they do in JSON), core results go back
//! through `JSON.parse`, and `RuleError`s become JS `Error`s carrying a stable `code`.

use crate::core::config::SettingsText;
use crate::core::error::{ErrorCode, RuleError};
use crate::core::mapping::CaseMap;
use crate::core::profile::{normalise_read, read_json, read_json_as, Host, HostEvent, MAX_PROFILE_BYTES};
use serde::Serialize;
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use wasm_bindgen::prelude::*;

/// The JS engine's case mapping (the same Unicode rules as Rust's, without Rust's case tables in
/// the binary).
pub const JS_CASE: CaseMap = CaseMap {
    lower: |s| js_sys::JsString::from(s).to_lower_case().into(),
    upper: |s| js_sys::JsString::from(s).to_upper_case().into(),
};

/// A JS value as JSON. `undefined`/`null` (and functions, Symbols) become `Value::Null`. Over `MAX_PROFILE_BYTES`,
/// circular, or otherwise not JSON-serialisable input is `PROFILE_INVALID`.
pub fn from_js(v: &JsValue, what: &str) -> Result<Value, RuleError> {
    from_js_within(v, what, MAX_PROFILE_BYTES)
}

/// [`from_js`] with another size limit (a resume state grows with the number of users).
pub fn from_js_within(v: &JsValue, what: &str, limit: usize) -> Result<Value, RuleError> {
    match json_text_from_js(v, what, limit)? {
        None => Ok(Value::Null),
        Some(text) => read_json(&text, what),
    }
}

/// A JS value's `JSON.stringify` text, checked against `limit`; `None` for `undefined`/`null`
/// and for values without JSON text (functions, Symbols).
/// [`read_json`] reads it: the two halves of [`from_js`], for callers that keep the text.
pub fn json_text_from_js(v: &JsValue, what: &str, limit: usize) -> Result<Option<String>, RuleError> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    let text = js_sys::JSON::stringify(v).map_err(|_| {
        RuleError::new(
            ErrorCode::ProfileInvalid,
            format!("{what} cannot be read as JSON (circular or not serialisable)"),
        )
    })?;
    // A function or a Symbol has no JSON text (`JSON.stringify` gives `undefined`): it reads as
    // absent, as it would inside an object.
    if !text.is_string() {
        return Ok(None);
    }
    let text = utf8_of(&text, limit).unwrap_or_else(|| text.into());
    if text.len() > limit {
        return Err(RuleError::new(
            ErrorCode::ProfileInvalid,
            format!("{what} is {} bytes; the limit is {limit} bytes", text.len()),
        ));
    }
    Ok(Some(text))
}

#[wasm_bindgen]
extern "C" {
    /// The host's `TextEncoder` (wasm-bindgen's own glue needs one as well).
    type TextEncoder;
    #[wasm_bindgen(constructor)]
    fn new() -> TextEncoder;
    /// `encodeInto` writes into a view of wasm memory: the slice is not copied either way.
    #[wasm_bindgen(method, catch, js_name = encodeInto)]
    fn encode_into(this: &TextEncoder, text: &js_sys::JsString, into: &mut [u8]) -> Result<Encoded, JsValue>;
    /// What `encodeInto` returns: `{ read, written }`.
    type Encoded;
    #[wasm_bindgen(method, getter)]
    fn written(this: &Encoded) -> u32;
}

/// The text of a JS string of at most `limit` UTF-16 units (and `MAX_PROFILE_BYTES`: the
/// buffer is three times that), written as UTF-8 by `TextEncoder.encodeInto` straight into wasm
/// memory. wasm-bindgen's `String::from(JsString)` copies ASCII one `charCodeAt` at a time in
/// JS, which is much slower.
/// `None` for a longer text or when `encodeInto` fails: the caller takes that path instead,
/// which gives the same text (both write a lone surrogate as U+FFFD). `text` is a string (the
/// caller checked).
fn utf8_of(text: &js_sys::JsString, limit: usize) -> Option<String> {
    let units = text.length() as usize;
    if units > limit.min(MAX_PROFILE_BYTES) {
        return None;
    }
    // A UTF-16 unit is at most 3 bytes of UTF-8 (a surrogate pair: 2 units, 4 bytes), so
    // `encodeInto` reads all of the text.
    let mut buf = vec![0u8; units * 3];
    let written = TextEncoder::new().encode_into(text, &mut buf).ok()?.written() as usize;
    buf.truncate(written);
    // Always UTF-8 by the Encoding standard; checked rather than trusted.
    String::from_utf8(buf).ok()
}

/// A host's event as JSON: only the top-level keys its normaliser reads when the host names
/// them (`Host::event_keys`), so unrelated parts are neither copied nor parsed.
pub fn event_from_js(host: Host, event: &JsValue) -> Result<Value, RuleError> {
    let Some(keys) = host.event_keys().filter(|_| event.is_object()) else { return from_js(event, "event") };
    let picked = js_sys::Object::new();
    // Taken out while in use (a getter may call back into the module), put back after.
    let js_keys = match EVENT_KEYS.with(std::cell::Cell::take) {
        Some((cached, js_keys)) if std::ptr::eq(cached, keys) => js_keys,
        _ => keys.iter().map(|k| JsValue::from_str(k)).collect(),
    };
    for key in &js_keys {
        // A getter that throws reads as `undefined`, as in `get`.
        let v = js_sys::Reflect::get(event, key).unwrap_or(JsValue::UNDEFINED);
        if !v.is_undefined() {
            let _ = js_sys::Reflect::set(&picked, key, &v);
        }
    }
    EVENT_KEYS.with(|c| c.set(Some((keys, js_keys))));
    from_js(&picked, "event")
}

thread_local! {
    /// The JS strings of the last host's event keys, made once: a key made from a Rust `&str`
    /// costs a `TextDecoder` call in JS, twice per key per event otherwise.
    static EVENT_KEYS: std::cell::Cell<Option<(&'static [&'static str], Vec<JsValue>)>> = const { std::cell::Cell::new(None) };
}

/// A host's event, normalised. [`event_from_js`] reads only text within [`MAX_PROFILE_BYTES`],
/// so [`normalise_read`] need not walk the event to know that it fits.
pub fn events_from_js(host: Host, event: &JsValue) -> Result<Vec<HostEvent>, RuleError> {
    normalise_read(host, &event_from_js(host, event)?)
}

/// A JS object (or nothing) as a JSON object; anything else is `CONFIG_INVALID`.
pub fn object_from_js(v: &JsValue, what: &str) -> Result<Map<String, Value>, RuleError> {
    object_from_text(object_text_from_js(v, what)?.as_deref(), what)
}

/// The first half of [`object_from_js`]: the value's JSON text (`None` for `undefined`/`null`).
pub fn object_text_from_js(v: &JsValue, what: &str) -> Result<Option<String>, RuleError> {
    json_text_from_js(v, what, MAX_PROFILE_BYTES).map_err(as_config_error)
}

/// The second half of [`object_from_js`]: that text as a JSON object, a `mapping` object in it
/// kept with its fields in the order written (see [`SettingsText`]).
pub fn object_from_text(text: Option<&str>, what: &str) -> Result<Map<String, Value>, RuleError> {
    // `JSON.stringify` writes no leading whitespace: `{` is an object.
    if let Some(object) = text.filter(|t| t.starts_with('{')) {
        return read_json_as::<SettingsText>(object, what).map(SettingsText::into_map).map_err(as_config_error);
    }
    match text.map_or(Ok(Value::Null), |t| read_json(t, what)).map_err(as_config_error)? {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        _ => Err(RuleError::new(ErrorCode::ConfigInvalid, format!("{what} must be an object"))),
    }
}

fn as_config_error(mut e: RuleError) -> RuleError {
    e.code = ErrorCode::ConfigInvalid;
    e
}

/// A Promise for `f`. Every async export goes through this one boxed `future_to_promise`, so the
/// wasm holds one instantiation of it, not one per export.
pub fn promise(f: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> js_sys::Promise {
    boxed_promise(Box::pin(f))
}

fn boxed_promise(f: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(f)
}

/// A core value as a plain JS value: its `serde_json` text through `JSON.parse`.
pub fn to_js<T: Serialize + ?Sized>(v: &T) -> JsValue {
    match serde_json::to_string(v) {
        Ok(text) => js_sys::JSON::parse(&text).unwrap_or(JsValue::NULL),
        Err(_) => JsValue::NULL,
    }
}

/// A JS `Error` with `code` (and `field`, `position`, `remoteCode`, `status` when known).
pub fn to_js_error(e: &RuleError) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name("SfLeadRuleError");
    let set = |k: &str, v: JsValue| {
        let _ = js_sys::Reflect::set(&err, &JsValue::from_str(k), &v);
    };
    set("code", JsValue::from_str(e.code.as_str()));
    if let Some(f) = &e.field {
        set("field", JsValue::from_str(f));
    }
    if let Some(p) = e.position {
        set("position", JsValue::from_f64(p as f64));
    }
    if let Some(r) = &e.remote_code {
        set("remoteCode", JsValue::from_str(r));
    }
    if let Some(s) = e.status {
        set("status", JsValue::from_f64(s as f64));
    }
    err.into()
}

/// `obj[key]` or `undefined`, never throwing (getters that throw read as `undefined`).
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if obj.is_object() || obj.is_function() {
        js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// Call `obj[method](...args)` if it is a function; its return value, or `None`.
pub fn call_method(obj: &JsValue, method: &str, args: &[JsValue]) -> Option<JsValue> {
    let f = get(obj, method).dyn_into::<js_sys::Function>().ok()?;
    let arr: js_sys::Array = args.iter().collect();
    f.apply(obj, &arr).ok()
}
