//! The filters: the catalogue the parser checks names and arguments against, what each one does
//! to a value, and the suggestion offered for a misspelt name.

use super::{snippet, Filter, Problem, MAX_VALUE_BYTES};
use crate::core::text::{has_whitespace, is_blank};

impl Filter {
    /// Transform a value; `None` is a missing value. `case` maps letter case.
    pub fn apply(&self, value: Option<String>, case: &CaseMap) -> Option<String> {
        if let Filter::Default(text) = self {
            return match value {
                Some(present) if !is_blank(&present) => Some(present),
                _ => Some(text.clone()),
            };
        }
        let text = value?;
        match self {
            Filter::Lower => Some((case.lower)(&text)),
            Filter::Upper => Some((case.upper)(&text)),
            Filter::Trim => Some(text.trim().to_string()),
            Filter::Capitalize => {
                let mut chars = text.chars();
                chars.next().map(|first| (case.upper)(first.encode_utf8(&mut [0; 4])) + chars.as_str())
            }
            Filter::FirstWord => text.split_whitespace().next().map(str::to_string),
            Filter::LastWord | Filter::NameLast => text.split_whitespace().next_back().map(str::to_string),
            Filter::NameFirst => {
                let words: Vec<&str> = text.split_whitespace().collect();
                match words.split_last() {
                    Some((_, first)) if !first.is_empty() => Some(first.join(" ")),
                    _ => None,
                }
            }
            Filter::LocalPart => text.rsplit_once('@').map(|(local, _)| local.to_string()),
            Filter::Domain => text.rsplit_once('@').map(|(_, domain)| domain.to_string()),
            Filter::NotEmail => (!looks_like_email(&text)).then_some(text),
            Filter::Truncate(max) => Some(text.chars().take(*max).collect()),
            Filter::Replace { from, to } => Some(replace_bounded(&text, from, to)),
            Filter::Default(_) => Some(text),
        }
    }
}

/// `x@y` with no whitespace: a non-empty part on each side of the last `@`.
fn looks_like_email(text: &str) -> bool {
    let text = text.trim();
    !has_whitespace(text)
        && text.rsplit_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
}

/// `str::replace` that stops at [`MAX_VALUE_BYTES`] (on a character boundary). Linear in the
/// text and the pattern: one pass of std's `str::split` (a two-way searcher), never a fresh
/// search per match or a window compare per position.
pub(super) fn replace_bounded(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    if from.is_empty() {
        // The parser refuses an empty `from`; were it given, it would match nothing.
        push_bounded(&mut out, text);
        return out;
    }
    for (i, piece) in text.split(from).enumerate() {
        if (i > 0 && !push_bounded(&mut out, to)) || !push_bounded(&mut out, piece) {
            break;
        }
    }
    out
}

