//! Checks of single values: URLs as `fetch` reads them, HTTP header values, Salesforce API names
//! and versions.

use super::settings::invalid;
use crate::core::endpoint::{UrlRefusal, WebUrl};
use crate::core::error::{ErrorCode, Result, RuleError};

/// A configured value that goes into an HTTP header: CR/LF would let it add headers of its own,
/// so it is refused when the configuration is read, before anything is sent.
pub(super) fn header_value(key: &str, value: String) -> Result<String> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(RuleError::new(
            ErrorCode::HeaderInvalid,
            format!("{key} must not contain line breaks (it is sent as an HTTP header)"),
        )
        .with_field(key));
    }
    Ok(value)
}

pub(super) fn parse_api_version(v: &str) -> Result<String> {
    let v = v.trim().trim_start_matches(['v', 'V']);
    let major = v.strip_suffix(".0").unwrap_or(v);
    match major.parse::<u32>() {
        Ok(n) if (31..=999).contains(&n) => Ok(format!("{n}.0")),
        _ => Err(invalid("apiVersion", "must look like 66.0 (31.0 or newer)")),
    }
}

/// A Salesforce API name: letters, digits, underscores, starting with a letter.
pub fn is_api_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 80
}

/// A URL setting, read as `fetch` reads it ([`WebUrl`]): https anywhere, plain http only to
/// loopback, no `user:pass@`. Gives the URL's serialisation, which is what is sent; for a `base`
/// (paths are appended to it: `loginUrl`, `instanceUrl`) without trailing `/` and with no query or
/// fragment. Messages never quote the URL: a Slack webhook URL is a credential.
pub fn check_url(key: &str, url: &str, base: bool) -> Result<String> {
    let parsed = checked_url(key, url)?;
    if base {
        parsed.base().map_err(|why| url_refused(key, why))
    } else {
        Ok(parsed.as_str().to_string())
    }
}

/// `url` as `fetch` reads it, if the crate may send to it: https, or plain http to loopback.
pub(super) fn checked_url(key: &str, url: &str) -> Result<WebUrl> {
    let parsed = WebUrl::parse(url).map_err(|why| url_refused(key, why))?;
    if !parsed.is_https() && !parsed.is_loopback() {
        return Err(RuleError::new(
            ErrorCode::InsecureUrl,
            format!("{key} must use https (plain http is accepted only for localhost, 127.0.0.1 and [::1])"),
        )
        .with_field(key));
    }
    Ok(parsed)
}

pub(super) fn url_refused(key: &str, why: UrlRefusal) -> RuleError {
    RuleError::new(ErrorCode::ConfigInvalid, format!("{key} {}", why.reason())).with_field(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::Config;
    use serde_json::{json, Map, Value};

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn header_values_with_line_breaks_are_refused_before_anything_is_sent() {
        let e = Config::parse(&obj(json!({"clientId":"id","clientSecret":"s","autoAssign":"TRUE\r\nX-Evil: 1"})))
            .unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::HeaderInvalid, Some("autoAssign")));
        let e = Config::parse(&obj(
            json!({"accessToken":"00D!tok\nX-Evil: 1","instanceUrl":"https://a.my.salesforce.com"}),
        ))
        .unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::HeaderInvalid, Some("accessToken")));
        assert!(!e.message.contains("tok"));
        let c = Config::parse(&obj(json!({"clientId":"id","clientSecret":"s","autoAssign":" 01Q000000000001 \n"})))
            .unwrap();
        assert_eq!(c.auto_assign.as_deref(), Some("01Q000000000001"));
    }

    #[test]
    fn url_settings_are_kept_as_fetch_reads_them() {
        let check = |u: &str| check_url("loginUrl", u, true).map_err(|e| (e.code, e.message.clone()));
        assert_eq!(check("https://Acme.My.Salesforce.com/"), Ok("https://acme.my.salesforce.com".into()));
        assert_eq!(check("HTTP://127.0.0.1:4000"), Ok("http://127.0.0.1:4000".into()));
        assert_eq!(check("http://[::1]:8080/p/"), Ok("http://[::1]:8080/p".into()));
        assert_eq!(check("http://localhost:3000"), Ok("http://localhost:3000".into()));
        // The host fetch would contact is evil.example: it is not loopback, so http is refused,
        // and with https the stored URL says evil.example for every later check.
        assert_eq!(
            check("https://evil.example\\.my.salesforce.com"),
            Ok("https://evil.example/.my.salesforce.com".into())
        );
        let insecure = |u: &str| check(u).map_err(|(code, _)| code);
        for u in
            ["http://127.attacker.example", "http://localhost.evil.example", "http://127.0.0.2", "http://h.example"]
        {
            assert_eq!(insecure(u), Err(ErrorCode::InsecureUrl), "{u}");
        }
        assert_eq!(
            check("http://127.0.0.2"),
            Err((
                ErrorCode::InsecureUrl,
                "loginUrl must use https (plain http is accepted only for localhost, 127.0.0.1 and [::1])".into()
            ))
        );
        for (u, message) in [
            (
                "https://acme.my.salesforce.com@evil.example",
                "loginUrl must not contain a user name or password (user:pass@ before the host)",
            ),
            ("https://a\tb.example", "loginUrl must not contain spaces, tabs, line breaks or other control characters"),
            (
                "https://acme．my.salesforce.com",
                "loginUrl must have a host name of ASCII letters, digits, '-' and '.' (an international domain name in its xn-- form)",
            ),
            ("https://acme.my.salesforce.com?x=1", "loginUrl must not have a ?query or #fragment"),
            ("ftp://h", "loginUrl is not an absolute http(s) URL"),
            ("https://", "loginUrl is not an absolute http(s) URL"),
        ] {
            assert_eq!(check(u), Err((ErrorCode::ConfigInvalid, message.into())), "{u}");
        }
        // Not a base: the query stays, and the text is the serialisation.
        assert_eq!(
            check_url("slackWebhookUrl", "https://hooks.slack.com/services/T/B/X?a=1", false),
            Ok("https://hooks.slack.com/services/T/B/X?a=1".into())
        );
    }

    #[test]
    fn slack_webhook_urls_are_never_echoed() {
        for u in [
            "http://hooks.slack.com/services/SECRET",
            "https://SECRET@hooks.slack.com/services/T/B/X",
            "https://hooks.slack.com/services/SECRET\tX",
            "https://hooks．slack.com/services/SECRET",
        ] {
            let e = Config::parse(&obj(json!({"clientId":"id","clientSecret":"s","slackWebhookUrl": u}))).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("slackWebhookUrl"));
            assert!(!e.message.contains("SECRET"), "{}", e.message);
        }
        let c = Config::parse(&obj(
            json!({"clientId":"id","clientSecret":"s","slackWebhookUrl":"https://Hooks.Slack.com/services/T/B/X"}),
        ))
        .unwrap();
        assert_eq!(
            c.slack_webhook_url.map(|s| s.expose().to_string()),
            Some("https://hooks.slack.com/services/T/B/X".into())
        );
    }

    #[test]
    fn loopback_http_is_allowed() {
        let c = Config::parse(&obj(json!({"clientId":"id","clientSecret":"s","loginUrl":"http://127.0.0.1:4000"})))
            .unwrap();
        assert_eq!(c.login_url, "http://127.0.0.1:4000");
        assert_eq!(parse_api_version("v62.0").unwrap(), "62.0");
    }
}
