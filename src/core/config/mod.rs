//! `Config`: every setting the rule reads, parsed once from a JSON object (camelCase keys) or from
//! host secrets (`SALESFORCE_CLIENT_ID`, …). Parse, don't validate: after this, URLs are checked,
//! the grant is chosen and the mapping is compiled. Never performs I/O.
//!
//! The parts: `argument` (the `host` and `secrets` keys of an entry point's config), `settings`
//! (the keys as given and read leniently, host secret names, the settings text), `grant` (the
//! token grant chosen), `checks` (URLs, header values, API names and versions) and `cache` (the
//! last settings parsed).

mod argument;
mod cache;
mod checks;
mod grant;
mod settings;

pub use argument::{base_settings, settings_over, split_host, take_secrets};
pub use cache::ParseCache;
pub use checks::{check_url, is_api_name};
pub use grant::TokenGrant;
pub use settings::{mapping_value, merge_secrets, Settings, SettingsText};

use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::mapping::{CaseMap, Mapping, MappingSource};
use crate::core::profile::read_json_as;
use crate::core::record::SObject;
use crate::core::secret::Secret;
use checks::{checked_url, header_value, parse_api_version, url_refused};
use grant::parse_grant;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use settings::{invalid, parse_okta_attribute, Given};

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
    /// Look for an existing record with the same Email before creating one; `None` when not
    /// configured: the entry point decides (webhook hosts look up, login hooks do not).
    pub dedupe_by_email: Option<bool>,
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
    /// Clerk's Svix signing secret (`whsec_…`), Auth0 Event Streams' bearer token or
    /// `user:password`, or the `Authorization` value Ory/Okta/authentik hooks send.
    pub webhook_secret: Option<Secret>,
    /// The Okta profile attribute an Okta registration inline hook answer sets to the Lead id
    /// (`oktaLeadIdAttribute`, default [`OKTA_LEAD_ID_ATTRIBUTE`]); `None` (`false`): no update.
    pub okta_lead_id_attribute: Option<String>,
    /// Every credential given, whether the chosen grant uses it or not: all are masked in text
    /// that came from outside (hosts often keep every SALESFORCE_* secret set).
    pub other_secrets: Vec<Secret>,
    /// Batch backfill in `auto` mode: more records than this go through a Bulk API 2.0 job.
    pub bulk_threshold: u64,
    /// Volume mode: creates of concurrent logins wait up to this long to share one sObject
    /// Collections request (`core::volume`); 0 = off.
    pub batch_window_ms: u64,
}

/// The Okta profile attribute that receives the Lead id when `oktaLeadIdAttribute` is not set: a
/// custom attribute (string) to add in Okta's Profile Editor.
pub const OKTA_LEAD_ID_ATTRIBUTE: &str = "salesforceLeadId";

impl Config {
    /// Parse a configuration object. Errors are `CONFIG_INVALID`, `CONFIG_MISSING`,
    /// `MAPPING_INVALID` or `INSECURE_URL`, each naming the key to fix. The mapping uses Rust's
    /// case mapping; a platform that has its own calls [`Config::parse_with_case`].
    pub fn parse(obj: &Map<String, Value>) -> Result<Config> {
        Config::parse_with_case(obj, CaseMap::UNICODE)
    }

    /// [`Config::parse`] with the platform's case mapping for the mapping's filters.
    pub fn parse_with_case(obj: &Map<String, Value>, case: CaseMap) -> Result<Config> {
        Config::from_settings(Settings::from_map(obj)?, case)
    }