/// Append as much of `text` as fits; false when some of it did not.
fn push_bounded(out: &mut String, text: &str) -> bool {
    if out.len() + text.len() <= MAX_VALUE_BYTES {
        out.push_str(text);
        return true;
    }
    for c in text.chars() {
        if out.len() + c.len_utf8() > MAX_VALUE_BYTES {
            break;
        }
        out.push(c);
    }
    false
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum ArgKind {
    Number,
    Text,
}

pub(super) enum Arg {
    Number(usize),
    Text(String),
}

pub(super) struct FilterSpec {
    pub(super) name: &'static str,
    args: &'static [ArgKind],
    /// How the filter is written in the list of known filters.
    usage: &'static str,
    /// A complete example for error messages.
    example: &'static str,
}

pub(super) const FILTER_SPECS: &[FilterSpec] = &[
    FilterSpec { name: "lower", args: &[], usage: "lower", example: "lower" },
    FilterSpec { name: "upper", args: &[], usage: "upper", example: "upper" },
    FilterSpec { name: "trim", args: &[], usage: "trim", example: "trim" },
    FilterSpec { name: "capitalize", args: &[], usage: "capitalize", example: "capitalize" },
    FilterSpec { name: "firstWord", args: &[], usage: "firstWord", example: "firstWord" },
    FilterSpec { name: "lastWord", args: &[], usage: "lastWord", example: "lastWord" },
    FilterSpec { name: "nameFirst", args: &[], usage: "nameFirst", example: "nameFirst" },
    FilterSpec { name: "nameLast", args: &[], usage: "nameLast", example: "nameLast" },
    FilterSpec { name: "localPart", args: &[], usage: "localPart", example: "localPart" },
    FilterSpec { name: "domain", args: &[], usage: "domain", example: "domain" },
    FilterSpec { name: "notEmail", args: &[], usage: "notEmail", example: "notEmail" },
    FilterSpec { name: "truncate", args: &[ArgKind::Number], usage: "truncate(n)", example: "truncate(40)" },
    FilterSpec { name: "default", args: &[ArgKind::Text], usage: "default('text')", example: "default('Unknown')" },
    FilterSpec {
        name: "replace",
        args: &[ArgKind::Text, ArgKind::Text],
        usage: "replace('from', 'to')",
        example: "replace('_', ' ')",
    },
];

pub(super) fn build_filter(
    spec: &FilterSpec,
    at: usize,
    args: &[(Arg, usize, String)],
) -> std::result::Result<Filter, Problem> {
    let name = spec.name;
    if args.len() != spec.args.len() {
        let needs = match spec.args.len() {
            0 => "takes no arguments".to_string(),
            1 => format!("needs 1 argument, as in {}", spec.example),
            n => format!("needs {n} arguments, as in {}", spec.example),
        };
        return Err(Problem {
            at,
            message: format!("filter '{name}' at position {at} {needs}, but was given {}", args.len()),
        });
    }
    for (i, ((arg, arg_at, found), kind)) in args.iter().zip(spec.args).enumerate() {
        let matches = matches!((arg, kind), (Arg::Number(_), ArgKind::Number) | (Arg::Text(_), ArgKind::Text));
        if !matches {
            let wanted = if *kind == ArgKind::Number { "a whole number" } else { "quoted text" };
            return Err(Problem {
                at: *arg_at,
                message: format!(
                    "argument {} of filter '{name}' at position {arg_at} must be {wanted}, as in {}, but found {found}",
                    i + 1,
                    spec.example
                ),
            });
        }
    }
    let filter = match (name, args) {
        ("lower", []) => Filter::Lower,
        ("upper", []) => Filter::Upper,
        ("trim", []) => Filter::Trim,
        ("capitalize", []) => Filter::Capitalize,
        ("firstWord", []) => Filter::FirstWord,
        ("lastWord", []) => Filter::LastWord,
        ("nameFirst", []) => Filter::NameFirst,
        ("nameLast", []) => Filter::NameLast,
        ("localPart", []) => Filter::LocalPart,
        ("domain", []) => Filter::Domain,
        ("notEmail", []) => Filter::NotEmail,
        ("truncate", [(Arg::Number(0), arg_at, _)]) => {
            return Err(Problem {
                at: *arg_at,
                message: format!("truncate(0) at position {arg_at} would always be empty; give at least 1"),
            })
        }
        ("truncate", [(Arg::Number(max), _, _)]) => Filter::Truncate(*max),
        ("default", [(Arg::Text(text), _, _)]) => Filter::Default(text.clone()),
        ("replace", [(Arg::Text(from), arg_at, _), _]) if from.is_empty() => {
            return Err(Problem {
                at: *arg_at,
                message: format!("the text to replace at position {arg_at} must not be empty"),
            })
        }
        ("replace", [(Arg::Text(from), _, _), (Arg::Text(to), _, _)]) => {
            Filter::Replace { from: from.clone(), to: to.clone() }
        }
        // Unreachable while FILTER_SPECS and this match agree; an error rather than a panic.
        _ => return Err(unknown_filter(name, at)),
    };
    Ok(filter)
}

pub(super) fn unknown_filter(name: &str, at: usize) -> Problem {
    let known: Vec<&str> = FILTER_SPECS.iter().map(|spec| spec.usage).collect();
    let mut message =
        format!("unknown filter '{}' at position {at}; known filters: {}", snippet(name), known.join(", "));
    if let Some(suggestion) = suggest_filter(name) {
        message.push_str(". Did you mean '");
        message.push_str(suggestion);
        message.push_str("'?");
    }
    Problem { at, message }
}

/// The platform's Unicode case mapping, used by `lower`, `upper` and `capitalize`. Injected
/// because Rust's own carries its case tables into the binary, where a JS engine already has the
/// same rules (`toLowerCase`/`toUpperCase`): the wasm layer hands those in, native code uses
/// [`CaseMap::UNICODE`].
#[derive(Clone, Copy)]
pub struct CaseMap {
    /// Full Unicode lower case of a text.
    pub lower: fn(&str) -> String,
    /// Full Unicode upper case of a text (`ß` → `SS`).
    pub upper: fn(&str) -> String,
}

impl CaseMap {
    /// Rust's `str::to_lowercase` / `str::to_uppercase`.
    pub const UNICODE: CaseMap = CaseMap { lower: str::to_lowercase, upper: str::to_uppercase };
}

impl std::fmt::Debug for CaseMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaseMap")
    }
}

