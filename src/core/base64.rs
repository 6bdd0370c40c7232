//! Base64 (RFC 4648) in a few lines: the standard and url-safe alphabets, padding optional on
//! input. Used for Svix secrets and signatures and JWT segments. Never panics, whatever the input;
//! rejects non-canonical encodings so one byte string has exactly one accepted spelling.

use std::fmt;

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Which 64-character alphabet: `+/` (standard) or `-_` (url-safe, as in JWTs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    Standard,
    UrlSafe,
}

impl Alphabet {
    fn table(self) -> &'static [u8; 64] {
        match self {
            Alphabet::Standard => STANDARD,
            Alphabet::UrlSafe => URL_SAFE,
        }
    }

    fn value(self, byte: u8) -> Option<u32> {
        let v = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' if self == Alphabet::Standard => 62,
            b'/' if self == Alphabet::Standard => 63,
            b'-' if self == Alphabet::UrlSafe => 62,
            b'_' if self == Alphabet::UrlSafe => 63,
            _ => return None,
        };
        Some(u32::from(v))
    }
}

/// Why a base64 string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A character outside the alphabet (0-based byte offset in the input).
    InvalidByte { position: usize, byte: u8 },
    /// The length leaves a single dangling character, which cannot encode a byte.
    InvalidLength,
    /// `=` appears in the wrong place or in the wrong number.
    InvalidPadding,
    /// The last character carries non-zero bits past the final byte (a non-canonical spelling).
    TrailingBits,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::InvalidByte { position, byte } => {
                write!(f, "invalid base64 character 0x{byte:02x} at offset {position}")
            }
            DecodeError::InvalidLength => f.write_str("invalid base64 length"),
            DecodeError::InvalidPadding => f.write_str("invalid base64 padding"),
            DecodeError::TrailingBits => f.write_str("non-canonical base64 (trailing bits set)"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Standard alphabet, padded: what Svix signatures and secrets use.
pub fn encode(input: &[u8]) -> String {
    encode_with(input, Alphabet::Standard, true)
}

/// Url-safe alphabet, unpadded: what JWT segments use.
pub fn encode_url(input: &[u8]) -> String {
    encode_with(input, Alphabet::UrlSafe, false)
}

/// Encode with a chosen alphabet, with or without `=` padding.
pub fn encode_with(input: &[u8], alphabet: Alphabet, pad: bool) -> String {
    let table = alphabet.table();
    let sym = |six: u32| char::from(table[(six & 63) as usize]);
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let (n, significant) = match *chunk {
            [a, b, c] => ((u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c), 4),
            [a, b] => ((u32::from(a) << 16) | (u32::from(b) << 8), 3),
            [a] => (u32::from(a) << 16, 2),
            _ => continue,
        };
        for i in 0..4 {
            if i < significant {
                out.push(sym(n >> (18 - 6 * i)));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Decode the standard alphabet; padding is optional.
pub fn decode(input: &str) -> Result<Vec<u8>, DecodeError> {
    decode_with(input, Alphabet::Standard)
}

/// Decode the url-safe alphabet; padding is optional.
pub fn decode_url(input: &str) -> Result<Vec<u8>, DecodeError> {
    decode_with(input, Alphabet::UrlSafe)
}

/// Decode with a chosen alphabet. Padding may be present (then it must be complete and correct)
/// or absent; whitespace is not accepted.
pub fn decode_with(input: &str, alphabet: Alphabet) -> Result<Vec<u8>, DecodeError> {
    let bytes = input.as_bytes();
    // Report a stray character before any length or padding problem it causes.
    if let Some((position, &byte)) = bytes.iter().enumerate().find(|(_, &b)| b != b'=' && alphabet.value(b).is_none()) {
        return Err(DecodeError::InvalidByte { position, byte });
    }
    let body = bytes.strip_suffix(b"==").or_else(|| bytes.strip_suffix(b"=")).unwrap_or(bytes);
    let pads = bytes.len() - body.len();
    let rem = body.len() % 4;
    if rem == 1 {
        return Err(DecodeError::InvalidLength);
    }
    if pads > 0 && (bytes.len() % 4 != 0 || pads != (4 - rem) % 4) {
        return Err(DecodeError::InvalidPadding);
    }

    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for group in body.chunks(4) {
        let mut n: u32 = 0;
        for &byte in group {
            // Only `=` can fail here: every other byte was checked above.
            let Some(value) = alphabet.value(byte) else { return Err(DecodeError::InvalidPadding) };
            n = (n << 6) | value;
        }
        match group.len() {
            4 => out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]),
            3 => {
                if n & 0b11 != 0 {
                    return Err(DecodeError::TrailingBits);
                }
                out.extend_from_slice(&[(n >> 10) as u8, (n >> 2) as u8]);
            }
            2 => {
                if n & 0b1111 != 0 {
                    return Err(DecodeError::TrailingBits);
                }
                out.push((n >> 4) as u8);
            }
            _ => return Err(DecodeError::InvalidLength),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // RFC 4648 §10 test vectors.
    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn rfc4648_vectors_encode_and_decode() {
        for (plain, coded) in VECTORS {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).as_deref(), Ok(plain.as_bytes()));
            let unpadded = coded.trim_end_matches('=');
            assert_eq!(decode(unpadded).as_deref(), Ok(plain.as_bytes()), "unpadded {unpadded}");
            assert_eq!(encode_url(plain.as_bytes()), unpadded);
        }
    }

    #[test]
    fn url_safe_uses_dash_and_underscore() {
        let bytes = [0xfb, 0xff, 0xbf];
        assert_eq!(encode(&bytes), "+/+/");
        assert_eq!(encode_url(&bytes), "-_-_");
        assert_eq!(decode_url("-_-_").as_deref(), Ok(&bytes[..]));
        assert_eq!(decode("-_-_"), Err(DecodeError::InvalidByte { position: 0, byte: b'-' }));
        assert_eq!(decode_url("+/+/"), Err(DecodeError::InvalidByte { position: 0, byte: b'+' }));
        assert_eq!(encode_with(&[0xff], Alphabet::UrlSafe, true), "_w==");
        assert_eq!(decode_url("_w==").as_deref(), Ok(&[0xff][..]));
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        assert_eq!(decode("Z"), Err(DecodeError::InvalidLength));
        assert_eq!(decode("Zm9vY"), Err(DecodeError::InvalidLength));
        assert_eq!(decode("Zg="), Err(DecodeError::InvalidPadding));
        assert_eq!(decode("Zm8=="), Err(DecodeError::InvalidPadding));
        assert_eq!(decode("Zm9v="), Err(DecodeError::InvalidPadding));
        assert_eq!(decode("Zm9v===="), Err(DecodeError::InvalidPadding));
        assert_eq!(decode("Z=9v"), Err(DecodeError::InvalidPadding));
        assert_eq!(decode("="), Err(DecodeError::InvalidPadding));
        assert_eq!(decode("Zm9v Zg=="), Err(DecodeError::InvalidByte { position: 4, byte: b' ' }));
        assert_eq!(decode("Zm9v\n"), Err(DecodeError::InvalidByte { position: 4, byte: b'\n' }));
        assert_eq!(decode("Zh=="), Err(DecodeError::TrailingBits));
        assert_eq!(decode("Zm9="), Err(DecodeError::TrailingBits));
        assert_eq!(decode("é"), Err(DecodeError::InvalidByte { position: 0, byte: 0xc3 }));
        assert!(DecodeError::TrailingBits.to_string().contains("non-canonical"));
    }

    proptest! {
        #[test]
        fn round_trips_every_alphabet_and_padding(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(decode(&encode(&bytes)), Ok(bytes.clone()));
            prop_assert_eq!(decode_url(&encode_url(&bytes)), Ok(bytes.clone()));
            prop_assert_eq!(decode(&encode_with(&bytes, Alphabet::Standard, false)), Ok(bytes.clone()));
            prop_assert_eq!(decode_url(&encode_with(&bytes, Alphabet::UrlSafe, true)), Ok(bytes));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,64}") {
            let _ = decode(&s);
            let _ = decode_url(&s);
        }

        #[test]
        fn alphabet_soup_never_panics_and_reencodes(s in "[A-Za-z0-9+/=_-]{0,40}") {
            if let Ok(bytes) = decode(&s) {
                // Canonical: re-encoding gives the input back (modulo optional padding).
                let again = encode(&bytes);
                prop_assert_eq!(again.trim_end_matches('='), s.trim_end_matches('='));
            }
            let _ = decode_url(&s);
        }
    }
}
