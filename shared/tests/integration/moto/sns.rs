//! The SNS sender against the emulator, read back from it.

use otp_shared::otp::ports::SmsSender;
use otp_shared::phone::PhoneNumber;
use otp_shared::sms::SnsSender;

use otp_testkit::moto::{sdk, sent_sms};

#[tokio::test]
async fn publishes_to_the_phone_number() {
    let client = aws_sdk_sns::Client::new(&sdk().await);
    let phone = PhoneNumber::parse("+14155550101", "").unwrap();
    let before = sent_sms("+14155550101").await.len();
    SnsSender::new(client.clone(), None).send(&phone, "first 111111").await.unwrap();
    SnsSender::new(client, Some("OTPVERIFY".into())).send(&phone, "second 222222").await.unwrap();
    assert_eq!(sent_sms("+14155550101").await[before..], ["first 111111", "second 222222"]);
}

#[tokio::test]
async fn unreachable_provider_is_an_error() {
    let sdk = sdk().await;
    let config =
        aws_sdk_sns::config::Builder::from(&sdk).endpoint_url("http://127.0.0.1:9").build();
    let sender = SnsSender::new(aws_sdk_sns::Client::from_conf(config), None);
    let phone = PhoneNumber::parse("+14155550102", "").unwrap();
    let before = sent_sms("+14155550102").await.len();
    assert!(sender.send(&phone, "never 333333").await.is_err());
    assert_eq!(sent_sms("+14155550102").await.len(), before);
}
