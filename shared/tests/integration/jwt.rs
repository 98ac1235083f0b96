//! Hostile and valid tokens against every key source, through the HTTP layer: each bad
//! token gets 401 UN_AUTHORIZED, and an identity provider that never served its keys a 503.
//! JWKS keys come from a real local HTTP server.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use otp_shared::config::Settings;
use otp_shared::http::Endpoint;
use otp_shared::jwt::{JwtSettings, JwtVerifier};
use otp_shared::otp::Policy;
use otp_shared::otp::ports::Clock;
use otp_shared::system::SystemClock;
use otp_testkit::keys::{
    ATTACKER_PRIVATE, EC_PRIVATE, EC_PUBLIC, ED_PRIVATE, ED_PUBLIC, RSA_PRIVATE, RSA_PUBLIC, SECRET,
};
use otp_testkit::{TestApi, call, events};
use serde_json::{Value, json};

fn now() -> u64 {
    SystemClock.now()
}

/// The issuer and audience every test configuration requires and `claims` carries.
const ISSUER: &str = "https://idp.example";
const AUDIENCE: &str = "otp-api";

/// The JWT settings of `pairs`, with [`ISSUER`] and [`AUDIENCE`] unless `pairs` names them.
fn jwt_settings(pairs: &[(&str, &str)]) -> JwtSettings {
    let defaults = [("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE)];
    let lookup = |name: &str| {
        let given = pairs.iter().find(|(k, _)| *k == name);
        given.or_else(|| defaults.iter().find(|(k, _)| *k == name)).map(|(_, v)| v.to_string())
    };
    JwtSettings::from_lookup(&lookup).unwrap()
}

/// The API with no send limits, so every accepted token gets 200.
fn api_with(jwt: JwtVerifier) -> TestApi {
    otp_testkit::api().policy(Policy::without_send_limits()).build_with(jwt)
}

async fn api(pairs: &[(&str, &str)]) -> TestApi {
    api_with(JwtVerifier::new(&jwt_settings(pairs)).await.unwrap())
}

/// The status and error code the register endpoint answers `token` with.
async fn answer(api: &TestApi, token: &str) -> (u16, String) {
    let answer = call(api, Endpoint::Register, events::register().token(token).request()).await;
    (answer.status.as_u16(), answer.body["code"].as_str().unwrap_or("").to_owned())
}

async fn assert_refused(api: &TestApi, token: &str, what: &str) {
    assert_eq!(answer(api, token).await, (401, "UN_AUTHORIZED".to_owned()), "{what}");
}

async fn assert_accepted(api: &TestApi, token: &str, what: &str) {
    assert_eq!(answer(api, token).await.0, 200, "{what}");
}

fn claims() -> Value {
    json!({"sub": "alice", "exp": now() + 600, "iat": now(), "iss": ISSUER, "aud": AUDIENCE})
}

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

fn rsa(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

fn rs256(kid: Option<&str>) -> Header {
    Header { kid: kid.map(str::to_owned), ..Header::new(Algorithm::RS256) }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A public JWK for the private key `pem`, named `kid`.
fn jwk(pem: &str, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&rsa(pem), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

/// A JWKS endpoint on 127.0.0.1 whose keys and health tests can change, counting fetches.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Option<JwkSet>>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(keys: Vec<Jwk>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Some(JwkSet { keys })));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (state.clone(), fetches.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (served, counted) = (served.clone(), counted.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |_request| {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let set = served.lock().unwrap().clone();
                        let response = match set {
                            Some(set) => hyper::Response::new(Full::new(Bytes::from(
                                serde_json::to_vec(&set).unwrap(),
                            ))),
                            None => hyper::Response::builder()
                                .status(503)
                                .body(Full::new(Bytes::from_static(b"down")))
                                .unwrap(),
                        };
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, keys: state, fetches }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn serve(&self, keys: Option<Vec<Jwk>>) {
        *self.keys.lock().unwrap() = keys.map(|keys| JwkSet { keys });
    }
}

#[tokio::test]
async fn public_keys_of_each_kind_verify_their_own_tokens_only() {
    let cases = [
        (RSA_PUBLIC, Algorithm::RS256, EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes())),
        (EC_PUBLIC, Algorithm::ES256, EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes())),
        (ED_PUBLIC, Algorithm::EdDSA, EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes())),
    ];
    for (public, alg, private) in cases {
        let api = api(&[("JWT_PUBLIC_KEY", public)]).await;
        let token = sign(&Header::new(alg), &claims(), &private.unwrap());
        assert_accepted(&api, &token, &format!("{alg:?}")).await;
        let forged = sign(&rs256(None), &claims(), &rsa(ATTACKER_PRIVATE));
        assert_refused(&api, &forged, &format!("attacker's token against {alg:?}")).await;
    }
}

