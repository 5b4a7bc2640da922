//! Running kage for real: key rotation, reseal, validate --cluster, several replicas, metrics,
//! audit records, and the HTTP API's limits. The CLI reaches the controller with
//! `--controller-url` (the local control plane has no pod network).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kage_api::SealedSecret;
use kage_e2e::{
    CONTROLLER_NAMESPACE, Cluster, ControllerProcess, http_get, http_request, run_ok,
    secret_manifest, wait_until,
};
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

const PLAINTEXT: &str = "operations-plaintext-never-logged";

async fn key_count(cluster: &Cluster) -> usize {
    Api::<Secret>::namespaced(cluster.client.clone(), CONTROLLER_NAMESPACE)
        .list_metadata(&ListParams::default().labels("kage.dev/sealing-key=true"))
        .await
        .unwrap()
        .items
        .len()
}

fn fingerprints_in(file: &std::path::Path, cluster: &Cluster) -> String {
    let out = run_ok(
        cluster
            .kage()
            .args(["inspect", "-o", "json", "-f"])
            .arg(file),
    )
    .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn keys_rotate_on_schedule_old_values_stay_ready_and_a_restart_does_not_rotate_again() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-rotate").await;
    let dir = tempfile::tempdir().unwrap();
    let before = key_count(&cluster).await;
    let period = [
        "--watch-namespace",
        &ns.name,
        "--key-rotation-period",
        "40s",
    ];
    let ctl = cluster
        .start_leading_controller(dir.path(), &period)
        .await
        .unwrap();
    // Let any rotation due at start (old keys from other tests) happen first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let old_recipient = cluster.current_key().await;
    let old_file = dir.path().join("old.yaml");
    cluster.seal(
        &secret_manifest("old", &ns.name, &[("k", "v1")]),
        &old_file,
        &[],
    );
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&old_file)).unwrap();

    wait_until(Duration::from_secs(60), "a scheduled rotation", || async {
        Ok(cluster.current_key().await != old_recipient)
    })
    .await
    .unwrap();
    let rotated = key_count(&cluster).await;
    assert!(rotated > before);
    let new_file = dir.path().join("new.yaml");
    cluster.seal(
        &secret_manifest("new", &ns.name, &[("k", "v2")]),
        &new_file,
        &[],
    );
    let new_fp = fingerprints_in(&new_file, &cluster);
    let old_fp = fingerprints_in(&old_file, &cluster);
    assert_ne!(new_fp, old_fp, "new seals use the new key");
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&new_file)).unwrap();
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_until(
        Duration::from_secs(60),
        "old and new SealedSecrets Ready",
        || all_ready(&api, 2),
    )
    .await
    .unwrap();

    // Restart right after the rotation: the schedule counts from the newest key's age.
    drop(ctl);
    let _ctl = cluster
        .start_leading_controller(dir.path(), &period)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        key_count(&cluster).await,
        rotated,
        "a restart must not rotate again"
    );
}

