//! RFC 4180 CSV, as Bulk API 2.0 reads and writes it: the upload we build and the result files we
//! read back. Values are data, never formulas: a leading `=`, `+`, `-` or `@` is kept as it is
//! (Salesforce stores text, it does not evaluate it) and simply quoted like any other value.

/// One cell: bare when it is plain, else quoted with inner quotes doubled. Quoted whenever it
/// holds a quote, comma, CR or LF, starts or ends with a space, or starts with a formula sign, so
/// no reader can split, trim or evaluate it.
pub fn cell(value: &str) -> String {
    let needs_quotes = value.contains(['"', ',', '\n', '\r'])
        || value.starts_with([' ', '\t', '=', '+', '-', '@'])
        || value.ends_with([' ', '\t']);
    if needs_quotes {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// One line of cells, ending in LF (the job's `lineEnding`).
pub fn line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = cells.iter().map(|c| cell(c.as_ref())).collect::<Vec<_>>().join(",");
    out.push('\n');
    out
}

/// A CSV file that did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    pub line: usize,
    pub message: &'static str,
}

/// Rows of cells. LF and CRLF both end a record outside quotes; blank lines are skipped; inside
/// quotes, `""` is one quote and line breaks are data.
pub fn parse(text: &str) -> Result<Vec<Vec<String>>, CsvError> {
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut touched = false;
    let mut in_quotes = false;
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => {
                    in_quotes = false;
                    if !matches!(chars.peek(), None | Some(',') | Some('\n') | Some('\r')) {
                        return Err(CsvError { line, message: "text after a closing quote" });
                    }
                }
                _ => {
                    if c == '\n' {
                        line += 1;
                    }
                    field.push(c);
                }
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                in_quotes = true;
                touched = true;
            }
            '"' => return Err(CsvError { line, message: "a quote inside an unquoted value" }),
            ',' => {
                row.push(std::mem::take(&mut field));
                touched = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                if touched || !field.is_empty() || !row.is_empty() {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                touched = false;
            }
            _ => {
                field.push(c);
                touched = true;
            }
        }
    }
    if in_quotes {
        return Err(CsvError { line, message: "a quoted value is not closed" });
    }
    if touched || !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(cell("Doe"), "Doe");
        assert_eq!(cell(""), "");
        assert_eq!(cell("O'Brien"), "O'Brien");
        assert_eq!(cell("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("cr\r"), "\"cr\r\"");
        assert_eq!(cell(" padded "), "\" padded \"");
    }

    #[test]
    fn formula_signs_are_kept_as_data_and_quoted() {
        for v in ["=HYPERLINK(\"http://x\")", "+1 555 0100", "-5", "@SUM(A1)"] {
            let c = cell(v);
            assert!(c.starts_with('"') && c.ends_with('"'), "{c}");
            assert_eq!(parse(&c).unwrap(), vec![vec![v.to_string()]], "round trip of {v}");
        }
    }

    #[test]
    fn round_trips_lines() {
        let rows = vec![
            vec!["LastName".to_string(), "Company".into(), "Description".into()],
            vec!["Doe".into(), "Acme, \"the\" company".into(), "line one\nline two\r\nthree".into()],
            vec!["".into(), "=1+1".into(), "é 林".into()],
        ];
        let text: String = rows.iter().map(|r| line(r)).collect();
        assert_eq!(parse(&text).unwrap(), rows);
        let crlf = "a,b\r\n\"x\",\"\"\r\n\r\n";
        assert_eq!(parse(crlf).unwrap(), vec![vec!["a".to_string(), "b".into()], vec!["x".into(), "".into()]]);
    }

    #[test]
    fn malformed_csv_is_an_error_with_its_line() {
        assert_eq!(parse("a,b\n\"open").unwrap_err(), CsvError { line: 2, message: "a quoted value is not closed" });
        assert_eq!(parse("a\nx\"y\n").unwrap_err().line, 2);
        assert_eq!(parse("\"a\"b").unwrap_err().message, "text after a closing quote");
    }
}
