//! GitOps fit, with the real consumers: Flux's kstatus and Argo CD's health check (in the Lua
//! interpreter Argo CD embeds) read every Ready reason the controller can set on a live
//! object as `docs/operations.md` documents, and `kubectl wait` returns at once for both good
//! and broken objects. (`ApiError`, the transient reason, is read in
//! `without_rbac_for_secrets_the_controller_reports_instead_of_crashing`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kage_api::SealedSecret;
use kage_e2e::{CONTROLLER_NAMESPACE, Cluster, GitOpsView, run_ok, secret_manifest, wait_until};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

/// Waits until `name` reports `reason` for its current generation, then asks the consumers.
async fn view_of(api: &Api<SealedSecret>, name: &str, reason: &str) -> Option<GitOpsView> {
    wait_until(Duration::from_secs(40), reason, || async {
        let s = api.get(name).await?;
        let observed = s.status.as_ref().and_then(|st| st.observed_generation);
        Ok(observed == s.metadata.generation
            && s.ready_condition().is_some_and(|c| c.reason == reason))
    })
    .await
    .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    kage_e2e::gitops_view(&api.get(name).await.unwrap())
}

fn assert_view(view: Option<GitOpsView>, name: &str, kstatus: &str, argocd: &str, reason: &str) {
    let Some(view) = view else { return };
    assert_eq!(view.kstatus, kstatus, "{name}: kstatus");
    assert_eq!(view.argocd, argocd, "{name}: Argo CD health");
    if argocd != "Healthy" {
        assert!(
            view.argocd_message.starts_with(&format!("{reason}: ")),
            "{name}: Argo CD message {:?}",
            view.argocd_message
        );
    }
}

fn kubectl_wait(cluster: &Cluster, ns: &str, name: &str, condition: &str, timeout: &str) -> bool {
    cluster
        .kubectl()
        .args(["wait", &format!("--for=condition={condition}"), "-n", ns])
        .arg(format!("sealedsecrets.kage.dev/{name}"))
        .arg(format!("--timeout={timeout}"))
        .output()
        .unwrap()
        .status
        .success()
}

#[tokio::test]
async fn every_ready_reason_reads_as_documented_in_kstatus_argo_cd_and_kubectl_wait() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-gitops").await;
    let dir = tempfile::tempdir().unwrap();
    // Every namespace: the controller's own must be watched for NamespaceRefused.
    let _ctl = cluster
        .start_leading_controller(dir.path(), &["--key-rotation-period", "0"])
        .await
        .unwrap();
    let file = |name: &str| dir.path().join(format!("{name}.yaml"));
    let ns_name = ns.name.as_str();

    cluster.seal_and_apply(
        &secret_manifest("good", ns_name, &[("k", "v")]),
        &file("good"),
        &[],
    );
    // A value copied from another object.
    cluster.seal(
        &secret_manifest("original", ns_name, &[("k", "v")]),
        &file("original"),
        &[],
    );
    let copied = std::fs::read_to_string(file("original"))
        .unwrap()
        .replace("name: original", "name: copied");
    std::fs::write(file("copied"), copied).unwrap();
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(file("copied"))).unwrap();
    // Sealed to a key this cluster does not hold.
    let other = run_ok(
        cluster
            .kage()
            .args(["keygen", "-o"])
            .arg(dir.path().join("other.key")),
    )
    .unwrap();
    let other = String::from_utf8(other.stdout).unwrap().trim().to_owned();
    cluster.seal_and_apply(
        &secret_manifest("foreign", ns_name, &[("k", "v")]),
        &file("foreign"),
        &["-r", &other],
    );
    // Not a sealed value at all.
    let garbage = json!({"apiVersion": "kage.dev/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "garbage", "namespace": ns_name},
        "spec": {"encryptedData": {"k": "bm90IGFuIGFnZSBmaWxl"}}});
    std::fs::write(file("garbage"), garbage.to_string()).unwrap();
    run_ok(
        cluster
            .kubectl()
            .arg("apply")
            .arg("-f")
            .arg(file("garbage")),
    )
    .unwrap();
    // A Secret of that name belongs to someone else.
    let theirs: Secret =
        serde_json::from_value(secret_manifest("taken", ns_name, &[("k", "theirs")])).unwrap();
    Api::<Secret>::namespaced(cluster.client.clone(), ns_name)
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    cluster.seal_and_apply(
        &secret_manifest("taken", ns_name, &[("k", "v")]),
        &file("taken"),
        &[],
    );
    // A template the policy refuses, and one the API server refuses.
    cluster.seal_and_apply_with_metadata(
        &secret_manifest("refused", ns_name, &[("k", "v")]),
        &file("refused"),
        json!({"labels": {"kage.dev/sealing-key": "true"}}),
    );
    // `kage seal` refuses a TLS Secret without its keys: the type is set by hand.
    cluster.seal_and_apply_as_type(
        &secret_manifest("invalid", ns_name, &[("k", "v")]),
        &file("invalid"),
        "kubernetes.io/tls",
    );
    // In the controller's own namespace.
    cluster.seal_and_apply(
        &secret_manifest("gitops-e2e", CONTROLLER_NAMESPACE, &[("k", "v")]),
        &file("in-kage-system"),
        &[],
    );

    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), ns_name);
    let system: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), CONTROLLER_NAMESPACE);
    assert_view(
        view_of(&api, "good", "Unsealed").await,
        "good",
        "Current",
        "Healthy",
        "Unsealed",
    );
    let broken = [
        ("copied", "BindingMismatch"),
        ("foreign", "NoMatchingKey"),
        ("garbage", "InvalidSealedValue"),
        ("taken", "SecretNotOwned"),
        ("refused", "TemplateRefused"),
        ("invalid", "InvalidTemplate"),
    ];
    for (name, reason) in broken {
        assert_view(
            view_of(&api, name, reason).await,
            name,
            "Failed",
            "Degraded",
            reason,
        );
    }
    let in_system = view_of(&system, "gitops-e2e", "NamespaceRefused").await;
    let _ = run_ok(cluster.kubectl().args([
        "delete",
        "sealedsecrets.kage.dev",
        "gitops-e2e",
        "-n",
        CONTROLLER_NAMESPACE,
    ]));
    assert_view(
        in_system,
        "gitops-e2e",
        "Failed",
        "Degraded",
        "NamespaceRefused",
    );

    // kubectl wait: Ready returns for a good object, Stalled at once for a broken one, and
    // Ready never comes for the broken one.
    assert!(kubectl_wait(&cluster, ns_name, "good", "Ready", "30s"));
    assert!(kubectl_wait(&cluster, ns_name, "copied", "Stalled", "5s"));
    assert!(!kubectl_wait(&cluster, ns_name, "copied", "Ready", "3s"));

    // Last, KeyRetired: rotate, retire the key "good" was sealed to.
    let old: kage_core::Recipient = cluster.current_key().await.parse().unwrap();
    cluster.rotate_key().await.unwrap();
    wait_until(Duration::from_secs(30), "the new key", || async {
        Ok(cluster.current_key().await != old.to_string())
    })
    .await
    .unwrap();
    run_ok(
        cluster
            .kage()
            .args(["key", "retire", &old.fingerprint().to_string()]),
    )
    .unwrap();
    assert_view(
        view_of(&api, "good", "KeyRetired").await,
        "good",
        "Failed",
        "Degraded",
        "KeyRetired",
    );
}
