//! Getting a Salesforce session for a state machine: which cached token is still usable, the
//! first step towards a new one (a JWT to sign, or the token request itself), and the
//! [`TokenSession`] sub-machine the login flow and the backfill both hold (cached token, fetching
//! one, one renewal on an expired session, what the driver does with its cache). Builds on the
//! wire format in `salesforce`; never sends anything and never reads a clock.

use crate::core::config::{Config, TokenGrant};
use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::hash::fnv1a;
use crate::core::http::{HttpRequest, HttpResponse};
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

/// Whose token a cached one is: the grant (kind and client/user), the login URL and, after `#`,
/// [`secret_digest`] of the grant's secrets, so a config with a wrong secret never takes the
/// token another config's right one got. Holds no secret.
pub fn cache_identity(config: &Config) -> String {
    let mut identity = config.grant.cache_identity_with_room(config.login_url.len() + 2 + 2 * DIGEST_BYTES);
    identity.push('@');
    identity.push_str(&config.login_url);
    identity.push('#');
    for b in secret_digest(&config.grant) {
        identity.push(char::from(HEX[usize::from(b >> 4)]));
        identity.push(char::from(HEX[usize::from(b & 15)]));
    }
    identity
}

/// Bytes of the SHA-256 kept in [`cache_identity`]: 128 bits tell credentials apart.
const DIGEST_BYTES: usize = 16;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// SHA-256 (first [`DIGEST_BYTES`]) of every secret of `grant`, each length-prefixed so no two
/// sets of secrets read the same. A one-way digest: the key may be stored by a host (Auth0's
/// `api.cache` keeps keys), the secrets must not be.
pub fn secret_digest(grant: &TokenGrant) -> [u8; DIGEST_BYTES] {
    use sha2::{Digest, Sha256};
    let secrets: [Option<&Secret>; 2] = match grant {
        TokenGrant::Password { client_secret, password, .. } => [Some(client_secret), Some(password)],
        TokenGrant::ClientCredentials { client_secret, .. } => [Some(client_secret), None],
        TokenGrant::JwtBearer { private_key, .. } => [Some(private_key), None],
        TokenGrant::RefreshToken { client_secret, refresh_token, .. } => [client_secret.as_ref(), Some(refresh_token)],
        TokenGrant::AccessToken { access_token, .. } => [Some(access_token), None],
    };
    let mut hash = Sha256::new();
    hash.update(b"sf-lead-rule token cache v1");
    for secret in secrets {
        let bytes = secret.map_or(&[][..], |s| s.expose().as_bytes());
        // u64: the same prefix on every target (usize is 4 bytes in wasm32).
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    }
    let full = hash.finalize();
    let mut out = [0; DIGEST_BYTES];
    out.copy_from_slice(&full[..DIGEST_BYTES]);
    out
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

/// What the driver should do with its token cache once a machine is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenUpdate {
    /// Keep what the cache holds.
    Unchanged,
    /// Keep this token.
    Store(CachedToken),
    /// Drop the cached token (refused).
    Forget,
}

/// The Salesforce session of one state machine (a login, a backfill run): the token in hand,
/// where it came from, the tokens it no longer holds (still secrets to mask), the JWT being
/// signed, whether the current call already renewed its session, the call to resume once a new
/// token is in (`C`, the machine's own name for a call), and the update for the driver's cache.
#[derive(Debug, Clone)]
pub struct TokenSession<C> {
    token: Option<AccessToken>,
    source: &'static str,
    dropped: Vec<Secret>,
    update: TokenUpdate,
    renewed: bool,
    signing_input: Option<String>,
    resume: Option<C>,
}

impl<C> TokenSession<C> {
    /// Start with the token [`initial_token`] allows, if any.
    pub fn new(config: &Config, cached: Option<CachedToken>, now_ms: u64) -> Self {
        let token = initial_token(config, cached, now_ms);
        let source = match (&config.grant, &token) {
            (_, None) => "none",
            (TokenGrant::AccessToken { .. }, _) => "config",
            _ => "cached",
        };
        TokenSession {
            token,
            source,
            dropped: Vec::new(),
            update: TokenUpdate::Unchanged,
            renewed: false,
            signing_input: None,
            resume: None,
        }
    }

