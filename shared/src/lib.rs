//! Phone verification by SMS one-time codes: the OTP policy, its ports and adapters, the
//! JWT check and the HTTP layer shared by the three Lambda functions and the local server.
#![warn(missing_docs)]

/// This release's version (the workspace's, in `Cargo.toml`; see `CHANGELOG.md`), which each
/// function logs as it starts.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod http;
pub mod jwt;
pub mod keyed_hash;
pub mod otp;
pub mod phone;
pub mod sms;
pub mod store;
pub mod system;
pub mod telemetry;
pub mod verification_token;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
