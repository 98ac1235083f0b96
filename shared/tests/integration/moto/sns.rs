//! The SNS sender against the emulator: the SMS read back from it, and the `Publish`
//! requests recorded on their way, with the sender settings of each destination.

use otp_shared::aws::sns_config;
use otp_shared::otp::message::Messages;
use otp_shared::otp::ports::MessageSender;
use otp_shared::phone::PhoneNumber;
use otp_shared::sms::SnsSender;
use otp_shared::sms::senders::{Sender, Senders};
use otp_testkit::moto::{PublishRecorder, sdk, sent_sms};

fn sms(text: &str) -> otp_shared::otp::message::Message {
    let mut sms = Messages::default().render(&[], None, "000000", 5);
    sms.text = text.to_owned();
    sms
}

async fn sender(senders: Senders) -> (SnsSender, PublishRecorder) {
    let recorder = PublishRecorder::default();
    let config = sns_config(&sdk().await).interceptor(recorder.clone()).build();
    (SnsSender::new(aws_sdk_sns::Client::from_conf(config), senders), recorder)
}

#[tokio::test]
async fn publishes_to_the_phone_number_and_returns_the_message_id() {
    let (sender, _) = sender(Senders::default()).await;
    let phone = PhoneNumber::parse("+14155550101", "").unwrap();
    let before = sent_sms("+14155550101").await.len();
    let first = sender.send(&phone, &sms("first 111111")).await.unwrap();
    sender.send(&phone, &sms("second 222222")).await.unwrap();
    assert_eq!(sent_sms("+14155550101").await[before..], ["first 111111", "second 222222"]);
    assert!(first.message_id.is_some_and(|id| !id.is_empty()), "SNS's MessageId comes back");
}

#[tokio::test]
async fn each_destination_gets_the_attributes_configured_for_it_and_none_else() {
    let mut global = Sender::default();
    global.set("sender_id", "ACME").unwrap();
    global.set("max_price_usd", "0.50").unwrap();
    let by_country = "IN:sender_id=ACMEIN,dlt_entity_id=1101000000000000001,dlt_template_id=1107000000000000001,\
                      dlt_template_id.hi=1107000000000000002;US:origination_number=+18005550100"
        .parse()
        .unwrap();
    let (configured, recorder) = sender(Senders::new(global, by_country)).await;
    for number in ["+919876543219", "+14155550102", "+447400123456"] {
        let phone = PhoneNumber::parse(number, "").unwrap();
        configured.send(&phone, &sms("code 333333")).await.unwrap();
    }
    let hindi = Messages::default().render(&["hi".to_owned()], None, "333333", 5);
    let india = PhoneNumber::parse("+919876543219", "").unwrap();
    configured.send(&india, &hindi).await.unwrap();
    let requests = recorder.take();
    let attributes: Vec<_> =
        requests.iter().map(|request| PublishRecorder::attributes(request)).collect();
    let pairs = |i: usize| -> Vec<(String, String, String)> {
        attributes[i]
            .iter()
            .map(|(name, (kind, value))| (name.clone(), kind.clone(), value.clone()))
            .collect()
    };
    let owned = |items: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        items.iter().map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into())).collect()
    };
    assert_eq!(
        pairs(0),
        owned(&[
            ("AWS.MM.SMS.EntityId", "String", "1101000000000000001"),
            ("AWS.MM.SMS.TemplateId", "String", "1107000000000000001"),
            ("AWS.SNS.SMS.MaxPrice", "Number", "0.50"),
            ("AWS.SNS.SMS.SMSType", "String", "Transactional"),
            ("AWS.SNS.SMS.SenderID", "String", "ACMEIN"),
        ]),
        "India: its DLT IDs and sender ID, the global price"
    );
    assert_eq!(
        pairs(1),
        owned(&[
            ("AWS.MM.SMS.OriginationNumber", "String", "+18005550100"),
            ("AWS.SNS.SMS.MaxPrice", "Number", "0.50"),
            ("AWS.SNS.SMS.SMSType", "String", "Transactional"),
            ("AWS.SNS.SMS.SenderID", "String", "ACME"),
        ]),
        "the US: its origination number, the global sender ID and price"
    );
    assert_eq!(
        pairs(2),
        owned(&[
            ("AWS.SNS.SMS.MaxPrice", "Number", "0.50"),
            ("AWS.SNS.SMS.SMSType", "String", "Transactional"),
            ("AWS.SNS.SMS.SenderID", "String", "ACME"),
        ]),
        "the UK: the global settings alone"
    );
    let template = |i: usize| attributes[i]["AWS.MM.SMS.TemplateId"].1.clone();
    assert_eq!(template(3), "1107000000000000002", "a Hindi text: the Hindi template's ID");

    let (plain, recorder) = sender(Senders::default()).await;
    plain
        .send(&PhoneNumber::parse("+14155550103", "").unwrap(), &sms("code 444444"))
        .await
        .unwrap();
    let attributes = PublishRecorder::attributes(&recorder.take()[0]);
    assert_eq!(
        attributes.keys().collect::<Vec<_>>(),
        ["AWS.SNS.SMS.SMSType"],
        "nothing configured, nothing sent"
    );
}

#[tokio::test]
async fn unreachable_provider_is_an_error() {
    let sdk = sdk().await;
    let config = sns_config(&sdk).endpoint_url("http://127.0.0.1:9").build();
    let sender = SnsSender::new(aws_sdk_sns::Client::from_conf(config), Senders::default());
    let phone = PhoneNumber::parse("+14155550104", "").unwrap();
    let before = sent_sms("+14155550104").await.len();
    let error = sender.send(&phone, &sms("never 555555")).await.unwrap_err();
    assert_eq!(
        error.delivery,
        otp_shared::otp::ports::Delivery::NotSent,
        "no connection: it will not arrive"
    );
    assert_eq!(sent_sms("+14155550104").await.len(), before);
}
