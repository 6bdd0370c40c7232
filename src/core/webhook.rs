//! The pure half of webhook verification: Svix signatures (how Clerk signs its webhooks) and
//! Okta's one-time endpoint verification. The HMAC itself is computed by the driver (WebCrypto);
//! this module never reads a clock (time is a parameter) and never puts a secret in an error.

use crate::core::encoding::decode_base64;
use crate::core::error::{ErrorCode, Result, RuleError};
use serde_json::{json, Value};

pub mod respond;
pub use respond::{respond, WebhookResponse};

/// How far (seconds, either way) `svix-timestamp` may be from now, as in Svix's own libraries.
pub const SVIX_TOLERANCE_SECS: u64 = 5 * 60;

/// Longest `x-okta-verification-challenge` echoed back, in bytes.
pub const OKTA_CHALLENGE_MAX_BYTES: usize = 1024;

/// The configuration key that holds Clerk's `whsec_…` signing secret.
pub const CLERK_SECRET_FIELD: &str = "CLERK_WEBHOOK_SECRET";

/// The three Svix headers of one delivery, borrowed from the request's header object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvixHeaders<'a> {
    /// `svix-id`: unique per message; also the natural de-duplication key.
    pub id: &'a str,
    /// `svix-timestamp`: Unix seconds, as a decimal string.
    pub timestamp: &'a str,
    /// `svix-signature`: space-separated `v1,<base64>` entries.
    pub signature: &'a str,
}

/// Picks the Svix headers out of a JSON object of request headers. Names are matched without
/// regard to case; a value may be a string or an array of strings (Node's `IncomingHttpHeaders`);
/// the Standard Webhooks names (`webhook-id`, …) are accepted as well.
pub fn svix_headers(headers: &Value) -> Result<SvixHeaders<'_>> {
    let pick = |name: &str, alias: &str| {
        header(headers, name).or_else(|| header(headers, alias)).ok_or_else(|| {
            signature_invalid(format!("missing {name} header: is this request really from Clerk (Svix)?"))
        })
    };
    Ok(SvixHeaders {
        id: pick("svix-id", "webhook-id")?,
        timestamp: pick("svix-timestamp", "webhook-timestamp")?,
        signature: pick("svix-signature", "webhook-signature")?,
    })
}

/// The exact string Svix signs: `{svix-id}.{svix-timestamp}.{raw body}`. The body must be the raw
/// request text, not a re-serialised copy of the parsed JSON.
pub fn svix_signed_content(id: &str, timestamp: &str, body: &str) -> String {
    let mut content = String::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.push_str(id);
    content.push('.');
    content.push_str(timestamp);
    content.push('.');
    content.push_str(body);
    content
}

/// The HMAC key inside a Svix signing secret: the base64 after `whsec_` (the prefix is optional,
/// surrounding whitespace is ignored). A malformed secret is a configuration error on
/// `CLERK_WEBHOOK_SECRET`; the message never repeats the secret.
pub fn svix_secret_key(secret: &str) -> Result<Vec<u8>> {
    let trimmed = secret.trim();
    let encoded = trimmed.strip_prefix("whsec_").unwrap_or(trimmed);
    if encoded.is_empty() {
        return Err(secret_invalid("is empty"));
    }
    match decode_base64(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        Ok(_) => Err(secret_invalid("is empty")),
        Err(err) => Err(secret_invalid(&format!("is not valid base64 after `whsec_` ({})", base64_problem(&err)))),
    }
}

/// Why base64 was refused, in words that never repeat the input's bytes (it is a secret).
fn base64_problem(err: &base64::DecodeError) -> String {
    match err {
        base64::DecodeError::InvalidByte(offset, b'=') => format!("misplaced `=` at offset {offset}"),
        base64::DecodeError::InvalidByte(offset, _) => {
            format!("a character outside the base64 alphabet at offset {offset}")
        }
        base64::DecodeError::InvalidLength(_) => "invalid base64 length".into(),
        base64::DecodeError::InvalidLastSymbol(..) => "non-canonical base64 (trailing bits set)".into(),
        base64::DecodeError::InvalidPadding => "invalid base64 padding".into(),
    }
}

