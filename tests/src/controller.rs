//! The controller as a local process, its binaries, and plain HTTP to its endpoints.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cluster::{CONTROLLER_NAMESPACE, Cluster, free_port, kubectl, run_ok, wait_until};
use crate::metrics::metric_samples;

/// Path of a kage binary (`kage`, `kage-controller`): `$KAGE_BIN_DIR`, else `target/debug`.
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("KAGE_BIN_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug"),
        PathBuf::from,
    );
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} missing: run `cargo build` first",
        path.display()
    );
    path
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Cluster {
    /// Installs kage as documented (`kubectl apply -k` of `deploy/foundation/`, then of
    /// `deploy/`) and waits for the CRD.
    pub fn install(&self) -> Result<()> {
        for dir in ["deploy/foundation", "deploy"] {
            run_ok(
                self.kubectl()
                    .arg("apply")
                    .arg("-k")
                    .arg(workspace().join(dir)),
            )?;
        }
        run_ok(self.kubectl().args([
            "wait",
            "--for=condition=Established",
            "crd/sealedsecrets.kage.dev",
            "--timeout=60s",
        ]))?;
        Ok(())
    }

    /// `kage` with the admin kubeconfig.
    pub fn kage(&self) -> Command {
        let mut cmd = Command::new(binary("kage"));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// Starts `kage-controller run` as the shipped ServiceAccount, logging to a file.
    pub async fn start_controller(&self, dir: &Path, extra: &[&str]) -> Result<ControllerProcess> {
        let (_, kubeconfig) = self
            .service_account(CONTROLLER_NAMESPACE, "kage-controller", dir)
            .await?;
        self.start_controller_as(&kubeconfig, dir, extra)
    }

    /// Starts the controller as the shipped ServiceAccount and waits until it leads and has
    /// published its key, so that what is sealed next can be opened.
    pub async fn start_leading_controller(
        &self,
        dir: &Path,
        extra: &[&str],
    ) -> Result<ControllerProcess> {
        let mut controller = self.start_controller(dir, extra).await?;
        controller.wait_leading(self).await?;
        Ok(controller)
    }

    /// Starts a leading controller that watches only `namespace` and never rotates on its
    /// own schedule (the usual controller of a test).
    pub async fn start_controller_for(
        &self,
        dir: &Path,
        namespace: &str,
    ) -> Result<ControllerProcess> {
        self.start_leading_controller(
            dir,
            &["--watch-namespace", namespace, "--key-rotation-period", "0"],
        )
        .await
    }

    /// Starts `kage-controller run` with the credentials of `kubeconfig`.
    pub fn start_controller_as(
        &self,
        kubeconfig: &Path,
        dir: &Path,
        extra: &[&str],
    ) -> Result<ControllerProcess> {
        self.start_controller_with_env(kubeconfig, dir, &[], extra)
    }

    /// Starts `kage-controller run` with the credentials of `kubeconfig` and `env` (the
    /// environment a Deployment gives it, say).
    pub fn start_controller_with_env(
        &self,
        kubeconfig: &Path,
        dir: &Path,
        env: &[(String, String)],
        extra: &[&str],
    ) -> Result<ControllerProcess> {
        let (port, health_port) = (free_port()?, free_port()?);
        let mut program = Command::new(binary("kage-controller"));
        program.envs(env.iter().map(|(k, v)| (k, v)));
        let token = metrics_token(&self.kubeconfig)?;
        Ok(ControllerProcess::spawn(
            program,
            kubeconfig,
            dir.join(format!("controller-{port}.log")),
            (
                format!("127.0.0.1:{port}"),
                format!("127.0.0.1:{health_port}"),
            ),
            extra,
        )?
        .with_metrics_token(token))
    }
}

/// ServiceAccount that reads `/metrics` in the tests, as Prometheus would.
pub const METRICS_READER: &str = "kage-e2e-metrics";

/// A token of [`METRICS_READER`] (created, and bound to the shipped ClusterRole
/// `kage-metrics-reader`, when missing), through `admin`'s kubeconfig.
pub fn metrics_token(admin: &Path) -> Result<String> {
    let objects = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": METRICS_READER, "namespace": CONTROLLER_NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": METRICS_READER},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "kage-metrics-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": METRICS_READER,
                "namespace": CONTROLLER_NAMESPACE}]},
    ]});
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), objects.to_string())?;
    run_ok(kubectl(admin).arg("apply").arg("-f").arg(file.path()))?;
    let out = run_ok(kubectl(admin).args([
        "create",
        "token",
        METRICS_READER,
        "-n",
        CONTROLLER_NAMESPACE,
        "--duration=1h",
    ]))?;
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

