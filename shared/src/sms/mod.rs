//! Adapters of [`SmsSender`](crate::otp::ports::SmsSender).

mod inbox;
pub mod senders;
#[cfg(feature = "aws")]
mod sns;

pub use inbox::{Inbox, SentSms};
#[cfg(feature = "aws")]
pub use sns::SnsSender;
