//! Property tests over the whole language: random text never panics, well-formed expressions
//! round-trip through their source text, evaluation stays within its bounds.

use super::*;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    // Failing cases are kept in proptest-regressions/core/mapping/fuzz.txt (commit it when written).
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// Fragments of the grammar (and near misses), so that random joins often parse.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "name",
            "email",
            "user_metadata",
            "custom:company",
            "a-b",
            "_x",
            "given_name",
            ".",
            "[",
            "]",
            "(",
            ")",
            ",",
            "|",
            "||",
            "??",
            "?",
            "'",
            "\"",
            "\\",
            "\\'",
            "0",
            "1",
            "40",
            "99999999999999999999",
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
            "truncate",
            "default",
            "replace",
            "'x'",
            "\"y\"",
            "'a\\'b'",
            "''",
            "'é👋'",
            "[0]",
            "[\"k k\"]",
            " ",
            "  ",
            "\t",
            "é",
            "#",
            "\u{0}",
        ])
        .prop_map(str::to_string),
        small_text(3),
    ]
}

/// Up to `max` arbitrary characters (cheaper to generate than a regex strategy).
fn small_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..24).prop_map(|tokens| tokens.concat())
}

/// Mostly well-formed expression text with random spacing, sometimes with one token spliced
/// in at a random place.
fn sentence() -> impl Strategy<Value = String> {
    let space = || prop::sample::select(vec!["", " ", "  ", "\t"]);
    let term = prop::sample::select(vec![
        "name",
        "email",
        "user_metadata.company",
        "custom:company",
        "identities[0].provider",
        "[\"first name\"]",
        "a[ 1 ]['b']",
        "'Web'",
        "\"it's\"",
        "'a\\'b'",
        "''",
        "'Zoë 👋'",
    ]);
    let filter = prop::sample::select(vec![
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
        "truncate( 40 )",
        "default('x')",
        "replace('a', \"b\")",
        "lower()",
        "truncate(0)",
        "truncate('1')",
        "nope",
    ]);
    let alternative =
        (term, prop::collection::vec((space(), filter, space()), 0..4), space()).prop_map(|(term, filters, pad)| {
            let mut out = format!("{pad}{term}");
            for (before, filter, after) in filters {
                out.push_str(&format!("{before}|{after}{filter}"));
            }
            out
        });
    let expr = prop::collection::vec((alternative, space()), 1..5).prop_map(|alternatives| {
        alternatives.into_iter().map(|(alt, pad)| format!("{alt}{pad}")).collect::<Vec<_>>().join("??")
    });
    (expr, prop::option::of((any::<prop::sample::Index>(), token()))).prop_map(|(expr, splice)| match splice {
        None => expr,
        Some((at, token)) => {
            let mut chars: Vec<char> = expr.chars().collect();
            let at = at.index(chars.len() + 1);
            chars.splice(at..at, token.chars());
            chars.into_iter().collect()
        }
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["name", "custom:company", "a-b", "_", "first name", "0", "", "k\"'"])
            .prop_map(str::to_string),
        small_text(6)
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a", " ", "it's", "\"q\"", "\\", "é👋", ""]).prop_map(str::to_string),
        small_text(6)
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    prop_oneof![
        prop::sample::select(vec![
            Filter::Lower,
            Filter::Upper,
            Filter::Trim,
            Filter::Capitalize,
            Filter::FirstWord,
            Filter::LastWord,
            Filter::NameFirst,
            Filter::NameLast,
            Filter::LocalPart,
            Filter::Domain,
            Filter::NotEmail,
        ]),
        (1usize..200).prop_map(Filter::Truncate),
        text().prop_map(Filter::Default),
        (text().prop_filter("non-empty", |s| !s.is_empty()), text())
            .prop_map(|(from, to)| Filter::Replace { from, to }),
    ]
}

fn term() -> impl Strategy<Value = Term> {
    let segment = prop_oneof![key().prop_map(PathSegment::Key), (0usize..5).prop_map(PathSegment::Index)];
    prop_oneof![
        (key(), prop::collection::vec(segment, 0..4)).prop_map(|(first, mut rest)| {
            rest.insert(0, PathSegment::Key(first));
            Term::Path(rest)
        }),
        text().prop_map(Term::Literal),
    ]
}

/// Any well-formed expression within the count limits (it may be over the length limit).
fn expr() -> impl Strategy<Value = Expr> {
    let alternative =
        (term(), prop::collection::vec(filter(), 0..6)).prop_map(|(term, filters)| Alternative { term, filters });
    prop::collection::vec(alternative, 1..5).prop_map(|alternatives| Expr { alternatives })
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        small_text(12).prop_map(Value::String),
        prop::sample::select(vec!["Jane Q Doe", "jane@acme.com", "@", " ", "Zoë 👋", "a@b@c"]).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(vec![
                        "user_id",
                        "email",
                        "email_verified",
                        "name",
                        "given_name",
                        "family_name",
                        "nickname",
                        "username",
                        "phone_number",
                        "picture",
                        "created_at",
                        "app_metadata",
                        "user_metadata",
                        "logins_count",
                        "host",
                        "connection",
                        "company",
                        "custom:company",
                        "v",
                    ])
                    .prop_map(str::to_string),
                    small_text(4),
                ],
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn check_error(err: &RuleError, src: &str) {
    assert_eq!(err.code, ErrorCode::MappingInvalid);
    assert_eq!(err.field.as_deref(), Some("F"));
    assert!(err.position.is_some_and(|p| p <= src.chars().count()), "{err:?} for {src:?}");
    assert!(err.message.starts_with("F: "));
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(src in small_text(64)) {
        match Mapping::parse_expression("F", &src) {
            Ok(expr) => prop_assert_eq!(Mapping::parse_expression("F", &expr.to_source()), Ok(expr)),
            Err(err) => check_error(&err, &src),
        }
    }

    #[test]
    fn grammar_soup_never_panics_and_round_trips(src in prop_oneof![soup(), sentence()]) {
        match Mapping::parse_expression("F", &src) {
            Ok(expr) => {
                let source = expr.to_source();
                prop_assert!(source.chars().count() <= MAX_EXPRESSION_CHARS);
                prop_assert_eq!(Mapping::parse_expression("F", &source), Ok(expr));
            }
            Err(err) => check_error(&err, &src),
        }
    }

    #[test]
    fn well_formed_expressions_round_trip(expr in expr(), profile in json()) {
        let source = expr.to_source();
        if source.chars().count() <= MAX_EXPRESSION_CHARS {
            prop_assert_eq!(Mapping::parse_expression("F", &source), Ok(expr.clone()));
        }
        if let Some(value) = expr.evaluate(&profile, &CaseMap::UNICODE) {
            prop_assert!(!value.trim().is_empty());
            prop_assert!(value.len() <= MAX_VALUE_BYTES.max(MAX_EXPRESSION_CHARS * 4 + 1024));
        }
    }

    #[test]
    fn mappings_round_trip(entries in prop::collection::btree_map("[A-Za-z][A-Za-z0-9_]{0,10}", prop_oneof![soup(), sentence()], 0..4)) {
        let source: MappingSource = entries.into_iter().map(|(f, e)| (f, Value::String(e))).collect();
        if let Ok(mapping) = Mapping::parse(&source, CaseMap::UNICODE) {
            prop_assert_eq!(Mapping::parse(&mapping.to_source(), CaseMap::UNICODE), Ok(mapping));
        }
    }

    #[test]
    fn evaluating_random_profiles_never_panics(profile in json(), src in prop_oneof![soup(), sentence()]) {
        for name in Mapping::PRESETS {
            let mapping = Mapping::preset(name, CaseMap::UNICODE).unwrap_or(Mapping { fields: vec![], case: CaseMap::UNICODE });
            let values = mapping.evaluate(&profile);
            prop_assert_eq!(values.len(), mapping.fields.len());
            for (_, value) in values {
                prop_assert!(value.map_or(true, |v| !v.trim().is_empty()));
            }
        }
        if let Ok(expr) = Mapping::parse_expression("F", &src) {
            prop_assert!(expr.evaluate(&profile, &CaseMap::UNICODE).map_or(true, |v| !v.trim().is_empty()));
        }
    }

    #[test]
    fn truncate_never_exceeds_its_limit(value in small_text(40), max in 1usize..20) {
        let out = Filter::Truncate(max).apply(Some(value.clone()), &CaseMap::UNICODE);
        prop_assert!(out.as_ref().is_some_and(|v| v.chars().count() <= max && value.starts_with(v.as_str())));
    }
}
