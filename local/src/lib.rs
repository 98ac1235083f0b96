//! The local server: the three endpoints behind the same [`Api`] the Lambda functions use,
//! over an in-memory store and an SMS inbox, with each request presented as API Gateway
//! would present it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::{HeaderMap, HeaderValue, Method, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use otp_shared::http::{Api, ApiError, BodyError, MAX_BODY_BYTES};
use otp_shared::jwt::{self, JwtSettings};
use otp_shared::otp::ports::Clock;
use otp_shared::sms::Inbox;
use otp_shared::store::MemoryStore;
use otp_shared::system::{OsRandom, SystemClock};
use tokio::net::TcpListener;

pub mod console;
pub mod feed;
pub mod state;

use feed::AuditFeed;

/// The API as the local server runs it.
pub type LocalApi = Api<MemoryStore, Inbox, SystemClock, OsRandom>;

/// The path that lists the SMS inbox.
pub const INBOX_PATH: &str = "/_local/sms";

/// The path that serves the API's OpenAPI document.
pub const OPENAPI_PATH: &str = "/_local/openapi.yaml";

/// The path that serves the public key of the verification tokens, as a JWKS.
pub const JWKS_PATH: &str = "/_local/jwks.json";

/// The path of the audit events after a sequence number (`?after=N`), for the console.
pub const EVENTS_PATH: &str = "/_local/events";

/// The path that clears the store (codes, counters, owners, the breaker) and the inbox.
pub const RESET_PATH: &str = "/_local/reset";

/// The path that mints a development JWT for a subject (`{"sub": "alice"}`).
pub const TOKEN_PATH: &str = "/_local/token";

/// How long a connection may take to send a request's header.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a token minted at [`TOKEN_PATH`] lives.
pub const MINTED_TOKEN_SECONDS: u64 = 3600;

const OPENAPI: &str = include_str!("../../openapi.yaml");

/// What every connection shares.
pub struct LocalServer {
    api: LocalApi,
    inbox: Inbox,
    store: MemoryStore,
    feed: AuditFeed,
    minting: Option<JwtSettings>,
    requests: AtomicU64,
}

impl LocalServer {
    /// Serves `api`, `inbox` at [`INBOX_PATH`], and a reset of `store` and `inbox` at
    /// [`RESET_PATH`]; `inbox` and `store` should be the API's own.
    pub fn new(api: LocalApi, inbox: Inbox, store: MemoryStore) -> Self {
        let feed = AuditFeed::new();
        Self { api, inbox, store, feed, minting: None, requests: AtomicU64::new(0) }
    }

    /// The same server, showing `feed` at [`EVENTS_PATH`].
    pub fn with_feed(self, feed: AuditFeed) -> Self {
        Self { feed, ..self }
    }

    /// The same server, minting tokens at [`TOKEN_PATH`] with `settings` (when they hold a
    /// secret; otherwise that path answers 404).
    pub fn with_token_minting(self, settings: JwtSettings) -> Self {
        Self { minting: Some(settings), ..self }
    }

