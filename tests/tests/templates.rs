//! `spec.template.data` against a real API server: the examples render to exact bytes, a
//! refused template shows no value, no endpoint renders, and editing templates or sealing a
//! guess reveals nothing about the values to whoever may edit a SealedSecret but not read its
//! Secret.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kage_api::SealedSecret;
use kage_e2e::{Cluster, ControllerProcess, metric_samples, run_ok, wait_condition, wait_until};
use kube::Api;
use kube::api::{Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::json;

/// Seals `examples/{name}.yaml` with `examples/{name}.template.yaml` into namespace `ns` and
/// applies it; returns the sealed file.
fn seal_example(cluster: &Cluster, name: &str, ns: &str, dir: &Path) -> std::path::PathBuf {
    let examples = kage_e2e::workspace().join("examples");
    let text = std::fs::read_to_string(examples.join(format!("{name}.yaml"))).unwrap();
    let mut manifest: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    manifest["metadata"]["namespace"] = json!(ns);
    let template = examples.join(format!("{name}.template.yaml"));
    let sealed = dir.join(format!("{name}.yaml"));
    cluster.seal_and_apply(
        &manifest,
        &sealed,
        &["--template-file", template.to_str().unwrap()],
    );
    sealed
}

/// The Secret's data as text, by key.
async fn secret_data(
    cluster: &Cluster,
    ns: &str,
    name: &str,
) -> (String, BTreeMap<String, String>) {
    let secret = Api::<Secret>::namespaced(cluster.client.clone(), ns)
        .get(name)
        .await
        .unwrap();
    let data = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect();
    (secret.type_.unwrap_or_default(), data)
}

#[tokio::test]
async fn the_examples_compose_a_database_url_a_config_file_and_a_docker_config_exactly() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-templates").await;
    let dir = tempfile::tempdir().unwrap();
    let _ctl = cluster
        .start_controller_for(dir.path(), &ns.name)
        .await
        .unwrap();
    for name in ["database-url", "config-file", "registry"] {
        seal_example(&cluster, name, &ns.name, dir.path());
    }
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    for name in ["orders-db", "worker-config", "registry-pull"] {
        wait_condition(&api, name, "True", "Unsealed").await;
    }

    let (type_, data) = secret_data(&cluster, &ns.name, "orders-db").await;
    assert_eq!(type_, "Opaque");
    assert_eq!(
        data,
        BTreeMap::from([
            (
                "DATABASE_URL".to_owned(),
                "postgres://orders:not-a-real-p%40ss%2Fword@orders-db.demo.svc:5432/orders?sslmode=require".to_owned()
            ),
            ("username".to_owned(), "orders".to_owned()),
        ])
    );

    let (_, data) = secret_data(&cluster, &ns.name, "worker-config").await;
    assert_eq!(
        data,
        BTreeMap::from([(
            "config.yaml".to_owned(),
            "api:\n  url: https://api.example.com\n  token: \"not-a-real-token: with \\\"quotes\\\" and a colon\"\nsmtp:\n  host: smtp.example.com\n  password: \"not-a-real-smtp-password\"\n".to_owned()
        )])
    );

    let (type_, data) = secret_data(&cluster, &ns.name, "registry-pull").await;
    assert_eq!(type_, "kubernetes.io/dockerconfigjson");
    assert_eq!(
        data,
        BTreeMap::from([(
            ".dockerconfigjson".to_owned(),
            r#"{"auths":{"registry.example.com":{"username":"robot$ci","password":"not-a-real-registry-password","auth":"cm9ib3QkY2k6bm90LWEtcmVhbC1yZWdpc3RyeS1wYXNzd29yZA=="}}}"#.to_owned()
        )])
    );
}

const PASSWORD: &str = "Tr0ub4dor-and-3-never-shown";

