//! A function's wiring as Lambda runs it: every setting read from its variables (here the
//! example environment of `events/env.json`), the clients made from one SDK configuration.

use lambda_http::http::StatusCode;
use otp_shared::aws::api_from_lookup;
use otp_shared::http::Endpoint;
use otp_testkit::events::{self, example_env_with};
use otp_testkit::moto::{fresh_table, sdk, sent_sms};
use otp_testkit::{call, code_in};
use serde_json::json;

#[tokio::test]
async fn functions_configure_themselves_from_their_variables() {
    let sdk = sdk().await;
    let missing = api_from_lookup(&example_env_with(&[("TABLE_NAME", "")]), &sdk).await;
    let error = missing.err().expect("TABLE_NAME is required");
    assert!(error.to_string().contains("TABLE_NAME"), "{error}");

    let table = fresh_table(&sdk).await;
    let api = api_from_lookup(&example_env_with(&[("TABLE_NAME", &table)]), &sdk).await.unwrap();
    let phone = json!({"phone_number": "4155550144", "countryCode": "US"});
    let registered = call(&api, Endpoint::Register, events::register().body(phone).request()).await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.body);
    let code = code_in(sent_sms("+14155550144").await.last().unwrap(), 6);

    let body = json!({
        "phone_number": "+14155550144", "authCode": registered.body["authCode"], "otp": code
    });
    let verified = call(&api, Endpoint::Verify, events::verify().body(body).request()).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
}
