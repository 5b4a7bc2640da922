//! Controller benchmark against the real API server (run by `cargo xtask bench controller`).
//!
//! 1. Cold sync: creates N SealedSecrets (V values each) while the controller is stopped
//!    (optionally beside U unrelated Secrets in the same namespace), starts it, and measures the
//!    time until every Secret exists and every SealedSecret is Ready, the controller's peak RSS,
//!    CPU time, reconciles and API requests.
//! 2. Restart: a second controller must write nothing.
//! 3. Steady state: R changes per second for S seconds, each a new value of one SealedSecret;
//!    p50/p99 from the change's request to the Secret holding the new value.
//! 4. Reseal: `kage reseal` of F files (one SealedSecret each) through the controller.
//! 5. Ceiling: the same N Secrets written directly, with the same client and the same
//!    concurrency; the cold sync is reported as a ratio to it.
//!
//! Progress is followed with watches, not lists, so that observing does not load the API
//! server the controller is measured against.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kage_api::SealedSecret;
use kage_api::seal::{SecretInput, seal_secret};
use kage_core::{Plaintext, Recipient, Scope};
use kage_e2e::{ControllerProcess, cluster_with_kage, cpu_seconds, percentile};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

/// Requests in flight while creating objects, and the controller's `--concurrency`: the
/// controller's default unless `--concurrency` is given.
static CONCURRENCY: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
/// Longest wait for a cold sync before the bench gives up.
const SYNC_TIMEOUT: Duration = Duration::from_secs(1800);

/// What to measure (`cargo xtask bench controller` passes these through).
#[derive(Debug, clap::Parser)]
#[command(name = "kage-bench")]
struct Options {
    /// SealedSecrets in the cold sync.
    #[arg(long, default_value_t = 1000)]
    objects: usize,
    /// Values in each SealedSecret.
    #[arg(long, default_value_t = 3)]
    values: usize,
    /// Unrelated Secrets in the same namespace.
    #[arg(long, default_value_t = 0)]
    unrelated: usize,
    /// Changes per second in the steady state (0: no steady state).
    #[arg(long, default_value_t = 0)]
    changes_per_second: usize,
    /// Length of the steady state, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: usize,
    /// Files resealed through the controller (at most --objects).
    #[arg(long, default_value_t = 0)]
    reseal_files: usize,
    /// Requests in flight while creating objects, and the controller's --concurrency.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Leave out the ceiling and the floor (steps 5 and 6): a run for the controller's memory,
    /// restart and steady state at a large N, in less than half the time.
    #[arg(long)]
    no_baselines: bool,
}

/// CPU seconds of the local control plane's processes (empty on another cluster).
fn control_plane_cpu() -> Vec<(String, f64)> {
    let pids = kage_e2e::workspace().join("target/cluster/pids");
    let mut cpu: Vec<(String, f64)> = std::fs::read_dir(pids)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry
                .file_name()
                .to_string_lossy()
                .strip_suffix(".pid")?
                .to_owned();
            let pid = std::fs::read_to_string(entry.path())
                .ok()?
                .trim()
                .parse()
                .ok()?;
            Some((name, cpu_seconds(pid)))
        })
        .collect();
    cpu.sort_by(|a, b| a.0.cmp(&b.0));
    cpu
}

