//! The shared HTTP layer over the DynamoDB and SNS adapters, fed with the events in
//! `events/`, with the requests each endpoint makes counted.

use std::sync::Arc;

use aws_config::SdkConfig;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use otp_shared::aws::{AwsApi, AwsSettings, api};
use otp_shared::config::Settings;
use otp_shared::http::Endpoint;
use serde_json::{Value, json};

use crate::support::{code_in, fresh_table, sent_sms};
use crate::{RequestLog, sdk};

const REGISTER: &str = include_str!("../../../events/register.json");
const VERIFY: &str = include_str!("../../../events/verify.json");
const RESEND: &str = include_str!("../../../events/resend.json");
const ENV: &str = include_str!("../../../events/env.json");

/// The API as a function runs it, on a fresh table, with every request logged.
async fn api_on(
    sdk: &SdkConfig,
    table: &str,
    sns_endpoint: Option<&str>,
    overrides: &[(&str, &str)],
) -> (AwsApi, RequestLog) {
    let env: Value = serde_json::from_str(ENV).unwrap();
    let overrides: Vec<(String, String)> =
        overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let lookup = |name: &str| {
        overrides
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| env["Parameters"][name].as_str().map(str::to_owned))
    };
    let settings = Settings::from_lookup(&lookup).unwrap();
    let aws = AwsSettings { table_name: table.to_owned(), sms_sender_id: None };
    let log = RequestLog::default();
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(log.clone()).build();
    let mut sns = aws_sdk_sns::config::Builder::from(sdk).interceptor(log.clone());
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

fn event(json: &str, body: Option<Value>) -> Request {
    let mut event: Value = serde_json::from_str(json).unwrap();
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

async fn call(api: &AwsApi, endpoint: Endpoint, request: Request) -> (StatusCode, Value) {
    let response = api.handle(endpoint, request).await.unwrap();
    (response.status(), serde_json::from_slice(response.body().as_ref()).unwrap())
}

fn ops(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[tokio::test]
async fn events_register_verify_and_resend_with_their_request_counts() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let (api, log) = api_on(&sdk, &table, None, &[("OTP_RESEND_COOLDOWN_SECONDS", "0")]).await;
    let send_requests = ops(&["DynamoDB:GetItem", "DynamoDB:TransactWriteItems", "SNS:Publish"]);

    let (status, registered) = call(&api, Endpoint::Register, event(REGISTER, None)).await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    assert_eq!(registered["isNewUser"], json!(true));
    assert_eq!(log.take(), send_requests);

    let (status, resent) = call(&api, Endpoint::Resend, event(RESEND, None)).await;
    assert_eq!(status, StatusCode::OK, "{resent}");
    assert_eq!(log.take(), send_requests);

    let sms = sent_sms("+919876543219").await;
    let code = code_in(sms.last().unwrap(), 6);
    let body = json!({
        "phone_number": "9876543219", "countryCode": "+91",
        "authCode": resent["authCode"], "otp": code
    });
    let (status, verified) = call(&api, Endpoint::Verify, event(VERIFY, Some(body))).await;
    assert_eq!(
        (status, verified),
        (StatusCode::OK, json!({"message": "Phone number verified successfully"}))
    );
    assert_eq!(log.take(), ops(&["DynamoDB:UpdateItem", "DynamoDB:TransactWriteItems"]));

    let (_, again) = call(&api, Endpoint::Register, event(REGISTER, None)).await;
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
        call(&broken, Endpoint::Register, event(REGISTER, Some(phone.clone()))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("SMS_UNAVAILABLE"))
    );

    let (api, _) = api_on(&sdk, &table, None, &[]).await;
    let verify = json!({"phone_number": "4155550142", "countryCode": "US", "authCode": "0000", "otp": "000000"});
    let (status, body) = call(&api, Endpoint::Verify, event(VERIFY, Some(verify))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("OTP_NOT_FOUND")));

    let (status, registered) = call(&api, Endpoint::Register, event(REGISTER, Some(phone))).await;
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
    let (_, registered) = call(&api, Endpoint::Register, event(REGISTER, Some(phone))).await;
    let code = code_in(sent_sms("+14155550143").await.last().unwrap(), 6);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let body = json!({
        "phone_number": "4155550143", "countryCode": "+1",
        "authCode": registered["authCode"], "otp": wrong
    });
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (api, body) = (api.clone(), body.clone());
            tokio::spawn(
                async move { call(&api, Endpoint::Verify, event(VERIFY, Some(body))).await },
            )
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
