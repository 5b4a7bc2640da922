//! Start-up and shutdown: logging, the API client, the endpoints, the first key load, and the
//! leader election that decides who reconciles.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kage_api::{SealedSecret, error_chain};
use kube::api::ListParams;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client, CustomResourceExt};
use tokio::sync::watch;

use crate::args::{Cli, Command, RunArgs};
use crate::key_watch::{install_keys, watch_keys};
use crate::metrics::Metrics;
use crate::metrics_auth::MetricsAuth;
use crate::sealing_keys::{KeyStore, SharedKeySet};
use crate::state::Shared;
use crate::{http, key_policy, kms, leader, leading};

/// Wait between attempts to load the keys at start.
const KEY_LOAD_RETRY: Duration = Duration::from_secs(5);

/// The CRD as YAML, generated from the Rust type.
#[allow(
    clippy::expect_used,
    reason = "the CRD is generated from the Rust type and always serialises"
)]
pub fn crd_yaml() -> String {
    serde_saphyr::to_string(&SealedSecret::crd()).expect("CRD serialises")
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,kube=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Parses the command line and runs it; the process exit code says how it went.
pub fn main() -> std::process::ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    let result = match cli.command {
        Command::Crd => {
            print!("{}", crd_yaml());
            Ok(())
        }
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")
            .and_then(|rt| rt.block_on(run(*args))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    let settings = args.leading();
    let metrics = Arc::new(Metrics::default());
    let client = api_client(metrics.clone()).await?;
    let identity = args
        .instance
        .clone()
        .unwrap_or_else(|| format!("{}-{}", args.name, std::process::id()));
    let kms = args
        .kms
        .as_deref()
        .map(|url| {
            let login = kms::KmsLogin {
                auth: args.kms_auth,
                token_file: args.kms_token_file.as_ref(),
                role: &args.kms_role,
                jwt_file: &args.kms_jwt_file,
                mount: &args.kms_auth_mount,
            };
            kms::from_url(url, &login)
        })
        .transpose()?;
    let shared = Shared {
        store: Arc::new(KeyStore::new(client.clone(), &args.namespace, kms)),
        client: client.clone(),
        keys: Arc::new(SharedKeySet::default()),
        metrics: metrics.clone(),
    };
    let mut state = http::AppState::new(
        shared.clone(),
        args.trusted_proxy.clone(),
        args.recovery_recipient.clone(),
    );
    if args.metrics_auth == "kubernetes" {
        state = state.with_metrics_auth(MetricsAuth::new(client.clone()));
    }
    let health = tokio::spawn(http::serve(
        args.http_addr,
        http::health_router(state.clone()),
        http::MAX_HEALTH_CONNECTIONS,
    ));
    let api = tokio::spawn(http::serve(
        args.api_addr,
        http::api_router(state.clone()),
        http::MAX_API_CONNECTIONS,
    ));

    let sealed_secrets: Api<SealedSecret> = match &args.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    check_crd(&sealed_secrets).await?;

    // Not ready until the keys load (the KMS may be down); the log says why meanwhile.
    let loaded = loop {
        match shared.store.load_or_create().await {
            Ok(loaded) => break loaded,
            Err(e) => {
                tracing::error!("cannot load the sealing keys: {}", error_chain(&e));
                tokio::time::sleep(KEY_LOAD_RETRY).await;
            }
        }
    };
    install_keys(&shared.keys, &metrics, loaded);
    state.ready.store(true, Ordering::Relaxed);

    // Key Secrets added, removed or retired by hand are picked up live; every SealedSecret is
    // then looked at again.
    let (keys_changed_tx, keys_changed_rx) = futures::channel::mpsc::unbounded::<()>();
    let (publish_tx, publish_rx) = watch::channel(0u64);
    tokio::spawn(watch_keys(shared.clone(), keys_changed_tx, publish_tx));

    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: args.name.clone(),
            instance: Some(identity.clone()),
        },
    );

    let policy_task = tokio::spawn(key_policy::watch(
        client.clone(),
        args.key_policy.clone(),
        args.namespace.clone(),
        metrics.clone(),
        recorder.clone(),
    ));

    let (leading_tx, mut leading) = watch::channel(false);
    let election =
        leader::LeaderElection::new(client.clone(), &args.namespace, &args.name, &identity);
    let election_task = tokio::spawn(election.clone().run(leading_tx));
    let mut keys_changed = Some(keys_changed_rx);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        // Followers serve HTTP and keep their keys fresh, nothing else.
        tokio::select! {
            _ = &mut shutdown => break,
            changed = leading.wait_for(|leads| *leads) => { changed?; }
        }
        tracing::info!(%identity, "leading: reconciling, rotating and publishing keys");
        metrics.leader.set(1);
        let leader_work = leading::lead(
            &shared,
            &settings,
            recorder.clone(),
            publish_rx.clone(),
            keys_changed.take(),
        );
        tokio::select! {
            _ = &mut shutdown => break,
            _ = leader_work => break,
            _ = leading.wait_for(|leads| !*leads) => {
                tracing::warn!(%identity, "lost the leader lease: stopped writing");
                metrics.leader.set(0);
                metrics.count_sealed_secrets_in(None);
            }
        }
    }
    election_task.abort();
    policy_task.abort();
    election.release().await;
    tracing::info!("shut down");
    health.abort();
    api.abort();
    Ok(())
}

