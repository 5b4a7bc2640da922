//! Bitnami Sealed Secrets, the real thing: its controller (built from its Go module by
//! `cargo xtask test`, folder in `$KAGE_SEALED_SECRETS_DIR`) running against the cluster under
//! test, and `kubeseal` sealing to it.
//!
//! The controller reads only in-cluster configuration, so it runs in a mount namespace of its
//! own with a tmpfs over `/run` holding a ServiceAccount token, the cluster CA and its
//! namespace at the in-cluster paths, and `KUBERNETES_SERVICE_HOST`/`_PORT` set to the API
//! server. It watches only its own namespace (`POD_NAMESPACE`, also where its keys go) and the
//! ones named, so tests running side by side do not meet.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::{Cluster, http_get, run_ok, wait_until};

/// The folder holding `controller`, `kubeseal` and the CRD (`$KAGE_SEALED_SECRETS_DIR`).
pub fn sealed_secrets_tools() -> Option<PathBuf> {
    crate::tool_from_env("KAGE_SEALED_SECRETS_DIR")
}

static CRD_INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A running Sealed Secrets controller; killed on drop.
pub struct SealedSecretsController {
    child: Child,
    tools: PathBuf,
    /// Where it keeps its keys (and the first namespace it watches).
    pub namespace: String,
    /// Its HTTP address (`/v1/cert.pem`, `/healthz`).
    pub addr: String,
    log_path: PathBuf,
    /// Removes the ClusterRoleBinding made for it.
    kubectl: Command,
}

impl SealedSecretsController {
    /// Installs the CRD and starts the controller in `namespace`, also watching `also`; returns
    /// once it serves its certificate.
    pub async fn start(
        cluster: &Cluster,
        tools: &Path,
        namespace: &str,
        also: &[&str],
        dir: &Path,
    ) -> Result<Self> {
        {
            // Tests start controllers side by side: one CRD install at a time.
            let _one = CRD_INSTALL
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            run_ok(
                cluster
                    .kubectl()
                    .args(["apply", "--server-side", "-f"])
                    .arg(tools.join("bitnami.com_sealedsecrets.yaml")),
            )?;
            run_ok(cluster.kubectl().args([
                "wait",
                "--for=condition=established",
                "crd/sealedsecrets.bitnami.com",
                "--timeout=30s",
            ]))?;
        }
        let account = "sealed-secrets-controller";
        let (_, kubeconfig) = cluster.service_account(namespace, account, dir).await?;
        run_ok(cluster.kubectl().args([
            "create",
            "clusterrolebinding",
            &format!("sealed-secrets-{namespace}"),
            "--clusterrole=cluster-admin",
            &format!("--serviceaccount={namespace}:{account}"),
        ]))?;
        // `service_account` writes its kubeconfig as JSON.
        let sa: serde_json::Value = serde_json::from_slice(&std::fs::read(&kubeconfig)?)?;
        let token = sa["users"][0]["user"]["token"]
            .as_str()
            .context("no token")?;
        let cluster_info = &sa["clusters"][0]["cluster"];
        let server = cluster_info["server"].as_str().context("no server")?;
        let ca = match (
            cluster_info["certificate-authority-data"].as_str(),
            cluster_info["certificate-authority"].as_str(),
        ) {
            (Some(data), _) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.decode(data)?
            }
            (None, Some(path)) => std::fs::read(path)?,
            (None, None) => anyhow::bail!("the kubeconfig has no CA"),
        };
        let files = dir.join("serviceaccount");
        std::fs::create_dir_all(&files)?;
        std::fs::write(files.join("token"), token)?;
        std::fs::write(files.join("ca.crt"), ca)?;
        std::fs::write(files.join("namespace"), namespace)?;
        let hostport = server.trim_start_matches("https://").trim_end_matches('/');
        let (host, port) = hostport.rsplit_once(':').context("server without a port")?;

        let addr = format!("127.0.0.1:{}", crate::free_port()?);
        let metrics = format!("127.0.0.1:{}", crate::free_port()?);
        let log_path = dir.join(format!("sealed-secrets-{namespace}.log"));
        let log = std::fs::File::create(&log_path)?;
        let script = r#"mount -t tmpfs tmpfs /run &&
            mkdir -p /run/secrets/kubernetes.io/serviceaccount &&
            cp "$0"/* /run/secrets/kubernetes.io/serviceaccount/ &&
            exec "$@""#;
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", script])
            .arg(&files)
            .arg(tools.join("controller"))
            .args(["--listen-addr", &addr, "--listen-metrics-addr", &metrics])
            .args(["--all-namespaces=false", "--key-renew-period=0"])
            .arg(format!("--additional-namespaces={}", also.join(",")))
            .env("KUBERNETES_SERVICE_HOST", host)
            .env("KUBERNETES_SERVICE_PORT", port)
            .env("POD_NAMESPACE", namespace)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting the Sealed Secrets controller (unshare, in a mount namespace)")?;
        let mut controller = SealedSecretsController {
            child,
            tools: tools.to_owned(),
            namespace: namespace.to_owned(),
            addr,
            log_path,
            kubectl: {
                let mut cmd = cluster.kubectl();
                cmd.args([
                    "delete",
                    "clusterrolebinding",
                    &format!("sealed-secrets-{namespace}"),
                ]);
                cmd
            },
        };
        let result = wait_until(Duration::from_secs(60), "Sealed Secrets' certificate", || {
            let addr = controller.addr.clone();
            async move { Ok(http_get(&addr, "/v1/cert.pem").is_ok_and(|(code, _)| code == 200)) }
        })
        .await;
        if let Err(e) = result {
            let logs = controller.logs();
            controller.stop();
            return Err(e.context(logs));
        }
        Ok(controller)
    }

    /// Everything it has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `kubeseal` sealing to this controller's certificate (fetched over its HTTP address).
    pub fn kubeseal(&self, cluster: &Cluster) -> Command {
        let mut cmd = Command::new(self.tools.join("kubeseal"));
        cmd.arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .args(["--cert", &format!("http://{}/v1/cert.pem", self.addr)]);
        cmd
    }

    /// Stops the controller.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SealedSecretsController {
    fn drop(&mut self) {
        self.stop();
        let _ = self.kubectl.output();
    }
}