/// Two case maps are equal when they are the same functions.
impl PartialEq for CaseMap {
    fn eq(&self, other: &Self) -> bool {
        (self.lower as usize, self.upper as usize) == (other.lower as usize, other.upper as usize)
    }
}

impl Eq for CaseMap {}

/// The known filter a misspelt name most likely meant: same letters ignoring case and `_`/`-`,
/// one a prefix of the other (`lowercase` → `lower`), or at most two edits away.
fn suggest_filter(name: &str) -> Option<&'static str> {
    let normal =
        |s: &str| -> String { s.chars().filter(|c| !matches!(c, '_' | '-')).map(|c| c.to_ascii_lowercase()).collect() };
    let wanted = normal(name);
    if wanted.is_empty() || wanted.chars().count() > 32 {
        return None;
    }
    let names = || FILTER_SPECS.iter().map(|spec| (spec.name, normal(spec.name)));
    names()
        .find(|(_, known)| *known == wanted)
        .or_else(|| {
            names().find(|(_, known)| {
                wanted.starts_with(known.as_str()) || (known.starts_with(wanted.as_str()) && wanted.len() >= 3)
            })
        })
        .or_else(|| names().find(|(_, known)| edit_distance(known, &wanted) <= 2))
        .map(|(name, _)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous.get(j).map_or(usize::MAX, |d| d.saturating_add(usize::from(ca != *cb)));
            let delete = previous.get(j + 1).map_or(usize::MAX, |d| d.saturating_add(1));
            let insert = current.last().map_or(usize::MAX, |d| d.saturating_add(1));
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mapping::test_support::*;
    use crate::core::mapping::*;
    use serde_json::json;

    #[test]
    fn replace_with_an_empty_pattern_ends_and_changes_nothing() {
        assert_eq!(replace_bounded("ab", "", ""), "ab");
        assert_eq!(replace_bounded("ab", "", "x"), "ab");
        assert_eq!(replace_bounded("a_b_", "_", " "), "a b ");
    }

    #[test]
    fn lower_upper_trim_capitalize() -> Result<()> {
        assert_eq!(filter("lower", "ÉCOLE Ünd")?, some("école ünd"));
        assert_eq!(filter("upper", "straße")?, some("STRASSE"));
        assert_eq!(filter("trim", "  Jane \n")?, some("Jane"));
        assert_eq!(filter("capitalize", "élodie dupont")?, some("Élodie dupont"));
        assert_eq!(filter("capitalize", "jANE")?, some("JANE"));
        assert_eq!(filter("capitalize", "1st")?, some("1st"));
        Ok(())
    }

    #[test]
    fn lower_upper_and_capitalize_use_the_injected_case_mapping() -> Result<()> {
        // Marks what it was given, so each use of the injected functions shows.
        let marked = CaseMap { lower: |s| format!("lower({s})"), upper: |s| format!("upper({s})") };
        let source = json!({ "A": "v | lower", "B": "v | upper", "C": "v | capitalize" });
        let mapping = Mapping::parse(&source.as_object().cloned().unwrap_or_default().into_iter().collect(), marked)?;
        let values = lead(&mapping, json!({ "v": "éa" }));
        assert_eq!(field(&values, "A"), Some("lower(éa)"));
        assert_eq!(field(&values, "B"), Some("upper(éa)"));
        assert_eq!(field(&values, "C"), Some("upper(é)a"));
        assert_eq!(Filter::Lower.apply(Some("X".into()), &marked), some("lower(X)"));
        assert!(mapping.case == marked && mapping.case != CaseMap::UNICODE);
        Ok(())
    }

    #[test]
    fn first_word_and_last_word() -> Result<()> {
        assert_eq!(filter("firstWord", "  Jane   Q Doe ")?, some("Jane"));
        assert_eq!(filter("lastWord", "  Jane   Q Doe ")?, some("Doe"));
        assert_eq!(filter("firstWord", "Cher")?, some("Cher"));
        assert_eq!(filter("lastWord", "Cher")?, some("Cher"));
        assert_eq!(filter("firstWord", "   ")?, None);
        Ok(())
    }

    #[test]
    fn name_first_is_all_words_but_the_last_and_missing_for_one_word() -> Result<()> {
        assert_eq!(filter("nameFirst", "Jane Q Doe")?, some("Jane Q"));
        assert_eq!(filter("nameFirst", "  Jane \t Q\n Doe  ")?, some("Jane Q"));
        assert_eq!(filter("nameFirst", "Jane Doe")?, some("Jane"));
        assert_eq!(filter("nameFirst", "Cher")?, None);
        assert_eq!(filter("nameFirst", "")?, None);
        Ok(())
    }

    #[test]
    fn name_last_is_the_last_word() -> Result<()> {
        assert_eq!(filter("nameLast", "Jane Q Doe")?, some("Doe"));
        assert_eq!(filter("nameLast", "Cher")?, some("Cher"));
        assert_eq!(filter("nameLast", "  ")?, None);
        Ok(())
    }

    #[test]
    fn local_part_and_domain_split_at_the_last_at_sign() -> Result<()> {
        assert_eq!(filter("localPart", "jane@acme.com")?, some("jane"));
        assert_eq!(filter("domain", "jane@acme.com")?, some("acme.com"));
        assert_eq!(filter("localPart", "\"a@b\"@acme.com")?, some("\"a@b\""));
        assert_eq!(filter("domain", "a@b@acme.com")?, some("acme.com"));
        assert_eq!(filter("localPart", "no at sign")?, None);
        assert_eq!(filter("domain", "no at sign")?, None);
        assert_eq!(filter("domain", "jane@")?, None);
        Ok(())
    }

    #[test]
    fn not_email_drops_values_that_look_like_an_email() -> Result<()> {
        assert_eq!(filter("notEmail", "jane@acme.com")?, None);
        assert_eq!(filter("notEmail", " x@y ")?, None);
        assert_eq!(filter("notEmail", "Jane Doe")?, some("Jane Doe"));
        assert_eq!(filter("notEmail", "@handle")?, some("@handle"));
        assert_eq!(filter("notEmail", "jane@")?, some("jane@"));
        assert_eq!(filter("notEmail", "Jane @ Acme")?, some("Jane @ Acme"));
        Ok(())
    }

    #[test]
    fn truncate_counts_characters_and_never_splits_one() -> Result<()> {
        assert_eq!(filter("truncate(4)", "Jonathan")?, some("Jona"));
        assert_eq!(filter("truncate(40)", "Jane")?, some("Jane"));
        assert_eq!(filter("truncate(3)", "Zoë")?, some("Zoë"));
        assert_eq!(filter("truncate(2)", "Zoë Smith")?, some("Zo"));
        assert_eq!(filter("truncate(3)", "Zoë Smith")?, some("Zoë"));
        assert_eq!(filter("truncate(1)", "👋🏽 hi")?, some("👋"));
        assert_eq!(filter("truncate(2)", "日本語")?, some("日本"));
        Ok(())
    }

    #[test]
    fn default_fills_in_missing_empty_and_blank_values() -> Result<()> {
        assert_eq!(eval("family_name | default('Unknown')", &profile())?, some("Unknown"));
        assert_eq!(eval("picture | default('Unknown')", &profile())?, some("Unknown"));
        assert_eq!(eval("nickname | default('Unknown')", &profile())?, some("Unknown"));
        assert_eq!(eval("username | default('Unknown')", &profile())?, some("Unknown"));
        assert_eq!(eval("given_name | default('Unknown')", &profile())?, some("Jane"));
        // A later filter still sees the default.
        assert_eq!(eval("family_name | default('unknown') | upper", &profile())?, some("UNKNOWN"));
        // ... and a default rescues a filter that came up empty.
        assert_eq!(eval("name | nameFirst | default('-')", &json!({ "name": "Cher" }))?, some("-"));
        Ok(())
    }

    #[test]
    fn replace_replaces_every_occurrence() -> Result<()> {
        assert_eq!(filter("replace('.', ' ')", "jane.q.doe")?, some("jane q doe"));
        assert_eq!(filter("replace(\"ë\", 'e')", "Zoë")?, some("Zoe"));
        assert_eq!(filter("replace('x', 'y')", "abc")?, some("abc"));
        assert_eq!(filter("replace('-', '')", "a-b-c")?, some("abc"));
        Ok(())
    }

    #[test]
    fn replace_is_linear_in_a_long_pattern_and_a_long_text() -> Result<()> {
        // The worst case of a compare-a-window-at-every-position search (the old text::find): a
        // text of `a`s and a pattern of `a`s that ends in `b`, 170,000 positions × 50,001 bytes.
        // Measured natively: ~1 s that way, 2 ms with std's two-way search (linear).
        let pattern = format!("{}b", "a".repeat(50_000));
        let text = format!("{}{pattern}{}{pattern}", "a".repeat(100_000), "a".repeat(20_000));
        let expected = format!("{}<>{}<>", "a".repeat(100_000), "a".repeat(20_000));
        assert_eq!(replace_bounded(&text, &pattern, "<>"), expected);
        assert_eq!(replace_bounded(&"a".repeat(170_000), &pattern, "<>").len(), MAX_VALUE_BYTES);

        // Through a mapping: the longest pattern an expression can hold, over a 200 kB value.
        let pattern = format!("{}b", "a".repeat(MAX_EXPRESSION_CHARS - 30));
        let src = format!("v | replace('{pattern}', '-')");
        assert!(src.chars().count() <= MAX_EXPRESSION_CHARS);
        let value = format!("{pattern}{}{pattern}{pattern}x", "a".repeat(200_000));
        let expected = format!("-{}--x", "a".repeat(200_000));
        assert_eq!(eval(&src, &json!({ "v": value }))?, Some(expected[..MAX_VALUE_BYTES].to_string()));
        let short = format!("{}{pattern}x{pattern}", "a".repeat(100_000));
        assert_eq!(eval(&src, &json!({ "v": short }))?, some(&format!("{}-x-", "a".repeat(100_000))));
        Ok(())
    }

    #[test]
    fn replace_output_is_bounded() -> Result<()> {
        let src = format!("v{}", " | replace('a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')".repeat(8));
        let value = eval(&src, &json!({ "v": "aé".repeat(50) }))?.unwrap_or_default();
        assert!(value.len() <= MAX_VALUE_BYTES && value.len() > MAX_VALUE_BYTES - 4);
        assert!(value.starts_with("aaaa"));
        Ok(())
    }

    #[test]
    fn filters_leave_a_missing_value_missing() -> Result<()> {
        for name in [
            "lower",
            "upper",
            "trim",
            "capitalize",
            "firstWord",
            "lastWord",
            "nameFirst",
            "nameLast",
            "localPart",
            "domain",
            "notEmail",
            "truncate(3)",
            "replace('a', 'b')",
        ] {
            assert_eq!(eval(&format!("missing | {name}"), &profile())?, None, "{name}");
        }
        Ok(())
    }

    #[test]
    fn filters_chain_left_to_right() -> Result<()> {
        assert_eq!(eval("email | localPart | replace('.', ' ') | nameLast | capitalize", &profile())?, some("Doe"));
        assert_eq!(eval("email | domain | upper | truncate(4)", &profile())?, some("ACME"));
        assert_eq!(eval("name | lower | capitalize", &profile())?, some("Jane q doe"));
        Ok(())
    }

    #[test]
    fn empty_parentheses_after_a_filter_are_accepted() -> Result<()> {
        assert_eq!(Mapping::parse_expression("F", "name | lower()")?, Mapping::parse_expression("F", "name | lower")?);
        Ok(())
    }

    // --- errors --------------------------------------------------------------------------

    #[test]
    fn an_unknown_filter_lists_the_known_ones_and_suggests_one() {
        let known = "known filters: lower, upper, trim, capitalize, firstWord, lastWord, nameFirst, nameLast, \
                     localPart, domain, notEmail, truncate(n), default('text'), replace('from', 'to')";
        assert_eq!(
            error("name | lowercase"),
            (Some(7), format!("F: unknown filter 'lowercase' at position 7; {known}. Did you mean 'lower'?"))
        );
        assert_eq!(
            error("name|first_word"),
            (Some(5), format!("F: unknown filter 'first_word' at position 5; {known}. Did you mean 'firstWord'?"))
        );
        assert_eq!(
            error("name | capitalise"),
            (Some(7), format!("F: unknown filter 'capitalise' at position 7; {known}. Did you mean 'capitalize'?"))
        );
        assert_eq!(error("name | shout"), (Some(7), format!("F: unknown filter 'shout' at position 7; {known}")));
    }

    #[test]
    fn a_filter_with_the_wrong_number_of_arguments_is_an_error() {
        assert_eq!(
            error("name | truncate"),
            (
                Some(7),
                "F: filter 'truncate' at position 7 needs 1 argument, as in truncate(40), but was given 0".to_string()
            )
        );
        assert_eq!(
            error("name | truncate()"),
            (
                Some(7),
                "F: filter 'truncate' at position 7 needs 1 argument, as in truncate(40), but was given 0".to_string()
            )
        );
        assert_eq!(
            error("name | truncate(1, 2)"),
            (
                Some(7),
                "F: filter 'truncate' at position 7 needs 1 argument, as in truncate(40), but was given 2".to_string()
            )
        );
        assert_eq!(
            error("name | lower(1)"),
            (Some(7), "F: filter 'lower' at position 7 takes no arguments, but was given 1".to_string())
        );
        assert_eq!(
            error("name | replace('a')"),
            (
                Some(7),
                "F: filter 'replace' at position 7 needs 2 arguments, as in replace('_', ' '), but was given 1"
                    .to_string()
            )
        );
        assert_eq!(
            error("name | default"),
            (
                Some(7),
                "F: filter 'default' at position 7 needs 1 argument, as in default('Unknown'), but was given 0"
                    .to_string()
            )
        );
    }

    #[test]
    fn a_filter_argument_of_the_wrong_type_is_an_error() {
        assert_eq!(
            error("name | truncate('40')"),
            (
                Some(16),
                "F: argument 1 of filter 'truncate' at position 16 must be a whole number, as in truncate(40), but \
                 found the quoted text '40'"
                    .to_string()
            )
        );
        assert_eq!(
            error("name | default(5)"),
            (
                Some(15),
                "F: argument 1 of filter 'default' at position 15 must be quoted text, as in default('Unknown'), but \
                 found the number 5"
                    .to_string()
            )
        );
        assert_eq!(
            error("name | replace('a', 1)"),
            (
                Some(20),
                "F: argument 2 of filter 'replace' at position 20 must be quoted text, as in replace('_', ' '), but \
                 found the number 1"
                    .to_string()
            )
        );
        assert_eq!(
            error("name | truncate(-1)"),
            (
                Some(16),
                "F: expected an argument for 'truncate' (a whole number or quoted text) at position 16, found '-1'"
                    .to_string()
            )
        );
        assert_eq!(
            error("name | truncate(0)"),
            (Some(16), "F: truncate(0) at position 16 would always be empty; give at least 1".to_string())
        );
        assert_eq!(
            error("name | replace('', 'x')"),
            (Some(15), "F: the text to replace at position 15 must not be empty".to_string())
        );
    }

    #[test]
    fn malformed_argument_lists_are_errors() {
        assert_eq!(
            error("name | truncate("),
            (
                Some(16),
                "F: expected an argument for 'truncate' (a whole number or quoted text) at position 16, found the end \
                 of the expression"
                    .to_string()
            )
        );
        assert_eq!(
            error("name | truncate(4"),
            (Some(17), "F: expected ',' or ')' at position 17, found the end of the expression".to_string())
        );
        assert_eq!(
            error("name | truncate(4,)"),
            (
                Some(18),
                "F: expected an argument for 'truncate' (a whole number or quoted text) at position 18, found ')'"
                    .to_string()
            )
        );
        assert_eq!(
            error("name | replace('a' 'b')"),
            (Some(19), "F: expected ',' or ')' at position 19, found the quoted text 'b'".to_string())
        );
    }
}
