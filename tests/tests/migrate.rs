//! `kage migrate` on real Bitnami Sealed Secrets: its controller (built from its Go module) runs
//! against the cluster, the real `kubeseal` seals, `kage migrate` turns the files into kage
//! SealedSecrets, and the Secrets switch owners without ever going missing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kage_api::SealedSecret;
use kage_e2e::{Cluster, SealedSecretsController, binary, run_ok, wait_condition, wait_until};
use kube::Api;
use kube::api::{WatchEvent, WatchParams};

/// Seals `secret` with the real `kubeseal` under `scope`, as YAML or JSON.
fn kubeseal(
    bitnami: &SealedSecretsController,
    cluster: &Cluster,
    secret: &serde_json::Value,
    scope: &str,
    format: &str,
) -> String {
    use std::io::Write;
    let mut child = bitnami
        .kubeseal(cluster)
        .args(["--scope", scope, "--format", format])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(secret.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubeseal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The Secrets carry an annotation under the team's own prefix: the operator allows it on
/// the controller (`--allow-template-metadata-prefix`) and says so to `kage migrate`.
const ALLOW_OWNER: [&str; 2] = ["--allow-metadata-prefix", "team.example.com"];

fn secret(name: &str, namespace: &str, type_: &str, data: &[(&str, &[u8])]) -> serde_json::Value {
    let data: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), STANDARD.encode(v).into()))
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "Secret", "type": type_,
        "metadata": {"name": name, "namespace": namespace,
            "labels": {"app": name}, "annotations": {"team.example.com/owner": "payments"}},
        "data": data})
}

/// Every value the tests seal, to look for in whatever kage prints or writes.
fn values() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("user", b"app_user".to_vec()),
        ("password", b"Pw-7f3c9e1d2b4a".to_vec()),
        ("blob", (0..=255u8).collect()),
        ("config", b"line one\nline: two\n  three\n".to_vec()),
        ("token", b"tok-5a8d21c0e9f4".to_vec()),
        (
            ".dockerconfigjson",
            br#"{"auths":{"registry.example.com":{"auth":"dTpwLTkyMWYzYw=="}}}"#.to_vec(),
        ),
        (
            "tls.crt",
            b"-----BEGIN CERTIFICATE-----\nMIIBcrt\n-----END CERTIFICATE-----\n".to_vec(),
        ),
        (
            "tls.key",
            b"-----BEGIN PRIVATE KEY-----\nMIIBkey4e7a\n-----END PRIVATE KEY-----\n".to_vec(),
        ),
    ]
}

fn value(key: &str) -> Vec<u8> {
    values().into_iter().find(|(k, _)| *k == key).unwrap().1
}