    /// Check and complete settings as read; `case` is the mapping's case mapping.
    pub fn from_settings(s: Settings, case: CaseMap) -> Result<Config> {
        let object = parse_object(s.object.clone())?;
        let (mapping, mapping_name) = parse_mapping(s.mapping.as_ref(), case)?;

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
            dedupe_by_email: s.dedupe_by_email.value("dedupeByEmail", "must be true or false")?,
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
            okta_lead_id_attribute: parse_okta_attribute(s.okta_lead_id_attribute)?,
            other_secrets,
            bulk_threshold: s.bulk_threshold.number("bulkThreshold", DEFAULT_BULK_THRESHOLD, 0, 1_000_000_000)?,
            batch_window_ms: s.batch_window_ms.number("batchWindowMs", 0, 0, 60_000)?,
        })
    }

    /// Only the parts needed to build a record (for `buildLead`): no credentials required, and
    /// other keys are not looked at. `case` is the mapping's case mapping.
    pub fn parse_mapping_only(obj: &Map<String, Value>, case: CaseMap) -> Result<(SObject, Mapping)> {
        let object = parse_object(Given::at(obj, "object"))?;
        Ok((object, parse_mapping(obj.get("mapping"), case)?.0))
    }

    /// Check a mapping alone (`checkMapping`), given as its JSON text (`None`: absent, the
    /// default), an object read with its fields in the order written, so the first bad field
    /// written is the one reported. `case` is the mapping's case mapping.
    pub fn check_mapping(text: Option<&str>, case: CaseMap) -> Result<()> {
        let mapping = match text {
            None => Value::Null,
            Some(text) => mapping_value(&read_json_as::<Box<RawValue>>(text, "mapping")?)
                .map_err(|e| RuleError::new(ErrorCode::ProfileInvalid, format!("mapping: {e}")))?,
        };
        Config::parse_mapping_only(&Map::from_iter([("mapping".to_string(), mapping)]), case).map(drop)
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

fn parse_mapping(v: Option<&Value>, case: CaseMap) -> Result<(Mapping, String)> {
    match v {
        None | Some(Value::Null) => preset("recommended", case),
        // JSON text (`SALESFORCE_MAPPING`, or an object read by `SettingsText`): its fields in
        // the order written.
        Some(Value::String(s)) if s.trim_start().starts_with('{') => {
            let source: MappingSource = serde_json::from_str(s).map_err(|e| {
                RuleError::new(ErrorCode::MappingInvalid, format!("mapping is not valid JSON: {e}"))
                    .with_field("mapping")
            })?;
            Ok((Mapping::parse(&source, case)?, "custom".to_string()))
        }
        Some(Value::String(s)) => preset(s.trim(), case),
        // A `serde_json::Map`: its fields in key order (the order written is gone by now).
        Some(Value::Object(m)) => Ok((Mapping::parse(&m.into(), case)?, "custom".to_string())),
        Some(_) => Err(RuleError::new(
            ErrorCode::MappingInvalid,
            "mapping must be a preset name or an object of field → expression",
        )
        .with_field("mapping")),
    }
}

fn preset(name: &str, case: CaseMap) -> Result<(Mapping, String)> {
    Mapping::preset(name, case).map(|m| (m, name.to_string())).ok_or_else(|| {
        RuleError::new(
            ErrorCode::MappingInvalid,
            format!("unknown mapping preset '{name}'; presets: {}", Mapping::PRESETS.join(", ")),
        )
        .with_field("mapping")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_mapping_is_checked_alone_first_bad_field_as_written() {
        assert!(Config::check_mapping(None, CaseMap::UNICODE).is_ok());
        assert!(Config::check_mapping(Some(r#""recommended""#), CaseMap::UNICODE).is_ok());
        assert!(Config::check_mapping(Some(r#"{"LastName": "family_name"}"#), CaseMap::UNICODE).is_ok());
        let e = Config::check_mapping(Some(r#"{"Zed": "(", "LastName": "name |"}"#), CaseMap::UNICODE).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::MappingInvalid, Some("Zed")));
        let e = Config::check_mapping(Some("{"), CaseMap::UNICODE).unwrap_err();
        assert_eq!(e.code, ErrorCode::ProfileInvalid);
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e = Config::check_mapping(Some(&deep), CaseMap::UNICODE).unwrap_err();
        assert_eq!(e.code, ErrorCode::ProfileInvalid, "{}", e.message);
    }

    #[test]
    fn okta_lead_id_attribute_defaults_and_can_be_turned_off() {
        let with = |v: Value| {
            let mut m = obj(json!({"clientId": "id", "clientSecret": "s"}));
            if !v.is_null() {
                m.insert("oktaLeadIdAttribute".into(), v);
            }
            Config::parse(&m).map(|c| c.okta_lead_id_attribute)
        };
        assert_eq!(with(Value::Null), Ok(Some(OKTA_LEAD_ID_ATTRIBUTE.into())));
        assert_eq!(with(json!("  ")), Ok(Some("salesforceLeadId".into())));
        assert_eq!(with(json!("crm_LeadId2")), Ok(Some("crm_LeadId2".into())));
        assert_eq!(with(json!(false)), Ok(None));
        assert_eq!(with(json!(" FALSE ")), Ok(None), "a secret store holds text");
        for bad in [json!("2lead"), json!("lead-id"), json!("lead id"), json!("é"), json!(true), json!("x".repeat(101))]
        {
            let e = with(bad.clone()).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ConfigInvalid, Some("oktaLeadIdAttribute")), "{bad}");
        }
        let secrets = merge_secrets(
            &Map::new(),
            &obj(
                json!({"OKTA_LEAD_ID_ATTRIBUTE": "crmLead", "AUTH0_EVENTS_AUTHORIZATION": "u:p", "AUTHENTIK_WEBHOOK_AUTHORIZATION": "k"}),
            ),
        );
        assert_eq!(secrets.get("oktaLeadIdAttribute"), Some(&json!("crmLead")));
        assert!(secrets.get("webhookSecret").is_some());
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
}
