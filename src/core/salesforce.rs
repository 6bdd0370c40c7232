//! Salesforce REST API: builds the token, create, upsert, query and collections requests, and
//! reads Salesforce's answers into typed results. Knows the wire format; never sends anything.

use crate::core::config::{Config, TokenGrant};
use crate::core::encoding::{
    form_encode, form_encode_into, is_dot_segment, path_segment, path_segment_into, percent_encode,
};
use crate::core::endpoint::{is_loopback_host, WebUrl};
use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::http::{redirect_refused, EmailLookup, HttpRequest, HttpResponse, Purpose, Text};
use crate::core::record::{RecordPayload, SObject};
use crate::core::secret::{scrub, Secret};
use serde_json::Value;

/// JWT bearer grant type.
pub const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An access token and the instance it is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token.
    pub token: Secret,
    /// The instance it is valid for (checked against the allowed hosts).
    pub instance_url: String,
}

/// The token request, except for the JWT bearer grant, whose assertion must be signed first
/// (see [`jwt_signing_input`]).
pub fn token_request(config: &Config, assertion: Option<Secret>) -> Option<HttpRequest> {
    let mut url = String::with_capacity(config.login_url.len() + 22);
    url.push_str(&config.login_url);
    url.push_str("/services/oauth2/token");
    let mut form = Form::new();
    match &config.grant {
        TokenGrant::Password { client_id, client_secret, username, password } => {
            form.plain("grant_type", "password");
            form.plain("client_id", client_id);
            form.secret("client_secret", client_secret);
            form.plain("username", username);
            form.secret("password", password);
        }
        TokenGrant::ClientCredentials { client_id, client_secret } => {
            form.plain("grant_type", "client_credentials");
            form.plain("client_id", client_id);
            form.secret("client_secret", client_secret);
        }
        TokenGrant::JwtBearer { .. } => {
            let assertion = assertion?;
            form.plain("grant_type", JWT_GRANT);
            form.secret("assertion", &assertion);
        }
        TokenGrant::RefreshToken { client_id, client_secret, refresh_token } => {
            form.plain("grant_type", "refresh_token");
            form.plain("client_id", client_id);
            form.secret("refresh_token", refresh_token);
            if let Some(cs) = client_secret {
                form.secret("client_secret", cs);
            }
        }
        TokenGrant::AccessToken { .. } => return None,
    }
    Some(
        HttpRequest::new(Purpose::Token, "POST", Text::plain(url))
            .header("Accept", Text::plain("application/json"))
            .body("application/x-www-form-urlencoded", form.finish()),
    )
}

/// A form body being written: the plain text since the last secret is gathered in one piece.
struct Form {
    text: Text,
    plain: String,
    started: bool,
}

impl Form {
    fn new() -> Self {
        // Room for the grant type, the client id and the keys: one allocation, not four.
        Form { text: Text::default(), plain: String::with_capacity(128), started: false }
    }
    fn key(&mut self, key: &str) {
        if self.started {
            self.plain.push('&');
        }
        self.started = true;
        self.plain.push_str(key);
        self.plain.push('=');
    }
    fn plain(&mut self, key: &str, value: &str) {
        self.key(key);
        form_encode_into(&mut self.plain, value);
    }
    fn secret(&mut self, key: &str, value: &Secret) {
        self.key(key);
        let plain = std::mem::take(&mut self.plain);
        self.text = std::mem::take(&mut self.text).push(plain).push_secret(Secret::new(form_encode(value.expose())));
    }
    fn finish(self) -> Text {
        if self.plain.is_empty() {
            self.text
        } else {
            self.text.push(self.plain)
        }
    }
}

/// `base64url(header).base64url(claims)` for the JWT bearer grant; the driver signs it (RS256).
pub fn jwt_signing_input(config: &Config, now_secs: u64) -> Option<String> {
    let TokenGrant::JwtBearer { client_id, username, .. } = &config.grant else { return None };
    let header = r#"{"alg":"RS256","typ":"JWT"}"#;
    let claims = serde_json::json!({
        "iss": client_id, "sub": username, "aud": jwt_audience(config), "exp": now_secs + 180,
    });
    use base64::{prelude::BASE64_URL_SAFE_NO_PAD, Engine};
    Some(format!("{}.{}", BASE64_URL_SAFE_NO_PAD.encode(header), BASE64_URL_SAFE_NO_PAD.encode(claims.to_string())))
}