/// Checks one Svix delivery, given the HMAC-SHA256 the caller computed over
/// [`svix_signed_content`] with [`svix_secret_key`]. Accepts when the timestamp is within
/// [`SVIX_TOLERANCE_SECS`] of `now_secs` and any `v1` entry of `headers_signature` equals
/// `expected_mac` (compared in constant time). Other signature versions are ignored.
pub fn svix_verify(headers_signature: &str, timestamp: &str, now_secs: u64, expected_mac: &[u8]) -> Result<()> {
    let signature = headers_signature.trim();
    if signature.is_empty() {
        return Err(signature_invalid("missing svix-signature header".into()));
    }
    let timestamp = timestamp.trim();
    if timestamp.is_empty() {
        return Err(signature_invalid("missing svix-timestamp header".into()));
    }
    let sent = parse_unix_seconds(timestamp)
        .ok_or_else(|| signature_invalid(format!("svix-timestamp `{}` is not Unix seconds", clip(timestamp, 32))))?;
    if sent.saturating_add(SVIX_TOLERANCE_SECS) < now_secs {
        return Err(signature_invalid(format!(
            "svix-timestamp is {}s old (more than {SVIX_TOLERANCE_SECS}s): a replayed or long-delayed message",
            now_secs - sent
        )));
    }
    if sent > now_secs.saturating_add(SVIX_TOLERANCE_SECS) {
        return Err(signature_invalid(format!(
            "svix-timestamp is {}s in the future (more than {SVIX_TOLERANCE_SECS}s): check the clock",
            sent - now_secs
        )));
    }
    if expected_mac.is_empty() {
        // An empty MAC would "match" an empty `v1,` entry: never accept that.
        return Err(signature_invalid("no expected signature was computed".into()));
    }

    let mut saw_v1 = false;
    for entry in signature.split_ascii_whitespace() {
        let Some(("v1", encoded)) = entry.split_once(',') else { continue };
        saw_v1 = true;
        if let Ok(candidate) = decode_base64(encoded) {
            if constant_time_eq(&candidate, expected_mac) {
                return Ok(());
            }
        }
    }
    Err(signature_invalid(if saw_v1 {
        "no v1 signature matches the body: wrong CLERK_WEBHOOK_SECRET, or the body was re-serialised before verification".into()
    } else {
        "svix-signature carries no v1 signature".into()
    }))
}

/// The challenge of Okta's one-time event hook verification request (a GET whose
/// `x-okta-verification-challenge` header must be echoed back), when `event` is one. `event` is
/// the JSON form of the request: `{ "headers": { … } }`.
pub fn okta_verification_challenge(event: &Value) -> Option<&str> {
    header(event.get("headers")?, "x-okta-verification-challenge")
}

/// The body Okta expects back from its verification request: `{"verification": challenge}`.
/// Refuses an empty challenge, one over [`OKTA_CHALLENGE_MAX_BYTES`], or one with control
/// characters (`PROFILE_INVALID`): nothing else is echoed back to the caller.
pub fn okta_verification_response(challenge: &str) -> Result<Value> {
    let refuse = |why: &str| RuleError::new(ErrorCode::ProfileInvalid, format!("x-okta-verification-challenge {why}"));
    if challenge.is_empty() {
        return Err(refuse("is missing or empty"));
    }
    if challenge.len() > OKTA_CHALLENGE_MAX_BYTES {
        return Err(refuse(&format!("is longer than {OKTA_CHALLENGE_MAX_BYTES} bytes")));
    }
    if challenge.chars().any(char::is_control) {
        return Err(refuse("contains control characters"));
    }
    Ok(json!({ "verification": challenge }))
}

/// A header as given in a JSON header object (case-insensitive name; a string, or the first string
/// of an array), empty included.
pub(crate) fn header_given<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    let (_, value) = headers.as_object()?.iter().find(|(key, _)| key.eq_ignore_ascii_case(name))?;
    match value {
        Value::String(s) => Some(s),
        Value::Array(items) => items.iter().find_map(Value::as_str),
        _ => None,
    }
}

/// [`header_given`], when not empty.
fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    header_given(headers, name).filter(|text| !text.is_empty())
}

fn parse_unix_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Equal-length inputs are compared without an early exit, so timing does not tell how many
/// leading bytes of a forged signature were right. (The length of a MAC is no secret.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

fn signature_invalid(message: String) -> RuleError {
    RuleError::new(ErrorCode::SignatureInvalid, message)
}

