//! The config argument of an entry point: besides the settings, a `host` key (which event shape
//! to read) and a `secrets` object (e.g. `process.env`), both split off before the settings are
//! read.

use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::profile::{host_from_name, Host};
use serde_json::{Map, Value};

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
}
