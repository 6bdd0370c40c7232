//! The last settings parsed, so a warm call does not parse them again.

use crate::core::error::Result;
use serde_json::{Map, Value};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::Config;
    use serde_json::json;

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
}
