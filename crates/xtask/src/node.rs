//! `cargo xtask cluster up --node`: one real node beside the local control plane.
//!
//! kubelet, kube-proxy and kube-scheduler come from the same Kubernetes module as the control
//! plane; containerd v2, runc (with seccomp) and the CNI bridge plugins from their own Go
//! modules in `crates/xtask/node/`, all built into the cache once. Pods live on the bridge
//! `kage0` (`POD_SUBNET`, a range of this machine only); the API server listens on the
//! bridge's address so that Pods reach it through the `kubernetes` Service. Nothing is pulled:
//! the kubelet's sandbox image (pause, compiled from the Kubernetes module) and the controller
//! image (`cargo xtask image`) are imported into containerd from OCI archives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::control_plane::{
    ControlPlane, build_once, cache_root, free_ports, go_build, pinned_version, version_stamp,
};
use crate::image::{self, ImageSpec};
use crate::shell::{path_with, run, workspace_root};

/// The node's name.
pub const NODE_NAME: &str = "kage-node";
/// The Linux bridge Pods attach to.
const BRIDGE: &str = "kage0";
/// The Pod network: host-local addresses on `BRIDGE`, nowhere else.
const POD_SUBNET: &str = "10.244.0.0/24";
/// The bridge's own address: the Pods' gateway, and where the API server listens.
pub const GATEWAY: &str = "10.244.0.1";
/// The kubelet's sandbox image, built here.
const PAUSE_IMAGE: &str = "kage.local/pause:3.10";

/// Bumped whenever the way node binaries are built changes, so that the cache is rebuilt.
const BUILD_RECIPE: &str =
    "node: go build -trimpath, runc with seccomp, static pause, version stamped, v3";

/// The cache folder of the node's binaries for the pinned modules (built or not).
fn binaries_dir() -> Result<PathBuf> {
    let modules = workspace_root().join("crates/xtask/node");
    let mut hasher = Sha256::new();
    for module in ["kubelet", "containerd", "runc", "cni"] {
        for file in ["go.mod", "go.sum", "tools.go"] {
            let path = modules.join(module).join(file);
            hasher.update(
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
            );
        }
    }
    hasher.update(BUILD_RECIPE.as_bytes());
    let digest = hasher.finalize();
    let key: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    Ok(cache_root().join("node").join(key).join("bin"))
}

/// Builds (or finds in the cache) the node's binaries and the pause image; returns their folder.
pub fn build_binaries() -> Result<PathBuf> {
    // runc links libseccomp; kube-proxy programs iptables and clears conntrack entries; pause
    // is compiled here.
    crate::tools::require_packages(
        "the local node",
        &[
            ("/usr/include/seccomp.h", "libseccomp-dev"),
            ("iptables", "iptables"),
            ("conntrack", "conntrack"),
            ("gcc", "gcc"),
            // pause is linked statically: glibc's static library.
            ("/usr/lib/x86_64-linux-gnu/libc.a", "libc6-dev"),
        ],
    )?;
    let modules = workspace_root().join("crates/xtask/node");
    let bin = binaries_dir()?;
    build_once(&bin, |out| {
        let started = Instant::now();
        println!(
            "building the node (kubelet, containerd, runc, CNI) into {}",
            bin.display()
        );
        let go_mod = std::fs::read_to_string(modules.join("kubelet/go.mod"))?;
        let version = pinned_version(&go_mod, "k8s.io/kubernetes ")?;
        let k8s = "k8s.io/kubernetes/cmd";
        go_build(
            &modules.join("kubelet"),
            out,
            &[
                &format!("{k8s}/kubelet"),
                &format!("{k8s}/kube-proxy"),
                &format!("{k8s}/kube-scheduler"),
            ],
            &version_stamp(&version),
        )?;
        let cd = "github.com/containerd/containerd/v2/cmd";
        go_build(
            &modules.join("containerd"),
            out,
            &[
                &format!("{cd}/containerd"),
                &format!("{cd}/containerd-shim-runc-v2"),
                &format!("{cd}/ctr"),
            ],
            "",
        )?;
        run(Command::new("go")
            .current_dir(modules.join("runc"))
            .args(["build", "-trimpath", "-tags", "seccomp", "-o"])
            .arg(out.join("runc"))
            .arg("github.com/opencontainers/runc")
            .env("GOFLAGS", "-mod=mod")
            .env("GOWORK", "off")
            .env("CGO_ENABLED", "1"))
        .context("building runc (needs libseccomp-dev)")?;
        let cni = "github.com/containernetworking/plugins/plugins";
        go_build(
            &modules.join("cni"),
            out,
            &[
                &format!("{cni}/main/bridge"),
                &format!("{cni}/main/loopback"),
                &format!("{cni}/ipam/host-local"),
            ],
            "",
        )?;
        build_pause(&modules.join("kubelet"), out)?;
        println!("node built in {:.0}s", started.elapsed().as_secs_f64());
        Ok(())
    })?;
    Ok(bin)
}

