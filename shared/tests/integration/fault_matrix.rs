//! Every fault on every AWS call of every endpoint, through the API the functions run, over
//! the SDK clients they build, against moto behind the fault-injecting proxy
//! (`scripts/harness/fault_proxy.py`). For each: the answer is a JSON 503 with `Retry-After`, what
//! is left behind is consistent, and afterwards the same user registers, verifies and
//! resends as if nothing had happened, on the same API.
//!
//! The matrix it observes is docs/operating.md's ("When DynamoDB or SNS fail"); the test
//! fails when the two differ. `FAULT_MATRIX_WRITE=1` writes the observed one into
//! docs/operating.md instead.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::http::StatusCode;
use otp_shared::aws::{AwsApi, api_from_lookup};
use otp_shared::http::Endpoint;
use otp_shared::otp::ports::Clock;
use otp_shared::system::SystemClock;
use otp_testkit::events::{self, Event, example_env_with, example_settings};
use otp_testkit::moto::{FaultProxy, fresh_table};
use otp_testkit::{Answer, call, code_in};
use serde_json::json;

const DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operating.md");
const START: &str = "<!-- fault-matrix:start -->";
const END: &str = "<!-- fault-matrix:end -->";

/// How long a `delay` fault holds the one call it holds: past every attempt timeout, so
/// the SDK gives up on it (and retries, where it does) while the call still reaches moto.
const DELAY_SECONDS: f64 = 3.5;

const DYNAMODB_FAULTS: [&str; 7] = [
    "throttling",
    "provisioned_throughput_exceeded",
    "internal_server_error",
    "service_unavailable",
    "reset",
    "delay",
    "lost",
];
const SNS_FAULTS: [&str; 5] = ["throttling", "internal_error", "reset", "delay", "lost"];

/// One cell: a fault on one call of one endpoint.
struct Cell {
    endpoint: Endpoint,
    operation: &'static str,
    fault: &'static str,
}

fn cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    // A send reads the phone's record and the breaker's tallies (BatchGetItem), reserves
    // (TransactWriteItems), sends (Publish) and tallies the send (UpdateItem); a check
    // consumes (TransactWriteItems) and tallies the verification (UpdateItem). The breaker's
    // trip (UpdateItem) happens only on a refused send, outside these paths; the take-back after
    // a failed SMS (UpdateItem or DeleteItem) in the `SNS:Publish` rows.
    for endpoint in [Endpoint::Register, Endpoint::Resend] {
        for operation in ["DynamoDB:BatchGetItem", "DynamoDB:TransactWriteItems"] {
            cells.extend(DYNAMODB_FAULTS.map(|fault| Cell { endpoint, operation, fault }));
        }
        let operation = "SNS:Publish";
        cells.extend(SNS_FAULTS.map(|fault| Cell { endpoint, operation, fault }));
        let operation = "DynamoDB:UpdateItem";
        cells.extend(DYNAMODB_FAULTS.map(|fault| Cell { endpoint, operation, fault }));
    }
    for operation in ["DynamoDB:TransactWriteItems", "DynamoDB:UpdateItem"] {
        let endpoint = Endpoint::Verify;
        cells.extend(DYNAMODB_FAULTS.map(|fault| Cell { endpoint, operation, fault }));
    }
    cells
}

/// One user's phone and token, on a table of its own.
struct User {
    api: AwsApi,
    proxy: FaultProxy,
    table: String,
    phone: String,
    token: String,
}

impl User {
    async fn new(proxy: &FaultProxy, n: usize) -> Self {
        let table = fresh_table(&proxy.direct_sdk().await).await;
        let env = example_env_with(&[("TABLE_NAME", &table), ("OTP_RESEND_COOLDOWN_SECONDS", "0")]);
        let api = api_from_lookup(&env, &proxy.sdk().await).await.unwrap();
        let subject = format!("fault-user-{n}");
        let token =
            otp_shared::jwt::mint(&example_settings().jwt, &subject, SystemClock.now(), 3600)
                .unwrap();
        let phone = format!("+1415555{:04}", 3000 + n);
        Self { api, proxy: proxy.clone(), table, phone, token }
    }

    async fn send(&self, endpoint: Endpoint, event: Event) -> Answer {
        let body = json!({"phone_number": self.phone});
        call(&self.api, endpoint, event.token(&self.token).body(body).request()).await
    }

