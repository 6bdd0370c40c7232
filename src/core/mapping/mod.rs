//! The mapping language: how profile data becomes Salesforce fields. Parsed and checked once when
//! the configuration is loaded; evaluation is pure and total: no code execution, no loops, no
//! recursion, bounded output, and nothing is read but the profile value handed in.
//!
//! A mapping is a JSON object `{ "SalesforceField": "expression", … }` (at most 100 fields, each
//! a Salesforce API name such as `FirstName` or `Industry__c`). An expression (at most 1024
//! characters) is:
//!
//! ```text
//! expression  := alternative ( "??" alternative )*     at most 16; the first with a value wins
//! alternative := term ( "|" filter )*                  at most 16 filters; "|" binds tighter
//! term        := path | 'text' | "text"                escapes inside quotes: \\ \' \"
//! path        := segment ( "." key | "[" n "]" | "[" "quoted key" "]" )*
//! segment     := key | "[" "quoted key" "]"            e.g. user_metadata.company, identities[0]
//! key         := letters, digits, _ - : not starting with a digit (e.g. custom:company)
//! filter      := name | name "(" arg ( "," arg )* ")"  arg: a whole number or quoted text
//! ```
//!
//! A path yields a string as is, a number or boolean as its JSON text; a missing key, an index out
//! of range, a wrong type, null, an object or a list is *missing*. An alternative whose value
//! (after its filters) is missing or blank falls through to the next; if none is left, the field
//! has no value. Filters: `lower`, `upper`, `trim`, `capitalize` (first character upper case),
//! `firstWord`, `lastWord`, `nameFirst` (all words but the last; missing for one word), `nameLast`
//! (last word), `localPart` / `domain` (before / after the last `@`; missing without one),
//! `notEmail` (missing when the value looks like `x@y`), `truncate(n)` (at most n characters),
//! `default('x')` (x when the value is missing or blank), `replace('from', 'to')`.
//!
//! This module holds the public API (the limits, [`Mapping`] and its parsing); the parts live in
//! `source` (the ordered reader), `syntax` (the tree and its source text), `parser`, `eval`,
//! `filters` and `presets`.

#![warn(missing_docs)]

mod eval;
mod filters;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fuzz;
mod parser;
mod presets;
mod source;
mod syntax;
#[cfg(test)]
mod test_support;

pub use filters::CaseMap;
pub use source::MappingSource;
pub use syntax::{Alternative, Expr, Filter, PathSegment, Term};

use crate::core::error::{ErrorCode, Result, RuleError};
use parser::Parser;
use serde_json::Value;

/// Longest expression accepted, in characters.
pub const MAX_EXPRESSION_CHARS: usize = 1024;
/// Most `??` alternatives in one expression.
pub const MAX_ALTERNATIVES: usize = 16;
/// Most filters in one alternative.
pub const MAX_FILTERS: usize = 16;
/// Most fields in one mapping.
pub const MAX_FIELDS: usize = 100;
/// Longest Salesforce field API name.
pub const MAX_FIELD_NAME_CHARS: usize = 80;
/// Longest value `replace` may build, in bytes (Salesforce's largest text field holds 131,072
/// characters). Chained replaces could otherwise grow a value exponentially.
pub const MAX_VALUE_BYTES: usize = 131_072;

/// A parse error before the field name is attached: a 0-based character position and a message.
/// Here rather than in `parser` because the filter catalogue builds them too.
struct Problem {
    at: usize,
    message: String,
}

/// A parsed mapping: Salesforce field name → expression, in the order of its [`MappingSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Salesforce field API name and its expression, in the mapping's order.
    pub fields: Vec<(String, Expr)>,
    /// The case mapping the filters use.
    pub case: CaseMap,
}

impl Mapping {
    /// Parse `{ "Field": "expression", … }`. Errors: `MAPPING_INVALID` with `field` set, and
    /// `position` (a 0-based character offset in the expression) for syntax errors. `case` is
    /// the case mapping evaluation will use.
    pub fn parse(obj: &MappingSource, case: CaseMap) -> Result<Mapping> {
        if obj.len() > MAX_FIELDS {
            return Err(RuleError::new(
                ErrorCode::MappingInvalid,
                format!("the mapping has {} fields; at most {MAX_FIELDS} are allowed", obj.len()),
            ));
        }
        let mut fields = Vec::with_capacity(obj.len());
        for (field, value) in obj.iter() {
            if !is_salesforce_name(field) {
                return Err(RuleError::new(
                    ErrorCode::MappingInvalid,
                    format!(
                        "'{}' is not a valid Salesforce field name: use the field's API name, which \
                         starts with a letter, has only letters, digits and underscores and is at \
                         most {MAX_FIELD_NAME_CHARS} characters long (e.g. FirstName or Industry__c)",
                        snippet(field)
                    ),
                )
                .with_field(field.as_str()));
            }
            let Value::String(src) = value else {
                return Err(RuleError::new(
                    ErrorCode::MappingInvalid,
                    format!(
                        "{field}: the mapping value must be an expression written as a string, such \
                         as \"email\" or \"'Web'\", but found {}",
                        describe_json(value)
                    ),
                )
                .with_field(field.as_str()));
            };
            fields.push((field.clone(), Self::parse_expression(field, src)?));
        }
        Ok(Mapping { fields, case })
    }

    /// Parse one expression; `field` only labels the error.
    pub fn parse_expression(field: &str, src: &str) -> Result<Expr> {
        let invalid = |problem: Problem| {
            RuleError::new(ErrorCode::MappingInvalid, format!("{field}: {}", problem.message))
                .with_field(field)
                .at(problem.at)
        };
        let length = src.chars().count();
        if length > MAX_EXPRESSION_CHARS {
            return Err(invalid(Problem {
                at: MAX_EXPRESSION_CHARS,
                message: format!(
                    "the expression is {length} characters long; at most {MAX_EXPRESSION_CHARS} are allowed"
                ),
            }));
        }
        Parser::new(src).expression().map_err(invalid)
    }

