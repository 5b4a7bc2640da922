//! What only the leader does: reconcile every SealedSecret, rotate keys, publish the public
//! keys. Followers serve HTTP and keep their keys fresh.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kage_api::{SEALED_SECRET_LABEL, SealedSecret};
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::events::Recorder;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use crate::queue::{self, WorkQueue};
use crate::state::Shared;
use crate::store::SealedSecretStore;
use crate::{owned, policy, public_keys, reconcile, rotation};

/// What the leader's work needs of the controller's flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The controller's namespace (its keys; no SealedSecret there is unsealed).
    pub namespace: String,
    /// The one namespace to watch, or all.
    pub watch_namespace: Option<String>,
    /// How old the newest key may get before a new one is made (zero: never).
    pub key_rotation_period: std::time::Duration,
    /// Secret types a SealedSecret may ask for beyond the ordinary ones.
    pub allow_secret_type: Vec<String>,
    /// Label and annotation prefixes templates may set beyond the default ones.
    pub allow_template_metadata_prefix: Vec<String>,
    /// SealedSecrets reconciled at once.
    pub concurrency: u16,
}

/// What only the leader does: reconcile, rotate, publish the public keys.
pub async fn lead(
    shared: &Shared,
    args: &Settings,
    recorder: Recorder,
    publish: watch::Receiver<u64>,
    keys_changed: Option<futures::channel::mpsc::UnboundedReceiver<()>>,
) {
    let publisher = public_keys::publish_and_guard(
        shared.store.clone(),
        shared.keys.clone(),
        publish,
        recorder.clone(),
    );
    let schedule = rotation::rotate_on_schedule(
        shared.store.clone(),
        shared.keys.clone(),
        args.key_rotation_period,
    );
    let requests = rotation::serve_rotation_requests(shared.store.clone(), recorder.clone());

    let (sealed_secrets, secrets) = match &args.watch_namespace {
        Some(ns) => (
            Api::<SealedSecret>::namespaced(shared.client.clone(), ns),
            Api::<PartialObjectMeta<Secret>>::namespaced(shared.client.clone(), ns),
        ),
        None => (
            Api::all(shared.client.clone()),
            Api::all(shared.client.clone()),
        ),
    };
    let ctx = Arc::new(reconcile::Context {
        shared: shared.clone(),
        recorder,
        owned_secrets: Default::default(),
        written_status: Default::default(),
        policy: policy::TemplatePolicy::new(
            &args.namespace,
            &args.allow_secret_type,
            &args.allow_template_metadata_prefix,
        ),
    });
    let store = Arc::new(SealedSecretStore::default());
    let queue = Arc::new(WorkQueue::default());
    // Only Secrets kage wrote, and only their metadata: values never sit in a cache here. A
    // change wakes the owner, but not the echo of our own write.
    let owned = watcher(
        secrets,
        watcher::Config::default().labels(SEALED_SECRET_LABEL),
    )
    .default_backoff()
    .for_each(|event| {
        match event {
            Ok(event) => {
                if ctx.owned_secrets.apply(&event)
                    && let watcher::Event::Apply(s)
                    | watcher::Event::InitApply(s)
                    | watcher::Event::Delete(s) = &event
                {
                    owned::owners(s).for_each(|owner| queue.wake(owner));
                }
            }
            Err(e) => tracing::warn!(error = %e, "watching the Secrets kage wrote"),
        }
        std::future::ready(())
    });
    // Only a summary of each object is kept. Our own status writes do not change
    // metadata.generation: waking only on a new generation (or a new object) spares every
    // object a second, empty reconcile.
    shared.metrics.count_sealed_secrets_in(Some(store.clone()));
    let sealed = watcher(sealed_secrets, watcher::Config::default())
        .default_backoff()
        .for_each(|event| {
            match event {
                Ok(event) => {
                    if let Some(key) = store.apply(event, &ctx.policy) {
                        queue.wake(key);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "watching SealedSecrets"),
            }
            std::future::ready(())
        });
    // New keys: every SealedSecret is looked at again.
    let rekey = async {
        if let Some(mut keys_changed) = keys_changed {
            while keys_changed.next().await.is_some() {
                store.keys().into_iter().for_each(|key| queue.wake(key));
            }
        }
    };
    let reconciling = queue::run(queue.clone(), store.clone(), ctx.clone(), args.concurrency);
    let reconciling = async { tokio::join!(owned, sealed, rekey, reconciling) };
    tokio::join!(publisher, schedule, requests, reconciling);
}