/// Salesforce wants `aud` to be login.salesforce.com or test.salesforce.com (sandboxes); for a My
/// Domain or a local emulator the login URL itself.
fn jwt_audience(config: &Config) -> String {
    let host = &config.login_host;
    if host.ends_with(".sandbox.my.salesforce.com") {
        "https://test.salesforce.com".into()
    } else if host.ends_with(".my.salesforce.com") {
        "https://login.salesforce.com".into()
    } else {
        config.login_url.clone()
    }
}

/// The signed JWT: signing input + "." + base64url(signature).
pub fn jwt_assertion(signing_input: &str, signature: &[u8]) -> Secret {
    use base64::{prelude::BASE64_URL_SAFE_NO_PAD, Engine};
    Secret::new(format!("{signing_input}.{}", BASE64_URL_SAFE_NO_PAD.encode(signature)))
}

/// The DER bytes of a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`), for WebCrypto.
/// Errors never include the key material.
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>> {
    let bad =
        |why: &str| RuleError::new(ErrorCode::ConfigInvalid, format!("privateKey {why}")).with_field("privateKey");
    // Secrets stores often flatten newlines to "\n"; accept both.
    let pem = pem.replace("\\n", "\n");
    let (_, body) = pem
        .split_once("-----BEGIN PRIVATE KEY-----")
        .ok_or_else(|| bad("must be a PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----)"))?;
    let (body, _) =
        body.split_once("-----END PRIVATE KEY-----").ok_or_else(|| bad("has no -----END PRIVATE KEY----- line"))?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    crate::core::encoding::decode_base64(&b64).map_err(|_| bad("is not valid base64 between its BEGIN and END lines"))
}

/// Read a token response. Failures are `TOKEN_REJECTED` (credentials refused) or
/// `RESPONSE_INVALID`; the OAuth error code is kept as `remote_code`.
pub fn parse_token_response(resp: &HttpResponse, config: &Config) -> Result<AccessToken> {
    if resp.is_redirect() {
        // Following it would re-send the form, client secret and password included.
        return Err(redirect_refused(
            resp,
            "the Salesforce token endpoint",
            "loginUrl (the org's login or My Domain URL)",
        ));
    }
    let json: Option<Value> = serde_json::from_str::<Value>(&resp.body).ok();
    if resp.status != 200 {
        let (code, description) = match &json {
            Some(v) => (
                v.get("error").and_then(Value::as_str).unwrap_or("unknown_error").to_string(),
                v.get("error_description").and_then(Value::as_str).unwrap_or("").to_string(),
            ),
            None => ("http_".to_string() + &resp.status.to_string(), String::new()),
        };
        let hint = match (code.as_str(), &config.grant) {
            ("invalid_grant", TokenGrant::Password { .. }) => {
                "; orgs created since Summer '23 block the password grant: use client_credentials or jwt_bearer"
            }
            ("invalid_client_id", _) | ("invalid_client", _) => "; check clientId/clientSecret of the connected app",
            ("unsupported_grant_type", TokenGrant::ClientCredentials { .. }) => {
                "; client_credentials needs the org's My Domain login URL and the flow enabled on the app"
            }
            _ => "",
        };
        let kind = if resp.status >= 500 || resp.status == 429 {
            ErrorCode::SalesforceUnavailable
        } else {
            ErrorCode::TokenRejected
        };
        let msg = format!("Salesforce refused the token request ({code}: {description}){hint}");
        return Err(RuleError::new(kind, scrub(&msg, &config.secrets())).with_remote(code, resp.status));
    }
    let v = json.ok_or_else(|| invalid_response("token response is not JSON", resp.status))?;
    let token = v.get("access_token").and_then(Value::as_str).filter(|s| !s.is_empty());
    let instance = v.get("instance_url").and_then(Value::as_str).filter(|s| !s.is_empty());
    match (token, instance) {
        (Some(t), Some(i)) => {
            let instance_url = check_instance_url(i, config)?;
            Ok(AccessToken { token: Secret::new(t), instance_url })
        }
        _ => Err(invalid_response("token response has no access_token or instance_url", resp.status)),
    }
}

/// The `access_token` a token answer carries, even one refused for its `instance_url`: it is
/// still a credential, to be masked wherever an answer might quote it.
pub fn offered_token(resp: &HttpResponse) -> Option<Secret> {
    let v: Value = serde_json::from_str::<Value>(&resp.body).ok()?;
    v.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()).map(Secret::new)
}

/// `REDIRECT_REFUSED` for a REST API answer (the token endpoint has its own message).
pub(crate) fn redirect_error(resp: &HttpResponse) -> RuleError {
    redirect_refused(resp, "Salesforce", "loginUrl and allowedInstanceHosts (the instance URL the token came with)")
}

