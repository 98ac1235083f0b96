//! Retries that DynamoDB's answers make safe: a transaction that only lost races or met a
//! throttled item goes again, and a write that must not apply twice goes again only when it
//! was refused unapplied. Every pause is "full jitter": a random share of a ceiling that
//! doubles, so that requests that collided on one item do not collide again in step.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

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

/// The first ceiling of a pause, and the largest.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_millis(200);

/// How many times a transaction is sent while its items are busy; the call's budget bounds
/// the tries too.
const TRANSACTION_TRIES: u32 = 8;

/// The pause after the `tries`-th try (1, 2, ...): uniform between nothing and a ceiling of
/// 10 ms doubling up to 200 ms.
pub(super) fn jittered_pause(tries: u32) -> Duration {
    let ceiling =
        FIRST_PAUSE.saturating_mul(1 << tries.saturating_sub(1).min(5)).min(LONGEST_PAUSE);
    let micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(rand::thread_rng().gen_range(0..=micros))
}

/// Whether a cancellation reason says its item was busy rather than refused: it lost a
/// race with another transaction, or it was throttled (a hot item). Nothing was applied.
fn busy(reason: &CancellationReason) -> bool {
    matches!(
        reason.code(),
        None | Some(
            "None" | "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
        )
    )
}

impl DynamoStore {
    /// Runs a transaction. While its items were only busy (a `TransactionConflict` or a
    /// throttled item as cancellation reasons, or `TransactionInProgressException` for a
    /// retried token), it is tried again after a jittered pause, at most
    /// [`TRANSACTION_TRIES`] times within the call's budget.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Transacted, StoreError> {
        for tries in 1.. {
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
            if reasons.iter().any(failed) {
                return Ok(Transacted::Cancelled(reasons));
            }
            if !reasons.iter().all(busy) {
                return Err(StoreError::new(format!("transaction cancelled: {reasons:?}")));
            }
            if tries == TRANSACTION_TRIES {
                break;
            }
            tokio::time::sleep(jittered_pause(tries)).await;
        }
        Err(StoreError::new(format!("its items stayed busy for {TRANSACTION_TRIES} tries")))
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
/// answered that it did not apply it (throttling, a conflict), after a jittered pause.
/// Any other failure (a timeout, a lost connection, a server error) may hide an applied
/// write and is returned as it is.
pub(super) async fn send_unrepeated<T, E, R, F>(send: impl Fn() -> F) -> Result<T, SdkError<E, R>>
where
    F: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    for tries in 1..UNREPEATED_TRIES {
        match send().await {
            Err(error) if refused_unapplied(&error) => {
                tokio::time::sleep(jittered_pause(tries)).await;
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