#[tokio::test]
async fn reseal_moves_a_directory_to_the_newest_key_keeping_scopes_and_other_documents() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-reseal").await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_controller_for(dir.path(), &ns.name)
        .await
        .unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("nested")).unwrap();
    let scopes = ["strict", "namespace-wide", "cluster-wide"];
    for (i, scope) in scopes.iter().enumerate() {
        let file = repo.join(if i == 2 {
            "nested/c.yaml".to_owned()
        } else {
            format!("s{i}.yaml")
        });
        cluster.seal(
            &secret_manifest(&format!("s{i}"), &ns.name, &[("k", PLAINTEXT)]),
            &file,
            &["--scope", scope],
        );
    }
    // Another document in the same file must survive.
    let with_other = repo.join("s0.yaml");
    let text = std::fs::read_to_string(&with_other).unwrap();
    std::fs::write(&with_other, format!("{text}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-me\n  namespace: {}\ndata:\n  a: b\n", ns.name)).unwrap();
    run_ok(
        cluster
            .kubectl()
            .arg("apply")
            .arg("-R")
            .arg("-f")
            .arg(&repo),
    )
    .unwrap();
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_until(Duration::from_secs(60), "all Ready", || all_ready(&api, 3))
        .await
        .unwrap();

    let old = cluster.current_key().await;
    cluster.rotate_key().await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the rotated key to be published",
        || async { Ok(cluster.current_key().await != old) },
    )
    .await
    .unwrap();
    let keys = run_ok(cluster.kage().args(["key", "list"])).unwrap();
    let keys = String::from_utf8(keys.stdout).unwrap();
    let new_fp = keys
        .lines()
        .find(|l| l.trim_end().ends_with('*'))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    // A copied strict value (bound to s0, filed as s9) travels in the same batch as the good files:
    // the controller refuses the batch, the files are sent one by one, and only that file is
    // left unchanged and named.
    let copied = repo.join("copied.yaml");
    let s0 = std::fs::read_to_string(repo.join("s0.yaml")).unwrap();
    std::fs::write(&copied, s0.replace("name: s0", "name: s9")).unwrap();
    let before = std::fs::read(&copied).unwrap();
    let out = cluster
        .kage()
        .arg("reseal")
        .arg(&repo)
        .args(["--controller-url", &ctl.url()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("copied.yaml") && stderr.contains("left unchanged"),
        "{stderr}"
    );
    assert!(
        stderr.contains("resealed 3 SealedSecret(s); 1 file(s) failed"),
        "{stderr}"
    );
    assert!(!stderr.contains(PLAINTEXT));
    assert_eq!(std::fs::read(&copied).unwrap(), before);
    std::fs::remove_file(&copied).unwrap();
    let mut seen_scopes = Vec::new();
    for file in ["s0.yaml", "s1.yaml", "nested/c.yaml"] {
        let out = run_ok(
            cluster
                .kage()
                .args(["inspect", "-o", "json", "-f"])
                .arg(repo.join(file)),
        )
        .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let key = &report[0]["keys"][0];
        assert_eq!(
            key["recipients"],
            json!([new_fp]),
            "{file} moved to the newest key"
        );
        seen_scopes.push(key["scope"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen_scopes, scopes);
    assert!(
        std::fs::read_to_string(&with_other)
            .unwrap()
            .contains("keep-me")
    );
    run_ok(
        cluster
            .kubectl()
            .arg("apply")
            .arg("-R")
            .arg("-f")
            .arg(&repo),
    )
    .unwrap();
    wait_until(Duration::from_secs(60), "resealed objects Ready", || {
        all_ready(&api, 3)
    })
    .await
    .unwrap();

    // A request asking for a wider scope (annotation, template) gets the original back.
    let strict = std::fs::read_to_string(repo.join("s0.yaml")).unwrap();
    let doc: serde_json::Value =
        serde_saphyr::from_multiple::<serde_json::Value>(&strict).unwrap()[0].clone();
    let mut wider = doc.clone();
    wider["metadata"]["annotations"]["kage.dev/scope"] = json!("cluster-wide");
    wider["spec"]["template"] =
        json!({"metadata": {"annotations": {"sealedsecrets.bitnami.com/cluster-wide": "true"}}});
    let (code, body) = http_request(
        &ctl.addr,
        "POST",
        "/v1/reseal",
        &[],
        wider.to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let returned = answer["objects"][0]["spec"]["encryptedData"]["k"]
        .as_str()
        .unwrap();
    let value = kage_core::SealedValue::from_base64(returned).unwrap();
    assert_eq!(value.binding().scope(), kage_core::Scope::Strict);
    assert!(!body.contains(PLAINTEXT));
    assert!(!ctl.logs().contains(PLAINTEXT));
}

#[tokio::test]
async fn validate_cluster_tells_good_from_foreign_and_tampered_files() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-verify").await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_leading_controller(dir.path(), &["--watch-namespace", &ns.name])
        .await
        .unwrap();
    let good = dir.path().join("good.yaml");
    cluster.seal(
        &secret_manifest("good", &ns.name, &[("k", "v")]),
        &good,
        &[],
    );
    let foreign = dir.path().join("foreign.yaml");
    let other_cluster = kage_core::Identity::generate().recipient().to_string();
    cluster.seal(
        &secret_manifest("foreign", &ns.name, &[("k", "v")]),
        &foreign,
        &["-r", &other_cluster],
    );
    let tampered = dir.path().join("tampered.yaml");
    let doc: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    let value = doc["spec"]["encryptedData"]["k"].as_str().unwrap();
    use base64::Engine;
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    let mut bad = doc.clone();
    bad["spec"]["encryptedData"]["k"] =
        json!(base64::engine::general_purpose::STANDARD.encode(&bytes));
    std::fs::write(&tampered, bad.to_string()).unwrap();

    let validate = |file: &std::path::Path| {
        cluster
            .kage()
            .arg("validate")
            .arg("--cluster")
            .args(["--controller-url", &ctl.url()])
            .arg(file)
            .output()
            .unwrap()
    };
    assert!(validate(&good).status.success());
    let out = validate(&foreign);
    assert_eq!(out.status.code(), Some(5));
    // Sealed to a key that is neither this cluster's nor a recovery recipient of the file's
    // rule: flagged from keys.json before the controller is even asked.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("neither a key of this cluster"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = validate(&tampered);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tampered"));
}

fn reconcile_lines(ctl: &ControllerProcess) -> (Option<usize>, Option<usize>) {
    let logs = ctl.logs();
    let lines: Vec<&str> = logs.lines().collect();
    let leading = lines
        .iter()
        .position(|l| l.contains("leading: reconciling"));
    let first_write = lines
        .iter()
        .position(|l| l.contains("\"action\":\"unseal\""));
    (leading, first_write)
}

#[tokio::test]
async fn two_replicas_have_one_writer_and_the_survivor_takes_over_when_the_leader_dies() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-ha").await;
    let dir = tempfile::tempdir().unwrap();
    let args = ["--watch-namespace", &ns.name];
    let mut a = cluster.start_controller(dir.path(), &args).await.unwrap();
    let mut b = cluster.start_controller(dir.path(), &args).await.unwrap();
    a.wait_ready().await.unwrap();
    b.wait_ready().await.unwrap();
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let file = dir.path().join("one.yaml");
    cluster.seal(&secret_manifest("one", &ns.name, &[("k", "v")]), &file, &[]);
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&file)).unwrap();
    wait_until(Duration::from_secs(60), "the first object Ready", || {
        all_ready(&api, 1)
    })
    .await
    .unwrap();

    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), CONTROLLER_NAMESPACE);
    let holder = leases
        .get("kage-controller")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    let (leader, follower) = if holder.ends_with(&format!("-{}", a.pid())) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    assert!(
        holder.ends_with(&format!("-{}", leader.pid())),
        "lease holder {holder}"
    );
    // Only the leader wrote; the follower never reconciled.
    assert!(reconcile_lines(leader).1.is_some(), "the leader unsealed");
    assert_eq!(
        reconcile_lines(follower).1,
        None,
        "the follower must not write"
    );
    // Every replica serves the keys.
    assert_eq!(http_get(&follower.addr, "/v1/keys").unwrap().0, 200);

    leader.kill9();
    let file = dir.path().join("two.yaml");
    cluster.seal(&secret_manifest("two", &ns.name, &[("k", "v")]), &file, &[]);
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&file)).unwrap();
    // Lease duration (15 s) plus a renewal period and the sync itself.
    wait_until(
        Duration::from_secs(30),
        "the survivor to take over and sync",
        || all_ready(&api, 2),
    )
    .await
    .unwrap();
    let (leading, first_write) = reconcile_lines(follower);
    assert!(
        leading.is_some() && first_write.is_some() && leading < first_write,
        "writes only after taking the lease"
    );
}

