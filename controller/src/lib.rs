//! kage-controller: the in-cluster half of kage. It holds the sealing keys and turns every
//! SealedSecret into the Secret of the same name, in the same namespace.

pub mod audit;
pub mod http;
pub mod keys;
pub mod kms;
pub mod leader;
pub mod metrics;
pub mod owned;
pub mod policy;
pub mod public_keys;
pub mod reconcile;
pub mod rotation;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kage_api::{
    DEFAULT_CONTROLLER_NAME, DEFAULT_CONTROLLER_NAMESPACE, SEALED_SECRET_LABEL, SEALING_KEY_LABEL,
    SealedSecret,
};
use kube::api::ListParams;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, PredicateConfig, WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client, CustomResourceExt};
use tokio::sync::watch;

use crate::keys::{KeyState, KeyStore, Keys, SharedKeys};
use crate::metrics::{Metrics, StateLabel};

/// Wait between attempts to load the keys at start.
const KEY_LOAD_RETRY: Duration = Duration::from_secs(5);

pub use kage_api::error_chain;

/// The one field manager every write of the controller uses.
pub const FIELD_MANAGER: &str = kage_api::CONTROLLER_FIELD_MANAGER;

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
    Run(Box<RunArgs>),
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
    /// Address of the health and metrics endpoints (`/healthz`, `/readyz`, `/metrics`).
    #[arg(long, env = "KAGE_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: std::net::SocketAddr,
    /// Address of the API (`/v1/keys`, `/v1/verify`, `/v1/reseal`), reached through the API
    /// server's service proxy.
    #[arg(long, env = "KAGE_API_ADDR", default_value = "0.0.0.0:8081")]
    pub api_addr: std::net::SocketAddr,
    /// Address ranges (CIDR) of proxies whose last `X-Forwarded-For` entry names the client
    /// (the API servers). From anyone else the header is ignored: the client is the peer.
    #[arg(long, env = "KAGE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxy: Vec<http::Cidr>,
    /// Offline recovery recipients (`age1...`) that `/v1/reseal` may keep on a value; any other
    /// recipient a client asks to keep is refused. Compared whole: a short fingerprint could be
    /// forged to match.
    #[arg(long, env = "KAGE_RECOVERY_RECIPIENTS", value_delimiter = ',')]
    pub recovery_recipient: Vec<kage_core::Recipient>,
    /// Secret types a SealedSecret's template may ask for besides the default set (see
    /// docs/operations.md); repeat or separate with commas.
    #[arg(long, env = "KAGE_ALLOW_SECRET_TYPES", value_delimiter = ',')]
    pub allow_secret_type: Vec<String>,
    /// Log format.
    #[arg(long, env = "KAGE_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    pub log_format: String,
    /// How many SealedSecrets are reconciled at once.
    #[arg(long, env = "KAGE_CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
    /// Identity of this replica (pod name) in Events and the leader Lease.
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
    /// Wrap sealing keys with this KMS: vault-transit://HOST:PORT/KEY (OpenBao or Vault
    /// Transit over HTTPS; vault-transit+http:// for a local dev server).
    #[arg(long, env = "KAGE_KMS")]
    pub kms: Option<String>,
    /// File holding the KMS token (default: $BAO_TOKEN, then $VAULT_TOKEN).
    #[arg(long, env = "KAGE_KMS_TOKEN_FILE")]
    pub kms_token_file: Option<std::path::PathBuf>,
    /// Create a new sealing key this long after the newest one (e.g. 30d, 12h; 0 = never).
    #[arg(long, env = "KAGE_KEY_ROTATION_PERIOD", default_value = "30d", value_parser = parse_period)]
    pub key_rotation_period: Duration,
}

