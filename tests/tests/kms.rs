//! KMS-wrapped sealing keys with a real OpenBao server (Transit): the key Secret holds no
//! identity, the controller unseals normally, and it behaves as it should when the KMS is down.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kage_api::SealedSecret;
use kage_e2e::{
    CONTROLLER_LOCK, CONTROLLER_NAMESPACE, Cluster, OpenBao, cluster, http_get, run_ok,
    wait_condition,
};
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

/// Deletes the key Secrets when dropped, so that later tests (without a KMS) start afresh.
struct DropKeys<'a>(&'a Cluster);

impl Drop for DropKeys<'_> {
    fn drop(&mut self) {
        let _ = self.0.delete_sealing_keys();
    }
}

#[tokio::test]
async fn kms_wrapped_keys_unseal_normally_and_survive_the_kms_going_down() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let _guard = CONTROLLER_LOCK.lock().await;
    cluster.install().unwrap();
    let mut bao = OpenBao::start().await.expect("OpenBao dev server");
    let ns = cluster.namespace("e2e-kms").await;
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = DropKeys(&cluster);
    cluster.delete_sealing_keys().unwrap();

    let token_file = dir.path().join("bao-token");
    std::fs::write(&token_file, &bao.token).unwrap();
    let kms_url = bao.kms_url();
    let token_path = token_file.to_string_lossy().into_owned();
    let args = [
        "--watch-namespace",
        ns.name.as_str(),
        "--kms",
        kms_url.as_str(),
        "--kms-auth",
        "token",
        "--kms-token-file",
        token_path.as_str(),
    ];
    let ctl = cluster
        .start_leading_controller(dir.path(), &args)
        .await
        .unwrap();

    // The stored key holds only the wrapped identity.
    let keys = Api::<Secret>::namespaced(cluster.client.clone(), CONTROLLER_NAMESPACE)
        .list(&ListParams::default().labels("kage.dev/sealing-key=true"))
        .await
        .unwrap();
    assert_eq!(keys.items.len(), 1);
    let stored = serde_json::to_string(&keys.items[0]).unwrap();
    let data = keys.items[0].data.as_ref().unwrap();
    assert!(
        data.keys().all(|k| k == "wrapped-identity"),
        "{:?}",
        data.keys()
    );
    let wrapped = String::from_utf8(data["wrapped-identity"].0.clone()).unwrap();
    assert!(wrapped.starts_with("vault:v1:"), "{wrapped}");
    assert!(!stored.contains("AGE-SECRET-KEY") && !wrapped.contains("AGE-SECRET-KEY"));

    // It unseals normally.
    let seal_apply = |name: &str| {
        let input = dir.path().join(format!("{name}.json"));
        let manifest = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns.name},
            "stringData": {"k": "kms-protected"}});
        std::fs::write(&input, manifest.to_string()).unwrap();
        let out = dir.path().join(format!("{name}.yaml"));
        run_ok(
            cluster
                .kage()
                .arg("seal")
                .arg("-f")
                .arg(&input)
                .arg("-w")
                .arg(&out),
        )
        .unwrap();
        run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&out)).unwrap();
    };
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    seal_apply("before");
    wait_condition(&api, "before", "True", "Unsealed").await;

    // The KMS goes down after start: keys already loaded keep working.
    bao.stop();
    seal_apply("after");
    wait_condition(&api, "after", "True", "Unsealed").await;

    // The KMS is down at start: the controller is not ready, says why in its log (not to
    // whoever reaches its health port), and keeps running.
    let mut second = cluster.start_controller(dir.path(), &args).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, body) = http_get(&second.health_addr, "/readyz").unwrap();
    assert_eq!(code, 503);
    assert!(!body.contains("KMS") && !body.contains(&kms_url), "{body}");
    assert!(
        second.logs().contains("cannot load the sealing keys") && second.logs().contains("KMS")
    );
    assert!(
        !second.exited(),
        "the controller must wait for the KMS, not exit"
    );
    assert!(!ctl.logs().contains("AGE-SECRET-KEY") && !second.logs().contains("AGE-SECRET-KEY"));
}

