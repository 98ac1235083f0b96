//! A [`ChallengeStore`] on one DynamoDB table. Every rule is enforced by DynamoDB itself
//! with condition expressions, so it holds across any number of concurrent Lambda
//! instances; nothing is read first and then written.
//!
//! The table has a string partition key `pk` and TTL on `purge_at`. Items:
//! - `challenge#<phone pseudonym>#<subject pseudonym>`: a subject's challenge for a phone;
//! - `counter#<kind>#<pseudonym>#<window start>`: one fixed-window counter;
//! - `verified#<phone pseudonym>`: the phone has verified; `owner` is the pseudonym of the
//!   subject that verified it last. Never expires.
//!
//! Every write is safe to retry after its answer was lost: a retried transaction carries the
//! SDK's idempotency token, and each condition also recognises the request's own earlier
//! write (the challenge id it stored, the check id it recorded), so that nothing is
//! counted twice.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Delete, Put,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::otp::ports::{
    AttemptRefusal, Challenge, ChallengeStore, Check, CheckOutcome, Counter, CounterKind, Issue,
    IssueOutcome, SendRefusal, StoreError, VerifiedPhone, Withdrawal,
};

/// The longest one store call may take, retries included, unless the store is made with
/// another (see `crate::aws` for how the budgets add up to the function timeout).
pub const DEFAULT_CALL_BUDGET: Duration = Duration::from_secs(2);

/// How many times a check may start over because the state moved under it (another
/// subject took the phone, or a resend replaced the challenge between its two writes).
const CHECK_PASSES: usize = 3;

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB adapter.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    budget: Duration,
}

/// How a transaction ended, when DynamoDB answered.
enum Transacted {
    Committed,
    /// Cancelled by at least one failed condition; one reason per item.
    Cancelled(Vec<CancellationReason>),
}

