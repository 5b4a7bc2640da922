//! The node tier: kage as a user installs it. The controller runs as a Pod from the image built
//! on this machine (`cargo xtask image`), on the real node of `cargo xtask cluster up --node`
//! (kubelet, containerd, runc, CNI bridge, kube-proxy), installed from `deploy/` and from the
//! Helm chart with only the image reference changed. The CLI reaches it from outside the node,
//! through the API server's service proxy and the real Service.
//!
//! Skipped on a cluster without kage's node (the fast tier runs the controller as a process);
//! `KAGE_E2E_NODE=1` (set by `cargo xtask test --node`) makes a missing node a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ContainerStatus, Node, Pod, Secret};
use kage_api::SealedSecret;
use kage_e2e::{
    CONTROLLER_LOCK, CONTROLLER_NAMESPACE, Cluster, metric_samples, metrics_get, run_ok,
    secret_manifest, tool_from_env, wait_condition, wait_until, workspace,
};
use kube::Api;
use kube::api::{EvictParams, ListParams};

/// The node `cargo xtask cluster up --node` registers.
const NODE_NAME: &str = "kage-node";
/// The Deployment, Service and ServiceAccount of `deploy/` (and of the chart released as `kage`).
const CONTROLLER: &str = "kage-controller";
/// The chart's release name that gives the same object names as `deploy/`.
const RELEASE: &str = "kage";
/// How long a rollout gets: image already on the node, so this is start-up and probes.
const ROLLOUT_TIMEOUT: &str = "180s";
/// The Pods' label selector, the same in `deploy/` and the chart.
const SELECTOR: &str = "app.kubernetes.io/name=kage,app.kubernetes.io/component=controller";

/// The cluster, when it has kage's node; `None` (skip) otherwise.
async fn node_cluster() -> Option<(Cluster, tokio::sync::MutexGuard<'static, ()>)> {
    let cluster = kage_e2e::cluster().await?;
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    if nodes.get_opt(NODE_NAME).await.unwrap().is_none() {
        assert!(
            std::env::var("KAGE_E2E_NODE").as_deref() != Ok("1"),
            "KAGE_E2E_NODE=1 but the cluster has no node {NODE_NAME} (cargo xtask cluster up --node)"
        );
        eprintln!("skipped: no node {NODE_NAME} (cargo xtask cluster up --node)");
        return None;
    }
    let guard = CONTROLLER_LOCK.lock().await;
    uninstall(&cluster);
    Some((cluster, guard))
}

/// Removes whatever a previous test installed: the chart's release, `deploy/` (keys stay).
fn uninstall(cluster: &Cluster) {
    if let Some(mut helm) = helm(cluster) {
        let _ = helm
            .args(["uninstall", RELEASE, "--wait", "--ignore-not-found"])
            .output();
    }
    let _ = cluster
        .kubectl()
        .args(["delete", "--ignore-not-found", "--wait", "-k"])
        .arg(workspace().join("deploy"))
        .output();
}

fn helm(cluster: &Cluster) -> Option<Command> {
    let mut cmd = Command::new(tool_from_env("KAGE_HELM_BIN")?);
    cmd.arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(["-n", CONTROLLER_NAMESPACE]);
    Some(cmd)
}

/// Waits for the controller's rollout; returns how long it took.
fn rollout(cluster: &Cluster) -> Duration {
    let started = Instant::now();
    run_ok(cluster.kubectl().args([
        "rollout",
        "status",
        "-n",
        CONTROLLER_NAMESPACE,
        &format!("deployment/{CONTROLLER}"),
        &format!("--timeout={ROLLOUT_TIMEOUT}"),
    ]))
    .unwrap();
    started.elapsed()
}

async fn controller_pods(cluster: &Cluster) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), CONTROLLER_NAMESPACE);
    pods.list(&ListParams::default().labels(SELECTOR))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// The status of the Pod's one container, once it has one.
fn controller_container(pod: &Pod) -> Option<&ContainerStatus> {
    pod.status.as_ref()?.container_statuses.as_ref()?.first()
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The manifest digest of the image archive `cargo xtask image` wrote.
fn built_image_digest() -> String {
    let path = workspace().join("target/image/kage-controller.oci.tar");
    let mut archive = tar::Archive::new(std::fs::File::open(&path).unwrap());
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == "index.json" {
            let index: serde_json::Value = serde_json::from_reader(entry).unwrap();
            return index["manifests"][0]["digest"].as_str().unwrap().to_owned();
        }
    }
    panic!("no index.json in {}", path.display())
}

