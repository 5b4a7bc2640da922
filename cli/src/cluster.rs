//! One command's session with the cluster: one runtime, one client made from one
//! `kube::Config` (connected on first use, never when a command works offline), its default
//! namespace, and a bound on every request. Through it the CLI reads the controller's public
//! keys and calls the controller's HTTP API with the typed bodies of [`kage_api::wire`]. No
//! port-forward: plain API reads that RBAC allows to every authenticated user, and the API
//! server's service proxy (or `--controller-url`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use k8s_openapi::api::core::v1::ConfigMap;
use kage_api::PUBLIC_KEYS_CONFIGMAP;
use kage_api::wire::{PublishedKeys, ResealAnswer, ResealQuery, VerifyAnswer, path};
use kage_core::Recipient;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use crate::args::ClusterArgs;
use crate::cluster_error::{ClusterError, Request, innermost, is_not_found, kubeconfig_error};
use crate::mistake::Mistake;

/// Longest wait to open a connection to the API server (or the controller).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for one answer of the API server (or the controller); a watch asks the API
/// server to end it sooner ([`WATCH_TIMEOUT`]) and starts again.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the API server keeps one watch request open (below [`READ_TIMEOUT`]).
pub const WATCH_TIMEOUT: Duration = Duration::from_secs(50);

/// The cluster, as one command sees it.
pub struct Cluster<'a> {
    args: &'a ClusterArgs,
    runtime: tokio::runtime::Runtime,
    connection: OnceCell<(Client, String)>,
}

impl<'a> Cluster<'a> {
    /// A session for the cluster `args` select; nothing is read until it is used.
    pub fn new(args: &'a ClusterArgs) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        Ok(Cluster {
            args,
            runtime,
            connection: OnceCell::new(),
        })
    }

    /// Runs `work` (which may use this session) to its end.
    pub fn block_on<T>(&self, work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        self.runtime.block_on(work)
    }

    /// The client and the kubeconfig context's namespace, connected on first use. Every
    /// failure is a [`ClusterError`].
    pub async fn client(&self) -> anyhow::Result<(Client, &str)> {
        let (client, namespace) = self
            .connection
            .get_or_try_init(|| connect(self.args))
            .await?;
        Ok((client.clone(), namespace))
    }

    /// The public keys the controller publishes.
    pub async fn public_keys(&self) -> anyhow::Result<PublishedKeys> {
        let (client, _) = self.client().await?;
        let ns = &self.args.controller_namespace;
        let map = Api::<ConfigMap>::namespaced(client, ns)
            .get(PUBLIC_KEYS_CONFIGMAP)
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    anyhow::Error::from(Mistake::NoController {
                        namespace: ns.clone(),
                        config_map: PUBLIC_KEYS_CONFIGMAP,
                    })
                } else {
                    Request {
                        action: &format!("reading the public keys {ns}/{PUBLIC_KEYS_CONFIGMAP}"),
                        verb: "get",
                        resource: "configmaps",
                        namespace: Some(ns),
                        ..Request::default()
                    }
                    .error(e)
                }
            })?;
        PublishedKeys::from_data(&map.data.unwrap_or_default())
            .with_context(|| format!("in namespace {ns}"))
    }

    /// Asks the controller whether it can open the SealedSecrets of `body` (YAML).
    pub async fn verify(&self, body: String) -> anyhow::Result<VerifyAnswer> {
        self.call_controller(path::VERIFY, body).await
    }

    /// Asks the controller to reseal the SealedSecrets of `body` (YAML) to its current key,
    /// keeping `keep` where a value is sealed to them.
    pub async fn reseal(&self, body: String, keep: &[Recipient]) -> anyhow::Result<ResealAnswer> {
        self.call_controller(&ResealQuery::keeping(keep).uri(), body)
            .await
    }

    /// POSTs `body` to the controller's HTTP API: through the API server's service proxy (so
    /// cluster RBAC on `services/proxy` decides), or directly at `--controller-url`.
    async fn call_controller<T: DeserializeOwned>(
        &self,
        path: &str,
        body: String,
    ) -> anyhow::Result<T> {
        let args = self.args;
        let (client, uri) = match &args.controller_url {
            Some(url) => {
                let mut config = Config::new(url.clone());
                bounded(&mut config);
                (Client::try_from(config)?, path.to_owned())
            }
            None => {
                let (client, _) = self.client().await?;
                let uri = format!(
                    "/api/v1/namespaces/{}/services/{}:api/proxy{path}",
                    args.controller_namespace, args.controller_name
                );
                (client, uri)
            }
        };
        let request = http::Request::builder()
            .method("POST")
            .uri(&uri)
            .header("content-type", "application/yaml")
            .body(body.into_bytes())?;
        let through_proxy = args.controller_url.is_none();
        let answer = client.request_text(request).await.map_err(|e| match e {
            kube::Error::Api(status) if through_proxy && matches!(status.code, 404 | 502 | 503) => {
                ClusterError::ControllerDown {
                    namespace: args.controller_namespace.clone(),
                    name: args.controller_name.clone(),
                    code: status.code,
                    message: status.message,
                }
                .into()
            }
            kube::Error::Api(status) if !through_proxy || !matches!(status.code, 401 | 403) => {
                anyhow!(
                    "the controller answered {}: {}",
                    status.code,
                    status.message
                )
            }
            other if through_proxy => Request {
                action: &format!("calling the controller (POST {path})"),
                verb: "create",
                resource: "services",
                subresource: Some("proxy"),
                name: Some(&args.controller_name),
                namespace: Some(&args.controller_namespace),
            }
            .error(other),
            other => anyhow!(
                "cannot reach the controller at {uri}: {}",
                innermost(&other)
            ),
        })?;
        serde_json::from_str(&answer).context("reading the controller's answer")
    }
}

