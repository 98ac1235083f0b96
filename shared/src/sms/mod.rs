//! Adapters of [`SmsSender`](crate::otp::ports::SmsSender).

mod inbox;

pub use inbox::{Inbox, SentSms};
