//! The config argument of an entry point: besides the settings, a `host` key (which event shape
//! to read) and a `secrets` object (e.g. `process.env`), both split off before the settings are
//! read.

use super::{check_keys, merge_secrets, Config};
use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::mapping::CaseMap;
use crate::core::profile::{host_from_name, Host};
use serde_json::{Map, Value};

/// An entry point's settings: `base` (from `configure()`), the config argument's own keys over
/// it, and its `secrets` (e.g. `process.env`: `SALESFORCE_CLIENT_ID`, …) over both; with the host
/// the argument names.
pub fn settings_over(base: &Map<String, Value>, mut given: Map<String, Value>) -> Result<(Host, Map<String, Value>)> {
    let secrets = take_secrets(&mut given)?;
    let mut merged = base.clone();
    merged.extend(given);
    let (host, cfg) = split_host(merged)?;
    Ok((host, merge_secrets(&cfg, &secrets)))
}

/// What `configure()` keeps as the base of every call: the settings with their `secrets` laid
/// over, the host key dropped (each call names its own), checked as far as they can be without
/// credentials so that mistakes surface at load time. `case` is the mapping's case mapping.
pub fn base_settings(mut given: Map<String, Value>, case: CaseMap) -> Result<Map<String, Value>> {
    let secrets = take_secrets(&mut given)?;
    let (_, cfg) = split_host(given)?;
    let merged = merge_secrets(&cfg, &secrets);
    check_keys(&merged)?;
    Config::parse_mapping_only(&merged, case)?;
    Ok(merged)
}

/// Split the `host` key off a config object (it chooses the event shape, not a Salesforce
/// setting); absent, it is [`Host::Generic`].
pub fn split_host(mut cfg: Map<String, Value>) -> Result<(Host, Map<String, Value>)> {
    let host = match cfg.remove("host") {
        None | Some(Value::Null) => Host::Generic,
        Some(Value::String(s)) => host_from_name(&s).ok_or_else(|| {
            RuleError::new(
                ErrorCode::ConfigInvalid,
                format!(
                    "host '{s}' is not known; use auth0, auth0-rule, ory, firebase, cognito, clerk, okta, auth0-events, authentik or generic"
                ),
            )
            .with_field("host")
        })?,
        Some(_) => return Err(RuleError::new(ErrorCode::ConfigInvalid, "host must be a string").with_field("host")),
    };
    Ok((host, cfg))
}

/// Remove and return the `secrets` object (e.g. `process.env`) of a config.
pub fn take_secrets(cfg: &mut Map<String, Value>) -> Result<Map<String, Value>> {
    match cfg.remove("secrets") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(RuleError::new(ErrorCode::ConfigInvalid, "secrets must be an object such as process.env")
            .with_field("secrets")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_host_key_is_split_off_and_named_when_unknown() {
        let (host, rest) = split_host(obj(json!({ "host": "Firebase", "clientId": "c" }))).unwrap();
        assert_eq!((host, rest), (Host::Firebase, obj(json!({ "clientId": "c" }))));
        assert_eq!(split_host(obj(json!({ "host": null }))).unwrap().0, Host::Generic);
        assert_eq!(split_host(Map::new()).unwrap().0, Host::Generic);
        let e = split_host(obj(json!({ "host": "myspace" }))).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ConfigInvalid, Some("host")));
        assert!(e.message.contains("'myspace' is not known"), "{}", e.message);
        let e = split_host(obj(json!({ "host": 5 }))).unwrap_err();
        assert_eq!((e.message.as_str(), e.field.as_deref()), ("host must be a string", Some("host")));
    }

    #[test]
    fn secrets_must_be_an_object_and_are_taken_out() {
        let mut cfg = obj(json!({ "secrets": { "SALESFORCE_CLIENT_ID": "c" }, "object": "Lead" }));
        assert_eq!(take_secrets(&mut cfg).unwrap(), obj(json!({ "SALESFORCE_CLIENT_ID": "c" })));
        assert_eq!(cfg, obj(json!({ "object": "Lead" })));
        assert_eq!(take_secrets(&mut cfg).unwrap(), Map::new());
        let e = take_secrets(&mut obj(json!({ "secrets": "x" }))).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ConfigInvalid, Some("secrets")));
    }

    #[test]
    fn secrets_win_over_the_argument_which_wins_over_the_base() {
        let base = obj(json!({ "clientId": "base", "loginUrl": "https://test.salesforce.com", "object": "Lead" }));
        let given = obj(json!({
            "host": "ory", "clientId": "arg", "object": "Contact", "secrets": { "SALESFORCE_CLIENT_ID": "env" },
        }));
        let (host, cfg) = settings_over(&base, given).unwrap();
        assert_eq!(host, Host::Ory);
        assert_eq!(cfg["clientId"], "env");
        assert_eq!(
            (cfg["object"].as_str(), cfg["loginUrl"].as_str()),
            (Some("Contact"), Some("https://test.salesforce.com"))
        );
        assert!(!cfg.contains_key("host") && !cfg.contains_key("secrets"));
        let e = settings_over(&base, obj(json!({ "secrets": 1 }))).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("secrets"));
        assert_eq!(settings_over(&base, obj(json!({ "host": "x" }))).unwrap_err().field.as_deref(), Some("host"));
    }

    #[test]
    fn the_base_keeps_no_host_and_is_checked_without_credentials() {
        let given =
            obj(json!({ "host": "clerk", "mapping": "recommended", "secrets": { "SALESFORCE_CLIENT_ID": "c" } }));
        assert_eq!(
            base_settings(given, CaseMap::UNICODE).unwrap(),
            obj(json!({ "mapping": "recommended", "clientId": "c" }))
        );
        let e = base_settings(obj(json!({ "mapping": { "LastName": "(" } })), CaseMap::UNICODE).unwrap_err();
        assert_eq!(e.code, ErrorCode::MappingInvalid);
        assert_eq!(
            base_settings(obj(json!({ "host": 1 })), CaseMap::UNICODE).unwrap_err().field.as_deref(),
            Some("host")
        );
        let unknown = base_settings(obj(json!({ "clientSecert": "s" })), CaseMap::UNICODE).unwrap_err();
        assert_eq!(unknown.code, ErrorCode::ConfigInvalid);
    }
}
