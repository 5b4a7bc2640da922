//! `cargo xtask cluster up|down|status`: a local Kubernetes control plane built from source.
//!
//! etcd, kube-apiserver and kube-controller-manager are built with `go build` from the pinned
//! module in `crates/xtask/controlplane/` into a cache keyed by version, then started on
//! loopback with certificates generated for the occasion. State lives in `target/cluster/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::shell::workspace_root;
use crate::{node, pki};

/// How long each component gets to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a component gets to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Oldest kubectl minor version the tests accept from the machine; older ones are built.
const MIN_KUBECTL_MINOR: u32 = 33;

/// Bumped whenever the way binaries are built changes, so that the cache is rebuilt.
const BUILD_RECIPE: &str = "go build -trimpath, version stamped, v1";

/// Components in start order (stopped in reverse).
const COMPONENTS: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];
/// etcd's space quota: its documented maximum, room for the bench at 100 000 objects.
const ETCD_QUOTA_BYTES: u64 = 8 << 30;
/// The controllers kube-controller-manager runs: what the suite's objects need.
const CONTROLLERS: &str = "garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,endpointslice-controller";
/// Added with a node: what runs a Deployment, honours a PodDisruptionBudget and lifts the
/// node's not-ready taint.
const NODE_CONTROLLERS: &str =
    ",deployment-controller,replicaset-controller,disruption-controller,node-lifecycle-controller";

/// Paths of a running (or to be started) control plane.
pub struct ControlPlane {
    /// `target/cluster`.
    pub dir: PathBuf,
}

impl ControlPlane {
    /// The control plane of this workspace.
    pub fn local() -> Self {
        ControlPlane {
            dir: workspace_root().join("target/cluster"),
        }
    }

    /// The admin kubeconfig written by `up`.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// The API server's audit log (JSON lines), written under `deploy/audit/audit-policy.yaml`.
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    /// Folder with the kubectl (and age) the tests use; put it first on PATH.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }

    fn pid_file(&self, component: &str) -> PathBuf {
        self.dir.join("pids").join(format!("{component}.pid"))
    }

    fn pid(&self, component: &str) -> Option<u32> {
        std::fs::read_to_string(self.pid_file(component))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn running(&self) -> bool {
        COMPONENTS.iter().all(|c| self.pid(c).is_some_and(alive))
    }

    /// kubectl with the admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.bin_dir().join("kubectl"));
        cmd.arg("--kubeconfig").arg(self.kubeconfig());
        cmd
    }

