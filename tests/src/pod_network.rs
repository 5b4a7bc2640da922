//! A pod network for the controller: a network namespace the API server's proxy reaches.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cluster::{CONTROLLER_NAMESPACE, Cluster, kubectl, random_suffix, run_ok};
use crate::controller::{ControllerProcess, binary};
use anyhow::{Context, Result};
use kube::config::Kubeconfig;

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
        let mut wrapper = Command::new("ip");
        wrapper
            .args(["netns", "exec", &self.netns])
            .arg(binary("kage-controller"));
        // The API server's proxy reaches the pod from the host end of the veth.
        let mut flags = vec!["--trusted-proxy", self.host_ip.as_str()];
        flags.extend(extra);
        let token = crate::controller::metrics_token(&self.kubeconfig)?;
        Ok(ControllerProcess::spawn(
            wrapper,
            &inside,
            dir.join(format!("controller-{}.log", self.netns)),
            (
                format!("{}:{POD_API_PORT}", self.pod_ip),
                format!("{}:{POD_HEALTH_PORT}", self.pod_ip),
            ),
            &flags,
        )?
        .with_metrics_token(token))
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