#[tokio::test]
async fn metrics_and_audit_records_match_what_happened_and_hold_no_plaintext() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-metrics").await;
    let other = cluster.namespace("e2e-metrics-other").await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_leading_controller(dir.path(), &[])
        .await
        .unwrap();
    for i in 0..3 {
        let file = dir.path().join(format!("m{i}.yaml"));
        cluster.seal(
            &secret_manifest(&format!("m{i}"), &ns.name, &[("k", PLAINTEXT)]),
            &file,
            &[],
        );
        run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&file)).unwrap();
    }
    // A copied value: refused with BindingMismatch.
    let copied = std::fs::read_to_string(dir.path().join("m0.yaml"))
        .unwrap()
        .replace(&ns.name, &other.name);
    let copied_file = dir.path().join("copied.yaml");
    std::fs::write(&copied_file, copied).unwrap();
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&copied_file)).unwrap();
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_until(Duration::from_secs(60), "three Ready", || {
        all_ready(&api, 3)
    })
    .await
    .unwrap();
    let other_api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &other.name);
    kage_e2e::wait_condition(&other_api, "m0", "False", "BindingMismatch").await;
    let sample = |text: &str, series: &str| -> f64 {
        kage_e2e::metric_samples(text)
            .get(series)
            .copied()
            .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
    };
    let keys_served = "kage_http_requests_total{route=\"/v1/keys\",code=\"200\"}";
    let before = sample(&ctl.metrics().unwrap().1, keys_served);
    let (code, _) = http_get(&ctl.addr, "/v1/keys").unwrap();
    assert_eq!(code, 200);

    let (code, text) = ctl.metrics().unwrap();
    assert_eq!(code, 200);
    let value = |series: &str| sample(&text, series);
    // Every sample line is `name{labels} value`.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(
            line.rsplit(' ').next().unwrap().parse::<f64>().is_ok(),
            "bad sample: {line}"
        );
    }
    assert!(value("kage_reconciles_total{result=\"ok\"}") >= 3.0);
    assert!(value("kage_reconciles_total{result=\"BindingMismatch\"}") >= 1.0);
    assert_eq!(
        value("kage_unseal_failures_total{reason=\"BindingMismatch\"}"),
        1.0
    );
    assert!(value("kage_keys{state=\"active\"}") >= 1.0);
    assert!(value("kage_newest_key_age_seconds") >= 0.0);
    assert!(value("kage_reconcile_duration_seconds_count") >= 4.0);
    assert_eq!(value(keys_served), before + 1.0);
    assert_eq!(value("kage_leader"), 1.0);
    // Every SealedSecret the controller watches, by Ready status (other tests' namespaces may
    // still hold some while they are deleted).
    assert!(value("kage_sealedsecrets{ready=\"True\"}") >= 3.0);
    assert!(value("kage_sealedsecrets{ready=\"False\"}") >= 1.0);

    let logs = ctl.logs();
    let audit: Vec<&str> = logs.lines().filter(|l| l.contains("kage::audit")).collect();
    for name in ["m0", "m1", "m2"] {
        assert!(
            audit.iter().any(|l| l.contains("\"action\":\"unseal\"")
                && l.contains(&format!("\"name\":\"{name}\""))
                && l.contains("\"result\":\"ok\"")),
            "no audit record for {name}"
        );
    }
    // The refused copy is audited with the binding it failed (its result names the namespace).
    assert!(
        audit
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|r| r["action"] == "unseal"
                && r["namespace"] == other.name.as_str()
                && r["result"]
                    .as_str()
                    .is_some_and(|res| res != "ok" && res.contains("namespace")))
    );
    assert!(!logs.contains(PLAINTEXT), "plaintext in logs");
}

