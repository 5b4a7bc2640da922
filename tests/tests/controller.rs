//! kage-controller against a real API server, running as its own ServiceAccount with exactly
//! the RBAC in `deploy/`, manifests applied with kubectl.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kage_api::SealedSecret;
use kage_e2e::{CONTROLLER_NAMESPACE, run_ok, secret_manifest, wait_condition, wait_until};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;

const PLAINTEXT: &str = "pl41ntext-that-must-never-leak";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn data_of(secret: &Secret, key: &str) -> Vec<u8> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn fetch_seal_and_apply_gives_the_exact_secret_and_ready() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-seal").await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_leading_controller(dir.path(), &["--watch-namespace", &ns.name])
        .await
        .unwrap();

    let fetched = run_ok(cluster.kage().args(["key", "fetch"])).unwrap();
    let recipient = String::from_utf8(fetched.stdout).unwrap().trim().to_owned();
    assert!(recipient.starts_with("age1"));
    run_ok(cluster.kage().args(["key", "fetch", "--pin", &recipient])).unwrap();
    let other = "age1aq67e64y7hhm8rncj6sfqt47cgyrpvk85yhn0adtfkmwed7wqpss3lne0f";
    let wrong_pin = cluster
        .kage()
        .args(["key", "fetch", "--pin", other])
        .output()
        .unwrap();
    assert_eq!(wrong_pin.status.code(), Some(4));
    let short_pin = cluster
        .kage()
        .args([
            "key",
            "fetch",
            "--pin",
            &kage_core::Recipient::fingerprint(&recipient.parse().unwrap()).to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        short_pin.status.code(),
        Some(3),
        "a fingerprint is not a pin"
    );

    let manifest = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": ns.name,
            "labels": {"team": "payments"}, "annotations": {"owner": "alice"}},
        "type": "kubernetes.io/basic-auth",
        "data": {"blob": b64(&[0, 1, 2, 255])},
        "stringData": {"username": "admin", "password": PLAINTEXT},
    });
    cluster.seal_and_apply(&manifest, &dir.path().join("db.yaml"), &[]);

    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_condition(&api, "db", "True", "Unsealed").await;
    let secret = Api::<Secret>::namespaced(cluster.client.clone(), &ns.name)
        .get("db")
        .await
        .unwrap();
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(data_of(&secret, "username"), b"admin");
    assert_eq!(data_of(&secret, "password"), PLAINTEXT.as_bytes());
    assert_eq!(data_of(&secret, "blob"), [0, 1, 2, 255]);
    assert_eq!(secret.data.as_ref().unwrap().len(), 3);
    assert_eq!(secret.metadata.labels.as_ref().unwrap()["team"], "payments");
    assert_eq!(
        secret.metadata.annotations.as_ref().unwrap()["owner"],
        "alice"
    );
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "SealedSecret");
    assert_eq!(owner.controller, Some(true));
    let managers: Vec<_> = secret
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|f| f.manager.clone())
        .collect();
    assert_eq!(managers, ["kage-controller"]);

    let status = run_ok(cluster.kage().args(["status", "-n", &ns.name])).unwrap();
    let status = String::from_utf8(status.stdout).unwrap();
    assert!(
        status.lines().any(|l| {
            let columns: Vec<&str> = l.split_whitespace().collect();
            columns.get(1) == Some(&"db") && columns.get(3) == Some(&"Unsealed")
        }),
        "{status}"
    );
    let json = run_ok(
        cluster
            .kage()
            .args(["status", "-n", &ns.name, "-o", "json"]),
    )
    .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["items"][0]["name"], "db", "{report}");
    assert_eq!(report["items"][0]["ready"], "True", "{report}");
    assert_eq!(report["items"][0]["reason"], "Unsealed", "{report}");
    assert_eq!(report["items"][0]["upToDate"], true, "{report}");

    // --watch prints what is there, then each change, one JSON object per line.
    let mut watching = cluster
        .kage()
        .args(["status", "-n", &ns.name, "-w", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(watching.stdout.take().unwrap()));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| -> serde_json::Value {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line for {what}"));
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next("the existing SealedSecret")["name"], "db");
    let second = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "second", "namespace": ns.name},
        "stringData": {"k": "v"},
    });
    cluster.seal_and_apply(&second, &dir.path().join("second.yaml"), &[]);
    let ready = loop {
        let row = next("the new SealedSecret");
        if row["name"] == "second" && row["ready"] == "True" {
            break row;
        }
    };
    assert_eq!(ready["reason"], "Unsealed");
    watching.kill().unwrap();
    let _ = watching.wait();
    assert!(!ctl.logs().contains(PLAINTEXT));
}

