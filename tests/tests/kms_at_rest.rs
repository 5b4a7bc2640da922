//! Encryption at rest through `kage-kms`: a second API server on the local etcd whose
//! `EncryptionConfiguration` names kage-kms, logged in to a real OpenBao with AppRole (a
//! response-wrapped secret id), its key encryption key a Transit key. What etcd holds, restarts,
//! OpenBao not answering, rotation with re-encryption and the old key version retired.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kage_e2e::{
    ApiServer, CONTROLLER_LOCK, KmsPlugin, OpenBao, cluster, etcd_get, holds,
    kms_encryption_config, kubectl, run_ok, secret_manifest, wait_until,
};
use kube::Api;
use kube::api::ListParams;

const PLAINTEXT: &str = "kms-at-rest-plaintext-8c2e71";

/// The prefix the API server puts before what a KMS v2 provider named `kage-kms` stored.
const KMS_PREFIX: &[u8] = b"k8s:enc:kms:v2:kage-kms:";

/// The first Transit ciphertext (`vault:vN:...`) in `raw`: the sealed data key source.
fn sealed_seed(raw: &[u8]) -> Vec<u8> {
    let start = raw
        .windows(7)
        .position(|w| w == b"vault:v")
        .expect("a Transit ciphertext in the stored object");
    raw[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || b"+/=:".contains(b))
        .copied()
        .collect()
}

async fn value(secrets: &Api<Secret>, name: &str) -> anyhow::Result<String> {
    let secret = secrets.get(name).await?;
    let data = secret.data.unwrap_or_default();
    Ok(String::from_utf8(data["password"].0.clone())?)
}

fn create_secret(kubeconfig: &Path, namespace: &str, name: &str) {
    run_ok(kubectl(kubeconfig).args([
        "create",
        "secret",
        "generic",
        name,
        "-n",
        namespace,
        &format!("--from-literal=password={PLAINTEXT}"),
    ]))
    .unwrap();
}