#[tokio::test]
async fn oversized_bodies_get_413_floods_get_429_and_others_are_still_served() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Loopback stands for the API server here: its X-Forwarded-For tells clients apart.
    let ctl = cluster
        .start_leading_controller(
            dir.path(),
            &[
                "--watch-namespace",
                "kube-public",
                "--trusted-proxy",
                "127.0.0.1",
            ],
        )
        .await
        .unwrap();
    let huge = vec![b'a'; 5 * 1024 * 1024];
    let (code, _) = http_request(
        &ctl.addr,
        "POST",
        "/v1/verify",
        &[("x-forwarded-for", "client-big")],
        &huge,
    )
    .unwrap();
    assert_eq!(code, 413);
    let flood: Vec<u16> = (0..60)
        .map(|_| {
            http_request(
                &ctl.addr,
                "GET",
                "/v1/keys",
                &[("x-forwarded-for", "client-flood")],
                b"",
            )
            .unwrap()
            .0
        })
        .collect();
    assert!(flood.contains(&429), "a flood is limited: {flood:?}");
    assert!(
        flood.iter().take(10).all(|c| *c == 200),
        "the burst is served: {flood:?}"
    );
    let (code, _) = http_request(
        &ctl.addr,
        "GET",
        "/v1/keys",
        &[("x-forwarded-for", "client-calm")],
        b"",
    )
    .unwrap();
    assert_eq!(code, 200, "another client is still served");
    assert_eq!(
        http_get(&ctl.health_addr, "/healthz").unwrap().0,
        200,
        "probes are never limited"
    );
}

