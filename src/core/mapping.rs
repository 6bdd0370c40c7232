//! The mapping language: how profile data becomes Salesforce fields. Parsed and checked once when
//! the configuration is loaded; evaluation is pure and total (no code execution, no loops).
//! INTERFACE STUB — being implemented.

use crate::core::error::Result;
use serde_json::{Map, Value};

/// A parsed mapping: Salesforce field name → expression, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub fields: Vec<(String, Expr)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr;

impl Mapping {
    pub const PRESETS: &'static [&'static str] = &["recommended", "auth0-template"];
    /// Parse `{ "Field": "expression", … }`. Errors: `MAPPING_INVALID` with `field` and `position`.
    pub fn parse(_obj: &Map<String, Value>) -> Result<Mapping> {
        unimplemented!()
    }
    /// Built-in mappings by name: `recommended`, `auth0-template`.
    pub fn preset(_name: &str) -> Option<Mapping> {
        unimplemented!()
    }
    /// Evaluate against a normalised profile: each field's value, or `None` when every
    /// alternative was missing/null/empty.
    pub fn to_source(&self) -> Map<String, Value> { unimplemented!() }
    pub fn evaluate(&self, _profile: &Value) -> Vec<(String, Option<String>)> {
        unimplemented!()
    }
}
