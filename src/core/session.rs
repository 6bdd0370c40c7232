//! Getting a Salesforce session for a state machine: which cached token is still usable, and the
//! first step towards a new one (a JWT to sign, or the token request itself). Builds on the wire
//! format in `salesforce`; never sends anything and never reads a clock.

use crate::core::config::{Config, TokenGrant};
use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::http::HttpRequest;
use crate::core::salesforce::{self as sf, AccessToken};
use crate::core::secret::Secret;

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
}
