//! kage-controller: the in-cluster half of kage. It holds the sealing keys and turns every
//! SealedSecret into the Secret of the same name, in the same namespace.

pub mod http;
pub mod keys;
pub mod reconcile;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kage_api::{
    DEFAULT_CONTROLLER_NAME, DEFAULT_CONTROLLER_NAMESPACE, SEALED_SECRET_LABEL, SealedSecret,
};
use kube::api::ListParams;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, CustomResourceExt};

use crate::reconcile::{Context, error_policy, reconcile};

/// The one field manager every write of the controller uses.
pub const FIELD_MANAGER: &str = "kage-controller";

/// kage-controller: unseals SealedSecrets into native Secrets.
#[derive(Debug, Parser)]
#[command(name = "kage-controller", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controller.
    Run(RunArgs),
    /// Print the SealedSecret CustomResourceDefinition (YAML).
    Crd,
}

/// Flags of `kage-controller run`; each can also be set by its environment variable.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Namespace holding the sealing keys and the public-keys ConfigMap.
    #[arg(long, env = "KAGE_NAMESPACE", default_value = DEFAULT_CONTROLLER_NAMESPACE)]
    pub namespace: String,
    /// Name of the controller (Events' reporting controller).
    #[arg(long, env = "KAGE_CONTROLLER_NAME", default_value = DEFAULT_CONTROLLER_NAME)]
    pub name: String,
    /// Only watch SealedSecrets in this namespace (default: all namespaces).
    #[arg(long, env = "KAGE_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Address of the health endpoints.
    #[arg(long, env = "KAGE_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: std::net::SocketAddr,
    /// Log format.
    #[arg(long, env = "KAGE_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    pub log_format: String,
    /// How many SealedSecrets are reconciled at once.
    #[arg(long, env = "KAGE_CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
    /// Identity of this replica (pod name) in Events.
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
}

impl Cli {
    /// Parses the command line and runs it; the process exit code says how it went.
    pub fn parse_and_run() -> std::process::ExitCode {
        let cli = Cli::parse();
        let result = match cli.command {
            Command::Crd => {
                print!("{}", crd_yaml());
                Ok(())
            }
            Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")
                .and_then(|rt| rt.block_on(run(args))),
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
}

/// The CRD as YAML, generated from the Rust type.
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

/// Runs the controller until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    let client = Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    let ready = Arc::new(AtomicBool::new(false));
    let http = tokio::spawn(http::serve(args.http_addr, ready.clone()));

    let sealed_secrets: Api<SealedSecret> = match &args.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    check_crd(&sealed_secrets).await?;

    let store = keys::KeyStore::new(client.clone(), &args.namespace);
    let loaded = store.load_or_create().await?;
    store.publish(&loaded).await?;
    let fingerprints: Vec<String> = loaded
        .iter()
        .map(|k| k.identity.fingerprint().to_string())
        .collect();
    tracing::info!(keys = ?fingerprints, namespace = %args.namespace, "sealing keys loaded");

    let ctx = Arc::new(Context {
        client: client.clone(),
        keys: RwLock::new(keys::ring(&loaded)),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: args.name.clone(),
                instance: args.instance.clone(),
            },
        ),
    });
    ready.store(true, Ordering::Relaxed);

    let secrets: Api<PartialObjectMeta<Secret>> = match &args.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // Only Secrets kage wrote, and only their metadata: values never sit in a cache here.
    let owned = watcher(
        secrets,
        watcher::Config::default().labels(SEALED_SECRET_LABEL),
    )
    .touched_objects();
    Controller::new(sealed_secrets, watcher::Config::default())
        .owns_stream(owned)
        .with_config(kube::runtime::controller::Config::default().concurrency(args.concurrency))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|_| std::future::ready(()))
        .await;
    tracing::info!("shut down");
    http.abort();
    Ok(())
}

/// Refuses to start when the SealedSecret CRD is not installed.
async fn check_crd(api: &Api<SealedSecret>) -> anyhow::Result<()> {
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => bail!(
            "the SealedSecret CRD (sealedsecrets.kage.dev) is not installed; install it with `kubectl apply -k deploy/` or `kage-controller crd | kubectl apply -f -`"
        ),
        Err(e) => Err(e).context("listing SealedSecrets"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_crd_matches_the_rust_type() {
        let shipped = include_str!("../../deploy/crd.yaml");
        assert_eq!(
            shipped,
            super::crd_yaml(),
            "deploy/crd.yaml is stale: run `cargo run -p kage-controller -- crd > deploy/crd.yaml`"
        );
    }
}
