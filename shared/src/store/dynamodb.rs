//! A [`ChallengeStore`] on one DynamoDB table. Every rule is enforced by DynamoDB itself
//! with condition expressions, so it holds across any number of concurrent Lambda
//! instances; nothing is read first and then written.
//!
//! The table has a string partition key `pk` and TTL on `purge_at`. Items:
//! - `challenge#<phone pseudonym>`: the phone's current challenge;
//! - `counter#<kind>#<pseudonym>#<window start>`: one hourly send counter;
//! - `verified#<phone pseudonym>`: the phone has verified once; never expires.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};

use crate::otp::ports::{
    AttemptClaim, AttemptRefusal, Challenge, ChallengeStore, EpochSeconds, IssueOutcome,
    SendCounter, StoreError,
};

/// How often a transaction that lost a race with another one on the same item is tried.
const TRANSACTION_TRIES: u32 = 4;

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB adapter.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// The store on `table`, through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn challenge_key(phone_key: &str) -> AttributeValue {
        AttributeValue::S(format!("challenge#{phone_key}"))
    }

    fn verified_key(phone_key: &str) -> AttributeValue {
        AttributeValue::S(format!("verified#{phone_key}"))
    }

    fn issue_transaction(
        &self,
        challenge: &Challenge,
        counters: &[SendCounter],
        now: EpochSeconds,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(challenge_item(challenge)))
            .condition_expression("attribute_not_exists(pk) OR resend_after <= :now")
            .expression_attribute_values(":now", number(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::new)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for counter in counters {
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(format!("counter#{}", counter.key)))
                .update_expression(
                    "SET purge_at = if_not_exists(purge_at, :purge_at) ADD sends :one",
                )
                .condition_expression("attribute_not_exists(sends) OR sends < :limit")
                .expression_attribute_values(":purge_at", number(counter.resets_at))
                .expression_attribute_values(":one", number(1))
                .expression_attribute_values(":limit", number(counter.limit))
                .build()
                .map_err(StoreError::new)?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        Ok(items)
    }

    /// Runs a transaction, trying again while it only lost races with other transactions.
    /// `Ok(None)` is success; `Ok(Some(reasons))` a cancellation by a failed condition.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<CancellationReason>>, StoreError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let reasons = match result {
                Ok(_) => return Ok(None),
                Err(SdkError::ServiceError(error)) => match error.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(canceled) => {
                        canceled.cancellation_reasons().to_vec()
                    }
                    other => return Err(StoreError::new(other)),
                },
                Err(error) => return Err(StoreError::new(error)),
            };
            let conflict = reasons.iter().any(|r| r.code() == Some("TransactionConflict"));
            let failed_condition =
                reasons.iter().any(|r| r.code() == Some("ConditionalCheckFailed"));
            if failed_condition || !conflict || tries == TRANSACTION_TRIES {
                return Ok(Some(reasons));
            }
            tokio::time::sleep(Duration::from_millis(10 << tries)).await;
        }
    }
}

