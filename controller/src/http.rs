//! The controller's HTTP endpoints.
//!
//! - `/healthz`: the process serves; `/readyz`: keys are loaded (503 with the reason before).
//! - `/metrics`: Prometheus text.
//! - `GET /v1/keys`: public keys with fingerprint, creation time and state.
//! - `POST /v1/verify`: can these SealedSecrets be opened here? Yes or no and why, per key.
//! - `POST /v1/reseal`: the same SealedSecrets re-encrypted to the current key, each value with
//!   its original binding (scope never widens); templates are never rendered.
//! - `POST /v1/rotate`: create a new sealing key now.
//!
//! Clients normally come through the API server's service proxy, so cluster RBAC
//! (`services/proxy` on this Service) decides who may call. Every `/v1` request body is capped
//! at [`MAX_REQUEST_BYTES`] (413 beyond), each client gets [`RATE_PER_SECOND`] requests per
//! second with bursts of [`RATE_BURST`] (429 beyond), and a request gets [`REQUEST_TIMEOUT`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kage_api::SealedSecret;
use kage_api::convert::{sealed_secret_from_document, sealed_secret_to_document};
use kage_api::manifest::read_documents;
use kage_core::{Location, Recipient, SealedValue, seal};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit;
use crate::keys::{KeyStore, Keys};
use crate::metrics::{HttpLabels, Metrics};

pub use kage_api::{MAX_OBJECTS_PER_REQUEST, MAX_REQUEST_BYTES};
/// Sustained requests per second per client.
pub const RATE_PER_SECOND: f64 = 10.0;
/// Requests a client may make at once before the rate applies.
pub const RATE_BURST: f64 = 20.0;
/// Clients tracked by the rate limiter; beyond, idle entries are dropped.
pub const MAX_TRACKED_CLIENTS: usize = 10_000;
/// Time one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the endpoints need.
#[derive(Clone)]
pub struct AppState {
    /// Whether keys are loaded.
    pub ready: Arc<AtomicBool>,
    /// Why the controller is not ready, when it is not.
    pub not_ready_reason: Arc<RwLock<String>>,
    /// The sealing keys.
    pub keys: Arc<RwLock<Keys>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// For `/v1/rotate`.
    pub store: Arc<KeyStore>,
    limiter: Arc<RateLimiter>,
}

impl AppState {
    /// State for the endpoints.
    pub fn new(keys: Arc<RwLock<Keys>>, metrics: Arc<Metrics>, store: Arc<KeyStore>) -> Self {
        AppState {
            ready: Arc::new(AtomicBool::new(false)),
            not_ready_reason: Arc::new(RwLock::new("sealing keys not loaded yet".to_owned())),
            keys,
            metrics,
            store,
            limiter: Arc::new(RateLimiter::default()),
        }
    }
}

/// Serves the endpoints on `addr` until the task is dropped.
pub async fn serve(addr: SocketAddr, state: AppState) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving HTTP");
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// The routes.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/keys", get(keys))
        .route("/v1/verify", post(verify))
        .route("/v1/reseal", post(reseal))
        .route("/v1/rotate", post(rotate))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(api)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts requests by route and code, and bounds their time.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.uri().path().to_owned();
    let response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "request timed out").into_response(),
    };
    let known = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/keys",
        "/v1/verify",
        "/v1/reseal",
        "/v1/rotate",
    ];
    let route = if known.contains(&route.as_str()) {
        route
    } else {
        "other".to_owned()
    };
    state
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            route,
            code: response.status().as_u16().to_string(),
        })
        .inc();
    response
}

/// The client a request comes from: the first `X-Forwarded-For` entry (set by the API
/// server's proxy) and the peer address.
fn client_of(headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .unwrap_or("");
    let peer = peer.map(|p| p.ip().to_string()).unwrap_or_default();
    if forwarded.is_empty() {
        peer
    } else {
        format!("{forwarded} via {peer}")
    }
}

async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = client_of(request.headers(), peer);
    if !state.limiter.allow(&client) {
        return (
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
        let mut buckets = self.buckets.lock().expect("limiter lock");
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

async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok".to_owned())
    } else {
        let reason = state.not_ready_reason.read().expect("lock").clone();
        (StatusCode::SERVICE_UNAVAILABLE, reason)
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn keys(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"keys": state.keys.read().expect("key lock").describe()}))
}

fn bad_request(message: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.to_string()})),
    )
        .into_response()
}

