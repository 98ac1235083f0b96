//! An identity provider's JSON Web Key Set: fetched at start, cached by `kid`.
//!
//! - A token naming a key the cache lacks makes it fetch the set again, at once, at most
//!   once per refresh interval (the provider may have rotated a new key in).
//! - Keys older than the maximum age are fetched again by the request that notices it,
//!   before it is answered (within [`FETCH_TIMEOUT`]), at most once per interval: a key the
//!   provider withdrew stops being trusted within that age, even where nothing runs between
//!   requests (Lambda freezes an instance as soon as it has answered).
//! - Until a first fetch has yielded keys, the set is tried again after at most
//!   [`RETRY_WITHOUT_KEYS`], and a token is answered as a failure of the provider, not as a
//!   bad token: an identity provider unreachable at a cold start logs nobody out.
//! - A failed fetch, or one that yields no usable key, keeps the keys already held: an
//!   outage of the provider does not reject tokens whose key is cached.
//! - Keys for encryption (`use: enc`) are left out, and a key whose JWK names an `alg`
//!   verifies that algorithm only.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// A JWKS document larger than this is refused.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// How long one fetch may take, connection and body included.
pub const FETCH_TIMEOUT: Duration = Duration::from_millis(1500);

/// The longest time between two fetches while no key has ever been fetched.
pub const RETRY_WITHOUT_KEYS: Duration = Duration::from_secs(5);

/// No key set has been fetched yet: the provider was unreachable or served no usable key
/// each time it was tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no key set has been fetched from the JWKS URL yet")]
pub struct KeysUnavailable;

type FetchError = Box<dyn std::error::Error + Send + Sync>;

/// A key from the set, with the algorithm its JWK names, if any.
#[derive(Clone)]
pub struct JwkKey {
    /// The key.
    pub key: DecodingKey,
    /// The JWK's `alg`: when present, the only algorithm the key verifies.
    pub algorithm: Option<Algorithm>,
}

/// Keys by `kid`, from one JWKS URL. Clones share the cache.
#[derive(Clone)]
pub struct Jwks {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    min_refresh_interval: Duration,
    max_age: Duration,
    cache: RwLock<Cache>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<JwkKey>>,
    /// When the keys held were fetched.
    fetched_at: Option<Instant>,
    /// When a fetch was last tried, whatever came of it.
    tried_at: Option<Instant>,
}

impl Jwks {
    /// Fetches the set once (a failure is logged, not fatal: the next unknown `kid`
    /// retries), refreshes it no more often than `min_refresh_interval`, and considers
    /// keys older than `max_age` due for a refresh.
    pub async fn new(
        url: String,
        min_refresh_interval: Duration,
        max_age: Duration,
    ) -> std::io::Result<Self> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        let jwks = Self {
            inner: Arc::new(Inner {
                url,
                client: Client::builder(TokioExecutor::new()).build(https),
                min_refresh_interval,
                max_age,
                cache: RwLock::default(),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        };
        jwks.inner.refresh().await;
        Ok(jwks)
    }

    /// The key named `kid`, or `None` when the set has no such key. An unknown `kid` is
    /// looked up in a fresh copy of the set if the last fetch is older than the interval;
    /// keys past their age are fetched again first (a failed fetch keeps them). Fails while
    /// no set has ever been fetched.
    pub async fn key(&self, kid: &str) -> Result<Option<Arc<JwkKey>>, KeysUnavailable> {
        let inner = &self.inner;
        if let Some(key) = inner.cached(kid)
            && !inner.due(|cache| cache.fetched_at, inner.max_age)
        {
            return Ok(Some(key));
        }
        let _one_refresh_at_a_time = inner.refreshing.lock().await;
        let stale = inner.due(|cache| cache.fetched_at, inner.max_age);
        if (stale || inner.cached(kid).is_none()) && inner.due(|_| None, Duration::ZERO) {
            inner.refresh().await;
        }
        match inner.read_cache(|cache| cache.fetched_at.is_some()) {
            true => Ok(inner.cached(kid)),
            false => Err(KeysUnavailable),
        }
    }
}

impl Inner {
    fn cached(&self, kid: &str) -> Option<Arc<JwkKey>> {
        self.read_cache(|cache| cache.keys.get(kid).cloned())
    }

    fn read_cache<T>(&self, read: impl FnOnce(&Cache) -> T) -> T {
        read(&self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Whether a fetch may be tried now (the last try is older than the interval, or than
    /// [`RETRY_WITHOUT_KEYS`] while no set was ever fetched) and is due: `since(cache)` is
    /// older than `age`, or unknown.
    fn due(&self, since: impl FnOnce(&Cache) -> Option<Instant>, age: Duration) -> bool {
        self.read_cache(|cache| {
            let interval = match cache.fetched_at {
                Some(_) => self.min_refresh_interval,
                None => self.min_refresh_interval.min(RETRY_WITHOUT_KEYS),
            };
            let may_try = cache.tried_at.is_none_or(|at| at.elapsed() >= interval);
            may_try && since(cache).is_none_or(|at| at.elapsed() >= age)
        })
    }

    /// Replaces the cached keys with the provider's current ones, if it yields any usable
    /// key; otherwise keeps them.
    async fn refresh(&self) {
        let fetched = self.fetch().await;
        let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.tried_at = Some(Instant::now());
        let keys: HashMap<_, _> = match fetched {
            Ok(set) => set
                .keys
                .iter()
                .filter(|jwk| jwk.common.public_key_use != Some(PublicKeyUse::Encryption))
                .filter_map(|jwk| {
                    let kid = jwk.common.key_id.clone()?;
                    let key = DecodingKey::from_jwk(jwk).ok()?;
                    let algorithm = match jwk.common.key_algorithm {
                        // Named but not a signing algorithm (RSA-OAEP...): not for us.
                        Some(named) => Some(algorithm_named(named)?),
                        None => None,
                    };
                    Some((kid, Arc::new(JwkKey { key, algorithm })))
                })
                .collect(),
            Err(error) => {
                tracing::warn!(event = "jwks.refresh_failed", %error, kept = cache.keys.len());
                return;
            }
        };
        if keys.is_empty() {
            tracing::warn!(
                event = "jwks.refresh_failed",
                error = "no usable key",
                kept = cache.keys.len()
            );
            return;
        }
        cache.keys = keys;
        cache.fetched_at = cache.tried_at;
        tracing::info!(event = "jwks.refreshed", keys = cache.keys.len());
    }

    async fn fetch(&self) -> Result<JwkSet, FetchError> {
        let uri: hyper::Uri = self.url.parse()?;
        let fetch = async {
            let response = self.client.get(uri).await?;
            if !response.status().is_success() {
                return Err(format!("JWKS answered {}", response.status()).into());
            }
            let body = Limited::new(response.into_body(), MAX_JWKS_BYTES).collect().await?;
            Ok::<_, FetchError>(serde_json::from_slice(&body.to_bytes())?)
        };
        tokio::time::timeout(FETCH_TIMEOUT, fetch).await?
    }
}

/// The signing algorithm a JWK's `alg` names, if it names one.
fn algorithm_named(named: jsonwebtoken::jwk::KeyAlgorithm) -> Option<Algorithm> {
    let name = serde_json::to_value(named).ok()?;
    name.as_str()?.parse().ok()
}
