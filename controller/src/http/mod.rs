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
//!
//! [`serve`] holds the accept loop and its connection limits, [`clients`] who a client is and
//! its rate limit, [`status`] the one error shape, [`endpoints`] what each route answers.

mod clients;
mod endpoints;
mod serve;
mod status;
#[cfg(test)]
mod tests;

pub use clients::Cidr;
pub use endpoints::NOT_READY;
pub use serve::{serve, serve_on};
pub use status::Refused;

use clients::*;
use endpoints::*;
use status::*;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kage_api::SealedSecret;
use kage_api::manifest::read_documents;
use kage_api::seal::{sealed_secret_from_document, sealed_secret_to_document};
use kage_api::wire::{
    KeysAnswer, ResealAnswer, ResealQuery, ValueVerdict, VerifyAnswer, VerifyResult, path,
};
use kage_core::{Location, Recipient, SealedValue, seal};
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
        .route(path::KEYS, get(keys))
        .route(path::VERIFY, post(verify))
        .route(path::RESEAL, post(reseal))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts requests by route and code, and bounds their time.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The route as the router matched it; any path it did not match counts as one "other".
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => as_status(response).await,
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "request timed out").into_response(),
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
