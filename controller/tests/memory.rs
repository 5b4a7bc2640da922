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
use kube::runtime::watcher;

/// SealedSecrets (and their Secrets) kept.
const N: usize = 2000;
/// Most bytes the store of SealedSecrets may keep per object (452 measured: the summary in its
/// `Arc`, the key's name, the table's slot; 1103 when the store held a summary with a whole
/// `ObjectMeta` under kube's `ObjectRef`).
const STORE_BYTES_PER_OBJECT: usize = 520;
/// Most bytes the index of owned Secrets may keep per Secret (353 measured; 511 with strings
/// for uids, versions and the digest).
const OWNED_BYTES_PER_SECRET: usize = 420;
/// Most heap blocks kept per SealedSecret and its Secret together: each costs the allocator
/// its own header and rounding, which the byte counts above do not show. 4 measured (the
/// summary and the name in the store; the name and the owners' uids in the index), plus the
/// hash tables' few.
const BLOCKS_PER_OBJECT: f64 = 4.05;

/// A value sealed to one key, as almost every SealedSecret's are.
static VALUE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use kage_api::seal::{SecretInput, seal_secret};
    use kage_core::{Identity, Plaintext, Scope};
    let identity = Identity::generate();
    let mut input = SecretInput::default();
    input.insert("a", Plaintext::from(&[7u8; 32][..])).unwrap();
    let recipients = std::slice::from_ref(identity.recipient());
    let sealed = seal_secret(&input, "app", "bench", Scope::Strict, recipients).unwrap();
    sealed.spec.encrypted_data["a"].clone()
});

fn sealed_secret(i: usize) -> SealedSecret {
    let value = &*VALUE;
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
    let sealed = kage_controller::store::SealedSecretStore::default();
    let owned = kage_controller::owned::OwnedSecrets::default();
    let policy = kage_controller::policy::TemplatePolicy::new("kage-system", &[], &[]);
    std::sync::LazyLock::force(&VALUE);
    let region = Region::new(GLOBAL);
    for i in 0..N {
        sealed.apply(watcher::Event::Apply(sealed_secret(i)), &policy);
    }
    let store = region.change();
    for i in 0..N {
        owned.apply(&watcher::Event::Apply(owned_secret(i)));
    }
    let after = region.change();
    let kept = |c: stats_alloc::Stats| (c.bytes_allocated - c.bytes_deallocated) / N;
    let blocks = (after.allocations - after.deallocations) as f64 / N as f64;
    let (store, owned) = (kept(store), kept(after) - kept(store));
    eprintln!("bytes kept per object: store {store}, owned Secrets {owned}; {blocks:.2} blocks");
    assert_eq!(sealed.len(), N);
    assert!(
        store <= STORE_BYTES_PER_OBJECT,
        "store: {store} bytes per object"
    );
    assert!(
        owned <= OWNED_BYTES_PER_SECRET,
        "owned Secrets: {owned} bytes per Secret"
    );
    assert!(
        blocks <= BLOCKS_PER_OBJECT,
        "{blocks:.2} heap blocks per object"
    );
}