    fn ready(&self) -> bool {
        self.kubectl()
            .args(["get", "--raw", "/readyz"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts the control plane unless it is already running.
    pub fn up(&self) -> Result<()> {
        self.up_with(false)
    }

    /// Starts the control plane, and with `node` a real node beside it ([`node`]), unless it
    /// is already running as asked.
    pub fn up_with(&self, node: bool) -> Result<()> {
        let started = Instant::now();
        if self.running() && self.ready() && node == self.has_node() {
            println!(
                "cluster already running: KUBECONFIG={}",
                self.kubeconfig().display()
            );
            return Ok(());
        }
        self.down()?;
        let bins = build_binaries()?;
        // Built before anything starts: a failed build leaves nothing running.
        let node_parts = if node {
            Some((node::build_binaries()?, node::controller_image()?))
        } else {
            None
        };
        for sub in ["pids", "logs", "pki", "bin"] {
            std::fs::create_dir_all(self.dir.join(sub))?;
        }
        link_tools(&bins, &self.bin_dir())?;
        let pki_dir = self.dir.join("pki");
        let pki = pki::generate(&pki_dir)?;
        let [etcd_port, peer_port, api_port] = free_ports()?;
        // With a node, Pods reach the API server through the `kubernetes` Service: it listens
        // on the Pod bridge's address (this machine only) instead of loopback.
        let api_address = if node {
            node::create_bridge()?;
            node::GATEWAY
        } else {
            "127.0.0.1"
        };

        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        self.spawn(
            &bins,
            "etcd",
            &[
                "--name=kage",
                &format!("--data-dir={}", self.dir.join("etcd").display()),
                &format!("--listen-client-urls={etcd_url}"),
                &format!("--advertise-client-urls={etcd_url}"),
                &format!("--listen-peer-urls={peer_url}"),
                &format!("--initial-advertise-peer-urls={peer_url}"),
                &format!("--initial-cluster=kage={peer_url}"),
                "--unsafe-no-fsync=true",
                // The bench at 100 000 SealedSecrets (and its floor and ceiling) outgrows etcd's
                // default 2 GiB space quota before the API server compacts; 8 GiB is etcd's
                // documented maximum.
                &format!("--quota-backend-bytes={ETCD_QUOTA_BYTES}"),
                "--log-level=warn",
            ],
        )?;
        wait_for("etcd", || {
            std::net::TcpStream::connect(("127.0.0.1", etcd_port)).is_ok()
        })?;

        let pki_path = |name: &str| pki_dir.join(name).display().to_string();
        let encryption = write_encryption_config(&pki_dir)?;
        let apiserver_args: Vec<String> = [
            format!("--etcd-servers={etcd_url}"),
            format!("--bind-address={api_address}"),
            format!("--advertise-address={api_address}"),
            format!("--secure-port={api_port}"),
            format!("--tls-cert-file={}", pki_path("apiserver.crt")),
            format!("--tls-private-key-file={}", pki_path("apiserver.key")),
            format!("--client-ca-file={}", pki_path("ca.crt")),
            format!("--service-account-key-file={}", pki_path("sa.pub")),
            format!("--service-account-signing-key-file={}", pki_path("sa.key")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
            "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
            "--authorization-mode=Node,RBAC".to_owned(),
            "--enable-admission-plugins=NodeRestriction".to_owned(),
            format!("--kubelet-client-certificate={}", pki_path("admin.crt")),
            format!("--kubelet-client-key={}", pki_path("admin.key")),
            "--kubelet-preferred-address-types=InternalIP".to_owned(),
            "--allow-privileged=true".to_owned(),
            format!(
                "--endpoint-reconciler-type={}",
                if node { "lease" } else { "none" }
            ),
            // Secrets are stored encrypted (secretbox), as on a well-run cluster.
            format!("--encryption-provider-config={}", encryption.display()),
            "--v=1".to_owned(),
        ]
        .into();
        // How the API server was started, for tests that start another one beside it.
        std::fs::write(
            self.dir.join("apiserver.json"),
            serde_json::to_string_pretty(&serde_json::json!({
                "binary": bins.join("kube-apiserver"),
                "args": apiserver_args,
                "etcd": etcd_url,
            }))?,
        )?;
        // The audit log of this API server only (a second one started by a test has none):
        // kage's rules from deploy/audit.
        let mut apiserver_args = apiserver_args;
        apiserver_args.extend([
            format!(
                "--audit-policy-file={}",
                workspace_root()
                    .join("deploy/audit/audit-policy.yaml")
                    .display()
            ),
            format!("--audit-log-path={}", self.audit_log().display()),
            "--audit-log-format=json".to_owned(),
        ]);
        let args: Vec<&str> = apiserver_args.iter().map(String::as_str).collect();
        self.spawn(&bins, "kube-apiserver", &args)?;
        let server = format!("https://{api_address}:{api_port}");
        let ca = &pki.ca_cert;
        write_kubeconfig(
            &self.kubeconfig(),
            &server,
            ca,
            (&pki.admin_cert, &pki.admin_key),
        )?;
        if node {
            for (name, (cert, key)) in [("node", &pki.node), ("kube-proxy", &pki.kube_proxy)] {
                let path = self.dir.join(format!("{name}.kubeconfig"));
                write_kubeconfig(&path, &server, ca, (cert, key))?;
            }
        }
        wait_for("kube-apiserver /readyz", || self.ready())?;

        self.spawn(
            &bins,
            "kube-controller-manager",
            &[
                &format!("--kubeconfig={}", self.kubeconfig().display()),
                &format!(
                    "--authentication-kubeconfig={}",
                    self.kubeconfig().display()
                ),
                &format!("--authorization-kubeconfig={}", self.kubeconfig().display()),
                &format!("--service-account-private-key-file={}", pki_path("sa.key")),
                &format!("--root-ca-file={}", pki_path("ca.crt")),
                &format!(
                    "--controllers={CONTROLLERS}{}",
                    if node { NODE_CONTROLLERS } else { "" }
                ),
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--v=1",
            ],
        )?;
        wait_for("the default ServiceAccount", || {
            self.kubectl()
                .args(["get", "serviceaccount", "default", "-n", "default"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })?;
        if let Some((node_bins, image)) = node_parts {
            node::start(self, &node_bins, &image)?;
        }
        println!(
            "cluster up in {:.1}s: KUBECONFIG={}",
            started.elapsed().as_secs_f64(),
            self.kubeconfig().display()
        );
        Ok(())
    }

    fn spawn(&self, bins: &Path, component: &str, args: &[&str]) -> Result<()> {
        self.start_process(component, &bins.join(component), args, &[])
    }

    /// Starts a process that `down` will stop: output to `logs/NAME.log`, pid in `pids/`.
    pub fn start_process(
        &self,
        name: &str,
        program: &Path,
        args: &[&str],
        envs: &[(&str, &std::ffi::OsStr)],
    ) -> Result<()> {
        use std::os::unix::process::CommandExt;
        if let Some(pid) = self.pid(name) {
            stop(pid);
        }
        let log = std::fs::File::create(self.dir.join("logs").join(format!("{name}.log")))?;
        let child = Command::new(program)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Own process group: a Ctrl-C in the terminal does not take the cluster down halfway.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        std::fs::write(self.pid_file(name), child.id().to_string())?;
        Ok(())
    }

    /// Whether `up` started a node (its state folder exists).
    pub fn has_node(&self) -> bool {
        self.dir.join("node").exists()
    }

    /// Stops the process `start_process` started as `name`, if it runs.
    pub fn stop_process(&self, name: &str) {
        if let Some(pid) = self.pid(name) {
            stop(pid);
        }
    }

    /// Stops every process started here (by pid; extra ones such as the demo's controller
    /// first, then the control plane in reverse order) and removes the state, keeping the logs.
    pub fn down(&self) -> Result<()> {
        node::stop(self)?;
        let mut extra: Vec<String> = std::fs::read_dir(self.dir.join("pids"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
            .filter(|name| !COMPONENTS.contains(&name.as_str()))
            .collect();
        extra.sort();
        let order = extra
            .iter()
            .map(String::as_str)
            .chain(COMPONENTS.iter().rev().copied());
        for name in order.collect::<Vec<_>>() {
            if let Some(pid) = self.pid(name) {
                stop(pid);
            }
        }
        if self.dir.exists() {
            for entry in std::fs::read_dir(&self.dir)? {
                let path = entry?.path();
                if path.file_name().is_some_and(|n| n == "logs") {
                    continue;
                }
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
            }
        }
        Ok(())
    }

    /// Prints which components run and whether the API server is ready.
    pub fn status(&self) -> Result<bool> {
        for component in COMPONENTS {
            let state = match self.pid(component) {
                Some(pid) if alive(pid) => format!("running (pid {pid})"),
                Some(pid) => format!("dead (pid {pid})"),
                None => "not started".to_owned(),
            };
            println!("{component:<24} {state}");
        }
        let ready = self.running() && self.ready();
        println!(
            "{:<24} {}",
            "/readyz",
            if ready { "ok" } else { "not ready" }
        );
        if ready {
            println!("KUBECONFIG={}", self.kubeconfig().display());
        }
        Ok(ready)
    }
}

/// Writes a kubeconfig for `server` with a client certificate, readable by its owner only.
fn write_kubeconfig(path: &Path, server: &str, ca: &str, (cert, key): (&str, &str)) -> Result<()> {
    let b64 = |s: &str| STANDARD.encode(s);
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kage-local", "cluster": {
            "server": server,
            "certificate-authority-data": b64(ca),
        }}],
        "users": [{"name": "kage-admin", "user": {
            "client-certificate-data": b64(cert),
            "client-key-data": b64(key),
        }}],
        "contexts": [{"name": "kage-local", "context": {"cluster": "kage-local", "user": "kage-admin"}}],
        "current-context": "kage-local",
    });
    std::fs::write(path, serde_json::to_string_pretty(&config)?)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state letter is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

fn stop(pid: u32) {
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args([sig, &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let deadline = Instant::now() + STOP_TIMEOUT;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive(pid) {
        signal("-KILL");
    }
}

/// Waits up to `START_TIMEOUT` for `check` to hold.
pub fn wait_for(what: &str, mut check: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if check() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("timed out waiting for {what}; see target/cluster/logs/")
}

pub fn free_ports<const N: usize>() -> Result<[u16; N]> {
    // Hold every listener until all ports are chosen so that none is handed out twice.
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()?;
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<_>>()?;
    ports
        .try_into()
        .map_err(|_| anyhow::anyhow!("could not choose {N} ports"))
}

/// The version a go.mod requires of `module` (given with its trailing space).
pub fn pinned_version(go_mod: &str, module: &str) -> Result<String> {
    go_mod
        .lines()
        .map(|l| {
            let l = l.trim();
            // A single requirement is written on the `require` line itself.
            l.strip_prefix("require ").unwrap_or(l)
        })
        .find_map(|l| {
            l.strip_prefix(module)?
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .with_context(|| format!("{}is not pinned in the go.mod", module))
}

/// Root of kage's build cache (`$KAGE_CACHE_DIR`, else `$XDG_CACHE_HOME/kage`, else
/// `~/.cache/kage`).
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("KAGE_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("kage")
}

/// Builds (or finds in the cache) etcd, kube-apiserver, kube-controller-manager, kubectl when
/// the machine's is too old, and the reference `age` tool. Returns the folder holding them.
///
/// A build goes to a `bin.partial-*` folder that is renamed to `bin` only once every binary
/// exists, so a partial build is never mistaken for a whole one.
pub fn build_binaries() -> Result<PathBuf> {
    let root = workspace_root();
    let module = root.join("crates/xtask/controlplane");
    let age_module = root.join("crates/xtask/agetool");
    let go_mod = std::fs::read_to_string(module.join("go.mod"))?;
    let k8s = pinned_version(&go_mod, "k8s.io/kubernetes ")?;
    let etcd = pinned_version(&go_mod, "go.etcd.io/etcd/server/v3 ")?;
    let mut hasher = Sha256::new();
    for file in [
        module.join("go.sum"),
        age_module.join("go.sum"),
        age_module.join("go.mod"),
    ] {
        hasher.update(std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?);
    }
    hasher.update(go_mod.as_bytes());
    hasher.update(BUILD_RECIPE.as_bytes());
    let digest = hasher.finalize();
    let key = format!(
        "k8s-{k8s}-etcd-{etcd}-{:02x}{:02x}{:02x}{:02x}",
        digest[0], digest[1], digest[2], digest[3]
    );
    let bin = cache_root().join("controlplane").join(key).join("bin");
    build_once(&bin, |partial| {
        let started = Instant::now();
        println!(
            "building the control plane (Kubernetes {k8s}, etcd {etcd}) into {}",
            bin.display()
        );
        build_control_plane(&module, &age_module, &k8s, partial)?;
        println!(
            "control plane built in {:.0}s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })?;
    Ok(bin)
}

/// etcd, kube-apiserver, kube-controller-manager, kubectl if needed, and age, into `out`.
fn build_control_plane(module: &Path, age_module: &Path, k8s: &str, out: &Path) -> Result<()> {
    let mut packages = vec![
        "k8s.io/kubernetes/cmd/kube-apiserver",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
    ];
    if system_kubectl_minor().is_none_or(|minor| minor < MIN_KUBECTL_MINOR) {
        packages.push("k8s.io/kubernetes/cmd/kubectl");
    }
    go_build(
        module,
        &out.join("etcd"),
        &["go.etcd.io/etcd/server/v3"],
        "",
    )?;
    go_build(module, out, &packages, &version_stamp(k8s))?;
    go_build(
        age_module,
        &out.join("age"),
        &["filippo.io/age/cmd/age"],
        "",
    )
}

/// What Kubernetes' own build stamps in, so that components and kubectl report v1.37.x.
pub fn version_stamp(k8s: &str) -> String {
    let minor = k8s.split('.').nth(1).unwrap_or_default();
    ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]
        .iter()
        .map(|pkg| {
            format!(
                "-X {pkg}.gitVersion={k8s} -X {pkg}.gitMajor=1 -X {pkg}.gitMinor={minor} -X {pkg}.gitTreeState=clean"
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fills `dir` once: `build` writes into a `<dir>.partial-<pid>` folder that is renamed to
/// `dir` only when it succeeded, with a `.complete` mark, so an interrupted build is never
/// mistaken for a whole one.
pub fn build_once(dir: &Path, build: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if dir.join(".complete").exists() {
        return Ok(());
    }
    let partial = PathBuf::from(format!("{}.partial-{}", dir.display(), std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)?;
    build(&partial)?;
    std::fs::write(partial.join(".complete"), "")?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&partial, dir)?;
    Ok(())
}

/// `go build -trimpath` of `packages` in `module` into `output` (a file, or a folder for several).
pub fn go_build(module: &Path, output: &Path, packages: &[&str], ldflags: &str) -> Result<()> {
    let mut out = output.display().to_string();
    if output.is_dir() {
        out.push('/');
    }
    let status = Command::new("go")
        .current_dir(module)
        .args(["build", "-trimpath", "-ldflags", ldflags, "-o", &out])
        .args(packages)
        .env("GOFLAGS", "-mod=mod")
        // A module's own go.work (Prometheus has one) would forbid -mod=mod.
        .env("GOWORK", "off")
        .status()
        .context("running go (is Go installed?)")?;
    if !status.success() {
        bail!("go build {} failed", packages.join(" "));
    }
    Ok(())
}

fn system_kubectl_minor() -> Option<u32> {
    let out = Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["clientVersion"]["minor"]
        .as_str()?
        .trim_end_matches('+')
        .parse()
        .ok()
}

/// Puts kubectl (built, or the machine's when new enough) and age into `target/cluster/bin`.
/// An `EncryptionConfiguration` encrypting Secrets with a fresh secretbox key; returns its path.
fn write_encryption_config(dir: &Path) -> Result<PathBuf> {
    use std::io::Read;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    let config = serde_json::json!({
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [
            {"secretbox": {"keys": [{"name": "local", "secret": STANDARD.encode(key)}]}},
            {"identity": {}},
        ]}],
    });
    let path = dir.join("encryption.json");
    std::fs::write(&path, config.to_string())?;
    Ok(path)
}

fn link_tools(bins: &Path, dir: &Path) -> Result<()> {
    let kubectl = if bins.join("kubectl").exists() {
        bins.join("kubectl")
    } else {
        which("kubectl").context("kubectl not found")?
    };
    for (name, target) in [("kubectl", kubectl), ("age", bins.join("age"))] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, link)?;
    }
    Ok(())
}

/// `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|p| p.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::pinned_version;

    #[test]
    fn a_version_is_found_in_a_require_block_and_on_a_single_require_line() {
        let block = "module m\n\nrequire (\n\tgo.etcd.io/etcd/server/v3 v3.7.0\n\tk8s.io/kubernetes v1.37.2\n)\n";
        let single = "module m\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v1.37.2\n";
        for go_mod in [block, single] {
            assert_eq!(
                pinned_version(go_mod, "k8s.io/kubernetes ").unwrap(),
                "v1.37.2"
            );
        }
        // A module whose path only starts like the one asked for is not it.
        assert!(
            pinned_version("require k8s.io/kubernetes-extra v1\n", "k8s.io/kubernetes ").is_err()
        );
    }
}
