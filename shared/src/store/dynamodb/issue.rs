//! A send's write: the new challenge (keeping the one it replaces), its counters and, for
//! a verified owner, the owner's record, in one transaction.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::DynamoStore;
use super::counters::slots;
use super::retry::{Transacted, failed};
use super::schema::{SAVED_FIELDS, challenge_key, number, numeric, string, text, verified_key};
use crate::otp::challenge::{FullCounter, Issue, IssueOutcome, SendRefusal, StoreError};
use crate::otp::limits::CounterKind;

impl DynamoStore {
    pub(super) fn issue_items(
        &self,
        issue: &Issue<'_>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let challenge = issue.challenge;
        // The replaced challenge is kept beside the new one (`prev_*`), so that a withdrawal
        // puts it back: a send that fails after this write leaves the pending code as it was.
        let replace = Update::builder()
            .table_name(&self.table)
            .key("pk", challenge_key(&challenge.phone_key, &challenge.subject_key))
            .update_expression(format!(
                "SET {saved}, challenge_id = :id, code_digest = :digest, expires_at = :expires_at, \
                 resend_after = :resend_after, attempts = :zero, used = :false, \
                 tallied = :tallied, purge_at = :purge_at \
                 REMOVE attempt_ids, used_by, reassigned",
                saved = SAVED_FIELDS
                    .iter()
                    .map(|(field, absent)| format!(
                        "prev_{field} = if_not_exists({field}, {absent})"
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
            .condition_expression(
                "attribute_not_exists(pk) OR (resend_after <= :now AND challenge_id <> :id)",
            )
            .expression_attribute_values(":now", number(issue.now))
            .expression_attribute_values(":id", string(&challenge.id))
            .expression_attribute_values(":none", string(""))
            .expression_attribute_values(":no_digest", AttributeValue::B(Blob::new(vec![0])))
            .expression_attribute_values(
                ":digest",
                AttributeValue::B(Blob::new(challenge.code_digest.clone())),
            )
            .expression_attribute_values(":expires_at", number(challenge.expires_at))
            .expression_attribute_values(":resend_after", number(challenge.resend_after))
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":tallied", AttributeValue::Bool(challenge.tallied))
            .expression_attribute_values(":purge_at", number(challenge.forget_after()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::new)?;
        let mut items = vec![TransactWriteItem::builder().update(replace).build()];
        for slot in slots(issue.counters) {
            let waived = issue.as_verified_owner && slot.item_counter().kind == CounterKind::Phone;
            items.push(self.counter_update(&slot, !waived)?);
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

    pub(super) async fn issue_once(&self, issue: Issue<'_>) -> Result<IssueOutcome, StoreError> {
        let reasons = match self.transact(self.issue_items(&issue)?).await? {
            Transacted::Committed => {
                let challenge = issue.challenge;
                self.attempts_seen
                    .forget(&format!("{}#{}", challenge.phone_key, challenge.subject_key));
                return Ok(IssueOutcome::Issued);
            }
            Transacted::Cancelled(reasons) => reasons,
        };
        let challenge = issue.challenge;
        let slots = slots(issue.counters);
        let mut refusal = SendRefusal::default();
        for (index, reason) in reasons.iter().enumerate().filter(|(_, reason)| failed(reason)) {
            match index.checked_sub(1).map(|i| slots.get(i)) {
                None => {
                    let stored = reason.item().ok_or_else(|| StoreError::new("no old item"))?;
                    if text(stored, "challenge_id")? == challenge.id {
                        // Our own write, applied before its answer was lost.
                        return Ok(IssueOutcome::Issued);
                    }
                    refusal.cooldown = true;
                    refusal.retry_at = refusal.retry_at.max(numeric(stored, "resend_after")?);
                }
                Some(Some(slot)) => {
                    for (counter, count) in slot.full_counters(reason.item()) {
                        refusal.full.push(FullCounter { kind: counter.kind, count });
                        refusal.retry_at = refusal.retry_at.max(counter.resets_at);
                    }
                }
                Some(None) => {
                    refusal.not_owner = true;
                    refusal.retry_at = refusal.retry_at.max(issue.now + 1);
                }
            }
        }
        Ok(IssueOutcome::Refused(refusal))
    }
}