#[tokio::test]
async fn changes_apply_deletions_and_edits_are_undone_and_deletion_collects_the_secret() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-life").await;
    let dir = tempfile::tempdir().unwrap();
    let _ctl = cluster
        .start_leading_controller(dir.path(), &["--watch-namespace", &ns.name])
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let sealed: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    cluster.seal_and_apply(
        &secret_manifest("app", &ns.name, &[("a", "1"), ("b", "2")]),
        &dir.path().join("app.yaml"),
        &[],
    );
    wait_condition(&sealed, "app", "True", "Unsealed").await;

    // Change one value: --merge-into, then apply.
    let file = dir.path().join("app.yaml");
    run_ok(
        cluster
            .kage()
            .arg("seal")
            .arg("--merge-into")
            .arg(&file)
            .args(["--from-literal", "b=3"]),
    )
    .unwrap();
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&file)).unwrap();
    wait_until(Duration::from_secs(30), "the changed value", || async {
        Ok(data_of(&secrets.get("app").await?, "b") == b"3")
    })
    .await
    .unwrap();
    assert_eq!(data_of(&secrets.get("app").await.unwrap(), "a"), b"1");

    // Deleted: restored.
    secrets
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(30),
        "the deleted Secret to come back",
        || async {
            Ok(secrets
                .get_opt("app")
                .await?
                .is_some_and(|s| data_of(&s, "b") == b"3"))
        },
    )
    .await
    .unwrap();

    // Edited by hand: reverted.
    let edit = json!({"data": {"a": b64(b"hacked")}});
    secrets
        .patch("app", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(30),
        "the hand edit to be reverted",
        || async { Ok(data_of(&secrets.get("app").await?, "a") == b"1") },
    )
    .await
    .unwrap();

    // Unchanged objects cause no writes: the Secret's resourceVersion stays put.
    let before = secrets.get("app").await.unwrap().metadata.resource_version;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        secrets.get("app").await.unwrap().metadata.resource_version,
        before
    );

    // SealedSecret deleted: the garbage collector removes the Secret.
    sealed
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(90),
        "the Secret to be garbage-collected",
        || async { Ok(secrets.get_opt("app").await?.is_none()) },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_secret_kage_does_not_own_is_left_alone_until_annotated() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-own").await;
    let dir = tempfile::tempdir().unwrap();
    let _ctl = cluster
        .start_leading_controller(dir.path(), &["--watch-namespace", &ns.name])
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let sealed: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let theirs = dir.path().join("theirs.json");
    std::fs::write(
        &theirs,
        secret_manifest("shared", &ns.name, &[("k", "theirs")]).to_string(),
    )
    .unwrap();
    run_ok(cluster.kubectl().arg("create").arg("-f").arg(&theirs)).unwrap();
    let original = secrets.get("shared").await.unwrap();

    cluster.seal_and_apply(
        &secret_manifest("shared", &ns.name, &[("k", "ours")]),
        &dir.path().join("shared.yaml"),
        &[],
    );
    wait_condition(&sealed, "shared", "False", "SecretNotOwned").await;
    let object = sealed.get("shared").await.unwrap();
    let message = object.ready_condition().unwrap().message.clone();
    let uid = object.metadata.uid.unwrap();
    let adopt = format!("kage.dev/adopt={uid}");
    assert!(
        message.contains(&adopt),
        "the message says how to adopt: {message}"
    );
    let after = secrets.get("shared").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        original.metadata.resource_version
    );
    assert_eq!(data_of(&after, "k"), b"theirs");

    run_ok(
        cluster
            .kubectl()
            .args(["annotate", "secret", "shared", "-n", &ns.name, &adopt]),
    )
    .unwrap();
    // The annotation is not on a watched object; the retry of the failed reconcile adopts it.
    wait_until(
        Duration::from_secs(60),
        "the annotated Secret to be adopted",
        || async {
            let s = secrets.get("shared").await?;
            Ok(data_of(&s, "k") == b"ours" && s.metadata.owner_references.is_some())
        },
    )
    .await
    .unwrap();
    wait_condition(&sealed, "shared", "True", "Unsealed").await;
}