/// Seals `values` as Secret `name` in `namespace` into `dir/name.yaml`, applies it, and
/// returns the file.
fn seal_and_apply(
    cluster: &Cluster,
    dir: &std::path::Path,
    namespace: &str,
    name: &str,
    value: &str,
) -> PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    cluster.seal_and_apply(
        &secret_manifest(name, namespace, &[("password", value)]),
        &file,
        &[],
    );
    file
}

async fn secret_value(cluster: &Cluster, namespace: &str, name: &str) -> Vec<u8> {
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    secrets.get(name).await.unwrap().data.unwrap()["password"]
        .0
        .clone()
}

/// `kubectl` acting as ServiceAccount `name` of kage-system (admin impersonation).
fn kubectl_as(cluster: &Cluster, name: &str) -> Command {
    let mut cmd = cluster.kubectl();
    cmd.arg(format!(
        "--as=system:serviceaccount:{CONTROLLER_NAMESPACE}:{name}"
    ));
    cmd
}

#[tokio::test]
async fn the_shipped_manifests_run_the_image_built_here_as_a_restricted_pod_that_does_kages_job() {
    let Some((cluster, _guard)) = node_cluster().await else {
        return;
    };
    let started = Instant::now();
    cluster.install().unwrap();
    rollout(&cluster);
    eprintln!(
        "deploy/ applied to Available in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // The Pod: on the node, from the image built here (by digest), non-root, with the
    // ServiceAccount token the kubelet mounted.
    let pods = controller_pods(&cluster).await;
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.node_name.as_deref(), Some(NODE_NAME));
    let status = controller_container(pod).unwrap();
    assert!(
        status
            .image_id
            .ends_with(&format!("@{}", built_image_digest())),
        "the Pod runs {}, not the image built here ({})",
        status.image_id,
        built_image_digest()
    );
    assert!(status.ready && status.restart_count == 0, "{status:?}");
    assert!(
        spec.volumes
            .iter()
            .flatten()
            .any(|v| v.projected.as_ref().is_some_and(|p| p
                .sources
                .iter()
                .flatten()
                .any(|s| s.service_account_token.is_some()))),
        "the kubelet mounts a projected ServiceAccount token"
    );

    // Pod Security `restricted` is enforced in kage-system: the controller Pod passed it, and
    // a Pod that asks for root does not.
    let root_pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "root", "namespace": CONTROLLER_NAMESPACE},
        "spec": {"containers": [{"name": "c", "image": "ghcr.io/kage-dev/kage-controller:0.1.0",
            "securityContext": {"runAsUser": 0}}]}});
    let dir = tempfile::tempdir().unwrap();
    let root_file = dir.path().join("root-pod.json");
    std::fs::write(&root_file, root_pod.to_string()).unwrap();
    let refused = cluster
        .kubectl()
        .args(["create", "--dry-run=server", "-f"])
        .arg(&root_file)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("violates PodSecurity \"restricted"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The key the Pod published, fetched from outside the node as a user would: kage, and
    // kubectl's plugin.
    let fetched = run_ok(cluster.kage().args(["key", "fetch"])).unwrap();
    let recipient = String::from_utf8(fetched.stdout).unwrap().trim().to_owned();
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert_eq!(recipient, cluster.current_key().await);
    let plugin_dir = kage_e2e::binary("kubectl-kage")
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(plugin_dir)
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let via_plugin = run_ok(
        Command::new("kubectl")
            .args(["kage", "key", "fetch"])
            .env("KUBECONFIG", &cluster.kubeconfig)
            .env("PATH", path),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(via_plugin.stdout).unwrap().trim(),
        recipient
    );

    // seal → Secret, validate --cluster and reseal through the real Service.
    let ns = cluster.namespace("e2e-node").await;
    let sealed = seal_and_apply(&cluster, dir.path(), &ns.name, "db", "from-the-pod");
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_condition(&api, "db", "True", "Unsealed").await;
    assert_eq!(
        secret_value(&cluster, &ns.name, "db").await,
        b"from-the-pod"
    );
    run_ok(cluster.kage().args(["validate", "--cluster"]).arg(&sealed)).unwrap();
    let before = std::fs::read_to_string(&sealed).unwrap();
    run_ok(cluster.kage().arg("reseal").arg(&sealed)).unwrap();
    run_ok(cluster.kage().args(["validate", "--cluster"]).arg(&sealed)).unwrap();
    // A value changed by someone without the key: the controller says it cannot unseal it.
    let mut doc: serde_json::Value = serde_saphyr::from_str(&before).unwrap();
    let value = doc["spec"]["encryptedData"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = format!("{}A{}", &value[..40], &value[41..]);
    assert_ne!(forged, value);
    doc["spec"]["encryptedData"]["password"] = forged.into();
    let forged_file = dir.path().join("forged.yaml");
    std::fs::write(&forged_file, doc.to_string()).unwrap();
    let refused = cluster
        .kage()
        .args(["validate", "--cluster"])
        .arg(&forged_file)
        .output()
        .unwrap();
    assert!(!refused.status.success(), "a forged value validated");

    // Metrics, scraped at the Pod's address as Prometheus does: nothing without a token, nothing
    // for an identity without the reader role, the figures for the reader.
    let pod_ip = pod.status.as_ref().unwrap().pod_ip.clone().unwrap();
    let metrics_addr = format!("{pod_ip}:8080");
    assert_eq!(metrics_get(&metrics_addr, None).unwrap().0, 401);
    run_ok(cluster.kubectl().args([
        "create",
        "serviceaccount",
        "-n",
        CONTROLLER_NAMESPACE,
        "e2e-intruder",
    ]))
    .unwrap();
    let intruder_token = String::from_utf8(
        run_ok(cluster.kubectl().args([
            "create",
            "token",
            "-n",
            CONTROLLER_NAMESPACE,
            "e2e-intruder",
        ]))
        .unwrap()
        .stdout,
    )
    .unwrap();
    assert_eq!(
        metrics_get(&metrics_addr, Some(intruder_token.trim()))
            .unwrap()
            .0,
        403
    );
    let reader = kage_e2e::metrics_token(&cluster.kubeconfig).unwrap();
    let (code, body) = metrics_get(&metrics_addr, Some(&reader)).unwrap();
    assert_eq!(code, 200);
    let samples = metric_samples(&body);
    assert_eq!(
        samples.get("kage_key_policy_in_place"),
        Some(&1.0),
        "the Pod sees the admission policy guarding its keys"
    );
    assert_eq!(samples.get("kage_leader"), Some(&1.0));

    // The admission policy, for the Pod's identity only: the intruder, even with every right on
    // Secrets in kage-system, cannot plant a sealing key.
    run_ok(cluster.kubectl().args([
        "create",
        "role",
        "e2e-secrets",
        "-n",
        CONTROLLER_NAMESPACE,
        "--verb=*",
        "--resource=secrets",
    ]))
    .unwrap();
    run_ok(cluster.kubectl().args([
        "create",
        "rolebinding",
        "e2e-secrets",
        "-n",
        CONTROLLER_NAMESPACE,
        "--role=e2e-secrets",
        &format!("--serviceaccount={CONTROLLER_NAMESPACE}:e2e-intruder"),
    ]))
    .unwrap();
    let planted = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "kage-key-planted", "namespace": CONTROLLER_NAMESPACE,
            "labels": {kage_api::SEALING_KEY_LABEL: "true"}},
        "stringData": {"key": "AGE-SECRET-KEY-1PLANTED"}});
    let planted_file = dir.path().join("planted.json");
    std::fs::write(&planted_file, planted.to_string()).unwrap();
    let refused = kubectl_as(&cluster, "e2e-intruder")
        .args(["create", "-f"])
        .arg(&planted_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("kage-sealing-keys"),
        "{stderr}"
    );
    for object in [
        "serviceaccount/e2e-intruder",
        "role/e2e-secrets",
        "rolebinding/e2e-secrets",
    ] {
        let _ = cluster
            .kubectl()
            .args(["delete", "-n", CONTROLLER_NAMESPACE, object])
            .output();
    }
}