/// Everything an editor without read access to Secrets can observe of one SealedSecret: its
/// conditions and its Events (in the order they came).
async fn observable(cluster: &Cluster, ns: &str, name: &str) -> Vec<String> {
    let sealed = Api::<SealedSecret>::namespaced(cluster.client.clone(), ns)
        .get(name)
        .await
        .unwrap();
    let mut seen: Vec<String> = sealed
        .status
        .unwrap_or_default()
        .conditions
        .iter()
        .map(|c| {
            format!(
                "condition {} {} {} {}",
                c.type_, c.status, c.reason, c.message
            )
        })
        .collect();
    let events = run_ok(cluster.kubectl().args([
        "get",
        "events.events.k8s.io",
        "-n",
        ns,
        "--sort-by=.metadata.creationTimestamp",
        "-o",
        "json",
    ]))
    .unwrap();
    let events: serde_json::Value = serde_json::from_slice(&events.stdout).unwrap();
    for e in events["items"].as_array().unwrap() {
        if e["regarding"]["name"] == name {
            seen.push(format!(
                "event {} {} {}",
                e["type"].as_str().unwrap_or_default(),
                e["reason"].as_str().unwrap_or_default(),
                e["note"].as_str().unwrap_or_default()
            ));
        }
    }
    seen
}

/// The controller's log records about the object `name`, with the name replaced so that two
/// objects can be compared, and without time stamps and spans (which say what triggered a
/// reconcile: watch timing, not the object).
fn log_lines(ctl: &ControllerProcess, name: &str) -> Vec<String> {
    ctl.logs()
        .lines()
        .filter(|l| l.contains(&format!("\"{name}\"")))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|mut record| {
            if let Some(r) = record.as_object_mut() {
                for field in ["timestamp", "span", "spans"] {
                    r.remove(field);
                }
            }
            record.to_string().replace(name, "NAME")
        })
        .collect()
}

/// Metric samples that count what the controller did (not time spent, not background work
/// such as Lease renewals, not the test's own scrapes).
fn counted(ctl: &ControllerProcess) -> BTreeMap<String, f64> {
    let (code, text) = ctl.metrics().unwrap();
    assert_eq!(code, 200);
    metric_samples(&text)
        .into_iter()
        .filter(|(series, _)| {
            ![
                "kage_reconcile_duration",
                "kage_api_requests",
                "kage_http_requests",
                "kage_newest_key_age",
            ]
            .iter()
            .any(|p| series.starts_with(p))
        })
        .collect()
}

/// Waits until the controller has said nothing more about `name` for a while: a written
/// Secret comes back through the watch and is looked at once more, and Events land a moment
/// after the status.
async fn settle(ctl: &ControllerProcess, name: &str) {
    let mut quiet_since = (log_lines(ctl, name).len(), std::time::Instant::now());
    while quiet_since.1.elapsed() < Duration::from_millis(1500) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = log_lines(ctl, name).len();
        if now != quiet_since.0 {
            quiet_since = (now, std::time::Instant::now());
        }
    }
}

/// Waits until the controller has reconciled the generation `name` is at.
async fn reconciled(api: &Api<SealedSecret>, name: &str) {
    wait_until(Duration::from_secs(30), "the change reconciled", || async {
        let s = api.get(name).await?;
        Ok(s.status.as_ref().and_then(|st| st.observed_generation) == s.metadata.generation)
    })
    .await
    .unwrap();
}

