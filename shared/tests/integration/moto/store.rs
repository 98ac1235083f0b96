//! Every rule of the store port, enforced by DynamoDB conditions.

use std::collections::HashSet;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use otp_shared::otp::ports::{
    AttemptClaim, AttemptRefusal, Challenge, ChallengeStore, IssueOutcome, SendCounter,
};
use otp_shared::store::DynamoStore;

use otp_testkit::moto::{fresh_table, sdk};

const NOW: u64 = 1_767_225_600;

async fn store() -> (DynamoStore, aws_sdk_dynamodb::Client, String) {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    (DynamoStore::new(client.clone(), &table), client, table)
}

fn challenge(id: &str) -> Challenge {
    Challenge {
        id: id.to_owned(),
        phone_key: "phone-a".to_owned(),
        code_digest: vec![7; 32],
        expires_at: NOW + 300,
        resend_after: NOW + 30,
        attempts: 0,
        used: false,
    }
}

fn counter(key: &str, limit: u32) -> SendCounter {
    SendCounter { key: key.to_owned(), limit, resets_at: NOW + 3600 }
}

async fn issue(
    store: &DynamoStore,
    challenge: &Challenge,
    counters: &[SendCounter],
    now: u64,
) -> IssueOutcome {
    store.issue(challenge, counters, now).await.unwrap()
}

#[tokio::test]
async fn issued_challenge_round_trips_and_completes_once() {
    let (store, _, _) = store().await;
    let original = challenge("c1");
    assert_eq!(issue(&store, &original, &[counter("phone#a", 5)], NOW).await, IssueOutcome::Issued);
    assert!(!store.is_verified("phone-a").await.unwrap());

    let AttemptClaim::Granted(claimed) = store.claim_attempt("phone-a", NOW, 5).await.unwrap()
    else {
        panic!("the attempt is granted");
    };
    assert_eq!(claimed, Challenge { attempts: 1, ..original });

    assert!(store.complete("phone-a", "c1", NOW).await.unwrap());
    assert!(!store.complete("phone-a", "c1", NOW).await.unwrap(), "single use");
    assert!(store.is_verified("phone-a").await.unwrap());
    assert_eq!(
        store.claim_attempt("phone-a", NOW, 5).await.unwrap(),
        AttemptClaim::Refused(AttemptRefusal::Used)
    );
}

#[tokio::test]
async fn refusals_say_why() {
    let (store, _, _) = store().await;
    assert_eq!(
        store.claim_attempt("phone-a", NOW, 5).await.unwrap(),
        AttemptClaim::Refused(AttemptRefusal::NoChallenge)
    );
    issue(&store, &challenge("c1"), &[], NOW).await;
    assert_eq!(
        store.claim_attempt("phone-a", NOW + 300, 5).await.unwrap(),
        AttemptClaim::Refused(AttemptRefusal::Expired)
    );
    for _ in 0..2 {
        assert!(matches!(
            store.claim_attempt("phone-a", NOW, 2).await.unwrap(),
            AttemptClaim::Granted(_)
        ));
    }
    assert_eq!(
        store.claim_attempt("phone-a", NOW, 2).await.unwrap(),
        AttemptClaim::Refused(AttemptRefusal::Locked)
    );
}

#[tokio::test]
async fn cooldown_refuses_until_resend_after_and_changes_nothing() {
    let (store, _, _) = store().await;
    issue(&store, &challenge("c1"), &[], NOW).await;
    let outcome = issue(&store, &challenge("c2"), &[], NOW + 29).await;
    assert_eq!(outcome, IssueOutcome::Refused { retry_at: NOW + 30 });
    assert!(!store.complete("phone-a", "c2", NOW).await.unwrap(), "c2 was not stored");
    assert_eq!(issue(&store, &challenge("c3"), &[], NOW + 30).await, IssueOutcome::Issued);
    assert!(store.complete("phone-a", "c3", NOW + 30).await.unwrap(), "c3 replaced c1");
}

