//! The SMS adapters of [`MessageSender`](crate::otp::ports::MessageSender), and what an
//! SMS costs in segments ([`segments`]).

mod inbox;
pub mod segments;
pub mod senders;
#[cfg(feature = "aws")]
mod sns;

pub use inbox::{Inbox, SentSms};
#[cfg(feature = "aws")]
pub use sns::SnsSender;
