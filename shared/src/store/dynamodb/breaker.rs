//! The breaker's state: one item per destination holding its trip and its tallies per
//! ten-minute bucket, read for a send in one request and counted without retrying a write
//! whose answer was lost.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::DynamoStore;
use super::retry::{jittered_pause, send_unrepeated};
use super::schema::{Item, destination_key, number, numeric, optional_text, text, verified_key};
use crate::otp::breaker::{Destination, Reading, Tallied, Tally};
use crate::otp::challenge::{StoreError, VerifiedPhone};
use crate::otp::time::{self, EpochSeconds};

impl DynamoStore {
    /// Reads each destination's item, and the phone's record when `phone_key` is given, in
    /// one `BatchGetItem` (eventually consistent: a
    /// tally a moment old decides as well, and the write that follows re-checks the owner),
    /// asking again for any keys DynamoDB left unprocessed.
    pub(super) async fn readings_once(
        &self,
        phone_key: Option<&str>,
        destinations: &[Destination],
        window: &[EpochSeconds],
    ) -> Result<(Option<VerifiedPhone>, Vec<Reading>), StoreError> {
        let mut wanted: Vec<AttributeValue> = Vec::new();
        wanted.extend(phone_key.map(verified_key));
        wanted.extend(destinations.iter().map(destination_key));
        let mut found: HashMap<String, Item> = HashMap::new();
        for chunk in wanted.chunks(100) {
            let keys = chunk.iter().map(|key| HashMap::from([("pk".to_owned(), key.clone())]));
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(keys.collect()))
                .build()
                .map_err(StoreError::new)?;
            for tries in 1.. {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(StoreError::new)?;
                for item in
                    output.responses.unwrap_or_default().remove(&self.table).unwrap_or_default()
                {
                    found.insert(text(&item, "pk")?.to_owned(), item);
                }
                match output.unprocessed_keys.unwrap_or_default().remove(&self.table) {
                    Some(left) if !left.keys().is_empty() => request = left,
                    _ => break,
                }
                tokio::time::sleep(jittered_pause(tries)).await;
            }
        }
        let verified = phone_key.and_then(|phone_key| {
            let item = found.get(&format!("verified#{phone_key}"))?;
            Some(VerifiedPhone { owner: optional_text(item, "owner").map(str::to_owned) })
        });
        let readings = destinations
            .iter()
            .map(|destination| {
                let item = found.get(&format!("breaker#{}", destination.trip_key()));
                let count = |name: &str| item.and_then(|item| numeric(item, name).ok());
                Reading {
                    tally: window.iter().fold(Tally::default(), |sum, bucket| {
                        sum + Tally {
                            sent: count(&tally_field("sent", *bucket)).unwrap_or(0),
                            verified: count(&tally_field("verified", *bucket)).unwrap_or(0),
                        }
                    }),
                    tripped_until: count("tripped_until"),
                }
            })
            .collect();
        Ok((verified, readings))
    }

    /// One `UpdateItem` per destination, all at once, each sent again only when DynamoDB
    /// answered that it did not apply it ([`send_unrepeated`]): an `ADD` is not idempotent,
    /// and a tally one short is better than one counted twice. Each also removes
    /// the buckets that left the window in the last two hours, so that a destination with
    /// steady traffic keeps one window of buckets; one that falls silent expires whole.
    pub(super) async fn tally_once(
        &self,
        destinations: &[Destination],
        event: Tallied,
        now: EpochSeconds,
    ) -> Result<(), StoreError> {
        let mut updates = tokio::task::JoinSet::new();
        for destination in destinations {
            let client = self.unretried.clone();
            let table = self.table.clone();
            let key = destination_key(destination);
            updates.spawn(async move { tally_item(&client, &table, key, event, now).await });
        }
        while let Some(done) = updates.join_next().await {
            done.map_err(StoreError::new)??;
        }
        Ok(())
    }

    /// Records a trip; a trip as long or longer already recorded stands.
    pub(super) async fn trip_once(
        &self,
        destination: &Destination,
        until: EpochSeconds,
    ) -> Result<(), StoreError> {
        // The item outlives the trip by a window, so that no tally written before it is
        // purged early: `purge_at` only ever grows (see `tally_once`).
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", destination_key(destination))
            .update_expression("SET tripped_until = :until, purge_at = :purge_at")
            .condition_expression("attribute_not_exists(tripped_until) OR tripped_until < :until")
            .expression_attribute_values(":until", number(until))
            .expression_attribute_values(":purge_at", number(time::bucket_expiry(until)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Ok(()) // a trip as long or longer is recorded
            }
            Err(error) => Err(StoreError::new(error)),
        }
    }
}

/// The attribute of a destination's item that tallies `event_name` (`sent`, `verified`) in
/// the bucket starting at `bucket`.
pub(super) fn tally_field(event_name: &str, bucket: EpochSeconds) -> String {
    format!("{event_name}_{bucket}")
}

/// Tallies `event` on one destination's item. A count raises the item's `purge_at` to the
/// end of its bucket's window, unless the item lives longer already (a trip), in which case
/// a second write counts without touching it: an update cannot take the larger of two.
pub(super) async fn tally_item(
    client: &Client,
    table: &str,
    key: AttributeValue,
    event: Tallied,
    now: EpochSeconds,
) -> Result<(), StoreError> {
    let bucket = time::bucket_of(now);
    let (event_name, delta) = match event {
        Tallied::Sent => ("sent", 1),
        Tallied::Unsent => ("sent", -1),
        Tallied::Verified => ("verified", 1),
        Tallied::Unverified => ("verified", -1),
    };
    let mut left_window = Vec::new();
    for back in time::BUCKETS..time::BUCKETS * 3 {
        if let Some(old) = bucket.checked_sub(back * time::BUCKET_SECONDS) {
            left_window.extend([tally_field("sent", old), tally_field("verified", old)]);
        }
    }
    let removals: Vec<String> = (0..left_window.len()).map(|i| format!("#old{i}")).collect();
    let update = |raise_purge: bool| {
        let set = if raise_purge { "SET purge_at = :purge_at " } else { "" };
        let mut update = client
            .update_item()
            .table_name(table)
            .key("pk", key.clone())
            .update_expression(format!("{set}ADD #count :delta REMOVE {}", removals.join(", ")))
            .expression_attribute_names("#count", tally_field(event_name, bucket))
            .expression_attribute_values(":delta", number(delta));
        for (placeholder, name) in removals.iter().zip(&left_window) {
            update = update.expression_attribute_names(placeholder, name);
        }
        if event.takes_back() {
            // Never below zero: a take-back finds nothing to take when its event is gone.
            update = update
                .condition_expression("#count >= :one")
                .expression_attribute_values(":one", number(1));
        } else if raise_purge {
            update = update
                .condition_expression("attribute_not_exists(purge_at) OR purge_at <= :purge_at")
                .expression_attribute_values(":purge_at", number(time::bucket_expiry(bucket)));
        }
        update
    };
    let conditional_failed = |error: &SdkError<UpdateItemError, _>| {
        error.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception)
    };
    match send_unrepeated(|| update(!event.takes_back()).send()).await {
        Ok(_) => Ok(()),
        // A take-back with nothing to take.
        Err(error) if event.takes_back() && conditional_failed(&error) => Ok(()),
        // The item lives longer than this bucket's window: count without shortening it.
        Err(error) if conditional_failed(&error) => {
            send_unrepeated(|| update(false).send()).await.map(|_| ()).map_err(StoreError::new)
        }
        Err(error) => Err(StoreError::new(error)),
    }
}
