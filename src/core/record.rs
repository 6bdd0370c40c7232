//! The Salesforce record we send: which object, which fields, checked against Salesforce's own
//! rules (required fields, maximum lengths) before any request is made. Pure.

use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::mapping::Mapping;
use serde::{Serialize, Serializer};
use serde_json::Value;

/// The kind of Salesforce record created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SObject {
    /// A Lead.
    Lead,
    /// A Contact.
    Contact,
}

impl SObject {
    /// Reads `Lead` or `Contact` (any case, spaces trimmed).
    pub fn from_name(s: &str) -> Option<SObject> {
        match s.trim().to_ascii_lowercase().as_str() {
            "lead" => Some(SObject::Lead),
            "contact" => Some(SObject::Contact),
            _ => None,
        }
    }
    /// The API name.
    pub fn name(self) -> &'static str {
        match self {
            SObject::Lead => "Lead",
            SObject::Contact => "Contact",
        }
    }
    /// The fields Salesforce requires on a create.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            SObject::Lead => &["LastName", "Company"],
            SObject::Contact => &["LastName"],
        }
    }
    /// Maximum length in characters of a standard field; `None` for custom or unknown fields.
    pub fn max_length(self, field: &str) -> Option<usize> {
        let n = match field {
            "FirstName" | "MiddleName" | "Phone" | "MobilePhone" | "LeadSource" | "City" | "Status" => 40,
            "Industry" if self == SObject::Lead => 40,
            "LastName" | "Email" | "State" | "Country" | "Department" => 80,
            "Company" | "Website" if self == SObject::Lead => 255,
            "Street" => 255,
            "Title" => 128,
            "PostalCode" => 20,
            "Description" => 32_000,
            _ => return None,
        };
        Some(n)
    }
}

/// Fields in mapping order, all strings, ready to be the JSON body of a create request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordPayload {
    /// `(field API name, value)` pairs.
    pub fields: Vec<(String, String)>,
}

impl RecordPayload {
    /// A field's value.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == field).map(|(_, v)| v.as_str())
    }

    /// The request body: a JSON object of the fields in mapping order, without `skip` (the
    /// external-id field of an upsert, which the URL carries).
    pub fn json_text(&self, skip: Option<&str>) -> String {
        let fields = self.fields.iter().filter(|(k, _)| Some(k.as_str()) != skip).cloned().collect();
        // Infallible: the keys and values are strings.
        serde_json::to_string(&RecordPayload { fields }).unwrap_or_default()
    }
}

/// A JSON object of the fields, in mapping order.
impl Serialize for RecordPayload {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_map(self.fields.iter().map(|(k, v)| (k, v)))
    }
}

/// Its API name: `"Lead"` or `"Contact"`.
impl Serialize for SObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// Something changed on the way that the user should know about, but that did not stop the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// A stable code, e.g. `TRUNCATED`.
    pub code: &'static str,
    /// The field concerned.
    pub field: String,
    /// What changed, for a person.
    pub message: String,
}

/// Evaluate `mapping` on `profile` and check the result against `object`'s rules.
/// Too long values are cut on a character boundary (warning `TRUNCATED`); an Email Salesforce would
/// refuse is left out (warning `INVALID_EMAIL_DROPPED`) so the record is still created; a missing
/// required field is `MISSING_REQUIRED_FIELD`.
pub fn build_record(object: SObject, mapping: &Mapping, profile: &Value) -> Result<(RecordPayload, Vec<Warning>)> {
    let mut payload = RecordPayload { fields: Vec::with_capacity(mapping.fields.len()) };
    let mut warnings = Vec::new();
    for (field, expr) in &mapping.fields {
        let Some(mut value) = expr.evaluate(profile, &mapping.case) else { continue };
        if field == "Email" && !looks_like_email(&value) {
            warnings.push(Warning {
                code: "INVALID_EMAIL_DROPPED",
                field: field.clone(),
                message: "Email is not a valid address for Salesforce; left out so the record can be created".into(),
            });
            continue;
        }
        if let Some(max) = object.max_length(field) {
            // No more bytes than allowed characters: short enough without counting.
            let len = if value.len() <= max { value.len() } else { value.chars().count() };
            if len > max {
                value = value.chars().take(max).collect();
                warnings.push(Warning {
                    code: "TRUNCATED",
                    field: field.clone(),
                    message: format!("{field} was {len} characters; Salesforce allows {max}, so it was shortened"),
                });
            }
        }
        payload.fields.push((field.clone(), value));
    }
    let missing: Vec<&str> = object
        .required_fields()
        .iter()
        .copied()
        .filter(|f| payload.get(f).map_or(true, crate::core::text::is_blank))
        .collect();
    if let Some(first) = missing.first() {
        return Err(RuleError::new(
            ErrorCode::MissingRequiredField,
            format!(
                "{} requires {} but the mapping gave no value; add a fallback such as `?? 'Unknown'` to the mapping",
                object.name(),
                missing.join(" and ")
            ),
        )
        .with_field(*first));
    }
    Ok((payload, warnings))
}

