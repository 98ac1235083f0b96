//! The shared HTTP layer over the DynamoDB and SNS adapters, fed with the events in
//! `events/`, with the requests each endpoint makes counted.

use std::sync::Arc;

use aws_types::SdkConfig;
use lambda_http::http::StatusCode;
use otp_shared::aws::{AwsApi, AwsSettings, api, dynamodb_config, sns_config};
use otp_shared::config::Settings;
use otp_shared::http::Endpoint;
use otp_testkit::events::{self, example_env_with};
use otp_testkit::moto::{RequestLog, fresh_table, sdk, sent_sms};
use otp_testkit::{call, code_in};
use serde_json::json;

/// The API as a function runs it, on `table`, with every request logged.
async fn api_on(
    sdk: &SdkConfig,
    table: &str,
    sns_endpoint: Option<&str>,
    overrides: &[(&str, &str)],
) -> (AwsApi, RequestLog) {
    let settings = Settings::from_lookup(&example_env_with(overrides)).unwrap();
    let aws = AwsSettings {
        table_name: table.to_owned(),
        senders: Default::default(),
        warm_clients: false,
    };
    let log = RequestLog::default();
    let dynamodb = dynamodb_config(sdk).interceptor(log.clone()).build();
    let mut sns = sns_config(sdk).interceptor(log.clone());
    if let Some(endpoint) = sns_endpoint {
        sns = sns.endpoint_url(endpoint);
    }
    let api = api(
        settings,
        aws,
        aws_sdk_dynamodb::Client::from_conf(dynamodb),
        aws_sdk_sns::Client::from_conf(sns.build()),
    )
    .await
    .unwrap();
    (api, log)
}

/// The status and body `event` gets at `endpoint`.
async fn call_json(
    api: &AwsApi,
    endpoint: Endpoint,
    event: events::Event,
) -> (StatusCode, serde_json::Value) {
    let answer = call(api, endpoint, event.request()).await;
    (answer.status, answer.body)
}

/// The requests in `log`, sorted: the store's reads and writes go out in parallel.
fn sorted(log: &RequestLog) -> Vec<String> {
    let mut requests = log.take();
    requests.sort();
    requests
}

fn ops(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[tokio::test]
async fn events_register_verify_and_resend_with_their_request_counts() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let (api, log) = api_on(&sdk, &table, None, &[("OTP_RESEND_COOLDOWN_SECONDS", "0")]).await;
    // The phone's record and the breaker's tallies in one read, the reservation, the SMS,
    // and the send tallied under the number's prefix and country.
    let send_requests = ops(&[
        "DynamoDB:BatchGetItem",
        "DynamoDB:TransactWriteItems",
        "DynamoDB:UpdateItem",
        "DynamoDB:UpdateItem",
        "SNS:Publish",
    ]);

    let (status, registered) = call_json(&api, Endpoint::Register, events::register()).await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    assert_eq!(registered["isNewUser"], json!(true));
    assert_eq!(sorted(&log), send_requests);

    let (status, resent) = call_json(&api, Endpoint::Resend, events::resend()).await;
    assert_eq!(status, StatusCode::OK, "{resent}");
    assert_eq!(sorted(&log), send_requests);

    let sms = sent_sms("+919876543219").await;
    let code = code_in(sms.last().unwrap(), 6);
    let wrong = json!({
        "phone_number": "9876543219", "countryCode": "+91",
        "authCode": resent["authCode"], "otp": otp_testkit::wrong(&code)
    });
    let (status, _) = call_json(&api, Endpoint::Verify, events::verify().body(wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(sorted(&log), ops(&["DynamoDB:TransactWriteItems"]), "a wrong code: one write");
    let body = json!({
        "phone_number": "9876543219", "countryCode": "+91",
        "authCode": resent["authCode"], "otp": code
    });
    let (status, verified) = call_json(&api, Endpoint::Verify, events::verify().body(body)).await;
    assert_eq!(
        (status, verified),
        (StatusCode::OK, json!({"message": "Phone number verified successfully"}))
    );
    let right_code = ops(&[
        "DynamoDB:TransactWriteItems",
        "DynamoDB:TransactWriteItems",
        "DynamoDB:UpdateItem",
        "DynamoDB:UpdateItem",
    ]);
    assert_eq!(
        sorted(&log),
        right_code,
        "a right code: the counting write, cancelled, the consuming one, and the tallies"
    );

    let (_, again) = call_json(&api, Endpoint::Register, events::register()).await;
    assert_eq!(again["isNewUser"], json!(false), "the verified record outlives the code");
}

#[tokio::test]
async fn failed_sms_leaves_nothing_pending_and_allows_an_immediate_retry() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let phone = json!({"phone_number": "4155550142", "countryCode": "US"});
    let before = sent_sms("+14155550142").await.len();
    let (broken, _) = api_on(&sdk, &table, Some("http://127.0.0.1:9"), &[]).await;
    let (status, body) =
        call_json(&broken, Endpoint::Register, events::register().body(phone.clone())).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("SMS_UNAVAILABLE"))
    );

    let (api, _) = api_on(&sdk, &table, None, &[]).await;
    let verify = json!({"phone_number": "4155550142", "countryCode": "US", "authCode": "0000", "otp": "000000"});
    let (status, body) = call_json(&api, Endpoint::Verify, events::verify().body(verify)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("OTP_NOT_FOUND")));

    let (status, registered) =
        call_json(&api, Endpoint::Register, events::register().body(phone)).await;
    assert_eq!(status, StatusCode::OK, "no cooldown after the failure: {registered}");
    assert_eq!(sent_sms("+14155550142").await.len(), before + 1);
}

