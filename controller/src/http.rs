//! The controller's HTTP endpoints, on two ports.
//!
//! Health and metrics (`--http-addr`): `/healthz`, `/readyz` (keys loaded, else 503 saying only
//! "not ready": the reason goes to the log, since this port answers whoever reaches it),
//! `/metrics` (Prometheus text, to bearer tokens allowed `get /metrics`: [`crate::metrics_auth`]).
//! For probes and Prometheus only.
//!
//! The API (`--api-addr`), reached through the API server's service proxy:
//! - `GET /v1/keys`: public keys with fingerprint, creation time and state.
//! - `POST /v1/verify`: can these SealedSecrets be opened here? Yes or no and why, per key.
//! - `POST /v1/reseal`: the same SealedSecrets re-encrypted to the current key, each value with
//!   its original binding (scope never widens); templates are never rendered.
//!
//! Nothing here changes keys: rotation is asked for through a ConfigMap under RBAC
//! ([`crate::rotation`]). Reaching the port authorizes nothing else either: every answer is
//! either public or says only whether this cluster can open what the caller already holds.
//!
//! Budgets: a body of at most [`MAX_REQUEST_BYTES`] with at most [`MAX_VALUES_PER_REQUEST`]
//! values (413 beyond); [`RATE_PER_SECOND`] requests per second per client with bursts of
//! [`RATE_BURST`] (429 beyond); crypto on [`MAX_CONCURRENT_CRYPTO`] blocking threads, never on
//! the async workers that run reconciles, waiting at most [`CRYPTO_QUEUE_WAIT`] (503 beyond);
//! [`REQUEST_TIMEOUT`] per request; headers within [`HEADER_READ_TIMEOUT`] (also the idle limit
//! of a kept-alive connection); at most [`MAX_API_CONNECTIONS`] connections at once.
//!
//! The client (rate limit key, audit `actor`) is the peer address; only when the peer is a
//! trusted proxy (`--trusted-proxy`, the API servers) is it the last `X-Forwarded-For` entry,
//! the one that proxy appended. Earlier entries are written by the client and never read.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kage_api::SealedSecret;
use kage_api::manifest::read_documents;
use kage_api::seal::{sealed_secret_from_document, sealed_secret_to_document};
use kage_api::wire::{KeysAnswer, ResealAnswer, ValueVerdict, VerifyAnswer, VerifyResult};
use kage_core::{Location, Recipient, SealedValue, seal};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::audit;
use crate::metrics::HttpLabels;
use crate::metrics_auth::MetricsAuth;
use crate::sealing_keys::KeySet;
use crate::state::Shared;

pub use kage_api::{MAX_OBJECTS_PER_REQUEST, MAX_REQUEST_BYTES, MAX_VALUES_PER_REQUEST};
/// Sustained requests per second per client.
pub const RATE_PER_SECOND: f64 = 10.0;
/// Requests a client may make at once before the rate applies.
pub const RATE_BURST: f64 = 20.0;
/// Clients tracked by the rate limiter; beyond, idle entries are dropped.
pub const MAX_TRACKED_CLIENTS: usize = 10_000;
/// Time one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests whose values are being opened at once; the others wait. One thread leaves the
/// other cores to reconciles.
pub const MAX_CONCURRENT_CRYPTO: usize = 1;
/// How long a request waits for its turn at the crypto before a 503.
pub const CRYPTO_QUEUE_WAIT: Duration = Duration::from_secs(10);
/// Time a client has to send a request's headers, and the longest a kept-alive connection may
/// sit idle.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections the API port holds at once; one more is closed at once.
pub const MAX_API_CONNECTIONS: usize = 64;
/// Connections the health and metrics port holds at once.
pub const MAX_HEALTH_CONNECTIONS: usize = 16;