/// CPU used by each control plane process between two [`control_plane_cpu`] readings.
fn cpu_between(before: &[(String, f64)], after: &[(String, f64)]) -> String {
    after
        .iter()
        .filter_map(|(name, end)| {
            let start = before.iter().find(|(n, _)| n == name)?.1;
            Some(format!("{name} {:.1} s", end - start))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sum of every series of a metric in a Prometheus text exposition.
fn metric_sum(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Writes `count` objects, [`CONCURRENCY`] requests at a time.
async fn write_all<F, Fut>(count: usize, write: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), kube::Error>>,
{
    futures::stream::iter((0..count).map(write))
        .buffer_unordered(*CONCURRENCY.get().expect("set in main"))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

fn value(i: usize, v: usize) -> String {
    format!("value-{i}-{v}")
}

/// Seals object `i` with `values` values (value 0 replaced by `first` when given).
fn seal_object(
    i: usize,
    values: usize,
    ns: &str,
    recipient: &Recipient,
    first: Option<&str>,
) -> anyhow::Result<SealedSecret> {
    let mut input = SecretInput::default();
    for v in 0..values {
        let text = match (v, first) {
            (0, Some(first)) => first.to_owned(),
            _ => value(i, v),
        };
        input.insert(&format!("key-{v}"), Plaintext::from(text.as_bytes()))?;
    }
    Ok(seal_secret(
        &input,
        &format!("s{i}"),
        ns,
        Scope::Strict,
        std::slice::from_ref(recipient),
    )?)
}

/// Waits until `objects` Secrets carry kage's label and `objects` SealedSecrets are Ready for
/// their generation, following both with watches; samples the controller's peak RSS meanwhile.
async fn wait_synced(
    cluster: &kage_e2e::Cluster,
    ns: &str,
    objects: usize,
    ctl: Option<&ControllerProcess>,
) -> anyhow::Result<(u64, Duration)> {
    let sealed: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), ns);
    let mut ready = HashSet::new();
    let mut written = HashSet::new();
    let mut sealed_events = watcher(sealed, watcher::Config::default())
        .applied_objects()
        .boxed();
    let secrets: Api<PartialObjectMeta<Secret>> = Api::namespaced(cluster.client.clone(), ns);
    let mut secret_events = watcher(
        secrets,
        watcher::Config::default().labels(kage_api::SEALED_SECRET_LABEL),
    )
    .applied_objects()
    .boxed();
    let started = Instant::now();
    let mut first_ready = None;
    let mut peak_rss = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    while ready.len() < objects || written.len() < objects {
        tokio::select! {
            Some(s) = sealed_events.next() => {
                let s = s?;
                let is_ready = s.ready_condition().is_some_and(|c| c.status == "True")
                    && s.status.as_ref().and_then(|st| st.observed_generation) == s.metadata.generation;
                if is_ready {
                    first_ready.get_or_insert_with(|| started.elapsed());
                    ready.insert(s.name_any());
                } else {
                    ready.remove(&s.name_any());
                }
            }
            Some(s) = secret_events.next() => { written.insert(s?.name_any()); }
            _ = tick.tick() => {
                peak_rss = peak_rss.max(ctl.and_then(ControllerProcess::peak_rss_kib).unwrap_or(0));
                anyhow::ensure!(started.elapsed() < SYNC_TIMEOUT,
                    "not synced after {SYNC_TIMEOUT:?} ({}/{objects} Secrets, {}/{objects} Ready)",
                    written.len(), ready.len());
            }
        }
    }
    Ok((
        peak_rss.max(ctl.and_then(ControllerProcess::peak_rss_kib).unwrap_or(0)),
        first_ready.unwrap_or_default(),
    ))
}

/// Writes, per object, what kage writes: creates N SealedSecrets in `ns` (not timed), then
/// creates each one's Secret and applies its status, followed by the same watches as the cold
/// sync (so that both pay for the same observers). Returns the time and the control plane's
/// CPU of the timed part.
async fn floor(
    cluster: &kage_e2e::Cluster,
    ns: &str,
    objects: usize,
    values: usize,
    recipient: &Recipient,
) -> anyhow::Result<(f64, String)> {
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    let sealed: Arc<Vec<SealedSecret>> = Arc::new(
        (0..objects)
            .map(|i| seal_object(i, values, ns, recipient, None))
            .collect::<anyhow::Result<_>>()?,
    );
    let uids = Arc::new(Mutex::new(vec![String::new(); objects]));
    write_all(objects, |i| {
        let (api, sealed, uids) = (api.clone(), sealed.clone(), uids.clone());
        async move {
            let created = api.create(&PostParams::default(), &sealed[i]).await?;
            uids.lock().expect("not poisoned")[i] = created.uid().unwrap_or_default();
            Ok(())
        }
    })
    .await
    .context("creating the floor's SealedSecrets")?;
    let uids = Arc::new(uids.lock().expect("not poisoned").clone());
    let server_before = control_plane_cpu();
    let started = Instant::now();
    let writes = write_all(objects, |i| {
        let (api, secrets, uids) = (api.clone(), secrets.clone(), uids.clone());
        let name = format!("s{i}");
        let data: serde_json::Map<String, serde_json::Value> = (0..values)
            .map(|v| {
                let encoded = base64::engine::general_purpose::STANDARD.encode(value(i, v));
                (format!("key-{v}"), encoded.into())
            })
            .collect();
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": name,
                "labels": {kage_api::SEALED_SECRET_LABEL: name},
                "annotations": {
                    kage_api::SOURCE_DIGEST_ANNOTATION: "0123456789abcdef0123456789abcdef",
                    kage_api::IMMUTABLE_ANNOTATION: "false",
                },
                "ownerReferences": [{"apiVersion": "kage.dev/v1alpha1", "kind": "SealedSecret",
                    "name": name, "uid": uids[i], "controller": true, "blockOwnerDeletion": true}],
            },
            "type": "Opaque",
            "data": data,
        }))
        .expect("Secret");
        async move {
            let params = PostParams {
                field_manager: Some("kage-bench".into()),
                ..PostParams::default()
            };
            let created = secrets.create(&params, &secret).await?;
            let now = jiff::Timestamp::now().to_string();
            let condition = |type_: &str, status: &str| {
                serde_json::json!({"type": type_, "status": status, "reason": "Unsealed",
                    "message": format!("Secret {name} is up to date"), "observedGeneration": 1,
                    "lastTransitionTime": now})
            };
            let status = serde_json::json!({
                "apiVersion": "kage.dev/v1alpha1", "kind": "SealedSecret",
                "metadata": {"name": name},
                "status": {
                    "observedGeneration": 1,
                    "conditions": [condition("Ready", "True"), condition("Reconciling", "False"),
                        condition("Stalled", "False")],
                    "secretResourceVersion": created.resource_version(),
                },
            });
            api.patch_status(
                &name,
                &PatchParams::apply("kage-bench").force(),
                &Patch::Apply(&status),
            )
            .await
            .map(|_| ())
        }
    });
    let (written, synced) = tokio::join!(writes, wait_synced(cluster, ns, objects, None));
    written.context("writing the floor")?;
    synced?;
    Ok((
        started.elapsed().as_secs_f64(),
        cpu_between(&server_before, &control_plane_cpu()),
    ))
}

