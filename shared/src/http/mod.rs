//! The HTTP layer shared by the three Lambda functions and the local server: a
//! `lambda_http::Request` in, a JSON `Response` out.

mod accept_language;
mod compose;
mod error;
mod request;

use std::convert::Infallible;
use std::net::IpAddr;
use std::time::Duration;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::Instrument;

pub use accept_language::accept_language;
pub use error::{ApiError, ErrorBody};
pub use request::{BodyError, PhoneBody, StringOrNumber, VerifyBody, json_object};

use crate::jwt::{JwtError, JwtVerifier};
use crate::otp::ports::{ChallengeStore, Clock, MessageSender, RandomSource, StoreError};
use crate::otp::{OtpError, OtpService, SendRequest, VerifyRequest};
use crate::telemetry::AUDIT;

/// The header that carries the caller's JWT.
pub const TOKEN_HEADER: &str = "user-jwt-token";

/// Bodies larger than this are refused; real ones are under 200 bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// The message of a successful verification, as the API contract spells it.
pub const VERIFIED_MESSAGE: &str = "Phone number verified successfully";

/// The longest a request may take before it is answered `503`, unless the API is made
/// with another: a backstop under the function timeout (see `crate::aws`).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(12);

/// One of the three endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /fe/users/auth/otp/register`: send a first code.
    Register,
    /// `POST /fe/users/auth/otp/verify`: check a code.
    Verify,
    /// `POST /fe/users/auth/otp/resend`: send a new code.
    Resend,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Self; 3] = [Self::Register, Self::Verify, Self::Resend];

    /// The path API Gateway routes to this endpoint.
    pub const fn path(self) -> &'static str {
        match self {
            Self::Register => "/fe/users/auth/otp/register",
            Self::Verify => "/fe/users/auth/otp/verify",
            Self::Resend => "/fe/users/auth/otp/resend",
        }
    }

    fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|endpoint| endpoint.path() == path)
    }
}

/// `{"authCode": "5255", "isNewUser": false, "expiresIn": 300, "resendAfter": 30}`
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CodeSentBody {
    auth_code: String,
    is_new_user: bool,
    expires_in: u64,
    resend_after: u64,
}

/// `{"message": "Phone number verified successfully", "verificationToken": "..."}`; the
/// token only when a signing key is configured.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifiedBody {
    message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification_token: Option<String>,
}

/// The API: the JWT check in front of the OTP service.
pub struct Api<S, M, C, R> {
    jwt: JwtVerifier,
    otp: OtpService<S, M, C, R>,
    deadline: Duration,
}