/// What the endpoints need.
#[derive(Clone)]
pub struct AppState {
    /// Whether keys are loaded.
    pub ready: Arc<AtomicBool>,
    /// Keys and metrics (shared with the reconciles and the key watcher).
    pub shared: Shared,
    trusted_proxies: Arc<Vec<Cidr>>,
    recovery: Arc<Vec<Recipient>>,
    limiter: Arc<RateLimiter>,
    crypto: Arc<Semaphore>,
    /// Who may read `/metrics`; `None` answers everyone (`--metrics-auth none`).
    metrics_auth: Option<Arc<MetricsAuth>>,
}

impl AppState {
    /// `/metrics` answers only tokens `auth` accepts.
    pub fn with_metrics_auth(mut self, auth: MetricsAuth) -> Self {
        self.metrics_auth = Some(Arc::new(auth));
        self
    }

    /// State for the endpoints; `trusted_proxies` may name the client in `X-Forwarded-For`,
    /// `recovery` are the recipients `/v1/reseal` may keep.
    pub fn new(shared: Shared, trusted_proxies: Vec<Cidr>, recovery: Vec<Recipient>) -> Self {
        AppState {
            ready: Arc::new(AtomicBool::new(false)),
            shared,
            trusted_proxies: Arc::new(trusted_proxies),
            recovery: Arc::new(recovery),
            limiter: Arc::new(RateLimiter::default()),
            crypto: Arc::new(Semaphore::new(MAX_CONCURRENT_CRYPTO)),
            metrics_auth: None,
        }
    }
}

/// An address range, `10.0.0.0/8` or `fd00::/8` (a bare address is a range of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not an address range like 10.0.0.0/8");
        let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix.parse().map_err(|_| bad())?
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, u32) {
            match ip {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let ((net, width), (addr, addr_width)) = (bits(self.network), bits(ip));
        if width != addr_width {
            return false;
        }
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.prefix))
            .unwrap_or(0);
        net & mask == addr & mask
    }
}

/// Serves `router` on `addr`, at most `max_connections` at once, until the task is dropped.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    max_connections: usize,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving HTTP");
    serve_on(listener, router, max_connections).await
}

/// Serves `router` on a bound listener, at most `max_connections` at once.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    max_connections: usize,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let connections = Arc::new(Semaphore::new(max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = hyper::service::service_fn({
            let router = router.clone();
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let mut router = router.clone();
                async move {
                    use tower::Service;
                    router.call(request.map(axum::body::Body::new)).await
                }
            }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

/// The health and metrics routes.
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The API routes.
pub fn api_router(state: AppState) -> Router {
    Router::new()
        .route("/v1/keys", get(keys))
        .route("/v1/verify", post(verify))
        .route("/v1/reseal", post(reseal))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts requests by route and code, and bounds their time.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.uri().path().to_owned();
    let response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => as_status(response).await,
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "request timed out").into_response(),
    };
    let known = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/keys",
        "/v1/verify",
        "/v1/reseal",
    ];
    let route = if known.contains(&route.as_str()) {
        route
    } else {
        "other".to_owned()
    };
    state
        .shared
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            route,
            code: response.status().as_u16().to_string(),
        })
        .inc();
    response
}

/// The client a request comes from, as a trusted party says: the peer address, or, from a
/// trusted proxy, the last `X-Forwarded-For` entry (the one that proxy appended).
fn client_of(headers: &HeaderMap, peer: Option<SocketAddr>, trusted: &[Cidr]) -> String {
    let Some(peer) = peer.map(|p| p.ip()) else {
        return "unknown".to_owned();
    };
    if !trusted.iter().any(|c| c.contains(peer)) {
        return peer.to_string();
    }
    let appended = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty());
    match appended {
        Some(client) => format!("{client} via {peer}"),
        None => peer.to_string(),
    }
}

async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = client_of(request.headers(), peer, &state.trusted_proxies);
    if !state.limiter.allow(&client) {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate limit exceeded; retry later",
        )
        .into_response();
    }
    next.run(request).await
}