/// The shape Salesforce accepts: local@domain.tld, one `@`, none of the characters its validation
/// refuses (`"(),:;<>[]\`, spaces, control characters), and at most 80 characters — Email is
/// never shortened, since a cut address is someone else's.
pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && (s.len() <= 80 || s.chars().count() <= 80)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@')
        && !has_refused_char(s)
}

/// Whitespace, a control character or one of `"(),:;<>[]\`. Byte-wise: the ASCII ones are
/// checked on bytes (C0 controls and space, DEL, the refused list), and only the non-ASCII
/// characters, when there are any, are decoded (Unicode spaces, C1 controls).
fn has_refused_char(s: &str) -> bool {
    // The list spelt out as a match: a slice `contains` would be a memchr call per byte.
    s.bytes().any(|b| {
        b <= b' ' || matches!(b, 0x7f | b'"' | b'(' | b')' | b',' | b':' | b';' | b'<' | b'>' | b'[' | b']' | b'\\')
    }) || (!s.is_ascii() && s.chars().any(|c| !c.is_ascii() && (c.is_whitespace() || c.is_control())))
}

/// A dotted path (`user_id`, `app_metadata.crm_id`) as a string, for ids and alert text.
pub fn json_path(v: &Value, path: &str) -> Option<String> {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    match cur {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mapping::CaseMap;
    use serde_json::{json, Map};

    fn mapping(v: Value) -> Mapping {
        let m: Map<String, Value> = v.as_object().cloned().unwrap();
        Mapping::parse(&(&m).into(), CaseMap::UNICODE).unwrap()
    }

    #[test]
    fn truncates_on_char_boundary_with_warning() {
        let m = mapping(json!({"LastName": "name", "Company": "'X'"}));
        let long = "é".repeat(90);
        let (p, w) = build_record(SObject::Lead, &m, &json!({"name": long})).unwrap();
        assert_eq!(p.get("LastName").unwrap().chars().count(), 80);
        assert_eq!(w[0].code, "TRUNCATED");
        assert_eq!(w[0].field, "LastName");
    }

    #[test]
    fn missing_required_is_an_error_naming_the_field() {
        let m = mapping(json!({"LastName": "name"}));
        let e = build_record(SObject::Lead, &m, &json!({"name": "Doe"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::MissingRequiredField);
        assert_eq!(e.field.as_deref(), Some("Company"));
        // A Contact does not need Company.
        assert!(build_record(SObject::Contact, &m, &json!({"name": "Doe"})).is_ok());
    }

    #[test]
    fn custom_fields_pass_through_and_order_is_kept() {
        // As JSON text: a `json!` object would sort its keys.
        let text = r#"{"Signup_Source__c": "'auth0'", "LastName": "name", "Company": "'C'"}"#;
        let m = Mapping::parse(&serde_json::from_str(text).unwrap(), CaseMap::UNICODE).unwrap();
        let (p, _) = build_record(SObject::Lead, &m, &json!({"name": "Doe"})).unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"Signup_Source__c":"auth0","LastName":"Doe","Company":"C"}"#
        );
    }

    #[test]
    fn bad_email_is_dropped_not_fatal() {
        let m = mapping(json!({"LastName": "name", "Company": "'C'", "Email": "email"}));
        let (p, w) = build_record(SObject::Lead, &m, &json!({"name": "Doe", "email": "not an email"})).unwrap();
        assert_eq!(p.get("Email"), None);
        assert_eq!(w[0].code, "INVALID_EMAIL_DROPPED");
        assert!(looks_like_email("o'brien@x.co"));
    }

    #[test]
    fn refused_characters_are_the_char_rules_read_on_bytes() {
        const EMAIL_REFUSED: &str = "\"(),:;<>[]\\";
        let by_chars = |s: &str| s.chars().any(|c| c.is_whitespace() || c.is_control() || EMAIL_REFUSED.contains(c));
        let all: Vec<char> = (0u32..0x3100).filter_map(char::from_u32).collect();
        for c in all {
            for s in [format!("a{c}b"), c.to_string(), format!("é{c}")] {
                assert_eq!(has_refused_char(&s), by_chars(&s), "{:?}", s);
            }
        }
        assert!(!has_refused_char("a.b+tag@sub.example.co.uk"));
    }

    #[test]
    fn length_checks_count_characters_not_bytes() {
        // 80 characters of two bytes each: not too long for LastName (80) though 160 bytes.
        let m = mapping(json!({"LastName": "name", "Company": "'X'"}));
        let (p, w) = build_record(SObject::Lead, &m, &json!({"name": "é".repeat(80)})).unwrap();
        assert_eq!(p.get("LastName").unwrap().chars().count(), 80);
        assert!(w.is_empty());
        let (_, w) = build_record(SObject::Lead, &m, &json!({"name": "é".repeat(81)})).unwrap();
        assert_eq!(w[0].message, "LastName was 81 characters; Salesforce allows 80, so it was shortened");
        // An email of 80 characters but more bytes is kept; 81 characters are not.
        assert!(looks_like_email(&format!("{}@exämple.com", "é".repeat(68))));
        assert!(!looks_like_email(&format!("{}@exämple.com", "é".repeat(69))));
        // Whitespace-only required values are missing, Unicode spaces included.
        let e = build_record(SObject::Lead, &m, &json!({"name": "\u{2003}\u{a0}"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::MissingRequiredField);
    }

    #[test]
    fn emails_salesforce_refuses_are_dropped_never_cut() {
        for ok in ["o'brien@example.com", "a.b+tag@sub.example.co.uk", "x'OR'1'='1@example.com", "é@exämple.com"] {
            assert!(looks_like_email(ok), "{ok}");
        }
        for bad in [
            "x' OR Name != '@example.com",
            "x'OR(Name!='')OR'@example.com",
            "a\"b@example.com",
            "a@b@example.com",
            "a:b@example.com",
            "a@example..com",
            "a@[127.0.0.1]",
            "a\\b@example.com",
            "tab\t@example.com",
            "@example.com",
            "a@example",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
        // 81 characters: dropped (with a warning), not shortened into another address.
        let long = format!("{}@example.com", "a".repeat(69));
        assert_eq!(long.len(), 81);
        let m = mapping(json!({"LastName": "name", "Company": "'C'", "Email": "email"}));
        let (p, w) = build_record(SObject::Lead, &m, &json!({"name": "Doe", "email": long})).unwrap();
        assert_eq!(p.get("Email"), None);
        assert_eq!(w.iter().map(|w| w.code).collect::<Vec<_>>(), ["INVALID_EMAIL_DROPPED"]);
    }

    #[test]
    fn a_dotted_path_reads_a_non_empty_string_or_a_number() {
        let v = json!({"user_id": "auth0|1", "app_metadata": {"crm_id": 42, "empty": "", "flag": true}});
        assert_eq!(json_path(&v, "user_id").as_deref(), Some("auth0|1"));
        assert_eq!(json_path(&v, "app_metadata.crm_id").as_deref(), Some("42"));
        assert_eq!(json_path(&v, "app_metadata.empty"), None);
        assert_eq!(json_path(&v, "app_metadata.flag"), None);
        assert_eq!(json_path(&v, "app_metadata.missing"), None);
        assert_eq!(json_path(&v, "user_id.deeper"), None);
    }
}
