//! The DynamoDB store against scripted SDK replies (`aws-smithy-mocks`): the branches an
//! emulator that answers one request at a time never takes (transaction conflicts,
//! transactions in progress, throttling), each with the answer the store gives.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::error::{
    TransactionCanceledException, TransactionInProgressException,
};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_types::retry::RetryConfig;
use otp_shared::otp::ports::{Challenge, ChallengeStore, IssueOutcome, SendCounter};
use otp_shared::store::DynamoStore;

const NOW: u64 = 1_767_225_600;

/// The store over a client that answers with `rules`, in order, retrying as the functions'
/// clients do but without waiting between tries.
fn store(rules: &[&Rule]) -> DynamoStore {
    let interceptor = rules
        .iter()
        .fold(MockResponseInterceptor::new().rule_mode(RuleMode::Sequential), |i, rule| {
            i.with_rule(rule)
        });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "scripted"))
        .retry_config(RetryConfig::standard().with_initial_backoff(std::time::Duration::ZERO))
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build();
    DynamoStore::new(Client::from_conf(config), "otp")
}

fn challenge() -> Challenge {
    Challenge {
        id: "c1".to_owned(),
        phone_key: "phone-a".to_owned(),
        code_digest: vec![7; 32],
        expires_at: NOW + 300,
        resend_after: NOW + 30,
        attempts: 0,
        used: false,
    }
}

fn counters() -> [SendCounter; 2] {
    [
        SendCounter { key: "phone#a#0".to_owned(), limit: 5, resets_at: NOW + 3600 },
        SendCounter { key: "ip#x#0".to_owned(), limit: 50, resets_at: NOW + 1800 },
    ]
}

/// A cancelled transaction with one reason per item, `None` for "no failure".
fn cancelled(reasons: &[Option<&str>]) -> TransactWriteItemsError {
    let reasons = reasons.iter().map(|code| match code {
        Some(code) => CancellationReason::builder().code(*code).build(),
        None => CancellationReason::builder().code("None").build(),
    });
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder()
            .set_cancellation_reasons(Some(reasons.collect()))
            .build(),
    )
}

/// A cancelled transaction whose first item failed its condition, returning `item`.
fn cancelled_with_item(item: Vec<(&str, AttributeValue)>) -> TransactWriteItemsError {
    let old = item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let reasons = vec![
        CancellationReason::builder().code("ConditionalCheckFailed").set_item(Some(old)).build(),
        CancellationReason::builder().code("None").build(),
        CancellationReason::builder().code("None").build(),
    ];
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder().set_cancellation_reasons(Some(reasons)).build(),
    )
}

#[tokio::test]
async fn a_transaction_that_lost_a_race_is_tried_again() {
    let rule = mock!(Client::transact_write_items)
        .sequence()
        .error(|| cancelled(&[Some("TransactionConflict"), None, None]))
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let outcome = store(&[&rule]).issue(&challenge(), &counters(), NOW).await.unwrap();
    assert_eq!(outcome, IssueOutcome::Issued);
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn a_send_still_conflicting_after_four_tries_is_asked_to_come_back() {
    let rule = mock!(Client::transact_write_items)
        .sequence()
        .error(|| cancelled(&[None, Some("TransactionConflict"), None]))
        .repeatedly()
        .build();
    let outcome = store(&[&rule]).issue(&challenge(), &counters(), NOW).await.unwrap();
    assert_eq!(outcome, IssueOutcome::Refused { retry_at: NOW + 1 });
    assert_eq!(rule.num_calls(), 4);
}

#[tokio::test]
async fn cancellation_reasons_map_to_when_a_send_may_succeed() {
    // The cooldown: the challenge item returned as it was.
    let cooling = mock!(Client::transact_write_items).then_error(|| {
        cancelled_with_item(vec![("resend_after", AttributeValue::N((NOW + 20).to_string()))])
    });
    let outcome = store(&[&cooling]).issue(&challenge(), &counters(), NOW).await.unwrap();
    assert_eq!(outcome, IssueOutcome::Refused { retry_at: NOW + 20 });

    // A full counter: its window's end; with two full, the later one.
    let full = mock!(Client::transact_write_items).then_error(|| {
        cancelled(&[None, Some("ConditionalCheckFailed"), Some("ConditionalCheckFailed")])
    });
    let outcome = store(&[&full]).issue(&challenge(), &counters(), NOW).await.unwrap();
    assert_eq!(outcome, IssueOutcome::Refused { retry_at: NOW + 3600 });

    // A failed condition ends the retries even beside a conflict.
    let mixed = mock!(Client::transact_write_items).then_error(|| {
        cancelled(&[Some("TransactionConflict"), None, Some("ConditionalCheckFailed")])
    });
    let outcome = store(&[&mixed]).issue(&challenge(), &counters(), NOW).await.unwrap();
    assert_eq!(outcome, IssueOutcome::Refused { retry_at: NOW + 1800 });
    assert_eq!(mixed.num_calls(), 1);
}

#[tokio::test]
async fn a_completion_that_lost_a_race_is_tried_again_and_a_used_code_is_refused() {
    let rule = mock!(Client::transact_write_items)
        .sequence()
        .error(|| cancelled(&[Some("TransactionConflict"), None]))
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    assert!(store(&[&rule]).complete("phone-a", "c1", NOW).await.unwrap());
    assert_eq!(rule.num_calls(), 2);

    let used = mock!(Client::transact_write_items)
        .then_error(|| cancelled(&[Some("ConditionalCheckFailed"), None]));
    assert!(!store(&[&used]).complete("phone-a", "c1", NOW).await.unwrap());
}

#[tokio::test]
async fn a_transaction_in_progress_and_lasting_throttling_are_store_errors() {
    let in_progress = mock!(Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::TransactionInProgressException(
            TransactionInProgressException::builder().build(),
        )
    });
    assert!(store(&[&in_progress]).issue(&challenge(), &counters(), NOW).await.is_err());

    let throttled = mock!(Client::get_item)
        .sequence()
        .http_status(400, Some(throttling_body()))
        .repeatedly()
        .build();
    assert!(store(&[&throttled]).is_verified("phone-a").await.is_err());
    assert_eq!(throttled.num_calls(), 3, "the SDK's standard retries, then the error");
}

#[tokio::test]
async fn throttling_that_clears_within_the_retries_is_invisible() {
    let throttled_once = mock!(Client::get_item)
        .sequence()
        .http_status(400, Some(throttling_body()))
        .http_status(200, Some("{}".to_owned()))
        .build();
    assert!(!store(&[&throttled_once]).is_verified("phone-a").await.unwrap());
    assert_eq!(throttled_once.num_calls(), 2);
}

/// DynamoDB's JSON body for a throttled request.
fn throttling_body() -> String {
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#
        .to_owned()
}
