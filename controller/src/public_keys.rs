//! Keeping the `kage-public-keys` ConfigMap true: published on every key change, and put back
//! (with a Warning Event) whenever someone else changes what it says, since everyone seals to
//! the recipient it names.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kage_api::PUBLIC_KEYS_CONFIGMAP;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use tokio::sync::watch;

use crate::sealing_keys::{KeyStore, SharedKeySet, published_data};

/// Publishes the keys whenever `changed` ticks, and restores the ConfigMap whenever a watch
/// shows it saying something else.
pub async fn publish_and_guard(
    store: Arc<KeyStore>,
    keys: Arc<SharedKeySet>,
    mut changed: watch::Receiver<u64>,
    recorder: Recorder,
) {
    let api: Api<ConfigMap> = Api::namespaced(store.client(), store.namespace());
    let config =
        watcher::Config::default().fields(&format!("metadata.name={PUBLIC_KEYS_CONFIGMAP}"));
    let mut seen = watcher(api, config)
        .default_backoff()
        .applied_objects()
        .boxed();
    publish(&store, &keys).await;
    loop {
        tokio::select! {
            tick = changed.changed() => {
                if tick.is_err() {
                    return;
                }
                publish(&store, &keys).await;
            }
            Some(event) = seen.next() => {
                let Ok(map) = event else { continue };
                if says_what_keys_say(&map, &keys) {
                    continue;
                }
                // A watch may deliver an event older than our own last write: ask again.
                let Ok(Some(now)) = store.published().await else { continue };
                if says_what_keys_say(&now, &keys) {
                    continue;
                }
                tracing::warn!("the public-keys ConfigMap was changed by someone else: restoring it");
                publish(&store, &keys).await;
                let event = Event {
                    type_: EventType::Warning,
                    reason: "PublicKeysRestored".to_owned(),
                    note: Some(format!(
                        "ConfigMap {PUBLIC_KEYS_CONFIGMAP} no longer named this controller's keys; it was put back"
                    )),
                    action: "Publish".to_owned(),
                    secondary: None,
                };
                if let Err(e) = recorder.publish(&event, &now.object_ref(&())).await {
                    tracing::warn!(error = %e, "cannot publish event");
                }
            }
        }
    }
}

async fn publish(store: &KeyStore, keys: &SharedKeySet) {
    if let Err(e) = store.publish(&keys.snapshot()).await {
        tracing::warn!(error = %e, "cannot publish the public keys");
    }
}

/// Whether every entry the controller publishes stands in `map` as published (entries others
/// added are not read by kage and are left alone).
fn says_what_keys_say(map: &ConfigMap, keys: &SharedKeySet) -> bool {
    let data = map.data.clone().unwrap_or_default();
    published_data(&keys.snapshot())
        .iter()
        .all(|(k, v)| data.get(k) == Some(v))
}
