//! The DynamoDB/SNS emulator (moto's server) that `make test` starts.

use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The emulator's URL, from `MOTO_ENDPOINT`. Without it these tests fail: they never skip.
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "MOTO_ENDPOINT is not set: run these tests with `make test`, which starts moto_server"
        )
    })
}

/// The bodies of the SMS the emulator has accepted for `phone`, oldest first.
pub async fn sent_sms(phone: &str) -> Vec<String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("{}/moto-api/data.json", moto_endpoint()).parse().unwrap();
    let response = client.get(uri).await.expect("moto answers");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let data: Value = serde_json::from_slice(&bytes).unwrap();
    data["sns"]["SMS"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter(|sms| sms["phone_number"] == phone)
                .map(|sms| sms["message"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The `len`-digit code in an SMS body.
pub fn code_in(body: &str, len: usize) -> String {
    body.split(|c: char| !c.is_ascii_digit()).find(|word| word.len() == len).unwrap().to_owned()
}

/// A fresh table shaped as `template.yaml` makes it, and its name.
pub async fn fresh_table(sdk: &SdkConfig) -> String {
    static TABLES: AtomicU32 = AtomicU32::new(0);
    let name = format!("otp-{}-{}", std::process::id(), TABLES.fetch_add(1, Ordering::SeqCst));
    let client = aws_sdk_dynamodb::Client::new(sdk);
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("the emulator creates tables");
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("purge_at")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    name
}
