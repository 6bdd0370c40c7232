//! Text encodings: percent-encoding of what goes into a URL or a form body (one query value, one
//! path segment, one form value; `percent-encoding` and `form_urlencoded`, the `url` crate's own),
//! and the base64 the core reads (Svix secrets and signatures, PEM bodies). Pure text.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// `application/x-www-form-urlencoded` encoding of one value (`form_urlencoded`, as `URLSearchParams`
/// writes it: letters, digits, `*-._` kept, space as `+`).
pub fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// [`form_encode`], appended to `out`.
pub fn form_encode_into(out: &mut String, value: &str) {
    out.extend(form_urlencoded::byte_serialize(value.as_bytes()));
}

/// Every byte but the RFC 3986 unreserved ones (letters, digits, `-`, `.`, `_`, `~`): a query value.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// [`UNRESERVED`] and `.` too: one path segment.
const SEGMENT: &AsciiSet = &UNRESERVED.add(b'.');

/// Percent-encoding of one query value (RFC 3986 unreserved kept).
pub fn percent_encode(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// One URL path segment: every byte but ASCII letters, digits, `-`, `_` and `~` percent-encoded,
/// `.` included, so `/`, `?`, `#`, `%` and `\` in a value stay inside its segment. A value of
/// `.` or `..` is a dot segment even encoded (WHATWG URLs, hence `fetch`, read `%2E` as `.`):
/// such a value cannot be a segment, and callers refuse it ([`is_dot_segment`]).
pub fn path_segment_into(out: &mut String, value: &str) {
    out.extend(utf8_percent_encode(value, SEGMENT));
}

/// [`path_segment_into`] into a new string.
pub fn path_segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// `""`, `.` or `..`: a value that can never be one literal path segment. URL parsing removes
/// `.` and `..` (also written `%2E`, `.%2e`, …) with the segment before them, and an empty
/// segment names the collection instead of one record.
pub fn is_dot_segment(value: &str) -> bool {
    matches!(value, "" | "." | "..")
}

/// Standard-alphabet base64 (Svix secrets and signatures, PEM bodies) with `=` padding optional,
/// but complete when present: `Zg==` and `Zg` read as `f`, `Zg=` is refused. Non-canonical spellings
/// (trailing bits set, `Zh==`) and whitespace are refused, so one byte string has one spelling.
pub(crate) fn decode_base64(text: &str) -> std::result::Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine;
    if text.ends_with('=') {
        STANDARD.decode(text)
    } else {
        STANDARD_NO_PAD.decode(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(percent_encode("a b'c"), "a%20b%27c");
        assert_eq!(form_encode("*~ é€x"), "*%7E+%C3%A9%E2%82%ACx");
        assert_eq!(percent_encode("*~ é€x"), "%2A~%20%C3%A9%E2%82%ACx");
        assert_eq!((form_encode(""), percent_encode("é")), (String::new(), "%C3%A9".to_string()));
    }

    #[test]
    fn a_path_segment_keeps_only_letters_digits_dash_underscore_tilde() {
        for (value, segment) in [
            (".", "%2E"),
            ("..", "%2E%2E"),
            ("a/b", "a%2Fb"),
            ("?x", "%3Fx"),
            ("#x", "%23x"),
            ("%2e", "%252e"),
            ("auth0|1", "auth0%7C1"),
            ("a b\\c", "a%20b%5Cc"),
            ("é€", "%C3%A9%E2%82%AC"),
            ("user.name-1_~", "user%2Ename-1_~"),
            ("Az09", "Az09"),
        ] {
            assert_eq!(path_segment(value), segment, "{value:?}");
        }
        // Every byte outside the kept set is encoded.
        let all: String = (0u32..0x100).filter_map(char::from_u32).collect();
        let kept: String = path_segment(&all).chars().filter(|c| *c != '%' && !c.is_ascii_hexdigit()).collect();
        assert_eq!(kept, "-GHIJKLMNOPQRSTUVWXYZ_ghijklmnopqrstuvwxyz~");
        assert!(is_dot_segment("..") && is_dot_segment(".") && is_dot_segment(""));
        assert!(!is_dot_segment("...") && !is_dot_segment("%2e") && !is_dot_segment(". "));
    }

    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine;

    #[test]
    fn base64_padding_is_optional_but_complete_and_spellings_canonical() {
        // RFC 4648 §10 vectors, padded and not.
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(decode_base64(coded).as_deref(), Ok(plain.as_bytes()), "{coded}");
            assert_eq!(decode_base64(coded.trim_end_matches('=')).as_deref(), Ok(plain.as_bytes()), "{coded}");
            assert_eq!(BASE64.encode(plain), coded);
        }
        assert_eq!(decode_base64("+/+/").as_deref(), Ok(&[0xfb, 0xff, 0xbf][..]));
        for bad in [
            "Z",
            "Zm9vY",
            "Zg=",
            "Zm8==",
            "Zm9v=",
            "Zm9v====",
            "Z=9v",
            "=",
            "Zm9v Zg==",
            "Zm9v\n",
            "Zh==",
            "Zm9=",
            "é",
            "-_-_",
        ] {
            assert!(decode_base64(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
