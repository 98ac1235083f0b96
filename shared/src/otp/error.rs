//! What the service answers when it does not send or verify: an expected refusal, or a
//! dependency that failed. `crate::http` turns each into its HTTP answer.

use super::challenge::{AttemptRefusal, StoreError};
use super::delivery::SendError;
use super::policy::DestinationRefusal;

/// An expected refusal, or an unexpected failure of a dependency. Its `Display` is the
/// message the client reads; details of a failure stay in its source, for the logs.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    /// A send limit or the resend cooldown holds until `retry_after_seconds` have passed.
    #[error("Too many codes requested; retry in {retry_after_seconds} seconds")]
    RateLimited {
        /// Seconds until a send may succeed.
        retry_after_seconds: u64,
    },
    /// Codes are not sent to this phone's country (`OTP_ALLOWED_COUNTRIES`,
    /// `OTP_DENIED_COUNTRIES`).
    #[error("Codes are not sent to this country")]
    CountryNotAllowed,
    /// Codes are not sent to numbers with this prefix (`OTP_DENIED_PREFIXES`).
    #[error("Codes are not sent to this number")]
    DestinationNotAllowed,
    /// Too few codes sent to this number's prefix or country were verified lately: new
    /// sends to it are refused until `retry_after_seconds` have passed (the breaker).
    #[error("Codes to this destination are paused; retry in {retry_after_seconds} seconds")]
    DestinationThrottled {
        /// Seconds until the pause ends.
        retry_after_seconds: u64,
    },
    /// Codes are not sent to this kind of line (`OTP_BLOCKED_NUMBER_TYPES`).
    #[error("Codes are only sent to numbers that can receive SMS, such as mobiles")]
    UnsupportedNumberType,
    /// The subject has no pending code for the phone.
    #[error("No code is pending for this phone number; request a new one")]
    NoPendingCode,
    /// The subject submitted too many wrong codes today
    /// (`OTP_MAX_FAILED_VERIFICATIONS_PER_SUBJECT_PER_DAY`).
    #[error("Too many wrong codes; retry in {retry_after_seconds} seconds")]
    TooManyFailures {
        /// Seconds until the subject's failure window ends.
        retry_after_seconds: u64,
    },
    /// The code or auth code does not match the subject's pending challenge.
    #[error("The otp or authCode is not valid")]
    WrongCode {
        /// Checks the challenge allows after this one; 0 when a new code is needed.
        attempts_left: u32,
    },
    /// The code is past its expiry.
    #[error("The code has expired; request a new one")]
    Expired,
    /// The code has verified already.
    #[error("The code has already been used; request a new one")]
    AlreadyUsed,
    /// The challenge has used up its attempts.
    #[error("Too many wrong attempts; request a new code")]
    TooManyAttempts,
    /// The SMS provider refused or failed; nothing usable was left behind.
    #[error("The SMS could not be sent; try again shortly")]
    SmsUnavailable(#[source] SendError),
    /// The store failed or did not answer in time.
    #[error("The service is unavailable; try again shortly")]
    Store(#[from] StoreError),
}

impl From<DestinationRefusal> for OtpError {
    fn from(refusal: DestinationRefusal) -> Self {
        match refusal {
            DestinationRefusal::CountryNotAllowed | DestinationRefusal::CountryDenied => {
                Self::CountryNotAllowed
            }
            DestinationRefusal::PrefixDenied => Self::DestinationNotAllowed,
            DestinationRefusal::UnsupportedNumberType => Self::UnsupportedNumberType,
        }
    }
}

impl From<AttemptRefusal> for OtpError {
    fn from(refusal: AttemptRefusal) -> Self {
        match refusal {
            AttemptRefusal::NoChallenge => Self::NoPendingCode,
            AttemptRefusal::Used => Self::AlreadyUsed,
            AttemptRefusal::Expired => Self::Expired,
            AttemptRefusal::Locked => Self::TooManyAttempts,
        }
    }
}