    async fn register(&self) -> Answer {
        self.send(Endpoint::Register, events::register()).await
    }

    async fn verify(&self, auth_code: &str, code: &str) -> Answer {
        let body = json!({"phone_number": self.phone, "authCode": auth_code, "otp": code});
        call(&self.api, Endpoint::Verify, events::verify().token(&self.token).body(body).request())
            .await
    }

    async fn last_code(&self) -> String {
        code_in(self.sent_sms().await.last().expect("an SMS"), 6)
    }

    async fn sent_sms(&self) -> Vec<String> {
        self.proxy.sent_sms(&self.phone).await
    }

    /// The table's items by kind: `challenge`, `counter#phone`, `counter#failures`, ...
    async fn items(&self) -> HashMap<String, HashMap<String, AttributeValue>> {
        let client = aws_sdk_dynamodb::Client::new(&self.proxy.direct_sdk().await);
        let scan = client.scan().table_name(&self.table).send().await.unwrap();
        scan.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let pk = item["pk"].as_s().unwrap();
                let kind = match pk.split('#').collect::<Vec<_>>().as_slice() {
                    ["counter", kind, ..] => format!("counter#{kind}"),
                    [kind, ..] => (*kind).to_owned(),
                    [] => String::new(),
                };
                (kind, item)
            })
            .collect()
    }

    async fn number(&self, kind: &str, attribute: &str) -> u64 {
        let items = self.items().await;
        let value = items.get(kind).and_then(|item| item.get(attribute));
        value.and_then(|v| v.as_n().ok()).map_or(0, |n| n.parse().unwrap())
    }
}

/// The answer, in the matrix's words: a success, or a 503 with `Retry-After`.
fn answer_text(answer: &Answer) -> String {
    if answer.status == StatusCode::OK {
        return "200".to_owned();
    }
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{}", answer.body);
    assert!(answer.headers.contains_key("retry-after"), "Retry-After: {:?}", answer.headers);
    format!("503 {}", answer.code())
}

/// The id of the user's pending challenge, if any.
async fn challenge_id(user: &User) -> Option<String> {
    let items = user.items().await;
    items.get("challenge").and_then(|item| item["challenge_id"].as_s().ok()).cloned()
}

/// What a failed send left behind, in the matrix's words: for a resend, against the code
/// the register before it left (`earlier`) and what that register counted.
async fn after_send(
    user: &User,
    sms_before: usize,
    earlier: Option<&str>,
    counted_before: u64,
) -> String {
    let code = match (challenge_id(user).await, earlier) {
        (None, _) => "no code",
        (Some(now), Some(earlier)) if now == earlier => "the earlier code kept",
        (Some(_), _) => "a code left",
    };
    let counted = match user.number("counter#phone", "sends").await.saturating_sub(counted_before) {
        0 => "nothing counted".to_owned(),
        1 => "counted once".to_owned(),
        n => format!("counted {n} times"),
    };
    let sms = match user.sent_sms().await.len() - sms_before {
        0 => "no SMS",
        1 => "the SMS went out",
        _ => "two SMS went out",
    };
    format!("{code}, {counted}, {sms}")
}

/// What a failed check left behind, in the matrix's words.
async fn after_check(user: &User) -> String {
    let items = user.items().await;
    let challenge = &items["challenge"];
    let used = challenge["used"].as_bool().ok() == Some(&true);
    let attempts = user.number("challenge", "attempts").await;
    let failures = user.number("counter#failures", "sends").await;
    let verified = items.contains_key("verified");
    match (used, attempts, failures, verified) {
        (false, 0, 0, false) => "nothing counted; the code still verifies".to_owned(),
        (true, 1, 0, true) => "the code is used and the phone verified".to_owned(),
        other => format!("unexpected state {other:?}"),
    }
}

/// Waits until the call a `delay` fault held has reached moto.
async fn settle(fault: &str) {
    if fault == "delay" {
        tokio::time::sleep(Duration::from_secs_f64(DELAY_SECONDS + 0.5)).await;
    }
}