#[tokio::test]
async fn the_controller_unwraps_its_keys_with_its_service_account_and_no_static_token() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let _guard = CONTROLLER_LOCK.lock().await;
    cluster.install().unwrap();
    let bao = OpenBao::start().await.expect("OpenBao dev server");
    let ns = cluster.namespace("e2e-kms-k8s").await;
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = DropKeys(&cluster);
    cluster.delete_sealing_keys().unwrap();
    // OpenBao tokens live 24 s (renewable to 60 s), so that the test sees a renewal and outlives
    // a token.
    bao.kubernetes_auth(
        &cluster,
        (CONTROLLER_NAMESPACE, "kage-controller"),
        "kage-controller",
        "openbao",
        ("24s", "60s"),
    )
    .await
    .unwrap();
    // What the projected volume gives the Pod: a token OpenBao's audience only.
    let jwt_file = dir.path().join("openbao-token");
    let jwt = cluster
        .audience_token(CONTROLLER_NAMESPACE, "kage-controller", "openbao")
        .await
        .unwrap();
    std::fs::write(&jwt_file, &jwt).unwrap();
    let kms_url = bao.kms_url();
    let jwt_path = jwt_file.to_string_lossy().into_owned();
    let args = [
        "--watch-namespace",
        ns.name.as_str(),
        "--key-rotation-period",
        "0",
        "--kms",
        kms_url.as_str(),
        "--kms-jwt-file",
        jwt_path.as_str(),
    ];
    let ctl = cluster
        .start_leading_controller(dir.path(), &args)
        .await
        .unwrap();
    // The controller logged in (to wrap its first key) shortly before this.
    let logged_in = std::time::Instant::now();

    // The key is wrapped, the controller unseals, and no OpenBao token is in any Secret.
    let wrapped_keys = || async {
        let keys = Api::<Secret>::namespaced(cluster.client.clone(), CONTROLLER_NAMESPACE)
            .list(&ListParams::default().labels("kage.dev/sealing-key=true"))
            .await
            .unwrap();
        keys.items
            .iter()
            .filter(|k| {
                k.data
                    .as_ref()
                    .is_some_and(|d| d.keys().all(|k| k == "wrapped-identity"))
            })
            .count()
    };
    assert_eq!(wrapped_keys().await, 1);
    let listed = bao
        .cli(&["list", "-format=json", "auth/token/accessors"])
        .unwrap();
    let accessors: Vec<String> = serde_json::from_slice(&listed.stdout).unwrap();
    let mut controller_tokens = 0;
    for accessor in &accessors {
        let looked_up = bao
            .cli(&["token", "lookup", "-format=json", "-accessor", accessor])
            .unwrap();
        let token: serde_json::Value = serde_json::from_slice(&looked_up.stdout).unwrap();
        if token["data"]["meta"]["service_account_name"] == "kage-controller" {
            controller_tokens += 1;
            assert!(token["data"]["ttl"].as_u64().unwrap() <= 24, "{token}");
        }
    }
    assert!(
        controller_tokens >= 1,
        "the controller logged in with Kubernetes auth"
    );
    let sealed = dir.path().join("first.yaml");
    cluster.seal_and_apply(
        &kage_e2e::secret_manifest("first", &ns.name, &[("k", "kms-protected")]),
        &sealed,
        &[],
    );
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_condition(&api, "first", "True", "Unsealed").await;

    // Two thirds into the token's lease (16 s of 24), a rotation wraps the new key with the token
    // renewed; past the renewed lease, the next rotation logs in again with the same projected
    // token.
    let cluster = &cluster;
    let wrapped_keys = &wrapped_keys;
    let rotate_and_wait = |keys: usize| async move {
        run_ok(cluster.kage().args(["key", "rotate"])).unwrap();
        kage_e2e::wait_until(Duration::from_secs(60), "a new wrapped key", || async {
            Ok(wrapped_keys().await == keys)
        })
        .await
        .unwrap();
    };
    tokio::time::sleep(Duration::from_secs(18).saturating_sub(logged_in.elapsed())).await;
    rotate_and_wait(2).await;
    assert!(
        ctl.logs().contains("renewed the OpenBao token"),
        "{}",
        ctl.logs()
    );
    assert_eq!(ctl.logs().matches("logged in to OpenBao").count(), 1);
    tokio::time::sleep(Duration::from_secs(25)).await;
    rotate_and_wait(3).await;
    assert_eq!(
        ctl.logs().matches("logged in to OpenBao").count(),
        2,
        "{}",
        ctl.logs()
    );

    // A token for the API server's own audience (what a stolen Pod token is) opens nothing.
    let stolen = cluster
        .audience_token(
            CONTROLLER_NAMESPACE,
            "kage-controller",
            "https://kubernetes.default.svc",
        )
        .await
        .unwrap();
    let refused = bao.cli(&[
        "write",
        "auth/kubernetes/login",
        "role=kage-controller",
        &format!("jwt={stolen}"),
    ]);
    assert!(refused.is_err(), "a token of another audience logged in");

    // The role revoked in OpenBao: a controller starting now cannot unwrap, and says why.
    bao.cli(&["delete", "auth/kubernetes/role/kage-controller"])
        .unwrap();
    let mut second = cluster.start_controller(dir.path(), &args).await.unwrap();
    kage_e2e::wait_until(Duration::from_secs(30), "the refusal in the log", || {
        let logs = second.logs();
        async move { Ok(logs.contains("cannot load the sealing keys")) }
    })
    .await
    .unwrap();
    let logs = second.logs();
    assert!(
        logs.contains("OpenBao login (kubernetes)") && logs.contains("invalid role name"),
        "{logs}"
    );
    let (code, _) = http_get(&second.health_addr, "/readyz").unwrap();
    assert_eq!(code, 503);
    assert!(!second.exited());
    assert!(
        !logs.contains(&jwt) && !ctl.logs().contains(&jwt),
        "the ServiceAccount token in a log"
    );
}
