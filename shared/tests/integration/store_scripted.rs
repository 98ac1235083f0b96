//! The DynamoDB store against scripted SDK replies (`aws-smithy-mocks`): the branches an
//! emulator that answers one request at a time never takes (transaction conflicts,
//! transactions in progress, throttling, a write applied whose answer was lost), each with
//! the answer the store gives.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::{
    UpdateItemError, UpdateItemInput, UpdateItemOutput,
};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::error::{
    ConditionalCheckFailedException, TransactionCanceledException, TransactionInProgressException,
};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_types::retry::RetryConfig;
use otp_shared::otp::ports::{
    AttemptRefusal, Challenge, ChallengeStore, Check, CheckOutcome, Counter, CounterKind,
    FullCounter, Issue, IssueOutcome, SendRefusal, Withdrawal,
};
use otp_shared::store::DynamoStore;

const NOW: u64 = 1_767_225_600;

/// The store over a client that answers with `rules`, in order, retrying as the functions'
/// clients do but without waiting between tries.
fn store(rules: &[&Rule]) -> DynamoStore {
    store_with(RuleMode::Sequential, rules)
}

/// The same, each request answered by the first of `rules` that matches it.
fn store_with(mode: RuleMode, rules: &[&Rule]) -> DynamoStore {
    let interceptor = rules
        .iter()
        .fold(MockResponseInterceptor::new().rule_mode(mode), |i, rule| i.with_rule(rule));
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "scripted"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::ZERO))
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build();
    DynamoStore::new(Client::from_conf(config), "otp")
}

fn challenge() -> Challenge {
    Challenge {
        id: "c1".to_owned(),
        phone_key: "phone-a".to_owned(),
        subject_key: "subject-a".to_owned(),
        code_digest: vec![7; 32],
        expires_at: NOW + 300,
        resend_after: NOW + 30,
        attempts: 0,
        used: false,
        tallied: true,
    }
}

fn counters() -> [Counter; 2] {
    [
        Counter {
            kind: CounterKind::Phone,
            key: "phone#a#0".into(),
            limit: 5,
            resets_at: NOW + 3600,
        },
        Counter { kind: CounterKind::Ip, key: "ip#x#0".into(), limit: 50, resets_at: NOW + 1800 },
    ]
}

async fn issue(store: &DynamoStore) -> Result<IssueOutcome, otp_shared::otp::ports::StoreError> {
    let (challenge, counters) = (challenge(), counters());
    store
        .issue(Issue {
            challenge: &challenge,
            counters: &counters,
            now: NOW,
            as_verified_owner: false,
        })
        .await
}

fn check(digest: &[u8]) -> Check<'_> {
    Check {
        phone_key: "phone-a",
        subject_key: "subject-a",
        code_digest: digest,
        now: NOW,
        max_attempts: 5,
        attempt_id: "k1",
        record_owner: false,
        failures: None,
        tally: &[],
    }
}

/// A cancellation reason: a code, and the item as it was when it is a failed condition.
fn reason(code: &str, item: Option<Vec<(&str, AttributeValue)>>) -> CancellationReason {
    let item = item.map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    CancellationReason::builder().code(code).set_item(item).build()
}

fn cancelled(reasons: Vec<CancellationReason>) -> TransactWriteItemsError {
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder().set_cancellation_reasons(Some(reasons)).build(),
    )
}

