//! The console's live feed: every audit event (`target: otp_audit`) as it happens, with the
//! fields of the spans it happened in (the endpoint, the masked phone, its country), kept
//! in a bounded buffer that the page reads by sequence number.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use otp_shared::telemetry::AUDIT;

/// How many events the feed keeps; older ones are dropped first.
pub const FEED_CAPACITY: usize = 500;

/// One audit event as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedEvent {
    /// Its place in the feed: increasing, never reused, not even after a reset, and above
    /// any a previous process gave (the first is the feed's creation time in milliseconds),
    /// so a page left open across a restart reads on.
    pub seq: u64,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at: u64,
    /// The fields of its spans, outermost first, then its own (`event`, `rule`, figures).
    pub fields: Map<String, Value>,
}

/// The audit events so far. Clones share them.
#[derive(Debug, Clone)]
pub struct AuditFeed {
    inner: Arc<Mutex<Buffer>>,
}

impl Default for AuditFeed {
    fn default() -> Self {
        let buffer = Buffer { events: VecDeque::new(), last_seq: now_ms() };
        Self { inner: Arc::new(Mutex::new(buffer)) }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug)]
struct Buffer {
    events: VecDeque<FeedEvent>,
    last_seq: u64,
}

impl AuditFeed {
    /// An empty feed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events after sequence number `after`, oldest first.
    pub fn since(&self, after: u64) -> Vec<FeedEvent> {
        self.buffer().events.iter().filter(|event| event.seq > after).cloned().collect()
    }

    /// Forgets the events (sequence numbers go on from where they were).
    pub fn clear(&self) {
        self.buffer().events.clear();
    }

    /// Adds an event with `fields`.
    pub fn push(&self, fields: Map<String, Value>) {
        let at = now_ms();
        let mut buffer = self.buffer();
        buffer.last_seq += 1;
        let seq = buffer.last_seq;
        if buffer.events.len() == FEED_CAPACITY {
            buffer.events.pop_front();
        }
        buffer.events.push_back(FeedEvent { seq, at, fields });
    }

    /// The tracing layer that fills this feed.
    pub fn layer(&self) -> FeedLayer {
        FeedLayer { feed: self.clone() }
    }

    fn buffer(&self) -> MutexGuard<'_, Buffer> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A [`Layer`] that copies every audit event into an [`AuditFeed`].
pub struct FeedLayer {
    feed: AuditFeed,
}

/// The fields a span was opened with, kept for the events inside it.
struct SpanFields(Map<String, Value>);

impl<S> Layer<S> for FeedLayer
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        if attributes.metadata().target() != AUDIT {
            return;
        }
        let mut fields = Collected::default();
        attributes.record(&mut fields);
        if let Some(span) = context.span(id) {
            span.extensions_mut().insert(SpanFields(fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        if event.metadata().target() != AUDIT {
            return;
        }
        let mut fields = Collected::default();
        if let Some(scope) = context.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    fields.0.extend(span_fields.clone());
                }
            }
        }
        event.record(&mut fields);
        self.feed.push(fields.0);
    }
}

/// Fields as JSON values: numbers and booleans as such, the rest as text.
#[derive(Default)]
struct Collected(Map<String, Value>);

impl Visit for Collected {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let text = format!("{value:?}");
        self.0.insert(field.name().to_owned(), text.trim_matches('"').to_owned().into());
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn audit_events_carry_their_spans_fields_and_other_events_are_left_out() {
        let feed = AuditFeed::new();
        let subscriber = tracing_subscriber::registry().with(feed.layer());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(target: AUDIT, "otp", phone = "+91******219");
            let _entered = span.enter();
            tracing::info!(target: AUDIT, event = "otp.refused", rule = "prefix", sent = 20u64);
            tracing::info!(event = "not.audit");
        });
        let events = feed.since(0);
        assert_eq!(events.len(), 1);
        let fields = &events[0].fields;
        assert_eq!(fields["phone"], "+91******219");
        assert_eq!(fields["event"], "otp.refused");
        assert_eq!(fields["rule"], "prefix");
        assert_eq!(fields["sent"], 20);
    }

    #[test]
    fn the_feed_is_read_after_a_sequence_number_and_keeps_counting_after_a_clear() {
        let earlier = AuditFeed::new();
        earlier.push(Map::new());
        let feed = AuditFeed::new();
        for n in 0..3 {
            feed.push(Map::from_iter([("n".to_owned(), Value::from(n))]));
        }
        let first = feed.since(0)[0].seq;
        assert!(first >= earlier.since(0)[0].seq, "a later feed numbers on");
        let after_first: Vec<_> = feed.since(first).iter().map(|event| event.seq).collect();
        assert_eq!(after_first, [first + 1, first + 2]);
        feed.clear();
        assert!(feed.since(0).is_empty());
        feed.push(Map::new());
        assert_eq!(feed.since(0)[0].seq, first + 3);
    }

    #[test]
    fn the_feed_drops_the_oldest_events_beyond_its_capacity() {
        let feed = AuditFeed::new();
        for n in 0..FEED_CAPACITY + 2 {
            feed.push(Map::from_iter([("n".to_owned(), Value::from(n))]));
        }
        let events = feed.since(0);
        assert_eq!(events.len(), FEED_CAPACITY);
        assert_eq!(events[0].fields["n"], 2, "the two oldest are gone");
    }
}
