//! A function's wiring as Lambda runs it: everything from the environment, the endpoint
//! included (`AWS_ENDPOINT_URL`, here pointing at the emulator).
#![cfg(feature = "aws")]

mod support;

use serde_json::{Value, json};

const REGISTER: &str = include_str!("../../events/register.json");
const VERIFY: &str = include_str!("../../events/verify.json");
const ENV: &str = include_str!("../../events/env.json");

fn event(json: &str, body: Value) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(json).unwrap();
    event["body"] = Value::String(body.to_string());
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

// One test in this binary, so changing the process environment races with nothing.
#[tokio::test]
async fn functions_configure_themselves_from_the_environment() {
    let env: Value = serde_json::from_str(ENV).unwrap();
    // SAFETY: this is the only test of this binary, and no other thread reads the environment.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", support::moto_endpoint());
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        for name in ["JWT_SECRET", "OTP_HASH_KEY"] {
            std::env::set_var(name, env["Parameters"][name].as_str().unwrap());
        }
        std::env::remove_var("TABLE_NAME");
    }
    let missing = otp_shared::aws::api_from_env().await.err().expect("TABLE_NAME is required");
    assert!(missing.to_string().contains("TABLE_NAME"), "{missing}");

    let table = support::fresh_table(&otp_shared::aws::sdk_config().await).await;
    // SAFETY: as above.
    unsafe { std::env::set_var("TABLE_NAME", &table) };
    let api = otp_shared::aws::api_from_env().await.unwrap();

    let phone = json!({"phone_number": "4155550144", "countryCode": "US"});
    let response =
        api.handle(otp_shared::http::Endpoint::Register, event(REGISTER, phone)).await.unwrap();
    assert_eq!(response.status(), 200);
    let registered: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    let code = support::code_in(support::sent_sms("+14155550144").await.last().unwrap(), 6);

    let body = json!({
        "phone_number": "+14155550144", "authCode": registered["authCode"], "otp": code
    });
    let response =
        api.handle(otp_shared::http::Endpoint::Verify, event(VERIFY, body)).await.unwrap();
    assert_eq!(response.status(), 200);
}
