//! The OTP policy as plain Rust over the ports in [`ports`]: issuing codes within the send
//! limits, and verifying them once, within their lifetime and attempt budget. No AWS type
//! appears here.

pub mod breaker;
pub mod challenge;
pub mod delivery;
pub mod destinations;
mod error;
pub mod limits;
pub mod message;
mod policy;
pub mod ports;
mod service;
pub mod time;

pub use error::OtpError;
pub use policy::{DestinationRefusal, Policy};
pub use service::{CodeSent, OtpService, SendRequest, Verified, VerifyRequest};

#[cfg(test)]
mod tests;
