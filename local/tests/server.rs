//! `otp-local` as a newcomer runs it: the binary started on a free port, a token minted by
//! its `token` command, and requests over real HTTP.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_otp-local");

/// A running `otp-local`, stopped when dropped.
struct Server {
    child: Child,
    base: String,
    state_dir: PathBuf,
    env: Vec<(&'static str, String)>,
    client: Client<HttpConnector, Full<Bytes>>,
}

struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: Value,
}

impl Server {
    fn start(name: &str, env: &[(&'static str, &str)]) -> Self {
        let state_dir =
            std::env::temp_dir().join(format!("otp-local-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state_dir);
        let env: Vec<_> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
        Self::spawn(state_dir, env)
    }

    /// The same server stopped and started again, with the same state directory.
    fn restart(mut self) -> Self {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (state_dir, env) = (self.state_dir.clone(), std::mem::take(&mut self.env));
        std::mem::forget(self); // its state directory lives on in the new one
        Self::spawn(state_dir, env)
    }

    fn spawn(state_dir: PathBuf, env: Vec<(&'static str, String)>) -> Self {
        let mut child = Command::new(BIN)
            .args(["--port", "0"])
            .env("OTP_LOCAL_STATE_DIR", &state_dir)
            .env_remove("JWT_SECRET")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("otp-local starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first_line = String::new();
        stdout.read_line(&mut first_line).unwrap();
        // Keep reading, as a terminal would, so the server never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let base = first_line
            .trim()
            .strip_prefix("otp-local listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
            .to_owned();
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { child, base, state_dir, env, client }
    }

    /// A token from `otp-local token`, run as a separate process with the same settings.
    fn token(&self, subject: &str) -> String {
        let output = Command::new(BIN)
            .args(["token", "--sub", subject])
            .env("OTP_LOCAL_STATE_DIR", &self.state_dir)
            .env_remove("JWT_SECRET")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    async fn send(&self, method: &str, path: &str, token: Option<&str>, body: String) -> Answer {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("user-jwt-token", token);
        }
        let response = self.client.request(request.body(Full::from(body)).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
        Answer { status: parts.status.as_u16(), headers: parts.headers, body }
    }

    /// A request naming `host` in its `Host` header.
    async fn send_with_host(&self, method: &str, path: &str, host: &str) -> Answer {
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("host", host)
            .body(Full::from(String::new()))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status: parts.status.as_u16(), headers: parts.headers, body }
    }

    /// A local action as a page would ask it: JSON, with `origin` (or none) in `Origin`.
    async fn local_action(&self, path: &str, origin: Option<&str>, body: Value) -> Answer {
        let mut request = hyper::Request::builder()
            .method("POST")
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let request = request.body(Full::from(body.to_string())).unwrap();
        let response = self.client.request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status: parts.status.as_u16(), headers: parts.headers, body }
    }

    /// The page or asset at `path`: its status, headers and text.
    async fn page(&self, path: &str) -> (u16, hyper::HeaderMap, String) {
        let uri = format!("{}{path}", self.base).parse().unwrap();
        let response = self.client.get(uri).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (parts.status.as_u16(), parts.headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send("POST", path, Some(token), body.to_string()).await
    }

    async fn inbox(&self) -> Vec<Value> {
        let answer = self.send("GET", "/_local/sms", None, String::new()).await;
        assert_eq!(answer.status, 200);
        answer.body.as_array().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

const REGISTER: &str = "/fe/users/auth/otp/register";
const VERIFY: &str = "/fe/users/auth/otp/verify";
const RESEND: &str = "/fe/users/auth/otp/resend";

/// Runs `command`, which must refuse to start: its standard error once it has exited with a
/// failure. A server that starts instead is stopped after 20 s and fails the test, rather
/// than holding it for ever.
fn refused_start(command: &mut Command) -> String {
    use std::io::Read;
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        pipe.read_to_string(&mut text).unwrap();
        text
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("started instead: {}", stderr.join().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!status.success(), "refused");
    stderr.join().unwrap()
}

fn phone() -> Value {
    json!({"phone_number": "9876543219", "countryCode": "+91"})
}

#[tokio::test]
async fn quickstart_register_read_inbox_verify() {
    let server = Server::start("quickstart", &[]);
    let token = server.token("alice");

    let registered = server.post(REGISTER, &token, phone()).await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    assert_eq!(registered.body["isNewUser"], json!(true));
    let auth_code = registered.body["authCode"].as_str().unwrap().to_owned();

    let inbox = server.inbox().await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["to"], "+919876543219");
    let text = inbox[0]["body"].as_str().unwrap();
    let code = text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).unwrap();

    let body = json!({"phone_number": "9876543219", "countryCode": "IN", "authCode": auth_code, "otp": code});
    let verified = server.post(VERIFY, &token, body.clone()).await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert_eq!(verified.body["message"], "Phone number verified successfully");
    assert!(verified.body["verificationToken"].is_string(), "otp-local signs a token");
    let replayed = server.post(VERIFY, &token, body).await;
    assert_eq!((replayed.status, replayed.body["code"].as_str()), (401, Some("OTP_ALREADY_USED")));
}

#[tokio::test]
async fn another_account_can_neither_spend_nor_replace_a_pending_code() {
    let server = Server::start("two-subjects", &[]);
    let (alice, mallory) = (server.token("alice"), server.token("mallory"));
    let none = json!({"phone_number": "9876543219", "countryCode": "+91", "authCode": "0000", "otp": "000000"});
    let probe = server.post(VERIFY, &mallory, none.clone()).await;
    assert_eq!((probe.status, probe.body["code"].as_str()), (401, Some("OTP_NOT_FOUND")));

    let registered = server.post(REGISTER, &alice, phone()).await;
    let auth_code = registered.body["authCode"].as_str().unwrap().to_owned();
    let text = server.inbox().await[0]["body"].as_str().unwrap().to_owned();
    let code = text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).unwrap().to_owned();
    let probe = server.post(VERIFY, &mallory, none).await;
    assert_eq!(
        (probe.status, probe.body["code"].as_str()),
        (401, Some("OTP_NOT_FOUND")),
        "same answer"
    );
    let theirs = server.post(REGISTER, &mallory, phone()).await;
    assert_eq!(theirs.status, 200, "mallory's own code, no cooldown shared");

    let body = json!({"phone_number": "9876543219", "countryCode": "+91", "authCode": auth_code, "otp": code});
    let stolen = server.post(VERIFY, &mallory, body.clone()).await;
    assert_eq!((stolen.status, stolen.body["code"].as_str()), (401, Some("INVALID_OTP")));
    let verified = server.post(VERIFY, &alice, body).await;
    assert_eq!(verified.status, 200, "{}", verified.body);
}

#[tokio::test]
async fn tokens_from_another_secret_are_refused() {
    let server = Server::start("secret", &[]);
    let other = Server::start("other-secret", &[]);
    let foreign = other.token("alice");
    for path in [REGISTER, VERIFY, RESEND] {
        let answer = server.post(path, &foreign, phone()).await;
        assert_eq!((answer.status, answer.body["code"].as_str()), (401, Some("UN_AUTHORIZED")));
        let missing = server.send("POST", path, None, phone().to_string()).await;
        assert_eq!(missing.status, 401);
    }
    assert!(server.inbox().await.is_empty());
}

#[tokio::test]
async fn limits_come_from_the_environment_and_the_peer_address() {
    let server = Server::start(
        "limits",
        &[("OTP_RESEND_COOLDOWN_SECONDS", "0"), ("OTP_MAX_SENDS_PER_IP_PER_HOUR", "2")],
    );
    let (alice, bob) = (server.token("alice"), server.token("bob"));
    assert_eq!(server.post(REGISTER, &alice, phone()).await.status, 200);
    assert_eq!(server.post(RESEND, &alice, phone()).await.status, 200);
    let third = server.post(REGISTER, &bob, json!({"phone_number": "+14155550123"})).await;
    assert_eq!((third.status, third.body["code"].as_str()), (429, Some("RATE_LIMITED")));
    let retry_after: u64 = third.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry_after));
    assert_eq!(server.inbox().await.len(), 2);
}

#[tokio::test]
async fn unknown_paths_wrong_methods_and_huge_bodies_get_json_errors() {
    let server = Server::start("errors", &[]);
    let token = server.token("alice");
    let unknown = server.post("/nope", &token, phone()).await;
    assert_eq!((unknown.status, unknown.body["code"].as_str()), (404, Some("NOT_FOUND")));
    let get = server.send("GET", REGISTER, Some(&token), String::new()).await;
    assert_eq!((get.status, get.body["code"].as_str()), (405, Some("METHOD_NOT_ALLOWED")));
    // One byte over the limit, so that the client has written it all before the server
    // answers and closes (a body still being written when it closes is a broken pipe).
    let over = "x".repeat(otp_shared::http::MAX_BODY_BYTES + 1);
    let huge = server.send("POST", REGISTER, Some(&token), over).await;
    assert_eq!((huge.status, huge.body["code"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")));
    let broken = server.send("POST", REGISTER, Some(&token), "{\"phone_number\":".into()).await;
    assert_eq!((broken.status, broken.body["code"].as_str()), (400, Some("INVALID_REQUEST")));
}

#[tokio::test]
async fn requests_naming_another_host_are_refused() {
    let server = Server::start("host", &[]);
    let token = server.token("alice");
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let inbox = server.send_with_host("GET", "/_local/sms", &host).await;
        assert_eq!(inbox.status, 200, "{host}");
    }
    for host in [format!("attacker.example:{port}"), "127.0.0.1:1".to_owned()] {
        for path in ["/_local/sms", REGISTER] {
            let refused = server.send_with_host("GET", path, &host).await;
            let code = refused.body["code"].as_str();
            assert_eq!((refused.status, code), (421, Some("MISDIRECTED_REQUEST")), "{host}{path}");
        }
    }
    let verify = server.post(REGISTER, &token, phone()).await;
    assert_eq!(verify.status, 200, "its own address is served");
}

#[tokio::test]
async fn the_verification_key_is_served_as_a_jwks_and_kept_across_restarts() {
    let first = Server::start("jwks", &[]);
    let jwks = first.send("GET", "/_local/jwks.json", None, String::new()).await;
    assert_eq!(jwks.status, 200);
    let key = &jwks.body["keys"][0];
    assert_eq!((key["kty"].as_str(), key["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
    assert!(key.get("d").is_none(), "the public key only");
    let kid = key["kid"].as_str().unwrap().to_owned();
    let again = first.restart();
    let jwks = again.send("GET", "/_local/jwks.json", None, String::new()).await;
    assert_eq!(jwks.body["keys"][0]["kid"], kid.as_str());
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let server = Server::start("openapi", &[]);
    let uri = format!("{}/_local/openapi.yaml", server.base).parse().unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client.get(uri).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/yaml");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, include_str!("../../openapi.yaml").as_bytes());
}

#[tokio::test]
async fn the_inbox_holds_the_localized_autofill_ready_text_with_its_locale_and_segments() {
    let server = Server::start(
        "sms",
        &[
            ("OTP_RESEND_COOLDOWN_SECONDS", "0"),
            ("SMS_APP_NAME", "Acme"),
            ("SMS_WEBOTP_DOMAIN", "app.example.com"),
            ("SMS_ANDROID_APP_HASH", "FA+9qCX9VSu"),
            ("SMS_DEFAULT_LOCALES", "BR:pt"),
            ("SMS_LOCALES", "en,es,pt"),
        ],
    );
    let token = server.token("alice");
    let spanish = json!({"phone_number": "9876543219", "countryCode": "+91", "locale": "es-MX"});
    assert_eq!(server.post(REGISTER, &token, spanish).await.status, 200);
    let brazil = json!({"phone_number": "11987654321", "countryCode": "BR"});
    assert_eq!(server.post(REGISTER, &token, brazil).await.status, 200);
    let unknown = json!({"phone_number": "4155550142", "countryCode": "US", "locale": "xx"});
    assert_eq!(server.post(RESEND, &token, unknown).await.status, 200);

    let inbox = server.inbox().await;
    let locales: Vec<_> = inbox.iter().map(|sms| sms["locale"].as_str().unwrap()).collect();
    assert_eq!(locales, ["es", "pt", "en"], "asked for, country default, fallback");
    for sms in &inbox {
        let text = sms["body"].as_str().unwrap();
        let code = &text[..6];
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "code first: {text}");
        assert!(text.contains("Acme"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[lines.len() - 3..],
            ["FA+9qCX9VSu", "", &format!("@app.example.com #{code}")]
        );
        assert_eq!(sms["segments"], 1);
    }
    assert!(inbox[0]["body"].as_str().unwrap().contains("codigo de verificacion de Acme"));

    let bad =
        server.post(REGISTER, &token, json!({"phone_number": "9876543219", "locale": 7})).await;
    assert_eq!((bad.status, bad.body["code"].as_str()), (400, Some("INVALID_REQUEST")));
}

#[tokio::test]
async fn a_pumping_campaign_is_paused_by_the_breaker_and_real_users_are_not() {
    let server = Server::start(
        "pumping",
        &[
            ("OTP_RESEND_COOLDOWN_SECONDS", "0"),
            ("OTP_MAX_SENDS_PER_PHONE_PER_HOUR", "0"),
            ("OTP_MAX_SENDS_PER_SUBJECT_PER_HOUR", "0"),
            ("OTP_MAX_SENDS_PER_IP_PER_HOUR", "0"),
        ],
    );
    let (mut pumped_sent, mut throttled, mut real_refused) = (0, 0, 0);
    for n in 0..30u32 {
        let pump = server.token(&format!("pump-{n}"));
        let number = json!({"phone_number": format!("+9170000{:05}", 10_000 + n)});
        let answer = server.post(REGISTER, &pump, number).await;
        match (answer.status, answer.body["code"].as_str()) {
            (200, _) => pumped_sent += 1,
            (429, Some("DESTINATION_THROTTLED")) => {
                let retry_after: u64 =
                    answer.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((3500..=3600).contains(&retry_after), "{retry_after}");
                throttled += 1;
            }
            other => panic!("pumped send {n}: {other:?}"),
        }
        if n.is_multiple_of(3) {
            let user = server.token(&format!("user-{n}"));
            let phone = format!("+9198765{:05}", 10_000 + n);
            let registered = server.post(REGISTER, &user, json!({"phone_number": phone})).await;
            if registered.status != 200 {
                real_refused += 1;
                continue;
            }
            let sms =
                server.inbox().await.into_iter().rev().find(|sms| sms["to"] == phone.as_str());
            let text = sms.unwrap()["body"].as_str().unwrap().to_owned();
            let auth_code = registered.body["authCode"].as_str().unwrap();
            let body = json!({"phone_number": phone, "authCode": auth_code, "otp": &text[..6]});
            assert_eq!(server.post(VERIFY, &user, body).await.status, 200);
        }
    }
    assert_eq!((pumped_sent, throttled, real_refused), (20, 10, 0));
}

#[test]
fn a_message_that_would_take_two_segments_stops_the_start_naming_its_locale() {
    let mut command = Command::new(BIN);
    command
        .args(["--port", "0"])
        .env("OTP_LOCAL_STATE_DIR", std::env::temp_dir().join("otp-local-two-segments"))
        .env("SMS_WEBOTP_DOMAIN", "app.example.com")
        .env("SMS_LOCALES", "hi");
    let stderr = refused_start(&mut command);
    assert!(
        stderr.contains("the hi message") && stderr.contains("SMS_ALLOW_MULTIPART"),
        "{stderr}"
    );
}

#[test]
fn configuration_errors_name_the_variable() {
    let mut command = Command::new(BIN);
    command
        .args(["--port", "0"])
        .env("OTP_LOCAL_STATE_DIR", std::env::temp_dir().join("otp-local-config-error"))
        .env("OTP_LENGTH", "12");
    let stderr = refused_start(&mut command);
    assert!(stderr.contains("OTP_LENGTH"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    assert!(stderr.starts_with("otp-local: OTP_LENGTH is invalid"), "not Rust's Debug: {stderr}");
}

#[tokio::test]
async fn the_state_directory_and_its_files_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start("private-state", &[]);
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode(&server.state_dir) & 0o777, 0o700, "the directory");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&server.state_dir).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(mode(&entry.path()) & 0o777, 0o600, "{:?}", entry.file_name());
        names.push(entry.file_name().into_string().unwrap());
    }
    names.sort();
    assert_eq!(names, ["jwt-secret", "verification-key.pem"], "no temporary file is left");
}

#[test]
fn a_kept_secret_that_others_can_read_stops_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let state_dir = std::env::temp_dir().join(format!("otp-local-exposed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir).unwrap();
    let secret = state_dir.join("jwt-secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stderr = refused_start(
        Command::new(BIN)
            .args(["--port", "0"])
            .env("OTP_LOCAL_STATE_DIR", &state_dir)
            .env_remove("JWT_SECRET"),
    );
    let dir_mode = std::fs::metadata(&state_dir).unwrap().permissions().mode() & 0o777;
    let _ = std::fs::remove_dir_all(&state_dir);
    assert!(stderr.contains("jwt-secret") && stderr.contains("chmod 600"), "{stderr}");
    assert_eq!(dir_mode, 0o700, "a directory others could enter is closed");
}

#[test]
fn web_autofill_alone_starts_and_names_the_built_in_languages_it_leaves_out() {
    let state_dir = std::env::temp_dir().join(format!("otp-local-webotp-{}", std::process::id()));
    let mut child = Command::new(BIN)
        .args(["--port", "0"])
        .env("OTP_LOCAL_STATE_DIR", &state_dir)
        .env_remove("JWT_SECRET")
        .env_remove("SMS_LOCALES")
        .env("SMS_WEBOTP_DOMAIN", "app.example.com")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first_line).unwrap();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&state_dir);
    assert!(first_line.starts_with("otp-local listening on "), "started: {first_line:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for locale in ["ar", "hi"] {
        let warned = stderr
            .lines()
            .any(|line| line.contains("WARN") && line.contains(&format!("the {locale} message")));
        assert!(warned, "a warning names {locale}: {stderr}");
    }
}

#[test]
fn settings_only_the_functions_read_are_checked_here_too() {
    let start = |name: &str, value: &str| {
        let mut command = Command::new(BIN);
        command
            .args(["--port", "0"])
            .env("OTP_LOCAL_STATE_DIR", std::env::temp_dir().join("otp-local-aws-settings"))
            .env(name, value);
        refused_start(&mut command)
    };
    let senders = start("SMS_SENDERS", "US:origination_number=abc");
    assert!(senders.starts_with("otp-local: SMS_SENDERS is invalid"), "{senders}");
    let price = start("SMS_MAX_PRICE_USD", "lots");
    assert!(price.starts_with("otp-local: SMS_MAX_PRICE_USD is invalid"), "{price}");
    let warm = start("OTP_WARM_CLIENTS", "maybe");
    assert!(warm.contains("OTP_WARM_CLIENTS"), "{warm}");
    let reference = start("JWT_SECRET_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:x");
    assert!(reference.contains("JWT_SECRET_SECRET_ARN") && reference.contains("set JWT_SECRET"));
}

#[tokio::test]
async fn the_console_and_the_demo_page_are_served_under_a_strict_policy() {
    let server = Server::start("pages", &[]);
    for path in ["/", "/_local/demo", "/_local/assets/console.js", "/_local/assets/style.css"] {
        let (status, headers, text) = server.page(path).await;
        assert_eq!(status, 200, "{path}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none'; script-src 'self';"), "{path}: {policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(!text.is_empty());
    }
    let (status, _, _) = server.page("/_local/assets/nope.js").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_console_feed_shows_each_audit_event_with_its_figures() {
    let server = Server::start("feed", &[]);
    let token = server.token("alice");
    assert_eq!(server.post(REGISTER, &token, phone()).await.status, 200);
    let feed = server.send("GET", "/_local/events?after=0", None, String::new()).await;
    let events = feed.body.as_array().unwrap();
    let sent = events.iter().find(|event| event["fields"]["event"] == "otp.sent").expect("sent");
    assert_eq!(sent["fields"]["endpoint"], REGISTER);
    assert_eq!(sent["fields"]["segments"], 1);
    assert!(!sent.to_string().contains("9876543219"), "the phone is masked: {sent}");
    let last = events.last().unwrap()["seq"].as_u64().unwrap();
    let after = format!("/_local/events?after={last}");
    let later = server.send("GET", &after, None, String::new()).await;
    assert_eq!(later.body, json!([]));
}

#[tokio::test]
async fn reset_and_minting_answer_only_the_servers_own_pages() {
    let server = Server::start("reset", &[]);
    let own = server.base.clone();
    for origin in [None, Some("http://attacker.example"), Some("null")] {
        for path in ["/_local/reset", "/_local/token"] {
            let refused = server.local_action(path, origin, json!({"sub": "mallory"})).await;
            let code = refused.body["code"].as_str();
            assert_eq!(
                (refused.status, code),
                (403, Some("CROSS_ORIGIN")),
                "{path} from {origin:?}"
            );
        }
    }
    let minted = server.local_action("/_local/token", Some(&own), json!({"sub": "alice"})).await;
    assert_eq!(minted.status, 200);
    let token = minted.body["token"].as_str().unwrap().to_owned();
    let sent = server.post(REGISTER, &token, phone()).await;
    assert_eq!(sent.status, 200, "a minted token is accepted");
    let code = sent.body["authCode"].as_str().unwrap().to_owned();
    assert_eq!(server.inbox().await.len(), 1);
    let reset = server.local_action("/_local/reset", Some(&own), json!({})).await;
    assert_eq!(reset.status, 200);
    assert!(server.inbox().await.is_empty(), "the inbox is cleared");
    let body = json!({"phone_number": "9876543219", "countryCode": "+91", "authCode": code, "otp": "000000"});
    let verify = server.post(VERIFY, &token, body).await;
    assert_eq!(verify.body["code"], "OTP_NOT_FOUND", "the store is cleared: {}", verify.body);
    let unnamed = server.local_action("/_local/token", Some(&own), json!({})).await;
    assert_eq!((unnamed.status, unnamed.body["code"].as_str()), (400, Some("INVALID_REQUEST")));
}

#[tokio::test]
async fn the_pages_mint_no_token_with_a_secret_given_in_the_environment() {
    let secret = "a-secret-shared-with-other-services-0123456789";
    let server = Server::start("own-secret", &[("JWT_SECRET", secret)]);
    let own = server.base.clone();
    let minted = server.local_action("/_local/token", Some(&own), json!({"sub": "admin"})).await;
    assert_eq!((minted.status, minted.body["code"].as_str()), (404, Some("NOT_FOUND")));
    let token = server.token("alice");
    assert_eq!(server.post(REGISTER, &token, phone()).await.status, 200, "the CLI still mints");
}

#[test]
fn a_kept_secret_that_is_a_symbolic_link_stops_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let base = std::env::temp_dir().join(format!("otp-local-linked-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let state_dir = base.join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A private file of the user's own, planted as the secret: never read through the link.
    let elsewhere = base.join("elsewhere");
    std::fs::write(&elsewhere, "0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, state_dir.join("jwt-secret")).unwrap();
    let stderr = refused_start(
        Command::new(BIN)
            .args(["--port", "0"])
            .env("OTP_LOCAL_STATE_DIR", &state_dir)
            .env_remove("JWT_SECRET"),
    );
    let _ = std::fs::remove_dir_all(&base);
    assert!(stderr.contains("jwt-secret") && stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
}