/// The kubelet's sandbox program, `pause.c` from the Kubernetes module, linked statically,
/// and its one-file image `pause.oci.tar`.
fn build_pause(kubelet_module: &Path, out: &Path) -> Result<()> {
    let dir = Command::new("go")
        .current_dir(kubelet_module)
        .args(["list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes"])
        .env("GOFLAGS", "-mod=mod")
        .env("GOWORK", "off")
        .output()?;
    let k8s = PathBuf::from(String::from_utf8(dir.stdout)?.trim());
    let pause = out.join("pause");
    run(Command::new("gcc")
        .args(["-Os", "-static", "-o"])
        .arg(&pause)
        .arg(k8s.join("build/pause/linux/pause.c")))?;
    ImageSpec {
        name: PAUSE_IMAGE.to_owned(),
        entrypoint: vec!["/pause".to_owned()],
        user: "65535:65535".to_owned(),
        files: BTreeMap::from([("pause".to_owned(), (0o755, std::fs::read(&pause)?))]),
    }
    .write_archive(&out.join("pause.oci.tar"))?;
    Ok(())
}

/// Creates `BRIDGE` with `GATEWAY` (before the API server binds to it).
pub fn create_bridge() -> Result<()> {
    let exists = Command::new("ip")
        .args(["link", "show", BRIDGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?
        .success();
    if !exists {
        run(Command::new("ip").args(["link", "add", BRIDGE, "type", "bridge"]))?;
        run(Command::new("ip").args(["addr", "add", &format!("{GATEWAY}/24"), "dev", BRIDGE]))?;
    }
    run(Command::new("ip").args(["link", "set", BRIDGE, "up"]))
}

/// The node's state folder.
fn node_dir(cluster: &ControlPlane) -> PathBuf {
    cluster.dir.join("node")
}

/// Starts kube-scheduler, containerd, the kubelet and kube-proxy, imports the pause and
/// controller images, and waits for the node to be Ready.
pub fn start(
    cluster: &ControlPlane,
    node_bins: &Path,
    controller_image: &(PathBuf, String),
) -> Result<()> {
    let dir = node_dir(cluster);
    for sub in ["containerd", "cni", "kubelet", "run"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let kubeconfig = |name: &str| cluster.dir.join(format!("{name}.kubeconfig"));
    let admin = cluster.kubeconfig().display().to_string();
    cluster.start_process(
        "kube-scheduler",
        &node_bins.join("kube-scheduler"),
        &[
            &format!("--kubeconfig={admin}"),
            &format!("--authentication-kubeconfig={admin}"),
            &format!("--authorization-kubeconfig={admin}"),
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
        ],
        &[],
    )?;

    let socket = dir.join("run/containerd.sock");
    let cni_conf = dir.join("cni/net.d");
    std::fs::create_dir_all(&cni_conf)?;
    std::fs::write(
        cni_conf.join("10-kage.conflist"),
        serde_json::to_string_pretty(&serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "kage-pods",
            "plugins": [{
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": dir.join("cni/ipam"),
                },
            }],
        }))?,
    )?;
    let containerd_config = dir.join("containerd/config.toml");
    std::fs::write(
        &containerd_config,
        format!(
            r#"version = 3
root = "{root}"
state = "{state}"
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  # This machine's root lacks CAP_SYS_RESOURCE: no process may go below containerd's own score.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        Root = "{runc_root}"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{bins}"]
    conf_dir = "{cni_conf}"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{PAUSE_IMAGE}"
"#,
            root = dir.join("containerd/root").display(),
            state = dir.join("containerd/state").display(),
            socket = socket.display(),
            runc = node_bins.join("runc").display(),
            runc_root = runc_root(cluster).display(),
            bins = node_bins.display(),
            cni_conf = cni_conf.display(),
        ),
    )?;
    let path = path_with(node_bins);
    cluster.start_process(
        "containerd",
        &node_bins.join("containerd"),
        &["--config", &containerd_config.display().to_string()],
        &[("PATH", path.as_os_str())],
    )?;
    crate::control_plane::wait_for("containerd", || socket.exists())?;
    for archive in [&node_bins.join("pause.oci.tar"), &controller_image.0] {
        run(ctr(node_bins, &socket)
            .args(["images", "import"])
            .arg(archive))?;
    }
    // Also by digest, as a pull from a registry records it: the chart can pin the digest, and
    // the Pod's imageID names the manifest built here.
    let repository = image::CONTROLLER_IMAGE
        .rsplit_once(':')
        .map_or(image::CONTROLLER_IMAGE, |(r, _)| r);
    run(ctr(node_bins, &socket).args([
        "images",
        "tag",
        image::CONTROLLER_IMAGE,
        &format!("{repository}@{}", controller_image.1),
    ]))?;

    let kubelet_config = dir.join("kubelet/config.json");
    std::fs::write(
        &kubelet_config,
        serde_json::to_string_pretty(&serde_json::json!({
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            // These machines run cgroup v1; the kubelet refuses it unless told.
            "failCgroupV1": false,
            "cgroupDriver": "cgroupfs",
            "containerRuntimeEndpoint": format!("unix://{}", socket.display()),
            "address": GATEWAY,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "authentication": {
                "anonymous": {"enabled": false},
                "webhook": {"enabled": true},
                "x509": {"clientCAFile": cluster.dir.join("pki/ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "failSwapOn": false,
            // The machine's disk is shared with everything else: never evict or collect
            // images because of how full it is.
            "evictionHard": {"nodefs.available": "0%", "imagefs.available": "0%", "memory.available": "100Mi"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "cgroupsPerQOS": false,
            "enforceNodeAllocatable": [],
            "resolvConf": "/etc/resolv.conf",
            "podLogsDir": dir.join("pod-logs"),
            "serializeImagePulls": false,
        }))?,
    )?;
    cluster.start_process(
        "kubelet",
        &node_bins.join("kubelet"),
        &[
            &format!("--config={}", kubelet_config.display()),
            &format!("--kubeconfig={}", kubeconfig("node").display()),
            &format!("--root-dir={}", dir.join("kubelet").display()),
            &format!("--hostname-override={NODE_NAME}"),
            &format!("--node-ip={GATEWAY}"),
            "--v=1",
        ],
        &[("PATH", path.as_os_str())],
    )?;

    let proxy_config = dir.join("kube-proxy.json");
    let [healthz_port, metrics_port] = free_ports()?;
    std::fs::write(
        &proxy_config,
        serde_json::to_string_pretty(&serde_json::json!({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": kubeconfig("kube-proxy")},
            "hostnameOverride": NODE_NAME,
            "mode": "iptables",
            "clusterCIDR": POD_SUBNET,
            "conntrack": {"maxPerCore": 0},
            "healthzBindAddress": format!("127.0.0.1:{healthz_port}"),
            "metricsBindAddress": format!("127.0.0.1:{metrics_port}"),
        }))?,
    )?;
    cluster.start_process(
        "kube-proxy",
        &node_bins.join("kube-proxy"),
        &[&format!("--config={}", proxy_config.display()), "--v=1"],
        &[],
    )?;
    crate::control_plane::wait_for("the node to be Ready", || {
        cluster
            .kubectl()
            .args(["get", "node", NODE_NAME, "-o"])
            .arg("jsonpath={.status.conditions[?(@.type==\"Ready\")].status}")
            .output()
            .is_ok_and(|o| o.stdout == b"True")
    })
}

fn runc_root(cluster: &ControlPlane) -> PathBuf {
    node_dir(cluster).join("run/runc")
}

fn ctr(node_bins: &Path, socket: &Path) -> Command {
    let mut cmd = Command::new(node_bins.join("ctr"));
    cmd.arg("--address")
        .arg(socket)
        .args(["--namespace", "k8s.io"]);
    cmd
}

/// Stops the node: the kubelet and kube-proxy, every container (through runc), containerd;
/// then unmounts what they mounted, removes kube-proxy's rules and the bridge.
pub fn stop(cluster: &ControlPlane) -> Result<()> {
    let dir = node_dir(cluster);
    if !dir.exists() {
        return Ok(());
    }
    for name in ["kube-proxy", "kubelet"] {
        cluster.stop_process(name);
    }
    let runc = cache_bin("runc");
    if let Some(runc) = &runc {
        for namespace in std::fs::read_dir(runc_root(cluster))
            .into_iter()
            .flatten()
            .flatten()
        {
            let root = namespace.path();
            let out = Command::new(runc)
                .arg("--root")
                .arg(&root)
                .args(["list", "-q"])
                .output()?;
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new(runc)
                    .arg("--root")
                    .arg(&root)
                    .args(["delete", "--force", id])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
    // The shims outlive containerd; each one's command line names this node's socket.
    let socket = dir.join("run/containerd.sock");
    let _ = Command::new("pkill")
        .args([
            "-KILL",
            "-f",
            &format!("containerd-shim-runc-v2 .*{}", socket.display()),
        ])
        .status();
    cluster.stop_process("containerd");
    cluster.stop_process("kube-scheduler");
    // Deepest first: overlay and shm mounts of the containers, then the network namespaces.
    let mounts = std::fs::read_to_string("/proc/self/mounts")?;
    let mut inside: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| {
            m.starts_with(dir.to_string_lossy().as_ref())
                || m.starts_with("/run/netns/cni-")
                || m.starts_with("/var/run/netns/cni-")
        })
        .collect();
    inside.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for mount in inside {
        let _ = Command::new("umount").args(["-l", mount]).status();
    }
    if let Some(proxy) = cache_bin("kube-proxy") {
        let _ = Command::new(proxy)
            .arg("--cleanup")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = Command::new("ip")
        .args(["link", "delete", BRIDGE])
        .stderr(Stdio::null())
        .status();
    remove_kubelet_rules();
    // The Pods' network namespaces: unmounted above, their files removed here.
    for entry in std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("cni-") {
            let _ = Command::new("ip")
                .args(["netns", "delete", &name])
                .stderr(Stdio::null())
                .status();
        }
    }
    Ok(())
}

/// Removes the `KUBE-*` chains the kubelet makes (kube-proxy removes its own with
/// `--cleanup`): first the rules of the built-in chains that jump to them, then the chains.
fn remove_kubelet_rules() {
    for tool in ["iptables", "ip6tables"] {
        for table in ["filter", "nat", "mangle"] {
            let Ok(out) = Command::new(tool).args(["-t", table, "-S"]).output() else {
                continue;
            };
            let rules = String::from_utf8_lossy(&out.stdout).to_string();
            let ipt = |args: &[&str]| {
                let _ = Command::new(tool)
                    .args(["-t", table])
                    .args(args)
                    .stderr(Stdio::null())
                    .status();
            };
            for rule in rules.lines() {
                let words: Vec<&str> = rule.split_whitespace().collect();
                if let ["-A", chain, rest @ ..] = words.as_slice()
                    && !chain.starts_with("KUBE-")
                    && rest
                        .windows(2)
                        .any(|w| w[0] == "-j" && w[1].starts_with("KUBE-"))
                {
                    ipt(&[&["-D", chain], rest].concat());
                }
            }
            for rule in rules.lines() {
                if let Some(chain) = rule.strip_prefix("-N ").filter(|c| c.starts_with("KUBE-")) {
                    ipt(&["-F", chain]);
                    ipt(&["-X", chain]);
                }
            }
        }
    }
}

/// A node binary from the cache, when built.
fn cache_bin(name: &str) -> Option<PathBuf> {
    binaries_dir()
        .ok()
        .map(|bin| bin.join(name))
        .filter(|p| p.exists())
}

/// The controller image archive, built now (`cargo xtask image`), and its digest.
pub fn controller_image() -> Result<(PathBuf, String)> {
    let (path, archive) = image::build_controller_image()?;
    Ok((path, archive.digest))
}
