//! Who may read `/metrics`, decided as Kubernetes components decide it: the bearer token is
//! reviewed by the API server (`TokenReview`), then its user must be allowed `get` on the
//! non-resource URL `/metrics` (`SubjectAccessReview`; the shipped ClusterRole
//! `kage-metrics-reader` grants it). The health port answers whoever reaches it, and the
//! metrics say what the controller did: a SealedSecret editor must not read them.
//!
//! Verdicts are cached by a digest of the token for [`METRICS_AUTH_CACHE_TTL`] (at most
//! [`MAX_CACHED_TOKENS`]), and at most [`MAX_CONCURRENT_REVIEWS`] reviews run at once, so a flood
//! of made-up tokens costs the API server a bounded amount of work.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::StatusCode;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// How long a verdict on one token is reused.
pub const METRICS_AUTH_CACHE_TTL: Duration = Duration::from_secs(60);
/// Most tokens whose verdict is remembered; beyond, the expired ones are dropped, then all.
pub const MAX_CACHED_TOKENS: usize = 64;
/// Most token and access reviews in flight at once; more requests wait their turn.
pub const MAX_CONCURRENT_REVIEWS: usize = 2;
/// Longest bearer token looked at; a longer one is refused without a review.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a request for `/metrics` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No usable bearer token, or one the API server does not accept (401).
    Unauthenticated,
    /// A valid token whose user may not `get` `/metrics` (403).
    Forbidden,
    /// The API server could not be asked (503).
    Unavailable,
}

impl Denied {
    /// The HTTP status and message of the refusal.
    pub fn answer(self) -> (StatusCode, &'static str) {
        match self {
            Denied::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "a bearer token the API server accepts is required",
            ),
            Denied::Forbidden => (
                StatusCode::FORBIDDEN,
                "this user may not get the non-resource URL /metrics (ClusterRole kage-metrics-reader)",
            ),
            Denied::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the API server could not review the token",
            ),
        }
    }
}

/// Whether a token may read `/metrics`.
type Verdict = Result<(), Denied>;

/// The reviewer of `/metrics` requests, built once.
pub struct MetricsAuth {
    client: Client,
    /// Verdicts by SHA-256 of the token, with when they were reached.
    cache: Mutex<HashMap<[u8; 32], (Verdict, Instant)>>,
    reviews: Semaphore,
}

impl MetricsAuth {
    /// A reviewer asking the API server through `client`.
    pub fn new(client: Client) -> Self {
        MetricsAuth {
            client,
            cache: Mutex::default(),
            reviews: Semaphore::new(MAX_CONCURRENT_REVIEWS),
        }
    }

    /// Whether the request's bearer token may read `/metrics`.
    pub async fn check(&self, headers: &HeaderMap) -> Verdict {
        let token = bearer_token(headers)?;
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(verdict) = self.cached(&key) {
            return verdict;
        }
        let _turn = self
            .reviews
            .acquire()
            .await
            .map_err(|_| Denied::Unavailable)?;
        if let Some(verdict) = self.cached(&key) {
            return verdict;
        }
        let verdict = self.review(token).await;
        if verdict != Err(Denied::Unavailable) {
            self.remember(key, verdict);
        }
        verdict
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Verdict> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < METRICS_AUTH_CACHE_TTL)
            .map(|(verdict, _)| *verdict)
    }

    fn remember(&self, key: [u8; 32], verdict: Verdict) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHED_TOKENS {
            cache.retain(|_, (_, at)| at.elapsed() < METRICS_AUTH_CACHE_TTL);
        }
        if cache.len() >= MAX_CACHED_TOKENS {
            cache.clear();
        }
        cache.insert(key, (verdict, Instant::now()));
    }

    /// TokenReview, then SubjectAccessReview for `get /metrics`.
    async fn review(&self, token: &str) -> Verdict {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_owned(),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot review a /metrics token");
                Denied::Unavailable
            })?;
        let status = reviewed.status.unwrap_or_default();
        let user = match (status.authenticated, status.user) {
            (Some(true), Some(user)) => user,
            _ => return Err(Denied::Unauthenticated),
        };
        let access = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username,
                uid: user.uid,
                groups: user.groups,
                extra: user.extra,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some("/metrics".to_owned()),
                    verb: Some("get".to_owned()),
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let answer = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &access)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot review access to /metrics");
                Denied::Unavailable
            })?;
        if answer.status.is_some_and(|s| s.allowed) {
            Ok(())
        } else {
            Err(Denied::Forbidden)
        }
    }
}

/// The bearer token of the request, if it has a usable one.
fn bearer_token(headers: &HeaderMap) -> Result<&str, Denied> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or(Denied::Unauthenticated)?;
    if value.len() > MAX_TOKEN_BYTES {
        return Err(Denied::Unauthenticated);
    }
    let value = value.to_str().map_err(|_| Denied::Unauthenticated)?;
    let (scheme, token) = value.split_once(' ').ok_or(Denied::Unauthenticated)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(Denied::Unauthenticated);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn only_a_bearer_token_within_the_limit_is_looked_at() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(&headers("bearer  abc ")), Ok("abc"));
        for refused in ["Basic YTpi", "Bearer ", "abc"] {
            assert_eq!(
                bearer_token(&headers(refused)),
                Err(Denied::Unauthenticated),
                "{refused}"
            );
        }
        assert_eq!(
            bearer_token(&HeaderMap::new()),
            Err(Denied::Unauthenticated)
        );
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES));
        assert_eq!(bearer_token(&headers(&long)), Err(Denied::Unauthenticated));
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_limit_and_forgets_after_its_time() {
        let auth = MetricsAuth::new(crate::state::Shared::offline().client);
        for i in 0..(MAX_CACHED_TOKENS * 3) {
            let key: [u8; 32] = Sha256::digest(i.to_string().as_bytes()).into();
            auth.remember(key, Err(Denied::Forbidden));
            assert!(auth.cache.lock().unwrap().len() <= MAX_CACHED_TOKENS);
            assert_eq!(auth.cached(&key), Some(Err(Denied::Forbidden)));
        }
        let key = [7u8; 32];
        auth.cache
            .lock()
            .unwrap()
            .insert(key, (Ok(()), Instant::now() - METRICS_AUTH_CACHE_TTL));
        assert_eq!(auth.cached(&key), None, "an expired verdict is not reused");
    }

    #[tokio::test]
    async fn without_an_api_server_nothing_is_allowed() {
        let auth = MetricsAuth::new(crate::state::Shared::offline().client);
        assert_eq!(
            auth.check(&headers("Bearer anything")).await,
            Err(Denied::Unavailable)
        );
        assert_eq!(
            auth.check(&HeaderMap::new()).await,
            Err(Denied::Unauthenticated)
        );
    }
}
