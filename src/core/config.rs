//! `Config`: every setting the rule reads, parsed once from a JSON object (camelCase keys) or from
//! host secrets (`SALESFORCE_CLIENT_ID`, …). Parse, don't validate: after this, URLs are checked,
//! the grant is chosen and the mapping is compiled. Never performs I/O.

use crate::core::endpoint::{UrlRefusal, WebUrl};
use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::mapping::{Mapping, MappingSource};
use crate::core::record::SObject;
use crate::core::secret::Secret;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The login URL when none is configured.
pub const DEFAULT_LOGIN_URL: &str = "https://login.salesforce.com";
/// Spring '26.
pub const DEFAULT_API_VERSION: &str = "66.0";
/// The `Company` the mapping presets fall back to.
pub const DEFAULT_COMPANY: &str = "Web channel signups";
/// Time a login may spend on Salesforce and Slack, in ms.
pub const DEFAULT_DEADLINE_MS: u64 = 5_000;
/// Time one request may take, in ms.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 3_000;
/// Retries of one request (5xx, 429, network).
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// How long a cached token is used, in ms.
pub const DEFAULT_TOKEN_TTL_MS: u64 = 30 * 60 * 1000;
/// Batch backfill: above this many records, use a Bulk API 2.0 job instead of sObject Collections.
pub const DEFAULT_BULK_THRESHOLD: u64 = 50_000;

/// How the rule obtains its Salesforce access token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenGrant {
    /// OAuth username-password flow (parity with the Auth0 template; blocked in new orgs).
    Password {
        /// The connected app's consumer key.
        client_id: String,
        /// The connected app's consumer secret.
        client_secret: Secret,
        /// The integration user.
        username: String,
        /// Its password (with its security token appended, when the org asks for one).
        password: Secret,
    },
    /// OAuth client credentials flow; the login URL must be the org's My Domain.
    ClientCredentials {
        /// The connected app's consumer key.
        client_id: String,
        /// The connected app's consumer secret.
        client_secret: Secret,
    },
    /// OAuth JWT bearer flow: an RS256 assertion signed with `private_key` (PKCS#8 PEM).
    JwtBearer {
        /// The connected app's consumer key.
        client_id: String,
        /// The user the token is issued for.
        username: String,
        /// The key the assertion is signed with (PKCS#8 PEM).
        private_key: Secret,
    },
    /// OAuth refresh token flow.
    RefreshToken {
        /// The connected app's consumer key.
        client_id: String,
        /// The connected app's consumer secret, when it requires one.
        client_secret: Option<Secret>,
        /// The refresh token.
        refresh_token: Secret,
    },
    /// A token issued elsewhere (a token broker); never refreshed by us.
    AccessToken {
        /// The token.
        access_token: Secret,
        /// The instance it is valid for.
        instance_url: String,
    },
}

impl TokenGrant {
    /// The grant's name as configured (`grantType`).
    pub fn name(&self) -> &'static str {
        match self {
            TokenGrant::Password { .. } => "password",
            TokenGrant::ClientCredentials { .. } => "client_credentials",
            TokenGrant::JwtBearer { .. } => "jwt_bearer",
            TokenGrant::RefreshToken { .. } => "refresh_token",
            TokenGrant::AccessToken { .. } => "access_token",
        }
    }
    /// Identifies whose token this is, for the token cache. Holds no secret.
    pub fn cache_identity(&self) -> String {
        self.cache_identity_with_room(0)
    }
    /// [`TokenGrant::cache_identity`] with `extra` bytes of spare capacity for what follows.
    pub(crate) fn cache_identity_with_room(&self, extra: usize) -> String {
        // `name:part[:part]`, written piece by piece: this runs on every login.
        let parts: [&str; 2] = match self {
            TokenGrant::Password { client_id, username, .. } | TokenGrant::JwtBearer { client_id, username, .. } => {
                [client_id, username]
            }
            TokenGrant::ClientCredentials { client_id, .. } | TokenGrant::RefreshToken { client_id, .. } => {
                [client_id, ""]
            }
            TokenGrant::AccessToken { instance_url, .. } => [instance_url, ""],
        };
        let name = self.name();
        let mut out = String::with_capacity(name.len() + parts[0].len() + parts[1].len() + 2 + extra);
        out.push_str(name);
        out.push(':');
        out.push_str(parts[0]);
        if let TokenGrant::Password { .. } | TokenGrant::JwtBearer { .. } = self {
            out.push(':');
            out.push_str(parts[1]);
        }
        out
    }
}

