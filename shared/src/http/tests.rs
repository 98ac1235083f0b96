//! The HTTP layer fed with the real API Gateway events in `events/`.

use std::sync::Arc;

use lambda_http::http::HeaderMap;
use serde_json::{Value, json};

use super::*;
use crate::config::{Policy, Settings};
use crate::otp::OtpService;
use crate::sms::Inbox;
use crate::store::MemoryStore;
use crate::system::{ManualClock, OsRandom};
use crate::testing::{BrokenSms, BrokenStore, FixedRandom};

const REGISTER: &str = include_str!("../../../events/register.json");
const VERIFY: &str = include_str!("../../../events/verify.json");
const RESEND: &str = include_str!("../../../events/resend.json");
const BAD_TOKEN: &str = include_str!("../../../events/register-bad-token.json");
const ENV: &str = include_str!("../../../events/env.json");

const START: u64 = 1_767_225_600;

/// The settings `sam local invoke --env-vars events/env.json` gives the functions.
fn settings(policy: Policy) -> Settings {
    let env: Value = serde_json::from_str(ENV).unwrap();
    let lookup = |name: &str| env["Parameters"][name].as_str().map(str::to_owned);
    Settings { policy, ..Settings::from_lookup(&lookup).unwrap() }
}

struct Fixture<S, M, R> {
    api: Api<S, M, Arc<ManualClock>, R>,
    clock: Arc<ManualClock>,
}

async fn fixture_with<S: ChallengeStore, M: SmsSender, R: RandomSource>(
    store: S,
    sms: M,
    random: R,
    policy: Policy,
) -> Fixture<S, M, R> {
    let settings = settings(policy);
    let clock = Arc::new(ManualClock::new(START));
    let otp =
        OtpService::new(store, sms, clock.clone(), random, settings.policy, settings.hash_key);
    let jwt = JwtVerifier::new(&settings.jwt).await.unwrap();
    Fixture { api: Api::new(jwt, otp), clock }
}

