//! Keyed hashing: codes and identifiers are stored only as HMAC-SHA-256 values under a
//! server-side key, and codes are compared in constant time.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The shortest key accepted: 256 bits, the output size of SHA-256.
pub const MIN_KEY_BYTES: usize = 32;

/// What a code is bound to: the phone, the JWT subject and the auth code handed to that
/// subject. A resend draws a new auth code, so an old code never matches a new challenge;
/// and a check can compute the digest before reading anything, so that the store compares
/// digests in its condition.
pub struct CodeBinding<'a> {
    /// The phone number, E.164.
    pub phone_e164: &'a str,
    /// The JWT subject that asked for the code.
    pub subject: &'a str,
    /// The `authCode` handed to that subject.
    pub auth_code: &'a str,
}

/// The server-side HMAC key (`OTP_HASH_KEY`). Its `Debug` output is redacted.
#[derive(Clone)]
pub struct HashKey(Vec<u8>);

impl HashKey {
    /// Wraps `bytes`, refusing keys shorter than [`MIN_KEY_BYTES`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, KeyTooShort> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyTooShort);
        }
        Ok(Self(bytes))
    }

    /// A stable pseudonym for an identifier (phone, subject, IP), so that stores and logs
    /// can key on it without holding the identifier itself. `kind` separates domains.
    pub fn pseudonym(&self, kind: &str, value: &str) -> String {
        let digest = self.mac(kind, &[value.as_bytes()]).finalize().into_bytes();
        hex::encode(&digest[..20])
    }

    /// The digest under which a code is stored.
    pub fn code_digest(&self, binding: &CodeBinding<'_>, code: &str) -> Vec<u8> {
        self.code_mac(binding, code).finalize().into_bytes().to_vec()
    }

    /// Whether `code` is the one whose digest is `expected`, compared in constant time.
    #[cfg(test)]
    fn code_matches(&self, binding: &CodeBinding<'_>, code: &str, expected: &[u8]) -> bool {
        self.code_mac(binding, code).verify_slice(expected).is_ok()
    }

    fn code_mac(&self, binding: &CodeBinding<'_>, code: &str) -> HmacSha256 {
        self.mac(
            "otp-code",
            &[
                binding.phone_e164.as_bytes(),
                binding.subject.as_bytes(),
                binding.auth_code.as_bytes(),
                code.as_bytes(),
            ],
        )
    }

    /// HMAC over a label and length-prefixed fields, so no two inputs share an encoding.
    fn mac(&self, label: &str, fields: &[&[u8]]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        for field in std::iter::once(label.as_bytes()).chain(fields.iter().copied()) {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(<redacted>)")
    }
}

/// A key shorter than [`MIN_KEY_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be at least {MIN_KEY_BYTES} bytes")]
pub struct KeyTooShort;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> HashKey {
        HashKey::new(vec![byte; MIN_KEY_BYTES]).unwrap()
    }

    fn binding<'a>(subject: &'a str, auth_code: &'a str) -> CodeBinding<'a> {
        CodeBinding { phone_e164: "+919876543219", subject, auth_code }
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(HashKey::new(vec![7; MIN_KEY_BYTES - 1]).unwrap_err(), KeyTooShort);
    }

    #[test]
    fn digest_matches_only_the_same_code_and_binding() {
        let key = key(1);
        let digest = key.code_digest(&binding("alice", "1234"), "012345");
        assert!(key.code_matches(&binding("alice", "1234"), "012345", &digest));
        assert!(!key.code_matches(&binding("alice", "1234"), "012346", &digest));
        assert!(!key.code_matches(&binding("bob", "1234"), "012345", &digest));
        assert!(!key.code_matches(&binding("alice", "1235"), "012345", &digest));
        assert!(!self::key(2).code_matches(&binding("alice", "1234"), "012345", &digest));
    }

    #[test]
    fn digest_does_not_contain_the_code() {
        let digest = key(1).code_digest(&binding("alice", "1234"), "012345");
        assert_eq!(digest.len(), 32);
        assert!(!digest.windows(6).any(|w| w == b"012345"));
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let key = key(1);
        let a = CodeBinding { phone_e164: "+1", subject: "ab", auth_code: "c" };
        let b = CodeBinding { phone_e164: "+1", subject: "a", auth_code: "bc" };
        assert_ne!(key.code_digest(&a, "1"), key.code_digest(&b, "1"));
    }

    #[test]
    fn pseudonyms_are_stable_per_kind_and_key() {
        let key = key(1);
        assert_eq!(key.pseudonym("phone", "+91"), key.pseudonym("phone", "+91"));
        assert_ne!(key.pseudonym("phone", "+91"), key.pseudonym("subject", "+91"));
        assert_ne!(key.pseudonym("phone", "+91"), self::key(2).pseudonym("phone", "+91"));
        assert_eq!(key.pseudonym("phone", "+91").len(), 40);
    }

    #[test]
    fn debug_output_hides_the_key() {
        assert_eq!(format!("{:?}", key(b'k')), "HashKey(<redacted>)");
    }
}