/// The validated settings of the rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The sObject created (`Lead` or `Contact`).
    pub object: SObject,
    /// The mapping from profile to record fields.
    pub mapping: std::rc::Rc<Mapping>,
    /// Name of the preset the mapping came from, or "custom".
    pub mapping_name: String,
    /// Where tokens are requested (`loginUrl`).
    pub login_url: String,
    /// `login_url`'s host as `fetch` reads it ([`WebUrl::host`]), read once with the settings:
    /// every token answer's `instance_url` is compared with it.
    pub login_host: String,
    /// REST API version, e.g. `66.0`.
    pub api_version: String,
    /// How the access token is obtained.
    pub grant: TokenGrant,
    /// Slack incoming webhook URL; no notification when absent.
    pub slack_webhook_url: Option<Secret>,
    /// Upsert by this external-id field (e.g. `Auth0_User_Id__c`) with the value of `external_id_source`.
    pub external_id_field: Option<String>,
    /// Profile path whose value is the external id; default `user_id`.
    pub external_id_source: String,
    /// Look for an existing record with the same Email before creating one.
    pub dedupe_by_email: bool,
    /// Re-create a record whose stored id Salesforce reports deleted (AEM's option).
    pub recreate_deleted: bool,
    /// `Sforce-Auto-Assign` header value: TRUE, FALSE or an assignment rule id.
    pub auto_assign: Option<String>,
    /// Time a login may spend on Salesforce and Slack, in ms.
    pub deadline_ms: u64,
    /// Time one request may take, in ms.
    pub request_timeout_ms: u64,
    /// Retries of one request (5xx, 429, network).
    pub max_retries: u32,
    /// How long a cached token is used, in ms.
    pub token_ttl_ms: u64,
    /// Extra instance hosts (exact or `.suffix`) the token may be sent to.
    pub allowed_instance_hosts: Vec<String>,
    /// Tell Slack about records created.
    pub notify_on_success: bool,
    /// Tell Slack about failures.
    pub notify_on_failure: bool,
    /// Clerk's Svix signing secret (`whsec_…`), or the `Authorization` value Ory/Okta hooks send.
    pub webhook_secret: Option<Secret>,
    /// Every credential given, whether the chosen grant uses it or not: all are masked in text
    /// that came from outside (hosts often keep every SALESFORCE_* secret set).
    pub other_secrets: Vec<Secret>,
    /// Batch backfill in `auto` mode: more records than this go through a Bulk API 2.0 job.
    pub bulk_threshold: u64,
    /// Volume mode: creates of concurrent logins wait up to this long to share one sObject
    /// Collections request (`core::volume`); 0 = off.
    pub batch_window_ms: u64,
}

/// Host secret names → config keys. Both the template's names and ours are accepted.
const SECRET_ALIASES: &[(&str, &str)] = &[
    ("SALESFORCE_CLIENT_ID", "clientId"),
    ("SFCOM_CLIENT_ID", "clientId"),
    ("SALESFORCE_CLIENT_SECRET", "clientSecret"),
    ("SFCOM_CLIENT_SECRET", "clientSecret"),
    ("SALESFORCE_USERNAME", "username"),
    ("USERNAME", "username"),
    ("SALESFORCE_PASSWORD", "password"),
    ("PASSWORD", "password"),
    ("SALESFORCE_SECURITY_TOKEN", "securityToken"),
    ("SALESFORCE_LOGIN_URL", "loginUrl"),
    ("SALESFORCE_API_VERSION", "apiVersion"),
    ("SALESFORCE_GRANT", "grant"),
    ("SALESFORCE_PRIVATE_KEY", "privateKey"),
    ("SALESFORCE_REFRESH_TOKEN", "refreshToken"),
    ("SALESFORCE_ACCESS_TOKEN", "accessToken"),
    ("SALESFORCE_INSTANCE_URL", "instanceUrl"),
    ("SALESFORCE_OBJECT", "object"),
    ("SALESFORCE_MAPPING", "mapping"),
    ("SALESFORCE_EXTERNAL_ID_FIELD", "externalIdField"),
    ("SALESFORCE_DEDUPE_BY_EMAIL", "dedupeByEmail"),
    ("SALESFORCE_RECREATE_DELETED", "recreateDeleted"),
    ("SALESFORCE_AUTO_ASSIGN", "autoAssign"),
    ("SALESFORCE_ALLOWED_INSTANCE_HOSTS", "allowedInstanceHosts"),
    ("SF_LEAD_DEADLINE_MS", "deadlineMs"),
    ("SALESFORCE_BULK_THRESHOLD", "bulkThreshold"),
    ("SLACK_WEBHOOK_URL", "slackWebhookUrl"),
    ("CLERK_WEBHOOK_SECRET", "webhookSecret"),
    ("ORY_WEBHOOK_API_KEY", "webhookSecret"),
    ("OKTA_WEBHOOK_AUTHORIZATION", "webhookSecret"),
    ("MY_SLACK_WEBHOOK_URL", "slackWebhookUrl"),
];