/// Reads the SealedSecrets of a request body (YAML or JSON, one or several).
fn read_request(body: &Bytes) -> Result<Vec<SealedSecret>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let docs = read_documents(text).map_err(|e| e.to_string())?;
    if docs.len() > MAX_OBJECTS_PER_REQUEST {
        return Err(format!(
            "more than {MAX_OBJECTS_PER_REQUEST} objects in one request"
        ));
    }
    docs.iter()
        .map(|d| sealed_secret_from_document(d).map_err(|e| e.to_string()))
        .collect()
}

/// The result of opening one value here, without keeping what it holds.
fn check_value(
    keys: &Keys,
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
        Err(e) => return bad_request(e),
    };
    let client = client_of(&headers, Some(peer));
    let keys = state.keys.read().expect("key lock");
    let mut results = Vec::new();
    for sealed in &objects {
        let mut all_ok = !sealed.spec.encrypted_data.is_empty();
        let mut fingerprints = Vec::new();
        let per_key: Vec<Value> = sealed
            .spec
            .encrypted_data
            .iter()
            .map(|(key, text)| match check_value(&keys, sealed, key, text) {
                Ok(value) => {
                    fingerprints.extend(
                        value
                            .recipients()
                            .iter()
                            .copied()
                            .filter(|f| keys.ring.contains(f)),
                    );
                    json!({"key": key, "ok": true})
                }
                Err(reason) => {
                    all_ok = false;
                    json!({"key": key, "ok": false, "reason": reason})
                }
            })
            .collect();
        let result = if all_ok { "ok" } else { "refused" };
        audit::request(
            "verify",
            &client,
            sealed.namespace_or_empty(),
            sealed.name_or_empty(),
            &fingerprints,
            result,
        );
        results.push(json!({
            "namespace": sealed.namespace_or_empty(),
            "name": sealed.name_or_empty(),
            "ok": all_ok,
            "keys": per_key,
        }));
    }
    Json(json!({"results": results})).into_response()
}

/// Query of `/v1/reseal`.
#[derive(Deserialize)]
struct ResealQuery {
    /// Comma-separated `age1...` recipients to keep besides the cluster's current key. Each
    /// must already be able to open the value (its fingerprint is among the value's), so a
    /// reseal can never give a value to someone new.
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
        Err(e) => return bad_request(e),
    };
    let keep: Vec<Recipient> = match query
        .keep
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
    {
        Ok(k) => k,
        Err(e) => return bad_request(format!("keep: {e}")),
    };
    let client = client_of(&headers, Some(peer));
    let keys = state.keys.read().expect("key lock");
    let Some(current) = keys.current().map(|k| k.identity.recipient().clone()) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no active key").into_response();
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
            let value = match SealedValue::from_base64(text) {
                Ok(v) => v,
                Err(e) => return refuse(&client, &namespace, &name, key, &e.to_string()),
            };
            let plain = match keys.ring.open(&value, &here) {
                Ok(p) => p,
                Err(e) => return refuse(&client, &namespace, &name, key, &e.to_string()),
            };
            let mut recipients = vec![current.clone()];
            recipients.extend(
                keep.iter()
                    .filter(|r| value.recipients().contains(&r.fingerprint()))
                    .cloned(),
            );
            recipients.dedup_by_key(|r| r.fingerprint());
            // The binding comes from the authenticated value, never from the request.
            match seal(plain.as_bytes(), value.binding(), &recipients) {
                Ok(v) => resealed.push((key.clone(), v.to_base64())),
                Err(e) => return refuse(&client, &namespace, &name, key, &e.to_string()),
            }
        }
        sealed.spec.encrypted_data.extend(resealed);
        audit::request(
            "reseal",
            &client,
            &namespace,
            &name,
            &[current.fingerprint()],
            "ok",
        );
        out.push(sealed_secret_to_document(&sealed));
    }
    Json(json!({"objects": out})).into_response()
}

fn refuse(client: &str, namespace: &str, name: &str, key: &str, reason: &str) -> Response {
    audit::request("reseal", client, namespace, name, &[], "refused");
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("SealedSecret {namespace}/{name} key {key:?}: {reason}"),
    )
        .into_response()
}

async fn rotate(State(state): State<AppState>) -> Response {
    match state.store.rotate().await {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"rotated": true}))).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": format!("{e}")})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_is_limited_while_others_are_not() {
        let limiter = RateLimiter::default();
        let allowed = (0..100).filter(|_| limiter.allow("a")).count();
        assert_eq!(allowed, RATE_BURST as usize);
        assert!(limiter.allow("b"));
    }
}
