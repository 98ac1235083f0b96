//! What the logs say. One test in this binary, so its subscriber is the process's only one.

mod capture;

use capture::Capture;
use std::sync::Arc;

use lambda_http::Request;
use otp_shared::config::Settings;
use otp_shared::http::{Api, Endpoint, TOKEN_HEADER};
use otp_shared::jwt::JwtVerifier;
use otp_shared::otp::OtpService;
use otp_shared::sms::Inbox;
use otp_shared::store::MemoryStore;
use otp_shared::system::{OsRandom, SystemClock};
use serde_json::{Value, json};

const REGISTER: &str = include_str!("../../events/register.json");
const VERIFY: &str = include_str!("../../events/verify.json");
const BAD_TOKEN: &str = include_str!("../../events/register-bad-token.json");
const ENV: &str = include_str!("../../events/env.json");

fn event(json: &str, body: Option<Value>) -> Request {
    let mut event: Value = serde_json::from_str(json).unwrap();
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn logs_carry_events_but_no_code_token_or_full_phone() {
    let logs = Capture::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .without_time() // so no digits of a timestamp can match a code by chance
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let env: Value = serde_json::from_str(ENV).unwrap();
    let settings =
        Settings::from_lookup(&|name: &str| env["Parameters"][name].as_str().map(str::to_owned))
            .unwrap();
    let inbox = Arc::new(Inbox::new());
    let otp = OtpService::new(
        MemoryStore::new(),
        inbox.clone(),
        SystemClock,
        OsRandom,
        settings.policy,
        settings.hash_key,
    );
    let api = Api::new(JwtVerifier::new(&settings.jwt).await.unwrap(), otp);

    let response = api.handle(Endpoint::Register, event(REGISTER, None)).await.unwrap();
    let registered: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    let auth_code = registered["authCode"].as_str().unwrap().to_owned();
    let sms = inbox.messages()[0].body.clone();
    let code = sms.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).unwrap().to_owned();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for otp in [wrong, code.as_str()] {
        let body = json!({
            "phone_number": "9876543219", "countryCode": "+91", "authCode": auth_code, "otp": otp
        });
        api.handle(Endpoint::Verify, event(VERIFY, Some(body))).await.unwrap();
    }
    api.handle(Endpoint::Register, event(BAD_TOKEN, None)).await.unwrap();

    let text = logs.text();
    for event in ["otp.sent", "otp.failed", "otp.verified", "auth.refused"] {
        assert!(text.contains(event), "{event} is logged:\n{text}");
    }
    let token = event(REGISTER, None).headers()[TOKEN_HEADER].to_str().unwrap().to_owned();
    let signature = token.rsplit('.').next().unwrap().to_owned();
    for secret in [code.as_str(), auth_code.as_str(), "9876543219", signature.as_str(), "alice"] {
        assert!(!text.contains(secret), "{secret} leaked into the logs:\n{text}");
    }
    for line in text.lines().filter(|line| line.contains("\"event\":\"otp.")) {
        let line: Value = serde_json::from_str(line).unwrap();
        let audit = &line["span"];
        assert_eq!(audit["phone"], "+91*******219", "{line}");
        assert_eq!(audit["country"], "IN", "{line}");
        let subject = audit["subject"].as_str().unwrap();
        assert!(subject.len() == 16 && subject.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
        let request_id = line["spans"][0]["request_id"].as_str().unwrap();
        assert!(!request_id.is_empty(), "{line}");
    }
}
