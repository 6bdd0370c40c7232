//! Substring search for the few places that look for a `&str` inside a `&str`: a byte-wise
//! search instead of `str::find`/`contains`/`split_once`/`replace` with a `&str` pattern, whose
//! two-way searcher (and its string-slicing panic path) costs about 3 kB of wasm. The texts
//! searched here are short (URLs, keys, one remote answer), so the simple search is fast enough.
//! Also Unicode whitespace checks that decode characters only when the text is not ASCII.

/// Byte offset of the first `needle` in `hay` (a char boundary, `needle` being UTF-8 too).
pub fn find(hay: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.as_bytes().windows(needle.len()).position(|w| w == needle.as_bytes())
}

pub fn contains(hay: &str, needle: &str) -> bool {
    find(hay, needle).is_some()
}

/// `hay.split_once(needle)`.
pub fn split_once<'a>(hay: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    let (before, rest) = hay.split_at_checked(find(hay, needle)?)?;
    Some((before, rest.get(needle.len()..)?))
}

/// `hay.replace(from, to)` for a non-empty `from`.
pub fn replace(hay: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(hay.len());
    let mut rest = hay;
    while let Some((before, after)) = split_once(rest, from).filter(|_| !from.is_empty()) {
        out.push_str(before);
        out.push_str(to);
        rest = after;
    }
    out.push_str(rest);
    out
}

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

    #[test]
    fn behaves_like_the_str_methods() {
        for (hay, needle) in [("a://b://c", "://"), ("", "x"), ("xx", "xxx"), ("é-é", "-"), ("aaa", "aa"), ("ab", "")]
        {
            assert_eq!(find(hay, needle), hay.find(needle), "{hay} {needle}");
            assert_eq!(split_once(hay, needle), hay.split_once(needle), "{hay} {needle}");
            if !needle.is_empty() {
                assert_eq!(replace(hay, needle, "*"), hay.replace(needle, "*"), "{hay} {needle}");
            }
        }
    }
}