#[tokio::test]
async fn hostile_tokens_against_a_public_key_are_refused() {
    let api = api(&[
        ("JWT_PUBLIC_KEY", RSA_PUBLIC),
        ("JWT_ISSUER", "https://idp.example"),
        ("JWT_AUDIENCE", "otp-api"),
    ])
    .await;
    let good = json!({
        "sub": "alice", "exp": now() + 600, "iss": "https://idp.example", "aud": "otp-api"
    });
    let valid = sign(&rs256(None), &good, &rsa(RSA_PRIVATE));
    assert_accepted(&api, &valid, "the valid token").await;

    let with = |patch: Value| {
        let mut claims = good.clone();
        for (name, value) in patch.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        sign(&rs256(None), &claims, &rsa(RSA_PRIVATE))
    };
    let (header, payload, signature) = {
        let mut parts = valid.split('.');
        (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap())
    };
    let standard_signature = STANDARD.encode(URL_SAFE_NO_PAD.decode(signature).unwrap());
    let mut hostile = vec![
        ("expired", with(json!({"exp": now() - 120}))),
        ("not yet valid", with(json!({"nbf": now() + 3600}))),
        ("wrong issuer", with(json!({"iss": "https://evil.example"}))),
        ("no issuer", with(json!({"iss": null}))),
        ("wrong audience", with(json!({"aud": "other-api"}))),
        ("no subject", with(json!({"sub": null}))),
        ("empty subject", with(json!({"sub": ""}))),
        ("no expiry", with(json!({"exp": null}))),
        (
            "HS256 keyed with the RSA public key",
            sign(
                &Header::new(Algorithm::HS256),
                &good,
                &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
            ),
        ),
        ("another signer", sign(&rs256(None), &good, &rsa(ATTACKER_PRIVATE))),
        (
            "attacker's key embedded as jwk",
            sign(
                &Header { jwk: Some(jwk(ATTACKER_PRIVATE, "evil")), ..rs256(None) },
                &good,
                &rsa(ATTACKER_PRIVATE),
            ),
        ),
        ("truncated signature", valid[..valid.len() - 4].to_owned()),
        ("no signature", format!("{header}.{payload}.")),
        (
            "signature re-encoded as standard base64",
            format!("{header}.{payload}.{standard_signature}"),
        ),
        ("far too large", format!("{valid}{}", "A".repeat(10_000))),
        ("garbage", "not-a-token".to_owned()),
    ];
    for alg in ["none", "None", "NONE", "nOnE"] {
        let unsigned = format!("{}.{}.", b64(&json!({"alg": alg, "typ": "JWT"})), b64(&good));
        hostile.push(("alg none", unsigned));
    }
    for (what, token) in hostile {
        assert_refused(&api, &token, what).await;
    }
}

