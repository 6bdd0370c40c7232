//! Text encodings the core reads (base64 of Svix secrets and signatures, PEM bodies).

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