/// Applies `rate` changes per second for `seconds`, each a new value 0 of one SealedSecret,
/// and returns the latencies from sending the change to the Secret holding the new value.
async fn steady_state(
    cluster: &kage_e2e::Cluster,
    ns: &str,
    objects: usize,
    values: usize,
    recipient: &Recipient,
    rate: usize,
    seconds: usize,
) -> anyhow::Result<Vec<Duration>> {
    let sealed: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    // name -> (expected value 0, when the change was sent)
    let pending: Arc<Mutex<HashMap<String, (String, Instant)>>> = Default::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Default::default();
    // Changes are sent once the watch's first list is complete: at 100 000 Secrets that list
    // takes seconds, and a change sent meanwhile would be measured when the list ends.
    let (listed, first_list_done) = tokio::sync::oneshot::channel();
    let observer = {
        let (pending, latencies) = (pending.clone(), latencies.clone());
        let events = watcher(
            secrets,
            watcher::Config::default().labels(kage_api::SEALED_SECRET_LABEL),
        );
        tokio::spawn(async move {
            let mut events = events.boxed();
            let mut listed = Some(listed);
            while let Some(Ok(event)) = events.next().await {
                let secret = match event {
                    watcher::Event::Apply(secret) | watcher::Event::InitApply(secret) => secret,
                    watcher::Event::InitDone => {
                        if let Some(listed) = listed.take() {
                            let _ = listed.send(());
                        }
                        continue;
                    }
                    watcher::Event::Init | watcher::Event::Delete(_) => continue,
                };
                let now = Some(secret.data.as_ref())
                    .flatten()
                    .and_then(|d| d.get("key-0"))
                    .map(|v| String::from_utf8_lossy(&v.0).into_owned());
                let mut pending = pending.lock().expect("lock");
                if let Some((expected, sent)) = pending.get(&secret.name_any())
                    && now.as_ref() == Some(expected)
                {
                    latencies.lock().expect("lock").push(sent.elapsed());
                    pending.remove(&secret.name_any());
                }
            }
        })
    };
    tokio::time::timeout(SYNC_TIMEOUT, first_list_done)
        .await
        .context("the watch of the Secrets never completed its first list")??;
    let total = rate * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    let mut sends = Vec::with_capacity(total);
    for change in 0..total {
        tick.tick().await;
        let i = change % objects;
        let new_value = format!("changed-{change}");
        let object = seal_object(i, values, ns, recipient, Some(&new_value))?;
        let patch = serde_json::json!({"spec": {"encryptedData": object.spec.encrypted_data}});
        let (sealed, pending) = (sealed.clone(), pending.clone());
        sends.push(tokio::spawn(async move {
            pending
                .lock()
                .expect("lock")
                .insert(format!("s{i}"), (new_value, Instant::now()));
            sealed
                .patch(
                    &format!("s{i}"),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map(|_| ())
        }));
    }
    for send in sends {
        send.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pending.lock().expect("lock").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    observer.abort();
    let missing = pending.lock().expect("lock").len();
    anyhow::ensure!(missing == 0, "{missing} changes never reached their Secret");
    let mut latencies = latencies.lock().expect("lock").clone();
    latencies.sort();
    Ok(latencies)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = <Options as clap::Parser>::parse();
    let Options {
        objects,
        values,
        unrelated,
        changes_per_second: rate,
        seconds,
        ..
    } = options;
    let Some((cluster, _guard)) = cluster_with_kage().await else {
        anyhow::bail!("no cluster: set KUBECONFIG or run `cargo xtask bench controller`");
    };
    // A previous run's namespaces still being deleted would load the API server under test.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client.clone());
    kage_e2e::wait_until(
        Duration::from_secs(600),
        "earlier bench namespaces gone",
        || async {
            let left = namespaces.list_metadata(&ListParams::default()).await?;
            Ok(!left
                .items
                .iter()
                .any(|n| n.name_any().starts_with("bench-")))
        },
    )
    .await?;
    let ns = cluster.namespace("bench").await;
    let ceiling_ns = cluster.namespace("bench-ceiling").await;
    let floor_ns = cluster.namespace("bench-floor").await;
    let dir = tempfile::tempdir()?;
    let concurrency = options.concurrency;
    CONCURRENCY.set(concurrency).expect("set once");
    let concurrency = concurrency.to_string();
    let watch_ns = [
        "--watch-namespace",
        ns.name.as_str(),
        "--concurrency",
        &concurrency,
    ];

    // The key to seal to: a controller publishes it, then stops.
    let recipient: Recipient = {
        let _ctl = cluster
            .start_leading_controller(dir.path(), &watch_ns)
            .await?;
        cluster.current_key().await.parse()?
    };

    let started = Instant::now();
    let sealed: Vec<SealedSecret> = (0..objects)
        .map(|i| seal_object(i, values, &ns.name, &recipient, None))
        .collect::<anyhow::Result<_>>()?;
    eprintln!(
        "sealed {objects} SealedSecrets x {values} values in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns.name);
    if unrelated > 0 {
        let started = Instant::now();
        write_all(unrelated, |i| {
            let secret: Secret = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("unrelated-{i}")},
                "stringData": {"key-0": value(i, 0), "key-1": value(i, 1), "key-2": value(i, 2)},
            }))
            .expect("Secret");
            let secrets = secrets.clone();
            async move {
                secrets
                    .create(&PostParams::default(), &secret)
                    .await
                    .map(|_| ())
            }
        })
        .await?;
        eprintln!(
            "created {unrelated} unrelated Secrets in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    let started = Instant::now();
    let sealed = Arc::new(sealed);
    write_all(objects, |i| {
        let (api, sealed) = (api.clone(), sealed.clone());
        async move {
            api.create(&PostParams::default(), &sealed[i])
                .await
                .map(|_| ())
        }
    })
    .await?;
    drop(sealed);
    eprintln!(
        "created {objects} SealedSecrets in {:.1}s (controller stopped)",
        started.elapsed().as_secs_f64()
    );

    // 1. Cold sync.
    let server_before = control_plane_cpu();
    let ctl = cluster.start_controller(dir.path(), &watch_ns).await?;
    let started = Instant::now();
    let (peak_rss, first_ready) = wait_synced(&cluster, &ns.name, objects, Some(&ctl)).await?;
    let sync = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(ctl.pid());
    let server_sync = cpu_between(&server_before, &control_plane_cpu());
    let (_, metrics) = ctl.metrics()?;
    let reconciles = metric_sum(&metrics, "kage_reconciles_total");
    let reconcile_seconds = metric_sum(&metrics, "kage_reconcile_duration_seconds_sum");
    let requests = metric_sum(&metrics, "kage_api_requests_total");
    let requests_by_verb: Vec<String> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("kage_api_requests_total"))
        .map(str::to_owned)
        .collect();

    // 2. Nothing changed: a resync of everything by a new controller must write nothing.
    let versions = || async {
        let list = api.list_metadata(&ListParams::default()).await?;
        Ok::<_, kube::Error>(
            list.items
                .into_iter()
                .map(|s| s.metadata.resource_version)
                .collect::<Vec<_>>(),
        )
    };
    let versions_before = versions().await?;
    drop(ctl);
    let restarted = Instant::now();
    let ctl = cluster
        .start_leading_controller(dir.path(), &watch_ns)
        .await?;
    // Every SealedSecret looked at (a resync of each), then a few seconds for late writes.
    let restart_deadline = restarted + SYNC_TIMEOUT;
    let restart_time = loop {
        let (_, metrics) = ctl.metrics()?;
        if metric_sum(&metrics, "kage_reconciles_total") >= objects as f64 {
            break restarted.elapsed();
        }
        anyhow::ensure!(
            Instant::now() < restart_deadline,
            "the restarted controller did not look at every SealedSecret"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    let secret_writes_after_restart = secrets
        .list_metadata(&ListParams::default().labels(kage_api::SEALED_SECRET_LABEL))
        .await?
        .items
        .iter()
        .filter(|s| {
            s.metadata.managed_fields.iter().flatten().any(|f| {
                f.time.as_ref().is_some_and(|t| {
                    t.0 > jiff::Timestamp::now() - jiff::SignedDuration::from_secs(5)
                })
            })
        })
        .count();
    let versions_after = versions().await?;
    let sealed_writes_after_restart = versions_before
        .iter()
        .zip(&versions_after)
        .filter(|(a, b)| a != b)
        .count();

    // 3. Steady state, against the restarted controller.
    let steady = if rate > 0 {
        let latencies = steady_state(
            &cluster, &ns.name, objects, values, &recipient, rate, seconds,
        )
        .await?;
        Some((percentile(&latencies, 0.5), percentile(&latencies, 0.99)))
    } else {
        None
    };
    let steady_rss = ctl.peak_rss_kib().unwrap_or(0);

    // 4. `kage reseal` of a directory through the controller: one file per SealedSecret.
    let reseal_files = options.reseal_files.min(objects);
    let reseal_time = if reseal_files > 0 {
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo)?;
        for i in 0..reseal_files {
            let object = seal_object(i, values, &ns.name, &recipient, None)?;
            let doc = kage_api::seal::sealed_secret_to_document(&object);
            std::fs::write(
                repo.join(format!("s{i}.yaml")),
                kage_api::manifest::write_documents(
                    std::slice::from_ref(&doc),
                    kage_api::OutputFormat::Yaml,
                ),
            )?;
        }
        let started = Instant::now();
        kage_e2e::run_ok(
            cluster
                .kage()
                .arg("reseal")
                .arg(&repo)
                .args(["--controller-url", &ctl.url()]),
        )?;
        Some(started.elapsed().as_secs_f64())
    } else {
        None
    };
    drop(ctl);

    let baselines = if options.no_baselines {
        None
    } else {
        // 5. The ceiling: the same Secrets written directly, same client, same concurrency.
        let ceiling: Api<Secret> = Api::namespaced(cluster.client.clone(), &ceiling_ns.name);
        let server_before = control_plane_cpu();
        let started = Instant::now();
        write_all(objects, |i| {
            let ceiling = ceiling.clone();
            let data: serde_json::Map<String, serde_json::Value> = (0..values)
                .map(|v| {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(value(i, v));
                    (format!("key-{v}"), encoded.into())
                })
                .collect();
            let body = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("s{i}")}, "data": data});
            async move {
                ceiling
                    .patch(
                        &format!("s{i}"),
                        &PatchParams::apply("kage-bench").force(),
                        &Patch::Apply(&body),
                    )
                    .await
                    .map(|_| ())
            }
        })
        .await
        .context("writing the ceiling's Secrets")?;
        let ceiling_time = started.elapsed().as_secs_f64();
        let server_ceiling = cpu_between(&server_before, &control_plane_cpu());

        // 6. The floor: what kage must write per object, written by this driver (same client, same
        // concurrency): the Secret, created with kage's label, annotations and owner, and the
        // status of its SealedSecret, applied.
        let (floor_time, server_floor) =
            floor(&cluster, &floor_ns.name, objects, values, &recipient).await?;
        Some((ceiling_time, server_ceiling, floor_time, server_floor))
    };

    println!("objects                      {objects} x {values} values");
    println!("unrelated Secrets            {unrelated}");
    println!("concurrency                  {concurrency} (controller and ceiling)");
    println!("controller sync              {sync:.1} s");
    if let Some((ceiling_time, server_ceiling, floor_time, server_floor)) = &baselines {
        println!("ceiling (plain Secrets)      {ceiling_time:.1} s");
        println!(
            "ratio                        {:.2} (target <= 2)",
            sync / ceiling_time
        );
        println!("floor (Secret + status)      {floor_time:.1} s");
        println!(
            "ratio to the floor           {:.2} (target <= 1.15)",
            sync / floor_time
        );
        println!("control plane CPU, ceiling   {server_ceiling}");
        println!("control plane CPU, floor     {server_floor}");
    }
    println!(
        "peak RSS                     {:.1} MiB (target < 64 at 10000)",
        peak_rss as f64 / 1024.0
    );
    println!("CPU time                     {cpu:.1} s");
    println!("control plane CPU, sync      {server_sync}");
    println!(
        "first object Ready after     {:.2} s (start, keys, lease, lists)",
        first_ready.as_secs_f64()
    );
    println!(
        "reconciles                   {reconciles} (mean {:.1} ms)",
        reconcile_seconds / reconciles * 1000.0
    );
    println!(
        "API requests                 {requests} ({:.2} per object: {})",
        requests / objects as f64,
        requests_by_verb.join(", ")
    );
    println!(
        "restart: all looked at after {:.1} s (start, keys, lease, lists, a resync of each)",
        restart_time.as_secs_f64()
    );
    println!("Secrets written on a restart {secret_writes_after_restart} (target 0)");
    println!("SealedSecrets written then   {sealed_writes_after_restart} (target 0)");
    if let Some((p50, p99)) = steady {
        println!(
            "steady state                 {rate}/s for {seconds} s: p50 {:.0} ms, p99 {:.0} ms (target p99 < 1000 ms)",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        );
        println!(
            "peak RSS after steady state  {:.1} MiB",
            steady_rss as f64 / 1024.0
        );
    }
    if let Some(seconds) = reseal_time {
        println!("kage reseal, {reseal_files} files through the controller: {seconds:.2} s");
    }
    Ok(())
}
