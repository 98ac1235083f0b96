//! What a sender reports: the provider's receipt for a message it took, or why it did not
//! take one and whether the message may arrive all the same.

/// What the provider said when it took a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id of the message (SNS's `MessageId`), to match with its delivery
    /// records.
    pub message_id: Option<String>,
    /// The parts the channel bills it as, for a channel that counts parts (an SMS's
    /// segments).
    pub segments: Option<usize>,
    /// The encoding those parts are counted in (`GSM-7`, `UCS-2`).
    pub encoding: Option<&'static str>,
}

/// The provider did not take the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the message was not sent ({delivery:?}): {reason}")]
pub struct SendError {
    /// Whether the message may still arrive.
    pub delivery: Delivery,
    /// The provider's error code, or the kind of transport failure; never the provider's
    /// message, which may quote the phone number.
    pub reason: String,
}

impl SendError {
    /// The provider answered with a refusal, or was never reached: the message will not
    /// arrive.
    pub fn not_sent(reason: impl Into<String>) -> Self {
        Self { delivery: Delivery::NotSent, reason: reason.into() }
    }

    /// The request may have reached the provider (a timeout, a dropped connection): the
    /// message may arrive.
    pub fn unknown(reason: impl Into<String>) -> Self {
        Self { delivery: Delivery::Unknown, reason: reason.into() }
    }
}

/// What is known of a message whose send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The provider refused it or was never reached.
    NotSent,
    /// It may have been accepted.
    Unknown,
}
