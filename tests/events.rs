//! Reading host events from their JSON text (as the wasm bindings do): many keys, deep nesting,
//! repeated keys and lone surrogates, each read and planned end to end.
#![cfg(not(target_arch = "wasm32"))]

use serde_json::{json, Value};
use sf_lead_rule::core::config::Config;
use sf_lead_rule::core::error::ErrorCode;
use sf_lead_rule::core::plan::plan;
use sf_lead_rule::core::profile::{normalise, read_json, Host, MAX_DEPTH, MAX_PROFILE_BYTES};

fn config() -> Config {
    Config::parse(json!({"clientId": "cid", "clientSecret": "s", "mapping": "recommended"}).as_object().unwrap())
        .unwrap()
}

/// An Auth0 Actions event whose `user.user_metadata` holds `metadata` (JSON text).
fn auth0_event(metadata: &str) -> String {
    format!(
        r#"{{"user":{{"user_id":"auth0|7","email":"ana@example.com","given_name":"Ana","family_name":"Pereira","user_metadata":{metadata}}},"stats":{{"logins_count":1}}}}"#
    )
}

/// The lead a plan of `text` would create, as JSON.
fn planned_lead(text: &str) -> Value {
    let event = read_json(text, "event").unwrap();
    let user = normalise(Host::Auth0Action, &event).unwrap().remove(0);
    let plan = plan(config(), user, 0).unwrap();
    assert_eq!(plan.action, "create");
    serde_json::to_value(&plan.lead).unwrap()
}

/// Three characters from 62 for key `i` (62³ > 28,500): `"xyz":0,` is 8 bytes a key.
fn short_key(mut i: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..3)
        .map(|_| {
            let c = DIGITS[i % 62] as char;
            i /= 62;
            c
        })
        .collect()
}

#[test]
fn an_event_with_28500_short_keys_is_read_and_planned() {
    // The issue's case: 228 KB of keys, under the 256 KiB limit. Objects are BTreeMaps (serde_json
    // without preserve_order): O(log n) per key, no hashing, so no keys chosen to collide can
    // slow reading down (timing lives in scripts/bench.sh, not here).
    let keys: Vec<String> = (0..28_500).map(short_key).collect();
    let metadata = format!("{{{}}}", keys.iter().map(|k| format!("\"{k}\":0")).collect::<Vec<_>>().join(","));
    let text = auth0_event(&metadata);
    assert!(text.len() > 228_000 && text.len() <= MAX_PROFILE_BYTES, "{}", text.len());

    let event = read_json(&text, "event").unwrap();
    let read = event["user"]["user_metadata"].as_object().unwrap();
    assert_eq!(read.len(), 28_500);
    // Every key, in key order.
    let mut sorted = keys.clone();
    sorted.sort();
    assert!(read.keys().eq(sorted.iter()));
    let user = normalise(Host::Auth0Action, &event).unwrap().remove(0);
    assert_eq!(user.profile["user_metadata"].as_object().map(|m| m.len()), Some(28_500));
    assert_eq!(
        planned_lead(&text),
        json!({"FirstName": "Ana", "LastName": "Pereira", "Email": "ana@example.com",
               "Company": "Web channel signups", "LeadSource": "Web"})
    );
}

#[test]
fn deep_nesting_is_refused_with_its_own_message() {
    // 200 nested arrays under a key no mapping reads: valid JSON, too deep to read.
    let deep = "[".repeat(200) + &"]".repeat(200);
    let text = auth0_event(&format!(r#"{{"unmapped":{deep}}}"#));
    // Valid JSON: skipped over without building values, it reads.
    assert!(serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok());
    let err = read_json(&text, "event").unwrap_err();
    assert_eq!(err.code, ErrorCode::ProfileInvalid);
    assert_eq!(err.message, "event is nested more than 127 levels deep (the JSON is valid; it is too deep)");

    // The limit exactly: 127 levels in all are read, 128 are not.
    let nested = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
    assert!(read_json(&nested(MAX_DEPTH), "event").is_ok());
    assert!(read_json(&nested(MAX_DEPTH + 1), "event").unwrap_err().message.contains("too deep"));
    // The event above at a depth within the limit (3 objects + 120 arrays) is planned.
    let text = auth0_event(&format!(r#"{{"unmapped":{}}}"#, nested(120)));
    assert_eq!(planned_lead(&text)["LastName"], "Pereira");

    // Text that is not JSON keeps the message it had.
    let err = read_json(r#"{"user": }"#, "event").unwrap_err();
    assert_eq!(err.code, ErrorCode::ProfileInvalid);
    assert!(err.message.starts_with("event is not valid JSON: expected value at line 1 column 10"), "{}", err.message);
}

#[test]
fn a_repeated_key_keeps_its_last_value() {
    // As JSON.parse does for the value. Event objects keep their keys in key order (a mapping
    // keeps its fields in the order written: see mapping.rs).
    let v = read_json(r#"{"k":1,"j":0,"k":2}"#, "event").unwrap();
    assert_eq!(v.to_string(), r#"{"j":0,"k":2}"#);
    let text = r#"{"user":{"user_id":"auth0|1","family_name":"First","email":"a@example.com","family_name":"Last"}}"#;
    let event = read_json(text, "event").unwrap();
    assert_eq!(event["user"].as_object().unwrap().keys().collect::<Vec<_>>(), ["email", "family_name", "user_id"]);
    assert_eq!(planned_lead(text)["LastName"], "Last");
}

#[test]
fn lone_surrogates_read_as_the_replacement_character() {
    // JSON.stringify writes a lone surrogate of a JS string as its escape; serde_json alone
    // refuses it, so read_json makes it U+FFFD first. Pairs, and escaped backslashes followed
    // by `ud800`, are text as they were.
    let v =
        read_json(r#"["\ud800x","\udc00","\ud83d\ude00","\ud83d\ud83d\ude00","a\\ud800","\ud83d"]"#, "event").unwrap();
    assert_eq!(v, json!(["\u{FFFD}x", "\u{FFFD}", "😀", "\u{FFFD}😀", "a\\ud800", "\u{FFFD}"]));
    let text = auth0_event("{}").replace("Pereira", r"Pere\udbffira");
    assert_eq!(planned_lead(&text)["LastName"], "Pere\u{FFFD}ira");
}