pub(crate) fn invalid_response(what: &str, status: u16) -> RuleError {
    RuleError::new(ErrorCode::ResponseInvalid, format!("Salesforce answered in an unexpected format: {what}"))
        .with_remote("RESPONSE_INVALID", status)
}

/// Hosts Salesforce serves instances from. A token goes only to one of these, to the login host
/// itself, to loopback when logging in on loopback, or to a host the user allowed.
const SALESFORCE_DOMAINS: &[&str] = &[
    ".salesforce.com",
    ".force.com",
    ".salesforce.mil",
    ".cloudforce.com",
    ".salesforce-setup.com",
    ".sfcrmproducts.cn",
    ".database.com",
];

/// Whether the token may be sent to `instance_url`, read as `fetch` reads it; `Ok` with the URL
/// to send to (its serialisation, without trailing `/`), so the host checked is the host
/// contacted.
pub fn check_instance_url(instance_url: &str, config: &Config) -> Result<String> {
    let refuse = |why: &str| {
        // The URL as given, but printable: it came from outside and may hold controls.
        let shown: String = instance_url.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
        Err(RuleError::new(
            ErrorCode::InstanceUrlNotAllowed,
            format!("instance_url {shown} refused: {why}; add its host to allowedInstanceHosts if it is really yours"),
        )
        .with_field("allowedInstanceHosts"))
    };
    let inst = match WebUrl::parse(instance_url) {
        Ok(inst) => inst,
        Err(why) => return refuse(&format!("it {}", why.reason())),
    };
    let base = match inst.base() {
        Ok(base) => base,
        Err(why) => return refuse(&format!("it {}", why.reason())),
    };
    let host = inst.host();
    if !inst.is_https() && !inst.is_loopback() {
        return refuse("the access token is only sent over https");
    }
    let allowed = config.allowed_instance_hosts.iter().any(|a| {
        if let Some(suffix) = a.strip_prefix('.') {
            // `host` ends with `.{suffix}`, without building that text.
            host.strip_suffix(suffix).is_some_and(|h| h.ends_with('.'))
        } else {
            host == *a
        }
    });
    let same_as_login = config.login_host == host;
    let salesforce = inst.is_https() && SALESFORCE_DOMAINS.iter().any(|d| host.ends_with(d));
    let loopback_pair = inst.is_loopback() && is_loopback_host(&config.login_host);
    if allowed || same_as_login || salesforce || loopback_pair {
        Ok(base)
    } else {
        refuse("its host is not a Salesforce domain nor the login host")
    }
}

pub(crate) fn data_url(token: &AccessToken, config: &Config, path: &str) -> Text {
    Text::plain(data_url_for(token, config, &[path]))
}

/// `{instance}/services/data/v{version}/` followed by `path`'s pieces, in one allocation.
fn data_url_for(token: &AccessToken, config: &Config, path: &[&str]) -> String {
    let len = path.iter().map(|p| p.len()).sum::<usize>();
    let mut url = String::with_capacity(token.instance_url.len() + config.api_version.len() + 17 + len);
    url.push_str(&token.instance_url);
    url.push_str("/services/data/v");
    url.push_str(&config.api_version);
    url.push('/');
    path.iter().for_each(|p| url.push_str(p));
    url
}

pub(crate) fn authorized(req: HttpRequest, token: &AccessToken) -> HttpRequest {
    req.header("Authorization", Text::plain("Bearer ").push_secret(token.token.clone()))
        .header("Accept", Text::plain("application/json"))
}

pub(crate) fn with_sforce_headers(mut req: HttpRequest, config: &Config) -> HttpRequest {
    if let Some(a) = &config.auto_assign {
        req = req.header("Sforce-Auto-Assign", Text::plain(a.clone()));
    }
    req
}

/// A create of `payload` (or an upsert by external id when configured).
pub fn create_request(token: &AccessToken, config: &Config, payload: &RecordPayload) -> HttpRequest {
    let url = data_url_for(token, config, &["sobjects/", config.object.name(), "/"]);
    let req = HttpRequest::new(Purpose::CreateRecord, "POST", Text::plain(url));
    with_sforce_headers(authorized(req, token), config).json_body(payload.json_text(None))
}

