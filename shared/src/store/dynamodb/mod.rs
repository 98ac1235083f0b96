//! A [`ChallengeStore`] on one DynamoDB table. Every rule is enforced by DynamoDB itself
//! with condition expressions, so it holds across any number of concurrent Lambda
//! instances; nothing is read first and then written. [`schema`] lists the items.
//!
//! Every write of a send or a check is safe to retry after its answer was lost: a retried
//! transaction carries the SDK's idempotency token, and each condition also recognises the
//! request's own earlier write (the challenge id it stored, the check id it recorded), so
//! that nothing is counted twice. The writes that cannot recognise their own earlier write
//! (a withdrawal's put-back, delete and refunds; the breaker's tallies) go again only on
//! DynamoDB's not-applied answers ([`retry::send_unrepeated`]).

mod breaker;
mod check;
mod counters;
mod issue;
mod retry;
mod schema;
mod withdraw;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;

use self::check::AttemptsSeen;
use self::schema::{optional_text, verified_key};
use crate::otp::breaker::{Destination, Reading, Tallied};
use crate::otp::challenge::{
    Check, CheckOutcome, Issue, IssueOutcome, SendReadings, StoreError, VerifiedPhone, Withdrawal,
};
use crate::otp::ports::ChallengeStore;
use crate::otp::time::EpochSeconds;

/// The longest one store call may take, retries included, unless the store is made with
/// another (see `crate::aws` for how the budgets add up to the function timeout).
pub const CALL_BUDGET: Duration = Duration::from_secs(2);

/// The DynamoDB adapter.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    /// The same client without the SDK's retries, for the writes that must not apply twice
    /// (see [`retry::send_unrepeated`]).
    unretried: Client,
    table: String,
    budget: Duration,
    attempts_seen: AttemptsSeen,
}

impl DynamoStore {
    /// The store on `table`, through `client`, with [`CALL_BUDGET`] per call.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let attempts_seen = AttemptsSeen::default();
        let unretried = client.config().to_builder().retry_config(RetryConfig::disabled()).build();
        let unretried = Client::from_conf(unretried);
        Self { client, unretried, table: table.into(), budget: CALL_BUDGET, attempts_seen }
    }

    /// The same store with another time budget per call.
    pub fn with_call_budget(self, budget: Duration) -> Self {
        Self { budget, ..self }
    }

    /// Runs `call` within the budget: a call that outlives it is a [`StoreError`]. The call
    /// is boxed: an SDK request's future is large, and the service joins several, so kept
    /// inline they would make every caller's future (and, unoptimised, its stack) large.
    async fn within_budget<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>> + Send,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.budget, Box::pin(call)).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::new(format!("no answer within {:?}", self.budget))),
        }
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
        let tallied = AtomicBool::new(false);
        let outcome = self.within_budget(self.check_once(check, &tallied)).await;
        if tallied.load(Ordering::Relaxed) && !matches!(outcome, Ok(CheckOutcome::Verified { .. }))
        {
            // Another check used the challenge, or this one failed: its tally goes back.
            // When the tally itself failed, this may take back another verification, which
            // errs towards a stricter breaker; it never goes below zero.
            let untallied = self.tally_once(check.tally, Tallied::Unverified, check.now);
            if let Err(error) = self.within_budget(untallied).await {
                tracing::warn!(error = %error, "the breaker's tally could not be taken back");
            }
        }
        outcome
    }

    async fn breaker_readings(
        &self,
        destinations: &[Destination],
        window: &[EpochSeconds],
    ) -> Result<Vec<Reading>, StoreError> {
        let read = self.readings_once(None, destinations, window);
        Ok(self.within_budget(read).await?.1)
    }

    async fn send_readings(
        &self,
        phone_key: &str,
        destinations: &[Destination],
        window: &[EpochSeconds],
    ) -> Result<SendReadings, StoreError> {
        let read = self.readings_once(Some(phone_key), destinations, window);
        let (verified, readings) = self.within_budget(read).await?;
        Ok(SendReadings { verified, readings })
    }

    async fn tally(
        &self,
        destinations: &[Destination],
        event: Tallied,
        now: EpochSeconds,
    ) -> Result<(), StoreError> {
        self.within_budget(self.tally_once(destinations, event, now)).await
    }

    async fn trip(&self, destination: &Destination, until: EpochSeconds) -> Result<(), StoreError> {
        self.within_budget(self.trip_once(destination, until)).await
    }
}
