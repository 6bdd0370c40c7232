//! The hand-written TypeScript types against the Rust types they describe, so they cannot drift:
//! the `ErrorCode` union lists exactly the codes `core::error::ErrorCode::as_str` gives.

use std::collections::BTreeSet;

const ERROR_RS: &str = include_str!("../src/core/error.rs");
const EXPORTS_RS: &str = include_str!("../src/wasm/exports.rs");
const BATCH_RS: &str = include_str!("../src/wasm/batch.rs");

/// The text between `start` and the first `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).map(|i| i + start.len()).unwrap_or_else(|| panic!("{start:?} not found"));
    let len = text[from..].find(end).unwrap_or_else(|| panic!("{end:?} not found after {start:?}"));
    &text[from..from + len]
}

/// Every code `ErrorCode::as_str` gives, read from each variant of the enum and its arm in `as_str`.
fn rust_codes() -> Vec<String> {
    let variants: Vec<&str> = between(ERROR_RS, "pub enum ErrorCode {", "\n}")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .map(|line| line.trim_end_matches(','))
        .collect();
    assert!(variants.len() > 10, "{variants:?}");
    let as_str = between(ERROR_RS, "pub fn as_str(self)", "\n    }\n");
    variants
        .iter()
        .map(|variant| {
            let arm = format!("{variant} => \"");
            assert!(variant.chars().all(|c| c.is_ascii_alphanumeric()), "not a variant: {variant:?}");
            between(as_str, &arm, "\"").to_string()
        })
        .collect()
}

/// The members of `export type ErrorCode = "A" | "B" …;` in `TS_TYPES`.
fn ts_codes() -> Vec<String> {
    between(EXPORTS_RS, "export type ErrorCode =", ";")
        .split('|')
        .map(|member| {
            let member = member.trim();
            assert!(member.starts_with('"') && member.ends_with('"'), "not a string literal: {member:?}");
            member.trim_matches('"').to_string()
        })
        .collect()
}

#[test]
fn the_ts_error_code_union_lists_exactly_the_rust_codes() {
    let rust = rust_codes();
    let ts = ts_codes();
    assert_eq!(ts.iter().collect::<BTreeSet<_>>(), rust.iter().collect::<BTreeSet<_>>());
    assert_eq!(ts.len(), rust.len(), "a code listed twice: {ts:?}");
    // The real type agrees with what was read from its source.
    assert!(rust.contains(&sf_lead_rule::core::error::ErrorCode::RedirectRefused.as_str().to_string()));
}

#[test]
fn rule_error_info_codes_are_typed_with_the_union() {
    assert!(between(EXPORTS_RS, "export interface RuleErrorInfo {", "}").contains("code: ErrorCode;"));
}

#[test]
fn backfill_state_codes_are_typed_with_the_union_or_salesforces_own() {
    let state = between(BATCH_RS, "export interface BackfillState {", "\n}");
    assert!(state.contains("code?: ErrorCode | (string & {});"), "{state}");
    assert!(!BATCH_RS.contains("code?: string"));
}
