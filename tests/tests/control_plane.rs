//! The test cluster behaves like a real one: CRDs, garbage collection, namespace deletion and
//! RBAC all work. If these fail, no other e2e result means anything.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kage_e2e::{cluster, random_suffix, run_ok, wait_until};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("valid object")
}

#[tokio::test]
async fn a_crd_applied_with_kubectl_becomes_established() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let plural = format!("widgets{}", random_suffix());
    let name = format!("{plural}.e2e.kage.dev");
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": "e2e.kage.dev",
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural, "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crd.json");
    std::fs::write(&file, crd.to_string()).unwrap();
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&file)).unwrap();
    run_ok(cluster.kubectl().args([
        "wait",
        "--for=condition=Established",
        &format!("crd/{name}"),
        "--timeout=30s",
    ]))
    .unwrap();
    run_ok(
        cluster
            .kubectl()
            .args(["delete", "crd", &name, "--wait=false"]),
    )
    .unwrap();
}

#[tokio::test]
async fn an_owned_secret_is_garbage_collected_when_its_owner_is_deleted() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let ns = cluster.namespace("e2e-gc").await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns.name);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let owner = maps
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "owner"}})),
        )
        .await
        .unwrap();
    let uid = owner.metadata.uid.unwrap();
    secrets
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "child", "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}
            ]}, "stringData": {"k": "v"}})),
        )
        .await
        .unwrap();
    maps.delete("owner", &DeleteParams::default())
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(30),
        "the owned Secret to be collected",
        || async { Ok(secrets.get_opt("child").await?.is_none()) },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_namespace_is_deleted_to_completion() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let name = format!("e2e-ns-{}", random_suffix());
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": name}})),
        )
        .await
        .unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &name);
    maps.create(
        &PostParams::default(),
        &from(json!({"metadata": {"name": "c"}})),
    )
    .await
    .unwrap();
    namespaces
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(60),
        "the namespace to disappear",
        || async { Ok(namespaces.get_opt(&name).await?.is_none()) },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_service_account_reads_secrets_only_once_a_role_allows_it() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let ns = cluster.namespace("e2e-rbac").await;
    let dir = tempfile::tempdir().unwrap();
    Api::<Secret>::namespaced(cluster.client.clone(), &ns.name)
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}})),
        )
        .await
        .unwrap();
    let (client, _) = cluster
        .service_account(&ns.name, "reader", dir.path())
        .await
        .unwrap();
    let as_reader: Api<Secret> = Api::namespaced(client, &ns.name);
    let denied = as_reader.get("s").await.unwrap_err();
    assert!(
        matches!(&denied, kube::Error::Api(status) if status.code == 403),
        "expected 403, got {denied}"
    );
    Api::<Role>::namespaced(cluster.client.clone(), &ns.name)
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "read-secrets"}, "rules": [
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
            ]})),
        )
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(cluster.client.clone(), &ns.name)
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "reader"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-secrets"},
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns.name}]})),
        )
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(10),
        "the Role to take effect",
        || async { Ok(as_reader.get_opt("s").await.is_ok_and(|s| s.is_some())) },
    )
    .await
    .unwrap();
}