impl DynamoStore {
    /// The store on `table`, through `client`, with [`DEFAULT_CALL_BUDGET`] per call.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), budget: DEFAULT_CALL_BUDGET }
    }

    /// The same store with another time budget per call.
    pub fn with_call_budget(self, budget: Duration) -> Self {
        Self { budget, ..self }
    }

    /// Runs `call` within the budget: a call that outlives it is a [`StoreError`].
    async fn within_budget<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.budget, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::new(format!("no answer within {:?}", self.budget))),
        }
    }

    /// Runs a transaction. While it only lost races with other transactions on the same
    /// items (a `TransactionConflict`, or `TransactionInProgressException` for a retried
    /// token), it is tried again after a short, growing pause; the call's budget bounds
    /// the tries.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Transacted, StoreError> {
        let mut pause = Duration::from_millis(10);
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let reasons = match result {
                Ok(_) => return Ok(Transacted::Committed),
                Err(SdkError::ServiceError(error)) => match error.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                        cancelled.cancellation_reasons().to_vec()
                    }
                    TransactWriteItemsError::TransactionInProgressException(_) => Vec::new(),
                    other => return Err(StoreError::new(other)),
                },
                Err(error) => return Err(StoreError::new(error)),
            };
            let failed_condition = reasons.iter().any(failed);
            let only_races = reasons
                .iter()
                .all(|reason| matches!(reason.code(), None | Some("None" | "TransactionConflict")));
            if failed_condition {
                return Ok(Transacted::Cancelled(reasons));
            }
            if !only_races {
                return Err(StoreError::new(format!("transaction cancelled: {reasons:?}")));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    fn counter_update(
        &self,
        counter: &Counter,
        limited: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", counter_key(counter))
            .update_expression("SET purge_at = if_not_exists(purge_at, :purge_at) ADD sends :one")
            .expression_attribute_values(":purge_at", number(counter.resets_at))
            .expression_attribute_values(":one", number(1));
        if limited {
            update = update
                .condition_expression("attribute_not_exists(sends) OR sends < :limit")
                .expression_attribute_values(":limit", number(counter.limit));
        }
        Ok(TransactWriteItem::builder().update(update.build().map_err(StoreError::new)?).build())
    }

    fn issue_items(&self, issue: &Issue<'_>) -> Result<Vec<TransactWriteItem>, StoreError> {
        let challenge = issue.challenge;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(challenge_item(challenge)))
            .condition_expression(
                "attribute_not_exists(pk) OR (resend_after <= :now AND challenge_id <> :id)",
            )
            .expression_attribute_values(":now", number(issue.now))
            .expression_attribute_values(":id", string(&challenge.id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::new)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for counter in issue.counters {
            let waived = issue.as_verified_owner && counter.kind == CounterKind::Phone;
            items.push(self.counter_update(counter, !waived)?);
        }
        if issue.as_verified_owner {
            let owner = ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", verified_key(&challenge.phone_key))
                .condition_expression("#owner = :subject")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":subject", string(&challenge.subject_key))
                .build()
                .map_err(StoreError::new)?;
            items.push(TransactWriteItem::builder().condition_check(owner).build());
        }
        Ok(items)
    }

    async fn issue_once(&self, issue: Issue<'_>) -> Result<IssueOutcome, StoreError> {
        let reasons = match self.transact(self.issue_items(&issue)?).await? {
            Transacted::Committed => return Ok(IssueOutcome::Issued),
            Transacted::Cancelled(reasons) => reasons,
        };
        let challenge = issue.challenge;
        let mut refusal = SendRefusal::default();
        for (index, reason) in reasons.iter().enumerate().filter(|(_, reason)| failed(reason)) {
            match index.checked_sub(1).map(|i| issue.counters.get(i)) {
                None => {
                    let stored = reason.item().ok_or_else(|| StoreError::new("no old item"))?;
                    if text(stored, "challenge_id")? == challenge.id {
                        // Our own write, applied before its answer was lost.
                        return Ok(IssueOutcome::Issued);
                    }
                    refusal.cooldown = true;
                    refusal.retry_at = refusal.retry_at.max(numeric(stored, "resend_after")?);
                }
                Some(Some(counter)) => {
                    refusal.full.push(counter.kind);
                    refusal.retry_at = refusal.retry_at.max(counter.resets_at);
                }
                Some(None) => {
                    refusal.not_owner = true;
                    refusal.retry_at = refusal.retry_at.max(issue.now + 1);
                }
            }
        }
        Ok(IssueOutcome::Refused(refusal))
    }

    async fn withdraw_once(&self, withdrawal: Withdrawal<'_>) -> Result<(), StoreError> {
        let challenge = withdrawal.challenge;
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", challenge_key(&challenge.phone_key, &challenge.subject_key))
            .condition_expression("challenge_id = :id")
            .expression_attribute_values(":id", string(&challenge.id))
            .build()
            .map_err(StoreError::new)?;
        let mut items = vec![TransactWriteItem::builder().delete(delete).build()];
        for counter in withdrawal.refund {
            let refund = Update::builder()
                .table_name(&self.table)
                .key("pk", counter_key(counter))
                .update_expression("ADD sends :minus_one")
                .condition_expression("sends >= :one")
                .expression_attribute_values(":minus_one", number(-1))
                .expression_attribute_values(":one", number(1))
                .build()
                .map_err(StoreError::new)?;
            items.push(TransactWriteItem::builder().update(refund).build());
        }
        // Cancelled means the challenge is not (or no longer) ours: nothing to take back.
        self.transact(items).await.map(|_| ())
    }

    /// The consuming write of a check: the right code uses the challenge and (with
    /// `record_owner`) makes the subject the phone's owner, if the failure counter allows.
    /// `reassign` is the second pass, for a phone another subject owns.
    fn consume_items(
        &self,
        check: &Check<'_>,
        reassign: bool,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let consume = Update::builder()
            .table_name(&self.table)
            .key("pk", challenge_key(check.phone_key, check.subject_key))
            .update_expression("SET used = :true, used_by = :check ADD attempts :one")
            .condition_expression(
                "attribute_exists(pk) AND used = :false AND expires_at > :now \
                 AND attempts < :max AND code_digest = :digest",
            )
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":check", string(check.attempt_id))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":now", number(check.now))
            .expression_attribute_values(":max", number(check.max_attempts))
            .expression_attribute_values(":digest", AttributeValue::B(Blob::new(check.code_digest)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::new)?;
        let mut items = vec![TransactWriteItem::builder().update(consume).build()];
        if check.record_owner {
            let condition = if reassign {
                "attribute_exists(#owner) AND #owner <> :subject"
            } else {
                "attribute_not_exists(#owner) OR #owner = :subject"
            };
            let own = Update::builder()
                .table_name(&self.table)
                .key("pk", verified_key(check.phone_key))
                .update_expression(
                    "SET #owner = :subject, owned_since = :now, \
                     verified_at = if_not_exists(verified_at, :now)",
                )
                .condition_expression(condition)
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":subject", string(check.subject_key))
                .expression_attribute_values(":now", number(check.now))
                .build()
                .map_err(StoreError::new)?;
            items.push(TransactWriteItem::builder().update(own).build());
        }
        if let Some(failures) = check.failures {
            let allowed = ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", counter_key(failures))
                .condition_expression("attribute_not_exists(sends) OR sends < :limit")
                .expression_attribute_values(":limit", number(failures.limit))
                .build()
                .map_err(StoreError::new)?;
            items.push(TransactWriteItem::builder().condition_check(allowed).build());
        }
        Ok(items)
    }

    /// The counting write of a wrong code: one attempt on the challenge `challenge_id`
    /// (unless this check already counted there) and one failure.
    fn failure_items(
        &self,
        check: &Check<'_>,
        challenge_id: &str,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let attempt = Update::builder()
            .table_name(&self.table)
            .key("pk", challenge_key(check.phone_key, check.subject_key))
            .update_expression("ADD attempts :one, attempt_ids :checks")
            .condition_expression(
                "challenge_id = :id AND used = :false AND expires_at > :now \
                 AND attempts < :max AND NOT contains(attempt_ids, :check)",
            )
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(
                ":checks",
                AttributeValue::Ss(vec![check.attempt_id.to_owned()]),
            )
            .expression_attribute_values(":check", string(check.attempt_id))
            .expression_attribute_values(":id", string(challenge_id))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", number(check.now))
            .expression_attribute_values(":max", number(check.max_attempts))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::new)?;
        let mut items = vec![TransactWriteItem::builder().update(attempt).build()];
        if let Some(failures) = check.failures {
            items.push(self.counter_update(failures, true)?);
        }
        Ok(items)
    }

    async fn check_once(&self, check: Check<'_>) -> Result<CheckOutcome, StoreError> {
        let failures_index = 1 + usize::from(check.record_owner);
        let too_many = |reasons: &[CancellationReason], index: usize| {
            check.failures.filter(|_| reasons.get(index).is_some_and(failed))
        };
        let mut reassign = false;
        for _ in 0..CHECK_PASSES {
            let reasons = match self.transact(self.consume_items(&check, reassign)?).await? {
                Transacted::Committed => {
                    return Ok(CheckOutcome::Verified { reassigned: reassign });
                }
                Transacted::Cancelled(reasons) => reasons,
            };
            if let Some(failures) = too_many(&reasons, failures_index) {
                return Ok(CheckOutcome::TooManyFailures { retry_at: failures.resets_at });
            }
            let challenge_reason = &reasons[0];
            if !failed(challenge_reason) {
                // Only the owner condition failed: the phone changes hands, or stops doing so.
                reassign = !reassign;
                continue;
            }
            let Some(stored) = challenge_reason.item() else {
                return Ok(CheckOutcome::Refused(AttemptRefusal::NoChallenge));
            };
            let challenge = parse_challenge(check.phone_key, check.subject_key, stored)?;
            if challenge.used && optional_text(stored, "used_by") == Some(check.attempt_id) {
                // Our own write, applied before its answer was lost.
                return Ok(CheckOutcome::Verified { reassigned: false });
            }
            if let Some(refusal) = challenge.refusal(check.now, check.max_attempts) {
                return Ok(CheckOutcome::Refused(refusal));
            }
            // An open challenge whose digest differs: the code is wrong.
            let reasons = match self.transact(self.failure_items(&check, &challenge.id)?).await? {
                Transacted::Committed => {
                    return Ok(CheckOutcome::WrongCode { attempts: challenge.attempts + 1 });
                }
                Transacted::Cancelled(reasons) => reasons,
            };
            if let Some(failures) = too_many(&reasons, 1) {
                return Ok(CheckOutcome::TooManyFailures { retry_at: failures.resets_at });
            }
            let Some(stored) = reasons[0].item() else {
                return Ok(CheckOutcome::Refused(AttemptRefusal::NoChallenge));
            };
            let now_stored = parse_challenge(check.phone_key, check.subject_key, stored)?;
            if string_set(stored, "attempt_ids").contains(&check.attempt_id) {
                return Ok(CheckOutcome::WrongCode { attempts: now_stored.attempts });
            }
            if now_stored.id == challenge.id
                && let Some(refusal) = now_stored.refusal(check.now, check.max_attempts)
            {
                return Ok(CheckOutcome::Refused(refusal));
            }
            // A resend replaced the challenge between the two writes: check the new one.
        }
        Err(StoreError::new("the challenge kept changing during the check"))
    }
}

