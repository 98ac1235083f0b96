//! Retries that DynamoDB's answers make safe: a transaction that only lost races goes
//! again, and a write that must not apply twice goes again only when it was refused unapplied.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};

use super::DynamoStore;
use crate::otp::challenge::StoreError;

/// How a transaction ended, when DynamoDB answered.
pub(super) enum Transacted {
    Committed,
    /// Cancelled by at least one failed condition; one reason per item.
    Cancelled(Vec<CancellationReason>),
}

impl DynamoStore {
    /// Runs a transaction. While it only lost races with other transactions on the same
    /// items (a `TransactionConflict`, or `TransactionInProgressException` for a retried
    /// token), it is tried again after a short, growing pause; the call's budget bounds
    /// the tries.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Transacted, StoreError> {
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
}

/// Whether a cancellation reason is a failed condition.
pub(super) fn failed(reason: &CancellationReason) -> bool {
    reason.code() == Some("ConditionalCheckFailed")
}

/// How many times [`send_unrepeated`] sends a write DynamoDB refused unapplied.
pub(super) const UNREPEATED_TRIES: u32 = 3;

/// Sends a write that must not apply twice (its condition cannot recognise its own earlier
/// write), made by `send` on the client without the SDK's retries: again only when DynamoDB
/// answered that it did not apply it (throttling, a conflict), after 10 ms and then 20.
/// Any other failure (a timeout, a lost connection, a server error) may hide an applied
/// write and is returned as it is.
pub(super) async fn send_unrepeated<T, E, R, F>(send: impl Fn() -> F) -> Result<T, SdkError<E, R>>
where
    F: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let mut pause = Duration::from_millis(10);
    for _ in 1..UNREPEATED_TRIES {
        match send().await {
            Err(error) if refused_unapplied(&error) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            answer => return answer,
        }
    }
    send().await
}

/// Whether DynamoDB answered that it refused a single-item write without applying it.
pub(super) fn refused_unapplied<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    let code = error.as_service_error().and_then(ProvideErrorMetadata::code);
    matches!(
        code,
        Some(
            "ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "TransactionConflictException"
                | "ReplicatedWriteConflictException"
        )
    )
}

/// Whether a cancelled transaction left an item's condition unjudged (a conflict,
/// throttling): neither passed (`None`) nor failed.
pub(super) fn undecided(reason: &CancellationReason) -> bool {
    !matches!(reason.code(), None | Some("None" | "ConditionalCheckFailed"))
}