#[tokio::test]
async fn parallel_wrong_guesses_over_dynamodb_get_no_more_than_the_budget() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let (api, _) = api_on(&sdk, &table, None, &[]).await;
    let api = Arc::new(api);
    let phone = json!({"phone_number": "4155550143", "countryCode": "+1"});
    let (_, registered) = call_json(&api, Endpoint::Register, events::register().body(phone)).await;
    let code = code_in(sent_sms("+14155550143").await.last().unwrap(), 6);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let body = json!({
        "phone_number": "4155550143", "countryCode": "+1",
        "authCode": registered["authCode"], "otp": wrong
    });
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (api, body) = (api.clone(), body.clone());
            tokio::spawn(async move {
                call_json(&api, Endpoint::Verify, events::verify().body(body)).await
            })
        })
        .collect();
    let mut codes = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        codes.push(body["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(codes.iter().filter(|c| *c == "INVALID_OTP").count(), 5);
    assert_eq!(codes.iter().filter(|c| *c == "TOO_MANY_ATTEMPTS").count(), 35);
}

#[tokio::test]
async fn two_subjects_on_one_phone_over_dynamodb_with_verification_tokens() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let key = otp_testkit::keys::ED_PRIVATE;
    let overrides = [
        ("VERIFICATION_TOKEN_PRIVATE_KEY", key),
        ("VERIFICATION_TOKEN_ISSUER", "https://otp.example"),
        ("OTP_MAX_FAILED_VERIFICATIONS_PER_SUBJECT_PER_DAY", "3"),
    ];
    let (api, _) = api_on(&sdk, &table, None, &overrides).await;
    let phone = json!({"phone_number": "4155550188", "countryCode": "US"});
    let mallory_token = otp_shared::jwt::mint(
        &otp_testkit::events::example_settings().jwt,
        "mallory",
        otp_shared::otp::ports::Clock::now(&otp_shared::system::SystemClock),
        600,
    )
    .unwrap();
    let as_mallory = |event: events::Event| event.token(&mallory_token);

    let (_, alice) =
        call_json(&api, Endpoint::Register, events::register().body(phone.clone())).await;
    let alice_code = code_in(sent_sms("+14155550188").await.last().unwrap(), 6);
    let (status, _) =
        call_json(&api, Endpoint::Register, as_mallory(events::register().body(phone.clone())))
            .await;
    assert_eq!(status, StatusCode::OK, "mallory gets a code of its own");
    for guess in ["000000", "111111", "222222"] {
        let body =
            json!({"phone_number": "+14155550188", "authCode": alice["authCode"], "otp": guess});
        let (status, answer) =
            call_json(&api, Endpoint::Verify, as_mallory(events::verify().body(body))).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("INVALID_OTP"))
        );
    }
    let body =
        json!({"phone_number": "+14155550188", "authCode": alice["authCode"], "otp": alice_code});
    let (status, answer) =
        call_json(&api, Endpoint::Verify, as_mallory(events::verify().body(body.clone()))).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("RATE_LIMITED"))
    );

    let (status, verified) = call_json(&api, Endpoint::Verify, events::verify().body(body)).await;
    assert_eq!(status, StatusCode::OK, "alice's code was never disturbed: {verified}");
    let token = verified["verificationToken"].as_str().unwrap();
    let claims: serde_json::Value = {
        use base64::Engine;
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        (claims["sub"].as_str(), claims["phone_number"].as_str()),
        (Some("alice"), Some("+14155550188"))
    );
}
