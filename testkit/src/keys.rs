//! Key pairs for test tokens (see `keys/README.md`) and the test secrets.

/// RSA 2048 private key that signs test tokens.
pub const RSA_PRIVATE: &str = include_str!("../keys/rsa-private.pem");
/// Its public key.
pub const RSA_PUBLIC: &str = include_str!("../keys/rsa-public.pem");
/// Another RSA key: an attacker's, which no test configuration trusts.
pub const ATTACKER_PRIVATE: &str = include_str!("../keys/attacker-rsa-private.pem");
/// EC P-256 private key.
pub const EC_PRIVATE: &str = include_str!("../keys/ec-private.pem");
/// Its public key.
pub const EC_PUBLIC: &str = include_str!("../keys/ec-public.pem");
/// Ed25519 private key.
pub const ED_PRIVATE: &str = include_str!("../keys/ed-private.pem");
/// Its public key.
pub const ED_PUBLIC: &str = include_str!("../keys/ed-public.pem");

/// A JWT secret (and hash key) of the minimum length, for tests that mint their own tokens.
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";
