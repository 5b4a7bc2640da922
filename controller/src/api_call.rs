//! One bound on every call the controller makes to the Kubernetes API: a reconcile, loading or
//! creating keys, publishing them and answering a rotation request each give a call at most
//! [`API_CALL_TIMEOUT`], so that an API server that stops answering fails the work (which is
//! retried) instead of holding it forever.

use std::time::Duration;

/// Longest wait for one API call; beyond it the call fails with a `Service` error that says so.
pub const API_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// `call`, given at most [`API_CALL_TIMEOUT`].
pub async fn timed<T>(
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    tokio::time::timeout(API_CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(kube::Error::Service(
                format!("no answer within {}s", API_CALL_TIMEOUT.as_secs()).into(),
            ))
        })
}