impl ChallengeStore for DynamoStore {
    async fn verified(&self, phone_key: &str) -> Result<Option<VerifiedPhone>, StoreError> {
        self.within_budget(async {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", verified_key(phone_key))
                .projection_expression("#owner")
                .expression_attribute_names("#owner", "owner")
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::new)?;
            Ok(output.item.map(|item| VerifiedPhone {
                owner: optional_text(&item, "owner").map(str::to_owned),
            }))
        })
        .await
    }

    async fn issue(&self, issue: Issue<'_>) -> Result<IssueOutcome, StoreError> {
        self.within_budget(self.issue_once(issue)).await
    }

    async fn withdraw(&self, withdrawal: Withdrawal<'_>) -> Result<(), StoreError> {
        self.within_budget(self.withdraw_once(withdrawal)).await
    }

    async fn check(&self, check: Check<'_>) -> Result<CheckOutcome, StoreError> {
        self.within_budget(self.check_once(check)).await
    }
}

/// Whether a cancellation reason is a failed condition.
fn failed(reason: &CancellationReason) -> bool {
    reason.code() == Some("ConditionalCheckFailed")
}

fn challenge_key(phone_key: &str, subject_key: &str) -> AttributeValue {
    AttributeValue::S(format!("challenge#{phone_key}#{subject_key}"))
}