/// The series that moved. How often a settled object is looked at again depends on how watch
/// events coalesce, so counts are compared by which ones moved, not by how much.
fn moved(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeSet<String> {
    after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// The bit-extraction attack: an editor who may change the template but not read the Secret
/// tries templates that, in a template engine that branches or fails on values, succeed for
/// one value and fail for the other. Two values of the same length differ in the probed
/// properties (valid base64 or not; valid JSON or not; first character). Everything the
/// editor can observe is the same for both, probe after probe.
#[tokio::test]
async fn editing_templates_reveals_nothing_about_the_values() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    // Same length, so that the sealed lengths (public anyway) agree up to age's random padding.
    let (a, b) = ("aGVsbG8gd29ybGQ=", r#"{"a":"hello!!!"}"#);
    assert_eq!(a.len(), b.len());
    let ns = cluster.namespace("e2e-probe").await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_controller_for(dir.path(), &ns.name)
        .await
        .unwrap();
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    for (name, value) in [("value-one", a), ("value-two", b)] {
        let file = dir.path().join(format!("{name}.yaml"));
        cluster.seal_and_apply(
            &kage_e2e::secret_manifest(name, &ns.name, &[("password", value), ("user", "u")]),
            &file,
            &[],
        );
        wait_condition(&api, name, "True", "Unsealed").await;
    }

    let probes = [
        // Fails on invalid base64 in an engine with a strict decoder.
        json!({"data": {"out": "{{ password | b64decode }}"}}),
        // Branches on the value.
        json!({"data": {"out": "{% if password.startswith('a') %}{{ nosuch() }}{% endif %}"}}),
        json!({"data": {"out": "{{ password[0] == 'a' }}"}}),
        // The API server parses .dockerconfigjson: a raw value would be refused only when it
        // is not JSON.
        json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "{{ password }}"}}),
        json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "{{ dockerconfigjson('r.example', user, password) }}"}, "omit": ["user", "password"]}),
        // Grows with escaping: a limit checked on the output would pass only for some values.
        json!({"data": {"out": "{{ password | json | json | json | json | json }}"}}),
    ];
    for (i, probe) in probes.iter().enumerate() {
        let mut views = Vec::new();
        for name in ["value-one", "value-two"] {
            let before = counted(&ctl);
            let logs_before = log_lines(&ctl, name).len();
            // One write that replaces the whole template.
            let replace = json!([{"op": "add", "path": "/spec/template", "value": probe}]);
            run_ok(cluster.kubectl().args([
                "patch",
                "sealedsecrets.kage.dev",
                name,
                "-n",
                &ns.name,
                "--type=json",
                "-p",
                &replace.to_string(),
            ]))
            .unwrap();
            reconciled(&api, name).await;
            settle(&ctl, name).await;
            let seen: Vec<String> = observable(&cluster, &ns.name, name)
                .await
                .into_iter()
                .map(|s| s.replace(name, "NAME"))
                .collect();
            let logs: BTreeSet<String> = log_lines(&ctl, name)[logs_before..]
                .iter()
                .cloned()
                .collect();
            views.push((seen, logs, moved(&counted(&ctl), &before)));
        }
        assert_eq!(views[0].0, views[1].0, "probe {i}: status or Events differ");
        assert_eq!(views[0].1, views[1].1, "probe {i}: logs differ");
        assert_eq!(views[0].2, views[1].2, "probe {i}: metrics differ");
    }
    let logs = ctl.logs();
    for value in [a, b] {
        assert!(!logs.contains(value), "a value in the logs");
    }
}

/// Requests the controller sent to the API server that write, by verb (Lease renewals, which
/// go on in the background, are updates; Events are creates and come only on transitions).
fn writes_sent(ctl: &ControllerProcess) -> BTreeMap<String, f64> {
    let (code, text) = ctl.metrics().unwrap();
    assert_eq!(code, 200);
    metric_samples(&text)
        .into_iter()
        .filter(|(series, _)| {
            series.starts_with("kage_api_requests_total{")
                && ["DELETE", "POST"]
                    .iter()
                    .any(|verb| series.contains(&format!("verb=\"{verb}\"")))
        })
        .collect()
}