impl<S, M, C, R> Api<S, M, C, R>
where
    S: ChallengeStore,
    M: MessageSender,
    C: Clock,
    R: RandomSource,
{
    /// The API that checks tokens with `jwt` and serves codes with `otp`.
    pub fn new(jwt: JwtVerifier, otp: OtpService<S, M, C, R>) -> Self {
        Self { jwt, otp, deadline: REQUEST_DEADLINE }
    }

    /// The same API, answering `503` to a request not done within `deadline`.
    pub fn with_deadline(self, deadline: Duration) -> Self {
        Self { deadline, ..self }
    }

    /// The OTP service behind the API.
    pub fn otp(&self) -> &OtpService<S, M, C, R> {
        &self.otp
    }

    /// Serves `endpoint`, whatever the request's path: a Lambda function's entry point.
    /// Every outcome is a response, so the error type is `Infallible`.
    pub async fn handle(
        &self,
        endpoint: Endpoint,
        request: Request,
    ) -> Result<Response<Body>, Infallible> {
        let span = tracing::info_span!(
            target: AUDIT,
            "request",
            endpoint = endpoint.path(),
            request_id = request_id(&request).unwrap_or_default(),
        );
        let response = tokio::time::timeout(self.deadline, self.respond(endpoint, &request))
            .instrument(span)
            .await
            .unwrap_or_else(|_| {
                let late = StoreError::new(format!("no answer within {:?}", self.deadline));
                Err(ApiError::Otp(OtpError::Store(late)))
            });
        Ok(response.unwrap_or_else(ApiError::into_response))
    }

    /// Serves the endpoint the request's method and path name, `404` or `405` otherwise:
    /// the local server's entry point.
    pub async fn route(&self, request: Request) -> Response<Body> {
        match Endpoint::from_path(request.uri().path()) {
            None => ApiError::NotFound.into_response(),
            Some(_) if request.method() != Method::POST => {
                ApiError::MethodNotAllowed.into_response()
            }
            Some(endpoint) => match self.handle(endpoint, request).await {
                Ok(response) => response,
                Err(infallible) => match infallible {},
            },
        }
    }

    async fn respond(
        &self,
        endpoint: Endpoint,
        request: &Request,
    ) -> Result<Response<Body>, ApiError> {
        let subject = self.authenticate(request).await?;
        let policy = self.otp.policy();
        match endpoint {
            Endpoint::Register | Endpoint::Resend => {
                let body = PhoneBody::from_json(&body_object(request)?)?;
                let phone = body.phone()?;
                let locales = preferred_locales(body.locale(), request);
                let sent = self
                    .otp
                    .send_code(SendRequest {
                        subject: &subject,
                        phone: &phone,
                        client_ip: client_ip(request),
                        locales: &locales,
                    })
                    .await?;
                Ok(json_response(
                    StatusCode::OK,
                    &CodeSentBody {
                        auth_code: sent.auth_code,
                        is_new_user: sent.is_new_user,
                        expires_in: sent.expires_in,
                        resend_after: sent.resend_after,
                    },
                ))
            }
            Endpoint::Verify => {
                let body = VerifyBody::from_json(&body_object(request)?)?;
                let phone = body.phone.phone()?;
                let digits = policy.auth_code_length;
                let auth_code = body
                    .auth_code
                    .digits(digits)
                    .ok_or(BodyError::WrongLength { field: "authCode", digits })?;
                let digits = policy.code_length;
                let code = body
                    .otp
                    .digits(digits)
                    .ok_or(BodyError::WrongLength { field: "otp", digits })?;
                let verified = self
                    .otp
                    .verify_code(VerifyRequest {
                        subject: &subject,
                        phone: &phone,
                        auth_code: &auth_code,
                        code: &code,
                    })
                    .await?;
                let body =
                    VerifiedBody { message: VERIFIED_MESSAGE, verification_token: verified.token };
                Ok(json_response(StatusCode::OK, &body))
            }
        }
    }

    /// The JWT subject, from the token in [`TOKEN_HEADER`] (an optional `Bearer ` prefix is
    /// tolerated).
    async fn authenticate(&self, request: &Request) -> Result<String, ApiError> {
        let token = request
            .headers()
            .get(TOKEN_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim())
            .map(|value| value.strip_prefix("Bearer ").unwrap_or(value))
            .ok_or(ApiError::Unauthorized)?;
        self.jwt.subject(token).await.map_err(|error| match error {
            JwtError::KeysUnavailable(_) => ApiError::KeysUnavailable,
            refused => {
                tracing::info!(target: AUDIT, event = "auth.refused", reason = %refused);
                ApiError::Unauthorized
            }
        })
    }
}

/// The body's JSON object, refusing oversized and malformed bodies.
fn body_object(request: &Request) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(json_object(bytes)?)
}

/// The languages a client asked for, best first: the body's `locale`, then its
/// `Accept-Language` header.
fn preferred_locales(locale: Option<&str>, request: &Request) -> Vec<String> {
    let header =
        request.headers().get(header::ACCEPT_LANGUAGE).and_then(|value| value.to_str().ok());
    locale
        .map(str::to_owned)
        .into_iter()
        .chain(header.map(accept_language).unwrap_or_default())
        .collect()
}

/// The caller's address as API Gateway saw it.
fn client_ip(request: &Request) -> Option<IpAddr> {
    gateway_context(request)?.http.source_ip.as_deref()?.parse().ok()
}

/// API Gateway's id of the request, for correlating log lines.
fn request_id(request: &Request) -> Option<String> {
    gateway_context(request)?.request_id.clone()
}

fn gateway_context(request: &Request) -> Option<&ApiGatewayV2httpRequestContext> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => Some(context),
        _ => None,
    }
}

/// A JSON response that no cache may keep.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let json = serde_json::to_string(body).expect("response bodies are plain data");
    let mut response = Response::new(Body::Text(json));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