fn verified_key(phone_key: &str) -> AttributeValue {
    AttributeValue::S(format!("verified#{phone_key}"))
}

fn counter_key(counter: &Counter) -> AttributeValue {
    AttributeValue::S(format!("counter#{}", counter.key))
}

fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn string(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn challenge_item(challenge: &Challenge) -> Item {
    HashMap::from([
        ("pk".to_owned(), challenge_key(&challenge.phone_key, &challenge.subject_key)),
        ("challenge_id".to_owned(), string(&challenge.id)),
        ("code_digest".to_owned(), AttributeValue::B(Blob::new(challenge.code_digest.clone()))),
        ("expires_at".to_owned(), number(challenge.expires_at)),
        ("resend_after".to_owned(), number(challenge.resend_after)),
        ("attempts".to_owned(), number(challenge.attempts)),
        ("used".to_owned(), AttributeValue::Bool(challenge.used)),
        ("purge_at".to_owned(), number(challenge.forget_after())),
    ])
}

fn parse_challenge(
    phone_key: &str,
    subject_key: &str,
    item: &Item,
) -> Result<Challenge, StoreError> {
    let used = item.get("used").and_then(|v| v.as_bool().ok()).copied();
    Ok(Challenge {
        id: text(item, "challenge_id")?.to_owned(),
        phone_key: phone_key.to_owned(),
        subject_key: subject_key.to_owned(),
        code_digest: item
            .get("code_digest")
            .and_then(|v| v.as_b().ok())
            .ok_or_else(|| StoreError::new("challenge item has no valid code_digest"))?
            .as_ref()
            .to_vec(),
        expires_at: numeric(item, "expires_at")?,
        resend_after: numeric(item, "resend_after")?,
        attempts: numeric(item, "attempts")?,
        used: used.ok_or_else(|| StoreError::new("challenge item has no valid used"))?,
    })
}

fn optional_text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|value| value.as_s().ok()).map(String::as_str)
}

fn text<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    optional_text(item, name).ok_or_else(|| StoreError::new(format!("item has no valid {name}")))
}

fn string_set<'a>(item: &'a Item, name: &str) -> Vec<&'a str> {
    item.get(name)
        .and_then(|value| value.as_ss().ok())
        .map(|set| set.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

fn numeric<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::new(format!("item has no valid number {name}")))
}