#[tokio::test]
async fn the_cli_reaches_the_controller_through_the_service_proxy_and_rbac_decides_who_may() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    // A pod network in a local namespace only works with the local control plane; on kind and
    // the like the controller runs as a real Pod instead.
    if !kage_e2e::local_control_plane("loopback pod network") {
        return;
    }
    let ns = cluster.namespace("e2e-proxy").await;
    let dir = tempfile::tempdir().unwrap();
    let network = kage_e2e::PodNetwork::create(&cluster).await.unwrap();
    let (_, kubeconfig) = cluster
        .service_account(CONTROLLER_NAMESPACE, "kage-controller", dir.path())
        .await
        .unwrap();
    let mut ctl = network
        .start_controller(
            &kubeconfig,
            dir.path(),
            &["--watch-namespace", &ns.name, "--key-rotation-period", "0"],
        )
        .unwrap();
    ctl.wait_leading(&cluster).await.unwrap();

    let file = dir.path().join("db.yaml");
    cluster.seal(
        &secret_manifest("db", &ns.name, &[("k", PLAINTEXT)]),
        &file,
        &[],
    );
    // Admin: allowed. No --controller-url: the request goes through the API server.
    let out = cluster
        .kage()
        .arg("validate")
        .arg("--cluster")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The audit actor is what the API server's proxy appended (the CLI's address), named with
    // the trusted hop it came through.
    let actor = ctl
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["action"] == "verify")
        .map(|r| r["actor"].as_str().unwrap_or_default().to_owned())
        .expect("an audit record of the verify");
    assert_eq!(actor, format!("127.0.0.1 via {}", network.host_ip));

    let old = cluster.current_key().await;
    cluster.rotate_key().await.unwrap();
    wait_until(Duration::from_secs(30), "the rotated key", || async {
        Ok(cluster.current_key().await != old)
    })
    .await
    .unwrap();
    run_ok(cluster.kage().arg("reseal").arg(&file)).unwrap();
    let report = fingerprints_in(&file, &cluster);
    let current: kage_core::Recipient = cluster.current_key().await.parse().unwrap();
    assert!(
        report.contains(&current.fingerprint().to_string()),
        "{report}"
    );

    // A user without services/proxy permission is refused by the API server itself.
    let (_, nobody) = cluster
        .service_account(&ns.name, "nobody", dir.path())
        .await
        .unwrap();
    let out = cluster
        .kage()
        .arg("validate")
        .arg("--cluster")
        .arg("--kubeconfig")
        .arg(&nobody)
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr
            .contains("needs `create` on services/proxy kage-controller in namespace kage-system")
            && stderr.contains(
                "kubectl auth can-i create services/kage-controller --subresource=proxy -n kage-system"
            ),
        "{stderr}"
    );

    // Credentials the API server refuses: the same exit code, and the cause named.
    let mut bogus: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&nobody).unwrap()).unwrap();
    bogus["users"][0]["user"]["token"] = "not-a-token".into();
    let bogus_path = dir.path().join("bogus.kubeconfig");
    std::fs::write(&bogus_path, bogus.to_string()).unwrap();
    for command in [
        &["status"][..],
        &["key", "fetch"],
        &["validate", "--cluster"],
    ] {
        let mut cmd = cluster.kage();
        cmd.args(command).arg("--kubeconfig").arg(&bogus_path);
        if command[0] == "validate" {
            cmd.arg(&file);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{command:?}: {stderr}");
        assert!(
            stderr.contains("refused your credentials (401 Unauthorized)"),
            "{command:?}: {stderr}"
        );
    }
    assert!(!ctl.logs().contains(PLAINTEXT));
}