impl ChallengeStore for DynamoStore {
    async fn issue(
        &self,
        challenge: &Challenge,
        counters: &[SendCounter],
        now: EpochSeconds,
    ) -> Result<IssueOutcome, StoreError> {
        let items = self.issue_transaction(challenge, counters, now)?;
        let Some(reasons) = self.transact(items).await? else {
            return Ok(IssueOutcome::Issued);
        };
        let mut retry_at = None;
        for (index, reason) in reasons.iter().enumerate() {
            if reason.code() != Some("ConditionalCheckFailed") {
                continue;
            }
            let until = match index {
                // The challenge returned as it was; without it, its cooldown is unknown.
                0 => match reason.item() {
                    Some(item) => numeric(item, "resend_after")?,
                    None => now + 1,
                },
                counter => counters[counter - 1].resets_at,
            };
            retry_at = retry_at.max(Some(until));
        }
        match retry_at {
            Some(retry_at) => Ok(IssueOutcome::Refused { retry_at }),
            // Still conflicting after every try: busy, so ask the caller to come back soon.
            None if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) => {
                Ok(IssueOutcome::Refused { retry_at: now + 1 })
            }
            None => Err(StoreError::new(format!("transaction canceled: {reasons:?}"))),
        }
    }

    async fn withdraw(&self, phone_key: &str, challenge_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Self::challenge_key(phone_key))
            .condition_expression("challenge_id = :id")
            .expression_attribute_values(":id", AttributeValue::S(challenge_id.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(StoreError::new(error)),
        }
    }

    async fn claim_attempt(
        &self,
        phone_key: &str,
        now: EpochSeconds,
        max_attempts: u32,
    ) -> Result<AttemptClaim, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::challenge_key(phone_key))
            .update_expression("SET attempts = attempts + :one")
            .condition_expression(
                "attribute_exists(pk) AND used = :false AND expires_at > :now AND attempts < :max",
            )
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", number(now))
            .expression_attribute_values(":max", number(max_attempts))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item =
                    output.attributes.ok_or_else(|| StoreError::new("no attributes returned"))?;
                Ok(AttemptClaim::Granted(parse_challenge(phone_key, &item)?))
            }
            Err(SdkError::ServiceError(error)) => match error.into_err() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let Some(item) = failed.item() else {
                        return Ok(AttemptClaim::Refused(AttemptRefusal::NoChallenge));
                    };
                    let refusal = parse_challenge(phone_key, item)?
                        .refusal(now, max_attempts)
                        .ok_or_else(|| StoreError::new("condition failed on an open challenge"))?;
                    Ok(AttemptClaim::Refused(refusal))
                }
                other => Err(StoreError::new(other)),
            },
            Err(error) => Err(StoreError::new(error)),
        }
    }

    async fn complete(
        &self,
        phone_key: &str,
        challenge_id: &str,
        now: EpochSeconds,
    ) -> Result<bool, StoreError> {
        let use_challenge = Update::builder()
            .table_name(&self.table)
            .key("pk", Self::challenge_key(phone_key))
            .update_expression("SET used = :true")
            .condition_expression("challenge_id = :id AND used = :false")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":id", AttributeValue::S(challenge_id.to_owned()))
            .build()
            .map_err(StoreError::new)?;
        let mark_verified = Update::builder()
            .table_name(&self.table)
            .key("pk", Self::verified_key(phone_key))
            .update_expression("SET verified_at = if_not_exists(verified_at, :now)")
            .expression_attribute_values(":now", number(now))
            .build()
            .map_err(StoreError::new)?;
        let items = vec![
            TransactWriteItem::builder().update(use_challenge).build(),
            TransactWriteItem::builder().update(mark_verified).build(),
        ];
        match self.transact(items).await? {
            None => Ok(true),
            Some(reasons)
                if reasons.first().and_then(CancellationReason::code)
                    == Some("ConditionalCheckFailed") =>
            {
                Ok(false)
            }
            Some(reasons) => Err(StoreError::new(format!("transaction canceled: {reasons:?}"))),
        }
    }

    async fn is_verified(&self, phone_key: &str) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::verified_key(phone_key))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::new)?;
        Ok(output.item.is_some())
    }
}

fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn challenge_item(challenge: &Challenge) -> Item {
    HashMap::from([
        ("pk".to_owned(), DynamoStore::challenge_key(&challenge.phone_key)),
        ("challenge_id".to_owned(), AttributeValue::S(challenge.id.clone())),
        ("code_digest".to_owned(), AttributeValue::B(Blob::new(challenge.code_digest.clone()))),
        ("expires_at".to_owned(), number(challenge.expires_at)),
        ("resend_after".to_owned(), number(challenge.resend_after)),
        ("attempts".to_owned(), number(challenge.attempts)),
        ("used".to_owned(), AttributeValue::Bool(challenge.used)),
        ("purge_at".to_owned(), number(challenge.forget_after())),
    ])
}

fn parse_challenge(phone_key: &str, item: &Item) -> Result<Challenge, StoreError> {
    let malformed = |name: &str| StoreError::new(format!("challenge item has no valid {name}"));
    Ok(Challenge {
        id: item
            .get("challenge_id")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| malformed("challenge_id"))?
            .clone(),
        phone_key: phone_key.to_owned(),
        code_digest: item
            .get("code_digest")
            .and_then(|v| v.as_b().ok())
            .ok_or_else(|| malformed("code_digest"))?
            .as_ref()
            .to_vec(),
        expires_at: numeric(item, "expires_at")?,
        resend_after: numeric(item, "resend_after")?,
        attempts: numeric(item, "attempts")?,
        used: *item.get("used").and_then(|v| v.as_bool().ok()).ok_or_else(|| malformed("used"))?,
    })
}

fn numeric<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::new(format!("item has no valid number {name}")))
}