#[tokio::test]
async fn secrets_are_encrypted_in_etcd_through_kage_kms_from_the_controller_to_the_disk() {
    let Some(admin) = cluster().await else {
        return;
    };
    if !kage_e2e::local_control_plane("etcd") {
        return;
    }
    let _guard = CONTROLLER_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let bao = OpenBao::start().await.unwrap();
    // Short-lived tokens, so that renewals and logins happen within the test.
    let role_id = bao.approle("kage-kms", "8s", "40s").unwrap();
    let role_file = dir.path().join("role-id");
    std::fs::write(&role_file, &role_id).unwrap();
    let secret_file = dir.path().join("secret-id");
    std::fs::write(&secret_file, bao.wrapped_secret_id("kage-kms").unwrap()).unwrap();
    let socket = dir.path().join("kms.sock");
    let kms_url = bao.kms_url();
    let role_path = role_file.to_string_lossy().into_owned();
    let secret_path = secret_file.to_string_lossy().into_owned();
    let plugin_args = [
        "--kms",
        kms_url.as_str(),
        "--role-id-file",
        role_path.as_str(),
        "--secret-id-file",
        secret_path.as_str(),
        "--secret-id-wrapped",
    ];
    let mut plugin = KmsPlugin::start(&socket, &plugin_args).await.unwrap();
    assert_eq!(plugin.wait_healthy().await.unwrap(), "transit/keys/kage:v1");

    // An API server whose first provider for Secrets is kage-kms, and kage's controller on it.
    let config = kms_encryption_config(dir.path(), &socket).unwrap();
    let mut api = ApiServer::start(&admin, dir.path(), Some(&config))
        .await
        .unwrap();
    let cluster = api.cluster().await.unwrap();
    cluster.install().unwrap();
    let ns = cluster.namespace("e2e-kms-rest").await;
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
        Duration::from_secs(60),
        "the Secret kage writes",
        || async { Ok(secrets.get_opt("db").await?.is_some()) },
    )
    .await
    .unwrap();

    // etcd holds the KMS v2 envelope, no byte of the value, and the key id of Transit v1.
    let prefix = format!("{}/secrets/{}", api.prefix, ns.name);
    let key = |name: &str| format!("{prefix}/{name}");
    let stored = etcd_get(&key("db"));
    assert!(
        stored.starts_with(KMS_PREFIX),
        "not stored through kage-kms"
    );
    assert!(!holds(&stored, PLAINTEXT), "plaintext in etcd");
    assert!(holds(&stored, "transit/keys/kage:v1"));
    let old_seed = sealed_seed(&stored);
    assert!(old_seed.starts_with(b"vault:v1:"));
    assert_eq!(value(&secrets, "db").await.unwrap(), PLAINTEXT);

    // The AppRole token renews across its TTL (8 s) and a new login follows its maximum.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        plugin.status().await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(
        plugin.logs().contains("renewed the OpenBao token"),
        "{}",
        plugin.logs()
    );

    // kage-kms restarts. Down: the API server reads what it has cached.
    plugin.stop();
    assert_eq!(value(&secrets, "db").await.unwrap(), PLAINTEXT);
    // The wrapped secret id was opened by the first start: it opens no second time.
    let mut again = KmsPlugin::start(&socket, &plugin_args).await.unwrap();
    wait_until(Duration::from_secs(15), "kage-kms to exit", || {
        let exited = again.exited();
        async move { Ok(exited) }
    })
    .await
    .unwrap();
    assert!(again.logs().contains("opens once"), "{}", again.logs());
    drop(again);
    // A new wrapped secret id, as the docs say: it serves again, and an API server started
    // afresh (nothing cached) reads everything.
    std::fs::write(&secret_file, bao.wrapped_secret_id("kage-kms").unwrap()).unwrap();
    let plugin = KmsPlugin::start(&socket, &plugin_args).await.unwrap();
    plugin.wait_healthy().await.unwrap();
    api.restart("/readyz").await.unwrap();
    assert_eq!(value(&secrets, "db").await.unwrap(), PLAINTEXT);

    // OpenBao stops answering (frozen). Measured against docs/operations.md.
    bao.pause();
    tokio::time::sleep(kage_kms::plugin::STATUS_REUSE).await;
    let asked = Instant::now();
    let status = plugin.status().await.unwrap();
    eprintln!(
        "OpenBao frozen: kage-kms unhealthy after {:.1}s: {}",
        asked.elapsed().as_secs_f64(),
        status.healthz
    );
    assert_ne!(status.healthz, "ok");
    assert!(!status.healthz.contains("127.0.0.1"), "{}", status.healthz);
    // Reads of what the API server has opened, and writes with its current data key, go on.
    assert_eq!(value(&secrets, "db").await.unwrap(), PLAINTEXT);
    create_secret(&api.kubeconfig, &ns.name, "during-outage");
    // An API server restarted while OpenBao is down cannot open any Secret...
    api.restart("/livez").await.unwrap();
    let refused = value(&secrets, "db").await;
    eprintln!("OpenBao frozen, API server restarted: reading a Secret: {refused:?}");
    assert!(refused.is_err(), "read a Secret with the KMS down");
    // ...and reads again once OpenBao answers.
    bao.resume();
    let resumed = Instant::now();
    wait_until(
        Duration::from_secs(60),
        "reads after OpenBao is back",
        || async { Ok(value(&secrets, "during-outage").await.is_ok()) },
    )
    .await
    .unwrap();
    eprintln!(
        "OpenBao back: reads again after {:.1}s",
        resumed.elapsed().as_secs_f64()
    );
    api.wait("/readyz").await.unwrap();

    // Rotation: the key id follows the Transit version, the API server takes it up.
    bao.cli(&["write", "-f", "transit/keys/kage/rotate"])
        .unwrap();
    tokio::time::sleep(kage_kms::plugin::STATUS_REUSE).await;
    assert_eq!(plugin.wait_healthy().await.unwrap(), "transit/keys/kage:v2");
    let rotated = Instant::now();
    let mut probe = 0;
    wait_until(Duration::from_secs(150), "writes with key v2", || {
        probe += 1;
        let name = format!("probe-{probe}");
        create_secret(&api.kubeconfig, &ns.name, &name);
        let stored = etcd_get(&key(&name));
        async move { Ok(holds(&stored, "transit/keys/kage:v2")) }
    })
    .await
    .unwrap();
    eprintln!(
        "rotation: new writes use key v2 after {:.1}s",
        rotated.elapsed().as_secs_f64()
    );

    // The documented re-encryption rewrites every Secret with the new key.
    let listed =
        run_ok(kubectl(&api.kubeconfig).args(["get", "secrets", "-A", "-o", "json"])).unwrap();
    let every_secret = dir.path().join("every-secret.json");
    std::fs::write(&every_secret, &listed.stdout).unwrap();
    run_ok(
        kubectl(&api.kubeconfig)
            .arg("replace")
            .arg("-f")
            .arg(&every_secret),
    )
    .unwrap();
    let all: Api<Secret> = Api::all(cluster.client.clone());
    let every = all.list(&ListParams::default()).await.unwrap();
    assert!(every.items.len() >= 3);
    for secret in &every.items {
        let (namespace, name) = (
            secret.metadata.namespace.as_deref().unwrap(),
            secret.metadata.name.as_deref().unwrap(),
        );
        let stored = etcd_get(&format!("{}/secrets/{namespace}/{name}", api.prefix));
        assert!(
            holds(&stored, "transit/keys/kage:v2") && !holds(&stored, "transit/keys/kage:v1"),
            "{namespace}/{name} not re-encrypted"
        );
    }

    // The old key version retired in OpenBao: what was sealed with it opens no more...
    bao.cli(&[
        "write",
        "transit/keys/kage/config",
        "min_decryption_version=2",
    ])
    .unwrap();
    let opened = plugin
        .client()
        .await
        .unwrap()
        .decrypt(&old_seed, "transit/keys/kage:v1")
        .await;
    assert!(
        opened.is_err(),
        "a data key sealed with the retired version still opens"
    );
    // ...and every Secret still reads, by an API server with nothing cached.
    api.restart("/readyz").await.unwrap();
    for secret in &every.items {
        let (namespace, name) = (
            secret.metadata.namespace.as_deref().unwrap(),
            secret.metadata.name.as_deref().unwrap(),
        );
        Api::<Secret>::namespaced(cluster.client.clone(), namespace)
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("{namespace}/{name} unreadable after the rotation: {e}"));
    }
    assert_eq!(value(&secrets, "db").await.unwrap(), PLAINTEXT);
    assert!(!plugin.logs().contains(PLAINTEXT));
    assert!(
        plugin.logs().matches("logged in to OpenBao").count() >= 2,
        "a new login after the token's maximum lifetime: {}",
        plugin.logs()
    );
}
