//! Arbitrary request bodies, with a valid token, through the HTTP layer of every endpoint:
//! never a panic, never a 5xx, always a JSON object.
#![no_main]

use std::sync::OnceLock;

use lambda_http::Body;
use libfuzzer_sys::fuzz_target;
use otp_shared::http::Endpoint;
use otp_shared::jwt::{self, JwtSettings};
use otp_shared::otp::Policy;
use otp_testkit::keys::SECRET;
use otp_testkit::{START, TestApi, events};

struct Harness {
    runtime: tokio::runtime::Runtime,
    api: TestApi,
    token: String,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let settings = JwtSettings::with_secret(SECRET);
        let api = otp_testkit::api().jwt(settings.clone()).policy(Policy::without_send_limits());
        let api = runtime.block_on(api.build());
        // Valid for a century of wall-clock time: the JWT check reads the system clock.
        let token = jwt::mint(&settings, "fuzz", START, 3_153_600_000).unwrap();
        Harness { runtime, api, token }
    })
}

fuzz_target!(|input: (u8, &[u8])| {
    let (which, body) = input;
    let harness = harness();
    let endpoint = Endpoint::ALL[usize::from(which) % Endpoint::ALL.len()];
    let mut request = events::register().token(&harness.token).request();
    *request.body_mut() = Body::Binary(body.to_vec());
    let response = harness.runtime.block_on(harness.api.handle(endpoint, request)).unwrap();
    assert!(response.status().as_u16() < 500, "status {}", response.status());
    let json: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert!(json.is_object());
});