#[tokio::test]
async fn a_value_copied_from_another_namespace_is_refused_and_never_leaks() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let source = cluster.namespace("e2e-src").await;
    let target = cluster.namespace("e2e-dst").await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_leading_controller(dir.path(), &[])
        .await
        .unwrap();

    let input = dir.path().join("in.json");
    std::fs::write(
        &input,
        secret_manifest("db", &source.name, &[("password", PLAINTEXT)]).to_string(),
    )
    .unwrap();
    let sealed_file = dir.path().join("db.yaml");
    run_ok(
        cluster
            .kage()
            .arg("seal")
            .arg("-f")
            .arg(&input)
            .arg("-w")
            .arg(&sealed_file),
    )
    .unwrap();
    let copied = std::fs::read_to_string(&sealed_file).unwrap().replace(
        &format!("namespace: {}", source.name),
        &format!("namespace: {}", target.name),
    );
    let copied_file = dir.path().join("copied.yaml");
    std::fs::write(&copied_file, copied).unwrap();
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&copied_file)).unwrap();

    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &target.name);
    wait_condition(&api, "db", "False", "BindingMismatch").await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &target.name);
    assert!(secrets.get_opt("db").await.unwrap().is_none());

    let events = run_ok(cluster.kubectl().args([
        "get",
        "events.events.k8s.io",
        "-n",
        &target.name,
        "-o",
        "json",
    ]))
    .unwrap();
    let events = String::from_utf8(events.stdout).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&events).unwrap();
    assert!(
        parsed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "BindingMismatch"
                && e["type"] == "Warning"
                && e["regarding"]["name"] == "db"),
        "{events}"
    );
    let copy = api.get("db").await.unwrap();
    let ready = copy.ready_condition().unwrap();
    assert!(ready.message.contains("namespace"), "{ready:?}");
    let status = serde_json::to_string(&copy.status).unwrap();
    for (what, text) in [("logs", ctl.logs()), ("events", events), ("status", status)] {
        assert!(!text.contains(PLAINTEXT), "plaintext found in {what}");
        assert!(
            !text.contains(&b64(PLAINTEXT.as_bytes())),
            "base64 plaintext found in {what}"
        );
    }
}

