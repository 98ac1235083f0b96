//! Lifecycle events as CloudWatch Embedded Metric Format lines. One test in this binary, so
//! its subscriber is the process's only one.

mod capture;

use capture::Capture;
use otp_shared::config::Policy;
use otp_shared::otp::{OtpError, OtpService, SendRequest, VerifyRequest};
use otp_shared::phone::PhoneNumber;
use otp_shared::secret::HashKey;
use otp_shared::sms::Inbox;
use otp_shared::store::MemoryStore;
use otp_shared::system::{OsRandom, SystemClock};
use otp_shared::telemetry::EmfLayer;
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::test]
async fn each_lifecycle_event_is_one_metric_line() {
    let lines = Capture::default();
    let writer = lines.clone();
    tracing_subscriber::registry().with(EmfLayer::new("OtpTest", move || writer.clone())).init();

    let policy = Policy { max_attempts: 1, ..Policy::default() };
    let key = HashKey::new(*b"0123456789abcdef0123456789abcdef").unwrap();
    let otp = OtpService::new(MemoryStore::new(), Inbox::new(), SystemClock, OsRandom, policy, key);
    let phone = PhoneNumber::parse("9876543219", "+91").unwrap();
    let send = SendRequest { subject: "alice", phone: &phone, client_ip: None };
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
        assert_eq!(directive["Dimensions"][0][0], "Event");
        assert_eq!(directive["Metrics"][0]["Name"], "Count");
        assert_eq!(metric["Count"], 1);
        assert!(metric["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    }
}