    /// Serves connections from `listener` until the task is dropped. Requests must name
    /// the listener's own loopback address (or `localhost`) in `Host`.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let port = listener.local_addr()?.port();
        let hosts: Arc<[String]> =
            ["127.0.0.1", "localhost", "[::1]"].map(|host| format!("{host}:{port}")).into();
        loop {
            let (stream, peer) = listener.accept().await?;
            let (server, hosts) = (self.clone(), hosts.clone());
            tokio::spawn(async move {
                let service =
                    service_fn(move |request| server.clone().respond(request, peer, hosts.clone()));
                // A client that sends no complete header within the limit is dropped.
                let mut builder = http1::Builder::new();
                builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
                if let Err(error) = builder.serve_connection(TokioIo::new(stream), service).await {
                    tracing::debug!(%error, "connection closed with an error");
                }
            });
        }
    }

    async fn respond(
        self: Arc<Self>,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
        hosts: Arc<[String]>,
    ) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
        let get = request.method() == Method::GET;
        let post = request.method() == Method::POST;
        let host = request.headers().get(header::HOST).and_then(|host| host.to_str().ok());
        let known_host = host.is_some_and(|host| hosts.iter().any(|own| own == host));
        let same_origin = known_host && from_own_page(request.headers(), host);
        let tokens = self.api.otp().verification_tokens();
        let path = request.uri().path().to_owned();
        let mut response = match path.as_str() {
            _ if !known_host => ApiError::MisdirectedRequest.into_response(),
            INBOX_PATH if get => {
                let json = serde_json::to_string(&self.inbox.messages()).unwrap_or_default();
                document("application/json", json)
            }
            EVENTS_PATH if get => {
                let after = query_number(request.uri().query(), "after");
                let json = serde_json::to_string(&self.feed.since(after)).unwrap_or_default();
                document("application/json", json)
            }
            OPENAPI_PATH if get => document("application/yaml", OPENAPI.to_owned()),
            JWKS_PATH if get && tokens.is_some() => {
                let jwks = tokens.map(|tokens| tokens.jwks());
                document("application/json", serde_json::to_string(&jwks).unwrap_or_default())
            }
            RESET_PATH | TOKEN_PATH if post && !same_origin => {
                ApiError::CrossOrigin.into_response()
            }
            RESET_PATH if post => {
                self.store.clear();
                self.inbox.clear();
                self.feed.clear();
                tracing::info!(target: otp_shared::telemetry::AUDIT, event = "local.reset");
                document("application/json", r#"{"reset":true}"#.to_owned())
            }
            TOKEN_PATH if post && self.minting.is_some() => self.mint(request).await,
            _ => match console::file(&path).filter(|_| get) {
                Some(page) => page,
                None => match self.as_gateway_request(request, peer).await {
                    Ok(request) => self.api.route(request).await,
                    Err(error) => error.into_response(),
                },
            },
        };
        response
            .headers_mut()
            .insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        let (parts, body) = response.into_parts();
        Ok(hyper::Response::from_parts(parts, Full::new(Bytes::from(body.to_vec()))))
    }

    /// A development JWT for the body's `sub`, as `{"token": "..."}`.
    async fn mint(&self, request: hyper::Request<Incoming>) -> lambda_http::Response<Body> {
        let bytes = match Limited::new(request.into_body(), MAX_BODY_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return ApiError::PayloadTooLarge.into_response(),
        };
        let subject = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|body| body.get("sub").and_then(|sub| sub.as_str()).map(str::to_owned));
        let Some(subject) = subject.filter(|sub| !sub.trim().is_empty() && sub.len() <= 256) else {
            return ApiError::InvalidBody(BodyError::MissingField("sub")).into_response();
        };
        let now = otp_shared::system::SystemClock.now();
        let token = self
            .minting
            .as_ref()
            .and_then(|settings| jwt::mint(settings, &subject, now, MINTED_TOKEN_SECONDS));
        match token {
            Some(token) => {
                let body = serde_json::json!({ "token": token, "expiresIn": MINTED_TOKEN_SECONDS });
                document("application/json", body.to_string())
            }
            None => ApiError::NotFound.into_response(),
        }
    }

    /// The request as a Lambda function behind an HTTP API receives it: the body read in
    /// full (up to the size limit) and the caller's address in the request context.
    async fn as_gateway_request(
        &self,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<lambda_http::Request, ApiError> {
        let (parts, body) = request.into_parts();
        let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<LengthLimitError>() => return Err(ApiError::PayloadTooLarge),
            Err(_) => {
                return Err(ApiError::InvalidBody(BodyError::Unreadable));
            }
        };
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.method = parts.method.clone();
        context.http.path = Some(parts.uri.path().to_owned());
        context.http.source_ip = Some(peer.ip().to_string());
        context.request_id =
            Some(format!("local-{}", self.requests.fetch_add(1, Ordering::Relaxed) + 1));
        let request = lambda_http::Request::from_parts(parts, Body::from(bytes.to_vec()));
        Ok(request.with_request_context(RequestContext::ApiGatewayV2(context)))
    }
}

/// A 200 response with `body` of `content_type`.
fn document(content_type: &'static str, body: String) -> lambda_http::Response<Body> {
    let mut response = lambda_http::Response::new(Body::Text(body));
    response
        .headers_mut()
        .insert("content-type", lambda_http::http::HeaderValue::from_static(content_type));
    response
}

/// Whether a request that changes local state comes from one of this server's own pages: a
/// JSON body (which a cross-site form cannot send without a preflight nobody answers) and
/// an `Origin` that is this server.
fn from_own_page(headers: &HeaderMap, host: Option<&str>) -> bool {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(';').next() == Some("application/json"));
    let origin = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok());
    json && host.is_some_and(|host| origin == Some(format!("http://{host}").as_str()))
}

/// The number `name` holds in `query`, 0 when absent or not a number.
fn query_number(query: Option<&str>, name: &str) -> u64 {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}