/// Parses `30d`, `12h`, `90m`, `45s` or `0`; a period shorter than
/// [`keys::MIN_ROTATION_INTERVAL`] is refused.
fn parse_period(text: &str) -> Result<Duration, String> {
    let period = parse_duration(text)?;
    if !period.is_zero() && period < keys::MIN_ROTATION_INTERVAL {
        return Err(format!(
            "{text:?}: keys are created at least {}s apart",
            keys::MIN_ROTATION_INTERVAL.as_secs()
        ));
    }
    Ok(period)
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected e.g. 30d, 12h, 90m, 45s or 0"))?;
    let seconds = match unit {
        "d" => n * 86_400,
        "h" => n * 3_600,
        "m" => n * 60,
        "s" => n,
        _ => return Err(format!("{text:?}: unit must be d, h, m or s")),
    };
    Ok(Duration::from_secs(seconds))
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
    let metrics = Arc::new(Metrics::default());
    let client = api_client(metrics.clone()).await?;
    let identity = args
        .instance
        .clone()
        .unwrap_or_else(|| format!("{}-{}", args.name, std::process::id()));
    let keys = Arc::new(SharedKeys::default());
    let kms = args
        .kms
        .as_deref()
        .map(|url| kms::from_url(url, args.kms_token_file.as_ref()))
        .transpose()?;
    let store = Arc::new(KeyStore::new(client.clone(), &args.namespace, kms));
    let state = http::AppState::new(
        keys.clone(),
        metrics.clone(),
        args.trusted_proxy.clone(),
        args.recovery_recipient.clone(),
    );
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

    // Not ready until the keys load (the KMS may be down); /readyz says why meanwhile.
    let loaded = loop {
        match store.load_or_create().await {
            Ok(loaded) => break loaded,
            Err(e) => {
                let reason = format!("cannot load the sealing keys: {}", error_chain(&e));
                tracing::error!("{reason}");
                *state.not_ready_reason.write().expect("lock") = reason;
                tokio::time::sleep(KEY_LOAD_RETRY).await;
            }
        }
    };
    install_keys(&keys, &metrics, loaded);
    state.ready.store(true, Ordering::Relaxed);

    // Key Secrets added, removed or retired by hand are picked up live; every SealedSecret is
    // then looked at again.
    let (keys_changed_tx, keys_changed_rx) = futures::channel::mpsc::unbounded::<()>();
    let (publish_tx, publish_rx) = watch::channel(0u64);
    tokio::spawn(watch_keys(
        client.clone(),
        args.namespace.clone(),
        store.clone(),
        keys.clone(),
        metrics.clone(),
        keys_changed_tx,
        publish_tx,
    ));

    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: args.name.clone(),
            instance: Some(identity.clone()),
        },
    );

    let (leading_tx, mut leading) = watch::channel(false);
    let election =
        leader::LeaderElection::new(client.clone(), &args.namespace, &args.name, &identity);
    let election_task = tokio::spawn(election.run(leading_tx));
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
        let leader_work = lead(
            &args,
            client.clone(),
            sealed_secrets.clone(),
            recorder.clone(),
            metrics.clone(),
            store.clone(),
            keys.clone(),
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
    leader::LeaderElection::new(client, &args.namespace, &args.name, &identity)
        .release()
        .await;
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

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// What only the leader does: reconcile, rotate, publish the public keys.
#[allow(clippy::too_many_arguments)]
async fn lead(
    args: &RunArgs,
    client: Client,
    sealed_secrets: Api<SealedSecret>,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    store: Arc<KeyStore>,
    keys: Arc<SharedKeys>,
    publish: watch::Receiver<u64>,
    keys_changed: Option<futures::channel::mpsc::UnboundedReceiver<()>>,
) {
    let publisher =
        public_keys::publish_and_guard(store.clone(), keys.clone(), publish, recorder.clone());
    let schedule =
        rotation::rotate_on_schedule(store.clone(), keys.clone(), args.key_rotation_period);
    let requests = rotation::serve_rotation_requests(store, recorder.clone());

    let secrets: Api<PartialObjectMeta<Secret>> = match &args.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let ctx = Arc::new(reconcile::Context {
        client,
        keys,
        recorder,
        metrics,
        owned_secrets: Default::default(),
        policy: policy::TemplatePolicy::new(&args.namespace, &args.allow_secret_type),
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
    // Our own status writes do not change metadata.generation: filtering on it spares every
    // object a second, empty reconcile. Only a summary of each object is kept.
    let (reader, writer) = reflector::store();
    ctx.metrics.count_sealed_secrets_in(Some(reader.clone()));
    let specs = watcher(sealed_secrets, watcher::Config::default())
        .default_backoff()
        .modify(reconcile::summarize)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation, PredicateConfig::default());
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

/// Replaces the keys in use and updates the key metrics.
fn install_keys(keys: &SharedKeys, metrics: &Metrics, loaded: Vec<keys::SealingKey>) {
    let new = Keys::new(loaded);
    for state in [KeyState::Active, KeyState::Retired] {
        let count = new.all.iter().filter(|k| k.state == state).count();
        metrics
            .keys
            .get_or_create(&StateLabel {
                state: state.as_str().to_owned(),
            })
            .set(count as i64);
    }
    if let Some(current) = new.current() {
        let age = jiff::Timestamp::now()
            .duration_since(current.created)
            .as_secs();
        metrics.newest_key_age.set(age);
    }
    metrics
        .newest_key_backed_up
        .set(i64::from(new.current().is_some_and(|k| k.backed_up)));
    let by_state = |state: KeyState| -> Vec<_> {
        new.all
            .iter()
            .filter(|k| k.state == state)
            .map(|k| k.identity.fingerprint())
            .collect()
    };
    audit::keys_changed(&by_state(KeyState::Active), &by_state(KeyState::Retired));
    keys.replace(new);
}

/// Watches the key Secrets; on every change reloads them, asks the leader to publish, and
/// asks for every SealedSecret to be reconciled again.
async fn watch_keys(
    client: Client,
    namespace: String,
    store: Arc<KeyStore>,
    keys: Arc<SharedKeys>,
    metrics: Arc<Metrics>,
    changed: futures::channel::mpsc::UnboundedSender<()>,
    publish: watch::Sender<u64>,
) {
    let api: Api<PartialObjectMeta<Secret>> = Api::namespaced(client, &namespace);
    let mut events = watcher(api, watcher::Config::default().labels(SEALING_KEY_LABEL))
        .default_backoff()
        .boxed();
    let mut known: Option<Vec<(String, String, KeyState, bool)>> = None;
    while let Some(event) = events.next().await {
        match event {
            // A (re)list arrives as Init, one InitApply per Secret, then InitDone: reload once,
            // at InitDone, not once per key.
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "watching key Secrets");
                continue;
            }
        }
        let loaded = match store.load().await {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::warn!(error = %e, "reloading keys");
                continue;
            }
        };
        let summary: Vec<_> = loaded
            .iter()
            .map(|k| {
                (
                    k.name.clone(),
                    k.identity.fingerprint().to_string(),
                    k.state,
                    k.backed_up,
                )
            })
            .collect();
        if known.as_ref() == Some(&summary) {
            continue;
        }
        let first = known.is_none();
        known = Some(summary);
        install_keys(&keys, &metrics, loaded);
        publish.send_modify(|n| *n += 1);
        if !first {
            let _ = changed.unbounded_send(());
        }
    }
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
    fn rotation_periods_parse_with_units_and_zero_means_never() {
        use std::time::Duration;
        assert_eq!(
            super::parse_period("30d"),
            Ok(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            super::parse_period("12h"),
            Ok(Duration::from_secs(12 * 3_600))
        );
        assert_eq!(super::parse_period("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(super::parse_period("0"), Ok(Duration::ZERO));
        for bad in ["", "d", "30", "30w", "-1d", "1.5h", "9s"] {
            assert!(super::parse_period(bad).is_err(), "{bad:?}");
        }
        assert_eq!(super::parse_period("10s"), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn the_backed_up_gauge_follows_the_current_key() {
        use crate::keys::tests::key;
        use crate::keys::{KeyState, SharedKeys};
        use crate::metrics::Metrics;
        let (metrics, keys) = (Metrics::default(), SharedKeys::default());
        let mut current = key(kage_core::Identity::generate(), KeyState::Active);
        super::install_keys(&keys, &metrics, vec![current.clone()]);
        assert_eq!(metrics.newest_key_backed_up.get(), 0);
        current.backed_up = true;
        super::install_keys(&keys, &metrics, vec![current]);
        assert_eq!(metrics.newest_key_backed_up.get(), 1);
    }

    #[test]
    fn the_shipped_crd_matches_the_rust_type() {
        let shipped = include_str!("../../deploy/base/crd.yaml");
        assert_eq!(
            shipped,
            super::crd_yaml(),
            "deploy/base/crd.yaml is stale: run `cargo run -p kage-controller -- crd > deploy/base/crd.yaml`"
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