#[tokio::test]
async fn two_controllers_starting_together_leave_one_key_that_survives_restarts() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    cluster.delete_sealing_keys().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_, kubeconfig) = cluster
        .service_account(CONTROLLER_NAMESPACE, "kage-controller", dir.path())
        .await
        .unwrap();
    let idle = ["--watch-namespace", "kube-public"];
    let mut a = cluster
        .start_controller_as(&kubeconfig, dir.path(), &idle)
        .unwrap();
    let mut b = cluster
        .start_controller_as(&kubeconfig, dir.path(), &idle)
        .unwrap();
    a.wait_ready().await.unwrap();
    b.wait_ready().await.unwrap();
    // Whichever leads publishes the one key.
    tokio::select! {
        r = a.wait_leading(&cluster) => r.unwrap(),
        r = b.wait_leading(&cluster) => r.unwrap(),
    }
    let keys: Api<Secret> = Api::namespaced(cluster.client.clone(), CONTROLLER_NAMESPACE);
    let list = keys
        .list(&ListParams::default().labels("kage.dev/sealing-key=true"))
        .await
        .unwrap();
    assert_eq!(
        list.items.len(),
        1,
        "exactly one key after a simultaneous start"
    );
    let fetch = || {
        let out = run_ok(cluster.kage().args(["key", "fetch"])).unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let before = fetch();
    drop((a, b));
    let mut c = cluster
        .start_controller_as(&kubeconfig, dir.path(), &idle)
        .unwrap();
    c.wait_ready().await.unwrap();
    assert_eq!(fetch(), before, "a restart keeps the key");
    let list = keys
        .list(&ListParams::default().labels("kage.dev/sealing-key=true"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(
        !c.logs().contains("AGE-SECRET-KEY"),
        "a private key reached the logs"
    );
}

#[tokio::test]
async fn a_controller_killed_mid_sync_of_500_finishes_after_a_restart() {
    const N: usize = 500;
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-kill").await;
    let dir = tempfile::tempdir().unwrap();
    // Seal while a controller publishes the key, then stop it before applying.
    {
        let _ctl = cluster
            .start_leading_controller(dir.path(), &["--watch-namespace", &ns.name])
            .await
            .unwrap();
    }
    let manifests: Vec<_> = (0..N)
        .map(|i| {
            secret_manifest(
                &format!("s{i}"),
                &ns.name,
                &[("user", &format!("u{i}")), ("password", &format!("p{i}"))],
            )
        })
        .collect();
    cluster.seal_and_apply_all(&manifests, dir.path(), &[]);

    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let count = || async {
        Ok::<_, anyhow::Error>(
            secrets
                .list_metadata(&ListParams::default().labels("kage.dev/sealed-secret"))
                .await?
                .items
                .len(),
        )
    };
    let mut first = cluster
        .start_controller(dir.path(), &["--watch-namespace", &ns.name])
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(120),
        "some Secrets to be written",
        || async { Ok(count().await? >= 50) },
    )
    .await
    .unwrap();
    first.kill9();
    let written_before_kill = count().await.unwrap();
    assert!(
        written_before_kill < N,
        "the kill came too late to test anything"
    );

    let started = Instant::now();
    let second = cluster
        .start_controller(dir.path(), &["--watch-namespace", &ns.name])
        .await
        .unwrap();
    let sealed: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_until(
        Duration::from_secs(300),
        "every SealedSecret to be Ready",
        || async { Ok(kage_e2e::count_ready(&sealed, "True", "Unsealed").await? == N) },
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();
    let all = secrets
        .list(&ListParams::default().labels("kage.dev/sealed-secret"))
        .await
        .unwrap();
    assert_eq!(all.items.len(), N);
    for s in &all.items {
        let i: usize = s.metadata.name.as_ref().unwrap()[1..].parse().unwrap();
        assert_eq!(data_of(s, "user"), format!("u{i}").as_bytes());
        assert_eq!(data_of(s, "password"), format!("p{i}").as_bytes());
    }
    eprintln!(
        "MEASURE kill-9 drill: {written_before_kill}/{N} written before the kill; restart synced the rest in {:.1}s; peak RSS {} KiB",
        elapsed.as_secs_f64(),
        second.peak_rss_kib().unwrap_or_default()
    );
}

#[tokio::test]
async fn without_rbac_for_secrets_the_controller_reports_instead_of_crashing() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-norbac").await;
    let dir = tempfile::tempdir().unwrap();
    // Keys exist already (a controller with full RBAC publishes them).
    {
        let _ctl = cluster
            .start_leading_controller(dir.path(), &["--watch-namespace", &ns.name])
            .await
            .unwrap();
    }
    // The shipped ClusterRole minus its Secrets rule, plus key access in kage-system.
    let suffix = kage_e2e::random_suffix();
    let role_name = format!("kage-e2e-no-secrets-{suffix}");
    let rbac = std::fs::read_to_string(kage_e2e::workspace().join("deploy/rbac.yaml")).unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&rbac).unwrap();
    let mut role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole")
        .unwrap()
        .clone();
    role["metadata"]["name"] = json!(role_name);
    role["rules"] = json!(
        role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["resources"]
                .as_array()
                .unwrap()
                .contains(&json!("secrets")))
            .cloned()
            .collect::<Vec<_>>()
    );
    let sa = format!("kage-no-secrets-{suffix}");
    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [
        role,
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": role_name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": CONTROLLER_NAMESPACE}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": role_name, "namespace": CONTROLLER_NAMESPACE},
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch", "create"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": role_name, "namespace": CONTROLLER_NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": CONTROLLER_NAMESPACE}]},
        // The shipped review rights for /metrics, as they are.
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": format!("{role_name}-metrics")},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kage-controller-metrics-auth"},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": CONTROLLER_NAMESPACE}]},
        // The shipped namespace Role as it is: ConfigMap and leader Lease.
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": format!("{role_name}-shipped"), "namespace": CONTROLLER_NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kage-controller"},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": CONTROLLER_NAMESPACE}]},
    ]});
    let file = dir.path().join("rbac.json");
    std::fs::write(&file, objects.to_string()).unwrap();
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&file)).unwrap();

    let (_, kubeconfig) = cluster
        .service_account(CONTROLLER_NAMESPACE, &sa, dir.path())
        .await
        .unwrap();
    let mut ctl = cluster
        .start_controller_as(&kubeconfig, dir.path(), &["--watch-namespace", &ns.name])
        .unwrap();
    ctl.wait_leading(&cluster).await.unwrap();
    cluster.seal_and_apply(
        &secret_manifest("db", &ns.name, &[("k", "v")]),
        &dir.path().join("db.yaml"),
        &[],
    );
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_condition(&api, "db", "False", "ApiError").await;
    // Transient: Flux keeps waiting (InProgress), Argo CD shows it progressing with the reason.
    if let Some(view) = kage_e2e::gitops_view(&api.get("db").await.unwrap()) {
        assert_eq!(view.kstatus, "InProgress");
        assert_eq!(view.argocd, "Progressing");
        assert!(view.argocd_message.starts_with("ApiError: "), "{view:?}");
    }
    let message = api
        .get("db")
        .await
        .unwrap()
        .ready_condition()
        .unwrap()
        .message
        .clone();
    assert!(message.contains("forbidden"), "{message}");
    assert!(ctl.logs().contains("forbidden"));
    assert!(!ctl.exited(), "the controller must keep running");
    drop(ctl); // while it may still hand its lease back
    run_ok(cluster.kubectl().arg("delete").arg("-f").arg(&file)).unwrap();
}
