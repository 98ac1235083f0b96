//! Counter items: which counters share one item (from the limits' `folds_into`), the
//! conditional increment of a send and the refund of a withdrawal.

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::DynamoStore;
use super::schema::{Item, counter_key, number, numeric};
use crate::otp::challenge::StoreError;
use crate::otp::limits::{Counter, CounterKind, LIMITS};

/// Where a send counter is kept. A limit that `folds_into` a longer one of the same scope
/// shares that one's item: `sends` is the longer window's count and `sends_by_<hour end>`
/// the shorter one's, so that one conditional write serves both (2 write units less).
pub(super) enum Slot<'a> {
    /// A counter in an item of its own.
    One(&'a Counter),
    /// A daily budget and an hourly one of the same scope, in the daily one's item.
    Folded { day: &'a Counter, hour: &'a Counter },
}

impl Slot<'_> {
    /// The counter whose key, limit (`sends`) and end (`purge_at`) the item has.
    pub(super) fn item_counter(&self) -> &Counter {
        match self {
            Self::One(counter) | Self::Folded { day: counter, .. } => counter,
        }
    }

    /// The counters a refused write found full, with their counts from the old item. A
    /// full counter holds its limit unless refunds moved it since; when neither of a pair
    /// reads full, both are named (the refusal stands either way).
    pub(super) fn full_counters<'a>(&'a self, item: Option<&Item>) -> Vec<(&'a Counter, u32)> {
        let count = |field: &str, counter: &Counter| {
            item.and_then(|item| numeric::<u32>(item, field).ok()).unwrap_or(counter.limit)
        };
        match self {
            Self::One(counter) => vec![(*counter, count("sends", counter))],
            Self::Folded { day, hour } => {
                let counts = [(*day, count("sends", day)), (*hour, count(&hour_field(hour), hour))];
                let full: Vec<_> =
                    counts.iter().copied().filter(|(counter, n)| *n >= counter.limit).collect();
                if full.is_empty() { counts.to_vec() } else { full }
            }
        }
    }
}

/// The field of a daily budget's item that holds the hourly budget `hour`.
pub(super) fn hour_field(hour: &Counter) -> String {
    format!("sends_by_{}", hour.resets_at)
}

/// The items `counters` are kept in, in the order of `counters` (a folded pair where its
/// daily counter is).
pub(super) fn slots(counters: &[Counter]) -> Vec<Slot<'_>> {
    let partner = |counter: &Counter, kind: CounterKind| {
        counters.iter().find(|other| other.kind == kind && other.whom() == counter.whom())
    };
    counters
        .iter()
        .filter_map(|counter| {
            if counter.kind.folds_into().and_then(|kind| partner(counter, kind)).is_some() {
                return None; // kept in its daily budget's item
            }
            let hour = LIMITS
                .iter()
                .filter(|row| row.folds_into == Some(counter.kind))
                .find_map(|row| partner(counter, row.kind));
            Some(match hour {
                Some(hour) => Slot::Folded { day: counter, hour },
                None => Slot::One(counter),
            })
        })
        .collect()
}

impl DynamoStore {
    pub(super) fn counter_update(
        &self,
        slot: &Slot<'_>,
        limited: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let counter = slot.item_counter();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", counter_key(counter))
            .expression_attribute_values(":purge_at", number(counter.resets_at))
            .expression_attribute_values(":one", number(1));
        update = match slot {
            Slot::One(_) => update.update_expression(
                "SET purge_at = if_not_exists(purge_at, :purge_at) ADD sends :one",
            ),
            Slot::Folded { hour, .. } => update
                .update_expression(
                    "SET purge_at = if_not_exists(purge_at, :purge_at) ADD sends :one, #hour :one",
                )
                .expression_attribute_names("#hour", hour_field(hour)),
        };
        if limited {
            let condition = match slot {
                Slot::One(_) => "attribute_not_exists(sends) OR sends < :limit",
                Slot::Folded { .. } => {
                    "(attribute_not_exists(sends) OR sends < :limit) \
                     AND (attribute_not_exists(#hour) OR #hour < :hour_limit)"
                }
            };
            update = update
                .condition_expression(condition)
                .expression_attribute_values(":limit", number(counter.limit))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            if let Slot::Folded { hour, .. } = slot {
                update = update.expression_attribute_values(":hour_limit", number(hour.limit));
            }
        }
        Ok(TransactWriteItem::builder().update(update.build().map_err(StoreError::new)?).build())
    }
}