/// Token buckets per client.
#[derive(Default)]
struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    fn allow(&self, client: &str) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(client) {
            // Drop clients whose bucket has refilled completely: they lose nothing.
            buckets.retain(|_, (tokens, at)| {
                *tokens + at.elapsed().as_secs_f64() * RATE_PER_SECOND < RATE_BURST
            });
            if buckets.len() >= MAX_TRACKED_CLIENTS {
                return false;
            }
        }
        let (tokens, at) = buckets
            .entry(client.to_owned())
            .or_insert((RATE_BURST, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * RATE_PER_SECOND).min(RATE_BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What `/readyz` says while the keys are not loaded; why is in the log.
pub const NOT_READY: &str = "not ready";

async fn readyz(State(state): State<AppState>) -> Result<&'static str, Refused> {
    if state.ready.load(Ordering::Relaxed) {
        return Ok("ok");
    }
    Err(error(StatusCode::SERVICE_UNAVAILABLE, NOT_READY.to_owned()))
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(auth) = &state.metrics_auth
        && let Err(denied) = auth.check(&headers).await
    {
        let (code, message) = denied.answer();
        return error(code, message).into_response();
    }
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.shared.metrics.render(),
    )
        .into_response()
}

async fn keys(State(state): State<AppState>) -> Json<KeysAnswer> {
    Json(KeysAnswer {
        keys: state.shared.keys.snapshot().describe(),
    })
}

/// A refused request. Every endpoint answers errors in one shape, a Kubernetes `Status`
/// (`kind: Status`, `code`, `message`), which kube clients, kubectl and the service proxy
/// already understand.
#[derive(Debug)]
pub struct Refused {
    code: StatusCode,
    message: String,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let body = json!({
            "apiVersion": "v1",
            "kind": "Status",
            "status": "Failure",
            "code": self.code.as_u16(),
            "reason": self.code.canonical_reason().unwrap_or_default(),
            "message": self.message,
        });
        (self.code, Json(body)).into_response()
    }
}

/// An error response not written as a [`Refused`] (axum's own 404, 405, body-limit 413 and
/// extractor rejections) becomes one, so that every error has the one shape; a plain-text
/// message is kept.
async fn as_status(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match status {
        StatusCode::NOT_FOUND => {
            "no such endpoint: the API has /v1/keys, /v1/verify and /v1/reseal".to_owned()
        }
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this endpoint".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the body is larger than the limit of {MAX_REQUEST_BYTES} bytes")
        }
        other => {
            let text = axum::body::to_bytes(response.into_body(), MAX_ERROR_TEXT_BYTES)
                .await
                .unwrap_or_default();
            match std::str::from_utf8(&text).map(str::trim) {
                Ok(text) if !text.is_empty() => text.to_owned(),
                _ => other.canonical_reason().unwrap_or("error").to_owned(),
            }
        }
    };
    error(status, message).into_response()
}

/// Longest plain-text error message kept when an error is rewritten as a `Status`.
const MAX_ERROR_TEXT_BYTES: usize = 4096;

fn error(code: StatusCode, message: impl std::fmt::Display) -> Refused {
    Refused {
        code,
        message: message.to_string(),
    }
}

/// Reads the SealedSecrets of a request body (YAML or JSON, one or several), within the
/// request's budget of objects and values.
fn read_request(body: &Bytes) -> Result<Vec<SealedSecret>, Refused> {
    let text = std::str::from_utf8(body)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "body is not UTF-8"))?;
    let docs = read_documents(text).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    if docs.len() > MAX_OBJECTS_PER_REQUEST {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("more than {MAX_OBJECTS_PER_REQUEST} objects in one request"),
        ));
    }
    let objects = docs
        .iter()
        .map(|d| sealed_secret_from_document(d).map_err(|e| error(StatusCode::BAD_REQUEST, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let values: usize = objects.iter().map(|o| o.spec.encrypted_data.len()).sum();
    if values > MAX_VALUES_PER_REQUEST {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{values} values in one request, more than {MAX_VALUES_PER_REQUEST}: split it"),
        ));
    }
    Ok(objects)
}