async fn all_ready(api: &Api<SealedSecret>, expected: usize) -> anyhow::Result<bool> {
    Ok(kage_e2e::count_ready(api, "True", "Unsealed").await? == expected)
}

/// The audit trail of a rotation, with the API server's audit log on (the local control plane
/// runs with `deploy/audit/audit-policy.yaml`): the API server names the key administrator who
/// wrote the request, the controller's record names the ConfigMap version it answered, the two
/// join on that resourceVersion, and no audit event about a key Secret carries its data.
#[tokio::test]
async fn a_rotation_is_traced_to_the_user_who_asked_and_key_data_stays_out_of_the_audit_log() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    if !kage_e2e::local_control_plane("audit log") {
        return;
    }
    let audit_log = kage_e2e::workspace().join("target/cluster/audit.log");
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_controller_for(dir.path(), "kube-public")
        .await
        .unwrap();
    let admin = "e2e-rotating-admin";
    let (_, kubeconfig) = cluster
        .service_account(CONTROLLER_NAMESPACE, admin, dir.path())
        .await
        .unwrap();
    let _ = run_ok(cluster.kubectl().args([
        "create",
        "rolebinding",
        admin,
        "-n",
        CONTROLLER_NAMESPACE,
        "--role=kage-key-admin",
        &format!("--serviceaccount={CONTROLLER_NAMESPACE}:{admin}"),
    ]));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = std::process::Command::new(kage_e2e::binary("kage"))
            .env("KUBECONFIG", &kubeconfig)
            .args(["key", "rotate"])
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("apart") && std::time::Instant::now() < deadline,
            "kage key rotate: {stderr}"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    // The controller's record: which version of the request ConfigMap it answered.
    let record = ctl
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|r| r["target"] == "kage::audit" && r["action"] == "key.rotate")
        .expect("a key.rotate audit record");
    let version = record["object_resource_version"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = format!("system:serviceaccount:{CONTROLLER_NAMESPACE}:{admin}");
    // The API server's event for the write that produced that version names its user.
    let asked_by = || -> Option<String> {
        std::fs::read_to_string(&audit_log)
            .ok()?
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| {
                e["objectRef"]["name"] == "kage-key-rotation"
                    && e["responseObject"]["metadata"]["resourceVersion"] == version.as_str()
            })
            .and_then(|e| e["user"]["username"].as_str().map(str::to_owned))
    };
    wait_until(Duration::from_secs(20), "the audit event", || async {
        Ok(asked_by().is_some())
    })
    .await
    .unwrap();
    let asked_by = asked_by();
    assert_eq!(asked_by.as_deref(), Some(user.as_str()));
    // Every audit event about a Secret in the controller namespace: metadata only.
    let log = std::fs::read_to_string(&audit_log).unwrap();
    let secret_events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| {
            e["objectRef"]["resource"] == "secrets"
                && e["objectRef"]["namespace"] == CONTROLLER_NAMESPACE
        })
        .collect();
    assert!(
        secret_events.iter().any(|e| e["verb"] == "create"
            && e["user"]["username"]
                .as_str()
                .is_some_and(|u| u.ends_with(":kage-controller"))),
        "the new key Secret's creation is audited"
    );
    for event in &secret_events {
        assert_eq!(event["level"], "Metadata");
        assert!(event.get("requestObject").is_none() && event.get("responseObject").is_none());
    }
    assert!(!log.contains("AGE-SECRET-KEY"));
}