    /// Evaluate against a normalised profile: each field's value, or `None` when every
    /// alternative was missing/null/blank.
    pub fn evaluate(&self, profile: &Value) -> Vec<(String, Option<String>)> {
        self.fields.iter().map(|(field, expr)| (field.clone(), expr.evaluate(profile, &self.case))).collect()
    }

    /// The mapping as source text; `Mapping::parse(&m.to_source(), m.case)` gives `m` back.
    pub fn to_source(&self) -> MappingSource {
        self.fields.iter().map(|(field, expr)| (field.clone(), Value::String(expr.to_source()))).collect()
    }
}

fn is_salesforce_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_FIELD_NAME_CHARS
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn describe_json(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// At most 40 characters of user text for a message.
fn snippet(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mapping::test_support::*;
    use serde_json::{json, Map};

    #[test]
    fn the_length_limit_is_1024_characters() -> Result<()> {
        let at_limit = format!("'{}'", "é".repeat(MAX_EXPRESSION_CHARS - 2));
        assert_eq!(eval(&at_limit, &json!({}))?.map(|v| v.chars().count()), Some(MAX_EXPRESSION_CHARS - 2));
        let over = format!("'{}'", "é".repeat(MAX_EXPRESSION_CHARS - 1));
        assert_eq!(
            error(&over),
            (Some(1024), "F: the expression is 1025 characters long; at most 1024 are allowed".to_string())
        );
        Ok(())
    }

    #[test]
    fn a_mapping_error_names_its_field() {
        let err = mapping_error(json!({ "Email": "email", "LastName": "family_name ?? | nameLast" }));
        assert_eq!(err.code, ErrorCode::MappingInvalid);
        assert_eq!(err.field.as_deref(), Some("LastName"));
        assert_eq!(err.position, Some(15));
        assert_eq!(err.message, "LastName: expected a path or a quoted literal at position 15, found '|'");
    }

    #[test]
    fn a_non_string_value_in_the_mapping_is_an_error() {
        for (value, found) in [
            (json!(42), "a number"),
            (json!(null), "null"),
            (json!(true), "true/false"),
            (json!(["email"]), "a list"),
            (json!({ "path": "email" }), "an object"),
        ] {
            let err = mapping_error(json!({ "Company": value }));
            assert_eq!(err.code, ErrorCode::MappingInvalid);
            assert_eq!(err.field.as_deref(), Some("Company"));
            assert_eq!(err.position, None);
            assert_eq!(
                err.message,
                format!("Company: the mapping value must be an expression written as a string, such as \"email\" or \"'Web'\", but found {found}")
            );
        }
    }

    #[test]
    fn field_names_must_be_salesforce_api_names() -> Result<()> {
        for bad in ["First Name", "1stName", "", "_Name", "Name!", "Näme", "a".repeat(81).as_str()] {
            let err = mapping_error(json!({ bad: "email" }));
            assert_eq!(err.code, ErrorCode::MappingInvalid, "{bad}");
            assert_eq!(err.field.as_deref(), Some(bad));
            assert!(err.message.contains("is not a valid Salesforce field name"), "{}", err.message);
        }
        let err = mapping_error(json!({ "First Name": "email" }));
        assert_eq!(
            err.message,
            "'First Name' is not a valid Salesforce field name: use the field's API name, which starts with a letter, \
             has only letters, digits and underscores and is at most 80 characters long (e.g. FirstName or Industry__c)"
        );
        let good = json!({ "Industry__c": "'x'", "ns__Score__c": "'1'", "A": "'a'", "x".repeat(80): "'y'" });
        assert_eq!(Mapping::parse(&good.as_object().unwrap_or(&Map::new()).into(), CaseMap::UNICODE)?.fields.len(), 4);
        Ok(())
    }

    #[test]
    fn at_most_100_fields() -> Result<()> {
        let fields = |n: usize| -> MappingSource {
            (0..n).map(|i| (format!("Field{i}__c"), Value::String("email".to_string()))).collect()
        };
        assert_eq!(Mapping::parse(&fields(100), CaseMap::UNICODE)?.fields.len(), 100);
        let err = Mapping::parse(&fields(101), CaseMap::UNICODE).err();
        assert_eq!(err.as_ref().map(|e| e.code), Some(ErrorCode::MappingInvalid));
        assert_eq!(
            err.map(|e| e.message.clone()),
            Some("the mapping has 101 fields; at most 100 are allowed".to_string())
        );
        Ok(())
    }

    #[test]
    fn an_empty_mapping_is_allowed() -> Result<()> {
        let mapping = Mapping::parse(&MappingSource::default(), CaseMap::UNICODE)?;
        assert!(mapping.fields.is_empty());
        assert!(mapping.evaluate(&profile()).is_empty());
        Ok(())
    }

    #[test]
    fn evaluate_returns_every_field_in_mapping_order() -> Result<()> {
        let source: MappingSource = [("LastName", "name"), ("Company", "'Acme'"), ("Title", "title")]
            .iter()
            .map(|(f, e)| (f.to_string(), Value::String(e.to_string())))
            .collect();
        let mapping = Mapping::parse(&source, CaseMap::UNICODE)?;
        let values = mapping.evaluate(&json!({ "name": "Doe" }));
        assert_eq!(values.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), ["LastName", "Company", "Title"]);
        assert_eq!(field(&values, "Title"), None);
        Ok(())
    }
}