#[tokio::test]
async fn a_pod_whose_keys_cannot_load_is_not_ready_gets_no_traffic_and_is_not_restarted() {
    let Some((cluster, _guard)) = node_cluster().await else {
        return;
    };
    cluster.install().unwrap();
    rollout(&cluster);
    // A file sealed while the key was there, to ask about later.
    let ns = cluster.namespace("e2e-node-unready").await;
    let dir = tempfile::tempdir().unwrap();
    let sealed = dir.path().join("db.yaml");
    cluster.seal(
        &secret_manifest("db", &ns.name, &[("password", "x")]),
        &sealed,
        &[],
    );
    let deployment = format!("deployment/{CONTROLLER}");
    let kubectl_ok = |args: &[&str]| {
        run_ok(
            cluster
                .kubectl()
                .args(["-n", CONTROLLER_NAMESPACE])
                .args(args),
        )
        .unwrap()
    };
    // No key the Pod can read: no key Secret, and keys to be wrapped by a KMS that nothing
    // serves (the Pod's own loopback).
    kubectl_ok(&["scale", &deployment, "--replicas=0"]);
    wait_until(Duration::from_secs(60), "the Pod gone", || async {
        Ok(controller_pods(&cluster).await.is_empty())
    })
    .await
    .unwrap();
    cluster.delete_sealing_keys().unwrap();
    kubectl_ok(&[
        "set",
        "env",
        &deployment,
        "KAGE_KMS=vault-transit+http://127.0.0.1:9/kage",
        "KAGE_KMS_AUTH=token",
        "BAO_TOKEN=not-a-token",
    ]);
    kubectl_ok(&["scale", &deployment, "--replicas=1"]);
    wait_until(Duration::from_secs(60), "the Pod running", || async {
        Ok(controller_pods(&cluster)
            .await
            .iter()
            .any(|p| controller_container(p).is_some_and(|c| c.started == Some(true))))
    })
    .await
    .unwrap();
    // Several readiness periods (5 s) and more than a liveness period (10 s).
    tokio::time::sleep(Duration::from_secs(25)).await;
    let pods = controller_pods(&cluster).await;
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    assert!(!is_ready(pod), "a Pod without keys must not be Ready");
    let status = controller_container(pod).unwrap();
    assert_eq!(
        status.restart_count, 0,
        "liveness holds: the controller waits for its keys"
    );
    let events = kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        &format!(
            "involvedObject.name={},reason=Unhealthy",
            pod.metadata.name.as_deref().unwrap()
        ),
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    let events = String::from_utf8_lossy(&events.stdout);
    assert!(
        events.contains("Readiness probe failed") && events.contains("503"),
        "{events}"
    );
    // The Service sends nothing to it: the CLI's questions get a clear refusal.
    let asked_at = Instant::now();
    let asked = cluster
        .kage()
        .args(["validate", "--cluster"])
        .arg(&sealed)
        .output()
        .unwrap();
    let waited = asked_at.elapsed();
    let stderr = String::from_utf8_lossy(&asked.stderr);
    eprintln!(
        "validate --cluster against a Pod that is not Ready, refused in {:.1}s: {stderr}",
        waited.as_secs_f64()
    );
    assert!(!asked.status.success());
    // At once: not minutes of retries against a controller that is down.
    assert!(waited < Duration::from_secs(10), "refused after {waited:?}");
    assert!(
        stderr.contains("503") || stderr.contains("unavailable"),
        "{stderr}"
    );

    // Back to the shipped manifest: a new key, Ready.
    kubectl_ok(&[
        "set",
        "env",
        &deployment,
        "KAGE_KMS-",
        "KAGE_KMS_AUTH-",
        "BAO_TOKEN-",
    ]);
    rollout(&cluster);
    run_ok(cluster.kage().args(["key", "fetch"])).unwrap();
}