/// Fails if any value (or its base64) with six or more bytes appears in `text`.
fn assert_no_value_in(text: &str, what: &str) {
    for (key, v) in values() {
        for needle in [v.clone(), STANDARD.encode(&v).into_bytes()] {
            if needle.len() >= 6 {
                assert!(
                    !text.as_bytes().windows(needle.len()).any(|w| w == needle),
                    "the value of {key} appears in {what}"
                );
            }
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn all_files(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&all_files(&path));
        } else {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    text
}

/// The repository of real kubeseal output the tests migrate: strict, namespace-wide and
/// cluster-wide values; YAML, JSON and several documents per file; `spec.template.data`.
/// Returns (namespace, name) of each SealedSecret.
fn kubeseal_repository(
    bitnami: &SealedSecretsController,
    cluster: &Cluster,
    repo: &Path,
    a: &str,
    b: &str,
) -> Vec<(String, String)> {
    let v = |k: &str| value(k);
    // Strict, with a Go template composing a URL from two sealed values.
    let db = kubeseal(
        bitnami,
        cluster,
        &secret(
            "db",
            a,
            "Opaque",
            &[
                ("user", &v("user")),
                ("password", &v("password")),
                ("blob", &v("blob")),
                ("config", &v("config")),
            ],
        ),
        "strict",
        "yaml",
    );
    let db = db.replace(
        "  template:\n",
        "  template:\n    data:\n      url: 'postgres://{{ .user }}@db:5432/{{ index . \"user\" }}'\n",
    );
    assert!(db.contains("url:"), "the template went in: {db}");
    write(&repo.join("apps/db.yaml"), &db);
    // Namespace-wide, beside a document that is not a SealedSecret.
    let cache = kubeseal(
        bitnami,
        cluster,
        &secret("cache", a, "Opaque", &[("token", &v("token"))]),
        "namespace-wide",
        "yaml",
    );
    write(
        &repo.join("apps/cache.yaml"),
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cache-settings\n  namespace: {a}\ndata:\n  size: \"10\"\n---\n{cache}"
        ),
    );
    // Cluster-wide, as JSON.
    let registry = kubeseal(
        bitnami,
        cluster,
        &secret(
            "registry",
            b,
            "kubernetes.io/dockerconfigjson",
            &[(".dockerconfigjson", &v(".dockerconfigjson"))],
        ),
        "cluster-wide",
        "json",
    );
    write(&repo.join("shared/registry.json"), &registry);
    // Strict TLS, in a folder further down.
    let tls = kubeseal(
        bitnami,
        cluster,
        &secret(
            "tls",
            b,
            "kubernetes.io/tls",
            &[("tls.crt", &v("tls.crt")), ("tls.key", &v("tls.key"))],
        ),
        "strict",
        "yaml",
    );
    write(&repo.join("shared/certs/tls.yaml"), &tls);
    vec![
        (a.to_owned(), "db".to_owned()),
        (a.to_owned(), "cache".to_owned()),
        (b.to_owned(), "registry".to_owned()),
        (b.to_owned(), "tls".to_owned()),
    ]
}

/// What a Secret carries that the switch must keep.
#[derive(Debug, Clone, PartialEq)]
struct Carried {
    type_: Option<String>,
    data: BTreeMap<String, Vec<u8>>,
}

fn carried(secret: &Secret) -> Carried {
    Carried {
        type_: secret.type_.clone(),
        data: secret
            .data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
    }
}

#[tokio::test]
async fn real_kubeseal_output_migrates_with_one_command_and_no_secret_blinks_on_the_switch() {
    let Some(tools) = kage_e2e::sealed_secrets_tools() else {
        return;
    };
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let home = cluster.namespace("e2e-bitnami").await;
    let a = cluster.namespace("e2e-migrate-a").await;
    let b = cluster.namespace("e2e-migrate-b").await;
    let dir = tempfile::tempdir().unwrap();
    let bitnami = SealedSecretsController::start(
        &cluster,
        &tools,
        &home.name,
        &[&a.name, &b.name],
        dir.path(),
    )
    .await
    .unwrap();
    let repo = dir.path().join("repo");
    let objects = kubeseal_repository(&bitnami, &cluster, &repo, &a.name, &b.name);
    run_ok(cluster.kubectl().args(["apply", "-R", "-f"]).arg(&repo)).unwrap();

    // Sealed Secrets makes the Secrets; what they hold is what kage must keep, byte for byte.
    let mut before = BTreeMap::new();
    for (ns, name) in &objects {
        let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
        wait_until(
            Duration::from_secs(60),
            &format!("Sealed Secrets to make {name}"),
            || async { Ok(secrets.get_opt(name).await?.is_some()) },
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", bitnami.logs()));
        before.insert(
            (ns.clone(), name.clone()),
            carried(&secrets.get(name).await.unwrap()),
        );
    }
    let db = &before[&(a.name.clone(), "db".to_owned())];
    assert_eq!(db.data["blob"], value("blob"));
    assert_eq!(db.data["url"], b"postgres://app_user@db:5432/app_user");

    let _ctl = cluster
        .start_leading_controller(
            dir.path(),
            &["--allow-template-metadata-prefix", "team.example.com"],
        )
        .await
        .unwrap();

    // One command: keys from the cluster, the kage key from the cluster, a tree written out.
    let out = dir.path().join("migrated");
    let migrate = cluster
        .kage()
        .arg("migrate")
        .arg(&repo)
        .args(["--sealed-secrets-namespace", &home.name])
        .args(ALLOW_OWNER)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&migrate.stdout),
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert!(migrate.status.success(), "{printed}");
    assert!(
        printed.contains("migrated 4 SealedSecret(s); 0 file(s) failed"),
        "{printed}"
    );
    assert_no_value_in(&printed, "kage migrate's output");
    let written = all_files(&out);
    assert_no_value_in(&written, "the migrated files");
    assert!(
        written.contains("kind: ConfigMap"),
        "other documents are kept"
    );
    assert!(!written.contains("bitnami.com/v1alpha1"), "{written}");
    assert!(
        out.join("shared/registry.json").exists() && out.join("shared/certs/tls.yaml").exists()
    );

    // A watch on every Secret from before the switch to after it.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watches: Vec<_> = [&a.name, &b.name]
        .into_iter()
        .map(|ns| {
            let api: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
            let ns = ns.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let version = api
                    .list_metadata(&Default::default())
                    .await
                    .unwrap()
                    .metadata
                    .resource_version
                    .unwrap();
                let mut stream = api
                    .watch(&WatchParams::default().timeout(120), &version)
                    .await
                    .unwrap()
                    .boxed();
                while let Some(event) = stream.next().await {
                    let (secret, deleted) = match event.unwrap() {
                        WatchEvent::Added(s) | WatchEvent::Modified(s) => (s, false),
                        WatchEvent::Deleted(s) => (s, true),
                        _ => continue,
                    };
                    let name = secret.metadata.name.clone().unwrap();
                    let state = (!deleted).then(|| carried(&secret));
                    seen.lock().unwrap().push((ns.clone(), name, state));
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The documented switch: apply kage's, orphan the Bitnami one, let kage adopt.
    run_ok(cluster.kubectl().args(["apply", "-R", "-f"]).arg(&out)).unwrap();
    for (ns, name) in &objects {
        let sealed: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), ns);
        wait_condition(&sealed, name, "False", "SecretNotOwned").await;
        let uid = sealed.get(name).await.unwrap().metadata.uid.unwrap();
        run_ok(cluster.kubectl().args([
            "delete",
            "sealedsecrets.bitnami.com",
            name,
            "-n",
            ns,
            "--cascade=orphan",
        ]))
        .unwrap();
        run_ok(cluster.kubectl().args([
            "annotate",
            "secret",
            name,
            "-n",
            ns,
            &format!("kage.dev/adopt={uid}"),
        ]))
        .unwrap();
    }
    for (ns, name) in &objects {
        let sealed: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), ns);
        wait_condition(&sealed, name, "True", "Unsealed").await;
        let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
        let now = secrets.get(name).await.unwrap();
        let uid = sealed.get(name).await.unwrap().metadata.uid.unwrap();
        assert_eq!(
            &carried(&now),
            &before[&(ns.clone(), name.clone())],
            "{ns}/{name} holds exactly what Sealed Secrets made"
        );
        let owners = now.metadata.owner_references.unwrap_or_default();
        assert!(
            owners.len() == 1
                && owners[0].uid == uid
                && owners[0].api_version.starts_with("kage.dev/"),
            "{ns}/{name} is kage's now: {owners:?}"
        );
        let labels = now.metadata.labels.unwrap_or_default();
        assert_eq!(labels.get("app"), Some(name), "labels are carried");
        let annotations = now.metadata.annotations.unwrap_or_default();
        assert_eq!(
            annotations
                .get("team.example.com/owner")
                .map(String::as_str),
            Some("payments"),
            "annotations are carried"
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for watch in &watches {
        watch.abort();
    }
    // Each Secret was seen changing hands (the annotation, kage's write), and in every state
    // the watcher saw, it was there and held the same bytes.
    let seen = seen.lock().unwrap();
    for (ns, name) in &objects {
        let states: Vec<_> = seen
            .iter()
            .filter(|(n, s, _)| n == ns && s == name)
            .map(|(_, _, state)| state)
            .collect();
        assert!(
            states.len() >= 2,
            "{ns}/{name}: the watch saw {} events",
            states.len()
        );
        for state in states {
            assert_eq!(
                state.as_ref(),
                Some(&before[&(ns.clone(), name.clone())]),
                "{ns}/{name} went missing or changed during the switch"
            );
        }
    }
}

#[tokio::test]
async fn a_value_no_key_opens_is_named_with_its_file_and_key_and_that_file_is_left_alone() {
    let Some(tools) = kage_e2e::sealed_secrets_tools() else {
        return;
    };
    let Some(cluster) = kage_e2e::cluster().await else {
        return;
    };
    let home = cluster.namespace("e2e-bitnami-keys").await;
    let elsewhere = cluster.namespace("e2e-bitnami-other").await;
    let dir = tempfile::tempdir().unwrap();
    let ours = SealedSecretsController::start(&cluster, &tools, &home.name, &[], dir.path())
        .await
        .unwrap();
    let theirs = SealedSecretsController::start(&cluster, &tools, &elsewhere.name, &[], dir.path())
        .await
        .unwrap();
    let repo = dir.path().join("repo");
    let ns = "apps";
    let good = kubeseal(
        &ours,
        &cluster,
        &secret("good", ns, "Opaque", &[("password", &value("password"))]),
        "strict",
        "yaml",
    );
    write(&repo.join("good.yaml"), &good);
    // Sealed for "moved", then renamed in the file: the label no longer matches.
    let renamed = kubeseal(
        &ours,
        &cluster,
        &secret("moved", ns, "Opaque", &[("token", &value("token"))]),
        "strict",
        "yaml",
    )
    .replace("name: moved", "name: renamed");
    write(&repo.join("renamed.yaml"), &renamed);
    // Sealed to another cluster's key; the file also holds a value that would open.
    let foreign = kubeseal(
        &theirs,
        &cluster,
        &secret("foreign", ns, "Opaque", &[("user", &value("user"))]),
        "strict",
        "yaml",
    );
    write(&repo.join("foreign.yaml"), &format!("{good}---\n{foreign}"));
    let untouched: Vec<_> = ["renamed.yaml", "foreign.yaml"]
        .map(|f| std::fs::read(repo.join(f)).unwrap())
        .into();

    // The keys as a user exports them: the key Secrets as YAML, and the bare PEM.
    let key_secrets = |output: &str| {
        run_ok(cluster.kubectl().args([
            "get",
            "secret",
            "-n",
            &home.name,
            "-l",
            "sealedsecrets.bitnami.com/sealed-secrets-key",
            "-o",
            output,
        ]))
        .unwrap()
        .stdout
    };
    let secrets_yaml = dir.path().join("sealed-secrets-keys.yaml");
    std::fs::write(&secrets_yaml, key_secrets("yaml")).unwrap();
    let pem = dir.path().join("sealed-secrets-key.pem");
    let key = key_secrets("jsonpath={.items[0].data.tls\\.key}");
    std::fs::write(&pem, STANDARD.decode(key.trim_ascii()).unwrap()).unwrap();

    let identity = dir.path().join("kage.key");
    run_ok(
        Command::new(binary("kage"))
            .arg("keygen")
            .arg("-o")
            .arg(&identity),
    )
    .unwrap();
    let recipient = std::fs::read_to_string(&identity)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();

    for key_file in [&secrets_yaml, &pem] {
        let out = dir.path().join(format!(
            "out-{}",
            key_file.file_name().unwrap().to_str().unwrap()
        ));
        let migrate = Command::new(binary("kage"))
            .arg("migrate")
            .arg(&repo)
            .arg("--key-file")
            .arg(key_file)
            .args(["-r", &recipient])
            .args(ALLOW_OWNER)
            .arg("-o")
            .arg(&out)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&migrate.stderr);
        assert_eq!(migrate.status.code(), Some(4), "{stderr}");
        assert_no_value_in(&stderr, "kage migrate's errors");
        assert!(
            stderr.lines().any(|l| l.contains("renamed.yaml")
                && l.contains("apps/renamed")
                && l.contains("key \"token\"")
                && l.contains("no Sealed Secrets key opens it")),
            "{stderr}"
        );
        assert!(
            stderr.lines().any(|l| l.contains("foreign.yaml")
                && l.contains("apps/foreign")
                && l.contains("key \"user\"")),
            "{stderr}"
        );
        assert!(
            stderr.contains("migrated 1 SealedSecret(s); 2 file(s) failed"),
            "{stderr}"
        );
        // Nothing written for a failed file, not even its good document.
        assert!(!out.join("renamed.yaml").exists() && !out.join("foreign.yaml").exists());
        let migrated = std::fs::read_to_string(out.join("good.yaml")).unwrap();
        assert_no_value_in(&migrated, "the migrated file");
        // The migrated value opens with the kage identity, and only as `apps/good`.
        let unsealed = run_ok(
            Command::new(binary("kage"))
                .args(["unseal", "-o", "json", "-i"])
                .arg(&identity)
                .arg("-f")
                .arg(out.join("good.yaml")),
        )
        .unwrap();
        let secret: serde_json::Value = serde_json::from_slice(&unsealed.stdout).unwrap();
        assert_eq!(secret["metadata"]["namespace"], "apps");
        assert_eq!(
            STANDARD
                .decode(secret["data"]["password"].as_str().unwrap())
                .unwrap(),
            value("password")
        );
    }
    // --in-place leaves failed files byte for byte as they were.
    let in_place = Command::new(binary("kage"))
        .arg("migrate")
        .arg(&repo)
        .arg("--key-file")
        .arg(&pem)
        .args(["-r", &recipient, "--in-place"])
        .args(ALLOW_OWNER)
        .output()
        .unwrap();
    assert_eq!(in_place.status.code(), Some(4));
    for (file, bytes) in ["renamed.yaml", "foreign.yaml"].iter().zip(&untouched) {
        assert_eq!(&std::fs::read(repo.join(file)).unwrap(), bytes, "{file}");
    }
    assert!(
        std::fs::read_to_string(repo.join("good.yaml"))
            .unwrap()
            .contains("kage.dev/v1alpha1")
    );
}
