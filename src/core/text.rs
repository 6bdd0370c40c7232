//! Unicode whitespace checks that decode characters only when the text is not ASCII. (Substring
//! search is std's: `str::find`, `contains`, `split_once`, `replace`.)

/// `char::is_whitespace` for an ASCII byte: tab, LF, VT, FF, CR and space (`u8::is_ascii_whitespace`
/// leaves out VT).
pub fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

/// `s.chars().any(char::is_whitespace)`, byte-wise for ASCII text.
pub fn has_whitespace(s: &str) -> bool {
    if s.is_ascii() {
        s.bytes().any(is_ascii_space)
    } else {
        s.chars().any(char::is_whitespace)
    }
}

/// Empty or whitespace only (`char::is_whitespace`, Unicode's).
pub fn is_blank(s: &str) -> bool {
    match s.as_bytes().first() {
        // Most values start with a visible ASCII character: no need to decode any.
        Some(&b) if b.is_ascii() && !is_ascii_space(b) => false,
        _ => s.trim().is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_checks_follow_char_is_whitespace() {
        for c in (0u32..0x3100).filter_map(char::from_u32) {
            for s in [c.to_string(), format!("a{c}"), format!("{c}é"), format!(" {c} ")] {
                assert_eq!(has_whitespace(&s), s.chars().any(char::is_whitespace), "{s:?}");
                assert_eq!(is_blank(&s), s.trim().is_empty(), "{s:?}");
            }
        }
        assert!(is_blank(""));
        assert!(!has_whitespace(""));
    }
}