    /// The token in hand.
    pub fn token(&self) -> Option<&AccessToken> {
        self.token.as_ref()
    }

    /// `none`, `config`, `cached` or `new`: where the token in hand came from.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// What the driver should do with its token cache.
    pub fn update(&self) -> &TokenUpdate {
        &self.update
    }

    /// Every access token seen, the one in hand last: all are masked in text from outside.
    pub fn tokens(&self) -> impl Iterator<Item = &Secret> {
        self.dropped.iter().chain(self.token.as_ref().map(|t| &t.token))
    }

    /// The first step towards a new token ([`start_token`]); a JWT to sign is remembered for
    /// [`TokenSession::request_after_signing`].
    pub fn request(&mut self, config: &Config, now_ms: u64) -> TokenStart {
        let start = start_token(config, now_ms);
        if let TokenStart::Sign { input, .. } = &start {
            self.signing_input = Some(input.clone());
        }
        start
    }

    /// The token request once the driver signed the JWT ([`token_request_after_signing`]).
    pub fn request_after_signing(
        &mut self,
        config: &Config,
        signed: std::result::Result<Vec<u8>, String>,
    ) -> Result<HttpRequest> {
        token_request_after_signing(config, self.signing_input.take(), signed)
    }

    /// Read the token answer. A refused answer that still offers a token has it remembered, to
    /// be masked. The token is not taken yet: see [`TokenSession::accept`].
    pub fn read_answer(&mut self, resp: &HttpResponse, config: &Config) -> Result<AccessToken> {
        sf::parse_token_response(resp, config).inspect_err(|_| self.dropped.extend(sf::offered_token(resp)))
    }

    /// Take a new token (the driver caches it); hands back the call its renewal interrupted.
    pub fn accept(&mut self, config: &Config, token: AccessToken, now_ms: u64) -> Option<C> {
        self.update = TokenUpdate::Store(cache_entry(config, &token, now_ms));
        if let Some(old) = self.token.replace(token) {
            self.dropped.push(old.token);
        }
        self.source = "new";
        self.resume.take()
    }

    /// `call` waits for a token: [`TokenSession::accept`] hands it back.
    pub fn suspend(&mut self, call: C) {
        self.resume = Some(call);
    }

    /// A new call: it may renew the session once more.
    pub fn new_call(&mut self) {
        self.renewed = false;
    }

    /// Salesforce answered `call` with 401 INVALID_SESSION_ID. `Ok`: the token is dropped (and
    /// the cache told to forget it); get a new one, which resumes `call`. `Err`: give up, as the
    /// call already renewed once or the grant cannot renew (the error is `SESSION_EXPIRED`).
    pub fn session_invalid(&mut self, config: &Config, call: C) -> Result<()> {
        let renewable = !matches!(config.grant, TokenGrant::AccessToken { .. });
        if self.renewed || !renewable {
            if renewable {
                // The token just obtained was refused too: do not keep it for the next run.
                self.update = TokenUpdate::Forget;
            }
            return Err(RuleError::new(
                ErrorCode::SessionExpired,
                "Salesforce rejected the session (INVALID_SESSION_ID) even after getting a new token",
            )
            .with_remote("INVALID_SESSION_ID", 401));
        }
        self.renewed = true;
        self.resume = Some(call);
        if let Some(old) = self.token.take() {
            self.dropped.push(old.token);
        }
        self.update = TokenUpdate::Forget;
        Ok(())
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
    fn the_cache_key_tells_secrets_apart_without_holding_them() {
        let id = |v: serde_json::Value| cache_identity(&config(v));
        let right = id(json!({"clientId":"cid","clientSecret":"right-secret"}));
        let (base, digest) = right.split_once('#').unwrap();
        assert_eq!(base, "client_credentials:cid@https://login.salesforce.com");
        // SHA-256("sf-lead-rule token cache v1" ‖ len ‖ "right-secret" ‖ len ‖ ""), first 16 bytes.
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut h, b"sf-lead-rule token cache v1");
        for part in [&b"right-secret"[..], b""] {
            sha2::Digest::update(&mut h, (part.len() as u64).to_le_bytes());
            sha2::Digest::update(&mut h, part);
        }
        let expected: String = sha2::Digest::finalize(h)[..16].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest, expected);
        assert!(!right.contains("right-secret"));
        assert_ne!(right, id(json!({"clientId":"cid","clientSecret":"wrong-secret"})));
        assert_eq!(right, id(json!({"clientId":"cid","clientSecret":"right-secret"})), "stable");
        let pw = |p: &str| id(json!({"clientId":"c","clientSecret":"s","username":"u","password":p}));
        assert_ne!(pw("p1"), pw("p2"));
        // Length prefixes: moving a byte from one secret to the next is another key.
        let refresh = |s: &str, r: &str| id(json!({"clientId":"c","clientSecret":s,"refreshToken":r}));
        assert_ne!(refresh("ab", "c"), refresh("a", "bc"));

