//! What a sync costs, in the figures that do not depend on the machine's speed: the API
//! requests per object by verb, the reconciles per object, the writes of a restarted
//! controller, and the controller's peak RSS within a band. `cargo xtask bench controller`
//! measures the rest at 10 000 objects and more (docs/benchmarks.md); this is its regression
//! check at a small N, run with every e2e test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kage_api::SealedSecret;
use kage_e2e::{ControllerProcess, metric_samples, secret_manifest, wait_until};
use kube::Api;
use kube::api::ListParams;

/// SealedSecrets in the check (three values each).
const N: usize = 300;
/// Requests a controller sends besides the per-object ones, by verb, at most: its start (keys,
/// Lease, the public keys, the key policy) and the lists and watches (14 GETs measured).
const OVERHEAD: f64 = 20.0;
/// Writes a controller sends besides the per-object ones, by verb, at most: the public keys
/// and the key policy at start, the reviews of a scrape of /metrics (2 of each measured).
const WRITE_OVERHEAD: f64 = 5.0;
/// Reconciles per object, at most: one (exactly N measured; before the echo of a Secret write
/// that beats the write's answer was recognized, about 1.15 N).
const RECONCILES_PER_OBJECT: f64 = 1.05;
/// Peak RSS of the debug controller at N, at most (it measured about 30 MiB).
const PEAK_RSS_BAND_KIB: u64 = 48 * 1024;

/// `kage_api_requests_total` by verb, and `kage_reconciles_total`, parsed.
fn counts(ctl: &ControllerProcess) -> (BTreeMap<String, f64>, f64) {
    let (code, text) = ctl.metrics().unwrap();
    assert_eq!(code, 200);
    let samples = metric_samples(&text);
    let by_verb = samples
        .iter()
        .filter_map(|(series, value)| {
            let verb = series
                .strip_prefix("kage_api_requests_total{verb=\"")?
                .strip_suffix("\"}")?;
            Some((verb.to_owned(), *value))
        })
        .collect();
    let reconciles = samples
        .iter()
        .filter(|(series, _)| series.starts_with("kage_reconciles_total{"))
        .map(|(_, value)| value)
        .sum();
    (by_verb, reconciles)
}

fn verb(counts: &BTreeMap<String, f64>, verb: &str) -> f64 {
    counts.get(verb).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn a_sync_writes_each_secret_and_status_once_and_a_restart_writes_nothing() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-scale").await;
    let dir = tempfile::tempdir().unwrap();
    let watch = [
        "--watch-namespace",
        ns.name.as_str(),
        "--key-rotation-period",
        "0",
    ];
    {
        let _ctl = cluster
            .start_leading_controller(dir.path(), &watch)
            .await
            .unwrap();
    }
    let manifests: Vec<_> = (0..N)
        .map(|i| {
            secret_manifest(
                &format!("s{i}"),
                &ns.name,
                &[
                    ("user", &format!("u{i}")),
                    ("password", &format!("p{i}")),
                    ("url", &format!("https://db-{i}.example")),
                ],
            )
        })
        .collect();
    cluster.seal_and_apply_all(&manifests, dir.path(), &[]);
    let sealed: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns.name);

    // Cold sync.
    let ctl = cluster
        .start_leading_controller(dir.path(), &watch)
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(300),
        "every SealedSecret to be Ready",
        || async { Ok(kage_e2e::count_ready(&sealed, "True", "Unsealed").await? == N) },
    )
    .await
    .unwrap();
    // Let reconciles woken by the last writes' echoes run.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (sync, reconciles) = counts(&ctl);
    let n = N as f64;
    eprintln!(
        "MEASURE cold sync of {N}: {sync:?}, {reconciles} reconciles, peak RSS {} KiB",
        ctl.peak_rss_kib().unwrap_or_default()
    );
    // Per object: the Secret created, the status applied and the SealedSecret read with its
    // values (the controller keeps only a summary); a new object's Secret is not looked up.
    // Lease renewals are PUTs.
    assert!(verb(&sync, "POST") <= n + WRITE_OVERHEAD, "POST {sync:?}");
    assert!(verb(&sync, "PATCH") <= n + WRITE_OVERHEAD, "PATCH {sync:?}");
    assert!(verb(&sync, "GET") <= n + OVERHEAD, "GET {sync:?}");
    assert_eq!(verb(&sync, "DELETE"), 0.0, "{sync:?}");
    assert!(
        reconciles <= RECONCILES_PER_OBJECT * n,
        "{reconciles} reconciles for {N} objects"
    );
    let rss = ctl.peak_rss_kib().unwrap();
    assert!(rss < PEAK_RSS_BAND_KIB, "peak RSS {rss} KiB");

    // Restart: everything is known and nothing is written.
    let versions = || async {
        let mut all: Vec<(String, String)> = sealed
            .list_metadata(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|o| {
                (
                    o.metadata.name.unwrap_or_default(),
                    o.metadata.resource_version.unwrap_or_default(),
                )
            })
            .collect();
        let owned = secrets
            .list_metadata(&ListParams::default().labels(kage_api::SEALED_SECRET_LABEL))
            .await
            .unwrap()
            .items;
        all.extend(owned.into_iter().map(|o| {
            (
                format!("secret/{}", o.metadata.name.unwrap_or_default()),
                o.metadata.resource_version.unwrap_or_default(),
            )
        }));
        all.sort();
        all
    };
    let before = versions().await;
    drop(ctl);
    let ctl = cluster
        .start_leading_controller(dir.path(), &watch)
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(120),
        "the restarted controller to look at every SealedSecret",
        || async { Ok(counts(&ctl).1 >= n) },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (restart, _) = counts(&ctl);
    eprintln!("MEASURE restart: {restart:?}");
    assert_eq!(versions().await, before, "a restart changed an object");
    // No Secret is created or deleted: the POSTs are the TokenReview and SubjectAccessReview
    // of this test's scrape of /metrics; the PATCHes applying the public keys and the key
    // policy's checks at start (no-ops when unchanged, as the versions above show).
    assert!(verb(&restart, "POST") <= 2.0, "{restart:?}");
    assert_eq!(verb(&restart, "DELETE"), 0.0, "{restart:?}");
    assert!(verb(&restart, "PATCH") <= 2.0, "{restart:?}");
}