/// The equality oracle: anyone can seal a guess with the public key, and an editor of a
/// SealedSecret who may not read its Secret applies it over the real value. Whether the
/// Secret is written in place or replaced, how many requests of each kind the controller
/// sends, how the Secret changes (as a watch sees it), the status, Events and logs are the
/// same for a right guess and a wrong one, for a mutable and an immutable Secret.
#[tokio::test]
async fn a_sealed_guess_is_observed_alike_whether_right_or_wrong() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-guess").await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_controller_for(dir.path(), &ns.name)
        .await
        .unwrap();
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns.name);
    let wrong = "Tr0ub4dor-and-3-never-WRONG";
    assert_eq!(wrong.len(), PASSWORD.len());
    for immutable in [false, true] {
        let mut views = Vec::new();
        for (name, guess) in [("right", PASSWORD), ("wrong", wrong)] {
            let name = format!("{name}-{immutable}");
            let manifest = |value: &str| {
                let mut m = kage_e2e::secret_manifest(&name, &ns.name, &[("password", value)]);
                m["immutable"] = json!(immutable);
                m
            };
            let file = dir.path().join(format!("{name}.yaml"));
            cluster.seal_and_apply(&manifest(PASSWORD), &file, &[]);
            wait_condition(&api, &name, "True", "Unsealed").await;
            settle(&ctl, &name).await;
            let version = secrets
                .get_metadata(&name)
                .await
                .unwrap()
                .metadata
                .resource_version
                .unwrap();
            let watch = {
                let secrets = secrets.clone();
                let params = WatchParams::default()
                    .fields(&format!("metadata.name={name}"))
                    .timeout(60);
                let (tx, rx) = tokio::sync::watch::channel(Vec::<String>::new());
                let task = tokio::spawn(async move {
                    let mut stream = secrets.watch(&params, &version).await.unwrap().boxed();
                    while let Some(Ok(event)) = stream.next().await {
                        let kind = match event {
                            WatchEvent::Added(_) => "ADDED",
                            WatchEvent::Modified(_) => "MODIFIED",
                            WatchEvent::Deleted(_) => "DELETED",
                            WatchEvent::Bookmark(_) | WatchEvent::Error(_) => continue,
                        };
                        tx.send_modify(|seen| seen.push(kind.to_owned()));
                    }
                });
                (task, rx)
            };
            let (before, logs_before) = (writes_sent(&ctl), log_lines(&ctl, &name).len());
            cluster.seal_and_apply(&manifest(guess), &file, &[]);
            reconciled(&api, &name).await;
            settle(&ctl, &name).await;
            watch.0.abort();
            let changes = watch.1.borrow().clone();
            let requests: BTreeMap<String, f64> = writes_sent(&ctl)
                .into_iter()
                .map(|(series, after)| {
                    let moved = after - before.get(&series).copied().unwrap_or(0.0);
                    (series, moved)
                })
                .collect();
            let seen: Vec<String> = observable(&cluster, &ns.name, &name)
                .await
                .into_iter()
                .map(|s| s.replace(&name, "NAME"))
                .collect();
            let logs: BTreeSet<String> = log_lines(&ctl, &name)[logs_before..]
                .iter()
                .cloned()
                .collect();
            views.push((changes, requests, seen, logs));
        }
        let what = if immutable { "immutable" } else { "mutable" };
        assert!(!views[0].0.is_empty(), "{what}: the guess was written");
        assert_eq!(
            views[0].0, views[1].0,
            "{what}: the Secret changed differently"
        );
        assert_eq!(
            views[0].1, views[1].1,
            "{what}: the controller sent other requests"
        );
        assert_eq!(views[0].2, views[1].2, "{what}: status or Events differ");
        assert_eq!(views[0].3, views[1].3, "{what}: logs differ");
    }
}

