//! The API with test defaults, and its answers read as JSON.

use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Request, Response};
use otp_shared::http::{Api, Endpoint};
use otp_shared::jwt::{JwtSettings, JwtVerifier};
use otp_shared::keyed_hash::HashKey;
use otp_shared::otp::Policy;
use otp_shared::otp::ports::{ChallengeStore, Clock, MessageSender, RandomSource};
use otp_shared::sms::Inbox;
use otp_shared::store::MemoryStore;
use otp_shared::system::OsRandom;
use otp_shared::testing::{ManualClock, ServiceBuilder, service};
use otp_shared::verification_token::VerificationTokens;
use serde_json::Value;

use crate::events::example_settings;

/// The API as the tests build it by default.
pub type TestApi = Api<MemoryStore, Inbox, ManualClock, OsRandom>;

/// An [`Api`] with test defaults: the service of [`otp_shared::testing::service`] and the
/// JWT settings of `events/env.json`, so the events' tokens are accepted.
pub fn api() -> ApiBuilder<MemoryStore, Inbox, ManualClock, OsRandom> {
    ApiBuilder { service: service(), jwt: example_settings().jwt }
}

/// Builds an [`Api`]; see [`api`].
pub struct ApiBuilder<S, M, C, R> {
    service: ServiceBuilder<S, M, C, R>,
    jwt: JwtSettings,
}

impl<S, M, C, R> ApiBuilder<S, M, C, R> {
    /// Uses `store`.
    pub fn store<T>(self, store: T) -> ApiBuilder<T, M, C, R> {
        ApiBuilder { service: self.service.store(store), jwt: self.jwt }
    }

    /// Sends messages through `sender`.
    pub fn sender<T>(self, sender: T) -> ApiBuilder<S, T, C, R> {
        ApiBuilder { service: self.service.sender(sender), jwt: self.jwt }
    }

    /// Reads the time from `clock`.
    pub fn clock<T>(self, clock: T) -> ApiBuilder<S, M, T, R> {
        ApiBuilder { service: self.service.clock(clock), jwt: self.jwt }
    }

    /// Draws codes and identifiers from `random`.
    pub fn random<T>(self, random: T) -> ApiBuilder<S, M, C, T> {
        ApiBuilder { service: self.service.random(random), jwt: self.jwt }
    }

    /// Applies `policy`.
    pub fn policy(self, policy: Policy) -> Self {
        Self { service: self.service.policy(policy), ..self }
    }

    /// Hashes with `key`.
    pub fn key(self, key: HashKey) -> Self {
        Self { service: self.service.key(key), ..self }
    }

    /// Signs a verification token on each success with `tokens`.
    pub fn verification_tokens(self, tokens: VerificationTokens) -> Self {
        Self { service: self.service.verification_tokens(tokens), ..self }
    }

    /// Checks tokens as `jwt` says.
    pub fn jwt(self, jwt: JwtSettings) -> Self {
        Self { jwt, ..self }
    }
}

impl<S, M, C, R> ApiBuilder<S, M, C, R>
where
    S: ChallengeStore,
    M: MessageSender,
    C: Clock,
    R: RandomSource,
{
    /// The API.
    pub async fn build(self) -> Api<S, M, C, R> {
        let jwt = JwtVerifier::new(&self.jwt).await.unwrap();
        self.build_with(jwt)
    }

    /// The API with `jwt` as its token check.
    pub fn build_with(self, jwt: JwtVerifier) -> Api<S, M, C, R> {
        Api::new(jwt, self.service.build())
    }
}

/// A response as the tests read it.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, parsed.
    pub body: Value,
}

impl Answer {
    /// Reads `response`, asserting that it is JSON no cache may keep.
    pub fn read(response: Response<lambda_http::Body>) -> Self {
        let (parts, body) = response.into_parts();
        assert_eq!(parts.headers["content-type"], "application/json");
        assert_eq!(parts.headers["cache-control"], "no-store");
        let body = serde_json::from_slice(body.as_ref()).expect("every answer is JSON");
        Self { status: parts.status, headers: parts.headers, body }
    }

    /// The error code, or `<none>`.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("<none>")
    }

    /// Asserts an error answer: its status, its code, and a non-empty message.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{}", self.body);
        let message = self.body["message"].as_str();
        assert!(message.is_some_and(|m| !m.is_empty()), "{}", self.body);
    }
}

/// Serves `request` at `endpoint` and reads the answer.
pub async fn call<S, M, C, R>(api: &Api<S, M, C, R>, endpoint: Endpoint, request: Request) -> Answer
where
    S: ChallengeStore,
    M: MessageSender,
    C: Clock,
    R: RandomSource,
{
    let Ok(response) = api.handle(endpoint, request).await;
    Answer::read(response)
}
