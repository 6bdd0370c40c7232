//! The built-in mappings, kept as source text so that they are parsed and checked like a
//! customer's.

use super::{CaseMap, Mapping, MappingSource};
use serde_json::Value;

const AUTH0_TEMPLATE: &[(&str, &str)] = &[("LastName", "name"), ("Company", "'Web channel signups'")];

const RECOMMENDED: &[(&str, &str)] = &[
    ("FirstName", "given_name ?? name | notEmail | nameFirst"),
    ("LastName", "family_name ?? name | notEmail | nameLast ?? email | localPart ?? 'Unknown'"),
    ("Email", "email"),
    ("Company", "user_metadata.company ?? app_metadata.company ?? 'Web channel signups'"),
    ("LeadSource", "'Web'"),
    ("Phone", "phone_number"),
];

impl Mapping {
    /// Names accepted by [`Mapping::preset`].
    pub const PRESETS: &'static [&'static str] = &["recommended", "auth0-template"];
    /// Built-in mappings by name (see [`Mapping::PRESETS`]), evaluated with `case`.
    pub fn preset(name: &str, case: CaseMap) -> Option<Mapping> {
        Mapping::parse(&Self::preset_source(name)?, case).ok()
    }

    /// The source of a built-in mapping, as a user would write it.
    pub fn preset_source(name: &str) -> Option<MappingSource> {
        let pairs = match name {
            "recommended" => RECOMMENDED,
            "auth0-template" => AUTH0_TEMPLATE,
            _ => return None,
        };
        Some(pairs.iter().map(|(field, src)| ((*field).to_string(), Value::String((*src).to_string()))).collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::core::mapping::test_support::*;
    use crate::core::mapping::*;
    use serde_json::json;

    #[test]
    fn every_preset_parses() {
        for name in Mapping::PRESETS {
            assert!(Mapping::preset(name, CaseMap::UNICODE).is_some(), "{name}");
        }
        assert_eq!(Mapping::preset("nope", CaseMap::UNICODE), None);
        assert_eq!(Mapping::preset_source("nope"), None);
    }

    #[test]
    fn recommended_splits_a_full_name() {
        let mapping = Mapping::preset("recommended", CaseMap::UNICODE)
            .unwrap_or(Mapping { fields: vec![], case: CaseMap::UNICODE });
        let values = lead(&mapping, json!({ "name": "Jane Q Doe", "email": "jane@acme.com" }));
        assert_eq!(field(&values, "FirstName"), Some("Jane Q"));
        assert_eq!(field(&values, "LastName"), Some("Doe"));
        assert_eq!(field(&values, "Email"), Some("jane@acme.com"));
        assert_eq!(field(&values, "Company"), Some("Web channel signups"));
        assert_eq!(field(&values, "LeadSource"), Some("Web"));
        assert_eq!(field(&values, "Phone"), None);
    }

    #[test]
    fn recommended_never_uses_an_email_as_a_name() {
        let mapping = Mapping::preset("recommended", CaseMap::UNICODE)
            .unwrap_or(Mapping { fields: vec![], case: CaseMap::UNICODE });
        let values = lead(&mapping, json!({ "name": "jane@acme.com", "email": "jane@acme.com" }));
        assert_eq!(field(&values, "FirstName"), None);
        assert_eq!(field(&values, "LastName"), Some("jane"));
    }

    #[test]
    fn recommended_on_an_empty_profile_still_has_the_required_fields() {
        let mapping = Mapping::preset("recommended", CaseMap::UNICODE)
            .unwrap_or(Mapping { fields: vec![], case: CaseMap::UNICODE });
        let values = lead(&mapping, json!({}));
        assert_eq!(field(&values, "LastName"), Some("Unknown"));
        assert_eq!(field(&values, "Company"), Some("Web channel signups"));
        assert_eq!(field(&values, "FirstName"), None);
        assert_eq!(field(&values, "Email"), None);
        assert_eq!(values.len(), 6);
    }

    #[test]
    fn recommended_prefers_the_structured_fields() {
        let mapping = Mapping::preset("recommended", CaseMap::UNICODE)
            .unwrap_or(Mapping { fields: vec![], case: CaseMap::UNICODE });
        let values = lead(
            &mapping,
            json!({
                "name": "Dr. Jane Doe", "given_name": "Jane", "family_name": "Doe-Smith",
                "email": "j@acme.com", "phone_number": "+15550100",
                "user_metadata": { "company": "" }, "app_metadata": { "company": "Acme Inc" }
            }),
        );
        assert_eq!(field(&values, "FirstName"), Some("Jane"));
        assert_eq!(field(&values, "LastName"), Some("Doe-Smith"));
        assert_eq!(field(&values, "Company"), Some("Acme Inc"));
        assert_eq!(field(&values, "Phone"), Some("+15550100"));
        let single = lead(&mapping, json!({ "name": "Cher", "user_metadata": { "company": "Acme" } }));
        assert_eq!(field(&single, "FirstName"), None);
        assert_eq!(field(&single, "LastName"), Some("Cher"));
        assert_eq!(field(&single, "Company"), Some("Acme"));
    }

    #[test]
    fn auth0_template_matches_the_auth0_rule() {
        let mapping = Mapping::preset("auth0-template", CaseMap::UNICODE)
            .unwrap_or(Mapping { fields: vec![], case: CaseMap::UNICODE });
        let values = lead(&mapping, json!({ "name": "Jane Q Doe", "email": "jane@acme.com" }));
        assert_eq!(field(&values, "LastName"), Some("Jane Q Doe"));
        assert_eq!(field(&values, "Company"), Some("Web channel signups"));
        assert_eq!(values.len(), 2);
        assert_eq!(field(&lead(&mapping, json!({})), "LastName"), None);
    }
}
