//! The parser: a hand-written lexer driven by a flat (non-recursive) parser, so depth and time are
//! bounded by the expression length limit. Errors are `Problem`s: a position and a message.

use super::filters::{build_filter, unknown_filter, Arg, FILTER_SPECS};
use super::syntax::{is_key_char, is_key_start};
use super::{snippet, Alternative, Expr, Filter, PathSegment, Problem, Term, MAX_ALTERNATIVES, MAX_FILTERS};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Key(String),
    Number(String),
    Text(String),
    Dot,
    Open,
    Close,
    LParen,
    RParen,
    Comma,
    Pipe,
    Or,
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

pub(super) struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    pub(super) fn new(src: &str) -> Parser {
        Parser { chars: src.chars().collect(), pos: 0 }
    }

    fn char_at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    /// The source text of a token, shortened for a message.
    fn source(&self, token: &Token) -> String {
        let text: String = self.chars.get(token.start..token.end).unwrap_or_default().iter().collect();
        snippet(&text)
    }

    fn describe(&self, token: &Token) -> String {
        match token.tok {
            Tok::End => "the end of the expression".to_string(),
            Tok::Text(_) => format!("the quoted text {}", self.source(token)),
            Tok::Number(_) => format!("the number {}", self.source(token)),
            _ => format!("'{}'", self.source(token)),
        }
    }

    fn expected(&self, what: &str, found: &Token) -> Problem {
        Problem {
            at: found.start,
            message: format!("expected {what} at position {}, found {}", found.start, self.describe(found)),
        }
    }

    /// The next token, without consuming it.
    fn peek(&self) -> std::result::Result<Token, Problem> {
        let mut i = self.pos;
        while self.char_at(i).is_some_and(char::is_whitespace) {
            i += 1;
        }
        let start = i;
        let Some(c) = self.char_at(i) else {
            return Ok(Token { tok: Tok::End, start, end: start });
        };
        let single = |tok| Ok(Token { tok, start, end: start + 1 });
        match c {
            '.' => single(Tok::Dot),
            '[' => single(Tok::Open),
            ']' => single(Tok::Close),
            '(' => single(Tok::LParen),
            ')' => single(Tok::RParen),
            ',' => single(Tok::Comma),
            '|' => single(Tok::Pipe),
            '?' if self.char_at(i + 1) == Some('?') => Ok(Token { tok: Tok::Or, start, end: start + 2 }),
            '?' => Err(Problem {
                at: start,
                message: format!("found a single '?' at position {start}; write '??' between alternatives"),
            }),
            '\'' | '"' => self.quoted(start, c),
            c if c.is_ascii_digit() => {
                let end = self.run_end(start, |c| c.is_ascii_digit());
                Ok(Token { tok: Tok::Number(self.collect(start, end)), start, end })
            }
            c if is_key_start(c) => {
                let end = self.run_end(start, is_key_char);
                Ok(Token { tok: Tok::Key(self.collect(start, end)), start, end })
            }
            c => Err(Problem {
                at: start,
                message: format!(
                    "unexpected character {} at position {start}; a key with characters other than \
                     letters, digits, '_', '-' and ':' must be quoted, as in [\"my key\"]",
                    quote_char(c)
                ),
            }),
        }
    }

    fn run_end(&self, start: usize, accept: impl Fn(char) -> bool) -> usize {
        let mut end = start;
        while self.char_at(end).is_some_and(&accept) {
            end += 1;
        }
        end
    }

    fn collect(&self, start: usize, end: usize) -> String {
        self.chars.get(start..end).unwrap_or_default().iter().collect()
    }

    fn quoted(&self, start: usize, q: char) -> std::result::Result<Token, Problem> {
        let mut text = String::new();
        let mut i = start + 1;
        loop {
            match self.char_at(i) {
                None => {
                    return Err(Problem {
                        at: start,
                        message: format!(
                            "the quoted text starting at position {start} is not closed: add a {q} at its end"
                        ),
                    })
                }
                Some(c) if c == q => return Ok(Token { tok: Tok::Text(text), start, end: i + 1 }),
                Some('\\') => match self.char_at(i + 1) {
                    Some(escaped @ ('\\' | '\'' | '"')) => {
                        text.push(escaped);
                        i += 2;
                    }
                    Some(other) => {
                        return Err(Problem {
                            at: i,
                            message: format!(
                                "unsupported escape '\\{other}' at position {i}; inside quotes only \\\\, \\' and \\\" \
                                 are allowed"
                            ),
                        })
                    }
                    None => {
                        return Err(Problem {
                            at: start,
                            message: format!(
                                "the quoted text starting at position {start} is not closed: add a {q} at its end"
                            ),
                        })
                    }
                },
                Some(c) => {
                    text.push(c);
                    i += 1;
                }
            }
        }
    }

    pub(super) fn expression(&mut self) -> std::result::Result<Expr, Problem> {
        if self.chars.iter().all(|c| c.is_whitespace()) {
            return Err(Problem {
                at: 0,
                message: "the expression is empty: expected a path such as email or a quoted literal such \
                          as 'Unknown'"
                    .to_string(),
            });
        }
        let mut alternatives = vec![self.alternative()?];
        loop {
            let token = self.peek()?;
            match token.tok {
                Tok::End => return Ok(Expr { alternatives }),
                Tok::Or if alternatives.len() >= MAX_ALTERNATIVES => {
                    return Err(Problem {
                        at: token.start,
                        message: format!(
                            "too many alternatives at position {}: at most {MAX_ALTERNATIVES} may be joined by '??'",
                            token.start
                        ),
                    })
                }
                Tok::Or => {
                    self.pos = token.end;
                    alternatives.push(self.alternative()?);
                }
                Tok::Key(_) | Tok::Text(_) | Tok::Number(_) => {
                    let mut problem = self.expected("'|', '??' or the end of the expression", &token);
                    problem.message.push_str("; put '??' between alternatives and '|' before a filter");
                    return Err(problem);
                }
                _ => return Err(self.expected("'|', '??' or the end of the expression", &token)),
            }
        }
    }

    fn alternative(&mut self) -> std::result::Result<Alternative, Problem> {
        let term = self.term()?;
        let mut filters = Vec::new();
        loop {
            let token = self.peek()?;
            if token.tok != Tok::Pipe {
                return Ok(Alternative { term, filters });
            }
            self.pos = token.end;
            if filters.len() >= MAX_FILTERS {
                let at = self.peek()?.start;
                return Err(Problem {
                    at,
                    message: format!("too many filters at position {at}: at most {MAX_FILTERS} may follow one value"),
                });
            }
            filters.push(self.filter()?);
        }
    }

    fn term(&mut self) -> std::result::Result<Term, Problem> {
        let token = self.peek()?;
        match token.tok {
            Tok::Text(text) => {
                self.pos = token.end;
                Ok(Term::Literal(text))
            }
            Tok::Key(key) => {
                self.pos = token.end;
                let mut segments = vec![PathSegment::Key(key)];
                self.segments(&mut segments)?;
                Ok(Term::Path(segments))
            }
            Tok::Open => {
                let mut segments = Vec::new();
                self.segments(&mut segments)?;
                Ok(Term::Path(segments))
            }
            _ => Err(self.expected("a path or a quoted literal", &token)),
        }
    }

    fn segments(&mut self, segments: &mut Vec<PathSegment>) -> std::result::Result<(), Problem> {
        loop {
            let token = self.peek()?;
            match token.tok {
                Tok::Dot => {
                    self.pos = token.end;
                    let key = self.peek()?;
                    match key.tok {
                        Tok::Key(name) => {
                            self.pos = key.end;
                            segments.push(PathSegment::Key(name));
                        }
                        Tok::Number(_) => {
                            let mut problem = self.expected("a key name after '.'", &key);
                            problem
                                .message
                                .push_str("; write [n] for the item at position n of a list, as in identities[0]");
                            return Err(problem);
                        }
                        _ => return Err(self.expected("a key name after '.'", &key)),
                    }
                }
                Tok::Open => {
                    self.pos = token.end;
                    let inner = self.peek()?;
                    let segment = match inner.tok {
                        Tok::Number(ref digits) => PathSegment::Index(parse_number(digits, inner.start)?),
                        Tok::Text(ref key) => PathSegment::Key(key.clone()),
                        _ => {
                            return Err(self.expected(
                                "a list index such as [0] or a quoted key such as [\"my key\"] after '['",
                                &inner,
                            ))
                        }
                    };
                    self.pos = inner.end;
                    let close = self.peek()?;
                    if close.tok != Tok::Close {
                        return Err(self.expected("']'", &close));
                    }
                    self.pos = close.end;
                    segments.push(segment);
                }
                _ => return Ok(()),
            }
        }
    }

    fn filter(&mut self) -> std::result::Result<Filter, Problem> {
        let token = self.peek()?;
        let Tok::Key(ref name) = token.tok else {
            return Err(self.expected("a filter name after '|'", &token));
        };
        let Some(spec) = FILTER_SPECS.iter().find(|spec| spec.name == name) else {
            return Err(unknown_filter(name, token.start));
        };
        self.pos = token.end;
        let mut args = Vec::new();
        let open = self.peek()?;
        if open.tok == Tok::LParen {
            self.pos = open.end;
            if self.peek()?.tok == Tok::RParen {
                self.pos = self.peek()?.end;
            } else {
                loop {
                    let arg = self.peek()?;
                    let value = match arg.tok {
                        Tok::Number(ref digits) => Arg::Number(parse_number(digits, arg.start)?),
                        Tok::Text(ref text) => Arg::Text(text.clone()),
                        _ => {
                            return Err(self.expected(
                                &format!("an argument for '{}' (a whole number or quoted text)", spec.name),
                                &arg,
                            ))
                        }
                    };
                    self.pos = arg.end;
                    args.push((value, arg.start, self.describe(&arg)));
                    let next = self.peek()?;
                    match next.tok {
                        Tok::Comma => self.pos = next.end,
                        Tok::RParen => {
                            self.pos = next.end;
                            break;
                        }
                        _ => return Err(self.expected("',' or ')'", &next)),
                    }
                }
            }
        }
        build_filter(spec, token.start, &args)
    }
}

