//! Controller benchmark against the real API server (run by `cargo xtask bench controller`).
//!
//! Creates N SealedSecrets (V values each) while the controller is stopped, starts it, and
//! measures the time until every Secret exists and every SealedSecret is Ready, the
//! controller's peak RSS and CPU time, and its reconciles. As the ceiling it then creates the
//! same N Secrets directly, with the same client and the same concurrency, and reports the
//! ratio.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kage_api::SealedSecret;
use kage_api::convert::{SecretInput, seal_secret};
use kage_core::{Plaintext, Recipient, Scope};
use kage_e2e::{cluster_with_kage, count_ready};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};

/// Requests in flight while creating objects: the controller's default concurrency.
const CONCURRENCY: usize = 8;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Sum of every series of a metric in a Prometheus text exposition.
fn metric_sum(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let objects = arg("--objects", 1000);
    let values = arg("--values", 3);
    let Some((cluster, _guard)) = cluster_with_kage().await else {
        anyhow::bail!("no cluster: set KUBECONFIG or run `cargo xtask bench controller`");
    };
    let ns = cluster.namespace("bench").await;
    let ceiling_ns = cluster.namespace("bench-ceiling").await;
    let dir = tempfile::tempdir()?;

    // The key to seal to: a controller publishes it, then stops.
    let recipient: Recipient = {
        let mut ctl = cluster
            .start_controller(dir.path(), &["--watch-namespace", &ns.name])
            .await?;
        ctl.wait_leading(&cluster).await?;
        cluster.current_key().await.parse()?
    };

    eprintln!("sealing {objects} SealedSecrets x {values} values");
    let started = Instant::now();
    let sealed: Vec<SealedSecret> = (0..objects)
        .map(|i| {
            let mut input = SecretInput::default();
            for v in 0..values {
                input.insert(
                    &format!("key-{v}"),
                    Plaintext::from(format!("value-{i}-{v}").as_bytes()),
                )?;
            }
            Ok(seal_secret(
                &input,
                &format!("s{i}"),
                &ns.name,
                Scope::Strict,
                std::slice::from_ref(&recipient),
            )?)
        })
        .collect::<anyhow::Result<_>>()?;
    eprintln!("sealed in {:.2}s", started.elapsed().as_secs_f64());

    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let started = Instant::now();
    futures::stream::iter(sealed.into_iter().map(|s| {
        let api = api.clone();
        async move { api.create(&PostParams::default(), &s).await.map(|_| ()) }
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect::<Vec<()>>()
    .await?;
    eprintln!(
        "created {objects} SealedSecrets in {:.1}s (controller stopped)",
        started.elapsed().as_secs_f64()
    );

    // The run: start the controller, wait until every Secret exists and every object is Ready.
    let ctl = cluster
        .start_controller(dir.path(), &["--watch-namespace", &ns.name])
        .await?;
    let started = Instant::now();
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let mut peak_rss = 0;
    loop {
        peak_rss = peak_rss.max(ctl.peak_rss_kib().unwrap_or(0));
        let written = secrets
            .list_metadata(&ListParams::default().labels("kage.dev/sealed-secret"))
            .await?
            .items
            .len();
        if written == objects && count_ready(&api, "True", "Unsealed").await? == objects {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            anyhow::bail!("not synced after 30 minutes ({written}/{objects} Secrets)");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let sync = started.elapsed().as_secs_f64();
    peak_rss = peak_rss.max(ctl.peak_rss_kib().unwrap_or(0));
    let cpu = cpu_seconds(ctl.pid());
    let (_, metrics) = kage_e2e::http_get(&ctl.addr, "/metrics")?;
    let reconciles = metric_sum(&metrics, "kage_reconciles_total");
    let requests = metric_sum(&metrics, "kage_api_requests_total");
    let requests_by_verb: Vec<String> = metrics
        .lines()
        .filter(|l| l.starts_with("kage_api_requests_total{"))
        .map(|l| l.trim_start_matches("kage_api_requests_total").to_owned())
        .collect();
    // Nothing changed: a resync of everything must write nothing.
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
    let mut ctl = cluster
        .start_controller(dir.path(), &["--watch-namespace", &ns.name])
        .await?;
    ctl.wait_leading(&cluster).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let secret_writes_after_restart = secrets
        .list_metadata(&ListParams::default().labels("kage.dev/sealed-secret"))
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
    drop(ctl);

    // The ceiling: the same Secrets written directly, same client, same concurrency.
    let ceiling: Api<Secret> = Api::namespaced(cluster.client.clone(), &ceiling_ns.name);
    let started = Instant::now();
    futures::stream::iter((0..objects).map(|i| {
        let ceiling = ceiling.clone();
        let data: serde_json::Map<String, serde_json::Value> = (0..values)
            .map(|v| {
                (
                    format!("key-{v}"),
                    serde_json::json!(format!("value-{i}-{v}")),
                )
            })
            .collect();
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("s{i}")}, "stringData": data});
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
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect::<Vec<()>>()
    .await?;
    let ceiling_time = started.elapsed().as_secs_f64();

    println!("objects                      {objects} x {values} values");
    println!("controller sync              {sync:.1} s");
    println!("ceiling (plain Secrets)      {ceiling_time:.1} s");
    println!(
        "ratio                        {:.2} (target <= 2)",
        sync / ceiling_time
    );
    println!(
        "peak RSS                     {:.1} MiB (target < 64 at 10000)",
        peak_rss as f64 / 1024.0
    );
    println!("CPU time                     {cpu:.1} s");
    println!("reconciles                   {reconciles}");
    println!(
        "API requests                 {requests} ({:.2} per object: {})",
        requests / objects as f64,
        requests_by_verb.join(", ")
    );
    println!("Secrets written on a restart {secret_writes_after_restart} (target 0)");
    println!("SealedSecrets written then   {sealed_writes_after_restart} (target 0)");
    Ok(())
}
