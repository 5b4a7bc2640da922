//! KMS benchmark (run by `cargo xtask bench kms`): kage-kms against a real OpenBao, and the
//! API server with and without it.
//!
//! 1. Latency: `Encrypt` and `Decrypt` of a 32-byte data key source through kage-kms's socket,
//!    one call at a time, p50 and p99 (each is one Transit request to OpenBao on loopback).
//! 2. Writes: N Secrets written to a second API server (same binary, same etcd, same client
//!    and concurrency) whose `EncryptionConfiguration` names kage-kms, and to one without any;
//!    wall time and the API server's CPU for each, from one run.
//! 3. A cold read: the KMS-backed API server restarted (nothing cached) until ready, then every
//!    Secret listed: how long that takes, and how many `Decrypt` calls it needed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kage_e2e::{ApiServer, KmsPlugin, OpenBao, cpu_seconds, kms_encryption_config, percentile};
use kube::Api;
use kube::api::{ListParams, PostParams};

/// Requests in flight while writing Secrets (as in `kage-bench`).
const CONCURRENCY: usize = 8;

/// What to measure.
#[derive(Debug, clap::Parser)]
#[command(name = "kage-kms-bench")]
struct Options {
    /// Secrets written to each API server.
    #[arg(long, default_value_t = 10_000)]
    secrets: usize,
    /// Encrypt and Decrypt calls timed.
    #[arg(long, default_value_t = 1000)]
    calls: usize,
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Writes `count` Secrets of three 32-byte values into `default`; returns wall time and the
/// API server's CPU seconds.
async fn write_secrets(api: &ApiServer, count: usize) -> anyhow::Result<(Duration, f64)> {
    let cluster = api.cluster().await?;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), "default");
    let pid = api.pid().expect("running");
    let cpu = cpu_seconds(pid);
    let started = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| {
            let secrets = secrets.clone();
            async move {
                let secret: Secret = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": format!("s{i}")},
                    "stringData": {
                        "key-0": format!("{i:032}"),
                        "key-1": format!("{:032}", i + 1),
                        "key-2": format!("{:032}", i + 2),
                    }
                }))
                .unwrap();
                secrets
                    .create(&PostParams::default(), &secret)
                    .await
                    .map(drop)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok((started.elapsed(), cpu_seconds(pid) - cpu))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = <Options as clap::Parser>::parse();
    let admin = kage_e2e::cluster()
        .await
        .expect("a local control plane (cargo xtask bench kms starts one)");
    anyhow::ensure!(
        kage_e2e::local_control_plane("etcd and the API server's binary"),
        "needs the local control plane"
    );
    let dir = tempfile::tempdir()?;
    let bao = OpenBao::start().await?;
    let role_id = bao.approle("kage-kms", "1h", "24h")?;
    let role_file = dir.path().join("role-id");
    std::fs::write(&role_file, role_id)?;
    let secret_file = dir.path().join("secret-id");
    std::fs::write(&secret_file, bao.wrapped_secret_id("kage-kms")?)?;
    let socket = dir.path().join("kms.sock");
    let kms_url = bao.kms_url();
    let plugin = KmsPlugin::start(
        &socket,
        &[
            "--kms",
            &kms_url,
            "--role-id-file",
            &role_file.to_string_lossy(),
            "--secret-id-file",
            &secret_file.to_string_lossy(),
            "--secret-id-wrapped",
        ],
    )
    .await?;
    let key_id = plugin.wait_healthy().await?;
    println!(
        "kage-kms bench: {} Secrets, {} calls; key {key_id}",
        options.secrets, options.calls
    );

    // 1. Latency through the socket.
    let mut client = plugin.client().await?;
    let seed = [7u8; 32];
    let mut sealed = Vec::new();
    let mut encrypt = Vec::with_capacity(options.calls);
    for _ in 0..options.calls {
        let started = Instant::now();
        sealed = client.encrypt(&seed).await?.ciphertext.clone();
        encrypt.push(started.elapsed());
    }
    let mut decrypt = Vec::with_capacity(options.calls);
    for _ in 0..options.calls {
        let started = Instant::now();
        let opened = client.decrypt(&sealed, &key_id).await?;
        decrypt.push(started.elapsed());
        anyhow::ensure!(opened.plaintext == seed, "Decrypt gave another seed");
    }
    encrypt.sort();
    decrypt.sort();
    println!(
        "Encrypt: p50 {}, p99 {}; Decrypt: p50 {}, p99 {} (sealed seed {} bytes)",
        millis(percentile(&encrypt, 0.5)),
        millis(percentile(&encrypt, 0.99)),
        millis(percentile(&decrypt, 0.5)),
        millis(percentile(&decrypt, 0.99)),
        sealed.len()
    );

    // 2. Writes, without and with kage-kms, from one run.
    let plain = ApiServer::start(&admin, dir.path(), None).await?;
    let (plain_time, plain_cpu) = write_secrets(&plain, options.secrets).await?;
    drop(plain);
    let config = kms_encryption_config(dir.path(), &socket)?;
    let mut kms = ApiServer::start(&admin, dir.path(), Some(&config)).await?;
    let (kms_time, kms_cpu) = write_secrets(&kms, options.secrets).await?;
    let per = |cpu: f64| cpu * 1000.0 / options.secrets as f64;
    println!(
        "write {} Secrets: no encryption {:.1} s ({:.0}/s, API server CPU {:.2} ms/Secret); \
         kage-kms {:.1} s ({:.0}/s, API server CPU {:.2} ms/Secret); ratio {:.2}",
        options.secrets,
        plain_time.as_secs_f64(),
        options.secrets as f64 / plain_time.as_secs_f64(),
        per(plain_cpu),
        kms_time.as_secs_f64(),
        options.secrets as f64 / kms_time.as_secs_f64(),
        per(kms_cpu),
        kms_time.as_secs_f64() / plain_time.as_secs_f64(),
    );

    // 3. A cold read of every Secret: the restarted API server opens what it stored (its watch
    // cache is filled before it is ready), then every Secret is listed.
    let decrypts_before = plugin.logs().matches("decrypted a data key source").count();
    let started = Instant::now();
    kms.restart("/readyz").await?;
    let cluster = kms.cluster().await?;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), "default");
    let mut listed = 0;
    let mut params = ListParams::default().limit(500);
    loop {
        let page = secrets.list(&params).await?;
        listed += page.items.len();
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    println!(
        "API server restarted until ready, then {listed} Secrets listed: {:.1} s, {} Decrypt call(s)",
        started.elapsed().as_secs_f64(),
        plugin.logs().matches("decrypted a data key source").count() - decrypts_before,
    );
    Ok(())
}
