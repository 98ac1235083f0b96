//! Properties of phone normalisation, code parsing and the request path, over generated
//! inputs (proptest).

use std::sync::OnceLock;

use lambda_http::Body;
use otp_shared::http::{Endpoint, StringOrNumber, VerifyBody};
use otp_shared::jwt::{self, JwtSettings};
use otp_shared::otp::Policy;
use otp_shared::otp::ports::Clock;
use otp_shared::phone::PhoneNumber;
use otp_shared::system::SystemClock;
use otp_testkit::keys::SECRET;
use otp_testkit::{TestApi, events};
use proptest::prelude::*;
use serde_json::json;

/// Separators people type inside phone numbers.
fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just(" "), Just("-"), Just("."), Just("  ")]
}

proptest! {
    #[test]
    fn parsing_never_panics(number in "\\PC{0,40}", country in "\\PC{0,8}") {
        let _ = PhoneNumber::parse(&number, &country);
    }

    #[test]
    fn a_parsed_number_is_canonical(digits in "[6-9][0-9]{9}", country in prop_oneof![Just("IN"), Just("in"), Just("+91"), Just("91")]) {
        if let Ok(phone) = PhoneNumber::parse(&digits, country) {
            prop_assert_eq!(phone.e164(), format!("+91{digits}"));
            let again = PhoneNumber::parse(phone.e164(), "").unwrap();
            prop_assert_eq!(again.e164(), phone.e164());
        }
    }

    #[test]
    fn separators_do_not_change_a_number(
        digits in "[2-9][0-9]{2}[2-9][0-9]{6}",
        seps in proptest::collection::vec(separator(), 10),
    ) {
        let plain = PhoneNumber::parse(&digits, "US");
        let typed: String = digits.chars().zip(&seps).map(|(d, s)| format!("{d}{s}")).collect();
        prop_assert_eq!(PhoneNumber::parse(&typed, "US"), plain);
    }

    #[test]
    fn masking_hides_all_but_prefix_and_last_three(digits in "[6-9][0-9]{9}") {
        if let Ok(phone) = PhoneNumber::parse(&digits, "IN") {
            let masked = phone.masked();
            prop_assert_eq!(masked.len(), phone.e164().len());
            prop_assert!(masked.starts_with("+91"));
            prop_assert!(masked.ends_with(&digits[7..]));
            prop_assert_eq!(masked.matches('*').count(), 7);
        }
    }

    #[test]
    fn a_number_and_its_zero_padded_string_are_the_same_code(len in 4usize..=10, seed in any::<u64>()) {
        let code = seed % 10u64.pow(len as u32);
        let padded = format!("{code:0len$}");
        prop_assert_eq!(StringOrNumber::Number(code).digits(len), Some(padded.clone()));
        prop_assert_eq!(StringOrNumber::String(padded.clone()).digits(len), Some(padded));
    }

    #[test]
    fn codes_are_digits_of_the_length_or_nothing(text in "\\PC{0,12}", len in 4usize..=10) {
        if let Some(digits) = StringOrNumber::String(text).digits(len) {
            prop_assert_eq!(digits.len(), len);
            prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn numbers_too_long_for_the_code_are_refused(len in 4usize..=10, extra in 1u64..1_000_000) {
        let too_big = 10u64.pow(len as u32) - 1 + extra;
        prop_assert_eq!(StringOrNumber::Number(too_big).digits(len), None);
    }

    #[test]
    fn verify_bodies_parse_in_either_json_form(auth in 0u64..10_000, otp in 0u64..1_000_000, strings in any::<bool>()) {
        let (auth_value, otp_value) = if strings {
            (json!(format!("{auth:04}")), json!(format!("{otp:06}")))
        } else {
            (json!(auth), json!(otp))
        };
        let body = json!({"phone_number": "9876543219", "countryCode": "+91", "authCode": auth_value, "otp": otp_value});
        let parsed = VerifyBody::from_json(body.as_object().unwrap()).unwrap();
        prop_assert_eq!(parsed.auth_code.digits(4), Some(format!("{auth:04}")));
        prop_assert_eq!(parsed.otp.digits(6), Some(format!("{otp:06}")));
    }

    #[test]
    fn any_body_gets_a_json_answer_below_500(body in proptest::collection::vec(any::<u8>(), 0..600), endpoint in 0usize..3) {
        let (status, json) = runtime().block_on(answer(Endpoint::ALL[endpoint], body));
        prop_assert!(status < 500, "status {}", status);
        prop_assert!(json.is_object());
    }

    #[test]
    fn json_shaped_bodies_get_a_json_answer_below_500(
        phone in prop_oneof![Just(json!("9876543219")), Just(json!(9876543219u64)), any::<String>().prop_map(|s| json!(s)), any::<i64>().prop_map(|n| json!(n))],
        country in prop_oneof![Just(json!("+91")), Just(json!("IN")), any::<String>().prop_map(|s| json!(s)), Just(json!(null))],
        code in prop_oneof![any::<String>().prop_map(|s| json!(s)), any::<i64>().prop_map(|n| json!(n)), any::<f64>().prop_map(|n| json!(n))],
        endpoint in 0usize..3,
    ) {
        let body = json!({"phone_number": phone, "countryCode": country, "authCode": code, "otp": code});
        let (status, json) = runtime().block_on(answer(Endpoint::ALL[endpoint], body.to_string().into_bytes()));
        prop_assert!(status < 500, "status {} for {}", status, body);
        prop_assert!(json.is_object());
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

/// One API for all cases, with no send limits so every body reaches the parser and policy.
async fn api() -> &'static TestApi {
    static API: tokio::sync::OnceCell<TestApi> = tokio::sync::OnceCell::const_new();
    API.get_or_init(|| async {
        let jwt = JwtSettings::with_secret(SECRET);
        otp_testkit::api().jwt(jwt).policy(Policy::without_send_limits()).build().await
    })
    .await
}

async fn answer(endpoint: Endpoint, body: Vec<u8>) -> (u16, serde_json::Value) {
    let token =
        jwt::mint(&JwtSettings::with_secret(SECRET), "prop", SystemClock.now(), 600).unwrap();
    let mut request = events::register().token(&token).request();
    *request.body_mut() = Body::Binary(body);
    let Ok(response) = api().await.handle(endpoint, request).await;
    let json = serde_json::from_slice(response.body().as_ref()).unwrap_or(serde_json::Value::Null);
    (response.status().as_u16(), json)
}
