//! Secrets at rest: what etcd holds of a Secret kage wrote, with and without the API server's
//! `EncryptionConfiguration`. Needs the local control plane (`cargo xtask test`), whose etcd is
//! reachable and whose API server runs with a secretbox configuration.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kage_e2e::{ApiServer, etcd_get, holds, kubectl, run_ok, secret_manifest, wait_until};
use kube::Api;

const PLAINTEXT: &str = "at-rest-plaintext-4f1d9c";

#[tokio::test]
async fn secrets_kage_writes_are_encrypted_in_etcd_only_with_an_encryption_configuration() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    if !kage_e2e::local_control_plane("etcd") {
        return;
    }

    // With the configuration: the Secret kage wrote is ciphertext in etcd.
    let ns = cluster.namespace("e2e-atrest").await;
    let dir = tempfile::tempdir().unwrap();
    let _ctl = cluster
        .start_controller_for(dir.path(), &ns.name)
        .await
        .unwrap();
    cluster.seal_and_apply(
        &secret_manifest("db", &ns.name, &[("password", PLAINTEXT)]),
        &dir.path().join("db.yaml"),
        &[],
    );
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_until(
        Duration::from_secs(40),
        "the Secret kage writes",
        || async { Ok(secrets.get_opt("db").await?.is_some()) },
    )
    .await
    .unwrap();
    let stored = etcd_get(&format!("/registry/secrets/{}/db", ns.name));
    assert!(
        stored.starts_with(b"k8s:enc:secretbox:v1:"),
        "not stored encrypted"
    );
    assert!(!holds(&stored, PLAINTEXT), "plaintext in etcd");

    // Without it: the same kind of Secret is readable in etcd.
    let plain = ApiServer::start(&cluster, dir.path(), None).await.unwrap();
    run_ok(kubectl(&plain.kubeconfig).args([
        "create",
        "secret",
        "generic",
        "db",
        "-n",
        "default",
        &format!("--from-literal=password={PLAINTEXT}"),
    ]))
    .unwrap();
    let stored = etcd_get(&format!("{}/secrets/default/db", plain.prefix));
    assert!(
        holds(&stored, PLAINTEXT),
        "without an EncryptionConfiguration the value should be stored as it is"
    );
}
