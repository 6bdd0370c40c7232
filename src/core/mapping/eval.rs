//! Evaluation of a parsed expression against a profile: paths, alternatives and the fall-through
//! on missing or blank values. Filters are applied by [`Filter::apply`](super::Filter::apply).

use super::{Alternative, CaseMap, Expr, PathSegment, Term};
use crate::core::text::is_blank;
use serde_json::Value;

impl Expr {
    /// The first alternative's value that is present and not blank; `case` maps letter case.
    pub fn evaluate(&self, profile: &Value, case: &CaseMap) -> Option<String> {
        self.alternatives.iter().filter_map(|alt| alt.evaluate(profile, case)).find(|value| !is_blank(value))
    }
}

impl Alternative {
    /// The term's value after every filter; may be blank (the caller falls through then).
    pub fn evaluate(&self, profile: &Value, case: &CaseMap) -> Option<String> {
        self.filters.iter().fold(self.term.evaluate(profile), |value, filter| filter.apply(value, case))
    }
}

impl Term {
    /// A literal's text, or the scalar a path leads to.
    pub fn evaluate(&self, profile: &Value) -> Option<String> {
        match self {
            Term::Literal(text) => Some(text.clone()),
            Term::Path(segments) => {
                let found = segments.iter().try_fold(profile, |value, segment| match segment {
                    PathSegment::Key(key) => value.as_object()?.get(key),
                    PathSegment::Index(index) => value.as_array()?.get(*index),
                })?;
                match found {
                    Value::String(text) => Some(text.clone()),
                    Value::Number(number) => Some(number.to_string()),
                    Value::Bool(flag) => Some(flag.to_string()),
                    Value::Null | Value::Array(_) | Value::Object(_) => None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mapping::test_support::*;
    use crate::core::mapping::*;
    use serde_json::json;

    // --- paths ---------------------------------------------------------------------------

    #[test]
    fn a_path_reads_a_top_level_or_nested_string() -> Result<()> {
        assert_eq!(eval("email", &profile())?, some("jane.doe@acme.com"));
        assert_eq!(eval("user_metadata.company", &profile())?, some("Acme"));
        assert_eq!(eval("user_metadata.address.city", &profile())?, some("Zürich"));
        Ok(())
    }

    #[test]
    fn numbers_and_booleans_become_their_json_text() -> Result<()> {
        assert_eq!(eval("logins_count", &profile())?, some("1"));
        assert_eq!(eval("score", &profile())?, some("1.5"));
        assert_eq!(eval("email_verified", &profile())?, some("true"));
        assert_eq!(eval("flag", &json!({ "flag": false }))?, some("false"));
        Ok(())
    }

    #[test]
    fn missing_null_objects_lists_and_wrong_types_are_missing() -> Result<()> {
        let p = profile();
        assert_eq!(eval("family_name", &p)?, None);
        assert_eq!(eval("picture", &p)?, None);
        assert_eq!(eval("user_metadata", &p)?, None);
        assert_eq!(eval("user_metadata.empty", &p)?, None);
        assert_eq!(eval("tags", &p)?, None);
        assert_eq!(eval("email.domain", &p)?, None);
        assert_eq!(eval("user_metadata.nothing.deeper", &p)?, None);
        assert_eq!(eval("app_metadata.company", &p)?, None);
        assert_eq!(eval("email", &json!("not an object"))?, None);
        assert_eq!(eval("email", &Value::Null)?, None);
        Ok(())
    }

    #[test]
    fn an_index_reads_a_list_item_and_out_of_range_is_missing() -> Result<()> {
        let p = profile();
        assert_eq!(eval("tags[0]", &p)?, some("a"));
        assert_eq!(eval("tags[1]", &p)?, some("b"));
        assert_eq!(eval("tags[2]", &p)?, None);
        assert_eq!(eval("tags[3]", &p)?, None);
        assert_eq!(eval("identities[0].provider", &p)?, some("google-oauth2"));
        assert_eq!(eval("identities[0].user-id", &p)?, some("g1"));
        assert_eq!(eval("user_metadata[0]", &p)?, None);
        assert_eq!(eval("tags.first", &p)?, None);
        Ok(())
    }

    #[test]
    fn quoted_keys_reach_keys_with_any_characters() -> Result<()> {
        let p = profile();
        assert_eq!(eval(r#"["first name"]"#, &p)?, some("Spacey"));
        assert_eq!(eval("['first name']", &p)?, some("Spacey"));
        assert_eq!(eval(r#"["it's"]"#, &p)?, some("quoted"));
        assert_eq!(eval(r"['it\'s']", &p)?, some("quoted"));
        assert_eq!(eval(r#"user_metadata["company"]"#, &p)?, some("Acme"));
        assert_eq!(eval(r#"identities[0]["user-id"]"#, &p)?, some("g1"));
        assert_eq!(eval(r#"[""]"#, &json!({ "": "empty key" }))?, some("empty key"));
        Ok(())
    }

    #[test]
    fn cognito_custom_attributes_are_plain_keys() -> Result<()> {
        assert_eq!(eval("custom:company", &profile())?, some("Cognito Corp"));
        assert_eq!(eval("custom:company | upper", &profile())?, some("COGNITO CORP"));
        Ok(())
    }

    #[test]
    fn whitespace_around_tokens_is_allowed() -> Result<()> {
        let p = profile();
        assert_eq!(eval("  user_metadata . company  ", &p)?, some("Acme"));
        assert_eq!(eval("identities [ 0 ] . provider", &p)?, some("google-oauth2"));
        assert_eq!(eval("\tname|nameLast??'x'\n", &p)?, some("Doe"));
        assert_eq!(eval("email | truncate ( 4 )", &p)?, some("jane"));
        assert_eq!(eval("email|replace('.',' ')|firstWord", &p)?, some("jane"));
        Ok(())
    }

    // --- literals ------------------------------------------------------------------------

    #[test]
    fn literals_in_either_quote_with_escapes() -> Result<()> {
        let p = json!({});
        assert_eq!(eval("'Web'", &p)?, some("Web"));
        assert_eq!(eval("\"Web\"", &p)?, some("Web"));
        assert_eq!(eval(r"'it\'s'", &p)?, some("it's"));
        assert_eq!(eval(r#""say \"hi\"""#, &p)?, some("say \"hi\""));
        assert_eq!(eval(r"'back\\slash'", &p)?, some("back\\slash"));
        assert_eq!(eval(r#"'a "b"'"#, &p)?, some("a \"b\""));
        assert_eq!(eval("'a ?? b | upper'", &p)?, some("a ?? b | upper"));
        assert_eq!(eval("'Zoë 👋'", &p)?, some("Zoë 👋"));
        Ok(())
    }

    // --- fallthrough and precedence ------------------------------------------------------

    #[test]
    fn fallthrough_on_missing_null_empty_and_blank() -> Result<()> {
        let p = profile();
        assert_eq!(eval("family_name ?? given_name", &p)?, some("Jane"));
        assert_eq!(eval("picture ?? given_name", &p)?, some("Jane"));
        assert_eq!(eval("nickname ?? given_name", &p)?, some("Jane"));
        assert_eq!(eval("username ?? given_name", &p)?, some("Jane"));
        assert_eq!(eval("user_metadata ?? given_name", &p)?, some("Jane"));
        assert_eq!(eval("family_name ?? picture ?? nickname", &p)?, None);
        assert_eq!(eval("'   '", &p)?, None);
        Ok(())
    }

    #[test]
    fn the_first_present_alternative_wins() -> Result<()> {
        let p = profile();
        assert_eq!(eval("given_name ?? email ?? 'x'", &p)?, some("Jane"));
        assert_eq!(eval("logins_count ?? 'x'", &json!({ "logins_count": 0 }))?, some("0"));
        assert_eq!(eval("flag ?? 'x'", &json!({ "flag": false }))?, some("false"));
        Ok(())
    }

    #[test]
    fn a_filter_yielding_empty_makes_its_alternative_fall_through() -> Result<()> {
        assert_eq!(eval("email | localPart ?? 'fallback'", &json!({ "email": "@acme.com" }))?, some("fallback"));
        assert_eq!(eval("name | nameFirst ?? 'fallback'", &json!({ "name": "Cher" }))?, some("fallback"));
        assert_eq!(eval("name | trim ?? 'fallback'", &json!({ "name": "  " }))?, some("fallback"));
        assert_eq!(eval("name | replace('x', '') ?? 'fallback'", &json!({ "name": "xx" }))?, some("fallback"));
        Ok(())
    }

    #[test]
    fn pipe_binds_tighter_than_double_question_mark() -> Result<()> {
        // Read as `given_name ?? (name | upper)`: the filter belongs to the second alternative.
        assert_eq!(eval("given_name ?? name | upper", &profile())?, some("Jane"));
        assert_eq!(eval("family_name ?? name | upper", &profile())?, some("JANE Q DOE"));
        assert_eq!(eval("family_name | upper ?? name", &profile())?, some("Jane Q Doe"));
        let expr = Mapping::parse_expression("F", "a | lower ?? b | upper | trim ?? 'c'")?;
        let filters: Vec<usize> = expr.alternatives.iter().map(|alt| alt.filters.len()).collect();
        assert_eq!(filters, vec![1, 2, 0]);
        Ok(())
    }
}