/// An external id must be usable as the last segment of the upsert URL: `.`, `..` (and empty)
/// cannot be one, whatever their encoding (`fetch` reads `%2E%2E` as `..` and drops the segment
/// before it, turning `PATCH …/Lead/Auth0_User_Id__c/..` into `PATCH …/sobjects/Lead/`).
/// `source` is the profile path the value came from (`externalIdSource`).
pub fn check_external_id(source: &str, value: &str) -> Result<()> {
    if is_dot_segment(value) {
        return Err(RuleError::new(
            ErrorCode::ProfileInvalid,
            format!(
                "the external id ({source}) is '{value}', which cannot be sent as a URL path segment; nothing was sent"
            ),
        )
        .with_field(source));
    }
    Ok(())
}

/// `PATCH …/sobjects/Lead/{field}/{value}`: creates or updates, so retries never make a second
/// record. `field` and `value` are each one path segment, fully encoded; `value` must have passed
/// [`check_external_id`].
pub fn upsert_request(
    token: &AccessToken,
    config: &Config,
    field: &str,
    value: &str,
    payload: &RecordPayload,
) -> HttpRequest {
    let path = format!("sobjects/{}/{}/{}", config.object.name(), path_segment(field), path_segment(value));
    let req = HttpRequest::new(Purpose::UpsertRecord, "PATCH", data_url(token, config, &path));
    with_sforce_headers(authorized(req, token), config).json_body(payload.json_text(Some(field)))
}

/// A SOQL string literal with Salesforce's escapes, so profile data can never change the query.
pub fn soql_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Look a record up by email. `after_lost_create`: the lookup after a create whose answer was
/// lost, which also reads when the record found was created (newest first), so a record that
/// was there before the create is not taken for it ([`created_before`]).
pub fn find_by_email_request(
    token: &AccessToken,
    config: &Config,
    email: &str,
    after_lost_create: bool,
) -> HttpRequest {
    let (fields, order) =
        if after_lost_create { ("Id, CreatedDate", " ORDER BY CreatedDate DESC") } else { ("Id", "") };
    let soql =
        format!("SELECT {fields} FROM {} WHERE Email = {}{order} LIMIT 1", config.object.name(), soql_literal(email));
    let url = data_url(token, config, &format!("query?q={}", percent_encode(&soql)));
    let req = authorized(HttpRequest::new(Purpose::FindExisting, "GET", url), token);
    // Only the first lookup may share a query (volume mode): the one after a lost create reads
    // CreatedDate and goes alone.
    match after_lost_create {
        false => req.with_lookup(EmailLookup { object: config.object.name(), email: email.to_string() }),
        true => req,
    }
}

/// Whether a lookup answer's record says it was created before `time_ms` (Unix ms). `false`
/// when it does not say (no `CreatedDate`, or one that does not read as a Salesforce date-time).
pub fn created_before(resp: &HttpResponse, time_ms: u64) -> bool {
    let created = serde_json::from_str::<Value>(&resp.body)
        .ok()
        .and_then(|v| v.pointer("/records/0/CreatedDate").and_then(Value::as_str).and_then(datetime_ms));
    created.is_some_and(|t| t < time_ms)
}

/// A Salesforce date-time as Unix milliseconds. Only the REST API's own shape is read
/// (`2026-11-30T12:10:04.360+0000`, always UTC); `None` for anything else, before 1970, or a leap
/// second (`:60`, which `time` refuses, as JS's `Date` does; Salesforce never writes one).
pub fn datetime_ms(s: &str) -> Option<u64> {
    let shape =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000");
    let utc = time::PrimitiveDateTime::parse(s, &shape).ok()?.assume_utc();
    u64::try_from(utc.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A GET of the record `id`, to check it still exists.
pub fn get_record_request(token: &AccessToken, config: &Config, id: &str) -> HttpRequest {
    let path = format!("sobjects/{}/{}?fields=Id", config.object.name(), path_segment(id));
    authorized(HttpRequest::new(Purpose::CheckExisting, "GET", data_url(token, config, &path)), token)
}

/// What a create or upsert answer means for the flow.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteResult {
    /// Salesforce created it.
    Created {
        /// The new record's id.
        id: String,
    },
    /// The record already existed: upsert updated it, or a duplicate rule pointed at it.
    Existing {
        /// The record's id, when named.
        id: Option<String>,
        /// How it was found (for the outcome's reason).
        via: &'static str,
    },
    /// 401 INVALID_SESSION_ID: get a new token and try once more.
    SessionInvalid,
    /// Worth retrying after a pause (5xx, 429); `retry_after_ms` from `Retry-After`.
    Retryable {
        /// What went wrong.
        error: RuleError,
        /// `Retry-After`, in ms.
        retry_after_ms: Option<u64>,
    },
    /// Salesforce may or may not have saved it (unreadable success body).
    Unknown {
        /// What went wrong.
        error: RuleError,
    },
    /// Refused for good.
    Failed(RuleError),
}

/// One Salesforce REST error (`[{"message","errorCode","fields"}]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// `errorCode`.
    pub code: String,
    /// `message`.
    pub message: String,
    /// `fields`.
    pub fields: Vec<String>,
    /// Ids of the existing records a duplicate rule matched.
    pub duplicate_ids: Vec<String>,
}

