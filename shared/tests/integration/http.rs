//! The HTTP layer fed with the real API Gateway events in `events/`.

use std::time::Duration;

use lambda_http::http::{Method, StatusCode};
use otp_shared::http::{Endpoint, MAX_BODY_BYTES};
use otp_shared::otp::Policy;
use otp_shared::sms::Inbox;
use otp_shared::verification_token::VerificationTokens;
use otp_testkit::events::{self, Event};
use otp_testkit::keys::ED_PRIVATE;
use otp_testkit::{
    Answer, BrokenSender, BrokenStore, FixedRandom, ManualClock, START, SlowStore, TestApi, api,
    call,
};
use serde_json::{Value, json};

/// The API over `inbox`, a clock at [`START`] and `policy`.
async fn fixture(policy: Policy) -> (TestApi, Inbox) {
    let inbox = Inbox::new();
    (api().sender(inbox.clone()).policy(policy).build().await, inbox)
}

fn verify_body(auth_code: Value, otp: Value) -> Value {
    json!({"phone_number": "9876543219", "countryCode": "+91", "authCode": auth_code, "otp": otp})
}

#[tokio::test]
async fn register_event_answers_in_the_contract_shape_and_sends_the_sms() {
    let (api, inbox) = fixture(Policy::default()).await;
    let answer = call(&api, Endpoint::Register, events::register().request()).await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.body.as_object().unwrap();
    assert_eq!(body.len(), 4, "{body:?}");
    assert_eq!((body["expiresIn"].as_u64(), body["resendAfter"].as_u64()), (Some(300), Some(30)));
    let auth_code = body["authCode"].as_str().expect("authCode is a string");
    assert!(auth_code.len() == 4 && auth_code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(body["isNewUser"], json!(true));
    let messages = inbox.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, "+919876543219");
}

#[tokio::test]
async fn verify_event_with_numeric_codes_verifies_once() {
    let random = FixedRandom::new(&["123456", "1234"]);
    let api = api().random(random).policy(Policy::without_send_limits()).build().await;
    let registered = call(&api, Endpoint::Register, events::register().request()).await;
    assert_eq!(registered.body["authCode"], "1234");

    let answer = call(&api, Endpoint::Verify, events::verify().request()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, json!({"message": "Phone number verified successfully"}));

    let again = call(&api, Endpoint::Verify, events::verify().request()).await;
    again.assert_error(StatusCode::UNAUTHORIZED, "OTP_ALREADY_USED");
    let registered_again = call(&api, Endpoint::Register, events::register().request()).await;
    assert_eq!(registered_again.body["isNewUser"], json!(false));
}

