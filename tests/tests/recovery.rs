//! Never losing a secret: the disaster drill (keys lost, restored from a backup), recovery keys,
//! and the compromise drill (rotate, reseal, retire).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kage_api::SealedSecret;
use kage_e2e::{CONTROLLER_NAMESPACE, Cluster, run_ok, secret_manifest, wait_until};
use kube::Api;
use kube::api::ListParams;

fn keygen(cluster: &Cluster, path: &std::path::Path) -> String {
    let out = run_ok(cluster.kage().args(["keygen", "-o"]).arg(path)).unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Whether `name` is Ready for the generation it is at.
async fn ready_now(api: &Api<SealedSecret>, name: &str) -> anyhow::Result<bool> {
    Ok(kage_e2e::condition_is(
        &api.get(name).await?,
        "True",
        "Unsealed",
    ))
}

#[tokio::test]
async fn disaster_drill_keys_lost_and_restored_from_backup_without_resealing() {
    const N: usize = 50;
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-drill").await;
    let dir = tempfile::tempdir().unwrap();
    let watch = ["--watch-namespace", ns.name.as_str()];
    let ctl = cluster
        .start_leading_controller(dir.path(), &watch)
        .await
        .unwrap();

    let recovery = keygen(&cluster, &dir.path().join("recovery.key"));
    let backup_recipient = keygen(&cluster, &dir.path().join("backup.key"));
    let manifests: Vec<_> = (0..N)
        .map(|i| {
            let password = format!("drill-secret-{i}");
            secret_manifest(&format!("s{i}"), &ns.name, &[("password", &password)])
        })
        .collect();
    let sealed = cluster.seal_and_apply_all(&manifests, dir.path(), &["--recovery", &recovery]);
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_until(Duration::from_secs(120), "all Ready", || async {
        Ok(kage_e2e::count_ready(&api, "True", "Unsealed").await? == N)
    })
    .await
    .unwrap();

    // Back up: an armored age file, mode 0600, and no private key printed anywhere.
    let backup = dir.path().join("keys.backup");
    let out = run_ok(
        cluster
            .kage()
            .args(["key", "backup", "-r", &backup_recipient, "-o"])
            .arg(&backup),
    )
    .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !printed.contains("AGE-SECRET-KEY"),
        "a private key was printed"
    );
    let text = std::fs::read_to_string(&backup).unwrap();
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----") && !text.contains("AGE-SECRET-KEY")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (_, metrics) = ctl.metrics().unwrap();
    wait_until(
        Duration::from_secs(20),
        "the backup to be noticed",
        || async {
            let (_, metrics) = ctl.metrics()?;
            Ok(kage_e2e::metric_samples(&metrics).get("kage_newest_key_backed_up") == Some(&1.0))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{metrics}"));
    assert!(!ctl.logs().contains("AGE-SECRET-KEY"));

    // Disaster: the controller namespace, keys included, is gone.
    drop(ctl);
    run_ok(
        cluster
            .kubectl()
            .args(["delete", "namespace", CONTROLLER_NAMESPACE, "--wait=false"]),
    )
    .unwrap();
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    wait_until(
        Duration::from_secs(120),
        "kage-system to be gone",
        || async { Ok(namespaces.get_opt(CONTROLLER_NAMESPACE).await?.is_none()) },
    )
    .await
    .unwrap();
    cluster.install().unwrap();
    let _ctl = cluster
        .start_leading_controller(dir.path(), &watch)
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(120),
        "every SealedSecret to report the lost key",
        || async { Ok(kage_e2e::count_ready(&api, "False", "NoMatchingKey").await? == N) },
    )
    .await
    .unwrap();

    // Restore, as a key administrator holding the kage-key-admin Role and nothing else: the
    // admission policy that refuses everyone else's key Secrets lets that role write them.
    // Every SealedSecret is Ready again, nothing was resealed.
    let before = std::fs::read_to_string(&sealed).unwrap();
    let (_, key_admin) = cluster
        .service_account(CONTROLLER_NAMESPACE, "e2e-key-admin", dir.path())
        .await
        .unwrap();
    run_ok(cluster.kubectl().args([
        "create",
        "rolebinding",
        "e2e-key-admin",
        "-n",
        CONTROLLER_NAMESPACE,
        "--role=kage-key-admin",
        &format!("--serviceaccount={CONTROLLER_NAMESPACE}:e2e-key-admin"),
    ]))
    .unwrap();
    run_ok(
        std::process::Command::new(kage_e2e::binary("kage"))
            .env("KUBECONFIG", &key_admin)
            .args(["key", "restore", "--yes", "-i"])
            .arg(dir.path().join("backup.key"))
            .arg(&backup),
    )
    .unwrap();
    wait_until(
        Duration::from_secs(120),
        "every SealedSecret Ready after the restore",
        || async { Ok(kage_e2e::count_ready(&api, "True", "Unsealed").await? == N) },
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(&sealed).unwrap(), before);

    // And with every cluster key gone, the recovery key alone recovers every value, offline.
    let out = run_ok(
        std::process::Command::new(kage_e2e::binary("kage"))
            .env("KUBECONFIG", "/nonexistent")
            .arg("unseal")
            .arg("-i")
            .arg(dir.path().join("recovery.key"))
            .args(["-o", "json", "-f"])
            .arg(&sealed),
    )
    .unwrap();
    let secrets: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = secrets["items"].as_array().unwrap();
    assert_eq!(items.len(), N);
    use base64::Engine;
    for item in items {
        let i: usize = item["metadata"]["name"].as_str().unwrap()[1..]
            .parse()
            .unwrap();
        let value = base64::engine::general_purpose::STANDARD
            .decode(item["data"]["password"].as_str().unwrap())
            .unwrap();
        assert_eq!(value, format!("drill-secret-{i}").as_bytes());
    }
}

#[tokio::test]
async fn compromise_drill_rotate_reseal_retire_refuses_values_left_on_the_old_key() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-compromise").await;
    let dir = tempfile::tempdir().unwrap();
    // The controller knows the organisation's recovery key: reseal may keep it, nothing else.
    let recovery = keygen(&cluster, &dir.path().join("recovery.key"));
    let ctl = cluster
        .start_leading_controller(
            dir.path(),
            &[
                "--watch-namespace",
                &ns.name,
                "--key-rotation-period",
                "0",
                "--recovery-recipient",
                &recovery,
            ],
        )
        .await
        .unwrap();
    // A repository whose .kage.yaml pins the cluster key K1 (`kage key fetch --save`) and a
    // recovery key, as the runbook finds it.
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let fetch_and_save = || {
        run_ok(
            cluster
                .kage()
                .current_dir(&repo)
                .args(["key", "fetch", "--save"]),
        )
        .unwrap();
    };
    fetch_and_save();
    let config = repo.join(".kage.yaml");
    let mut rules: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    rules["rules"][0]["recovery"] = serde_json::json!([recovery]);
    std::fs::write(&config, rules.to_string()).unwrap();
    let seal = |name: &str, file: &std::path::Path| {
        cluster.seal_and_apply(
            &secret_manifest(name, &ns.name, &[("token", "t0ps3cret")]),
            file,
            &[],
        );
    };
    let kept = repo.join("app.yaml");
    let stale = dir.path().join("forgotten.yaml");
    seal("app", &kept);
    seal("forgotten", &stale);
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_until(Duration::from_secs(60), "both Ready", || async {
        Ok(kage_e2e::count_ready(&api, "True", "Unsealed").await? == 2)
    })
    .await
    .unwrap();
    let old_key: kage_core::Recipient = cluster.current_key().await.parse().unwrap();

    // The attacker copies K1 out of its key Secret; today it opens the repository.
    let stolen = dir.path().join("stolen.key");
    let key_secrets = Api::<Secret>::namespaced(cluster.client.clone(), CONTROLLER_NAMESPACE)
        .list(&ListParams::default().labels("kage.dev/sealing-key=true"))
        .await
        .unwrap();
    let k1 = key_secrets
        .items
        .iter()
        .find(|s| {
            s.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kage.dev/fingerprint"))
                == Some(&old_key.fingerprint().to_string())
        })
        .expect("K1's Secret");
    std::fs::write(&stolen, &k1.data.as_ref().unwrap()["identity"].0).unwrap();
    let opens = |file: &std::path::Path| {
        cluster
            .kage()
            .args(["unseal", "-i"])
            .arg(&stolen)
            .arg("-f")
            .arg(file)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(
        opens(&kept),
        "the stolen key should open the repository before the drill"
    );

    // 1. Rotate. 2. Reseal the repository. 3. Retire the old key.
    cluster.rotate_key().await.unwrap();
    wait_until(Duration::from_secs(30), "the new key", || async {
        Ok(cluster.current_key().await != old_key.to_string())
    })
    .await
    .unwrap();
    run_ok(
        cluster
            .kage()
            .arg("reseal")
            .arg(&repo)
            .args(["--controller-url", &ctl.url()]),
    )
    .unwrap();
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&kept)).unwrap();
    run_ok(
        cluster
            .kage()
            .args(["key", "retire", &old_key.fingerprint().to_string()]),
    )
    .unwrap();

    // The value left on the old key is refused; the resealed one stays Ready.
    kage_e2e::wait_condition(&api, "forgotten", "False", "KeyRetired").await;
    wait_until(Duration::from_secs(30), "the resealed value Ready", || {
        ready_now(&api, "app")
    })
    .await
    .unwrap();
    let out = cluster
        .kage()
        .arg("validate")
        .arg("--cluster")
        .args(["--controller-url", &ctl.url()])
        .arg(&stale)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("retired"));
    // 6. New credentials: while .kage.yaml still names the retired K1, sealing is refused;
    // `kage key fetch --save` moves the rule to the current key.
    let fresh = repo.join("new-credentials.yaml");
    let input = dir.path().join("new-credentials.json");
    std::fs::write(
        &input,
        secret_manifest("new-credentials", &ns.name, &[("token", "n3w")]).to_string(),
    )
    .unwrap();
    let refused = cluster
        .kage()
        .args(["seal", "-f"])
        .arg(&input)
        .arg("-w")
        .arg(&fresh)
        .output()
        .unwrap();
    assert!(!refused.status.success(), "sealed to a retired key");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("retired"));
    fetch_and_save();
    seal("new-credentials", &fresh);

    // The end of the drill: the stolen key opens nothing in the repository, and the cluster
    // unseals everything in it.
    for entry in std::fs::read_dir(&repo).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") && !path.ends_with(".kage.yaml") {
            assert!(
                !opens(&path),
                "the stolen key still opens {}",
                path.display()
            );
        }
    }
    for name in ["app", "new-credentials"] {
        wait_until(Duration::from_secs(30), "Ready after the drill", || {
            ready_now(&api, name)
        })
        .await
        .unwrap();
    }

    // Retiring the last active key is refused: retire every other active key, then try.
    let current = cluster
        .current_key()
        .await
        .parse::<kage_core::Recipient>()
        .unwrap()
        .fingerprint()
        .to_string();
    let keys = run_ok(cluster.kage().args(["key", "list"])).unwrap();
    let others: Vec<String> = String::from_utf8(keys.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(3) == Some(&"active") && f[0] != current)
        .map(|f| f[0].to_owned())
        .collect();
    for fingerprint in &others {
        run_ok(cluster.kage().args(["key", "retire", fingerprint])).unwrap();
    }
    let out = cluster
        .kage()
        .args(["key", "retire", &current])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only active key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
