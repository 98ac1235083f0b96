//! What the logs and the metrics say. Each test installs its subscriber for its own thread
//! only (`otp_testkit::scoped_subscriber`; `#[tokio::test]` polls everything on that
//! thread), so tests of the binary run side by side without seeing each other's lines.

use otp_shared::aws::api_from_lookup;
use otp_shared::http::Endpoint;
use otp_shared::otp::{OtpError, Policy, SendRequest, VerifyRequest};
use otp_shared::phone::PhoneNumber;
use otp_shared::sms::Inbox;
use otp_shared::telemetry::{EmfLayer, lambda_subscriber, log_level};
use otp_testkit::events::example_env_with;
use otp_testkit::moto::{fresh_table, sdk, sent_sms};
use otp_testkit::{Capture, api, call, code_in, events, service};
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn logs_carry_events_but_no_code_token_or_full_phone() {
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .without_time() // so no digits of a timestamp can match a code by chance
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _default = otp_testkit::scoped_subscriber(subscriber);

    let inbox = Inbox::new();
    let api = api().sender(inbox.clone()).build().await;
    let registered = call(&api, Endpoint::Register, events::register().request()).await;
    let auth_code = registered.body["authCode"].as_str().unwrap().to_owned();
    let code = code_in(&inbox.messages()[0].body, 6);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for otp in [wrong, code.as_str()] {
        let body = json!({
            "phone_number": "9876543219", "countryCode": "+91", "authCode": auth_code, "otp": otp
        });
        call(&api, Endpoint::Verify, events::verify().body(body).request()).await;
    }
    call(&api, Endpoint::Register, events::bad_token().request()).await;

    let text = logs.text();
    for event in ["otp.sent", "otp.failed", "otp.verified", "auth.refused"] {
        assert!(text.contains(event), "{event} is logged:\n{text}");
    }
    let token = events::register().token_value();
    let signature = token.rsplit('.').next().unwrap().to_owned();
    for secret in [code.as_str(), auth_code.as_str(), "9876543219", signature.as_str(), "alice"] {
        assert!(!text.contains(secret), "{secret} leaked into the logs:\n{text}");
    }
    for line in text.lines().filter(|line| line.contains("\"event\":\"otp.")) {
        let line: Value = serde_json::from_str(line).unwrap();
        let audit = &line["span"];
        assert_eq!(audit["phone"], "+91*******219", "{line}");
        assert_eq!(audit["country"], "IN", "{line}");
        let subject = audit["subject"].as_str().unwrap();
        assert!(subject.len() == 16 && subject.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
        let request_id = line["spans"][0]["request_id"].as_str().unwrap();
        assert!(!request_id.is_empty(), "{line}");
    }
}

#[tokio::test]
async fn each_lifecycle_event_is_one_metric_line() {
    let lines = Capture::default();
    let writer = lines.clone();
    let subscriber =
        tracing_subscriber::registry().with(EmfLayer::new("OtpTest", move || writer.clone()));
    let _default = otp_testkit::scoped_subscriber(subscriber);

    let otp = service().policy(Policy { max_attempts: 1, ..Policy::default() }).build();
    let phone = PhoneNumber::parse("9876543219", "+91").unwrap();
    let send = SendRequest { subject: "alice", phone: &phone, client_ip: None, locales: &[] };
    let sent = otp.send_code(send).await.unwrap();
    assert!(matches!(otp.send_code(send).await, Err(OtpError::RateLimited { .. })));
    let verify =
        VerifyRequest { subject: "alice", phone: &phone, auth_code: &sent.auth_code, code: "x" };
    assert!(otp.verify_code(verify).await.is_err());
    tracing::info!(event = "auth.refused", "not a lifecycle event");

    let text = lines.text();
    let metrics: Vec<Value> =
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let events: Vec<&str> = metrics.iter().map(|m| m["Event"].as_str().unwrap()).collect();
    assert_eq!(events, ["otp.sent", "otp.rate_limited", "otp.locked"]);
    for metric in &metrics {
        let directive = &metric["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "OtpTest");
        assert_eq!(directive["Dimensions"][0], json!(["Event"]));
        assert_eq!(directive["Dimensions"][1], json!(["Event", "Country"]), "{metric}");
        assert_eq!(metric["Country"], "IN", "the phone's country, from the audit span");
        assert_eq!(directive["Metrics"][0]["Name"], "Count");
        assert_eq!(metric["Count"], 1);
        assert!(metric["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    }
    let limited = &metrics[1];
    assert_eq!(limited["Rule"], "cooldown");
    assert_eq!(limited["_aws"]["CloudWatchMetrics"][0]["Dimensions"][2], json!(["Event", "Rule"]));
    assert!(metrics[0].get("Rule").is_none(), "a send names no rule");
}

/// What a function writes at `level` (as `AWS_LAMBDA_LOG_LEVEL` names it) while serving a
/// register, a wrong code, the right code and a forged token over moto: (logs, metrics).
async fn a_function_at(level: &str) -> (String, String, Vec<String>) {
    let (logs, metrics) = (Capture::default(), Capture::default());
    let (log_writer, metric_writer) = (logs.clone(), metrics.clone());
    let subscriber = lambda_subscriber(
        log_level(Some(level), None),
        move || log_writer.clone(),
        move || metric_writer.clone(),
        "OtpTest",
    );
    let _default = otp_testkit::scoped_subscriber(subscriber);
    // What the runtime and the SDK write at TRACE, had they the chance: raw events and
    // request bodies.
    tracing::trace!(target: "lambda_runtime::layers::api_client", "raw event 9876543219");
    tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "body PhoneNumber=%2B919876543219");

    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let env = example_env_with(&[("TABLE_NAME", &table)]);
    let api = api_from_lookup(&env, &sdk).await.unwrap();
    let phone = json!({"phone_number": "4155550177", "countryCode": "US"});
    let registered = call(&api, Endpoint::Register, events::register().body(phone).request()).await;
    let auth_code = registered.body["authCode"].as_str().unwrap().to_owned();
    let code = code_in(sent_sms("+14155550177").await.last().unwrap(), 6);
    for otp in [otp_testkit::wrong(&code), code.clone()] {
        let body = json!({"phone_number": "+14155550177", "authCode": auth_code, "otp": otp});
        call(&api, Endpoint::Verify, events::verify().body(body).request()).await;
    }
    call(&api, Endpoint::Register, events::bad_token().request()).await;
    let token = events::register().token_value();
    let secrets = vec![code, auth_code, "4155550177".to_owned(), token, "alice".to_owned()];
    (logs.text(), metrics.text(), secrets)
}

#[tokio::test]
async fn at_every_level_audit_events_and_metrics_are_written_and_no_secret_or_body() {
    for level in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] {
        let (logs, metrics, secrets) = a_function_at(level).await;
        for event in ["otp.sent", "otp.failed", "otp.verified", "auth.refused"] {
            assert!(logs.contains(event), "{level}: {event} is logged:\n{logs}");
        }
        let emitted: Vec<Value> =
            metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let names: Vec<&str> = emitted.iter().filter_map(|m| m["Event"].as_str()).collect();
        assert_eq!(names, ["otp.sent", "otp.failed", "otp.verified"], "{level}: metrics");
        for secret in &secrets {
            assert!(!contains_whole(&logs, secret), "{level}: a secret leaked:\n{logs}");
        }
        let signature = secrets[3].rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "{level}: the token's signature leaked");
        assert!(!logs.contains("raw event") && !logs.contains("PhoneNumber="), "{level}: {logs}");
        assert!(!logs.contains("+14155550177"), "{level}: a full number leaked");
        let sdk_debug =
            logs.lines().any(|line| line.contains("aws_smithy") || line.contains("send_operation"));
        if level == "INFO" || level == "WARN" || level == "FATAL" {
            assert!(!sdk_debug, "{level}: no SDK chatter");
        }
    }
}

/// Whether `text` holds `secret` other than inside a longer run of digits: a 4-digit
/// `authCode` is found in any log with enough random ids and timings, but only standing
/// alone is it the code.
fn contains_whole(text: &str, secret: &str) -> bool {
    text.match_indices(secret).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + secret.len()..].chars().next();
        let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
        !(secret.bytes().all(|b| b.is_ascii_digit()) && (digit(before) || digit(after)))
    })
}

#[test]
fn lambda_log_levels_are_read_from_lambda_then_rust_log() {
    use tracing::level_filters::LevelFilter;
    assert_eq!(log_level(Some("FATAL"), Some("debug")), LevelFilter::OFF);
    assert_eq!(log_level(Some("TRACE"), None), LevelFilter::TRACE);
    assert_eq!(log_level(None, Some("warn")), LevelFilter::WARN);
    assert_eq!(log_level(None, Some("otp_shared=debug")), LevelFilter::INFO, "not a plain level");
    assert_eq!(log_level(Some("nonsense"), None), LevelFilter::INFO);
}

#[test]
fn a_start_error_is_one_sentence_with_its_causes() {
    use otp_shared::config::ConfigError;
    use otp_shared::telemetry::sentence;
    let invalid = ConfigError::Invalid { name: "SMS_LOCALES", reason: "too long".into() };
    assert_eq!(sentence(&invalid), "SMS_LOCALES is invalid: too long");
    #[derive(Debug, thiserror::Error)]
    #[error("the secret could not be read")]
    struct Wrapped(#[source] std::io::Error);
    let wrapped = Wrapped(std::io::Error::other("access denied"));
    assert_eq!(sentence(&wrapped), "the secret could not be read: access denied");
}