/// A fixture whose random source hands out `digits` in turn (codes, then auth codes).
async fn scripted(
    digits: &[&'static str],
    policy: Policy,
) -> Fixture<MemoryStore, Arc<Inbox>, FixedRandom> {
    fixture_with(MemoryStore::new(), Arc::new(Inbox::new()), FixedRandom::new(digits), policy).await
}

async fn fixture(policy: Policy) -> (Fixture<MemoryStore, Arc<Inbox>, OsRandom>, Arc<Inbox>) {
    let inbox = Arc::new(Inbox::new());
    (fixture_with(MemoryStore::new(), inbox.clone(), OsRandom, policy).await, inbox)
}

/// The event as it is, or with its body replaced.
fn event(json: &str, body: Option<Value>) -> Request {
    let mut event: Value = serde_json::from_str(json).unwrap();
    if let Some(body) = body {
        event["body"] = match body {
            Value::String(raw) => Value::String(raw),
            other => Value::String(other.to_string()),
        };
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("<none>")
    }
}

impl<S: ChallengeStore, M: SmsSender, R: RandomSource> Fixture<S, M, R> {
    async fn call(&self, endpoint: Endpoint, request: Request) -> Answer {
        let response = self.api.handle(endpoint, request).await.unwrap();
        let (parts, body) = response.into_parts();
        assert_eq!(parts.headers["content-type"], "application/json");
        assert_eq!(parts.headers["cache-control"], "no-store");
        let body = serde_json::from_slice(body.as_ref()).expect("every answer is JSON");
        Answer { status: parts.status, headers: parts.headers, body }
    }
}

/// Asserts an error answer: its status, its code, and a non-empty message.
fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!((answer.status, answer.code()), (status, code), "{}", answer.body);
    assert!(answer.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", answer.body);
}

fn verify_body(auth_code: Value, otp: Value) -> Value {
    json!({"phone_number": "9876543219", "countryCode": "+91", "authCode": auth_code, "otp": otp})
}

#[tokio::test]
async fn register_event_answers_in_the_contract_shape_and_sends_the_sms() {
    let (f, inbox) = fixture(Policy::default()).await;
    let answer = f.call(Endpoint::Register, event(REGISTER, None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.body.as_object().unwrap();
    assert_eq!(body.len(), 2, "{body:?}");
    let auth_code = body["authCode"].as_str().expect("authCode is a string");
    assert!(auth_code.len() == 4 && auth_code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(body["isNewUser"], json!(true));
    let messages = inbox.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, "+919876543219");
}

#[tokio::test]
async fn verify_event_with_numeric_codes_verifies_once() {
    let f = scripted(&["123456", "1234"], Policy::without_send_limits()).await;
    assert_eq!(f.call(Endpoint::Register, event(REGISTER, None)).await.body["authCode"], "1234");

    let answer = f.call(Endpoint::Verify, event(VERIFY, None)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, json!({"message": "Phone number verified successfully"}));

    let again = f.call(Endpoint::Verify, event(VERIFY, None)).await;
    assert_error(&again, StatusCode::UNAUTHORIZED, "OTP_ALREADY_USED");
    let registered_again = f.call(Endpoint::Register, event(REGISTER, None)).await;
    assert_eq!(registered_again.body["isNewUser"], json!(false));
}

#[tokio::test]
async fn numbers_that_lost_leading_zeros_still_verify() {
    let f = scripted(&["012345", "0042"], Policy::without_send_limits()).await;
    assert_eq!(f.call(Endpoint::Register, event(REGISTER, None)).await.body["authCode"], "0042");
    let body = verify_body(json!(42), json!(12345));
    let answer = f.call(Endpoint::Verify, event(VERIFY, Some(body))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn resend_event_replaces_the_code() {
    // The refused resend draws a code too: the store refuses it, not the service.
    let random = FixedRandom::new(&["123456", "1234", "999999", "9999", "654321", "4321"]);
    let inbox = Arc::new(Inbox::new());
    let f = fixture_with(MemoryStore::new(), inbox.clone(), random, Policy::default()).await;
    f.call(Endpoint::Register, event(REGISTER, None)).await;

    let early = f.call(Endpoint::Resend, event(RESEND, None)).await;
    assert_error(&early, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(early.headers["retry-after"], "30");
    assert_eq!(inbox.messages().len(), 1, "a refused resend sends nothing");

    f.clock.advance(30);
    let resent = f.call(Endpoint::Resend, event(RESEND, None)).await;
    assert_eq!(resent.status, StatusCode::OK);
    assert_eq!(resent.body, json!({"authCode": "4321", "isNewUser": true}));
    let old = f.call(Endpoint::Verify, event(VERIFY, None)).await;
    assert_error(&old, StatusCode::UNAUTHORIZED, "INVALID_OTP");
    let new = verify_body(json!("4321"), json!("654321"));
    assert_eq!(f.call(Endpoint::Verify, event(VERIFY, Some(new))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_missing_or_malformed_tokens_get_401_on_every_endpoint() {
    let (f, inbox) = fixture(Policy::default()).await;
    for endpoint in Endpoint::ALL {
        let answer = f.call(endpoint, event(BAD_TOKEN, None)).await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, "UN_AUTHORIZED");
        assert_eq!(answer.body["code"], "UN_AUTHORIZED");

        let mut missing = event(REGISTER, None);
        missing.headers_mut().remove(TOKEN_HEADER);
        assert_error(&f.call(endpoint, missing).await, StatusCode::UNAUTHORIZED, "UN_AUTHORIZED");

        let mut garbage = event(REGISTER, None);
        garbage.headers_mut().insert(TOKEN_HEADER, HeaderValue::from_static("not.a.jwt"));
        assert_error(&f.call(endpoint, garbage).await, StatusCode::UNAUTHORIZED, "UN_AUTHORIZED");
    }
    assert!(inbox.messages().is_empty());
}

#[tokio::test]
async fn token_is_checked_before_the_body() {
    let (f, _) = fixture(Policy::default()).await;
    let answer = f.call(Endpoint::Verify, event(BAD_TOKEN, Some(json!("not json")))).await;
    assert_error(&answer, StatusCode::UNAUTHORIZED, "UN_AUTHORIZED");
}

#[tokio::test]
async fn bearer_prefix_is_tolerated() {
    let (f, _) = fixture(Policy::default()).await;
    let mut request = event(REGISTER, None);
    let token = request.headers()[TOKEN_HEADER].to_str().unwrap().to_owned();
    request.headers_mut().insert(TOKEN_HEADER, format!("Bearer {token}").parse().unwrap());
    assert_eq!(f.call(Endpoint::Register, request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_bodies_get_a_4xx_json_error() {
    let (f, inbox) = fixture(Policy::without_send_limits()).await;
    let cases = [
        (Endpoint::Register, json!(""), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        (Endpoint::Register, json!("not json"), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        (Endpoint::Register, json!([1, 2]), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        (Endpoint::Register, json!({}), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        (
            Endpoint::Register,
            json!({"phone_number": true, "countryCode": "+91"}),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            Endpoint::Register,
            json!({"phone_number": "9876543219"}),
            StatusCode::BAD_REQUEST,
            "INVALID_PHONE_NUMBER",
        ),
        (
            Endpoint::Resend,
            json!({"phone_number": "9876543219", "countryCode": "XX"}),
            StatusCode::BAD_REQUEST,
            "INVALID_PHONE_NUMBER",
        ),
        (
            Endpoint::Resend,
            json!({"phone_number": "123", "countryCode": "+91"}),
            StatusCode::BAD_REQUEST,
            "INVALID_PHONE_NUMBER",
        ),
        (
            Endpoint::Register,
            json!({"phone_number": "9".repeat(MAX_BODY_BYTES), "countryCode": "+91"}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            Endpoint::Verify,
            verify_body(json!("1234"), json!("12a456")),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            Endpoint::Verify,
            verify_body(json!("1234"), json!("1234567")),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            Endpoint::Verify,
            verify_body(json!(-1), json!("123456")),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            Endpoint::Verify,
            verify_body(json!(1.5), json!("123456")),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            Endpoint::Verify,
            verify_body(json!("1234"), json!(null)),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            Endpoint::Verify,
            json!({"phone_number": "9876543219", "countryCode": "+91", "otp": "123456"}),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
    ];
    for (endpoint, body, status, code) in cases {
        let template = if endpoint == Endpoint::Verify { VERIFY } else { REGISTER };
        let answer = f.call(endpoint, event(template, Some(body.clone()))).await;
        assert_eq!((answer.status, answer.code()), (status, code), "body {body}");
        assert_error(&answer, status, code);
    }
    assert!(inbox.messages().is_empty());
}

#[tokio::test]
async fn refused_destinations_get_403_or_400() {
    let (f, inbox) = fixture(Policy {
        allowed_countries: Some(["IN".to_owned()].into()),
        ..Policy::without_send_limits()
    })
    .await;
    let british = json!({"phone_number": "7400 123456", "countryCode": "GB"});
    let answer = f.call(Endpoint::Register, event(REGISTER, Some(british))).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "COUNTRY_NOT_ALLOWED");
    let landline = json!({"phone_number": "011 2345 6789", "countryCode": "+91"});
    let answer = f.call(Endpoint::Resend, event(RESEND, Some(landline))).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "UNSUPPORTED_NUMBER_TYPE");
    assert!(inbox.messages().is_empty());
}

#[tokio::test]
async fn malformed_bodies_are_described_without_echoing_values() {
    let (f, _) = fixture(Policy::default()).await;
    let cases = [
        (json!("{\"phone_number\": 98765432"), "body is not valid JSON (line 1, column 25)"),
        (json!({"countryCode": "+91"}), "missing field `phone_number`"),
        (
            json!({"phone_number": 9876543219.5_f64, "countryCode": "+91"}),
            "phone_number must be a string or a non-negative integer",
        ),
        (
            json!(json!({"phone_number": "9876543219", "countryCode": "+91"}).to_string() + " x"),
            "body is not valid JSON (line 1, column 51)",
        ),
    ];
    for (body, message) in cases {
        let answer = f.call(Endpoint::Register, event(REGISTER, Some(body.clone()))).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
        assert_eq!(answer.body["message"], message, "body {body}");
    }
}

#[tokio::test]
async fn base64_encoded_bodies_are_read() {
    let (f, _) = fixture(Policy::default()).await;
    let mut raw: Value = serde_json::from_str(REGISTER).unwrap();
    // base64 of {"phone_number":"9876543219","countryCode":"+91"}
    raw["body"] = json!("eyJwaG9uZV9udW1iZXIiOiI5ODc2NTQzMjE5IiwiY291bnRyeUNvZGUiOiIrOTEifQ==");
    raw["isBase64Encoded"] = json!(true);
    let request = lambda_http::request::from_str(&raw.to_string()).unwrap();
    assert_eq!(f.call(Endpoint::Register, request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_verification_failure_has_its_own_code() {
    let f =
        scripted(&["123456", "1234"], Policy { max_attempts: 2, ..Policy::without_send_limits() })
            .await;
    let wrong = || event(VERIFY, Some(verify_body(json!("1234"), json!("000000"))));
    let no_code = f.call(Endpoint::Verify, wrong()).await;
    assert_error(&no_code, StatusCode::UNAUTHORIZED, "OTP_NOT_FOUND");

    f.call(Endpoint::Register, event(REGISTER, None)).await;
    assert_error(&f.call(Endpoint::Verify, wrong()).await, StatusCode::UNAUTHORIZED, "INVALID_OTP");
    f.clock.advance(300);
    let expired = f.call(Endpoint::Verify, event(VERIFY, None)).await;
    assert_error(&expired, StatusCode::UNAUTHORIZED, "OTP_EXPIRED");
}

#[tokio::test]
async fn locked_challenge_answers_too_many_attempts() {
    let f =
        scripted(&["123456", "1234"], Policy { max_attempts: 2, ..Policy::without_send_limits() })
            .await;
    f.call(Endpoint::Register, event(REGISTER, None)).await;
    for _ in 0..2 {
        let wrong = event(VERIFY, Some(verify_body(json!("1234"), json!("000000"))));
        assert_error(
            &f.call(Endpoint::Verify, wrong).await,
            StatusCode::UNAUTHORIZED,
            "INVALID_OTP",
        );
    }
    let right = f.call(Endpoint::Verify, event(VERIFY, None)).await;
    assert_error(&right, StatusCode::UNAUTHORIZED, "TOO_MANY_ATTEMPTS");
}

#[tokio::test]
async fn ip_limit_uses_the_source_ip_of_the_event() {
    let (f, _) =
        fixture(Policy { max_sends_per_ip_per_hour: 1, ..Policy::without_send_limits() }).await;
    assert_eq!(f.call(Endpoint::Register, event(REGISTER, None)).await.status, StatusCode::OK);
    let other_phone = json!({"phone_number": "9876543210", "countryCode": "+91"});
    let same_ip = f.call(Endpoint::Register, event(REGISTER, Some(other_phone.clone()))).await;
    assert_error(&same_ip, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(same_ip.headers["retry-after"], "3600");

    let mut raw: Value = serde_json::from_str(REGISTER).unwrap();
    raw["requestContext"]["http"]["sourceIp"] = json!("198.51.100.1");
    raw["body"] = json!(other_phone.to_string());
    let other_ip = lambda_http::request::from_str(&raw.to_string()).unwrap();
    assert_eq!(f.call(Endpoint::Register, other_ip).await.status, StatusCode::OK);
}

#[tokio::test]
async fn failing_dependencies_get_json_5xx_without_details() {
    let f = fixture_with(BrokenStore, Arc::new(Inbox::new()), OsRandom, Policy::default()).await;
    for endpoint in Endpoint::ALL {
        let template = if endpoint == Endpoint::Verify { VERIFY } else { REGISTER };
        let answer = f.call(endpoint, event(template, None)).await;
        assert_error(&answer, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR");
        assert!(!answer.body.to_string().contains("unreachable"));
    }
    let f = fixture_with(MemoryStore::new(), BrokenSms, OsRandom, Policy::default()).await;
    let answer = f.call(Endpoint::Register, event(REGISTER, None)).await;
    assert_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "SMS_UNAVAILABLE");
}

#[tokio::test]
async fn routing_answers_unknown_paths_and_methods_in_json() {
    let (f, _) = fixture(Policy::default()).await;
    let mut unknown = event(REGISTER, None);
    *unknown.uri_mut() = "/fe/users/auth/otp/other".parse().unwrap();
    let response = f.api.route(unknown).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(std::str::from_utf8(response.body()).unwrap().contains("\"NOT_FOUND\""));

    let mut get = event(REGISTER, None);
    *get.method_mut() = Method::GET;
    let response = f.api.route(get).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");

    let response = f.api.route(event(REGISTER, None)).await;
    assert_eq!(response.status(), StatusCode::OK);
}
