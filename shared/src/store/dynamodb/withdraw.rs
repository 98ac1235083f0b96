//! Withdrawing a send whose message failed: the replaced challenge put back (or the new one
//! deleted), then each refund on its own; none of these writes is repeated once applied.

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::DynamoStore;
use super::counters::{Slot, hour_field, slots};
use super::retry::send_unrepeated;
use super::schema::{SAVED_FIELDS, challenge_key, counter_key, number, optional_text, string};
use crate::otp::challenge::{StoreError, Withdrawal};

impl DynamoStore {
    /// Takes the challenge back: the challenge it replaced is put back when there was one
    /// (one `UpdateItem`), or it is deleted (one `DeleteItem`), each only while it is still
    /// the stored one and unused (a code that arrived after all and was verified stays so);
    /// then each refund goes on its own, at once. A refund whose counter is gone, or already
    /// at zero, refunds nothing. None of these writes is safe to repeat once applied, so
    /// none is retried after an answer that may have been lost ([`send_unrepeated`]): that
    /// fails the withdrawal, which is reported and errs towards counting.
    pub(super) async fn withdraw_once(&self, withdrawal: Withdrawal<'_>) -> Result<(), StoreError> {
        let challenge = withdrawal.challenge;
        let key = challenge_key(&challenge.phone_key, &challenge.subject_key);
        let restored = SAVED_FIELDS
            .iter()
            .map(|(field, _)| format!("{field} = prev_{field}"))
            .collect::<Vec<_>>()
            .join(", ");
        let forgotten =
            SAVED_FIELDS.iter().map(|(field, _)| format!("prev_{field}")).collect::<Vec<_>>();
        let restore = self
            .unretried
            .update_item()
            .table_name(&self.table)
            .key("pk", key.clone())
            .update_expression(format!(
                "SET {restored} REMOVE {}, attempt_ids, used_by, reassigned",
                forgotten.join(", ")
            ))
            .condition_expression(
                "challenge_id = :id AND used = :false AND prev_challenge_id <> :none",
            )
            .expression_attribute_values(":id", string(&challenge.id))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":none", string(""))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let ours = match send_unrepeated(|| restore.clone().send()).await {
            Ok(_) => true,
            Err(SdkError::ServiceError(error)) => match error.into_err() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let stored = failed.item();
                    let id = stored.and_then(|item| optional_text(item, "challenge_id"));
                    let used =
                        stored.and_then(|item| item.get("used")).and_then(|v| v.as_bool().ok());
                    // Ours and open, with nothing it replaced: deleted instead.
                    id == Some(challenge.id.as_str())
                        && used == Some(&false)
                        && self.delete_challenge(key, &challenge.id).await?
                }
                other => return Err(StoreError::new(other)),
            },
            Err(error) => return Err(StoreError::new(error)),
        };
        if !ours {
            return Ok(()); // not (or no longer) ours: nothing to take back
        }
        let mut refunds = tokio::task::JoinSet::new();
        for slot in slots(withdrawal.refund) {
            let refund = self
                .unretried
                .update_item()
                .table_name(&self.table)
                .key("pk", counter_key(slot.item_counter()))
                .expression_attribute_values(":minus_one", number(-1))
                .expression_attribute_values(":one", number(1));
            let refund = match &slot {
                Slot::One(_) => refund
                    .update_expression("ADD sends :minus_one")
                    .condition_expression("sends >= :one"),
                Slot::Folded { hour, .. } => refund
                    .update_expression("ADD sends :minus_one, #hour :minus_one")
                    .condition_expression("sends >= :one AND #hour >= :one")
                    .expression_attribute_names("#hour", hour_field(hour)),
            };
            refunds.spawn(send_unrepeated(move || refund.clone().send()));
        }
        let mut failed_refunds = 0;
        while let Some(done) = refunds.join_next().await {
            match done.map_err(StoreError::new)? {
                Ok(_) => {}
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(UpdateItemError::is_conditional_check_failed_exception) => {}
                Err(error) => {
                    tracing::warn!(error = %DisplayErrorContext(&error), "a refund failed");
                    failed_refunds += 1;
                }
            }
        }
        match failed_refunds {
            0 => Ok(()),
            n => Err(StoreError::new(format!("{n} of the refunds failed; they stay counted"))),
        }
    }

    /// Deletes the challenge stored under `key` if its id is `id` and it is unused; says
    /// whether it did.
    pub(super) async fn delete_challenge(
        &self,
        key: AttributeValue,
        id: &str,
    ) -> Result<bool, StoreError> {
        let delete = self
            .unretried
            .delete_item()
            .table_name(&self.table)
            .key("pk", key)
            .condition_expression("challenge_id = :id AND used = :false")
            .expression_attribute_values(":id", string(id))
            .expression_attribute_values(":false", AttributeValue::Bool(false));
        let deleted = send_unrepeated(|| delete.clone().send()).await;
        match deleted {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(DeleteItemError::is_conditional_check_failed_exception) =>
            {
                Ok(false)
            }
            Err(error) => Err(StoreError::new(error)),
        }
    }
}
