//! The settings object as given: its keys, the host secret names for them, and each value read
//! leniently (as hosts give them) before [`Config::parse`](super::Config::parse)(super::Config::parse) checks it.

use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::secret::Secret;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

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
    ("AUTH0_EVENTS_AUTHORIZATION", "webhookSecret"),
    ("AUTHENTIK_WEBHOOK_AUTHORIZATION", "webhookSecret"),
    ("OKTA_LEAD_ID_ATTRIBUTE", "oktaLeadIdAttribute"),
    ("MY_SLACK_WEBHOOK_URL", "slackWebhookUrl"),
];

/// The settings object as given: camelCase keys, an unknown key refused (so a typo surfaces
/// instead of being ignored), every setting optional. Values are read leniently, as hosts give
/// them (a secret store holds only text: `"true"`, `"5000"`); [`Config::parse`](super::Config::parse) then checks them
/// and says which key to fix. The credentials are [`Secret`]s from here on.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    pub(super) object: Given<String>,
    /// A preset name, a mapping object, or a mapping object's JSON text.
    pub(super) mapping: Option<Value>,
    pub(super) login_url: Given<String>,
    pub(super) api_version: Given<String>,
    pub(super) grant: Given<String>,
    pub(super) client_id: Given<String>,
    pub(super) client_secret: Given<Secret>,
    pub(super) username: Given<String>,
    pub(super) password: Given<Secret>,
    pub(super) security_token: Given<Secret>,
    pub(super) private_key: Given<Secret>,
    pub(super) refresh_token: Given<Secret>,
    pub(super) access_token: Given<Secret>,
    pub(super) instance_url: Given<String>,
    pub(super) slack_webhook_url: Given<Secret>,
    pub(super) external_id_field: Given<String>,
    pub(super) external_id_source: Given<String>,
    pub(super) dedupe_by_email: Given<bool>,
    pub(super) recreate_deleted: Given<bool>,
    pub(super) auto_assign: Given<String>,
    pub(super) deadline_ms: Given<u64>,
    pub(super) request_timeout_ms: Given<u64>,
    pub(super) max_retries: Given<u64>,
    pub(super) token_ttl_ms: Given<u64>,
    pub(super) allowed_instance_hosts: Given<HostList>,
    pub(super) notify_on_success: Given<bool>,
    pub(super) notify_on_failure: Given<bool>,
    pub(super) webhook_secret: Given<Secret>,
    pub(super) okta_lead_id_attribute: Given<AttributeName>,
    pub(super) bulk_threshold: Given<u64>,
    pub(super) batch_window_ms: Given<u64>,
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
/// `Invalid` rather than failing the whole object, so [`Config::parse`](super::Config::parse) can refuse it with the
/// key's name and the reason (serde's own errors do not name the key).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Given<T> {
    /// Absent, `null`, or (for text) blank.
    #[default]
    Absent,
    Is(T),
    Invalid,
}

/// How a setting's type is read from the JSON value given.
pub(super) trait Lenient: Sized {
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
    pub(super) fn at(obj: &Map<String, Value>, key: &str) -> Self {
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

/// A profile attribute name, or `false` (JSON, or the text) for none.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AttributeName(Option<String>);

impl Lenient for AttributeName {
    fn read(v: &Value) -> Given<AttributeName> {
        match v {
            Value::Bool(false) => Given::Is(AttributeName(None)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Given::Is(AttributeName(None)),
            v => match String::read(v) {
                Given::Is(name) => Given::Is(AttributeName(Some(name))),
                Given::Absent => Given::Absent,
                Given::Invalid => Given::Invalid,
            },
        }
    }
}

/// An Okta profile attribute's variable name: a letter, then letters, digits or `_` (as Okta's
/// Profile Editor allows), at most 100 characters.
pub(super) fn parse_okta_attribute(given: Given<AttributeName>) -> Result<Option<String>> {
    const KEY: &str = "oktaLeadIdAttribute";
    let what = "must be an Okta profile attribute name (a letter, then letters, digits or _) or false";
    match given.value(KEY, what)? {
        None => Ok(Some(super::OKTA_LEAD_ID_ATTRIBUTE.to_string())),
        Some(AttributeName(None)) => Ok(None),
        Some(AttributeName(Some(name))) => {
            let mut chars = name.chars();
            let valid = name.len() <= 100
                && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if valid {
                Ok(Some(name))
            } else {
                Err(invalid(KEY, what))
            }
        }
    }
}

/// Host names, lower-case: a list, or one text with commas between them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HostList(pub(super) Vec<String>);

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
    pub(super) fn value(self, key: &str, what: &str) -> Result<Option<T>> {
        match self {
            Given::Absent => Ok(None),
            Given::Is(v) => Ok(Some(v)),
            Given::Invalid => Err(invalid(key, what)),
        }
    }
}

impl Given<String> {
    pub(super) fn text(self, key: &str) -> Result<Option<String>> {
        self.value(key, "must be a string")
    }
    pub(super) fn required(self, key: &str, why: &str) -> Result<String> {
        self.text(key)?.ok_or_else(|| missing(key, why))
    }
}

impl Given<Secret> {
    pub(super) fn secret(self, key: &str) -> Result<Option<Secret>> {
        self.value(key, "must be a string")
    }
    pub(super) fn required(self, key: &str, why: &str) -> Result<Secret> {
        self.secret(key)?.ok_or_else(|| missing(key, why))
    }
}

impl Given<bool> {
    pub(super) fn flag(self, key: &str, default: bool) -> Result<bool> {
        Ok(self.value(key, "must be true or false")?.unwrap_or(default))
    }
}

impl Given<u64> {
    pub(super) fn number(self, key: &str, default: u64, min: u64, max: u64) -> Result<u64> {
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
/// has — and stays so through `configure()` merging and the config caches; [`Config::parse`](super::Config::parse)
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
/// other value (a preset name, JSON text, or something [`Config::parse`](super::Config::parse) refuses with its
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

pub(super) fn invalid(key: &str, what: &str) -> RuleError {
    RuleError::new(ErrorCode::ConfigInvalid, format!("{key} {what}")).with_field(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{check_keys, Config, TokenGrant};
    use crate::core::mapping::CaseMap;
    use crate::core::record::SObject;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
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
        assert!(Config::parse_mapping_only(&obj(json!({"object": "Contact", "other": 1})), CaseMap::UNICODE).is_ok());
    }

    #[test]
    fn settings_are_read_as_hosts_give_them() {
        // A secret store holds text: flags, numbers and host lists arrive as strings.
        let c = Config::parse(&obj(json!({"clientId": 42, "clientSecret": " s ", "dedupeByEmail": "YES",
            "recreateDeleted": "", "notifyOnSuccess": "0", "deadlineMs": " 9000 ", "maxRetries": 3,
            "allowedInstanceHosts": " A.example.com, .B.example ,", "mapping": null, "object": "contact"})))
        .unwrap();
        assert_eq!(c.grant, TokenGrant::ClientCredentials { client_id: "42".into(), client_secret: Secret::new("s") });
        assert!(c.dedupe_by_email == Some(true) && !c.recreate_deleted && !c.notify_on_success && c.notify_on_failure);
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
}
