//! Upgrading a deployed stack: a table written by the code before the send-path redesign
//! (`fixtures/table-before-issue-16.json`, scanned from moto after that revision ran the
//! scenario below) keeps working under today's code.
//!
//! The scenario, at `START`, with the default policy, hash key [`hash_key`] and the fixed
//! code `123456` and `authCode` `1234`: olivia registered and verified `+14155550100` (its
//! owner); pat registered `+14155550101` (pending); five subjects each registered
//! `+14155550102` (its hourly cap of five is full). The scenario tripped no destination, so
//! the test adds a trip of prefix `14156` the way that revision's `trip` wrote it (a `PutItem`
//! of `pk`, `tripped_until` and `purge_at`).

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use otp_shared::otp::{OtpError, Policy, SendRequest, VerifyRequest};
use otp_shared::phone::PhoneNumber;
use otp_shared::sms::Inbox;
use otp_shared::testing::{ManualClock, START, service};
use otp_testkit::moto::{fresh_table, sdk};
use serde_json::Value;

const FIXTURE: &str = include_str!("../fixtures/table-before-issue-16.json");

fn attribute(typed: &Value) -> AttributeValue {
    let (kind, value) = typed.as_object().unwrap().iter().next().unwrap();
    match kind.as_str() {
        "S" => AttributeValue::S(value.as_str().unwrap().to_owned()),
        "N" => AttributeValue::N(value.as_str().unwrap().to_owned()),
        "BOOL" => AttributeValue::Bool(value.as_bool().unwrap()),
        "B" => AttributeValue::B(Blob::new(
            base64::engine::general_purpose::STANDARD.decode(value.as_str().unwrap()).unwrap(),
        )),
        "SS" => AttributeValue::Ss(
            value.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect(),
        ),
        other => panic!("unexpected attribute type {other}"),
    }
}

#[tokio::test]
async fn a_table_written_before_the_redesign_keeps_its_owners_codes_and_caps() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    assert_eq!(fixture["now"].as_u64(), Some(START));
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    for item in fixture["items"].as_array().unwrap() {
        let item = item.as_object().unwrap().iter().map(|(k, v)| (k.clone(), attribute(v)));
        client.put_item().table_name(&table).set_item(Some(item.collect())).send().await.unwrap();
    }
    let trip = [
        ("pk", AttributeValue::S("breaker#prefix#14156#trip".into())),
        ("tripped_until", AttributeValue::N((START + 3600).to_string())),
        ("purge_at", AttributeValue::N((START + 3600).to_string())),
    ];
    let trip = trip.map(|(name, value)| (name.to_owned(), value));
    client.put_item().table_name(&table).set_item(Some(trip.into())).send().await.unwrap();
    let inbox = Inbox::new();
    let clock = ManualClock::new(START + 60);
    let store = otp_testkit::moto::store_on(client, &table);
    let otp =
        service().store(store).sender(inbox.clone()).clock(clock).policy(Policy::default()).build();
    let phone = |number| PhoneNumber::parse(number, "").unwrap();
    let send = |subject, phone| SendRequest { subject, phone, client_ip: None, locales: &[] };

    // The pending code verifies, and its verification makes pat the owner.
    let pats = phone("+14155550101");
    let verify = VerifyRequest { subject: "pat", phone: &pats, auth_code: "1234", code: "123456" };
    otp.verify_code(verify).await.expect("a code pending before the upgrade verifies");
    assert!(!otp.send_code(send("pat", &pats)).await.unwrap().is_new_user);

    // The owner from before is still the owner: not a new user, and exempt from the cap.
    let olivias = phone("+14155550100");
    let sent = otp.send_code(send("olivia", &olivias)).await.unwrap();
    assert!(!sent.is_new_user, "an owner from before the upgrade");

    // The full per-phone cap still refuses anyone else: nothing was lost that lifts it.
    let capped = phone("+14155550102");
    let refused = otp.send_code(send("s5", &capped)).await;
    assert!(matches!(refused, Err(OtpError::RateLimited { .. })), "{refused:?}");

    // A trip recorded before still holds: the breaker's item kept its key.
    let tripped = otp.send_code(send("s6", &phone("+14156550100"))).await;
    assert!(matches!(tripped, Err(OtpError::DestinationThrottled { .. })), "{tripped:?}");

    // A code that had verified before stays used.
    let used =
        VerifyRequest { subject: "olivia", phone: &olivias, auth_code: "1234", code: "123456" };
    assert!(otp.verify_code(used).await.is_err(), "replaced by the new send, and used before");
    otp_testkit::moto::drop_table(&sdk, &table).await;
}