fn conflict_on_second_item() -> TransactWriteItemsError {
    cancelled(vec![reason("None", None), reason("TransactionConflict", None), reason("None", None)])
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A stored challenge item, as DynamoDB returns it with a failed condition.
fn stored(id: &str, attempts: u64, used: bool) -> Vec<(&'static str, AttributeValue)> {
    vec![
        ("challenge_id", AttributeValue::S(id.to_owned())),
        ("code_digest", AttributeValue::B(Blob::new(vec![7; 32]))),
        ("expires_at", n(NOW + 300)),
        ("resend_after", n(NOW + 30)),
        ("attempts", n(attempts)),
        ("used", AttributeValue::Bool(used)),
    ]
}

#[tokio::test]
async fn a_transaction_that_lost_a_race_is_tried_again() {
    let rule = mock!(Client::transact_write_items)
        .sequence()
        .error(conflict_on_second_item)
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    assert_eq!(issue(&store(&[&rule])).await.unwrap(), IssueOutcome::Issued);
    assert_eq!(rule.num_calls(), 3);
}

/// A hot item throttled inside a transaction (`ThrottlingError` as its cancellation reason)
/// applied nothing: the transaction goes again, as after a conflict, and a lasting one is
/// given up after a bounded number of tries, well inside the call's budget.
#[tokio::test]
async fn a_transaction_cancelled_on_a_throttled_item_is_tried_again_a_bounded_number_of_times() {
    let throttled = || {
        cancelled(vec![reason("None", None), reason("ThrottlingError", None), reason("None", None)])
    };
    let brief = mock!(Client::transact_write_items)
        .sequence()
        .error(throttled)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    assert_eq!(issue(&store(&[&brief])).await.unwrap(), IssueOutcome::Issued);
    assert_eq!(brief.num_calls(), 2);

    let lasting =
        mock!(Client::transact_write_items).sequence().error(throttled).repeatedly().build();
    let generous = store(&[&lasting]).with_call_budget(Duration::from_secs(30));
    assert!(issue(&generous).await.is_err(), "a hot item that stays busy: the caller answers 503");
    assert_eq!(lasting.num_calls(), 8, "bounded by tries, not only by the budget");
}

#[tokio::test]
async fn conflicts_or_a_transaction_in_progress_that_outlast_the_budget_are_store_errors() {
    let conflicting = mock!(Client::transact_write_items)
        .sequence()
        .error(conflict_on_second_item)
        .repeatedly()
        .build();
    let busy = store(&[&conflicting]).with_call_budget(Duration::from_millis(300));
    assert!(issue(&busy).await.is_err(), "busy: the caller answers 503");
    assert!(conflicting.num_calls() > 2, "tried again meanwhile");

    let in_progress = mock!(Client::transact_write_items)
        .sequence()
        .error(|| {
            TransactWriteItemsError::TransactionInProgressException(
                TransactionInProgressException::builder().build(),
            )
        })
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    assert_eq!(issue(&store(&[&in_progress])).await.unwrap(), IssueOutcome::Issued);
    assert_eq!(in_progress.num_calls(), 2);
}

#[tokio::test]
async fn cancellation_reasons_say_which_limit_refused_a_send() {
    let cooling = mock!(Client::transact_write_items).then_error(|| {
        cancelled(vec![
            reason("ConditionalCheckFailed", Some(stored("c0", 0, false))),
            reason("None", None),
            reason("None", None),
        ])
    });
    let refusal = SendRefusal { retry_at: NOW + 30, cooldown: true, ..SendRefusal::default() };
    assert_eq!(issue(&store(&[&cooling])).await.unwrap(), IssueOutcome::Refused(refusal));

    let full = mock!(Client::transact_write_items).then_error(|| {
        cancelled(vec![
            reason("None", None),
            reason("ConditionalCheckFailed", Some(vec![("sends", n(7))])),
            reason("ConditionalCheckFailed", None),
        ])
    });
    let refusal = SendRefusal {
        retry_at: NOW + 3600,
        full: vec![
            FullCounter { kind: CounterKind::Phone, count: 7 },
            FullCounter { kind: CounterKind::Ip, count: 50 },
        ],
        ..SendRefusal::default()
    };
    assert_eq!(issue(&store(&[&full])).await.unwrap(), IssueOutcome::Refused(refusal));
}

#[tokio::test]
async fn an_issue_applied_before_its_answer_was_lost_is_recognised() {
    // The first try timed out after DynamoDB applied it; the retry finds the challenge it
    // stored itself (same id), so the send is issued and nothing is counted again.
    let retried = mock!(Client::transact_write_items)
        .sequence()
        .http_status(500, None)
        .error(|| {
            cancelled(vec![
                reason("ConditionalCheckFailed", Some(stored("c1", 0, false))),
                reason("ConditionalCheckFailed", None),
                reason("None", None),
            ])
        })
        .build();
    assert_eq!(issue(&store(&[&retried])).await.unwrap(), IssueOutcome::Issued);
}

#[tokio::test]
async fn a_check_applied_before_its_answer_was_lost_is_recognised() {
    let mut used_by_us = stored("c1", 1, true);
    used_by_us.push(("used_by", AttributeValue::S("k1".into())));
    let verified = mock!(Client::transact_write_items).then_error(move || {
        cancelled(vec![reason("ConditionalCheckFailed", Some(used_by_us.clone()))])
    });
    let outcome = store(&[&verified]).check(check(&[7; 32])).await.unwrap();
    assert_eq!(outcome, CheckOutcome::Verified { reassigned: false });

    // A wrong code: the counting write was applied (answer lost, 500 to the SDK), and its
    // retry finds this check's id already recorded: counted once.
    let mut counted = stored("c1", 2, false);
    counted.push(("attempt_ids", AttributeValue::Ss(vec!["k0".into(), "k1".into()])));
    let wrong = mock!(Client::transact_write_items)
        .sequence()
        .http_status(500, None)
        .error(move || cancelled(vec![reason("ConditionalCheckFailed", Some(counted.clone()))]))
        .build();
    let outcome = store(&[&wrong]).check(check(&[8; 32])).await.unwrap();
    assert_eq!(outcome, CheckOutcome::WrongCode { attempts_left: 3 });
    assert_eq!(wrong.num_calls(), 2);

    // The same on a reassignment: the flag comes back from the challenge.
    let mut reassigned = stored("c1", 1, true);
    reassigned.push(("used_by", AttributeValue::S("k1".into())));
    reassigned.push(("reassigned", AttributeValue::Bool(true)));
    let lost = mock!(Client::transact_write_items).then_error(move || {
        cancelled(vec![reason("ConditionalCheckFailed", Some(reassigned.clone()))])
    });
    let outcome = store(&[&lost]).check(check(&[7; 32])).await.unwrap();
    assert_eq!(outcome, CheckOutcome::Verified { reassigned: true });

    // Someone else's use is not ours.
    let mut used_by_other = stored("c1", 1, true);
    used_by_other.push(("used_by", AttributeValue::S("k0".into())));
    let used = mock!(Client::transact_write_items).then_error(move || {
        cancelled(vec![reason("ConditionalCheckFailed", Some(used_by_other.clone()))])
    });
    let outcome = store(&[&used]).check(check(&[7; 32])).await.unwrap();
    assert_eq!(outcome, CheckOutcome::Refused(AttemptRefusal::Used));
}

/// A right code whose counting write was cancelled while the failure counter lost a race:
/// the cap said nothing, so the code is not used on the strength of it; the counting write
/// goes again, and a full cap then refuses. (Acting on the challenge alone would let a
/// subject past its cap compare codes uncounted whenever its counter is contended.)
#[tokio::test]
async fn a_right_code_is_used_only_after_the_failure_cap_admitted_it() {
    let failures = Counter {
        kind: CounterKind::Failures,
        key: "failures#subject-a#0".into(),
        limit: 3,
        resets_at: NOW + 86_400,
    };
    for undecided in ["TransactionConflict", "ThrottlingError"] {
        let open = stored("c1", 0, false);
        let (first, second) = (open.clone(), open);
        let full = vec![("sends", n(3))];
        let writes = mock!(Client::transact_write_items)
            .sequence()
            .error(move || {
                cancelled(vec![
                    reason("ConditionalCheckFailed", Some(first.clone())),
                    reason(undecided, None),
                ])
            })
            .error(move || {
                cancelled(vec![
                    reason("ConditionalCheckFailed", Some(second.clone())),
                    reason("ConditionalCheckFailed", Some(full.clone())),
                ])
            })
            .build();
        let capped = Check { failures: Some(&failures), ..check(&[7; 32]) };
        let outcome = store(&[&writes]).check(capped).await.unwrap();
        assert_eq!(
            outcome,
            CheckOutcome::TooManyFailures { retry_at: NOW + 86_400 },
            "{undecided}"
        );
        assert_eq!(
            writes.num_calls(),
            2,
            "{undecided}: the counting write twice, no consuming one"
        );
    }
}

#[tokio::test]
async fn lasting_throttling_is_a_store_error_and_brief_throttling_is_invisible() {
    let throttled = mock!(Client::get_item)
        .sequence()
        .http_status(400, Some(throttling_body()))
        .repeatedly()
        .build();
    assert!(store(&[&throttled]).verified("phone-a").await.is_err());
    assert_eq!(throttled.num_calls(), 3, "the SDK's standard retries, then the error");

    let throttled_once = mock!(Client::get_item)
        .sequence()
        .http_status(400, Some(throttling_body()))
        .http_status(200, Some("{}".to_owned()))
        .build();
    assert_eq!(store(&[&throttled_once]).verified("phone-a").await.unwrap(), None);
    assert_eq!(throttled_once.num_calls(), 2);
}

/// DynamoDB's JSON body for a throttled request.
fn throttling_body() -> String {
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#
        .to_owned()
}

/// Whether an `UpdateItem` is on the item whose key starts with `prefix`.
fn updates(request: &UpdateItemInput, prefix: &str) -> bool {
    request
        .key()
        .and_then(|key| key.get("pk"))
        .and_then(|pk| pk.as_s().ok())
        .is_some_and(|pk| pk.starts_with(prefix))
}

fn condition_failed(item: Option<Vec<(&str, AttributeValue)>>) -> UpdateItemError {
    let item = item.map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    UpdateItemError::ConditionalCheckFailedException(
        ConditionalCheckFailedException::builder().message("failed").set_item(item).build(),
    )
}

#[tokio::test]
async fn a_withdrawal_takes_back_each_part_on_its_own_and_reports_a_refund_that_failed() {
    let (challenge, counters) = (challenge(), counters());
    let withdrawal = Withdrawal { challenge: &challenge, refund: &counters };
    // Ours and nothing it replaced: the put-back's condition fails on our own item, so the
    // challenge is deleted; the phone counter is refunded; the address counter is gone
    // (purged), which refunds nothing and stops nothing.
    let rules = || {
        let put_back = mock!(Client::update_item)
            .match_requests(|request| updates(request, "challenge#"))
            .then_error(|| condition_failed(Some(stored("c1", 0, false))));
        let delete = mock!(Client::delete_item).then_output(|| DeleteItemOutput::builder().build());
        let phone = mock!(Client::update_item)
            .match_requests(|request| updates(request, "counter#phone#"))
            .then_output(|| UpdateItemOutput::builder().build());
        (put_back, delete, phone)
    };
    let (put_back, delete, phone) = rules();
    let ip_gone = mock!(Client::update_item)
        .match_requests(|request| updates(request, "counter#ip#"))
        .then_error(|| condition_failed(None));
    let store = store_with(RuleMode::MatchAny, &[&put_back, &delete, &phone, &ip_gone]);
    store.withdraw(withdrawal).await.expect("a counter that is gone stops nothing");
    let calls = [put_back.num_calls(), delete.num_calls(), phone.num_calls(), ip_gone.num_calls()];
    assert_eq!(calls, [1, 1, 1, 1], "each part on its own");

    // A refund that fails for another reason is reported (the caller logs
    // `otp.withdraw_failed`), after every other part was taken back.
    let (put_back, delete, phone) = rules();
    let ip_failing = mock!(Client::update_item)
        .match_requests(|request| updates(request, "counter#ip#"))
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let store = store_with(RuleMode::MatchAny, &[&put_back, &delete, &phone, &ip_failing]);
    assert!(store.withdraw(withdrawal).await.is_err(), "reported");
    assert_eq!((delete.num_calls(), phone.num_calls()), (1, 1), "the rest was taken back");
    assert_eq!(ip_failing.num_calls(), 1, "a refund that may have been applied is not repeated");

    // Not ours (a later send replaced it): nothing is taken back or refunded.
    let theirs = mock!(Client::update_item)
        .match_requests(|request| updates(request, "challenge#"))
        .then_error(|| condition_failed(Some(stored("c2", 0, false))));
    let refund = mock!(Client::update_item).then_output(|| UpdateItemOutput::builder().build());
    store_with(RuleMode::MatchAny, &[&theirs, &refund]).withdraw(withdrawal).await.unwrap();
    assert_eq!((theirs.num_calls(), refund.num_calls()), (1, 0));
}

#[tokio::test]
async fn an_hourly_and_a_daily_budget_of_one_scope_are_one_item_and_a_refusal_names_the_full_one() {
    let day_start = NOW - NOW % 86_400;
    let (hour_end, day_end) = (NOW + 3600, day_start + 86_400);
    let budgets = [
        Counter {
            kind: CounterKind::BudgetHour,
            key: format!("budget_hour#all#{NOW}"),
            limit: 200,
            resets_at: hour_end,
        },
        Counter {
            kind: CounterKind::BudgetDay,
            key: format!("budget_day#all#{day_start}"),
            limit: 1000,
            resets_at: day_end,
        },
    ];
    let hour_field = format!("sends_by_{hour_end}");
    let folded = hour_field.clone();
    let full_hour = mock!(Client::transact_write_items)
        .match_requests(move |request| {
            let items = request.transact_items();
            let update = items.get(1).and_then(|item| item.update());
            items.len() == 2
                && update.is_some_and(|update| {
                    update.key().get("pk")
                        == Some(&AttributeValue::S(format!("counter#budget_day#all#{day_start}")))
                        && update
                            .condition_expression()
                            .is_some_and(|c| c.contains("#hour < :hour_limit"))
                        && update.expression_attribute_names().and_then(|names| names.get("#hour"))
                            == Some(&folded)
                })
        })
        .then_error(move || {
            cancelled(vec![
                reason("None", None),
                reason(
                    "ConditionalCheckFailed",
                    Some(vec![("sends", n(640)), (hour_field.as_str(), n(200))]),
                ),
            ])
        });
    let store = store_with(RuleMode::MatchAny, &[&full_hour]);
    let challenge = challenge();
    let issue =
        Issue { challenge: &challenge, counters: &budgets, now: NOW, as_verified_owner: false };
    let refusal = SendRefusal {
        retry_at: hour_end,
        full: vec![FullCounter { kind: CounterKind::BudgetHour, count: 200 }],
        ..SendRefusal::default()
    };
    assert_eq!(store.issue(issue).await.unwrap(), IssueOutcome::Refused(refusal));
    assert_eq!(full_hour.num_calls(), 1, "one transaction of two items");
}

#[tokio::test]
async fn a_withdrawal_never_repeats_a_write_that_may_have_been_applied() {
    let (challenge, counters) = (challenge(), counters());
    let withdrawal = Withdrawal { challenge: &challenge, refund: &counters };
    let put_back = || {
        mock!(Client::update_item)
            .match_requests(|request| updates(request, "challenge#"))
            .then_output(|| UpdateItemOutput::builder().build())
    };
    // A refund answered with a server error may have been applied: sent once, reported.
    // A throttled one was not applied: sent again, and refunded.
    let (restored, phone_lost) = (
        put_back(),
        mock!(Client::update_item)
            .match_requests(|request| updates(request, "counter#phone#"))
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build(),
    );
    let ip_throttled = mock!(Client::update_item)
        .match_requests(|request| updates(request, "counter#ip#"))
        .sequence()
        .http_status(400, Some(throttling_body()))
        .output(|| UpdateItemOutput::builder().build())
        .build();
    let store = store_with(RuleMode::MatchAny, &[&restored, &phone_lost, &ip_throttled]);
    assert!(store.withdraw(withdrawal).await.is_err(), "the refund that may be lost is reported");
    assert_eq!(
        (restored.num_calls(), phone_lost.num_calls(), ip_throttled.num_calls()),
        (1, 1, 2),
        "only the refund DynamoDB refused unapplied goes again"
    );

    // A put-back whose answer was lost is not sent again (its retry would find the code no
    // longer ours and refund nothing, unreported): the withdrawal fails and refunds nothing.
    let lost = mock!(Client::update_item)
        .match_requests(|request| updates(request, "challenge#"))
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let refund = mock!(Client::update_item).then_output(|| UpdateItemOutput::builder().build());
    let store = store_with(RuleMode::MatchAny, &[&lost, &refund]);
    assert!(store.withdraw(withdrawal).await.is_err(), "reported");
    assert_eq!((lost.num_calls(), refund.num_calls()), (1, 0));
}

#[tokio::test]
async fn a_tally_goes_again_only_when_dynamodb_did_not_apply_it() {
    use otp_shared::otp::breaker::{Destination, Scope, Tallied};
    let prefix = [Destination { scope: Scope::Prefix, value: "91700".into() }];
    let throttled_once = mock!(Client::update_item)
        .sequence()
        .http_status(400, Some(throttling_body()))
        .output(|| UpdateItemOutput::builder().build())
        .build();
    store(&[&throttled_once]).tally(&prefix, Tallied::Sent, NOW).await.expect("tallied");
    assert_eq!(throttled_once.num_calls(), 2, "throttled, so not applied: sent again");

    let lost = mock!(Client::update_item).sequence().http_status(500, None).repeatedly().build();
    assert!(store(&[&lost]).tally(&prefix, Tallied::Sent, NOW).await.is_err());
    assert_eq!(lost.num_calls(), 1, "an answer that may hide an applied ADD is not repeated");
}
