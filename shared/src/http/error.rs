//! Every answer that is not a success, mapped to its status, machine code and message in
//! one place.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use super::{MAX_BODY_BYTES, TOKEN_HEADER, json_response};
use crate::otp::OtpError;
use crate::phone::PhoneError;

/// Why a request was not served.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid {TOKEN_HEADER}")]
    Unauthorized,
    #[error("{0}")]
    InvalidRequest(String),
    #[error("request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error(transparent)]
    InvalidPhone(#[from] PhoneError),
    #[error("no such endpoint")]
    NotFound,
    #[error("method not allowed; use POST")]
    MethodNotAllowed,
    #[error(transparent)]
    Otp(#[from] OtpError),
}

/// The JSON body of every error: `{"code": "RATE_LIMITED", "message": "..."}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// The HTTP status and the machine-readable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "UN_AUTHORIZED"),
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Self::InvalidPhone(_) => (StatusCode::BAD_REQUEST, "INVALID_PHONE_NUMBER"),
            Self::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Self::Otp(error) => match error {
                OtpError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
                OtpError::CountryNotAllowed => (StatusCode::FORBIDDEN, "COUNTRY_NOT_ALLOWED"),
                OtpError::UnsupportedNumberType => {
                    (StatusCode::BAD_REQUEST, "UNSUPPORTED_NUMBER_TYPE")
                }
                OtpError::NoPendingCode => (StatusCode::UNAUTHORIZED, "OTP_NOT_FOUND"),
                OtpError::WrongCode => (StatusCode::UNAUTHORIZED, "INVALID_OTP"),
                OtpError::Expired => (StatusCode::UNAUTHORIZED, "OTP_EXPIRED"),
                OtpError::AlreadyUsed => (StatusCode::UNAUTHORIZED, "OTP_ALREADY_USED"),
                OtpError::TooManyAttempts => (StatusCode::UNAUTHORIZED, "TOO_MANY_ATTEMPTS"),
                OtpError::SmsUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "SMS_UNAVAILABLE"),
                OtpError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
            },
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Otp(OtpError::RateLimited { retry_after_seconds }) => {
                format!("Too many codes requested; retry in {retry_after_seconds} seconds")
            }
            Self::Otp(OtpError::CountryNotAllowed) => {
                "Codes are not sent to this country".to_owned()
            }
            Self::Otp(OtpError::UnsupportedNumberType) => {
                "Codes are only sent to numbers that can receive SMS, such as mobiles".to_owned()
            }
            Self::Otp(OtpError::NoPendingCode) => {
                "No code is pending for this phone number; request a new one".to_owned()
            }
            Self::Otp(OtpError::WrongCode) => "The otp or authCode is not valid".to_owned(),
            Self::Otp(OtpError::Expired) => "The code has expired; request a new one".to_owned(),
            Self::Otp(OtpError::AlreadyUsed) => {
                "The code has already been used; request a new one".to_owned()
            }
            Self::Otp(OtpError::TooManyAttempts) => {
                "Too many wrong attempts; request a new code".to_owned()
            }
            Self::Otp(OtpError::SmsUnavailable(_)) => {
                "The SMS could not be sent; try again shortly".to_owned()
            }
            Self::Otp(OtpError::Store(_)) => "Internal error; try again shortly".to_owned(),
            Self::Unauthorized => format!("Missing or invalid {TOKEN_HEADER}"),
            Self::InvalidRequest(message) => message.clone(),
            Self::PayloadTooLarge => format!("Request body is larger than {MAX_BODY_BYTES} bytes"),
            Self::InvalidPhone(error) => error.to_string(),
            Self::NotFound => "No such endpoint".to_owned(),
            Self::MethodNotAllowed => "Method not allowed; use POST".to_owned(),
        }
    }

    /// The JSON response for this error. Unexpected failures are logged here, once.
    pub fn into_response(self) -> Response<Body> {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(code, error = ?self, "request failed");
        }
        let mut response = json_response(status, &ErrorBody { code, message: self.message() });
        let headers = response.headers_mut();
        match self {
            Self::Otp(OtpError::RateLimited { retry_after_seconds }) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            }
            Self::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            _ => {}
        }
        response
    }
}