#[tokio::test]
async fn jwks_keys_are_found_by_kid_and_refreshed_at_most_once_per_interval() {
    // Tokens are signed before the clock of the interval starts: signing is the slow part.
    let k1 = sign(&rs256(Some("k1")), &claims(), &rsa(RSA_PRIVATE));
    let no_kid = sign(&rs256(None), &claims(), &rsa(RSA_PRIVATE));
    let unknown = sign(&rs256(Some("k2")), &claims(), &rsa(ATTACKER_PRIVATE));
    let server = JwksServer::start(vec![jwk(RSA_PRIVATE, "k1")]).await;
    let settings = jwt_settings(&[("JWT_JWKS_URL", &server.url)]);
    let interval = Duration::from_secs(1);
    let api = api_with(JwtVerifier::with_jwks_refresh(&settings, interval).await.unwrap());
    assert_eq!(server.fetches(), 1, "fetched at start");

    assert_accepted(&api, &k1, "kid k1").await;
    assert_eq!(server.fetches(), 1, "a cached key needs no fetch");
    assert_refused(&api, &no_kid, "no kid").await;
    assert_refused(&api, &unknown, "unknown kid").await;
    assert_refused(&api, &unknown, "unknown kid again").await;
    assert_eq!(server.fetches(), 1, "no refresh within the interval");

    tokio::time::sleep(interval).await;
    server.serve(Some(vec![jwk(RSA_PRIVATE, "k1"), jwk(ATTACKER_PRIVATE, "k2")]));
    assert_accepted(&api, &unknown, "k2 after the provider rotated it in").await;
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn an_outage_of_the_jwks_keeps_cached_keys_working() {
    let server = JwksServer::start(vec![jwk(RSA_PRIVATE, "k1")]).await;
    let settings = jwt_settings(&[("JWT_JWKS_URL", &server.url)]);
    let api = api_with(JwtVerifier::with_jwks_refresh(&settings, Duration::ZERO).await.unwrap());
    server.serve(None);

    let unknown = sign(&rs256(Some("k9")), &claims(), &rsa(ATTACKER_PRIVATE));
    assert_refused(&api, &unknown, "unknown kid during the outage").await;
    assert_eq!(server.fetches(), 2, "the refresh was tried");
    let k1 = sign(&rs256(Some("k1")), &claims(), &rsa(RSA_PRIVATE));
    assert_accepted(&api, &k1, "cached kid during the outage").await;
}

#[tokio::test]
async fn an_empty_or_unusable_key_set_never_replaces_the_cache() {
    let server = JwksServer::start(vec![jwk(RSA_PRIVATE, "k1")]).await;
    let settings = jwt_settings(&[("JWT_JWKS_URL", &server.url)]);
    let api = api_with(JwtVerifier::with_jwks_refresh(&settings, Duration::ZERO).await.unwrap());
    let k1 = sign(&rs256(Some("k1")), &claims(), &rsa(RSA_PRIVATE));
    let unknown = sign(&rs256(Some("k9")), &claims(), &rsa(ATTACKER_PRIVATE));

    server.serve(Some(Vec::new()));
    assert_refused(&api, &unknown, "unknown kid; the provider serves no key").await;
    let mut without_kid = jwk(RSA_PRIVATE, "k1");
    without_kid.common.key_id = None;
    server.serve(Some(vec![without_kid]));
    assert_refused(&api, &unknown, "unknown kid; the provider serves no usable key").await;
    assert_eq!(server.fetches(), 3, "both refreshes were tried");
    assert_accepted(&api, &k1, "the cached key survived both").await;
}

#[tokio::test]
async fn keys_past_their_age_are_fetched_again_and_withdrawn_ones_stop_working() {
    let k1 = sign(&rs256(Some("k1")), &claims(), &rsa(RSA_PRIVATE));
    let server = JwksServer::start(vec![jwk(RSA_PRIVATE, "k1")]).await;
    let mut settings = jwt_settings(&[("JWT_JWKS_URL", &server.url)]);
    settings.jwks_max_age = Duration::from_millis(300);
    let interval = Duration::from_millis(100);
    let api = api_with(JwtVerifier::with_jwks_refresh(&settings, interval).await.unwrap());
    assert_accepted(&api, &k1, "fresh").await;
    assert_eq!(server.fetches(), 1);

    // Nothing runs between the requests, as in a frozen Lambda instance: the first request
    // past the age fetches the set itself, before it is answered.
    server.serve(None); // the provider is down: the keys held are kept
    tokio::time::sleep(settings.jwks_max_age).await;
    assert_accepted(&api, &k1, "past its age, the provider down: the cached key").await;
    assert_eq!(server.fetches(), 2, "the refresh was tried before the answer");

    server.serve(Some(vec![jwk(ATTACKER_PRIVATE, "k2")])); // the provider withdrew k1
    tokio::time::sleep(interval).await;
    assert_refused(&api, &k1, "withdrawn by the provider, refused at once").await;
    assert_eq!(server.fetches(), 3, "one fetch, by the request itself");
}

/// An identity provider unreachable when an instance starts is the provider's failure, not
/// the token's: the answer is 503 with `Retry-After`, never the 401 that signs users out,
/// and the set is tried again within seconds rather than after the refresh interval.
#[tokio::test]
async fn an_identity_provider_down_at_start_answers_503_until_its_keys_arrive() {
    let k1 = sign(&rs256(Some("k1")), &claims(), &rsa(RSA_PRIVATE));
    let server = JwksServer::start(vec![jwk(RSA_PRIVATE, "k1")]).await;
    server.serve(None);
    let settings = jwt_settings(&[("JWT_JWKS_URL", &server.url)]);
    let verifier = JwtVerifier::with_jwks_refresh(&settings, Duration::from_secs(60)).await;
    let api = api_with(verifier.unwrap());
    let request = || events::register().token(&k1).request();
    let down = call(&api, Endpoint::Register, request()).await;
    assert_eq!(
        (down.status.as_u16(), down.body["code"].as_str()),
        (503, Some("SERVICE_UNAVAILABLE"))
    );
    let retry = otp_shared::jwt::RETRY_WITHOUT_KEYS.as_secs().to_string();
    assert_eq!(down.headers["retry-after"], retry.as_str(), "not before the next try");

    server.serve(Some(vec![jwk(RSA_PRIVATE, "k1")]));
    tokio::time::sleep(otp_shared::jwt::RETRY_WITHOUT_KEYS).await;
    assert_accepted(&api, &k1, "the keys arrived: no 401 at any point").await;
    assert_eq!(server.fetches(), 2, "at start, then once RETRY_WITHOUT_KEYS passed");
}

#[tokio::test]
async fn a_token_the_same_provider_minted_for_another_project_is_refused() {
    let server = JwksServer::start(vec![jwk(RSA_PRIVATE, "k1")]).await;
    let api = api(&[("JWT_JWKS_URL", &server.url)]).await;
    let mut other_project = claims();
    other_project["aud"] = json!("another-app");
    let token = sign(&rs256(Some("k1")), &other_project, &rsa(RSA_PRIVATE));
    assert_refused(&api, &token, "same key, another audience").await;
    let mut other_tenant = claims();
    other_tenant["iss"] = json!("https://another-tenant.idp.example");
    let token = sign(&rs256(Some("k1")), &other_tenant, &rsa(RSA_PRIVATE));
    assert_refused(&api, &token, "same key, another issuer").await;
    assert_accepted(&api, &sign(&rs256(Some("k1")), &claims(), &rsa(RSA_PRIVATE)), "ours").await;
}

#[tokio::test]
async fn a_jwk_verifies_only_the_algorithm_it_names_and_encryption_keys_are_ignored() {
    let mut rs256_only = jwk(RSA_PRIVATE, "k1");
    rs256_only.common.key_algorithm = Some(jsonwebtoken::jwk::KeyAlgorithm::RS256);
    let mut for_encryption = jwk(ATTACKER_PRIVATE, "k2");
    for_encryption.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Encryption);
    let server = JwksServer::start(vec![rs256_only, for_encryption]).await;
    let api = api(&[("JWT_JWKS_URL", &server.url), ("JWT_ALGORITHMS", "RS256,PS256")]).await;
    let named = sign(&rs256(Some("k1")), &claims(), &rsa(RSA_PRIVATE));
    assert_accepted(&api, &named, "the algorithm the JWK names").await;
    let ps256 = Header { kid: Some("k1".into()), ..Header::new(Algorithm::PS256) };
    let ps256 = sign(&ps256, &claims(), &rsa(RSA_PRIVATE));
    assert_refused(&api, &ps256, "another algorithm of the family, not the JWK's").await;
    let encryption_key = sign(&rs256(Some("k2")), &claims(), &rsa(ATTACKER_PRIVATE));
    assert_refused(&api, &encryption_key, "a key published for encryption").await;
}