/// The errors of an error answer (none when it is not one).
pub fn parse_api_errors(body: &str) -> Vec<ApiError> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(body) else { return Vec::new() };
    items
        .iter()
        .map(|e| ApiError {
            code: e.get("errorCode").and_then(Value::as_str).unwrap_or("UNKNOWN_ERROR").to_string(),
            message: e.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
            fields: e
                .get("fields")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default(),
            duplicate_ids: duplicate_ids(e),
        })
        .collect()
}

fn duplicate_ids(e: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    let results = e.pointer("/duplicateResult/matchResults").and_then(Value::as_array);
    for r in results.into_iter().flatten() {
        for m in r.get("matchRecords").and_then(Value::as_array).into_iter().flatten() {
            if let Some(id) = m.pointer("/record/Id").and_then(Value::as_str).filter(|id| is_record_id(id)) {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

/// A Salesforce record id: 15 or 18 ASCII letters and digits. Ids from responses are checked
/// before they are stored as the user's marker, linked, or sent to Slack.
pub fn is_record_id(id: &str) -> bool {
    matches!(id.len(), 15 | 18) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `Retry-After` in seconds (the form Salesforce and Slack use) as milliseconds.
pub fn retry_after_ms(resp: &HttpResponse) -> Option<u64> {
    // Seconds, as an integer (RFC 9110 delay-seconds); an HTTP-date or junk is ignored.
    resp.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(|s| s.saturating_mul(1000))
}

/// What a create or upsert answer means.
pub fn parse_write_response(resp: &HttpResponse, config: &Config) -> WriteResult {
    let object = config.object.name();
    match resp.status {
        204 => WriteResult::Existing { id: None, via: "upsert matched an existing record" },
        // Any success may have saved the record: without an id its fate is unknown, never an error.
        200..=299 => {
            let v: Option<Value> = serde_json::from_str::<Value>(&resp.body).ok();
            let id = v
                .as_ref()
                .and_then(|v| v.get("id"))
                .and_then(Value::as_str)
                .filter(|id| is_record_id(id))
                .map(String::from);
            match (id, v.as_ref().and_then(|v| v.get("created")).and_then(Value::as_bool)) {
                (Some(id), Some(false)) => {
                    WriteResult::Existing { id: Some(id), via: "upsert matched an existing record" }
                }
                (Some(id), _) => WriteResult::Created { id },
                (None, _) => {
                    WriteResult::Unknown { error: invalid_response("create response has no record id", resp.status) }
                }
            }
        }
        300 => WriteResult::Failed(
            RuleError::new(
                ErrorCode::AmbiguousMatch,
                format!("several {object} records have this external id; fix the data in Salesforce"),
            )
            .with_remote("MULTIPLE_CHOICES", 300),
        ),
        // Not retried, and never read as a success: a redirected create is no record.
        _ if resp.is_redirect() => WriteResult::Failed(redirect_error(resp)),
        _ => {
            let errors = parse_api_errors(&resp.body);
            let first = errors.first();
            let remote = first.map(|e| e.code.clone()).unwrap_or_else(|| format!("HTTP_{}", resp.status));
            let message = first.map(|e| scrub(&e.message, &config.secrets())).unwrap_or_default();
            if resp.status == 401 || remote == "INVALID_SESSION_ID" {
                return WriteResult::SessionInvalid;
            }
            if let Some(dup) = errors.iter().find(|e| e.code == "DUPLICATES_DETECTED") {
                return WriteResult::Existing {
                    id: dup.duplicate_ids.first().cloned(),
                    via: "duplicate rule matched an existing record",
                };
            }
            // 429 is "slow down, retry after": checked before REQUEST_LIMIT_EXCEEDED because a 429
            // carries that same errorCode; only the 403 (the org's daily limit used up) is final.
            if resp.status == 429 || resp.status >= 500 {
                let error = RuleError::new(
                    ErrorCode::SalesforceUnavailable,
                    format!(
                        "Salesforce is unavailable (HTTP {}{}{})",
                        resp.status,
                        if message.is_empty() { "" } else { ": " },
                        message
                    ),
                )
                .with_remote(remote, resp.status);
                return WriteResult::Retryable { error, retry_after_ms: retry_after_ms(resp) };
            }
            if remote == "REQUEST_LIMIT_EXCEEDED" {
                return WriteResult::Failed(
                    RuleError::new(ErrorCode::RateLimited, format!("Salesforce API request limit exceeded: {message}"))
                        .with_remote(remote, resp.status),
                );
            }
            let mut error = RuleError::new(
                ErrorCode::SalesforceRejected,
                if message.is_empty() {
                    format!("Salesforce refused the {object} (HTTP {})", resp.status)
                } else {
                    format!("Salesforce refused the {object}: {message}")
                },
            )
            .with_remote(remote, resp.status);
            if let Some(f) = first.and_then(|e| e.fields.first()) {
                error = error.with_field(f.clone());
            }
            WriteResult::Failed(error)
        }
    }
}

/// Answer of a lookup (query or GET by id).
#[derive(Debug, Clone, PartialEq)]
pub enum LookupResult {
    /// A record with this id exists.
    Found(String),
    /// No record.
    NotFound,
    /// 401 INVALID_SESSION_ID: get a new token and try once more.
    SessionInvalid,
    /// Worth retrying after a pause (5xx, 429).
    Retryable {
        /// What went wrong.
        error: RuleError,
        /// `Retry-After`, in ms.
        retry_after_ms: Option<u64>,
    },
    /// Refused for good.
    Failed(RuleError),
}

/// What a lookup answer means.
pub fn parse_lookup_response(resp: &HttpResponse, config: &Config) -> LookupResult {
    match resp.status {
        200 => {
            let v: Option<Value> = serde_json::from_str::<Value>(&resp.body).ok();
            let Some(v) = v else { return LookupResult::Failed(invalid_response("query response is not JSON", 200)) };
            match v.get("Id").or_else(|| v.pointer("/records/0/Id")) {
                None => LookupResult::NotFound,
                Some(Value::String(id)) if is_record_id(id) => LookupResult::Found(id.clone()),
                Some(_) => {
                    LookupResult::Failed(invalid_response("lookup answer has an Id that is not a record id", 200))
                }
            }
        }
        404 => LookupResult::NotFound,
        // Any other success is no answer to "is it there?": never read it as "not found", or a
        // create whose fate is unknown would be sent again.
        201..=299 => LookupResult::Failed(invalid_response("lookup answered without a result", resp.status)),
        _ => match parse_write_response(resp, config) {
            WriteResult::SessionInvalid => LookupResult::SessionInvalid,
            WriteResult::Retryable { error, retry_after_ms } => LookupResult::Retryable { error, retry_after_ms },
            WriteResult::Failed(e) | WriteResult::Unknown { error: e } => {
                if e.remote_code.as_deref() == Some("ENTITY_IS_DELETED") {
                    LookupResult::NotFound
                } else {
                    LookupResult::Failed(e)
                }
            }
            WriteResult::Created { .. } | WriteResult::Existing { .. } => {
                LookupResult::Failed(invalid_response("lookup answered without a result", resp.status))
            }
        },
    }
}

/// Link people can open: `{instance}/lightning/r/{Object}/{id}/view`.
pub fn record_url(instance_url: &str, object: SObject, id: &str) -> String {
    let mut url = String::with_capacity(instance_url.len() + 32 + id.len());
    url.push_str(instance_url);
    url.push_str("/lightning/r/");
    url.push_str(object.name());
    url.push('/');
    path_segment_into(&mut url, id);
    url.push_str("/view");
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn salesforce_date_times_read_as_unix_milliseconds() {
        // Checked against `new Date(s).getTime()` in Node.
        for (s, ms) in [
            ("1970-01-01T00:00:00.000+0000", 0),
            ("2026-11-30T12:10:04.360+0000", 1_796_040_604_360),
            ("2024-02-29T23:59:59.999+0000", 1_709_251_199_999),
            ("2000-03-01T00:00:00.000+0000", 951_868_800_000),
            ("9999-12-31T23:59:59.999+0000", 253_402_300_799_999),
            // `time` takes the expanded-year sign of ISO 8601: the same instant.
            ("+2026-11-30T12:10:04.360+0000", 1_796_040_604_360),
        ] {
            assert_eq!(datetime_ms(s), Some(ms), "{s}");
        }
        for s in [
            "",
            "2026-11-30",
            "2026-11-30T12:10:04Z",
            "2026-11-30T12:10:04.360Z",
            "2026-11-30T13:10:04.360+0100",
            "2026-11-30 12:10:04.360+0000",
            "2026-13-30T12:10:04.360+0000",
            "2026-00-30T12:10:04.360+0000",
            "2026-11-00T12:10:04.360+0000",
            "2026-11-30T24:10:04.360+0000",
            "2026-11-30T12:60:04.360+0000",
            "2026-11-30T12:10:61.000+0000",
            // Leap seconds: `time` refuses them (so does JS's `Date`); the hand parser read
            // 00:00:60 as the next minute's first second.
            "2100-03-01T00:00:60.000+0000",
            "2016-12-31T23:59:60.000+0000",
            "2026-02-29T12:10:04.360+0000",
            "2026-11-3T12:10:04.360+0000",
            "2026-11-30T12:10:04.3600+0000",
            "12026-11-30T12:10:04.360+0000",
            "2026-11-30T12:10:04.360+00000",
            "1969-12-31T23:59:59.000+0000",
            "0000-01-01T00:00:00.000+0000",
            "2026-11-3OT12:10:04.360+0000",
            "２026-11-30T12:10:04.36+0000",
        ] {
            assert_eq!(datetime_ms(s), None, "{s}");
        }
    }

    #[test]
    fn created_before_reads_the_first_record_of_a_query_answer() {
        let answer = |created: Value| {
            HttpResponse::new(200, json!({"totalSize": 1, "done": true, "records": [{"Id": "00Q000000000000001", "CreatedDate": created}]}).to_string())
        };
        let t = 1_796_040_604_360;
        assert!(created_before(&answer(json!("2026-11-30T12:10:04.359+0000")), t));
        assert!(!created_before(&answer(json!("2026-11-30T12:10:04.360+0000")), t));
        // Not saying when is not "before": the record is taken for the lost create, as it was.
        assert!(!created_before(&answer(Value::Null), t));
        assert!(!created_before(&answer(json!("yesterday")), t));
        assert!(!created_before(&HttpResponse::new(200, "not json"), t));
    }

    fn config(v: Value) -> Config {
        Config::parse(v.as_object().unwrap()).unwrap()
    }

    fn token(url: &str) -> AccessToken {
        AccessToken { token: Secret::new("00Dx!tok"), instance_url: url.into() }
    }

    #[test]
    fn password_token_request_is_form_encoded_and_masked() {
        let c = config(json!({"clientId":"cid","clientSecret":"s&cret","username":"u@x.com","password":"p w"}));
        let r = token_request(&c, None).unwrap();
        assert_eq!(r.url.expose(), "https://login.salesforce.com/services/oauth2/token");
        assert_eq!(
            r.body.as_ref().unwrap().expose(),
            "grant_type=password&client_id=cid&client_secret=s%26cret&username=u%40x.com&password=p+w"
        );
        assert_eq!(
            r.body.as_ref().unwrap().masked(),
            "grant_type=password&client_id=cid&client_secret=***&username=u%40x.com&password=***"
        );
        // Refresh token: the client secret, when given, comes last; a body may end on a secret.
        let c = config(json!({"clientId":"c id","refreshToken":"r/t","clientSecret":"cs"}));
        let body = token_request(&c, None).unwrap().body.unwrap();
        assert_eq!(body.expose(), "grant_type=refresh_token&client_id=c+id&refresh_token=r%2Ft&client_secret=cs");
        assert_eq!(body.masked(), "grant_type=refresh_token&client_id=c+id&refresh_token=***&client_secret=***");
        let c = config(json!({"clientId":"c","clientSecret":"s"}));
        let body = token_request(&c, None).unwrap().body.unwrap();
        assert_eq!(body.masked(), "grant_type=client_credentials&client_id=c&client_secret=***");
    }

    #[test]
    fn soql_literals_cannot_break_out() {
        assert_eq!(soql_literal("o'brien@x.com"), r"'o\'brien@x.com'");
        assert_eq!(soql_literal(r"x' OR Name != '"), r"'x\' OR Name != \''");
        assert_eq!(soql_literal("a\\b\n"), r"'a\\b\n'");
    }

    #[test]
    fn instance_url_must_be_salesforce_or_allowed() {
        let c = config(json!({"clientId":"cid","clientSecret":"s"}));
        assert!(check_instance_url("https://acme.my.salesforce.com", &c).is_ok());
        assert_eq!(
            check_instance_url("https://evil.example.com", &c).unwrap_err().code,
            ErrorCode::InstanceUrlNotAllowed
        );
        assert_eq!(
            check_instance_url("http://acme.my.salesforce.com", &c).unwrap_err().code,
            ErrorCode::InstanceUrlNotAllowed
        );
        let c = config(json!({"clientId":"cid","clientSecret":"s","allowedInstanceHosts":[".example.com"]}));
        assert!(check_instance_url("https://crm.example.com", &c).is_ok());
        let c = config(json!({"clientId":"cid","clientSecret":"s","loginUrl":"http://127.0.0.1:9"}));
        assert!(check_instance_url("http://127.0.0.1:9", &c).is_ok());
    }

    #[test]
    fn write_responses() {
        let c = config(json!({"clientId":"cid","clientSecret":"s"}));
        let created = HttpResponse::new(201, r#"{"id":"00Q000000000001AAA","success":true,"errors":[]}"#);
        assert_eq!(parse_write_response(&created, &c), WriteResult::Created { id: "00Q000000000001AAA".into() });
        let expired =
            HttpResponse::new(401, r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#);
        assert_eq!(parse_write_response(&expired, &c), WriteResult::SessionInvalid);
        let missing = HttpResponse::new(
            400,
            r#"[{"message":"Required fields are missing: [Company]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Company"]}]"#,
        );
        match parse_write_response(&missing, &c) {
            WriteResult::Failed(e) => {
                assert_eq!(e.code, ErrorCode::SalesforceRejected);
                assert_eq!(e.remote_code.as_deref(), Some("REQUIRED_FIELD_MISSING"));
                assert_eq!(e.field.as_deref(), Some("Company"));
                assert_eq!(e.message, "Salesforce refused the Lead: Required fields are missing: [Company]");
            }
            r => panic!("{r:?}"),
        }
        let limit = HttpResponse::new(
            403,
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
        );
        assert!(matches!(parse_write_response(&limit, &c), WriteResult::Failed(e) if e.code == ErrorCode::RateLimited));
        let busy = HttpResponse::new(503, "[]").with_header("Retry-After", "2");
        assert!(matches!(parse_write_response(&busy, &c), WriteResult::Retryable { retry_after_ms: Some(2000), .. }));
        let dup = HttpResponse::new(
            400,
            r#"[{"duplicateResult":{"matchResults":[{"matchRecords":[{"record":{"Id":"00Q000000000dupAAA"}}]}]},"errorCode":"DUPLICATES_DETECTED","message":"dup"}]"#,
        );
        assert_eq!(
            parse_write_response(&dup, &c),
            WriteResult::Existing {
                id: Some("00Q000000000dupAAA".into()),
                via: "duplicate rule matched an existing record"
            }
        );
        assert!(matches!(
            parse_write_response(&HttpResponse::new(201, "{\"id\": \"00Q"), &c),
            WriteResult::Unknown { .. }
        ));
    }

    #[test]
    fn token_errors_explain_and_never_echo_secrets() {
        let c = config(json!({"clientId":"cid","clientSecret":"topsecret1","username":"u","password":"pw12345"}));
        let r = HttpResponse::new(
            400,
            r#"{"error":"invalid_grant","error_description":"authentication failure for pw12345"}"#,
        );
        let e = parse_token_response(&r, &c).unwrap_err();
        assert_eq!(e.code, ErrorCode::TokenRejected);
        assert_eq!(e.remote_code.as_deref(), Some("invalid_grant"));
        assert!(!e.message.contains("pw12345"));
        assert!(e.message.contains("client_credentials"));
        let ok = HttpResponse::new(200, r#"{"access_token":"T","instance_url":"https://evil.example.net"}"#);
        assert_eq!(parse_token_response(&ok, &c).unwrap_err().code, ErrorCode::InstanceUrlNotAllowed);
    }

    #[test]
    fn create_and_upsert_requests() {
        let c = config(json!({"clientId":"cid","clientSecret":"s","autoAssign":"TRUE"}));
        let p = RecordPayload {
            fields: vec![("LastName".into(), "Doe".into()), ("Auth0_User_Id__c".into(), "auth0|1".into())],
        };
        let r = create_request(&token("https://a.my.salesforce.com"), &c, &p);
        assert_eq!(r.url.expose(), "https://a.my.salesforce.com/services/data/v66.0/sobjects/Lead/");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["headers"]["Authorization"], "Bearer ***");
        assert_eq!(v["headers"]["Sforce-Auto-Assign"], "TRUE");
        let u = upsert_request(&token("https://a.my.salesforce.com"), &c, "Auth0_User_Id__c", "auth0|1", &p);
        assert_eq!(
            u.url.expose(),
            "https://a.my.salesforce.com/services/data/v66.0/sobjects/Lead/Auth0_User_Id__c/auth0%7C1"
        );
        assert_eq!(u.body.unwrap().expose(), r#"{"LastName":"Doe"}"#);
    }
}
