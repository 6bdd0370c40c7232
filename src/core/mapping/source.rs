//! The mapping as written: a JSON object read in the order of its text, since that order is the
//! record's field order and serde_json's `Map` (without `preserve_order`) sorts its keys.

use super::MAX_FIELDS;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A mapping as written, `{ "Field": "expression", … }`, with its fields in the order of the JSON
/// text: that order is the record's field order (and the Bulk CSV column order). A
/// `serde_json::Map` sorts its keys (serde_json's `preserve_order` is off: it would hash keys
/// with a seed fixed in wasm), so a mapping is read as this type instead. A key given twice
/// keeps its first place and its last value, as `JSON.parse` does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MappingSource(pub Vec<(String, Value)>);

impl MappingSource {
    /// The fields in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    /// How many fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// No field at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Pairs in the order given; a repeated field keeps its first place and takes the later value.
impl FromIterator<(String, Value)> for MappingSource {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(pairs: I) -> Self {
        let mut fields: Vec<(String, Value)> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for (k, v) in pairs {
            match index.get(&k) {
                Some(&i) => fields[i].1 = v,
                None => {
                    index.insert(k.clone(), fields.len());
                    fields.push((k, v));
                }
            }
        }
        MappingSource(fields)
    }
}

/// A JSON object read in document order.
impl<'de> Deserialize<'de> for MappingSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = MappingSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of field → expression")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<MappingSource, A::Error> {
                let mut pairs = Vec::with_capacity(a.size_hint().unwrap_or(0).min(MAX_FIELDS + 1));
                while let Some(pair) = a.next_entry::<String, Value>()? {
                    pairs.push(pair);
                }
                Ok(pairs.into_iter().collect())
            }
        }
        d.deserialize_map(Fields)
    }
}

/// A JSON object with the fields in order.
impl Serialize for MappingSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl From<&Map<String, Value>> for MappingSource {
    /// In the map's order, which is key order.
    fn from(m: &Map<String, Value>) -> Self {
        MappingSource(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_mapping_is_read_in_the_order_of_its_json_text() {
        // Not key order: serde_json's Map would sort these. A repeated field keeps its first
        // place and takes its last value, as JSON.parse does.
        let text = r#"{"Company": "'A'", "LastName": "name", "Email": "email", "Company": "'B'", "FirstName": "x"}"#;
        let source: std::result::Result<MappingSource, _> = serde_json::from_str(text);
        let pairs: Vec<(String, Value)> = ["Company", "LastName", "Email", "FirstName"]
            .iter()
            .zip(["'B'", "name", "email", "x"])
            .map(|(f, e)| (f.to_string(), json!(e)))
            .collect();
        assert_eq!(source.as_ref().map(|s| s.0.clone()).ok(), Some(pairs));
        // Written back in the same order.
        assert_eq!(
            source.ok().and_then(|s| serde_json::to_string(&s).ok()).as_deref(),
            Some(r#"{"Company":"'B'","LastName":"name","Email":"email","FirstName":"x"}"#)
        );
        assert!(serde_json::from_str::<MappingSource>(r#"["LastName"]"#).is_err());
    }
}
