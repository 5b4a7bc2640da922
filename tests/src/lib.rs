//! Harness for kage's end-to-end tests against a real API server.
//!
//! The cluster is the one `$KUBECONFIG` names: `cargo xtask test` starts a local control plane
//! and points it there, or any other cluster (kind, k3d, ...) can be used. Without
//! `$KUBECONFIG` the tests skip, unless `KAGE_E2E_REQUIRED=1` (set by `cargo xtask test`), in
//! which case they fail.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// The cluster under test.
pub struct Cluster {
    /// Admin client.
    pub client: Client,
    /// Admin kubeconfig file.
    pub kubeconfig: PathBuf,
}

/// The cluster named by `$KUBECONFIG`, or `None` (the test should return) when there is none.
pub async fn cluster() -> Option<Cluster> {
    let Some(path) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) else {
        if std::env::var_os("KAGE_E2E_REQUIRED").is_some() {
            panic!("KAGE_E2E_REQUIRED is set but KUBECONFIG is not");
        }
        eprintln!("skipped: no cluster (set KUBECONFIG or run `cargo xtask test`)");
        return None;
    };
    let kubeconfig = PathBuf::from(path);
    let client = client_from(&kubeconfig).await.expect("admin client");
    Some(Cluster { client, kubeconfig })
}

async fn client_from(kubeconfig: &Path) -> Result<Client> {
    let config = Kubeconfig::read_from(kubeconfig)?;
    let config = Config::from_custom_kubeconfig(config, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

impl Cluster {
    /// `kubectl` with the admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        kubectl(&self.kubeconfig)
    }

    /// A new namespace for one test, deleted when the returned value is dropped.
    pub async fn namespace(&self, prefix: &str) -> TestNamespace {
        let name = format!("{prefix}-{}", random_suffix());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"kage.dev/e2e": "true"}}
        }))
        .expect("namespace");
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create test namespace");
        TestNamespace {
            name,
            kubeconfig: self.kubeconfig.clone(),
        }
    }

    /// A kubeconfig file and client that act as ServiceAccount `namespace/name`, with a token
    /// from the TokenRequest API (valid one hour).
    pub async fn service_account(
        &self,
        namespace: &str,
        name: &str,
        dir: &Path,
    ) -> Result<(Client, PathBuf)> {
        let sas: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        if sas.get_opt(name).await?.is_none() {
            let sa: ServiceAccount =
                serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
            sas.create(&PostParams::default(), &sa).await?;
        }
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let token = sas
            .create_token_request(name, &PostParams::default(), &request)
            .await?
            .status
            .context("TokenRequest returned no status")?
            .token;
        let admin = Kubeconfig::read_from(&self.kubeconfig)?;
        let context = admin
            .current_context
            .as_deref()
            .and_then(|c| admin.contexts.iter().find(|n| n.name == c))
            .and_then(|c| c.context.as_ref())
            .context("admin kubeconfig has no current context")?;
        let cluster = admin
            .clusters
            .iter()
            .find(|c| c.name == context.cluster)
            .and_then(|c| c.cluster.clone())
            .context("admin kubeconfig has no cluster")?;
        let user = format!("system:serviceaccount:{namespace}:{name}");
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {
                "server": cluster.server,
                "certificate-authority-data": cluster.certificate_authority_data,
                "certificate-authority": cluster.certificate_authority,
            }}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "sa", "context": {"cluster": "c", "user": user, "namespace": namespace}}],
            "current-context": "sa",
        });
        let path = dir.join(format!("{namespace}-{name}.kubeconfig"));
        std::fs::write(&path, serde_json::to_string(&config)?)?;
        Ok((client_from(&path).await?, path))
    }
}

/// `kubectl` (the one on PATH; `cargo xtask test` puts a recent one first) with a kubeconfig.
pub fn kubectl(kubeconfig: &Path) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig);
    cmd
}

/// Runs a command and fails with its stderr when it does not succeed.
pub fn run_ok(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// A namespace owned by one test; deleted (without waiting) on drop.
pub struct TestNamespace {
    /// The namespace's name.
    pub name: String,
    kubeconfig: PathBuf,
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let _ = kubectl(&self.kubeconfig)
            .args([
                "delete",
                "namespace",
                &self.name,
                "--wait=false",
                "--ignore-not-found",
            ])
            .output();
    }
}

/// Polls `check` every 200 ms until it returns `Ok(true)` or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    while Instant::now() < deadline {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    match last_error {
        Some(e) => Err(e.context(format!("timed out after {timeout:?} waiting for {what}"))),
        None => bail!("timed out after {timeout:?} waiting for {what}"),
    }
}

/// Eight random lowercase letters and digits.
pub fn random_suffix() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// Serialises the tests that run a controller: they share the cluster's kage-system namespace.
pub static CONTROLLER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The namespace the shipped manifests install the controller into.
pub const CONTROLLER_NAMESPACE: &str = "kage-system";

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
    /// Installs `deploy/` with `kubectl apply -k` and waits for the CRD.
    pub fn install(&self) -> Result<()> {
        run_ok(
            self.kubectl()
                .arg("apply")
                .arg("-k")
                .arg(workspace().join("deploy")),
        )?;
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

    /// Starts `kage-controller run` with the credentials of `kubeconfig`.
    pub fn start_controller_as(
        &self,
        kubeconfig: &Path,
        dir: &Path,
        extra: &[&str],
    ) -> Result<ControllerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log_path = dir.join(format!("controller-{port}.log"));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(binary("kage-controller"))
            .arg("run")
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,kage_controller=debug")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(ControllerProcess {
            child,
            log_path,
            port,
        })
    }
}

/// A running controller; killed on drop.
pub struct ControllerProcess {
    child: std::process::Child,
    /// Where its output goes.
    pub log_path: PathBuf,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
}

impl ControllerProcess {
    /// `--controller-url` for the CLI.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self) -> Result<()> {
        let port = self.port;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.exited() {
                bail!("controller exited:\n{}", self.logs());
            }
            if http_get(port, "/readyz").is_ok_and(|(code, _)| code == 200) {
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

/// A minimal HTTP/1.1 GET against 127.0.0.1: status code and body.
pub fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    http_request(port, "GET", path, &[], b"")
}

/// A minimal HTTP/1.1 request against 127.0.0.1: status code and body.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
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
