//! Logging set-up: JSON lines in Lambda (CloudWatch), readable lines locally.

use tracing_subscriber::EnvFilter;

/// One flat JSON object per line (so CloudWatch Logs Insights sees `event`, `phone`, ...),
/// without ANSI colours or timestamps (CloudWatch adds its own), filtered by
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, `info` by default.
pub fn init_lambda() {
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|level| EnvFilter::try_new(level.to_lowercase()).ok())
        .unwrap_or_else(|| EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(filter)
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .init();
}

/// Human-readable logs on stderr, filtered by `RUST_LOG`, `info` by default.
pub fn init_local() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
}