/// The settings object as given: camelCase keys, an unknown key refused (so a typo surfaces
/// instead of being ignored), every setting optional. Values are read leniently, as hosts give
/// them (a secret store holds only text: `"true"`, `"5000"`); [`Config::parse`] then checks them
/// and says which key to fix. The credentials are [`Secret`]s from here on.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    object: Given<String>,
    /// A preset name, a mapping object, or a mapping object's JSON text.
    mapping: Option<Value>,
    login_url: Given<String>,
    api_version: Given<String>,
    grant: Given<String>,
    client_id: Given<String>,
    client_secret: Given<Secret>,
    username: Given<String>,
    password: Given<Secret>,
    security_token: Given<Secret>,
    private_key: Given<Secret>,
    refresh_token: Given<Secret>,
    access_token: Given<Secret>,
    instance_url: Given<String>,
    slack_webhook_url: Given<Secret>,
    external_id_field: Given<String>,
    external_id_source: Given<String>,
    dedupe_by_email: Given<bool>,
    recreate_deleted: Given<bool>,
    auto_assign: Given<String>,
    deadline_ms: Given<u64>,
    request_timeout_ms: Given<u64>,
    max_retries: Given<u64>,
    token_ttl_ms: Given<u64>,
    allowed_instance_hosts: Given<HostList>,
    notify_on_success: Given<bool>,
    notify_on_failure: Given<bool>,
    webhook_secret: Given<Secret>,
    bulk_threshold: Given<u64>,
    batch_window_ms: Given<u64>,
}

impl Settings {
    /// Read a settings object; `CONFIG_INVALID` naming the first unknown key.
    pub fn from_map(obj: &Map<String, Value>) -> Result<Settings> {
        Settings::deserialize(obj).map_err(|e| {
            // Every known key takes any value, so only an unknown key fails: the one that fails
            // on its own is named in `field` (serde's message names it too).
            let alone = |k: &String| Settings::deserialize(&Map::from_iter([(k.clone(), Value::Null)])).is_err();
            let err = RuleError::new(ErrorCode::ConfigInvalid, format!("configuration: {e}"));
            match obj.keys().find(|k| alone(k)) {
                Some(unknown) => err.with_field(unknown.clone()),
                None => err,
            }
        })
    }
}

/// A setting's value as given, read as what it must be. What cannot be read as that is kept as
/// `Invalid` rather than failing the whole object, so [`Config::parse`] can refuse it with the
/// key's name and the reason (serde's own errors do not name the key).
#[derive(Debug, Clone, Default, PartialEq)]
enum Given<T> {
    /// Absent, `null`, or (for text) blank.
    #[default]
    Absent,
    Is(T),
    Invalid,
}

/// How a setting's type is read from the JSON value given.
trait Lenient: Sized {
    fn read(v: &Value) -> Given<Self>;
}

impl<'de, T: Lenient> Deserialize<'de> for Given<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Value::deserialize(d).map(|v| match v {
            Value::Null => Given::Absent,
            v => T::read(&v),
        })
    }
}

impl<T: Lenient> Given<T> {
    /// The setting at `key` of a raw settings object (for the few read without [`Settings`]).
    fn at(obj: &Map<String, Value>, key: &str) -> Self {
        match obj.get(key) {
            None | Some(Value::Null) => Given::Absent,
            Some(v) => T::read(v),
        }
    }
}

/// Text, trimmed; a number is taken as its text. Blank text is absent.
impl Lenient for String {
    fn read(v: &Value) -> Given<String> {
        match v {
            Value::String(s) if s.trim().is_empty() => Given::Absent,
            Value::String(s) => Given::Is(s.trim().to_string()),
            Value::Number(n) => Given::Is(n.to_string()),
            _ => Given::Invalid,
        }
    }
}

/// As text: stray whitespace from copy-paste is removed, the inner content is kept.
impl Lenient for Secret {
    fn read(v: &Value) -> Given<Secret> {
        match String::read(v) {
            Given::Is(s) => Given::Is(Secret::new(s)),
            Given::Absent => Given::Absent,
            Given::Invalid => Given::Invalid,
        }
    }
}

/// `true`/`false`, or the text `true`, `1`, `yes`, `false`, `0`, `no` (blank is `false`).
impl Lenient for bool {
    fn read(v: &Value) -> Given<bool> {
        match v {
            Value::Bool(b) => Given::Is(*b),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Given::Is(true),
                "false" | "0" | "no" | "" => Given::Is(false),
                _ => Given::Invalid,
            },
            _ => Given::Invalid,
        }
    }
}

/// A whole number, or its text. Whole numbers only: secrets arrive as strings.
impl Lenient for u64 {
    fn read(v: &Value) -> Given<u64> {
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        n.map_or(Given::Invalid, Given::Is)
    }
}

/// Host names, lower-case: a list, or one text with commas between them.
#[derive(Debug, Clone, PartialEq)]
struct HostList(Vec<String>);

impl Lenient for HostList {
    fn read(v: &Value) -> Given<HostList> {
        let hosts = match v {
            Value::String(s) => s.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect(),
            Value::Array(a) => match a.iter().map(|v| v.as_str().map(|s| s.trim().to_ascii_lowercase())).collect() {
                Some(hosts) => hosts,
                None => return Given::Invalid,
            },
            _ => return Given::Invalid,
        };
        Given::Is(HostList(hosts))
    }
}

/// The checks of one setting, each naming its key in the error.
impl<T> Given<T> {
    fn value(self, key: &str, what: &str) -> Result<Option<T>> {
        match self {
            Given::Absent => Ok(None),
            Given::Is(v) => Ok(Some(v)),
            Given::Invalid => Err(invalid(key, what)),
        }
    }
}

