//! What only the leader does: reconcile every SealedSecret, rotate keys, publish the public
//! keys. Followers serve HTTP and keep their keys fresh.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kage_api::{SEALED_SECRET_LABEL, SealedSecret};
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::events::Recorder;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use tokio::sync::watch;

use crate::state::Shared;
use crate::{policy, public_keys, reconcile, rotation};

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
    // Only Secrets kage wrote, and only their metadata: values never sit in a cache here.
    let owned = {
        let ctx = ctx.clone();
        watcher(
            secrets,
            watcher::Config::default().labels(SEALED_SECRET_LABEL),
        )
        .default_backoff()
        .filter_map(move |event| {
            std::future::ready(match event {
                Ok(event) => {
                    let wake = ctx.owned_secrets.apply(&event);
                    match event {
                        watcher::Event::Apply(s)
                        | watcher::Event::InitApply(s)
                        | watcher::Event::Delete(s) => wake.then_some(Ok(s)),
                        watcher::Event::Init | watcher::Event::InitDone => None,
                    }
                }
                Err(e) => Some(Err(e)),
            })
        })
    };
    // Only a summary of each object is kept. Our own status writes do not change
    // metadata.generation: waking only on a new generation (or a new object) spares every
    // object a second, empty reconcile, and needs no record per object beyond the store.
    let (reader, mut writer) = reflector::store();
    shared.metrics.count_sealed_secrets_in(Some(reader.clone()));
    let policy = ctx.policy.clone();
    let store = reader.clone();
    let specs = watcher(sealed_secrets, watcher::Config::default())
        .default_backoff()
        .map_ok(move |event| {
            let event = reconcile::summarize(event, &policy);
            let wake = match &event {
                watcher::Event::Apply(s) | watcher::Event::InitApply(s) => {
                    reconcile::is_new_generation(&store, s)
                }
                _ => false,
            };
            writer.apply_watcher_event(&event);
            match event {
                watcher::Event::Apply(s) | watcher::Event::InitApply(s) if wake => Some(s),
                _ => None,
            }
        })
        .try_filter_map(|summary| std::future::ready(Ok(summary)));
    let mut controller = Controller::for_stream(specs, reader)
        .owns_stream(owned)
        .with_config(kube::runtime::controller::Config::default().concurrency(args.concurrency));
    if let Some(trigger) = keys_changed {
        controller = controller.reconcile_all_on(trigger);
    }
    let reconciling = controller
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|_| std::future::ready(()));
    tokio::join!(publisher, schedule, requests, reconciling);
}