#[tokio::test]
async fn the_chart_rolls_two_replicas_over_without_missing_a_sealed_secret_and_a_drain_honours_the_budget()
 {
    let Some((cluster, _guard)) = node_cluster().await else {
        return;
    };
    let Some(mut install) = helm(&cluster) else {
        assert!(
            std::env::var("KAGE_E2E_NODE").as_deref() != Ok("1"),
            "KAGE_HELM_BIN is not set"
        );
        return;
    };
    // CRD and namespace from deploy/foundation; the chart with the image pinned by digest.
    run_ok(
        cluster
            .kubectl()
            .args(["apply", "-k"])
            .arg(workspace().join("deploy/foundation")),
    )
    .unwrap();
    let chart = workspace().join("deploy/helm/kage");
    let digest = format!("image.digest={}", built_image_digest());
    run_ok(
        install
            .args(["install", RELEASE])
            .arg(&chart)
            .args(["--set", &digest]),
    )
    .unwrap();
    let started = rollout(&cluster);
    eprintln!(
        "chart with only the image changed: Available in {:.1}s",
        started.as_secs_f64()
    );
    let pods = controller_pods(&cluster).await;
    assert_eq!(
        controller_container(&pods[0]).map(|c| c.image_id.as_str()),
        Some(format!("ghcr.io/kage-dev/kage-controller@{}", built_image_digest()).as_str())
    );
    run_ok(cluster.kage().args(["key", "fetch"])).unwrap();
    run_ok(
        helm(&cluster)
            .unwrap()
            .args(["upgrade", RELEASE])
            .arg(&chart)
            .args([
                "--reuse-values",
                "--set",
                "replicas=2",
                "--set",
                "podDisruptionBudget.enabled=true",
            ]),
    )
    .unwrap();
    let scaled = rollout(&cluster);
    eprintln!(
        "chart upgraded to two replicas: Available in {:.1}s",
        scaled.as_secs_f64()
    );
    assert_eq!(controller_pods(&cluster).await.len(), 2);

    // SealedSecrets keep arriving while every replica is replaced.
    let ns = cluster.namespace("e2e-node-roll").await;
    let dir = tempfile::tempdir().unwrap();
    const OBJECTS: usize = 20;
    for i in 0..OBJECTS / 2 {
        seal_and_apply(
            &cluster,
            dir.path(),
            &ns.name,
            &format!("s{i}"),
            &format!("v{i}"),
        );
    }
    run_ok(cluster.kubectl().args([
        "rollout",
        "restart",
        "-n",
        CONTROLLER_NAMESPACE,
        &format!("deployment/{CONTROLLER}"),
    ]))
    .unwrap();
    for i in OBJECTS / 2..OBJECTS {
        seal_and_apply(
            &cluster,
            dir.path(),
            &ns.name,
            &format!("s{i}"),
            &format!("v{i}"),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    rollout(&cluster);
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    for i in 0..OBJECTS {
        let name = format!("s{i}");
        wait_condition(&api, &name, "True", "Unsealed").await;
        assert_eq!(
            secret_value(&cluster, &ns.name, &name).await,
            format!("v{i}").into_bytes()
        );
    }

    // A drain of the only node: the budget lets one replica go, and refuses the second while
    // the first has nowhere to come back.
    run_ok(cluster.kubectl().args(["cordon", NODE_NAME])).unwrap();
    // A client that reports the budget's 429 instead of retrying it for minutes.
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&cluster.kubeconfig).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let mut config = config;
    config.default_retry = false;
    let pods: Api<Pod> = Api::namespaced(
        kube::Client::try_from(config).unwrap(),
        CONTROLLER_NAMESPACE,
    );
    let names: Vec<String> = controller_pods(&cluster)
        .await
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names.len(), 2);
    wait_until(
        Duration::from_secs(30),
        "the budget to allow one eviction",
        || async {
            let out = cluster
                .kubectl()
                .args(["get", "pdb", "-n", CONTROLLER_NAMESPACE, CONTROLLER, "-o"])
                .arg("jsonpath={.status.disruptionsAllowed}")
                .output()?;
            Ok(out.stdout == b"1")
        },
    )
    .await
    .unwrap();
    let first = pods.evict(&names[0], &EvictParams::default()).await;
    let second = pods.evict(&names[1], &EvictParams::default()).await;
    run_ok(cluster.kubectl().args(["uncordon", NODE_NAME])).unwrap();
    assert!(first.is_ok(), "{first:?}");
    match second {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 429, "{status:?}"),
        other => panic!("the second eviction must be refused by the budget: {other:?}"),
    }
    rollout(&cluster);
    run_ok(cluster.kage().args(["key", "fetch"])).unwrap();
    uninstall(&cluster);
}
