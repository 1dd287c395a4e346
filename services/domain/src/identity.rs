//! Pseudonymous subject references. A person enters raccordo as a codice fiscale and leaves the
//! edge as a `SubjectRef`: the HMAC-SHA256 of their code under a secret key that only the edge
//! holds (DOMAIN.md §5). The same person always gets the same reference, so parties can follow a
//! pathway across organisations, while nobody without the key can recover the code or test a
//! guess against a reference; the space of fiscal codes is small enough that a plain hash could
//! be reversed by enumeration.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::codice_fiscale::CodiceFiscale;
use crate::ids::SubjectRef;

/// The secret key subject references are derived with. Changing it changes every reference, so
/// it is generated once and kept, like the key of a database of records.
#[derive(Clone)]
pub struct SubjectKey(Vec<u8>);

/// Why some bytes or a key file cannot be a [`SubjectKey`]. Never carries key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubjectKeyError {
    #[error("subject key must be at least 32 bytes (64 hex digits), got {found} bytes")]
    TooShort { found: usize },
    /// `position` is 1-based, counted in characters after trimming.
    #[error("subject key hex has a character that is not 0-9 or a-f at position {position}")]
    InvalidHexCharacter { position: usize },
    #[error("subject key hex must have an even number of digits, got {found}")]
    OddHexLength { found: usize },
}

impl SubjectKey {
    /// The shortest key accepted: HMAC-SHA256 gains nothing from more, and less would be weaker
    /// than the hash itself.
    pub const MIN_BYTES: usize = 32;

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SubjectKeyError> {
        if bytes.len() < Self::MIN_BYTES {
            return Err(SubjectKeyError::TooShort { found: bytes.len() });
        }
        Ok(Self(bytes.to_vec()))
    }

    /// Reads a key as written in a key file: hex digits in either case, with surrounding
    /// whitespace (such as a trailing newline) ignored.
    pub fn from_hex(text: &str) -> Result<Self, SubjectKeyError> {
        let text = text.trim();
        // Checked here rather than left to `hex::decode`, whose error names the offending
        // character, which is key material.
        if let Some(i) = text.chars().position(|c| !c.is_ascii_hexdigit()) {
            return Err(SubjectKeyError::InvalidHexCharacter { position: i + 1 });
        }
        // All characters are hex digits, so an odd length is the only way decoding can fail.
        let bytes =
            hex::decode(text).map_err(|_| SubjectKeyError::OddHexLength { found: text.len() })?;
        Self::from_bytes(&bytes)
    }

    /// The key in lowercase hex, for writing a newly generated key file. This is the secret
    /// itself: it goes to the key file and nowhere else.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// The pseudonymous reference of the person holding `cf`: HMAC-SHA256 of its canonical form.
    ///
    /// Omocodic variants are deliberately not normalised to their base code: the Agenzia delle
    /// Entrate issues an omocodic code to resolve a collision, so it and the base code belong to
    /// two different people, who must get two different references.
    pub fn subject_ref(&self, cf: &CodiceFiscale) -> SubjectRef {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(cf.expose().as_bytes());
        SubjectRef::from_digest(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn key() -> SubjectKey {
        SubjectKey::from_hex(KEY_HEX).unwrap()
    }

    fn cf(code: &str) -> CodiceFiscale {
        code.parse().unwrap()
    }

    #[test]
    fn the_reference_is_hmac_sha256_of_the_canonical_code() {
        // Computed independently:
        // printf 'RSSMRA85T10A562S' | openssl dgst -sha256 -mac HMAC -macopt hexkey:<KEY_HEX>
        let expected = "13ad5d1f2cfd27b0b00cc3e9f75941c6220f134adc4f75b297575b794440ea19";
        assert_eq!(
            key().subject_ref(&cf("RSSMRA85T10A562S")).as_str(),
            expected
        );
        assert_eq!(
            key().subject_ref(&cf(" rssmra85t10a562s\n")).as_str(),
            expected
        );
    }

    #[test]
    fn the_same_key_and_code_give_the_same_reference() {
        let code = CodiceFiscale::synthetic(7);
        assert_eq!(key().subject_ref(&code), key().subject_ref(&code.clone()));
    }

    #[test]
    fn a_different_key_gives_a_different_reference() {
        let other = SubjectKey::from_bytes(&[0x5a; 32]).unwrap();
        let code = cf("RSSMRA85T10A562S");
        assert_ne!(key().subject_ref(&code), other.subject_ref(&code));
    }

    #[test]
    fn omocodic_variants_get_their_own_reference() {
        assert_ne!(
            key().subject_ref(&cf("RSSMRA85T10A562S")),
            key().subject_ref(&cf("RSSMRA85T10A56NH"))
        );
    }

    #[test]
    fn the_reference_is_64_lowercase_hex() {
        let r = key().subject_ref(&cf("BNCLRA70A41F205E"));
        assert_eq!(r.as_str().len(), 64);
        assert!(
            r.as_str()
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        assert_eq!(r.as_str().parse::<SubjectRef>().unwrap(), r);
    }

    #[test]
    fn short_keys_are_rejected() {
        assert_eq!(
            SubjectKey::from_bytes(&[1; 31]).unwrap_err(),
            SubjectKeyError::TooShort { found: 31 }
        );
        assert_eq!(
            SubjectKey::from_hex(&KEY_HEX[..62]).unwrap_err(),
            SubjectKeyError::TooShort { found: 31 }
        );
        assert_eq!(
            SubjectKey::from_hex("").unwrap_err().to_string(),
            "subject key must be at least 32 bytes (64 hex digits), got 0 bytes"
        );
        assert!(SubjectKey::from_bytes(&[1; 64]).is_ok());
    }

    #[test]
    fn malformed_hex_is_rejected_without_echoing_it() {
        let bad = format!("{}zz", &KEY_HEX[..62]);
        let err = SubjectKey::from_hex(&bad).unwrap_err();
        assert_eq!(err, SubjectKeyError::InvalidHexCharacter { position: 63 });
        assert!(!err.to_string().contains('z'));
        assert_eq!(
            SubjectKey::from_hex(&KEY_HEX[..63]).unwrap_err(),
            SubjectKeyError::OddHexLength { found: 63 }
        );
        assert_eq!(
            SubjectKey::from_hex(&format!("{KEY_HEX} {KEY_HEX}")).unwrap_err(),
            SubjectKeyError::InvalidHexCharacter { position: 65 }
        );
    }

    #[test]
    fn a_key_file_with_a_trailing_newline_and_uppercase_hex_reads_the_same() {
        let from_file = SubjectKey::from_hex(&format!("  {}\n", KEY_HEX.to_uppercase())).unwrap();
        assert_eq!(from_file.to_hex(), KEY_HEX);
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", key()), "SubjectKey(<redacted>)");
    }

    proptest! {
        #[test]
        fn keys_round_trip_through_hex(bytes in proptest::collection::vec(any::<u8>(), 32..100)) {
            let key = SubjectKey::from_bytes(&bytes).unwrap();
            let again = SubjectKey::from_hex(&key.to_hex()).unwrap();
            prop_assert_eq!(again.to_hex(), key.to_hex());
            let code = CodiceFiscale::synthetic(bytes.len() as u64);
            prop_assert_eq!(again.subject_ref(&code), key.subject_ref(&code));
        }
    }
}
