//! What every test crate of the workspace shares: the API Gateway events in `events/` and
//! the settings they are signed for, the test keys, an API builder with test defaults, a
//! log capture, and (feature `aws`) the helpers for tests against moto.
//!
//! The test doubles and the service builder live in [`otp_shared::testing`], so the shared
//! crate's own unit tests can use them too; they are re-exported here.
#![warn(missing_docs)]
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

mod api;
mod capture;
pub mod events;
pub mod keys;
#[cfg(feature = "aws")]
pub mod moto;

pub use api::{Answer, ApiBuilder, TestApi, api, call};
pub use capture::{Capture, ScopedSubscriber, scoped_subscriber};
pub use otp_shared::testing::*;

/// The digits of the first `len`-digit run in an SMS body: its code.
pub fn code_in(body: &str, len: usize) -> String {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == len)
        .unwrap_or_else(|| panic!("no {len}-digit code in the SMS"))
        .to_owned()
}

/// A code that differs from `code` in its last digit.
pub fn wrong(code: &str) -> String {
    let (head, last) = code.split_at(code.len() - 1);
    let last = last.as_bytes()[0] - b'0';
    format!("{head}{}", (last + 1) % 10)
}