/// Runs `work` with a snapshot of the keys on a blocking thread, once one of the
/// [`MAX_CONCURRENT_CRYPTO`] slots is free (503 after [`CRYPTO_QUEUE_WAIT`]).
async fn with_crypto<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&KeySet) -> T + Send + 'static,
) -> Result<T, Refused> {
    let busy = || {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the controller is busy; retry later",
        )
    };
    let permit = tokio::time::timeout(CRYPTO_QUEUE_WAIT, state.crypto.clone().acquire_owned())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let keys = state.shared.keys.snapshot();
    tokio::task::spawn_blocking(move || {
        let out = work(&keys);
        drop(permit);
        out
    })
    .await
    .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "the request failed"))
}

/// The result of opening one value here, without keeping what it holds.
fn check_value(
    keys: &KeySet,
    sealed: &SealedSecret,
    key: &str,
    text: &str,
) -> Result<SealedValue, String> {
    let value = SealedValue::from_base64(text).map_err(|e| e.to_string())?;
    let here = Location::new(sealed.namespace_or_empty(), sealed.name_or_empty(), key);
    match keys.ring.open(&value, &here) {
        Ok(_plaintext) => Ok(value),
        Err(e) if keys.sealed_only_to_retired(&e) => {
            Err("sealed only to a retired key of this cluster; reseal it".to_owned())
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let objects = match read_request(&body) {
        Ok(o) => o,
        Err(refused) => return refused.into_response(),
    };
    let client = client_of(&headers, Some(peer), &state.trusted_proxies);
    match with_crypto(&state, move |keys| verify_all(keys, &objects, &client)).await {
        Ok(answer) => Json(answer).into_response(),
        Err(refused) => refused.into_response(),
    }
}

fn verify_all(keys: &KeySet, objects: &[SealedSecret], client: &str) -> VerifyAnswer {
    let mut results = Vec::new();
    for sealed in objects {
        let mut fingerprints = Vec::new();
        let verdicts: Vec<ValueVerdict> = sealed
            .spec
            .encrypted_data
            .iter()
            .map(|(key, text)| match check_value(keys, sealed, key, text) {
                Ok(value) => {
                    fingerprints.extend(
                        value
                            .recipients()
                            .iter()
                            .copied()
                            .filter(|f| keys.ring.contains(f)),
                    );
                    ValueVerdict {
                        key: key.clone(),
                        ok: true,
                        reason: None,
                    }
                }
                Err(reason) => ValueVerdict {
                    key: key.clone(),
                    ok: false,
                    reason: Some(reason),
                },
            })
            .collect();
        let ok = !verdicts.is_empty() && verdicts.iter().all(|v| v.ok);
        audit::request(
            "verify",
            client,
            sealed.namespace_or_empty(),
            sealed.name_or_empty(),
            &fingerprints,
            if ok { "ok" } else { "refused" },
        );
        results.push(VerifyResult {
            namespace: sealed.namespace_or_empty().to_owned(),
            name: sealed.name_or_empty().to_owned(),
            ok,
            keys: verdicts,
        });
    }
    VerifyAnswer { results }
}

/// Query of `/v1/reseal`.
#[derive(Deserialize)]
struct ResealQuery {
    /// Comma-separated `age1...` recipients to keep besides the cluster's current key. Each
    /// must be one of the controller's recovery recipients (compared whole) and already able to
    /// open the value (its fingerprint is among the value's), so a reseal can never give a
    /// value to someone new.
    #[serde(default)]
    keep: String,
}

async fn reseal(
    State(state): State<AppState>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<ResealQuery>,
    body: Bytes,
) -> Response {
    let objects = match read_request(&body) {
        Ok(o) => o,
        Err(refused) => return refused.into_response(),
    };
    let keep: Vec<Recipient> = match query
        .keep
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
    {
        Ok(k) => k,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("keep: {e}")).into_response(),
    };
    if let Some(stranger) = keep.iter().find(|r| !state.recovery.contains(r)) {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "keep: {} is not a recovery recipient of this controller (--recovery-recipient)",
                stranger.fingerprint()
            ),
        )
        .into_response();
    }
    let client = client_of(&headers, Some(peer), &state.trusted_proxies);
    match with_crypto(&state, move |keys| {
        reseal_all(keys, objects, &keep, &client)
    })
    .await
    {
        Ok(Ok(answer)) => Json(answer).into_response(),
        Ok(Err(refused)) | Err(refused) => refused.into_response(),
    }
}

