//! Secrets at rest: what etcd holds of a Secret kage wrote, with and without the API server's
//! `EncryptionConfiguration`. Needs the local control plane (`cargo xtask test`), whose etcd is
//! reachable and whose API server runs with a secretbox configuration.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Secret;
use kage_e2e::{http_request, kubectl, run_ok, secret_manifest, wait_until};
use kube::Api;

const PLAINTEXT: &str = "at-rest-plaintext-4f1d9c";

/// The raw bytes etcd stores under `key` (through etcd's JSON gateway).
fn etcd_get(etcd: &str, key: &str) -> Vec<u8> {
    let body = serde_json::json!({"key": STANDARD.encode(key)}).to_string();
    let (code, text) = http_request(etcd, "POST", "/v3/kv/range", &[], body.as_bytes()).unwrap();
    assert_eq!(code, 200, "{text}");
    let json = &text[text.find('{').unwrap()..=text.rfind('}').unwrap()];
    let answer: serde_json::Value = serde_json::from_str(json).unwrap();
    let value = answer["kvs"][0]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("no key {key} in etcd: {answer}"));
    STANDARD.decode(value).unwrap()
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A second API server on the same etcd, under its own prefix, without the
/// `EncryptionConfiguration`; stopped on drop.
struct PlainApiServer(std::process::Child);

impl Drop for PlainApiServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn secrets_kage_writes_are_encrypted_in_etcd_only_with_an_encryption_configuration() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    if !kage_e2e::local_control_plane("etcd") {
        return;
    }
    let started: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(kage_e2e::workspace().join("target/cluster/apiserver.json"))
            .unwrap(),
    )
    .unwrap();
    let etcd = started["etcd"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_owned();

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
    let stored = etcd_get(&etcd, &format!("/registry/secrets/{}/db", ns.name));
    assert!(
        stored.starts_with(b"k8s:enc:secretbox:v1:"),
        "not stored encrypted"
    );
    assert!(!holds(&stored, PLAINTEXT), "plaintext in etcd");

    // Without it: the same kind of Secret is readable in etcd.
    let port = kage_e2e::free_port().unwrap();
    let args: Vec<String> = started["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .filter(|a| !a.starts_with("--encryption-provider-config"))
        .map(|a| {
            if a.starts_with("--secure-port=") {
                format!("--secure-port={port}")
            } else {
                a.to_owned()
            }
        })
        .chain(["--etcd-prefix=/kage-plain".to_owned()])
        .collect();
    let _plain = PlainApiServer(
        std::process::Command::new(started["binary"].as_str().unwrap())
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut config: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&cluster.kubeconfig).unwrap()).unwrap();
    config["clusters"][0]["cluster"]["server"] =
        serde_json::json!(format!("https://127.0.0.1:{port}"));
    let plain_kubeconfig = dir.path().join("plain.kubeconfig");
    std::fs::write(&plain_kubeconfig, config.to_string()).unwrap();
    wait_until(Duration::from_secs(90), "the second API server", || async {
        Ok(kubectl(&plain_kubeconfig)
            .args(["get", "--raw", "/readyz"])
            .output()?
            .status
            .success())
    })
    .await
    .unwrap();
    run_ok(kubectl(&plain_kubeconfig).args([
        "create",
        "secret",
        "generic",
        "db",
        "-n",
        "default",
        &format!("--from-literal=password={PLAINTEXT}"),
    ]))
    .unwrap();
    let stored = etcd_get(&etcd, "/kage-plain/secrets/default/db");
    assert!(
        holds(&stored, PLAINTEXT),
        "without an EncryptionConfiguration the value should be stored as it is"
    );
}
