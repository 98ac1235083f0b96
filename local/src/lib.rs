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
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::{Method, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use otp_shared::http::{Api, ApiError, BodyError, MAX_BODY_BYTES};
use otp_shared::sms::Inbox;
use otp_shared::store::MemoryStore;
use otp_shared::system::{OsRandom, SystemClock};
use tokio::net::TcpListener;

pub mod state;

/// The API as the local server runs it.
pub type LocalApi = Api<MemoryStore, Inbox, SystemClock, OsRandom>;

/// The path that lists the SMS inbox.
pub const INBOX_PATH: &str = "/_local/sms";

/// The path that serves the API's OpenAPI document.
pub const OPENAPI_PATH: &str = "/_local/openapi.yaml";

/// The path that serves the public key of the verification tokens, as a JWKS.
pub const JWKS_PATH: &str = "/_local/jwks.json";

const OPENAPI: &str = include_str!("../../openapi.yaml");

/// What every connection shares.
pub struct LocalServer {
    api: LocalApi,
    inbox: Inbox,
    requests: AtomicU64,
}

impl LocalServer {
    /// Serves `api`, and `inbox` at [`INBOX_PATH`]; `inbox` should be the API's SMS sender.
    pub fn new(api: LocalApi, inbox: Inbox) -> Self {
        Self { api, inbox, requests: AtomicU64::new(0) }
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
                if let Err(error) =
                    http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
                {
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
        let host = request.headers().get(header::HOST).and_then(|host| host.to_str().ok());
        let known_host = host.is_some_and(|host| hosts.iter().any(|own| own == host));
        let tokens = self.api.otp().verification_tokens();
        let response = match request.uri().path() {
            _ if !known_host => ApiError::MisdirectedRequest.into_response(),
            INBOX_PATH if get => {
                let json = serde_json::to_string(&self.inbox.messages()).unwrap_or_default();
                document("application/json", json)
            }
            OPENAPI_PATH if get => document("application/yaml", OPENAPI.to_owned()),
            JWKS_PATH if get && tokens.is_some() => {
                let jwks = tokens.map(|tokens| tokens.jwks());
                document("application/json", serde_json::to_string(&jwks).unwrap_or_default())
            }
            _ => match self.as_gateway_request(request, peer).await {
                Ok(request) => self.api.route(request).await,
                Err(error) => error.into_response(),
            },
        };
        let (parts, body) = response.into_parts();
        Ok(hyper::Response::from_parts(parts, Full::new(Bytes::from(body.to_vec()))))
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
