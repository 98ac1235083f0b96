//! Arbitrary request bodies, with a valid token, through the HTTP layer of every endpoint:
//! never a panic, never a 5xx, always a JSON object.
#![no_main]

use std::sync::{Arc, OnceLock};

use lambda_http::Body;
use libfuzzer_sys::fuzz_target;
use otp_shared::config::{JwtSettings, Policy};
use otp_shared::http::{Api, Endpoint, TOKEN_HEADER};
use otp_shared::jwt::{self, JwtVerifier};
use otp_shared::otp::OtpService;
use otp_shared::secret::HashKey;
use otp_shared::sms::Inbox;
use otp_shared::store::MemoryStore;
use otp_shared::system::{ManualClock, OsRandom};

const REGISTER: &str = include_str!("../../events/register.json");
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const NOW: u64 = 1_795_833_600;

type FuzzApi = Api<MemoryStore, Arc<Inbox>, ManualClock, OsRandom>;

struct Harness {
    runtime: tokio::runtime::Runtime,
    api: FuzzApi,
    token: String,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let settings = JwtSettings::with_secret(SECRET);
        let jwt = runtime.block_on(JwtVerifier::new(&settings)).unwrap();
        let policy = Policy::without_send_limits();
        let otp = OtpService::new(
            MemoryStore::new(),
            Arc::new(Inbox::new()),
            ManualClock::new(NOW),
            OsRandom,
            policy,
            HashKey::new(SECRET).unwrap(),
        );
        // Valid for a century of wall-clock time: the JWT check reads the system clock.
        let token = jwt::mint(&settings, "fuzz", NOW, 3_153_600_000).unwrap();
        Harness { runtime, api: Api::new(jwt, otp), token }
    })
}

fuzz_target!(|input: (u8, &[u8])| {
    let (which, body) = input;
    let harness = harness();
    let endpoint = Endpoint::ALL[usize::from(which) % Endpoint::ALL.len()];
    let mut request = lambda_http::request::from_str(REGISTER).unwrap();
    *request.body_mut() = Body::Binary(body.to_vec());
    request.headers_mut().insert(TOKEN_HEADER, harness.token.parse().unwrap());
    let response = harness.runtime.block_on(harness.api.handle(endpoint, request)).unwrap();
    assert!(response.status().as_u16() < 500, "status {}", response.status());
    let json: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert!(json.is_object());
});
