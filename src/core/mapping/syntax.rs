//! The syntax tree of an expression and its canonical source text: what the parser builds, the
//! evaluator walks and `to_source` writes back.

use super::MAX_EXPRESSION_CHARS;
use std::fmt;

/// One field's expression: alternatives tried in order until one yields a non-blank value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    /// At least one, at most [`MAX_ALTERNATIVES`](super::MAX_ALTERNATIVES).
    pub alternatives: Vec<Alternative>,
}

/// A term and the filters applied to its value, left to right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    /// Where the value comes from.
    pub term: Term,
    /// Applied in order; at most [`MAX_FILTERS`](super::MAX_FILTERS).
    pub filters: Vec<Filter>,
}

/// Where an alternative's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A path into the profile; never empty when parsed.
    Path(Vec<PathSegment>),
    /// A quoted literal.
    Literal(String),
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// An object key: `.company`, `custom:company`, `["key with spaces"]`.
    Key(String),
    /// A list position: `[0]`.
    Index(usize),
}

/// A text transformation. Each sees the value as `Option<String>` (`None` = missing) so that
/// `default` can fill in a missing value; all others leave a missing value missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `lower`: Unicode lower case.
    Lower,
    /// `upper`: Unicode upper case.
    Upper,
    /// `trim`: without leading and trailing whitespace.
    Trim,
    /// `capitalize`: the first character in upper case, the rest as is.
    Capitalize,
    /// `firstWord`: the first whitespace-separated word.
    FirstWord,
    /// `lastWord`: the last whitespace-separated word.
    LastWord,
    /// `nameFirst`: all words but the last; missing for a single word.
    NameFirst,
    /// `nameLast`: the last word.
    NameLast,
    /// `localPart`: before the last `@`; missing without one.
    LocalPart,
    /// `domain`: after the last `@`; missing without one.
    Domain,
    /// `notEmail`: missing when the value looks like `x@y`.
    NotEmail,
    /// `truncate(n)`: at most n characters (n ≥ 1).
    Truncate(usize),
    /// `default('x')`: x when the value is missing or blank.
    Default(String),
    /// `replace('from', 'to')`: every occurrence of a non-empty `from`, bounded by
    /// [`MAX_VALUE_BYTES`](super::MAX_VALUE_BYTES).
    Replace {
        /// The text to find; never empty when parsed.
        from: String,
        /// Its replacement.
        to: String,
    },
}

impl Expr {
    /// Canonical source (`a ?? b | f(1)`); falls back to the compact form (`a??b|f(1)`), never
    /// longer than any source that parses to this expression, when the spaced one is over the limit.
    pub fn to_source(&self) -> String {
        let spaced = self.render(false);
        if spaced.chars().count() <= MAX_EXPRESSION_CHARS {
            spaced
        } else {
            self.render(true)
        }
    }

    fn render(&self, compact: bool) -> String {
        let (or, pipe, comma) = if compact { ("??", "|", ",") } else { (" ?? ", " | ", ", ") };
        let mut out = String::new();
        for (i, alt) in self.alternatives.iter().enumerate() {
            if i > 0 {
                out.push_str(or);
            }
            alt.term.render(&mut out);
            for filter in &alt.filters {
                out.push_str(pipe);
                out.push_str(filter.name());
                let args: Vec<String> = match filter {
                    Filter::Truncate(n) => vec![n.to_string()],
                    Filter::Default(text) => vec![quote(text, '\'')],
                    Filter::Replace { from, to } => vec![quote(from, '\''), quote(to, '\'')],
                    _ => continue,
                };
                out.push('(');
                out.push_str(&args.join(comma));
                out.push(')');
            }
        }
        out
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_source())
    }
}

impl Term {
    fn render(&self, out: &mut String) {
        match self {
            Term::Literal(text) => out.push_str(&quote(text, '\'')),
            Term::Path(segments) => {
                for (i, segment) in segments.iter().enumerate() {
                    match segment {
                        PathSegment::Key(key) if is_key(key) => {
                            if i > 0 {
                                out.push('.');
                            }
                            out.push_str(key);
                        }
                        PathSegment::Key(key) => {
                            out.push('[');
                            out.push_str(&quote(key, '"'));
                            out.push(']');
                        }
                        PathSegment::Index(index) => {
                            out.push('[');
                            out.push_str(&index.to_string());
                            out.push(']');
                        }
                    }
                }
            }
        }
    }
}

