//! An identity provider's JSON Web Key Set: fetched at start, cached by `kid`, refreshed
//! when a token names a key the cache lacks, at most once per interval. A failed refresh
//! keeps the keys already held, so an outage of the provider does not reject tokens whose
//! key is cached.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;

/// A JWKS document larger than this is refused.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

type FetchError = Box<dyn std::error::Error + Send + Sync>;

/// Keys by `kid`, from one JWKS URL.
pub struct Jwks {
    url: String,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    min_refresh_interval: Duration,
    cache: RwLock<Cache>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<DecodingKey>>,
    last_fetch: Option<Instant>,
}

impl Jwks {
    /// Fetches the set once (a failure is logged, not fatal: the next unknown `kid`
    /// retries) and refreshes it no more often than `min_refresh_interval`.
    pub async fn new(url: String, min_refresh_interval: Duration) -> std::io::Result<Self> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        let jwks = Self {
            url,
            client: Client::builder(TokioExecutor::new()).build(https),
            min_refresh_interval,
            cache: RwLock::default(),
            refreshing: tokio::sync::Mutex::new(()),
        };
        jwks.refresh().await;
        Ok(jwks)
    }

    /// The key named `kid`, refreshing the set first if it is unknown and the last fetch
    /// is older than the interval.
    pub async fn key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        let _one_refresh_at_a_time = self.refreshing.lock().await;
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        let last_fetch = self.read_cache(|cache| cache.last_fetch);
        if last_fetch.is_some_and(|at| at.elapsed() < self.min_refresh_interval) {
            return None;
        }
        self.refresh().await;
        self.cached(kid)
    }

    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.read_cache(|cache| cache.keys.get(kid).cloned())
    }

    fn read_cache<T>(&self, read: impl FnOnce(&Cache) -> T) -> T {
        read(&self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Replaces the cached keys with the provider's current ones; on failure keeps them.
    async fn refresh(&self) {
        let fetched = self.fetch().await;
        let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.last_fetch = Some(Instant::now());
        match fetched {
            Ok(set) => {
                cache.keys = set
                    .keys
                    .iter()
                    .filter_map(|jwk| {
                        let kid = jwk.common.key_id.clone()?;
                        let key = DecodingKey::from_jwk(jwk).ok()?;
                        Some((kid, Arc::new(key)))
                    })
                    .collect();
                tracing::info!(event = "jwks.refreshed", keys = cache.keys.len());
            }
            Err(error) => {
                tracing::warn!(event = "jwks.refresh_failed", %error, kept = cache.keys.len());
            }
        }
    }

    async fn fetch(&self) -> Result<JwkSet, FetchError> {
        let uri: hyper::Uri = self.url.parse()?;
        let response = tokio::time::timeout(FETCH_TIMEOUT, self.client.get(uri)).await??;
        if !response.status().is_success() {
            return Err(format!("JWKS answered {}", response.status()).into());
        }
        let body = tokio::time::timeout(
            FETCH_TIMEOUT,
            Limited::new(response.into_body(), MAX_JWKS_BYTES).collect(),
        )
        .await??
        .to_bytes();
        Ok(serde_json::from_slice(&body)?)
    }
}