impl Given<String> {
    fn text(self, key: &str) -> Result<Option<String>> {
        self.value(key, "must be a string")
    }
    fn required(self, key: &str, why: &str) -> Result<String> {
        self.text(key)?.ok_or_else(|| missing(key, why))
    }
}

impl Given<Secret> {
    fn secret(self, key: &str) -> Result<Option<Secret>> {
        self.value(key, "must be a string")
    }
    fn required(self, key: &str, why: &str) -> Result<Secret> {
        self.secret(key)?.ok_or_else(|| missing(key, why))
    }
}

impl Given<bool> {
    fn flag(self, key: &str, default: bool) -> Result<bool> {
        Ok(self.value(key, "must be true or false")?.unwrap_or(default))
    }
}

impl Given<u64> {
    fn number(self, key: &str, default: u64, min: u64, max: u64) -> Result<u64> {
        let what = || format!("must be a whole number from {min} to {max}");
        match self.value(key, &what())?.unwrap_or(default) {
            n if (min..=max).contains(&n) => Ok(n),
            _ => Err(invalid(key, &what())),
        }
    }
}

fn missing(key: &str, why: &str) -> RuleError {
    RuleError::new(ErrorCode::ConfigMissing, format!("{key} is required {why}")).with_field(key)
}

/// A settings object read from its JSON text (`configure()`'s and each call's config, as
/// `JSON.stringify` writes it). A `serde_json::Map` keeps its keys sorted, so a `mapping` object
/// is kept as its JSON text with the fields in the order written — the form `SALESFORCE_MAPPING`
/// has — and stays so through `configure()` merging and the config caches; [`Config::parse`]
/// reads it in that order. Read with serde_json only (the mapping is taken as a [`RawValue`]).
#[derive(Debug)]
pub struct SettingsText(Map<String, Value>);

impl SettingsText {
    /// The settings map, `mapping` as above.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

impl<'de> Deserialize<'de> for SettingsText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = SettingsText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a settings object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<SettingsText, A::Error> {
                let mut out = Map::new();
                while let Some(key) = a.next_key::<String>()? {
                    let value = if key == "mapping" {
                        mapping_value(&a.next_value::<Box<RawValue>>()?).map_err(serde::de::Error::custom)?
                    } else {
                        a.next_value::<Value>()?
                    };
                    out.insert(key, value);
                }
                Ok(SettingsText(out))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// A `mapping` given as JSON: an object as its JSON text (fields in the order written), any
/// other value (a preset name, JSON text, or something [`Config::parse`] refuses with its
/// message) as read.
pub fn mapping_value(raw: &RawValue) -> serde_json::Result<Value> {
    let text = raw.get();
    if text.trim_start().starts_with('{') {
        Ok(Value::String(text.to_string()))
    } else {
        serde_json::from_str(text)
    }
}

/// Turn host secrets (`SALESFORCE_CLIENT_ID`, `MY_SLACK_WEBHOOK_URL`, …) into config keys, laid
/// over `base`. Unknown secret names are ignored: hosts keep unrelated secrets in the same place.
pub fn merge_secrets(base: &Map<String, Value>, secrets: &Map<String, Value>) -> Map<String, Value> {
    // Secrets win over `base`; among aliases the first listed (our name) wins.
    let mut out = base.clone();
    let mut from_secret: Vec<&str> = Vec::new();
    for (name, key) in SECRET_ALIASES {
        match secrets.get(*name) {
            Some(v) if !is_blank(v) && !from_secret.contains(key) => {
                out.insert((*key).to_string(), v.clone());
                from_secret.push(key);
            }
            _ => {}
        }
    }
    out
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn invalid(key: &str, what: &str) -> RuleError {
    RuleError::new(ErrorCode::ConfigInvalid, format!("{key} {what}")).with_field(key)
}

/// The last settings object parsed and what it gave. Hosts pass the same settings on every
/// login, so a warm call skips parsing them (and compiling the mapping) again; the key is the
/// object's JSON text, so any change of any value is a miss. Only successes are kept. That text
/// holds the settings' secrets in the clear, so `Debug` never shows it.
#[derive(Default)]
pub struct ParseCache<T> {
    last: Option<(String, T)>,
}

impl<T> std::fmt::Debug for ParseCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParseCache").field("cached", &self.last.is_some()).finish()
    }
}

impl<T: Clone> ParseCache<T> {
    /// An empty cache.
    pub const fn new() -> Self {
        ParseCache { last: None }
    }
    /// `parse(obj)`, or a copy of its earlier result for an equal `obj`.
    pub fn get_or_parse(
        &mut self,
        obj: &Map<String, Value>,
        parse: impl FnOnce(&Map<String, Value>) -> Result<T>,
    ) -> Result<T> {
        // Infallible: the keys are strings.
        let key = serde_json::to_string(obj).unwrap_or_default();
        if let Some((k, v)) = &self.last {
            if *k == key {
                return Ok(v.clone());
            }
        }
        let v = parse(obj)?;
        self.last = Some((key, v.clone()));
        Ok(v)
    }
}

impl Config {
    /// Parse a configuration object. Errors are `CONFIG_INVALID`, `CONFIG_MISSING`,
    /// `MAPPING_INVALID` or `INSECURE_URL`, each naming the key to fix.
    pub fn parse(obj: &Map<String, Value>) -> Result<Config> {
        Config::from_settings(Settings::from_map(obj)?)
    }