async fn run(cell: &Cell, proxy: &FaultProxy, n: usize) -> String {
    let user = User::new(proxy, n).await;
    // A delay holds one call; every other fault holds every call, as a dependency that is
    // down would.
    let (delay, count) = match cell.fault {
        "delay" => (Some(DELAY_SECONDS), Some(1)),
        _ => (None, None),
    };
    let (answer, afterwards) = if cell.endpoint == Endpoint::Verify {
        let registered = user.register().await;
        let auth_code = registered.body["authCode"].as_str().unwrap().to_owned();
        let code = user.last_code().await;
        proxy.fail(cell.operation, cell.fault, delay, count).await;
        let answer = user.verify(&auth_code, &code).await;
        proxy.clear().await;
        settle(cell.fault).await;
        let afterwards = after_check(&user).await;
        // The same code again: it verifies unless the failed request was applied.
        let again = user.verify(&auth_code, &code).await;
        let expected =
            if afterwards.starts_with("the code is used") { "OTP_ALREADY_USED" } else { "<none>" };
        assert_eq!(again.code(), expected, "{}", again.body);
        (answer, afterwards)
    } else {
        // A resend replaces the code a register sent: a failed one must leave that code
        // as it was.
        let earlier = match cell.endpoint {
            Endpoint::Resend => {
                let registered = user.register().await;
                assert_eq!(registered.status, StatusCode::OK, "{}", registered.body);
                let auth_code = registered.body["authCode"].as_str().unwrap().to_owned();
                Some((auth_code, user.last_code().await, challenge_id(&user).await.unwrap()))
            }
            _ => None,
        };
        let counted_before = user.number("counter#phone", "sends").await;
        let sms_before = user.sent_sms().await.len();
        let event =
            if cell.endpoint == Endpoint::Register { events::register() } else { events::resend() };
        proxy.fail(cell.operation, cell.fault, delay, count).await;
        let answer = user.send(cell.endpoint, event).await;
        proxy.clear().await;
        settle(cell.fault).await;
        let earlier_id = earlier.as_ref().map(|(_, _, id)| id.as_str());
        let afterwards = after_send(&user, sms_before, earlier_id, counted_before).await;
        let sent = answer.status == StatusCode::OK;
        let expected = match (sent, &earlier) {
            (true, _) => "a code left, counted once, the SMS went out",
            (false, None) => "no code",
            (false, Some(_)) => "the earlier code kept",
        };
        assert!(
            afterwards.starts_with(expected),
            "no new code is usable unless it was answered and its SMS went out, and a failed \
             send leaves the earlier code as it was: {afterwards}"
        );
        if let (false, Some((auth_code, code, _))) = (sent, &earlier) {
            let verified = user.verify(auth_code, code).await;
            assert_eq!(
                verified.status,
                StatusCode::OK,
                "the earlier code verifies: {}",
                verified.body
            );
        }
        (answer, afterwards)
    };
    let answer = answer_text(&answer);

    // The fault has cleared: the same user, on the same API, goes through as normal.
    let registered = user.register().await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.body);
    let auth_code = registered.body["authCode"].as_str().unwrap().to_owned();
    let verified = user.verify(&auth_code, &user.last_code().await).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let resent = user.send(Endpoint::Resend, events::resend()).await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.body);

    let endpoint = match cell.endpoint {
        Endpoint::Register => "register",
        Endpoint::Verify => "verify",
        Endpoint::Resend => "resend",
    };
    format!("| {endpoint} | `{}` | {} | {answer} | {afterwards} |", cell.operation, cell.fault)
}

#[tokio::test]
async fn every_fault_of_every_call_gets_a_503_leaves_nothing_inconsistent_and_clears() {
    let proxy = FaultProxy::from_env();
    proxy.clear().await;
    let mut rows = Vec::new();
    for (n, cell) in cells().iter().enumerate() {
        rows.push(run(cell, &proxy, n).await);
    }
    let table = format!(
        "| endpoint | failing call | fault | answer | afterwards |\n| --- | --- | --- | --- | --- |\n{}\n",
        rows.join("\n")
    );
    let document = std::fs::read_to_string(DOCUMENT).unwrap();
    let (before, rest) =
        document.split_once(START).expect("docs/operating.md has the fault matrix markers");
    let (documented, after) = rest.split_once(END).expect("the fault matrix end marker");
    let documented = documented.trim_start_matches('\n');
    if std::env::var_os("FAULT_MATRIX_WRITE").is_some() {
        std::fs::write(DOCUMENT, format!("{before}{START}\n{table}{END}{after}")).unwrap();
    } else {
        assert_eq!(
            documented, table,
            "docs/operating.md's fault matrix is not what the test observes; run \
             `make fault-matrix` to write the observed one, and check it"
        );
    }
}