#[tokio::test]
async fn numbers_that_lost_leading_zeros_still_verify() {
    let random = FixedRandom::new(&["012345", "0042"]);
    let api = api().random(random).policy(Policy::without_send_limits()).build().await;
    let registered = call(&api, Endpoint::Register, events::register().request()).await;
    assert_eq!(registered.body["authCode"], "0042");
    let body = verify_body(json!(42), json!(12345));
    let answer = call(&api, Endpoint::Verify, events::verify().body(body).request()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn resend_event_replaces_the_code() {
    // The refused resend draws a code too: the store refuses it, not the service.
    let random = FixedRandom::new(&["123456", "1234", "999999", "9999", "654321", "4321"]);
    let (inbox, clock) = (Inbox::new(), ManualClock::new(START));
    let api = api().random(random).sender(inbox.clone()).clock(clock.clone()).build().await;
    call(&api, Endpoint::Register, events::register().request()).await;

    let early = call(&api, Endpoint::Resend, events::resend().request()).await;
    early.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(early.headers["retry-after"], "30");
    assert_eq!(early.body["retryAfter"], json!(30), "the header's seconds, in the body too");
    assert_eq!(inbox.messages().len(), 1, "a refused resend sends nothing");

    clock.advance(30);
    let resent = call(&api, Endpoint::Resend, events::resend().request()).await;
    assert_eq!(resent.status, StatusCode::OK);
    let sent = json!({"authCode": "4321", "isNewUser": true, "expiresIn": 300, "resendAfter": 30});
    assert_eq!(resent.body, sent);
    let old = call(&api, Endpoint::Verify, events::verify().request()).await;
    old.assert_error(StatusCode::UNAUTHORIZED, "INVALID_OTP");
    let new = events::verify().body(verify_body(json!("4321"), json!("654321")));
    assert_eq!(call(&api, Endpoint::Verify, new.request()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_missing_or_malformed_tokens_get_401_on_every_endpoint() {
    let (api, inbox) = fixture(Policy::default()).await;
    for endpoint in Endpoint::ALL {
        let answer = call(&api, endpoint, events::bad_token().request()).await;
        answer.assert_error(StatusCode::UNAUTHORIZED, "UN_AUTHORIZED");

        let missing = events::register().without_token().request();
        call(&api, endpoint, missing).await.assert_error(StatusCode::UNAUTHORIZED, "UN_AUTHORIZED");

        let garbage = events::register().token("not.a.jwt").request();
        call(&api, endpoint, garbage).await.assert_error(StatusCode::UNAUTHORIZED, "UN_AUTHORIZED");
    }
    assert!(inbox.messages().is_empty());
}

#[tokio::test]
async fn token_is_checked_before_the_body() {
    let (api, _) = fixture(Policy::default()).await;
    let request = events::bad_token().raw_body("not json").request();
    call(&api, Endpoint::Verify, request)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "UN_AUTHORIZED");
}

#[tokio::test]
async fn bearer_prefix_is_tolerated() {
    let (api, _) = fixture(Policy::default()).await;
    let event = events::register();
    let request = event.clone().token(&format!("Bearer {}", event.token_value())).request();
    assert_eq!(call(&api, Endpoint::Register, request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_bodies_get_a_4xx_json_error() {
    let (api, inbox) = fixture(Policy::without_send_limits()).await;
    let raw = |text: &str| Value::String(text.to_owned());
    let cases = [
        (Endpoint::Register, raw(""), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        (Endpoint::Register, raw("not json"), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
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
        let answer = call(&api, endpoint, with_body(events::for_endpoint(endpoint), &body)).await;
        assert_eq!((answer.status, answer.code()), (status, code), "body {body}");
        answer.assert_error(status, code);
    }
    assert!(inbox.messages().is_empty());
}

/// The event with `body` as its body: a JSON string as raw text, anything else serialised.
fn with_body(event: Event, body: &Value) -> lambda_http::Request {
    match body {
        Value::String(raw) => event.raw_body(raw).request(),
        other => event.body(other.clone()).request(),
    }
}

#[tokio::test]
async fn refused_destinations_get_403_or_400() {
    let (api, inbox) = fixture(Policy {
        allowed_countries: Some("IN".parse().unwrap()),
        ..Policy::without_send_limits()
    })
    .await;
    let british = json!({"phone_number": "7400 123456", "countryCode": "GB"});
    let answer = call(&api, Endpoint::Register, events::register().body(british).request()).await;
    answer.assert_error(StatusCode::FORBIDDEN, "COUNTRY_NOT_ALLOWED");
    let landline = json!({"phone_number": "011 2345 6789", "countryCode": "+91"});
    let answer = call(&api, Endpoint::Resend, events::resend().body(landline).request()).await;
    answer.assert_error(StatusCode::BAD_REQUEST, "UNSUPPORTED_NUMBER_TYPE");
    assert!(inbox.messages().is_empty());
}

#[tokio::test]
async fn malformed_bodies_are_described_without_echoing_values() {
    let (api, _) = fixture(Policy::default()).await;
    let cases = [
        (
            Value::String("{\"phone_number\": 98765432".into()),
            "body is not valid JSON (line 1, column 25)",
        ),
        (json!({"countryCode": "+91"}), "missing field `phone_number`"),
        (
            json!({"phone_number": 9876543219.5_f64, "countryCode": "+91"}),
            "phone_number must be a string or a non-negative integer",
        ),
        (
            Value::String(
                json!({"phone_number": "9876543219", "countryCode": "+91"}).to_string() + " x",
            ),
            "body is not valid JSON (line 1, column 51)",
        ),
    ];
    for (body, message) in cases {
        let answer = call(&api, Endpoint::Register, with_body(events::register(), &body)).await;
        answer.assert_error(StatusCode::BAD_REQUEST, "INVALID_REQUEST");
        assert_eq!(answer.body["message"], message, "body {body}");
    }
}

#[tokio::test]
async fn base64_encoded_bodies_are_read() {
    let (api, _) = fixture(Policy::default()).await;
    let mut event = events::register();
    // base64 of {"phone_number":"9876543219","countryCode":"+91"}
    event.json_mut()["body"] =
        json!("eyJwaG9uZV9udW1iZXIiOiI5ODc2NTQzMjE5IiwiY291bnRyeUNvZGUiOiIrOTEifQ==");
    event.json_mut()["isBase64Encoded"] = json!(true);
    assert_eq!(call(&api, Endpoint::Register, event.request()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_verification_failure_has_its_own_code() {
    let clock = ManualClock::new(START);
    let api = api()
        .random(FixedRandom::new(&["123456", "1234"]))
        .clock(clock.clone())
        .policy(Policy { max_attempts: 2, ..Policy::without_send_limits() })
        .build()
        .await;
    let wrong = || events::verify().body(verify_body(json!("1234"), json!("000000"))).request();
    call(&api, Endpoint::Verify, wrong())
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "OTP_NOT_FOUND");

    call(&api, Endpoint::Register, events::register().request()).await;
    call(&api, Endpoint::Verify, wrong())
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "INVALID_OTP");
    clock.advance(300);
    let expired = call(&api, Endpoint::Verify, events::verify().request()).await;
    expired.assert_error(StatusCode::UNAUTHORIZED, "OTP_EXPIRED");
}

#[tokio::test]
async fn locked_challenge_answers_too_many_attempts() {
    let api = api()
        .random(FixedRandom::new(&["123456", "1234"]))
        .policy(Policy { max_attempts: 2, ..Policy::without_send_limits() })
        .build()
        .await;
    call(&api, Endpoint::Register, events::register().request()).await;
    for left in [1, 0] {
        let wrong = events::verify().body(verify_body(json!("1234"), json!("000000")));
        let answer = call(&api, Endpoint::Verify, wrong.request()).await;
        answer.assert_error(StatusCode::UNAUTHORIZED, "INVALID_OTP");
        assert_eq!(answer.body["attemptsLeft"], json!(left), "{}", answer.body);
    }
    let right = call(&api, Endpoint::Verify, events::verify().request()).await;
    right.assert_error(StatusCode::UNAUTHORIZED, "TOO_MANY_ATTEMPTS");
}

#[tokio::test]
async fn ip_limit_uses_the_source_ip_of_the_event() {
    let (api, _) =
        fixture(Policy { max_sends_per_ip_per_hour: 1, ..Policy::without_send_limits() }).await;
    let registered = call(&api, Endpoint::Register, events::register().request()).await;
    assert_eq!(registered.status, StatusCode::OK);
    let other_phone = json!({"phone_number": "9876543210", "countryCode": "+91"});
    let same_ip = events::register().body(other_phone.clone()).request();
    let same_ip = call(&api, Endpoint::Register, same_ip).await;
    same_ip.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(same_ip.headers["retry-after"], "3600");

    let other_ip = events::register().body(other_phone).source_ip("198.51.100.1").request();
    assert_eq!(call(&api, Endpoint::Register, other_ip).await.status, StatusCode::OK);
}

#[tokio::test]
async fn failing_dependencies_get_503_with_retry_after_and_no_details() {
    let broken_store = api().store(BrokenStore).build().await;
    for endpoint in Endpoint::ALL {
        let request = events::for_endpoint(endpoint).request();
        let answer = call(&broken_store, endpoint, request).await;
        answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
        assert_eq!(answer.headers["retry-after"], "2");
        assert!(!answer.body.to_string().contains("unreachable"));
    }
    let broken_sms = api().sender(BrokenSender).build().await;
    let answer = call(&broken_sms, Endpoint::Register, events::register().request()).await;
    answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "SMS_UNAVAILABLE");
    assert_eq!(answer.headers["retry-after"], "2");
}

#[tokio::test]
async fn a_request_that_outlives_the_deadline_gets_503() {
    let slow = api().store(SlowStore).build().await.with_deadline(Duration::from_millis(50));
    for endpoint in Endpoint::ALL {
        let answer = call(&slow, endpoint, events::for_endpoint(endpoint).request()).await;
        answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    }
}

#[tokio::test]
async fn a_verification_token_comes_with_success_when_a_key_is_set() {
    let tokens =
        VerificationTokens::from_pem(ED_PRIVATE, "https://otp.example".into(), None, 300).unwrap();
    let random = FixedRandom::new(&["123456", "1234"]);
    let api = api().random(random).verification_tokens(tokens.clone()).build().await;
    call(&api, Endpoint::Register, events::register().request()).await;
    let answer = call(&api, Endpoint::Verify, events::verify().request()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["message"], "Phone number verified successfully");
    let token = answer.body["verificationToken"].as_str().expect("a token");
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(tokens.key_id()));
}

#[tokio::test]
async fn routing_answers_unknown_paths_and_methods_in_json() {
    let (api, _) = fixture(Policy::default()).await;
    let mut unknown = events::register().request();
    *unknown.uri_mut() = "/fe/users/auth/otp/other".parse().unwrap();
    let response = Answer::read(api.route(unknown).await);
    response.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    let mut get = events::register().request();
    *get.method_mut() = Method::GET;
    let response = Answer::read(api.route(get).await);
    response.assert_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    assert_eq!(response.headers["allow"], "POST");

    let response = api.route(events::register().request()).await;
    assert_eq!(response.status(), StatusCode::OK);
}