fn reseal_all(
    keys: &KeySet,
    objects: Vec<SealedSecret>,
    keep: &[Recipient],
    client: &str,
) -> Result<ResealAnswer, Refused> {
    let Some(current) = keys.current().map(|k| k.identity.recipient().clone()) else {
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, "no active key"));
    };
    let mut out = Vec::new();
    for mut sealed in objects {
        let (namespace, name) = (
            sealed.namespace_or_empty().to_owned(),
            sealed.name_or_empty().to_owned(),
        );
        let mut resealed = Vec::new();
        for (key, text) in &sealed.spec.encrypted_data {
            let here = Location::new(&namespace, &name, key);
            let refuse = |reason: &str| refuse(client, &namespace, &name, key, reason);
            let value = SealedValue::from_base64(text).map_err(|e| refuse(&e.to_string()))?;
            let plain = keys
                .ring
                .open(&value, &here)
                .map_err(|e| refuse(&e.to_string()))?;
            let mut recipients = vec![current.clone()];
            recipients.extend(
                keep.iter()
                    .filter(|r| value.recipients().contains(&r.fingerprint()))
                    .cloned(),
            );
            recipients.dedup_by_key(|r| r.fingerprint());
            // The binding comes from the authenticated value, never from the request.
            let v = seal(plain.as_bytes(), value.binding(), &recipients)
                .map_err(|e| refuse(&e.to_string()))?;
            resealed.push((key.clone(), v.to_base64()));
        }
        sealed.spec.encrypted_data.extend(resealed);
        audit::request(
            "reseal",
            client,
            &namespace,
            &name,
            &[current.fingerprint()],
            "ok",
        );
        out.push(sealed_secret_to_document(&sealed));
    }
    Ok(ResealAnswer { objects: out })
}