#[tokio::test]
async fn injected_jku_is_never_fetched() {
    let server = JwksServer::start(vec![jwk(RSA_PRIVATE, "k1")]).await;
    let attacker = JwksServer::start(vec![jwk(ATTACKER_PRIVATE, "k1")]).await;
    let api = api(&[("JWT_JWKS_URL", &server.url)]).await;
    let header = Header { jku: Some(attacker.url.clone()), ..rs256(Some("k1")) };
    let token = sign(&header, &claims(), &rsa(ATTACKER_PRIVATE));
    assert_refused(&api, &token, "jku to the attacker's keys").await;
    let header = Header { x5u: Some(attacker.url.clone()), ..rs256(Some("evil")) };
    let token = sign(&header, &claims(), &rsa(ATTACKER_PRIVATE));
    assert_refused(&api, &token, "x5u to the attacker's keys").await;
    assert_eq!(attacker.fetches(), 0);
}

#[tokio::test]
async fn the_subject_can_come_from_another_claim() {
    let api = api(&[("JWT_PUBLIC_KEY", RSA_PUBLIC), ("JWT_SUBJECT_CLAIM", "uid")]).await;
    let with_uid = json!({"uid": "user-42", "exp": now() + 600, "iss": ISSUER, "aud": AUDIENCE});
    assert_accepted(&api, &sign(&rs256(None), &with_uid, &rsa(RSA_PRIVATE)), "uid claim").await;
    let only_sub = claims();
    assert_refused(&api, &sign(&rs256(None), &only_sub, &rsa(RSA_PRIVATE)), "no uid claim").await;
}

#[tokio::test]
async fn shared_secrets_accept_only_their_configured_hmac() {
    let api = api(&[("JWT_SECRET", SECRET)]).await;
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    assert_accepted(&api, &sign(&Header::new(Algorithm::HS256), &claims(), &key), "HS256").await;
    let hs512 = sign(&Header::new(Algorithm::HS512), &claims(), &key);
    assert_refused(&api, &hs512, "HS512 when only HS256 is configured").await;
    let minted =
        otp_shared::jwt::mint(&jwt_settings(&[("JWT_SECRET", SECRET)]), "alice", now(), 60);
    assert_accepted(&api, &minted.unwrap(), "a minted token").await;
    let settings: Settings = Settings::from_lookup(&|name: &str| match name {
        "JWT_PUBLIC_KEY" => Some(RSA_PUBLIC.to_owned()),
        "JWT_ISSUER" => Some(ISSUER.to_owned()),
        "JWT_AUDIENCE" => Some(AUDIENCE.to_owned()),
        "OTP_HASH_KEY" => Some(SECRET.to_owned()),
        _ => None,
    })
    .unwrap();
    assert!(otp_shared::jwt::mint(&settings.jwt, "alice", now(), 60).is_none());
}