    /// Check and complete settings as read.
    pub fn from_settings(s: Settings) -> Result<Config> {
        let object = parse_object(s.object.clone())?;
        let (mapping, mapping_name) = parse_mapping(s.mapping.as_ref())?;

        let login_url = s.login_url.clone().text("loginUrl")?.unwrap_or_else(|| DEFAULT_LOGIN_URL.to_string());
        let login = checked_url("loginUrl", &login_url)?;
        let login_host = login.host().to_string();
        let login_url = login.base().map_err(|why| url_refused("loginUrl", why))?;
        let api_version = match s.api_version.clone().text("apiVersion")? {
            None => DEFAULT_API_VERSION.to_string(),
            Some(v) => parse_api_version(&v)?,
        };
        let grant = parse_grant(&s)?;
        let slack_webhook_url = match s.slack_webhook_url.secret("slackWebhookUrl")? {
            None => None,
            // Kept as a secret (it is a credential), as the URL `fetch` reads it.
            Some(url) => Some(Secret::new(check_url("slackWebhookUrl", url.expose(), false)?)),
        };
        let external_id_field = s.external_id_field.text("externalIdField")?;
        if let Some(f) = &external_id_field {
            if !is_api_name(f) {
                return Err(invalid("externalIdField", "must be a Salesforce field API name such as Auth0_User_Id__c"));
            }
        }
        let allowed_instance_hosts =
            s.allowed_instance_hosts.value("allowedInstanceHosts", "must be a list of host names")?.map(|h| h.0);
        // Every credential given, whether the chosen grant uses it or not.
        let other_secrets =
            [s.client_secret, s.password, s.security_token, s.private_key, s.refresh_token, s.access_token]
                .into_iter()
                .filter_map(|g| match g {
                    Given::Is(secret) => Some(secret),
                    _ => None,
                })
                .collect();
        Ok(Config {
            object,
            mapping: std::rc::Rc::new(mapping),
            mapping_name,
            login_url,
            login_host,
            api_version,
            grant,
            slack_webhook_url,
            external_id_field,
            external_id_source: s.external_id_source.text("externalIdSource")?.unwrap_or_else(|| "user_id".to_string()),
            dedupe_by_email: s.dedupe_by_email.flag("dedupeByEmail", false)?,
            recreate_deleted: s.recreate_deleted.flag("recreateDeleted", false)?,
            auto_assign: s.auto_assign.text("autoAssign")?.map(|v| header_value("autoAssign", v)).transpose()?,
            deadline_ms: s.deadline_ms.number("deadlineMs", DEFAULT_DEADLINE_MS, 100, 120_000)?,
            request_timeout_ms: s.request_timeout_ms.number(
                "requestTimeoutMs",
                DEFAULT_REQUEST_TIMEOUT_MS,
                50,
                120_000,
            )?,
            max_retries: s.max_retries.number("maxRetries", DEFAULT_MAX_RETRIES as u64, 0, 10)? as u32,
            token_ttl_ms: s.token_ttl_ms.number("tokenTtlMs", DEFAULT_TOKEN_TTL_MS, 0, 24 * 3600 * 1000)?,
            allowed_instance_hosts: allowed_instance_hosts.unwrap_or_default(),
            notify_on_success: s.notify_on_success.flag("notifyOnSuccess", true)?,
            notify_on_failure: s.notify_on_failure.flag("notifyOnFailure", true)?,
            webhook_secret: s.webhook_secret.secret("webhookSecret")?,
            other_secrets,
            bulk_threshold: s.bulk_threshold.number("bulkThreshold", DEFAULT_BULK_THRESHOLD, 0, 1_000_000_000)?,
            batch_window_ms: s.batch_window_ms.number("batchWindowMs", 0, 0, 60_000)?,
        })
    }

    /// Only the parts needed to build a record (for `buildLead`): no credentials required, and
    /// other keys are not looked at.
    pub fn parse_mapping_only(obj: &Map<String, Value>) -> Result<(SObject, Mapping)> {
        let object = parse_object(Given::at(obj, "object"))?;
        Ok((object, parse_mapping(obj.get("mapping"))?.0))
    }

