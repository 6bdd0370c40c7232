//! Substring search for the few places that look for a `&str` inside a `&str`: a byte-wise
//! search instead of `str::find`/`contains`/`split_once`/`replace` with a `&str` pattern, whose
//! two-way searcher (and its string-slicing panic path) costs about 3 kB of wasm. The texts
//! searched here are short (URLs, keys, one remote answer), so the simple search is fast enough.

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

#[cfg(test)]
mod tests {
    use super::*;

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
