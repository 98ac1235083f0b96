//! The table's items, their keys and the attribute codecs. The table has a string partition
//! key `pk` and TTL on `purge_at`. Items:
//! - `challenge#<phone pseudonym>#<subject pseudonym>`: a subject's challenge for a phone,
//!   with the one it replaced beside it (`prev_*`, [`SAVED_FIELDS`]), put back should the new
//!   one be withdrawn; `tallied` says whether the breaker counted its send (absent: it did);
//! - `counter#<kind>#<whom>#<window start>`: one fixed-window counter, and the hourly ones
//!   folded into it (`sends_by_<hour end>`, see `counters`);
//! - `verified#<phone pseudonym>`: the phone has verified; `owner` is the pseudonym of the
//!   subject that verified it last. Never expires;
//! - `breaker#<prefix|country>#<digits or region>#trip`: a destination's trip
//!   (`tripped_until`) and its tallies per ten-minute bucket (`sent_<bucket start>`,
//!   `verified_<bucket start>`), so that a send reads one item per destination.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::otp::breaker::Destination;
use crate::otp::challenge::{Challenge, StoreError};
use crate::otp::limits::Counter;

/// One item, as the SDK holds it.
pub(super) type Item = HashMap<String, AttributeValue>;

/// The fields of a challenge that the issue replacing it keeps as `prev_<field>`, so that a
/// withdrawal can put it back; each with the placeholder kept when the field is absent (no
/// challenge before, or one written before the field existed: `tallied` was then always so).
pub(super) const SAVED_FIELDS: [(&str, &str); 8] = [
    ("challenge_id", ":none"),
    ("code_digest", ":no_digest"),
    ("expires_at", ":zero"),
    ("resend_after", ":zero"),
    ("attempts", ":zero"),
    ("used", ":false"),
    ("tallied", ":true"),
    ("purge_at", ":zero"),
];

pub(super) fn challenge_key(phone_key: &str, subject_key: &str) -> AttributeValue {
    AttributeValue::S(format!("challenge#{phone_key}#{subject_key}"))
}

pub(super) fn verified_key(phone_key: &str) -> AttributeValue {
    AttributeValue::S(format!("verified#{phone_key}"))
}

/// The key of the item holding the breaker's state for `destination`.
pub(super) fn destination_key(destination: &Destination) -> AttributeValue {
    AttributeValue::S(format!("breaker#{}", destination.trip_key()))
}

pub(super) fn counter_key(counter: &Counter) -> AttributeValue {
    AttributeValue::S(format!("counter#{}", counter.key))
}

pub(super) fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn string(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(super) fn parse_challenge(
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
        // Written before the field existed: every send was tallied then.
        tallied: item.get("tallied").and_then(|v| v.as_bool().ok()).copied().unwrap_or(true),
    })
}

pub(super) fn optional_text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|value| value.as_s().ok()).map(String::as_str)
}

pub(super) fn text<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    optional_text(item, name).ok_or_else(|| StoreError::new(format!("item has no valid {name}")))
}

pub(super) fn string_set<'a>(item: &'a Item, name: &str) -> Vec<&'a str> {
    item.get(name)
        .and_then(|value| value.as_ss().ok())
        .map(|set| set.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

pub(super) fn numeric<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::new(format!("item has no valid number {name}")))
}