impl ControllerProcess {
    /// Runs `program run` (the controller, or a wrapper that runs it, such as `ip netns exec`)
    /// with `kubeconfig`, serving the API and health endpoints on `addrs`, logging to `log_path`.
    pub(crate) fn spawn(
        mut program: Command,
        kubeconfig: &Path,
        log_path: PathBuf,
        (addr, health_addr): (String, String),
        extra: &[&str],
    ) -> Result<Self> {
        let log = std::fs::File::create(&log_path)?;
        let child = program
            .arg("run")
            .args(["--api-addr", &addr])
            .args(["--http-addr", &health_addr])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,kage_controller=debug")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(ControllerProcess {
            child,
            log_path,
            addr,
            health_addr,
            metrics_token: None,
        })
    }
}

/// A running controller; killed on drop.
pub struct ControllerProcess {
    child: std::process::Child,
    /// Where its output goes.
    pub log_path: PathBuf,
    /// Its API address (`ip:port`): `/v1/...`.
    pub addr: String,
    /// Its health and metrics address (`ip:port`).
    pub health_addr: String,
    /// The bearer token `/metrics` is read with.
    metrics_token: Option<String>,
}

impl ControllerProcess {
    /// Reads `/metrics` with `token` from now on.
    pub fn with_metrics_token(mut self, token: String) -> Self {
        self.metrics_token = Some(token);
        self
    }

    /// `GET /metrics` with the metrics reader's token: status code and body.
    pub fn metrics(&self) -> Result<(u16, String)> {
        metrics_get(&self.health_addr, self.metrics_token.as_deref())
    }

    /// `--controller-url` for the CLI.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl ControllerProcess {
    /// Everything it has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// SIGTERM, then SIGKILL if it has not exited within five seconds.
    pub fn stop(&mut self) {
        if self.exited() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stderr(std::process::Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.exited() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }

    /// SIGKILL, no goodbye.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until this controller leads and the ConfigMap names its current key (only the
    /// leader publishes; a fresh key is not sealable before that).
    pub async fn wait_leading(&mut self, cluster: &Cluster) -> Result<()> {
        self.wait_ready().await?;
        let (addr, health) = (self.addr.clone(), self.health_addr.clone());
        let token = self.metrics_token.clone();
        wait_until(
            Duration::from_secs(60),
            "the controller to lead and publish its key",
            || async {
                let (_, metrics) = metrics_get(&health, token.as_deref())?;
                let (_, keys) = http_get(&addr, "/v1/keys")?;
                let keys: serde_json::Value = serde_json::from_str(&keys)?;
                let current = keys["keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|k| k["current"] == true)
                    .and_then(|k| k["recipient"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                Ok(metric_samples(&metrics).get("kage_leader") == Some(&1.0)
                    && cluster.current_key().await == current)
            },
        )
        .await
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self) -> Result<()> {
        let addr = self.health_addr.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.exited() {
                bail!("controller exited:\n{}", self.logs());
            }
            if http_get(&addr, "/readyz").is_ok_and(|(code, _)| code == 200) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("controller not ready after 60s:\n{}", self.logs())
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A minimal HTTP/1.1 GET against `addr` (`ip:port`): status code and body.
pub fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    http_request(addr, "GET", path, &[], b"")
}

/// `GET /metrics` on `addr`, with `token` as the bearer token when given.
pub fn metrics_get(addr: &str, token: Option<&str>) -> Result<(u16, String)> {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = authorization
        .as_deref()
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    http_request(addr, "GET", "/metrics", &headers, b"")
}

/// A minimal HTTP/1.1 request against `addr` (`ip:port`): status code and body.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // The server may answer (413) before reading a large body; a failed write is fine then.
    let _ = stream.write_all(body);
    let mut response = String::new();
    // A server that refuses a large body may reset the connection after answering.
    let _ = stream.read_to_string(&mut response);
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("malformed HTTP response")?;
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    Ok((code, body))
}