    /// Every secret value in this config, for scrubbing text that came from outside.
    pub fn secrets(&self) -> Vec<&Secret> {
        let mut out: Vec<&Secret> = Vec::new();
        match &self.grant {
            TokenGrant::Password { client_secret, password, .. } => out.extend([client_secret, password]),
            TokenGrant::ClientCredentials { client_secret, .. } => out.push(client_secret),
            TokenGrant::JwtBearer { private_key, .. } => out.push(private_key),
            TokenGrant::RefreshToken { client_secret, refresh_token, .. } => {
                out.push(refresh_token);
                out.extend(client_secret.iter());
            }
            TokenGrant::AccessToken { access_token, .. } => out.push(access_token),
        }
        out.extend(self.slack_webhook_url.iter());
        out.extend(self.webhook_secret.iter());
        out.extend(self.other_secrets.iter());
        out
    }
}

/// Refuse keys `Config::parse` does not know, so a typo surfaces instead of being ignored.
pub fn check_keys(obj: &Map<String, Value>) -> Result<()> {
    Settings::from_map(obj).map(drop)
}

fn parse_object(given: Given<String>) -> Result<SObject> {
    match given.text("object")?.as_deref() {
        None => Ok(SObject::Lead),
        Some(s) => SObject::from_name(s).ok_or_else(|| invalid("object", "must be \"Lead\" or \"Contact\"")),
    }
}

fn parse_mapping(v: Option<&Value>) -> Result<(Mapping, String)> {
    match v {
        None | Some(Value::Null) => preset("recommended"),
        // JSON text (`SALESFORCE_MAPPING`, or an object read by `SettingsText`): its fields in
        // the order written.
        Some(Value::String(s)) if s.trim_start().starts_with('{') => {
            let source: MappingSource = serde_json::from_str(s).map_err(|e| {
                RuleError::new(ErrorCode::MappingInvalid, format!("mapping is not valid JSON: {e}"))
                    .with_field("mapping")
            })?;
            Ok((Mapping::parse(&source)?, "custom".to_string()))
        }
        Some(Value::String(s)) => preset(s.trim()),
        // A `serde_json::Map`: its fields in key order (the order written is gone by now).
        Some(Value::Object(m)) => Ok((Mapping::parse(&m.into())?, "custom".to_string())),
        Some(_) => Err(RuleError::new(
            ErrorCode::MappingInvalid,
            "mapping must be a preset name or an object of field → expression",
        )
        .with_field("mapping")),
    }
}

fn preset(name: &str) -> Result<(Mapping, String)> {
    Mapping::preset(name).map(|m| (m, name.to_string())).ok_or_else(|| {
        RuleError::new(
            ErrorCode::MappingInvalid,
            format!("unknown mapping preset '{name}'; presets: {}", Mapping::PRESETS.join(", ")),
        )
        .with_field("mapping")
    })
}

fn parse_grant(s: &Settings) -> Result<TokenGrant> {
    // Whether a credential is given; one of the wrong type is refused here already.
    let given = |g: &Given<Secret>, key: &str| g.clone().secret(key).map(|v| v.is_some());
    let explicit = s.grant.clone().text("grant")?;
    let chosen = match explicit.as_deref() {
        Some(g) => g.to_ascii_lowercase().replace('-', "_"),
        None if given(&s.access_token, "accessToken")? => "access_token".into(),
        None if given(&s.private_key, "privateKey")? => "jwt_bearer".into(),
        None if given(&s.refresh_token, "refreshToken")? => "refresh_token".into(),
        None if s.username.clone().text("username")?.is_some() => "password".into(),
        None => "client_credentials".into(),
    };
    let client_id = |why| s.client_id.clone().required("clientId", why);
    Ok(match chosen.as_str() {
        "password" => {
            let why = "for the password grant";
            let mut password = s.password.clone().required("password", why)?.expose().to_string();
            if let Some(token) = s.security_token.clone().secret("securityToken")? {
                password.push_str(token.expose());
            }
            TokenGrant::Password {
                client_id: client_id(why)?,
                client_secret: s.client_secret.clone().required("clientSecret", why)?,
                username: s.username.clone().required("username", why)?,
                password: Secret::new(password),
            }
        }
        "client_credentials" => {
            let why = "for the client_credentials grant (set username and password to use the password grant instead)";
            TokenGrant::ClientCredentials {
                client_id: client_id(why)?,
                client_secret: s.client_secret.clone().required("clientSecret", why)?,
            }
        }
        "jwt_bearer" | "jwt" => {
            let why = "for the JWT bearer grant";
            let key = s.private_key.clone().required("privateKey", why)?;
            if !key.expose().contains("-----BEGIN PRIVATE KEY-----") {
                return Err(RuleError::new(
                    ErrorCode::ConfigInvalid,
                    "privateKey must be a PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----); convert an RSA key with `openssl pkcs8 -topk8 -nocrypt`",
                )
                .with_field("privateKey"));
            }
            TokenGrant::JwtBearer {
                client_id: client_id(why)?,
                username: s.username.clone().required("username", why)?,
                private_key: key,
            }
        }
        "refresh_token" => {
            let why = "for the refresh_token grant";
            TokenGrant::RefreshToken {
                client_id: client_id(why)?,
                client_secret: s.client_secret.clone().secret("clientSecret")?,
                refresh_token: s.refresh_token.clone().required("refreshToken", why)?,
            }
        }
        "access_token" => {
            let why = "when using a pre-issued access token";
            let instance_url = s.instance_url.clone().required("instanceUrl", why)?;
            let access_token = s.access_token.clone().required("accessToken", why)?;
            TokenGrant::AccessToken {
                access_token: Secret::new(header_value("accessToken", access_token.expose().to_string())?),
                instance_url: check_url("instanceUrl", &instance_url, true)?,
            }
        }
        other => {
            return Err(invalid(
                "grant",
                &format!(
                "'{other}' is not a grant; use password, client_credentials, jwt_bearer, refresh_token or access_token"
            ),
            ))
        }
    })
}

/// A configured value that goes into an HTTP header: CR/LF would let it add headers of its own,
/// so it is refused when the configuration is read, before anything is sent.
fn header_value(key: &str, value: String) -> Result<String> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(RuleError::new(
            ErrorCode::HeaderInvalid,
            format!("{key} must not contain line breaks (it is sent as an HTTP header)"),
        )
        .with_field(key));
    }
    Ok(value)
}

