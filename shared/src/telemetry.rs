//! Logging set-up: JSON lines in Lambda (CloudWatch) with lifecycle events also emitted as
//! CloudWatch metrics, readable lines locally.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// One flat JSON object per line (so CloudWatch Logs Insights sees `event`, `phone`, ...),
/// without ANSI colours or timestamps (CloudWatch adds its own), filtered by
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, `info` by default; plus an [`EmfLayer`] in the
/// namespace `METRICS_NAMESPACE` (default `OtpVerify`).
pub fn init_lambda() {
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|level| EnvFilter::try_new(level.to_lowercase()).ok())
        .unwrap_or_else(|| EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()));
    let namespace = std::env::var("METRICS_NAMESPACE")
        .ok()
        .filter(|namespace| !namespace.trim().is_empty())
        .unwrap_or_else(|| "OtpVerify".to_owned());
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .with_ansi(false);
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(EmfLayer::new(namespace, std::io::stdout))
        .init();
}

/// Human-readable logs on stderr, filtered by `RUST_LOG`, `info` by default.
pub fn init_local() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
}

/// Writes a CloudWatch Embedded Metric Format line for every lifecycle event (a log event
/// whose `event` field starts with `otp.`): a `Count` of 1 with the dimension `Event`, so a
/// dashboard or an alarm on, say, `otp.sms_failed` needs no code.
pub struct EmfLayer<W> {
    namespace: String,
    writer: W,
}

impl<W> EmfLayer<W> {
    /// A layer that writes metrics in `namespace` to `writer`.
    pub fn new(namespace: impl Into<String>, writer: W) -> Self {
        Self { namespace: namespace.into(), writer }
    }
}

impl<S, W> Layer<S> for EmfLayer<W>
where
    S: Subscriber,
    W: for<'writer> MakeWriter<'writer> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let mut name = EventName(None);
        event.record(&mut name);
        let Some(name) = name.0.filter(|name| name.starts_with("otp.")) else {
            return;
        };
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let line = json!({
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Event"]],
                    "Metrics": [{"Name": "Count", "Unit": "Count"}],
                }],
            },
            "Event": name,
            "Count": 1,
        });
        // A metric line that cannot be written must not fail the request.
        let _ = writeln!(self.writer.make_writer(), "{line}");
    }
}

/// The `event` field of a log event.
struct EventName(Option<String>);

impl Visit for EventName {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "event" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "event" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}
