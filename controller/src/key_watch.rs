//! Keeping every replica's keys fresh: the key Secrets are watched, reloaded on change, and
//! installed for the reconciles and the endpoints.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kage_api::SEALING_KEY_LABEL;
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use crate::audit;
use crate::metrics::{Metrics, StateLabel};
use crate::sealing_keys::{KeySet, KeyState, LoadedKeys, SharedKeySet};
use crate::state::Shared;

/// `kage_keys{state="unreadable"}`: key Secrets written by kage that could not be read and were
/// skipped (alert on it: a malformed key, or one wrapped by a KMS this controller lacks).
pub const UNREADABLE: &str = "unreadable";

/// Replaces the keys in use and updates the key metrics.
pub fn install_keys(keys: &SharedKeySet, metrics: &Metrics, loaded: LoadedKeys) {
    metrics
        .keys
        .get_or_create(&StateLabel {
            state: UNREADABLE.to_owned(),
        })
        .set(loaded.unreadable.len() as i64);
    let new = KeySet::new(loaded.keys);
    for state in [KeyState::Active, KeyState::Retired] {
        let count = new.all.iter().filter(|k| k.state == state).count();
        metrics
            .keys
            .get_or_create(&StateLabel {
                state: state.as_str().to_owned(),
            })
            .set(count as i64);
    }
    if let Some(current) = new.current() {
        let age = jiff::Timestamp::now()
            .duration_since(current.created)
            .as_secs();
        metrics.newest_key_age.set(age);
    }
    metrics
        .newest_key_backed_up
        .set(i64::from(new.current().is_some_and(|k| k.backed_up)));
    let by_state = |state: KeyState| -> Vec<_> {
        new.all
            .iter()
            .filter(|k| k.state == state)
            .map(|k| k.identity.fingerprint())
            .collect()
    };
    audit::keys_changed(&by_state(KeyState::Active), &by_state(KeyState::Retired));
    keys.replace(new);
}

/// Watches the key Secrets; on every change reloads them, asks the leader to publish, and
/// asks for every SealedSecret to be reconciled again.
pub async fn watch_keys(
    shared: Shared,
    changed: futures::channel::mpsc::UnboundedSender<()>,
    publish: watch::Sender<u64>,
) {
    let api: Api<PartialObjectMeta<Secret>> =
        Api::namespaced(shared.client.clone(), shared.store.namespace());
    let mut events = watcher(api, watcher::Config::default().labels(SEALING_KEY_LABEL))
        .default_backoff()
        .boxed();
    // What was installed last: each key (name, fingerprint, state, backed up) and the
    // unreadable key Secrets.
    type Installed = (Vec<(String, String, KeyState, bool)>, Vec<String>);
    let mut known: Option<Installed> = None;
    while let Some(event) = events.next().await {
        match event {
            // A (re)list arrives as Init, one InitApply per Secret, then InitDone: reload once,
            // at InitDone, not once per key.
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "watching key Secrets");
                continue;
            }
        }
        let loaded = match shared.store.load().await {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::warn!(error = %e, "reloading keys");
                continue;
            }
        };
        let summary: Vec<_> = loaded
            .keys
            .iter()
            .map(|k| {
                (
                    k.name.clone(),
                    k.identity.fingerprint().to_string(),
                    k.state,
                    k.backed_up,
                )
            })
            .collect();
        let summary = (summary, loaded.unreadable.clone());
        if known.as_ref() == Some(&summary) {
            continue;
        }
        let first = known.is_none();
        known = Some(summary);
        install_keys(&shared.keys, &shared.metrics, loaded);
        publish.send_modify(|n| *n += 1);
        if !first {
            let _ = changed.unbounded_send(());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_backed_up_gauge_follows_the_current_key() {
        use crate::metrics::Metrics;
        use crate::sealing_keys::tests::key;
        use crate::sealing_keys::{KeyState, LoadedKeys, SharedKeySet};
        let (metrics, keys) = (Metrics::default(), SharedKeySet::default());
        let mut current = key(kage_core::Identity::generate(), KeyState::Active);
        let loaded = |keys| LoadedKeys {
            keys,
            unreadable: vec![],
        };
        super::install_keys(&keys, &metrics, loaded(vec![current.clone()]));
        assert_eq!(metrics.newest_key_backed_up.get(), 0);
        current.backed_up = true;
        super::install_keys(&keys, &metrics, loaded(vec![current]));
        assert_eq!(metrics.newest_key_backed_up.get(), 1);
    }
}
