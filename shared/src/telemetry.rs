//! Logging set-up: JSON lines in Lambda (CloudWatch) with lifecycle events also emitted as
//! CloudWatch metrics, readable lines locally.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

/// The target of the lifecycle events (`otp.sent`, `otp.verified`, ...) and of the spans
/// they are logged in. Logs keep this target at `info` whatever the level, so audit lines
/// and their metrics are never filtered out.
pub const AUDIT: &str = "otp_audit";

/// This project's crates: the configured level applies to them as set.
const OWN_CRATES: [&str; 5] =
    ["otp_shared", "otp_register", "otp_verify", "otp_resend", "otp_local"];

/// The most any other crate (the Lambda runtime, the AWS SDK, hyper, rustls) may log:
/// at `TRACE` they log raw events and request bodies, which hold tokens, phone numbers
/// and codes.
pub const DEPENDENCY_CAP: LevelFilter = LevelFilter::DEBUG;

/// The level named by `AWS_LAMBDA_LOG_LEVEL` (what Lambda sets from the function's
/// `ApplicationLogLevel`), else by `RUST_LOG` when it is a plain level, else `INFO`.
/// Lambda's `FATAL` turns logs off but for the audit events: nothing here is fatal.
pub fn log_level(lambda_level: Option<&str>, rust_log: Option<&str>) -> LevelFilter {
    let parse = |text: &str| match text.trim().to_ascii_lowercase().as_str() {
        "fatal" => Some(LevelFilter::OFF),
        other => other.parse().ok(),
    };
    lambda_level.and_then(parse).or_else(|| rust_log.and_then(parse)).unwrap_or(LevelFilter::INFO)
}

/// What reaches the logs at `level`: this project's crates at `level`, every other crate
/// at `level` but never above [`DEPENDENCY_CAP`], and the audit target at `info` always.
pub fn log_filter(level: LevelFilter) -> Targets {
    let capped = level.min(DEPENDENCY_CAP);
    OWN_CRATES
        .iter()
        .fold(Targets::new().with_default(capped), |targets, name| {
            targets.with_target(*name, level)
        })
        .with_target(AUDIT, LevelFilter::INFO)
}

/// The Lambda functions' subscriber: one flat JSON object per line (so CloudWatch Logs
/// Insights sees `event`, `phone`, ...) to `logs`, without ANSI colours or timestamps
/// (CloudWatch adds its own), filtered by [`log_filter`]; and an [`EmfLayer`] writing a
/// metric for every lifecycle event to `metrics`, whatever the level.
pub fn lambda_subscriber<L, M>(
    level: LevelFilter,
    logs: L,
    metrics: M,
    namespace: &str,
) -> impl Subscriber + Send + Sync + 'static
where
    L: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
    M: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_writer(logs)
        .with_filter(log_filter(level));
    let audit_only = Targets::new().with_target(AUDIT, LevelFilter::INFO);
    Registry::default().with(logs).with(EmfLayer::new(namespace, metrics).with_filter(audit_only))
}

/// Installs [`lambda_subscriber`] for the process: level from `AWS_LAMBDA_LOG_LEVEL` or
/// `RUST_LOG`, logs and metrics to stdout, namespace `METRICS_NAMESPACE` (default
/// `OtpVerify`).
pub fn init_lambda() {
    let var = |name: &str| std::env::var(name).ok();
    let level = log_level(var("AWS_LAMBDA_LOG_LEVEL").as_deref(), var("RUST_LOG").as_deref());
    let namespace = var("METRICS_NAMESPACE")
        .filter(|namespace| !namespace.trim().is_empty())
        .unwrap_or_else(|| "OtpVerify".to_owned());
    lambda_subscriber(level, std::io::stdout, std::io::stdout, &namespace).init();
}

/// `error` and its sources as one sentence (`a: b: c`), leaving out a source whose words the
/// error before it already says: how a start that failed is reported, never as `Debug`.
pub fn sentence(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    text
}

/// Logs that the function could not start, in one sentence naming what is wrong, and ends
/// the process with status 1 (Lambda reports the init as failed).
pub fn exit_at_start(error: &(dyn std::error::Error + 'static)) -> ! {
    tracing::error!(error = %sentence(error), "the function could not start");
    std::process::exit(1)
}

/// Human-readable logs on stderr, filtered by `RUST_LOG`, `info` by default.
pub fn init_local() {
    init_local_with(tracing_subscriber::layer::Identity::new());
}

/// [`init_local`], with `layer` seeing every span and event whatever `RUST_LOG` says
/// (`otp-local`'s console feed).
pub fn init_local_with<L>(layer: L)
where
    L: Layer<Registry> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter))
        .init();
}

/// Writes a CloudWatch Embedded Metric Format line for every lifecycle event (a log event
/// whose `event` field starts with `otp.`): a `Count` of 1 with the dimension `Event`; with
/// `Event` and `Country` too when the event's span names the phone's country (an ISO region,
/// or a non-geographic network's calling code such as `+881`, so conversion per country can
/// be graphed), and with `Event` and `Rule` when the event
/// names the rule that refused it. An alarm or a dashboard needs no code.
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

/// The dimensions a metric line may carry.
pub const METRIC_DIMENSIONS: [&str; 3] = ["Event", "Country", "Rule"];

/// A span's `country` field, kept for the metric lines of the events inside it.
struct SpanCountry(String);

impl<S, W> Layer<S> for EmfLayer<W>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    W: for<'writer> MakeWriter<'writer> + 'static,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        let mut fields = Fields::default();
        attributes.record(&mut fields);
        if let (Some(country), Some(span)) = (fields.country, context.span(id)) {
            span.extensions_mut().insert(SpanCountry(country));
        }
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(name) = fields.event.filter(|name| name.starts_with("otp.")) else {
            return;
        };
        let country = context.event_scope(event).and_then(|scope| {
            scope.from_root().find_map(|span| {
                span.extensions().get::<SpanCountry>().map(|country| country.0.clone())
            })
        });
        let mut dimensions = vec![json!(["Event"])];
        let mut line = serde_json::Map::new();
        line.insert("Event".into(), json!(name));
        line.insert("Count".into(), json!(1));
        if let Some(country) = country {
            dimensions.push(json!(["Event", "Country"]));
            line.insert("Country".into(), json!(country));
        }
        if let Some(rule) = fields.rule {
            dimensions.push(json!(["Event", "Rule"]));
            line.insert("Rule".into(), json!(rule));
        }
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": dimensions,
                    "Metrics": [{"Name": "Count", "Unit": "Count"}],
                }],
            }),
        );
        // A metric line that cannot be written must not fail the request.
        let _ = writeln!(self.writer.make_writer(), "{}", serde_json::Value::Object(line));
    }
}

/// The fields of an event or span the metric lines use.
#[derive(Default)]
struct Fields {
    event: Option<String>,
    rule: Option<String>,
    country: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = match field.name() {
            "event" => &mut self.event,
            "rule" => &mut self.rule,
            "country" => &mut self.country,
            _ => return,
        };
        *slot = Some(value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, format!("{value:?}").trim_matches('"'));
    }
}