fn secret_invalid(why: &str) -> RuleError {
    RuleError::new(
        ErrorCode::ConfigInvalid,
        format!(
            "{CLERK_SECRET_FIELD} {why}: expected `whsec_` followed by base64, as shown under Webhooks → your endpoint → Signing Secret in the Clerk Dashboard"
        ),
    )
    .with_field(CLERK_SECRET_FIELD)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    /// HMAC-SHA256 from the `hmac` and `sha2` crates, for tests only: the real HMAC runs in WebCrypto.
    fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    #[test]
    fn test_hmac_matches_published_vectors() {
        // RFC 4231 test cases 2 and 6 (key longer than a block).
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    struct Delivery {
        body: String,
        headers: Value,
        secret: String,
    }

    fn clerk_delivery() -> Delivery {
        let headers: Value = serde_json::from_str::<Value>(&fixture("clerk-user-created.headers.json"))
            .expect("headers fixture is JSON");
        let secret = headers["_secret"].as_str().expect("_secret in headers fixture").to_owned();
        Delivery { body: fixture("clerk-user-created.json"), headers, secret }
    }

    fn verify(delivery: &Delivery, body: &str, now: Option<u64>) -> Result<()> {
        let h = svix_headers(&delivery.headers)?;
        let key = svix_secret_key(&delivery.secret)?;
        let mac = hmac_sha256(&key, svix_signed_content(h.id, h.timestamp, body).as_bytes());
        let now = now.unwrap_or_else(|| h.timestamp.parse::<u64>().expect("numeric timestamp") + 30);
        svix_verify(h.signature, h.timestamp, now, &mac)
    }

    #[test]
    fn clerk_fixture_verifies_with_its_headers() {
        let delivery = clerk_delivery();
        assert!(
            delivery.body.ends_with("}\n") && !delivery.body.ends_with("\n\n"),
            "fixture must end with exactly one LF"
        );
        verify(&delivery, &delivery.body, None)
            .expect("clerk-user-created.json no longer matches its signature: were its bytes changed? re-sign it (tests/fixtures/README.md)");
    }

    #[test]
    fn clerk_fixture_with_one_byte_changed_fails() {
        let delivery = clerk_delivery();
        let tampered = delivery.body.replacen("Brooks", "Brookz", 1);
        assert_ne!(tampered, delivery.body);
        let err = verify(&delivery, &tampered, None).unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureInvalid);
        assert!(err.message.contains("no v1 signature matches"), "{}", err.message);
        // Trailing newline dropped: also a different body.
        let trimmed = delivery.body.trim_end();
        assert_eq!(verify(&delivery, trimmed, None).unwrap_err().code, ErrorCode::SignatureInvalid);
    }

    #[test]
    fn clerk_fixture_with_wrong_secret_fails() {
        let mut delivery = clerk_delivery();
        delivery.secret = format!("whsec_{}", BASE64.encode(b"some other secret key material!!"));
        assert_eq!(verify(&delivery, &delivery.body.clone(), None).unwrap_err().code, ErrorCode::SignatureInvalid);
    }

    #[test]
    fn timestamp_window_is_five_minutes_either_way() {
        let delivery = clerk_delivery();
        let ts: u64 = delivery.headers["svix-timestamp"].as_str().and_then(|t| t.parse().ok()).expect("timestamp");
        assert!(verify(&delivery, &delivery.body, Some(ts + 300)).is_ok());
        assert!(verify(&delivery, &delivery.body, Some(ts - 300)).is_ok());
        let old = verify(&delivery, &delivery.body, Some(ts + 301)).unwrap_err();
        assert!(old.message.contains("301s old"), "{}", old.message);
        let new = verify(&delivery, &delivery.body, Some(ts - 301)).unwrap_err();
        assert!(new.message.contains("in the future"), "{}", new.message);
        assert!(svix_verify("v1,AAAA", "1", u64::MAX, &[0; 32]).unwrap_err().message.contains("old"));
        assert!(svix_verify("v1,AAAA", "9999999999", 0, &[0; 32]).unwrap_err().message.contains("future"));
    }

    #[test]
    fn signature_header_parsing() {
        let mac = hmac_sha256(b"key", b"content");
        let good = format!("v1,{}", BASE64.encode(mac));
        let other = format!("v1,{}", BASE64.encode(hmac_sha256(b"old key", b"content")));
        // Several signatures (secret rotation), other versions ignored, extra spaces tolerated.
        for header in [
            good.clone(),
            format!("{other} {good}"),
            format!("v1a,{} {good}", BASE64.encode(mac)),
            format!("  v2,zzz   {good}  "),
            format!("v1,not-base64!! {good}"),
        ] {
            assert_eq!(svix_verify(&header, "1000", 1000, &mac), Ok(()), "{header}");
        }
        let msg = |h: &str, ts: &str, mac: &[u8]| svix_verify(h, ts, 1000, mac).unwrap_err().into_details().message;
        assert!(msg("", "1000", &mac).contains("missing svix-signature"));
        assert!(msg(&good, " ", &mac).contains("missing svix-timestamp"));
        assert!(msg(&good, "-5", &mac).contains("not Unix seconds"));
        assert!(msg(&good, "1e3", &mac).contains("not Unix seconds"));
        assert!(msg(&good, "99999999999999999999", &mac).contains("not Unix seconds"));
        assert!(msg(&other, "1000", &mac).contains("no v1 signature matches"));
        assert!(msg(&format!("v2,{}", BASE64.encode(mac)), "1000", &mac).contains("no v1 signature"));
        assert!(msg(&format!("v1{}", BASE64.encode(mac)), "1000", &mac).contains("no v1 signature"));
        // A truncated signature is not a prefix match.
        assert!(msg(&format!("v1,{}", BASE64.encode(&mac[..31])), "1000", &mac).contains("matches"));
        // An empty expected MAC never matches an empty signature.
        assert!(msg("v1,", "1000", &[]).contains("no expected signature"));
        let long_ts = "x".repeat(100);
        assert!(msg(&good, &long_ts, &mac).len() < 120);
    }

    #[test]
    fn secret_parsing() {
        assert_eq!(svix_secret_key("whsec_aGVsbG8="), Ok(b"hello".to_vec()));
        assert_eq!(svix_secret_key(" aGVsbG8=\n"), Ok(b"hello".to_vec()));
        for bad in ["", "whsec_", "whsec_!!!!", "whsec_aGVsbG8=x", "whsec_ aGVsbG8="] {
            let err = svix_secret_key(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::ConfigInvalid, "{bad:?}");
            assert_eq!(err.field.as_deref(), Some(CLERK_SECRET_FIELD));
        }
        let err = svix_secret_key("whsec_c2VjcmV0IXNlY3JldA=!").unwrap_err();
        assert!(!err.message.contains("c2VjcmV0"), "secret leaked: {}", err.message);
        assert!(err.message.contains("(misplaced `=` at offset 18)"), "{}", err.message);
        let err = svix_secret_key("whsec_c2Vj~mV0").unwrap_err();
        assert!(err.message.contains("(a character outside the base64 alphabet at offset 4)"), "{}", err.message);
        assert!(!err.message.contains('~') && !err.message.contains("126"), "{}", err.message);
        assert!(svix_secret_key("whsec_Zh==").unwrap_err().message.contains("(non-canonical base64"));
        assert!(svix_secret_key("whsec_Zm9vY").unwrap_err().message.contains("(invalid base64 length)"));
        assert!(svix_secret_key("whsec_Zg=").unwrap_err().message.contains("(invalid base64 padding)"));
    }

    #[test]
    fn svix_headers_lookup() {
        let h = json!({"Svix-Id": ["msg_1"], "SVIX-TIMESTAMP": "5", "svix-signature": "v1,x"});
        assert_eq!(svix_headers(&h), Ok(SvixHeaders { id: "msg_1", timestamp: "5", signature: "v1,x" }));
        let standard = json!({"webhook-id": "msg_2", "webhook-timestamp": "6", "webhook-signature": "v1,y"});
        assert_eq!(svix_headers(&standard).map(|h| h.id), Ok("msg_2"));
        for missing in [json!({}), json!({"svix-id": "a", "svix-timestamp": "1"}), json!(null), json!({"svix-id": 5})] {
            let err = svix_headers(&missing).unwrap_err();
            assert_eq!(err.code, ErrorCode::SignatureInvalid);
            assert!(err.message.starts_with("missing svix-"), "{}", err.message);
        }
    }

    #[test]
    fn okta_verification() {
        let request: Value = serde_json::from_str::<Value>(&fixture("okta-verification-request.json")).expect("JSON");
        let challenge = okta_verification_challenge(&request).expect("fixture carries a challenge");
        assert_eq!(okta_verification_response(challenge), Ok(json!({ "verification": challenge })));
        assert_eq!(
            okta_verification_challenge(&json!({"headers": {"X-Okta-Verification-Challenge": ["c"]}})),
            Some("c")
        );
        assert_eq!(okta_verification_challenge(&json!({"data": {}})), None);
        assert_eq!(okta_verification_challenge(&json!([1])), None);

        let max = "a".repeat(OKTA_CHALLENGE_MAX_BYTES);
        assert!(okta_verification_response(&max).is_ok());
        for bad in [String::new(), format!("{max}a"), "abc\r\nSet-Cookie: x".to_owned(), "a\u{0}".to_owned()] {
            assert_eq!(okta_verification_response(&bad).unwrap_err().code, ErrorCode::ProfileInvalid);
        }
    }

    #[test]
    fn constant_time_eq_basics() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
