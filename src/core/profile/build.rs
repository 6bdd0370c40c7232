//! The profile under construction: typed setters that leave absent values out, and the checks and
//! defaults every host's profile gets at the end.

use super::Host;
use crate::core::error::{ErrorCode, Result, RuleError};
use serde_json::{Map, Value};

/// Collects profile keys, skipping absent values, so no `null` ever reaches the output.
#[derive(Default)]
pub(super) struct ProfileBuilder {
    fields: Map<String, Value>,
}

impl ProfileBuilder {
    /// Sets `key` when there is a value (replacing an earlier source's); `None` changes nothing.
    pub(super) fn text(&mut self, key: &str, value: Option<String>) {
        if let Some(value) = value {
            self.fields.insert(key.into(), Value::String(value));
        }
    }

    pub(super) fn flag(&mut self, key: &str, value: Option<bool>) {
        if let Some(value) = value {
            self.fields.insert(key.into(), Value::Bool(value));
        }
    }

    pub(super) fn count(&mut self, key: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.fields.insert(key.into(), value.into());
        }
    }

    /// Copies an object; anything else (absent, `null`, a string…) leaves the key unset.
    pub(super) fn object(&mut self, key: &str, value: Option<&Value>) {
        if let Some(object) = value.filter(|v| v.is_object()) {
            self.fields.insert(key.into(), object.clone());
        }
    }

    /// `user_id` falls back to the email (hosts such as Okta's inline hook run before an id
    /// exists); with neither, nobody can be recorded.
    pub(super) fn finish(mut self, host: Host) -> Result<Value> {
        if !self.fields.contains_key("user_id") {
            let Some(email) = self.fields.get("email").cloned() else {
                return Err(invalid(format!(
                    "the {} event has no usable user id and no email: cannot tell who signed up",
                    host.name()
                )));
            };
            self.fields.insert("user_id".into(), email);
        }
        self.fields.insert("host".into(), Value::String(host.profile_tag().into()));
        for key in ["app_metadata", "user_metadata"] {
            self.fields.entry(key).or_insert_with(|| Value::Object(Map::new()));
        }
        Ok(Value::Object(self.fields))
    }
}

pub(super) fn invalid(message: String) -> RuleError {
    RuleError::new(ErrorCode::ProfileInvalid, message)
}