impl Filter {
    /// The name written in an expression.
    pub fn name(&self) -> &'static str {
        match self {
            Filter::Lower => "lower",
            Filter::Upper => "upper",
            Filter::Trim => "trim",
            Filter::Capitalize => "capitalize",
            Filter::FirstWord => "firstWord",
            Filter::LastWord => "lastWord",
            Filter::NameFirst => "nameFirst",
            Filter::NameLast => "nameLast",
            Filter::LocalPart => "localPart",
            Filter::Domain => "domain",
            Filter::NotEmail => "notEmail",
            Filter::Truncate(_) => "truncate",
            Filter::Default(_) => "default",
            Filter::Replace { .. } => "replace",
        }
    }
}

pub(super) fn is_key_start(c: char) -> bool {
    c.is_alphabetic() || matches!(c, '_' | '-' | ':')
}

pub(super) fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | ':')
}

/// A key that can be written bare (`company`) rather than quoted (`["company name"]`).
fn is_key(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(is_key_start) && chars.all(is_key_char)
}

/// Quote with whichever quote character needs fewer escapes (`preferred` on a tie).
fn quote(text: &str, preferred: char) -> String {
    let other = if preferred == '\'' { '"' } else { '\'' };
    let count = |q: char| text.chars().filter(|c| *c == q).count();
    let q = if count(preferred) > count(other) { other } else { preferred };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(q);
    for c in text.chars() {
        if c == '\\' || c == q {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(q);
    out
}

#[cfg(test)]
mod tests {
    use crate::core::mapping::*;

    #[test]
    fn to_source_writes_the_canonical_form() -> Result<()> {
        let expr = Mapping::parse_expression(
            "F",
            r#"user_metadata[ "company" ]|lower??["first name"] | truncate( 007 )??"it's"|replace("a",'b')|default("x")"#,
        )?;
        assert_eq!(
            expr.to_source(),
            r#"user_metadata.company | lower ?? ["first name"] | truncate(7) ?? "it's" | replace('a', 'b') | default('x')"#
        );
        assert_eq!(expr.to_string(), expr.to_source());
        let keys = Mapping::parse_expression("F", r#"a["b.c"][2]["3"]['\\']"#)?;
        assert_eq!(keys.to_source(), r#"a["b.c"][2]["3"]["\\"]"#);
        Ok(())
    }

    #[test]
    fn to_source_round_trips_the_example_and_the_presets() -> Result<()> {
        let example = r#"{
            "FirstName": "given_name ?? name | nameFirst",
            "LastName":  "family_name ?? name | notEmail | nameLast ?? email | localPart ?? 'User'",
            "Company":   "user_metadata.company ?? email | domain ?? 'Web channel signups'",
            "Email": "email", "LeadSource": "'Web'"
        }"#;
        let example: MappingSource = serde_json::from_str(example).unwrap_or_default();
        assert_eq!(
            example.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>()[..3],
            ["FirstName", "LastName", "Company"]
        );
        let mut sources = vec![example];
        for name in Mapping::PRESETS {
            sources.push(Mapping::preset_source(name).unwrap_or_default());
        }
        for source in sources {
            let mapping = Mapping::parse(&source, CaseMap::UNICODE)?;
            assert_eq!(mapping.fields.len(), source.len());
            assert_eq!(Mapping::parse(&mapping.to_source(), CaseMap::UNICODE)?, mapping);
            // These are already canonical, so the text itself comes back.
            assert_eq!(mapping.to_source(), source);
        }
        Ok(())
    }

    #[test]
    fn to_source_falls_back_to_the_compact_form_at_the_length_limit() -> Result<()> {
        // 16 × (40-character key + 3 filters): 958 characters compact, 1084 with spaces.
        let alternative = format!("{}|lower|lower|lower", "k".repeat(40));
        let src = vec![alternative; MAX_ALTERNATIVES].join("??");
        assert_eq!(src.chars().count(), 958);
        let expr = Mapping::parse_expression("F", &src)?;
        assert_eq!(expr.render(false).chars().count(), 1084);
        assert_eq!(expr.to_source(), src);
        assert_eq!(Mapping::parse_expression("F", &expr.to_source())?, expr);
        Ok(())
    }
}