fn refuse(client: &str, namespace: &str, name: &str, key: &str, reason: &str) -> Refused {
    audit::request("reseal", client, namespace, name, &[], "refused");
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("SealedSecret {namespace}/{name} key {key:?}: {reason}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_client_gets_its_burst_then_is_limited_while_others_are_not() {
        let limiter = RateLimiter::default();
        let allowed = (0..100).filter(|_| limiter.allow("a")).count();
        assert_eq!(allowed, RATE_BURST as usize);
        assert!(limiter.allow("b"));
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client_and_only_by_its_own_entry() {
        let peer: SocketAddr = "10.1.0.5:4000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "system:admin, 192.0.2.7".parse().unwrap(),
        );
        assert_eq!(client_of(&headers, Some(peer), &[]), "10.1.0.5");
        let proxies = ["10.1.0.0/16".parse().unwrap()];
        assert_eq!(
            client_of(&headers, Some(peer), &proxies),
            "192.0.2.7 via 10.1.0.5"
        );
        let elsewhere = ["10.2.0.0/16".parse().unwrap()];
        assert_eq!(client_of(&headers, Some(peer), &elsewhere), "10.1.0.5");
    }

    #[test]
    fn address_ranges_parse_and_match() {
        let net: Cidr = "10.213.0.0/16".parse().unwrap();
        assert!(net.contains("10.213.4.1".parse().unwrap()));
        assert!(!net.contains("10.214.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.213.0.9".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "10.0.0/8", "x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    /// Serves `router` (built on a fresh offline state) on a loopback port.
    async fn server(router: fn(AppState) -> Router) -> SocketAddr {
        let state = AppState::new(Shared::offline(), Vec::new(), Vec::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_on(listener, router(state), MAX_API_CONNECTIONS));
        addr
    }

    async fn api_server() -> SocketAddr {
        server(api_router).await
    }

    async fn request(addr: SocketAddr, head: &str, body: &[u8]) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer).await;
        answer
    }

    #[tokio::test]
    async fn reseal_keeps_no_recipient_the_controller_was_not_told_of() {
        let addr = api_server().await;
        let stranger = kage_core::Identity::generate().recipient().to_string();
        let body = "apiVersion: kage.dev/v1alpha1\nkind: SealedSecret\nmetadata: {name: a, namespace: b}\nspec: {encryptedData: {}}\n";
        let head = format!(
            "POST /v1/reseal?keep={stranger} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let answer = request(addr, &head, body.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("not a recovery recipient"), "{answer}");
    }

    #[tokio::test]
    async fn no_route_changes_keys() {
        let addr = api_server().await;
        let answer = request(
            addr,
            "POST /v1/rotate HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            b"",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        assert_eq!(status_body(&answer)["kind"], "Status");
    }

    /// The JSON body of a raw HTTP answer.
    fn status_body(answer: &str) -> serde_json::Value {
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
    }

    #[tokio::test]
    async fn not_ready_says_so_in_a_status_and_nothing_more() {
        let addr = server(health_router).await;
        let answer = request(
            addr,
            "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert_eq!(status_body(&answer)["message"], NOT_READY);
    }

    #[tokio::test]
    async fn every_error_answers_as_a_kubernetes_status() {
        let addr = api_server().await;
        let wrong_method = request(
            addr,
            "GET /v1/verify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"",
        )
        .await;
        assert!(wrong_method.starts_with("HTTP/1.1 405"), "{wrong_method}");
        assert_eq!(status_body(&wrong_method)["code"], 405);
        let body = vec![b' '; MAX_REQUEST_BYTES + 1];
        let head = format!(
            "POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let too_large = request(addr, &head, &body).await;
        assert!(too_large.starts_with("HTTP/1.1 413"), "{too_large}");
        let status = status_body(&too_large);
        assert_eq!(
            (status["kind"].as_str(), status["code"].as_u64()),
            (Some("Status"), Some(413))
        );
    }

    #[tokio::test]
    async fn a_request_beyond_the_value_budget_is_refused_before_any_crypto() {
        let addr = api_server().await;
        let values: String = (0..=MAX_VALUES_PER_REQUEST)
            .map(|i| format!("    k{i}: x\n"))
            .collect();
        let body = format!(
            "apiVersion: kage.dev/v1alpha1\nkind: SealedSecret\nmetadata: {{name: a, namespace: b}}\nspec:\n  encryptedData:\n{values}"
        );
        let head = format!(
            "POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let answer = request(addr, &head, body.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(
            answer.contains(&format!("more than {MAX_VALUES_PER_REQUEST}")),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_cut_off() {
        let addr = api_server().await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /v1/keys HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(HEADER_READ_TIMEOUT * 3, stream.read_to_end(&mut rest)).await;
        assert!(
            read.is_ok(),
            "the connection was still open after {:?}",
            HEADER_READ_TIMEOUT * 3
        );
        assert!(started.elapsed() >= HEADER_READ_TIMEOUT - Duration::from_millis(100));
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_are_closed_at_once_and_served_again_when_others_leave() {
        let addr = api_server().await;
        let mut held = Vec::new();
        for _ in 0..MAX_API_CONNECTIONS {
            held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        // Let the server accept them all.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let ask = "GET /v1/keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let started = Instant::now();
        let refused = request(addr, ask, b"").await;
        assert_eq!(refused, "", "served beyond the cap");
        assert!(started.elapsed() < HEADER_READ_TIMEOUT);
        held.clear();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let served = request(addr, ask, b"").await;
        assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    }
}
