//! Heap bytes the controller keeps per SealedSecret, counted by a global allocator: a figure
//! that does not depend on the machine, unlike the resident size the bench reports.
#![allow(clippy::unwrap_used, reason = "a test")]

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

use k8s_openapi::api::core::v1::Secret;
use kage_api::SealedSecret;
use kube::core::PartialObjectMeta;
use kube::runtime::{reflector, watcher};

/// SealedSecrets (and their Secrets) kept.
const N: usize = 2000;
/// Most bytes the store of SealedSecrets may keep per object (1103 measured: the summary with
/// its `ObjectMeta`, 472 bytes inline, the store's key and slot).
const STORE_BYTES_PER_OBJECT: usize = 1200;
/// Most bytes the index of owned Secrets may keep per Secret (511 measured).
const OWNED_BYTES_PER_SECRET: usize = 600;

fn sealed_secret(i: usize) -> SealedSecret {
    let value = "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBhYmMK".repeat(10);
    let conditions: Vec<_> = ["Ready", "Reconciling", "Stalled"]
        .iter()
        .map(|t| {
            serde_json::json!({
                "type": t, "status": if *t == "Ready" {"True"} else {"False"}, "reason": "Unsealed",
                "message": format!("Secret app-{i:06} is up to date"), "observedGeneration": 1,
                "lastTransitionTime": "2026-12-06T10:00:01Z"})
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "apiVersion": "kage.dev/v1alpha1", "kind": "SealedSecret",
        "metadata": {
            "name": format!("app-{i:06}"), "namespace": "bench",
            "uid": format!("6f1c2b8e-0d4a-4c3e-9b1f-{i:012}"),
            "resourceVersion": format!("{}", 100000 + i), "generation": 1,
            "creationTimestamp": "2026-12-06T10:00:00Z",
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "kage.dev/v1alpha1",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:encryptedData": {"f:a": {}, "f:b": {}, "f:c": {}}}}}]
        },
        "spec": {"encryptedData": {"a": value, "b": value, "c": value},
                 "template": {"metadata": {"labels": {"app": "web"}}, "type": "Opaque"}},
        "status": {"observedGeneration": 1, "secretResourceVersion": format!("{}", 200000 + i),
            "conditions": conditions}
    }))
    .unwrap()
}

fn owned_secret(i: usize) -> PartialObjectMeta<Secret> {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": {
            "name": format!("app-{i:06}"), "namespace": "bench",
            "uid": format!("7f1c2b8e-0d4a-4c3e-9b1f-{i:012}"),
            "resourceVersion": format!("{}", 200000 + i),
            "labels": {"kage.dev/sealed-secret": "app"},
            "annotations": {"kage.dev/source-digest": "0123456789abcdef0123456789abcdef", "kage.dev/immutable": "false"},
            "ownerReferences": [{"apiVersion": "kage.dev/v1alpha1", "kind": "SealedSecret", "name": format!("app-{i:06}"),
                "uid": format!("6f1c2b8e-0d4a-4c3e-9b1f-{i:012}"), "controller": true, "blockOwnerDeletion": true}]
        }
    }))
    .unwrap()
}

#[test]
fn the_store_and_the_owned_index_keep_a_bounded_number_of_bytes_per_object() {
    let (reader, mut writer) =
        reflector::store::<kage_controller::reconcile::SealedSecretSummary>();
    let owned = kage_controller::owned::OwnedSecrets::default();
    let policy = kage_controller::policy::TemplatePolicy::new("kage-system", &[], &[]);
    let region = Region::new(GLOBAL);
    for i in 0..N {
        let event =
            kage_controller::reconcile::summarize(watcher::Event::Apply(sealed_secret(i)), &policy);
        writer.apply_watcher_event(&event);
    }
    let store = region.change();
    for i in 0..N {
        owned.apply(&watcher::Event::Apply(owned_secret(i)));
    }
    let after = region.change();
    let kept = |c: stats_alloc::Stats| (c.bytes_allocated - c.bytes_deallocated) / N;
    let (store, owned) = (kept(store), kept(after) - kept(store));
    eprintln!("bytes kept per object: store {store}, owned Secrets {owned}");
    assert_eq!(reader.state().len(), N);
    assert!(
        store <= STORE_BYTES_PER_OBJECT,
        "store: {store} bytes per object"
    );
    assert!(
        owned <= OWNED_BYTES_PER_SECRET,
        "owned Secrets: {owned} bytes per Secret"
    );
}