/// Bounds every request of `config` by [`CONNECT_TIMEOUT`] and [`READ_TIMEOUT`], and turns
/// off the client's own retries: they back off up to 15 times on a 429, 503 or 504, minutes in
/// all, and a 503 from the service proxy means the controller is down, which the user is to
/// hear at once ([`ClusterError::ControllerDown`]).
fn bounded(config: &mut Config) {
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    config.default_retry = false;
}

/// A client and its default namespace, from `--kubeconfig`/`--context` or the usual places,
/// each request bounded by [`CONNECT_TIMEOUT`] and [`READ_TIMEOUT`].
async fn connect(args: &ClusterArgs) -> anyhow::Result<(Client, String)> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let path = args.kubeconfig.as_deref();
    let no_default = || {
        std::env::var_os("KUBECONFIG").is_none_or(|v| v.is_empty())
            && std::env::home_dir().is_none_or(|h| !h.join(".kube/config").is_file())
    };
    let mut config = match path {
        Some(path) => {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(Some(path), &e))?;
            Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        None if no_default() => return Err(ClusterError::NoKubeconfig.into()),
        None => Config::from_kubeconfig(&options).await,
    }
    .map_err(|e| kubeconfig_error(path, &e))?;
    bounded(&mut config);
    let namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| {
        anyhow::Error::from(ClusterError::BadKubeconfig {
            path: path.map(Path::to_path_buf),
            cause: innermost(&e),
        })
    })?;
    Ok((client, namespace))
}

/// The namespace for objects that name none, as kubectl picks it: `-n`, else the kubeconfig
/// context's, else "default".
pub fn default_namespace(flag: Option<&str>, cluster: &ClusterArgs) -> anyhow::Result<String> {
    if let Some(ns) = flag {
        return Ok(ns.to_owned());
    }
    let from_kubeconfig =
        kubeconfig_namespace(cluster.kubeconfig.as_deref(), cluster.context.as_deref())?;
    Ok(from_kubeconfig.unwrap_or_else(|| "default".to_owned()))
}

/// The namespace of the kubeconfig's current (or given) context, as kubectl picks it; `None`
/// without a kubeconfig (sealing needs no cluster).
pub fn kubeconfig_namespace(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let default = || {
        std::env::home_dir()
            .map(|h| h.join(".kube/config"))
            .filter(|p| p.is_file())
    };
    let config = match kubeconfig {
        Some(path) if path.is_file() => {
            Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(Some(path), &e))?
        }
        Some(_) => return Ok(None),
        None => match Kubeconfig::from_env().map_err(|e| kubeconfig_error(None, &e))? {
            Some(config) => config,
            None => match default() {
                Some(path) => {
                    Kubeconfig::read_from(&path).map_err(|e| kubeconfig_error(Some(&path), &e))?
                }
                None => return Ok(None),
            },
        },
    };
    let Some(current) = context.map(str::to_owned).or(config.current_context) else {
        return Ok(None);
    };
    match config.contexts.iter().find(|c| c.name == current) {
        Some(named) => Ok(named.context.as_ref().and_then(|c| c.namespace.clone())),
        None if context.is_some() => {
            anyhow::bail!("context {current:?} not found in the kubeconfig")
        }
        None => Ok(None),
    }
}
