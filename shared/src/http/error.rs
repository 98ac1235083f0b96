//! Every answer that is not a success, mapped to its status, machine code and message in
//! one place.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use super::{BodyError, MAX_BODY_BYTES, TOKEN_HEADER, json_response};
use crate::otp::OtpError;
use crate::phone::PhoneError;

/// Why a request was not served. Its `Display` is the message the client reads; each
/// wording is written once, here or on the error it wraps.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The token is missing, malformed, expired or wrongly signed.
    #[error("Missing or invalid {TOKEN_HEADER}")]
    Unauthorized,
    /// The body is not what the endpoint takes.
    #[error(transparent)]
    InvalidBody(#[from] BodyError),
    /// The body is over [`MAX_BODY_BYTES`].
    #[error("Request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    /// The phone number or country does not parse.
    #[error(transparent)]
    InvalidPhone(#[from] PhoneError),
    /// No endpoint has this path (local server).
    #[error("No such endpoint")]
    NotFound,
    /// The endpoint takes only `POST` (local server).
    #[error("Method not allowed; use POST")]
    MethodNotAllowed,
    /// The `Host` header names another server than this one (local server): a page that
    /// rebinds its own name to 127.0.0.1 must not read the inbox.
    #[error("This server answers only for its own loopback address")]
    MisdirectedRequest,
    /// A local-only action (reset, a development token) asked by a page of another origin,
    /// or not as JSON (local server): another site must not reset or mint.
    #[error("Local actions are taken only from this server's own pages")]
    CrossOrigin,
    /// No key of the identity provider has been fetched yet (`JWT_JWKS_URL`): the token
    /// cannot be judged, and a `401` would tell the client to sign in again.
    #[error("The service is unavailable; try again shortly")]
    KeysUnavailable,
    /// The OTP service refused or failed.
    #[error(transparent)]
    Otp(#[from] OtpError),
}

/// What `Retry-After` says when a dependency failed: long enough for a throttled service
/// to recover a little, short enough that a person retrying notices no wait.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 2;

/// The JSON body of every error: `{"code": "RATE_LIMITED", "message": "..."}`, with the
/// figures a client shows beside it: `retryAfter` on every 429 (the `Retry-After` header's
/// seconds) and `attemptsLeft` on a wrong code.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The machine-readable code, such as `RATE_LIMITED`.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// Seconds until a retry may succeed, on a `429`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Checks the code allows after a wrong one; 0 when a new code is needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
}

impl ApiError {
    /// The HTTP status and the machine-readable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "UN_AUTHORIZED"),
            Self::InvalidBody(_) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Self::InvalidPhone(_) => (StatusCode::BAD_REQUEST, "INVALID_PHONE_NUMBER"),
            Self::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Self::MisdirectedRequest => (StatusCode::MISDIRECTED_REQUEST, "MISDIRECTED_REQUEST"),
            Self::CrossOrigin => (StatusCode::FORBIDDEN, "CROSS_ORIGIN"),
            Self::KeysUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
            Self::Otp(error) => match error {
                OtpError::RateLimited { .. } | OtpError::TooManyFailures { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
                }
                OtpError::CountryNotAllowed => (StatusCode::FORBIDDEN, "COUNTRY_NOT_ALLOWED"),
                OtpError::DestinationNotAllowed => {
                    (StatusCode::FORBIDDEN, "DESTINATION_NOT_ALLOWED")
                }
                OtpError::DestinationThrottled { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, "DESTINATION_THROTTLED")
                }
                OtpError::UnsupportedNumberType => {
                    (StatusCode::BAD_REQUEST, "UNSUPPORTED_NUMBER_TYPE")
                }
                OtpError::NoPendingCode => (StatusCode::UNAUTHORIZED, "OTP_NOT_FOUND"),
                OtpError::WrongCode { .. } => (StatusCode::UNAUTHORIZED, "INVALID_OTP"),
                OtpError::Expired => (StatusCode::UNAUTHORIZED, "OTP_EXPIRED"),
                OtpError::AlreadyUsed => (StatusCode::UNAUTHORIZED, "OTP_ALREADY_USED"),
                OtpError::TooManyAttempts => (StatusCode::UNAUTHORIZED, "TOO_MANY_ATTEMPTS"),
                OtpError::SmsUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "SMS_UNAVAILABLE"),
                OtpError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
            },
        }
    }

    /// The JSON response for this error. Unexpected failures are logged here, once.
    pub fn into_response(self) -> Response<Body> {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(code, error = ?self, "request failed");
        }
        let retry_after = match &self {
            Self::Otp(
                OtpError::RateLimited { retry_after_seconds }
                | OtpError::TooManyFailures { retry_after_seconds }
                | OtpError::DestinationThrottled { retry_after_seconds },
            ) => Some(*retry_after_seconds),
            _ => None,
        };
        let attempts_left = match &self {
            Self::Otp(OtpError::WrongCode { attempts_left }) => Some(*attempts_left),
            _ => None,
        };
        let body = ErrorBody { code, message: self.to_string(), retry_after, attempts_left };
        let mut response = json_response(status, &body);
        let headers = response.headers_mut();
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        match self {
            // Not before the identity provider is tried again.
            Self::KeysUnavailable => {
                let seconds = crate::jwt::RETRY_WITHOUT_KEYS.as_secs();
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            Self::Otp(OtpError::Store(_) | OtpError::SmsUnavailable(_)) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECONDS),
                );
            }
            Self::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            _ => {}
        }
        response
    }
}
