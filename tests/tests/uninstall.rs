//! The documented uninstall and reinstall (docs/operations.md, "Uninstall") on the local control
//! plane: every Secret kage made and every sealing key stay. Its own test file: it deletes
//! what `deploy/` installs, which the other tests of a file running beside it need.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kage_api::{SEALING_KEY_LABEL, SealedSecret};
use kage_e2e::{CONTROLLER_NAMESPACE, run_ok, wait_condition, workspace};
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

/// Each key Secret's name with its uid and resourceVersion.
async fn keys(cluster: &kage_e2e::Cluster) -> BTreeMap<String, (String, String)> {
    Api::<Secret>::namespaced(cluster.client.clone(), CONTROLLER_NAMESPACE)
        .list(&ListParams::default().labels(&format!("{SEALING_KEY_LABEL}=true")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| {
            (
                s.metadata.name.unwrap(),
                (
                    s.metadata.uid.unwrap(),
                    s.metadata.resource_version.unwrap(),
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_documented_uninstall_and_a_reinstall_keep_every_secret_and_key() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-uninstall").await;
    let dir = tempfile::tempdir().unwrap();
    let mut ctl = cluster
        .start_leading_controller(dir.path(), &["--watch-namespace", &ns.name])
        .await
        .unwrap();
    let manifest = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": ns.name},
        "stringData": {"password": "kept-through-an-uninstall"},
    });
    cluster.seal_and_apply(&manifest, &dir.path().join("db.yaml"), &[]);
    let sealed: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_condition(&sealed, "db", "True", "Unsealed").await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let before = secrets.get("db").await.unwrap().metadata;
    let keys_before = keys(&cluster).await;
    assert!(!keys_before.is_empty());

    // The uninstall: the Deployment's pods go first, then everything `deploy/` holds.
    ctl.stop();
    run_ok(
        cluster
            .kubectl()
            .args(["delete", "--wait", "-k"])
            .arg(workspace().join("deploy")),
    )
    .unwrap();

    let after = secrets.get_opt("db").await.unwrap();
    let after = after.expect("the uninstall deleted the Secret kage made");
    assert_eq!(after.metadata.uid, before.uid, "the Secret was recreated");
    assert_eq!(after.metadata.resource_version, before.resource_version);
    assert_eq!(
        keys(&cluster).await,
        keys_before,
        "the uninstall touched the keys"
    );
    assert!(sealed.get_opt("db").await.unwrap().is_some());
    assert!(
        Api::<CustomResourceDefinition>::all(cluster.client.clone())
            .get_opt("sealedsecrets.kage.dev")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        Api::<Namespace>::all(cluster.client.clone())
            .get_opt(CONTROLLER_NAMESPACE)
            .await
            .unwrap()
            .is_some()
    );

    // The reinstall finds the same keys and adopts the same Secret, writing neither.
    cluster.install().unwrap();
    let ctl = cluster
        .start_leading_controller(dir.path(), &["--watch-namespace", &ns.name])
        .await
        .unwrap();
    wait_condition(&sealed, "db", "True", "Unsealed").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let reinstalled = secrets.get("db").await.unwrap().metadata;
    assert_eq!(reinstalled.uid, before.uid);
    assert_eq!(reinstalled.resource_version, before.resource_version);
    assert_eq!(
        keys(&cluster).await,
        keys_before,
        "the reinstall made a key"
    );
    drop(ctl);
}
