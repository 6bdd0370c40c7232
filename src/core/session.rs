//! Getting a Salesforce session for a state machine: which cached token is still usable, and the
//! first step towards a new one (a JWT to sign, or the token request itself). Builds on the wire
//! format in `salesforce`; never sends anything and never reads a clock.

use crate::core::config::{Config, TokenGrant};
use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::hash::fnv1a;
use crate::core::http::HttpRequest;
use crate::core::salesforce::{self as sf, AccessToken};
use crate::core::secret::Secret;
use serde_json::{json, Value};

/// A token kept between invocations (module memory, `api.cache`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    /// [`TokenGrant::cache_identity`] + login URL: whose token it is.
    pub identity: String,
    /// The access token.
    pub token: Secret,
    /// The instance the token is valid for.
    pub instance_url: String,
    /// When it was obtained (Unix ms).
    pub obtained_at_ms: u64,
}

/// Whose token a cached one is: the grant (kind and client/user) and the login URL.
pub fn cache_identity(config: &Config) -> String {
    let mut identity = config.grant.cache_identity_with_room(config.login_url.len() + 1);
    identity.push('@');
    identity.push_str(&config.login_url);
    identity
}

/// The token to start with: the configured one (`access_token` grant), or a cached token of the
/// same identity that is younger than `tokenTtlMs` and points at an allowed instance.
pub fn initial_token(config: &Config, cached: Option<CachedToken>, now_ms: u64) -> Option<AccessToken> {
    if let TokenGrant::AccessToken { access_token, instance_url } = &config.grant {
        return Some(AccessToken { token: access_token.clone(), instance_url: instance_url.clone() });
    }
    // The identity is built only when there is a cached token to compare it with.
    cached
        .filter(|c| {
            now_ms.saturating_sub(c.obtained_at_ms) < config.token_ttl_ms && c.identity == cache_identity(config)
        })
        .and_then(|c| {
            let instance_url = sf::check_instance_url(&c.instance_url, config).ok()?;
            Some(AccessToken { token: c.token, instance_url })
        })
}

/// What to do to obtain a new token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenStart {
    /// JWT bearer: sign `input` (RS256) with `key`, then call [`token_request_after_signing`].
    Sign {
        /// The JWT signing input.
        input: String,
        /// The private key (PKCS#8 PEM).
        key: Secret,
    },
    /// Send this token request.
    Send(HttpRequest),
    /// The grant cannot be renewed (a pre-issued access token).
    NotRenewable,
}

/// What to do to obtain a new token for `config` at `now_ms`.
pub fn start_token(config: &Config, now_ms: u64) -> TokenStart {
    if let (Some(input), TokenGrant::JwtBearer { private_key, .. }) =
        (sf::jwt_signing_input(config, now_ms / 1000), &config.grant)
    {
        return TokenStart::Sign { input, key: private_key.clone() };
    }
    match sf::token_request(config, None) {
        Some(request) => TokenStart::Send(request),
        None => TokenStart::NotRenewable,
    }
}

/// The JWT bearer token request once the driver answered a `Sign` step: `signed` is the RS256
/// signature of `signing_input`, or why WebCrypto could not make it. Errors are `CONFIG_INVALID`.
pub fn token_request_after_signing(
    config: &Config,
    signing_input: Option<String>,
    signed: std::result::Result<Vec<u8>, String>,
) -> Result<HttpRequest> {
    let signature = signed.map_err(|why| {
        RuleError::new(ErrorCode::ConfigInvalid, format!("privateKey could not sign the JWT assertion: {why}"))
            .with_field("privateKey")
    })?;
    signing_input
        .and_then(|input| sf::token_request(config, Some(sf::jwt_assertion(&input, &signature))))
        .ok_or_else(|| RuleError::new(ErrorCode::ConfigInvalid, "JWT assertion could not be built"))
}

/// The cache entry for a token just obtained.
pub fn cache_entry(config: &Config, token: &AccessToken, now_ms: u64) -> CachedToken {
    CachedToken {
        identity: cache_identity(config),
        token: token.token.clone(),
        instance_url: token.instance_url.clone(),
        obtained_at_ms: now_ms,
    }
}