        // A token cached by the right secret is not handed to a config with a wrong one.
        let good = config(json!({"clientId":"cid","clientSecret":"right-secret"}));
        let bad = config(json!({"clientId":"cid","clientSecret":"wrong-secret"}));
        let token = AccessToken { token: Secret::new("t"), instance_url: "https://login.salesforce.com".into() };
        let cached = cache_entry(&good, &token, 1_000);
        assert!(initial_token(&good, Some(cached.clone()), 2_000).is_some());
        assert_eq!(initial_token(&bad, Some(cached), 2_000), None);
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
    fn a_session_renews_once_per_call_and_resumes_it() {
        let c = config(json!({"clientId":"cid","clientSecret":"s"}));
        let mut s: TokenSession<&str> = TokenSession::new(&c, None, 0);
        assert_eq!((s.token(), s.source(), s.update()), (None, "none", &TokenUpdate::Unchanged));
        let answer = |t: &str| {
            HttpResponse::new(
                200,
                json!({"access_token": t, "instance_url": "https://acme.my.salesforce.com"}).to_string(),
            )
        };
        let first = s.read_answer(&answer("t1"), &c).unwrap();
        assert_eq!(s.accept(&c, first, 5), None);
        assert_eq!((s.token().map(|t| t.token.expose()), s.source()), (Some("t1"), "new"));
        assert!(matches!(s.update(), TokenUpdate::Store(t) if t.obtained_at_ms == 5));

        assert_eq!(s.session_invalid(&c, "create"), Ok(()));
        assert_eq!((s.token(), s.update()), (None, &TokenUpdate::Forget));
        let second = s.read_answer(&answer("t2"), &c).unwrap();
        assert_eq!(s.accept(&c, second, 6), Some("create"), "the refused call resumes");
        assert_eq!(s.tokens().map(Secret::expose).collect::<Vec<_>>(), ["t1", "t2"]);

        let e = s.session_invalid(&c, "create").unwrap_err();
        assert_eq!((e.code, e.remote_code.as_deref()), (ErrorCode::SessionExpired, Some("INVALID_SESSION_ID")));
        assert_eq!(s.update(), &TokenUpdate::Forget, "a refused new token is not kept");
        s.new_call();
        assert_eq!(s.session_invalid(&c, "lookup"), Ok(()), "a new call may renew again");

        let fixed = config(json!({"accessToken":"tok","instanceUrl":"https://acme.my.salesforce.com"}));
        let mut s: TokenSession<()> = TokenSession::new(&fixed, None, 0);
        assert_eq!(s.source(), "config");
        assert!(s.session_invalid(&fixed, ()).is_err());
        assert_eq!(s.update(), &TokenUpdate::Unchanged, "a configured token is not the cache's");
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