fn parse_api_version(v: &str) -> Result<String> {
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
fn checked_url(key: &str, url: &str) -> Result<WebUrl> {
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

fn url_refused(key: &str, why: UrlRefusal) -> RuleError {
    RuleError::new(ErrorCode::ConfigInvalid, format!("{key} {}", why.reason())).with_field(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn parse_cache_reuses_only_an_equal_object() {
        let mut cache = ParseCache::new();
        let mut calls = 0;
        let a = json!({ "clientId": "id", "clientSecret": "s3cr3t", "mapping": "recommended" });
        let a = a.as_object().expect("object");
        let mut count = |m: &Map<String, Value>| {
            calls += 1;
            Config::parse(m)
        };
        let first = cache.get_or_parse(a, &mut count).expect("valid");
        assert_eq!(cache.get_or_parse(a, &mut count).expect("valid"), first);
        let b = json!({ "clientId": "id", "clientSecret": "s3cr3t", "mapping": "auth0-template" });
        let second = cache.get_or_parse(b.as_object().expect("object"), &mut count).expect("valid");
        assert_ne!(second.mapping_name, first.mapping_name);
        // Errors are not kept: a bad object is parsed (and refused) every time.
        let bad = json!({ "clientId": 5 });
        assert!(cache.get_or_parse(bad.as_object().expect("object"), &mut count).is_err());
        assert!(cache.get_or_parse(bad.as_object().expect("object"), &mut count).is_err());
        assert_eq!(calls, 4);
        // The key is the settings' text, secrets included: it never shows.
        assert!(!format!("{cache:?}").contains("s3cr3t"), "{cache:?}");
    }

    #[test]
    fn chooses_client_credentials_without_username() {
        let c = Config::parse(&obj(
            json!({"clientId":"id","clientSecret":"s","loginUrl":"https://acme.my.salesforce.com/"}),
        ))
        .unwrap();
        assert_eq!(c.grant.name(), "client_credentials");
        assert_eq!(c.login_url, "https://acme.my.salesforce.com");
        assert_eq!(c.api_version, "66.0");
        assert_eq!(c.mapping_name, "recommended");
        assert_eq!(c.deadline_ms, 5000);
    }

    #[test]
    fn password_grant_appends_security_token() {
        let c = Config::parse(&obj(
            json!({"clientId":"id","clientSecret":"s","username":"u@x","password":"pw","securityToken":"TOK"}),
        ))
        .unwrap();
        match c.grant {
            TokenGrant::Password { password, .. } => assert_eq!(password.expose(), "pwTOK"),
            g => panic!("{g:?}"),
        }
    }

    #[test]
    fn secrets_from_auth0_docs_names_and_ours() {
        let merged = merge_secrets(
            &Map::new(),
            &obj(
                json!({"SFCOM_CLIENT_ID":"a","SALESFORCE_CLIENT_SECRET":"b","USERNAME":"u","PASSWORD":"p","MY_SLACK_WEBHOOK_URL":"https://hooks.slack.com/services/T/B/X","OTHER":"x"}),
            ),
        );
        let c = Config::parse(&merged).unwrap();
        assert_eq!(c.grant.name(), "password");
        assert!(c.slack_webhook_url.is_some());
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::parse(&obj(json!({"clientId":"id"}))).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ConfigMissing, Some("clientSecret")));
        let e =
            Config::parse(&obj(json!({"clientId":"id","clientSecret":"s","loginUrl":"http://login.salesforce.com"})))
                .unwrap_err();
        assert_eq!(e.code, ErrorCode::InsecureUrl);
        let e = Config::parse(&obj(json!({"clientId":"id","clientSecret":"s","apiVersion":"20"}))).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("apiVersion"));
        let e = Config::parse(&obj(json!({"clientid":"id"}))).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalid);
        let e = Config::parse(&obj(
            json!({"clientId":"id","clientSecret":"s","slackWebhookUrl":"http://hooks.slack.com/services/SECRET"}),
        ))
        .unwrap_err();
        assert!(!e.message.contains("SECRET"));
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let e = Config::parse(&obj(json!({"clientId":"id","clientSecret":"s","clientid":"x"}))).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ConfigInvalid, Some("clientid")));
        assert!(
            e.message.starts_with("configuration: unknown field `clientid`, expected one of `object`, `mapping`"),
            "{}",
            e.message
        );
        assert!(e.message.contains("`clientId`") && e.message.contains("`bulkThreshold`"), "{}", e.message);
        assert_eq!(check_keys(&obj(json!({"mapping": "recommended", "deadlineMs": "x"}))), Ok(()));
        assert_eq!(check_keys(&obj(json!({"LoginUrl": "x"}))).unwrap_err().field.as_deref(), Some("LoginUrl"));
        // `buildLead` reads only the object and the mapping.
        assert!(Config::parse_mapping_only(&obj(json!({"object": "Contact", "other": 1}))).is_ok());
    }

    #[test]
    fn settings_are_read_as_hosts_give_them() {
        // A secret store holds text: flags, numbers and host lists arrive as strings.
        let c = Config::parse(&obj(json!({"clientId": 42, "clientSecret": " s ", "dedupeByEmail": "YES",
            "recreateDeleted": "", "notifyOnSuccess": "0", "deadlineMs": " 9000 ", "maxRetries": 3,
            "allowedInstanceHosts": " A.example.com, .B.example ,", "mapping": null, "object": "contact"})))
        .unwrap();
        assert_eq!(c.grant, TokenGrant::ClientCredentials { client_id: "42".into(), client_secret: Secret::new("s") });
        assert!(c.dedupe_by_email && !c.recreate_deleted && !c.notify_on_success && c.notify_on_failure);
        assert_eq!((c.deadline_ms, c.max_retries, c.object), (9000, 3, SObject::Contact));
        assert_eq!(c.allowed_instance_hosts, ["a.example.com", ".b.example"]);
        assert_eq!(c.mapping_name, "recommended");
        let hosts =
            |v: Value| Config::parse(&obj(json!({"clientId": "c", "clientSecret": "s", "allowedInstanceHosts": v})));
        assert_eq!(hosts(json!([" X.example "])).unwrap().allowed_instance_hosts, ["x.example"]);
        // A value of the wrong kind is refused naming its key, with what it must be.
        for (settings, key, message) in [
            (json!({"clientId": true, "clientSecret": "s"}), "clientId", "clientId must be a string"),
            (json!({"clientId": "c", "clientSecret": ["s"]}), "clientSecret", "clientSecret must be a string"),
            (
                json!({"clientId": "c", "clientSecret": "s", "dedupeByEmail": "maybe"}),
                "dedupeByEmail",
                "dedupeByEmail must be true or false",
            ),
            (
                json!({"clientId": "c", "clientSecret": "s", "deadlineMs": 5.5}),
                "deadlineMs",
                "deadlineMs must be a whole number from 100 to 120000",
            ),
            (
                json!({"clientId": "c", "clientSecret": "s", "deadlineMs": "99"}),
                "deadlineMs",
                "deadlineMs must be a whole number from 100 to 120000",
            ),
            (
                json!({"clientId": "c", "clientSecret": "s", "allowedInstanceHosts": [1]}),
                "allowedInstanceHosts",
                "allowedInstanceHosts must be a list of host names",
            ),
            (
                json!({"clientId": "c", "clientSecret": "s", "accessToken": {}}),
                "accessToken",
                "accessToken must be a string",
            ),
            (
                json!({"clientId": "c", "clientSecret": "s", "object": "Account"}),
                "object",
                "object must be \"Lead\" or \"Contact\"",
            ),
        ] {
            let e = Config::parse(&obj(settings)).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_deref(), e.message.as_str()),
                (ErrorCode::ConfigInvalid, Some(key), message)
            );
        }
    }

    #[test]
    fn settings_never_show_their_secrets() {
        let m = obj(
            json!({"clientId": "id", "clientSecret": "cs-9f8e7d", "password": "pw-1a2b3c", "accessToken": "tok-4d5e6f",
            "slackWebhookUrl": "https://hooks.slack.com/services/T/B/hook-7g8h9i"}),
        );
        let shown = format!("{:?} {:?}", Settings::from_map(&m).unwrap(), Config::parse(&m));
        for secret in ["cs-9f8e7d", "pw-1a2b3c", "tok-4d5e6f", "hook-7g8h9i"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("clientId") || shown.contains("client_id"));
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
    fn cache_identity_names_the_grant_and_whose_token() {
        let id = |v: Value| Config::parse(&obj(v)).unwrap().grant.cache_identity();
        assert_eq!(id(json!({"clientId":"c","clientSecret":"s"})), "client_credentials:c");
        assert_eq!(id(json!({"clientId":"c","clientSecret":"s","username":"u","password":"p"})), "password:c:u");
        assert_eq!(id(json!({"clientId":"c","refreshToken":"r"})), "refresh_token:c");
        assert_eq!(
            id(json!({"accessToken":"t","instanceUrl":"https://a.my.salesforce.com"})),
            "access_token:https://a.my.salesforce.com"
        );
        let c = Config::parse(&obj(json!({"clientId":"c","clientSecret":"s"}))).unwrap();
        assert!(crate::core::flow::cache_identity(&c).starts_with("client_credentials:c@https://login.salesforce.com#"));
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
