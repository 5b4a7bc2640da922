//! What the controller's tasks share, built once at start.

use std::sync::Arc;

use kube::Client;

use crate::metrics::Metrics;
use crate::sealing_keys::{KeyStore, SharedKeySet};

/// The client, the keys, the key store and the metrics: one value, cloned into every task.
#[derive(Clone)]
pub struct Shared {
    /// API client (the controller's ServiceAccount), counting its requests.
    pub client: Client,
    /// The sealing keys in use (a snapshot is taken per reconcile or request).
    pub keys: Arc<SharedKeySet>,
    /// The key Secrets and the public-keys ConfigMap.
    pub store: Arc<KeyStore>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

#[cfg(test)]
impl Shared {
    /// A `Shared` with no cluster behind it (every API call fails), for in-process tests.
    pub fn offline() -> Self {
        let service = tower::service_fn(|_: ::http::Request<kube::client::Body>| async {
            Err::<::http::Response<kube::client::Body>, _>(std::io::Error::other(
                "no cluster in unit tests",
            ))
        });
        let client = Client::new(service, "default");
        Shared {
            store: Arc::new(KeyStore::new(client.clone(), "kage-system", None)),
            client,
            keys: Arc::default(),
            metrics: Arc::default(),
        }
    }
}
