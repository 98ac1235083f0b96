//! What the DynamoDB store writes: only pseudonyms and digests, which items expire, and the
//! breaker's one item per destination.
//! (Its rules are in `store_contract`, run against this store and the in-memory one.)

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use otp_shared::otp::ports::{
    Challenge, ChallengeStore, Check, CheckOutcome, Counter, CounterKind, Issue, IssueOutcome,
};
use otp_testkit::moto::{fresh_table, sdk};

const NOW: u64 = 1_767_225_600;

#[tokio::test]
async fn items_hold_no_code_phone_or_subject_in_clear_and_only_the_verified_record_stays() {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let store = otp_testkit::moto::store_on(client.clone(), &table);
    let challenge = Challenge {
        id: "c1".to_owned(),
        phone_key: "phone-a".to_owned(),
        subject_key: "subject-a".to_owned(),
        code_digest: vec![7; 32],
        expires_at: NOW + 300,
        resend_after: NOW + 30,
        attempts: 0,
        used: false,
        tallied: true,
    };
    let counter = |kind: CounterKind, key: &str| Counter {
        kind,
        key: format!("{}#{key}#{NOW}", kind.name()),
        limit: 5,
        resets_at: NOW + 3600,
    };
    let counters = [counter(CounterKind::Phone, "phone-a")];
    let issue =
        Issue { challenge: &challenge, counters: &counters, now: NOW, as_verified_owner: false };
    assert_eq!(store.issue(issue).await.unwrap(), IssueOutcome::Issued);
    let failures = counter(CounterKind::Failures, "subject-a");
    let check = |digest: &'static [u8], id: &'static str| Check {
        phone_key: "phone-a",
        subject_key: "subject-a",
        code_digest: digest,
        now: NOW,
        max_attempts: 5,
        attempt_id: id,
        record_owner: true,
        failures: Some(&failures),
        tally: &[],
    };
    assert_eq!(
        store.check(check(&[8; 32], "k1")).await.unwrap(),
        CheckOutcome::WrongCode { attempts_left: 4 }
    );
    let verified = store.check(check(&[7; 32], "k2")).await.unwrap();
    assert_eq!(verified, CheckOutcome::Verified { reassigned: false });

    let items = client.scan().table_name(&table).send().await.unwrap().items.unwrap();
    let keys: HashSet<_> = items.iter().map(|item| item["pk"].as_s().unwrap().clone()).collect();
    let expected = [
        "challenge#phone-a#subject-a".to_owned(),
        format!("counter#phone#phone-a#{NOW}"),
        format!("counter#failures#subject-a#{NOW}"),
        "verified#phone-a".to_owned(),
    ];
    assert_eq!(keys, expected.into_iter().collect());
    for item in &items {
        let pk = item["pk"].as_s().unwrap();
        if pk.starts_with("verified#") {
            assert!(!item.contains_key("purge_at"), "the verified record never expires");
            assert_eq!(item["owner"], AttributeValue::S("subject-a".into()));
        } else {
            assert!(item.contains_key("purge_at"), "{pk} expires");
        }
    }
    let stored = items.iter().find(|i| i["pk"].as_s().unwrap().starts_with("challenge#")).unwrap();
    assert!(stored["code_digest"].is_b(), "the code is stored only as its digest");
    assert_eq!(stored["purge_at"], AttributeValue::N((NOW + 300).to_string()));
}

