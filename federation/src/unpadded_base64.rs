//! Matrix's flavours of Base64: standard alphabet, written without padding, read with or without;
//! and the URL-safe unpadded variant used for event IDs and room IDs from room version 4 on.

use base64::Engine as _;
use base64::alphabet::{STANDARD, URL_SAFE};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Writes no `=` padding, as every Matrix key, signature and hash is sent unpadded.
const WRITER: GeneralPurpose =
    GeneralPurpose::new(&STANDARD, GeneralPurposeConfig::new().with_encode_padding(false));

/// Writes the URL-safe alphabet (`-` and `_` for `+` and `/`) without padding, as the spec's
/// "URL-safe unpadded Base64" that reference hashes are encoded with.
const URL_SAFE_WRITER: GeneralPurpose =
    GeneralPurpose::new(&URL_SAFE, GeneralPurposeConfig::new().with_encode_padding(false));

/// Accepts input with or without padding, because the spec asks decoders to tolerate both, and
/// with non-zero trailing bits, as Python-based servers do (the spec's own test seed has them).
const READER: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The reason a Base64 string could not be decoded, kept opaque so callers need not depend on `base64`.
pub type DecodeError = base64::DecodeError;

/// Encodes bytes as unpadded standard Base64, the form Matrix puts on the wire.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    WRITER.encode(bytes)
}

/// Encodes bytes as URL-safe unpadded Base64, the form of hash-based event and room IDs.
pub fn encode_url_safe(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_WRITER.encode(bytes)
}

/// Decodes standard Base64, padded or not, as received from other servers or read from key files.
pub fn decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    READER.decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_encode_unpadded() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(encode(plain), encoded);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn url_safe_swaps_the_last_two_characters() {
        assert_eq!(encode_url_safe([0xfb, 0xff]), "-_8");
        assert_eq!(encode([0xfb, 0xff]), "+/8");
        assert_eq!(encode_url_safe("foob"), "Zm9vYg");
    }

    #[test]
    fn decoding_tolerates_padding() {
        assert_eq!(decode("Zg==").unwrap(), b"f");
        assert_eq!(decode("Zm8=").unwrap(), b"fo");
    }

    #[test]
    fn decoding_tolerates_trailing_bits() {
        // `Zh` carries a stray low bit after the single byte `f`.
        assert_eq!(decode("Zh").unwrap(), b"f");
        assert_eq!(decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1").unwrap().len(), 32);
    }

    #[test]
    fn decoding_refuses_other_alphabets() {
        assert!(decode("-_").is_err());
        assert!(decode("not base64!").is_err());
    }
}