#[tokio::test]
async fn a_refused_template_names_its_key_and_line_and_shows_no_value_anywhere() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-template-error").await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_controller_for(dir.path(), &ns.name)
        .await
        .unwrap();
    let file = dir.path().join("app.yaml");
    cluster.seal_and_apply(
        &kage_e2e::secret_manifest("app", &ns.name, &[("password", PASSWORD)]),
        &file,
        &[],
    );
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_condition(&api, "app", "True", "Unsealed").await;
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"data": {
            "config": "user: app\npassword: {{ password | sha256 }}\n"
        }}}})),
    )
    .await
    .unwrap();
    wait_until(Duration::from_secs(30), "InvalidTemplate", || async {
        let s = api.get("app").await?;
        Ok(s.ready_condition().is_some_and(|c| {
            c.reason == "InvalidTemplate"
                && c.message
                    .contains("spec.template.data.config: line 2: unknown function \"sha256\"")
        }))
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = observable(&cluster, &ns.name, "app").await;
    assert!(
        seen.iter()
            .any(|s| s.starts_with("event Warning InvalidTemplate")),
        "{seen:?}"
    );
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(PASSWORD)
    };
    let everything = format!("{seen:?}{}", ctl.logs());
    // No byte run of the value: not whole, not in part, not encoded.
    for window in PASSWORD.as_bytes().windows(6) {
        let part = std::str::from_utf8(window).unwrap();
        assert!(!everything.contains(part), "{part:?} shown");
    }
    assert!(!everything.contains(&encoded));
    // The Secret keeps its last good content: a refused template writes nothing.
    let (_, data) = secret_data(&cluster, &ns.name, "app").await;
    assert_eq!(data.get("password").map(String::as_str), Some(PASSWORD));
}

/// verify and reseal open values but never render a template: the controller's render count
/// stands still through both, and moves when a reconcile writes the Secret.
#[tokio::test]
async fn verify_and_reseal_through_the_controller_never_render() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-template-http").await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_controller_for(dir.path(), &ns.name)
        .await
        .unwrap();
    let renders = || {
        counted(&ctl)
            .get("kage_template_renders_total")
            .copied()
            .unwrap_or(0.0)
    };
    let file = seal_example(&cluster, "database-url", &ns.name, dir.path());
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_condition(&api, "orders-db", "True", "Unsealed").await;
    let after_reconcile = renders();
    assert!(after_reconcile >= 1.0, "the reconcile rendered");

    run_ok(
        cluster
            .kage()
            .args(["validate", "--cluster", "--controller-url", &ctl.url()])
            .arg(&file),
    )
    .unwrap();
    run_ok(
        cluster
            .kage()
            .args(["reseal", "--controller-url", &ctl.url()])
            .arg(&file),
    )
    .unwrap();
    assert_eq!(renders(), after_reconcile, "verify or reseal rendered");

    // The resealed file still renders the same Secret.
    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&file)).unwrap();
    wait_until(
        Duration::from_secs(30),
        "the resealed file rendered",
        || async { Ok(renders() > after_reconcile) },
    )
    .await
    .unwrap();
    wait_condition(&api, "orders-db", "True", "Unsealed").await;
}

/// The API server checks a `.dockerconfigjson` as JSON and its refusal quotes the first byte
/// that is not ("invalid character 'Z' ..."). Whoever may set the type of a SealedSecret but
/// not read its Secret must not read that byte in the status or an Event.
#[tokio::test]
async fn a_secret_the_api_server_refuses_shows_no_byte_of_its_value() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-refused-secret").await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_controller_for(dir.path(), &ns.name)
        .await
        .unwrap();
    // `kage seal` refuses it offline: the type is set by hand, as an edit of the file would.
    let manifest =
        kage_e2e::secret_manifest("pull", &ns.name, &[(".dockerconfigjson", "Zebra-not-json")]);
    cluster.seal_and_apply_as_type(
        &manifest,
        &dir.path().join("pull.yaml"),
        "kubernetes.io/dockerconfigjson",
    );
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_condition(&api, "pull", "False", "InvalidTemplate").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = observable(&cluster, &ns.name, "pull").await;
    assert!(
        seen.iter().any(|s| s.contains("data[.dockerconfigjson]")),
        "the refused field is named: {seen:?}"
    );
    let everything = format!("{seen:?}{}", ctl.logs());
    assert!(
        !everything.contains("'Z'"),
        "a byte of the value shown: {seen:?}"
    );
    assert!(!everything.contains("Zebra"), "the value shown: {seen:?}");
}