#[tokio::test]
async fn the_breaker_keeps_one_item_per_destination_that_a_trip_outlives() {
    use otp_shared::otp::breaker::{Destination, Scope, Tallied};
    use otp_shared::otp::time::{BUCKET_SECONDS, window};
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let store = otp_testkit::moto::store_on(client.clone(), &table);
    let prefix = Destination { scope: Scope::Prefix, value: "91700".into() };
    let country = Destination { scope: Scope::Country, value: "IN".into() };
    let both = [prefix.clone(), country];
    // Three hours of steady traffic, one send every ten minutes.
    for bucket in 0..18 {
        store.tally(&both, Tallied::Sent, NOW + bucket * BUCKET_SECONDS).await.unwrap();
    }
    let last = NOW + 17 * BUCKET_SECONDS;
    let items = client.scan().table_name(&table).send().await.unwrap().items.unwrap();
    let keys: HashSet<_> = items.iter().map(|item| item["pk"].as_s().unwrap().as_str()).collect();
    assert_eq!(keys, HashSet::from(["breaker#prefix#91700#trip", "breaker#country#IN#trip"]));
    for item in &items {
        let buckets: Vec<_> = item.keys().filter(|name| name.starts_with("sent_")).collect();
        assert!(buckets.len() <= 12, "buckets that left the window go: {buckets:?}");
        assert!(!item.contains_key(&format!("sent_{NOW}")), "three hours old");
        assert_eq!(item["purge_at"], AttributeValue::N((last + 3600).to_string()));
    }
    let reading = store.breaker_readings(&both, &window(last)).await.unwrap();
    assert_eq!(reading[0].tally.sent, 6, "one window of buckets");

    // A trip longer than the window keeps the item, and a later tally does not shorten it.
    let until = last + 4 * 3600;
    store.trip(&prefix, until).await.unwrap();
    store.tally(&both, Tallied::Sent, last).await.unwrap();
    let key = AttributeValue::S("breaker#prefix#91700#trip".into());
    let item = client.get_item().table_name(&table).key("pk", key).send().await.unwrap();
    let item = item.item.unwrap();
    assert_eq!(item["purge_at"], AttributeValue::N((until + 3600).to_string()));
    assert_eq!(item[&format!("sent_{last}")], AttributeValue::N("2".into()), "still counted");
    let reading = store.breaker_readings(&both, &window(last)).await.unwrap();
    assert_eq!((reading[0].tally.sent, reading[0].tripped_until), (7, Some(until)));
}

#[tokio::test]
async fn a_countrys_hourly_and_daily_budgets_share_one_item_which_keeps_the_day_count_of_before() {
    use otp_shared::otp::ports::Withdrawal;
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let store = otp_testkit::moto::store_on(client.clone(), &table);
    let day_start = NOW - NOW % 86_400;
    let day_key = format!("counter#country_day#IN#{day_start}");
    // The day's count as the previous layout left it, in the daily counter's own item.
    let before =
        [("pk", AttributeValue::S(day_key.clone())), ("sends", AttributeValue::N("8".into()))];
    let before = before.map(|(name, value)| (name.to_owned(), value));
    client.put_item().table_name(&table).set_item(Some(before.into())).send().await.unwrap();
    let budgets = [
        Counter {
            kind: CounterKind::CountryHour,
            key: format!("country_hour#IN#{NOW}"),
            limit: 100,
            resets_at: NOW + 3600,
        },
        Counter {
            kind: CounterKind::CountryDay,
            key: format!("country_day#IN#{day_start}"),
            limit: 10,
            resets_at: day_start + 86_400,
        },
    ];
    let send = |n: usize| Challenge {
        id: format!("c{n}"),
        phone_key: format!("phone-{n}"),
        subject_key: "subject-a".to_owned(),
        code_digest: vec![1; 32],
        expires_at: NOW + 300,
        resend_after: NOW + 30,
        attempts: 0,
        used: false,
        tallied: true,
    };
    let issue =
        |challenge| Issue { challenge, counters: &budgets, now: NOW, as_verified_owner: false };
    let (first, second, third) = (send(1), send(2), send(3));
    assert_eq!(store.issue(issue(&first)).await.unwrap(), IssueOutcome::Issued);
    assert_eq!(store.issue(issue(&second)).await.unwrap(), IssueOutcome::Issued);
    let IssueOutcome::Refused(refusal) = store.issue(issue(&third)).await.unwrap() else {
        panic!("the day's tenth send was the last");
    };
    assert_eq!(
        refusal.full.iter().map(|full| full.kind).collect::<Vec<_>>(),
        [CounterKind::CountryDay]
    );

    let items = client.scan().table_name(&table).send().await.unwrap().items.unwrap();
    let counters: Vec<_> =
        items.iter().filter(|item| item["pk"].as_s().unwrap().starts_with("counter#")).collect();
    assert_eq!(counters.len(), 1, "no item of its own for the hourly budget");
    let hour_field = format!("sends_by_{}", NOW + 3600);
    assert_eq!(counters[0]["sends"], AttributeValue::N("10".into()));
    assert_eq!(counters[0][&hour_field], AttributeValue::N("2".into()));

    // A withdrawn send refunds both with one write.
    store.withdraw(Withdrawal { challenge: &second, refund: &budgets }).await.unwrap();
    let key = AttributeValue::S(day_key);
    let item = client.get_item().table_name(&table).key("pk", key).send().await.unwrap();
    let item = item.item.unwrap();
    assert_eq!(
        (&item["sends"], &item[&hour_field]),
        (&AttributeValue::N("9".into()), &AttributeValue::N("1".into()))
    );
}