#[tokio::test]
async fn full_counter_refuses_until_its_window_ends_and_counts_nothing() {
    let (store, client, table) = store().await;
    let counters = [counter("phone#a", 2), counter("ip#x", 10)];
    for id in ["c1", "c2"] {
        let mut next = challenge(id);
        next.resend_after = NOW;
        assert_eq!(issue(&store, &next, &counters, NOW).await, IssueOutcome::Issued);
    }
    let mut third = challenge("c3");
    third.resend_after = NOW;
    let outcome = issue(&store, &third, &counters, NOW).await;
    assert_eq!(outcome, IssueOutcome::Refused { retry_at: NOW + 3600 });

    let ip = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("counter#ip#x".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(ip["sends"], AttributeValue::N("2".into()), "the refused send counted nowhere");
    assert_eq!(ip["purge_at"], AttributeValue::N((NOW + 3600).to_string()));
}

#[tokio::test]
async fn withdraw_removes_only_the_named_challenge() {
    let (store, _, _) = store().await;
    issue(&store, &challenge("c1"), &[], NOW).await;
    store.withdraw("phone-a", "other").await.unwrap();
    assert!(matches!(
        store.claim_attempt("phone-a", NOW, 5).await.unwrap(),
        AttemptClaim::Granted(_)
    ));
    store.withdraw("phone-a", "c1").await.unwrap();
    assert_eq!(
        store.claim_attempt("phone-a", NOW, 5).await.unwrap(),
        AttemptClaim::Refused(AttemptRefusal::NoChallenge)
    );
    assert_eq!(
        issue(&store, &challenge("c2"), &[], NOW + 1).await,
        IssueOutcome::Issued,
        "no cooldown left"
    );
}

#[tokio::test]
async fn items_hold_no_code_or_phone_in_clear_and_only_codes_expire() {
    let (store, client, table) = store().await;
    issue(&store, &challenge("c1"), &[counter("phone#a", 5)], NOW).await;
    store.claim_attempt("phone-a", NOW, 5).await.unwrap();
    store.complete("phone-a", "c1", NOW).await.unwrap();

    let items = client.scan().table_name(&table).send().await.unwrap().items.unwrap();
    let keys: HashSet<_> = items.iter().map(|item| item["pk"].as_s().unwrap().clone()).collect();
    let expected = ["challenge#phone-a", "counter#phone#a", "verified#phone-a"];
    assert_eq!(keys, expected.iter().map(|k| k.to_string()).collect());
    for item in &items {
        let pk = item["pk"].as_s().unwrap();
        if pk.starts_with("verified#") {
            assert!(!item.contains_key("purge_at"), "the verified record never expires");
        } else {
            assert!(item.contains_key("purge_at"), "{pk} expires");
        }
    }
    let challenge_item =
        items.iter().find(|i| i["pk"].as_s().unwrap().starts_with("challenge#")).unwrap();
    assert!(challenge_item["code_digest"].is_b(), "the code is stored only as its digest");
    assert_eq!(challenge_item["purge_at"], AttributeValue::N((NOW + 300).to_string()));
}

#[tokio::test]
async fn parallel_attempts_never_exceed_the_budget() {
    let (store, _, _) = store().await;
    let store = Arc::new(store);
    issue(&store, &challenge("c1"), &[], NOW).await;
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_attempt("phone-a", NOW, 5).await.unwrap() })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap() {
            AttemptClaim::Granted(_) => granted += 1,
            AttemptClaim::Refused(refusal) => assert_eq!(refusal, AttemptRefusal::Locked),
        }
    }
    assert_eq!(granted, 5);
}

#[tokio::test]
async fn parallel_sends_never_exceed_a_counter() {
    let (store, _, _) = store().await;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut next = challenge(&format!("c{n}"));
                next.phone_key = format!("phone-{n}");
                store.issue(&next, &[counter("ip#shared", 5)], NOW).await.unwrap()
            })
        })
        .collect();
    let mut issued = 0;
    for task in tasks {
        match task.await.unwrap() {
            IssueOutcome::Issued => issued += 1,
            IssueOutcome::Refused { retry_at } => assert!(retry_at > NOW),
        }
    }
    assert_eq!(issued, 5);
}

#[tokio::test]
async fn parallel_completions_succeed_once() {
    let (store, _, _) = store().await;
    let store = Arc::new(store);
    issue(&store, &challenge("c1"), &[], NOW).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.complete("phone-a", "c1", NOW).await.unwrap() })
        })
        .collect();
    let mut completed = 0;
    for task in tasks {
        completed += usize::from(task.await.unwrap());
    }
    assert_eq!(completed, 1);
}