/// The Kubernetes client (in-cluster or kubeconfig), counting every request it sends.
async fn api_client(metrics: Arc<Metrics>) -> anyhow::Result<Client> {
    let config = kube::Config::infer()
        .await
        .context("finding the Kubernetes API (in-cluster or kubeconfig)")?;
    let count =
        tower::util::MapRequestLayer::new(move |request: ::http::Request<kube::client::Body>| {
            metrics.count_api_request(&request);
            request
        });
    Ok(kube::client::ClientBuilder::try_from(config)
        .context("connecting to the Kubernetes API")?
        .with_layer(&count)
        .build())
}

#[allow(
    clippy::expect_used,
    reason = "a process can always install a SIGTERM handler at start; without one it could not stop cleanly"
)]
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// Refuses to start when the SealedSecret CRD is not installed.
async fn check_crd(api: &Api<SealedSecret>) -> anyhow::Result<()> {
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => bail!(
            "the SealedSecret CRD (sealedsecrets.kage.dev) is not installed; install it with `kubectl apply -k deploy/foundation/` or `kage-controller crd | kubectl apply -f -`"
        ),
        Err(e) => Err(e).context("listing SealedSecrets"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_crd_matches_the_rust_type() {
        let shipped = include_str!("../../deploy/foundation/crd.yaml");
        assert_eq!(
            shipped,
            super::crd_yaml(),
            "deploy/foundation/crd.yaml is stale: run `cargo run -p kage-controller -- crd > deploy/foundation/crd.yaml`"
        );
        assert_eq!(
            include_str!("../../deploy/helm/kage/crds/sealedsecrets.kage.dev.yaml"),
            shipped,
            "the Helm chart's CRD is stale: cp deploy/foundation/crd.yaml deploy/helm/kage/crds/sealedsecrets.kage.dev.yaml"
        );
    }

    #[test]
    fn the_image_recipe_is_locked_pinned_and_keeps_secrets_out_of_the_context() {
        let dockerfile = include_str!("../../deploy/Dockerfile");
        let froms: Vec<&str> = dockerfile
            .lines()
            .filter(|l| l.starts_with("FROM "))
            .collect();
        assert_eq!(froms.len(), 2);
        for from in froms {
            let image = from.split_whitespace().nth(1).unwrap();
            let digest = image.split_once("@sha256:").map(|(_, d)| d).unwrap_or("");
            assert!(
                digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
                "base image not pinned by digest: {from}"
            );
        }
        let builds: Vec<&str> = dockerfile
            .lines()
            .filter(|l| l.contains("cargo build"))
            .collect();
        assert!(!builds.is_empty() && builds.iter().all(|l| l.contains("--locked")));
        let ignored: Vec<&str> = include_str!("../../.dockerignore")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect();
        for must in ["target/", "**/*.key", "**/*kubeconfig*", ".git/"] {
            assert!(ignored.contains(&must), ".dockerignore lacks {must}");
        }
    }
}
