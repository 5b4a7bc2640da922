//! Talking to the cluster through the kubeconfig (read by kube): the default namespace, the
//! controller's public keys and the state of SealedSecrets. No service proxy and no
//! port-forward: plain API reads that RBAC allows to every authenticated user.

use std::path::Path;

use anyhow::{Context, anyhow};
use k8s_openapi::api::core::v1::ConfigMap;
use kage_api::wire::PublishedKey;
use kage_api::{CURRENT_RECIPIENT_KEY, KEYS_JSON_KEY, PUBLIC_KEYS_CONFIGMAP};
use kage_core::Recipient;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::args::ClusterArgs;
use crate::cluster_error::{ClusterError, Request, innermost, is_not_found, kubeconfig_error};
use crate::mistake::Mistake;

/// The controller's public keys.
#[derive(Debug)]
pub struct PublicKeys {
    /// The key new values are sealed to.
    pub current: Recipient,
    /// Every key, oldest first.
    pub keys: Vec<PublishedKey>,
    /// The fingerprint of every key that parses, computed once (parsing a recipient costs a
    /// Diffie-Hellman, and files are checked value by value against these).
    pub fingerprints: Vec<kage_core::Fingerprint>,
}

impl PublicKeys {
    /// The published keys, with their fingerprints.
    pub fn new(current: Recipient, keys: Vec<PublishedKey>) -> Self {
        let fingerprints = keys
            .iter()
            .filter_map(|k| k.recipient.parse::<Recipient>().ok())
            .map(|r| r.fingerprint())
            .collect();
        PublicKeys {
            current,
            keys,
            fingerprints,
        }
    }
}

/// Runs an async cluster operation on a small runtime of its own.
pub fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(future)
}

/// A client and its default namespace, from `--kubeconfig`/`--context` or the usual places.
/// Every failure is a [`ClusterError`].
pub async fn connect(args: &ClusterArgs) -> anyhow::Result<(Client, String)> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let path = args.kubeconfig.as_deref();
    let no_default = || {
        std::env::var_os("KUBECONFIG").is_none_or(|v| v.is_empty())
            && std::env::home_dir().is_none_or(|h| !h.join(".kube/config").is_file())
    };
    let config = match path {
        Some(path) => {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(Some(path), &e))?;
            Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        None if no_default() => return Err(ClusterError::NoKubeconfig.into()),
        None => Config::from_kubeconfig(&options).await,
    }
    .map_err(|e| kubeconfig_error(path, &e))?;
    let namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| {
        anyhow::Error::from(ClusterError::BadKubeconfig {
            path: path.map(Path::to_path_buf),
            cause: innermost(&e),
        })
    })?;
    Ok((client, namespace))
}

/// Reads the public keys the controller publishes.
pub async fn fetch_keys(client: Client, args: &ClusterArgs) -> anyhow::Result<PublicKeys> {
    let ns = &args.controller_namespace;
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
    let data = map.data.unwrap_or_default();
    let current = data
        .get(CURRENT_RECIPIENT_KEY)
        .ok_or_else(|| anyhow!("ConfigMap {ns}/{PUBLIC_KEYS_CONFIGMAP} names no current key"))?
        .parse::<Recipient>()
        .with_context(|| format!("ConfigMap {ns}/{PUBLIC_KEYS_CONFIGMAP}"))?;
    let keys = match data.get(KEYS_JSON_KEY) {
        Some(text) => serde_json::from_str(text).with_context(|| {
            format!("ConfigMap {ns}/{PUBLIC_KEYS_CONFIGMAP}: bad {KEYS_JSON_KEY}")
        })?,
        None => Vec::new(),
    };
    Ok(PublicKeys::new(current, keys))
}

/// Calls the controller's HTTP API: through the API server's service proxy (so cluster RBAC on
/// `services/proxy` decides), or directly at `--controller-url`. Returns the response body.
pub async fn call_controller(
    args: &ClusterArgs,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<String> {
    let (client, uri) = match &args.controller_url {
        Some(url) => {
            let config = Config::new(
                url.parse()
                    .with_context(|| format!("--controller-url {url}"))?,
            );
            (Client::try_from(config)?, path.to_owned())
        }
        None => {
            let (client, _) = connect(args).await?;
            let uri = format!(
                "/api/v1/namespaces/{}/services/{}:api/proxy{path}",
                args.controller_namespace, args.controller_name
            );
            (client, uri)
        }
    };
    let request = http::Request::builder()
        .method(method)
        .uri(&uri)
        .header("content-type", "application/yaml")
        .body(body)?;
    let through_proxy = args.controller_url.is_none();
    client.request_text(request).await.map_err(|e| match e {
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
            action: &format!("calling the controller ({method} {path})"),
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
    })
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
