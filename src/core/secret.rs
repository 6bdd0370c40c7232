//! `Secret`: a string that can only be read on purpose. Its `Debug`, `Display` and `Serialize`
//! print `***`, so a token, password or key cannot leak into a log, an error or a plan by accident.

use crate::core::encoding;
use serde::{Serialize, Serializer};
use std::fmt;

/// The text every masked secret is shown as.
pub const MASK: &str = "***";

/// A credential or other confidential value (client secret, password, token, private key,
/// Slack webhook URL). Read it only where it is sent, with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The real value. Call only when building the bytes that go on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

/// Replace every occurrence of each non-trivial secret in `text` with `***`.
/// A last line of defence for text that came from outside (a remote error body that echoes a
/// credential back); values we build ourselves never contain secrets in the first place.
pub fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        // Very short values would mask ordinary words; they are not credentials worth the noise.
        if s.0.len() < 4 {
            continue;
        }
        // An echo may quote the value as it was sent: raw, form-encoded (token requests) or
        // percent-encoded (URLs).
        for form in [s.0.clone(), encoding::form_encode(&s.0), encoding::percent_encode(&s.0)] {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), MASK);
            }
        }
        // A secret URL (a Slack webhook) is a credential because of its last path segment: an
        // answer that echoes only the path must not give that part away either.
        if let Some(token) = url_token(&s.0) {
            if out.contains(token) {
                out = out.replace(token, MASK);
            }
        }
        // A PEM key is secret for its base64 body, whole or line by line.
        for part in pem_body(&s.0) {
            if out.contains(part.as_str()) {
                out = out.replace(part.as_str(), MASK);
            }
        }
    }
    out
}

/// The base64 of a PEM block: joined, then each line long enough to be key material.
fn pem_body(s: &str) -> Vec<String> {
    if !s.contains("-----BEGIN") {
        return Vec::new();
    }
    let flat = s.replace("\\n", "\n");
    let lines: Vec<&str> = flat.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("-----")).collect();
    let mut parts = vec![lines.concat()];
    parts.extend(lines.iter().map(|l| l.to_string()));
    parts.retain(|p| p.len() >= 16);
    parts
}

/// The last path segment of a URL, when it is long enough to be a token (Slack's are 24).
fn url_token(s: &str) -> Option<&str> {
    let (_, rest) = s.split_once("://")?;
    let path = rest.split(['?', '#']).next()?;
    let (_, last) = path.trim_end_matches('/').rsplit_once('/')?;
    (last.len() >= 8).then_some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2-secret");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "hunter2-secret");
        // Inside anything serialised or debug-printed, too.
        let nested = (Some(s.clone()), vec![s.clone()]);
        assert_eq!(serde_json::json!({ "k": nested }).to_string(), r#"{"k":["***",["***"]]}"#);
        assert_eq!(format!("{nested:?}"), "(Some(***), [***])");
        assert_eq!(Secret::default().to_string(), "***");
    }

    #[test]
    fn scrub_masks_echoed_secrets() {
        let s = Secret::new("tok-123456");
        assert_eq!(scrub("bad token tok-123456 given", &[&s]), "bad token *** given");
        assert_eq!(scrub("abc", &[&Secret::new("ab")]), "abc");
        let pw = Secret::new("p@ss w0rd&more!");
        assert_eq!(scrub("password=p%40ss+w0rd%26more%21&x=1", &[&pw]), "password=***&x=1");
        assert_eq!(scrub("/p%40ss%20w0rd%26more%21", &[&pw]), "/***");
        let key = Secret::new("-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0B\\nAQEFAASCBKcwggSjAgEAAoIB\\n-----END PRIVATE KEY-----");
        assert_eq!(scrub("bad key MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIB", &[&key]), "bad key ***");
        assert_eq!(scrub("line AQEFAASCBKcwggSjAgEAAoIB", &[&key]), "line ***");
        let hook = Secret::new("https://hooks.slack.com/services/T000/B000/XyZ123secretToken");
        assert_eq!(
            scrub("no_service /services/T000/B000/XyZ123secretToken", &[&hook]),
            "no_service /services/T000/B000/***"
        );
        assert_eq!(scrub("https://hooks.slack.com/services/T000/B000/XyZ123secretToken", &[&hook]), "***");
        assert_eq!(scrub("short tok", &[&Secret::new("https://x.example.com/a/tok")]), "short tok");
    }
}