fn parse_number(digits: &str, at: usize) -> std::result::Result<usize, Problem> {
    digits
        .parse()
        .map_err(|_| Problem { at, message: format!("the number {} at position {at} is too large", snippet(digits)) })
}

/// `c` in single quotes as Rust's `{:?}` shows it for the usual cases: `'#'`, `'\''`, `'\n'`,
/// `'\u{7}'` (kept small: `char`'s `Debug` brings Unicode tables with it).
fn quote_char(c: char) -> String {
    match c {
        '\'' | '\\' => format!("'\\{c}'"),
        '\n' => "'\\n'".to_string(),
        '\r' => "'\\r'".to_string(),
        '\t' => "'\\t'".to_string(),
        c if c.is_control() => format!("'\\u{{{:x}}}'", c as u32),
        c => format!("'{c}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mapping::test_support::*;
    use crate::core::mapping::*;

    #[test]
    fn quote_char_shows_characters_as_debug_does() {
        for c in ['#', '{', '\'', '\\', '\n', '\r', '\t', '\u{7}', '\u{85}', 'é', '😀', ' ', '"'] {
            assert_eq!(quote_char(c), format!("{c:?}"));
        }
    }

    #[test]
    fn an_empty_expression_is_an_error() {
        let expected =
            "F: the expression is empty: expected a path such as email or a quoted literal such as 'Unknown'";
        assert_eq!(error(""), (Some(0), expected.to_string()));
        assert_eq!(error("   "), (Some(0), expected.to_string()));
    }

    #[test]
    fn a_missing_term_names_what_was_expected_and_found() {
        assert_eq!(
            error("family_name?? | nameLast"),
            (Some(14), "F: expected a path or a quoted literal at position 14, found '|'".to_string())
        );
        assert_eq!(
            error("?? name"),
            (Some(0), "F: expected a path or a quoted literal at position 0, found '??'".to_string())
        );
        assert_eq!(
            error("| lower"),
            (Some(0), "F: expected a path or a quoted literal at position 0, found '|'".to_string())
        );
        assert_eq!(
            error("42"),
            (Some(0), "F: expected a path or a quoted literal at position 0, found the number 42".to_string())
        );
    }

    #[test]
    fn double_question_mark_with_nothing_after_is_an_error() {
        assert_eq!(
            error("name ??"),
            (
                Some(7),
                "F: expected a path or a quoted literal at position 7, found the end of the expression".to_string()
            )
        );
        assert_eq!(
            error("name ?? ?? 'x'"),
            (Some(8), "F: expected a path or a quoted literal at position 8, found '??'".to_string())
        );
    }

    #[test]
    fn a_single_question_mark_is_an_error() {
        assert_eq!(
            error("name ? 'x'"),
            (Some(5), "F: found a single '?' at position 5; write '??' between alternatives".to_string())
        );
    }

    #[test]
    fn a_pipe_without_a_filter_is_an_error() {
        assert_eq!(
            error("name |"),
            (Some(6), "F: expected a filter name after '|' at position 6, found the end of the expression".to_string())
        );
        assert_eq!(
            error("name | 'x'"),
            (Some(7), "F: expected a filter name after '|' at position 7, found the quoted text 'x'".to_string())
        );
        assert_eq!(
            error("name || lower"),
            (Some(6), "F: expected a filter name after '|' at position 6, found '|'".to_string())
        );
    }

    #[test]
    fn an_unterminated_quote_points_at_its_start() {
        assert_eq!(
            error("'Web"),
            (Some(0), "F: the quoted text starting at position 0 is not closed: add a ' at its end".to_string())
        );
        assert_eq!(
            error("name ?? \"Web"),
            (Some(8), "F: the quoted text starting at position 8 is not closed: add a \" at its end".to_string())
        );
        assert_eq!(
            error(r"'Web\'"),
            (Some(0), "F: the quoted text starting at position 0 is not closed: add a ' at its end".to_string())
        );
        assert_eq!(
            error(r"'Web\"),
            (Some(0), "F: the quoted text starting at position 0 is not closed: add a ' at its end".to_string())
        );
    }

    #[test]
    fn only_three_escapes_exist() {
        assert_eq!(
            error(r"'a\nb'"),
            (
                Some(2),
                r#"F: unsupported escape '\n' at position 2; inside quotes only \\, \' and \" are allowed"#.to_string()
            )
        );
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        assert_eq!(
            error("name )"),
            (Some(5), "F: expected '|', '??' or the end of the expression at position 5, found ')'".to_string())
        );
        assert_eq!(
            error("given name"),
            (
                Some(6),
                "F: expected '|', '??' or the end of the expression at position 6, found 'name'; put '??' between \
                 alternatives and '|' before a filter"
                    .to_string()
            )
        );
        assert_eq!(
            error("'Web' 'Mobile'"),
            (
                Some(6),
                "F: expected '|', '??' or the end of the expression at position 6, found the quoted text 'Mobile'; \
                 put '??' between alternatives and '|' before a filter"
                    .to_string()
            )
        );
        assert_eq!(
            error("'Web'.x"),
            (Some(5), "F: expected '|', '??' or the end of the expression at position 5, found '.'".to_string())
        );
    }

    #[test]
    fn an_unexpected_character_is_an_error() {
        assert_eq!(
            error("user#name"),
            (
                Some(4),
                "F: unexpected character '#' at position 4; a key with characters other than letters, digits, '_', \
                 '-' and ':' must be quoted, as in [\"my key\"]"
                    .to_string()
            )
        );
        let (position, message) = error("{{name}}");
        assert_eq!(position, Some(0));
        assert!(message.starts_with("F: unexpected character '{' at position 0"), "{message}");
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(
            error("'Zoë' ?? |"),
            (Some(9), "F: expected a path or a quoted literal at position 9, found '|'".to_string())
        );
    }

    #[test]
    fn malformed_paths_are_errors() {
        assert_eq!(
            error("tags.0"),
            (
                Some(5),
                "F: expected a key name after '.' at position 5, found the number 0; write [n] for the item at \
                 position n of a list, as in identities[0]"
                    .to_string()
            )
        );
        assert_eq!(
            error("user_metadata."),
            (Some(14), "F: expected a key name after '.' at position 14, found the end of the expression".to_string())
        );
        assert_eq!(
            error("tags[x]"),
            (
                Some(5),
                "F: expected a list index such as [0] or a quoted key such as [\"my key\"] after '[' at position 5, \
                 found 'x'"
                    .to_string()
            )
        );
        assert_eq!(
            error("tags[0"),
            (Some(6), "F: expected ']' at position 6, found the end of the expression".to_string())
        );
        assert_eq!(
            error("tags[99999999999999999999999]"),
            (Some(5), "F: the number 99999999999999999999999 at position 5 is too large".to_string())
        );
        assert_eq!(
            error("1abc"),
            (Some(0), "F: expected a path or a quoted literal at position 0, found the number 1".to_string())
        );
    }

    #[test]
    fn at_most_16_alternatives() -> Result<()> {
        let sixteen = vec!["a"; 16].join(" ?? ");
        assert_eq!(Mapping::parse_expression("F", &sixteen)?.alternatives.len(), 16);
        let seventeen = vec!["a"; 17].join(" ?? ");
        // The 16th "??" starts at 15 * len("a ?? ") + 2.
        assert_eq!(
            error(&seventeen),
            (Some(77), "F: too many alternatives at position 77: at most 16 may be joined by '??'".to_string())
        );
        Ok(())
    }

    #[test]
    fn at_most_16_filters_per_alternative() -> Result<()> {
        let sixteen = format!("a{}", "|trim".repeat(16));
        assert_eq!(
            Mapping::parse_expression("F", &sixteen)?.alternatives.iter().map(|a| a.filters.len()).sum::<usize>(),
            16
        );
        let seventeen = format!("a{}", "|trim".repeat(17));
        assert_eq!(
            error(&seventeen),
            (Some(82), "F: too many filters at position 82: at most 16 may follow one value".to_string())
        );
        // The limit is per alternative.
        let two = format!("a{0} ?? b{0}", "|trim".repeat(16));
        assert_eq!(Mapping::parse_expression("F", &two)?.alternatives.len(), 2);
        Ok(())
    }
}