/// The key a token of `identity` is kept under in a host's string cache (Auth0's `api.cache`):
/// short, and free of the identity's characters (client id, username, login URL).
pub fn host_cache_key(identity: &str) -> String {
    format!("sf-lead-rule:token:{:016x}", fnv1a(&[identity.as_bytes()]))
}

/// A cached token as the string a host's cache stores: `{"at":…,"t":…,"u":…}`. The token is in
/// it: the host's cache must be as private as its secrets.
pub fn host_cache_value(token: &CachedToken) -> String {
    json!({ "t": token.token.expose(), "u": token.instance_url, "at": token.obtained_at_ms }).to_string()
}

/// Reads back what [`host_cache_value`] wrote, for `identity`; `None` for anything else (an empty
/// value is how a forgotten token reads, as Auth0's cache has no delete).
pub fn read_host_cache_value(identity: &str, text: &str) -> Option<CachedToken> {
    let v: Value = serde_json::from_str(text).ok()?;
    Some(CachedToken {
        identity: identity.to_string(),
        token: Secret::new(v.get("t")?.as_str()?),
        instance_url: v.get("u")?.as_str()?.to_string(),
        obtained_at_ms: v.get("at")?.as_u64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> Config {
        Config::parse(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn cached_token_must_match_identity_age_and_instance() {
        let c = config(json!({"clientId":"cid","clientSecret":"s","loginUrl":"https://acme.my.salesforce.com"}));
        let fresh = cache_entry(
            &c,
            &AccessToken { token: Secret::new("t"), instance_url: "https://acme.my.salesforce.com".into() },
            1_000,
        );
        assert!(initial_token(&c, Some(fresh.clone()), 2_000).is_some());
        assert!(initial_token(&c, Some(fresh.clone()), 1_000 + c.token_ttl_ms).is_none());
        let other = CachedToken { identity: "someone else".into(), ..fresh.clone() };
        assert!(initial_token(&c, Some(other), 2_000).is_none());
        let evil = CachedToken { instance_url: "https://evil.example.net".into(), ..fresh };
        assert!(initial_token(&c, Some(evil), 2_000).is_none());
    }

    #[test]
    fn token_start_per_grant() {
        let c = config(json!({"clientId":"cid","clientSecret":"s"}));
        assert!(
            matches!(start_token(&c, 0), TokenStart::Send(r) if r.body.as_ref().unwrap().masked().contains("client_secret=***"))
        );
        let c = config(json!({"accessToken":"tok","instanceUrl":"https://acme.my.salesforce.com"}));
        assert_eq!(start_token(&c, 0), TokenStart::NotRenewable);
        assert!(initial_token(&c, None, 0).is_some());
    }

    #[test]
    fn host_cache_wire_format_round_trips() {
        let token = CachedToken {
            identity: "cid@https://login.salesforce.com".into(),
            token: Secret::new("00Dx!token"),
            instance_url: "https://acme.my.salesforce.com".into(),
            obtained_at_ms: 1_700_000_000_123,
        };
        let text = host_cache_value(&token);
        assert_eq!(text, r#"{"at":1700000000123,"t":"00Dx!token","u":"https://acme.my.salesforce.com"}"#);
        assert_eq!(read_host_cache_value(&token.identity, &text), Some(token.clone()));
        // The identity is the caller's, not stored: a value read for another identity is theirs.
        assert_eq!(read_host_cache_value("other", &text).map(|t| t.identity), Some("other".into()));
        for bad in
            ["", "null", "{}", r#"{"t":"x","u":"y"}"#, r#"{"t":1,"u":"y","at":1}"#, r#"{"t":"x","u":"y","at":-1}"#]
        {
            assert_eq!(read_host_cache_value(&token.identity, bad), None, "{bad}");
        }
    }

    #[test]
    fn host_cache_key_is_short_and_hides_the_identity() {
        let key = host_cache_key("cid@https://login.salesforce.com");
        assert_eq!(key.len(), "sf-lead-rule:token:".len() + 16);
        assert!(key.starts_with("sf-lead-rule:token:") && !key.contains("cid"), "{key}");
        assert_eq!(host_cache_key(""), "sf-lead-rule:token:cbf29ce484222325");
        assert_eq!(host_cache_key("a"), "sf-lead-rule:token:af63dc4c8601ec8c");
        assert_ne!(host_cache_key("a"), host_cache_key("b"));
    }
}
