//! The cluster under test: access, namespaces, ServiceAccounts, kubectl and the kage CLI.

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

impl Cluster {
    /// The cluster an admin `kubeconfig` names.
    pub async fn connect(kubeconfig: &Path) -> Result<Cluster> {
        Ok(Cluster {
            client: client_from(kubeconfig).await?,
            kubeconfig: kubeconfig.to_owned(),
        })
    }
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

    /// A token of the ServiceAccount `namespace/name` for `audience` (what a projected token
    /// volume gives a Pod).
    pub async fn audience_token(
        &self,
        namespace: &str,
        name: &str,
        audience: &str,
    ) -> Result<String> {
        let sas: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: Some(vec![audience.to_owned()]),
                expiration_seconds: Some(600),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        sas.create_token_request(name, &PostParams::default(), &request)
            .await?
            .status
            .context("TokenRequest returned no status")?
            .token
            .context("TokenRequest returned no token")
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

/// A tool `cargo xtask test` builds and names in the environment variable `var`; `None` (the
/// test skips) when it is not set, a failure when the e2e suite is required.
pub fn tool_from_env(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var_os("KAGE_E2E_REQUIRED").is_some() => {
            panic!("{var} is not set (cargo xtask test sets it)")
        }
        None => {
            eprintln!("skipped: {var} is not set (cargo xtask test sets it)");
            None
        }
    }
}

/// Whether the suite runs against the local control plane of `cargo xtask test`; if not, says
/// on stderr that the test is skipped because it needs `what` of it.
pub fn local_control_plane(what: &str) -> bool {
    let local = std::env::var("KAGE_E2E_LOCAL_CLUSTER").as_deref() == Ok("1");
    if !local {
        eprintln!("skipped: needs the local control plane's {what} (cargo xtask test)");
    }
    local
}

/// Lowest port [`free_port`] hands out.
const LOWEST_TEST_PORT: u16 = 10_000;

/// A loopback port free at the time of asking, below the kernel's ephemeral range: a port from
/// that range (what binding port 0 gives) can be taken, between this call and the server's own
/// bind, as the local port of any outgoing connection, the test's own to the API server
/// included ("address already in use").
pub fn free_port() -> Result<u16> {
    use rand::Rng;
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    if ephemeral <= LOWEST_TEST_PORT {
        return Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port());
    }
    let mut rng = rand::thread_rng();
    for _ in 0..100 {
        let port = rng.gen_range(LOWEST_TEST_PORT..ephemeral);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free loopback port between {LOWEST_TEST_PORT} and {ephemeral}")
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

    /// Seals `manifest` (with no `type`), sets the SealedSecret's `spec.template.type` to
    /// `type_` by hand, as an edit of the committed file would, and applies it: for a Secret
    /// `kage seal` refuses offline and the API server is to refuse.
    pub fn seal_and_apply_as_type(&self, manifest: &serde_json::Value, file: &Path, type_: &str) {
        self.seal(manifest, file, &[]);
        let text = std::fs::read_to_string(file).expect("read the sealed file");
        let mut sealed: serde_json::Value =
            serde_saphyr::from_str(&text).expect("the sealed file is YAML");
        sealed["spec"]["template"]["type"] = type_.into();
        std::fs::write(file, sealed.to_string()).expect("write the sealed file");
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
        let text: Vec<String> = manifests.iter().map(ToString::to_string).collect();
        let sealed = dir.join("all.yaml");
        self.seal_text(&text.join("\n"), &sealed, extra);
        run_ok(
            self.kubectl()
                .args(["apply", "--server-side", "-f"])
                .arg(&sealed),
        )
        .expect("kubectl apply");
        sealed
    }

    /// Seals `manifest` into `file`, sets `spec.template.metadata` to `metadata` by hand (as
    /// an editor of the SealedSecret can, whatever `kage seal` refuses) and applies it.
    pub fn seal_and_apply_with_metadata(
        &self,
        manifest: &serde_json::Value,
        file: &Path,
        metadata: serde_json::Value,
    ) {
        self.seal(manifest, file, &[]);
        let text = std::fs::read_to_string(file).expect("sealed file");
        let mut sealed: serde_json::Value = serde_saphyr::from_str(&text).expect("sealed YAML");
        sealed["spec"]["template"]["metadata"] = metadata;
        std::fs::write(file, sealed.to_string()).expect("write sealed file");
        run_ok(self.kubectl().arg("apply").arg("-f").arg(file)).expect("kubectl apply");
    }

    /// Seals `manifest` into `file` without applying it.
    pub fn seal(&self, manifest: &serde_json::Value, file: &Path, extra: &[&str]) {
        self.seal_text(&manifest.to_string(), file, extra);
    }

    /// Seals the Secret manifests in `text` into `file` with `extra` flags.
    fn seal_text(&self, text: &str, file: &Path, extra: &[&str]) {
        // The input lives outside the folder of the sealed file: never a plain Secret in a repo.
        let input = tempfile::NamedTempFile::new().expect("temporary file");
        std::fs::write(input.path(), text).expect("write input");
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

/// Whether `sealed`'s Ready condition has `status` and `reason` for the generation it is at.
pub fn condition_is(sealed: &kage_api::SealedSecret, status: &str, reason: &str) -> bool {
    sealed
        .ready_condition()
        .is_some_and(|c| c.status == status && c.reason == reason)
        && sealed.status.as_ref().and_then(|s| s.observed_generation) == sealed.metadata.generation
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
        .filter(|s| condition_is(s, status, reason))
        .count())
}

/// Waits (60 s at most) until `name`'s Ready condition has `status` and `reason` for the
/// generation the object is at, and returns the object; fails with the status it last had.
pub async fn wait_condition(
    api: &Api<kage_api::SealedSecret>,
    name: &str,
    status: &str,
    reason: &str,
) -> kage_api::SealedSecret {
    let reached = wait_until(
        Duration::from_secs(60),
        &format!("{name} Ready={status} {reason}"),
        || async { Ok(condition_is(&api.get(name).await?, status, reason)) },
    )
    .await;
    let last = api.get(name).await.expect("read the SealedSecret");
    if let Err(e) = reached {
        panic!("{e:#}; last status: {:?}", last.status);
    }
    last
}
