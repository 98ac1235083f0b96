//! Adapters of [`SmsSender`](crate::otp::ports::SmsSender).

mod inbox;
#[cfg(feature = "aws")]
mod sns;

pub use inbox::{Inbox, SentSms};
#[cfg(feature = "aws")]
pub use sns::SnsSender;
