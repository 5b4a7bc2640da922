//! `kage inspect` and `kage validate`: what a file holds, and the gate that cannot pass by accident.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use common::*;

use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn inspect_needs_no_key_and_names_every_fingerprint() {
    let d = Dir::new();
    let second = d.keygen("id2.txt");
    let fingerprints: Vec<String> = ["id.txt", "id2.txt"]
        .iter()
        .map(|f| {
            d.read(f)
                .lines()
                .find_map(|l| l.strip_prefix("# fingerprint: ").map(str::to_owned))
                .unwrap()
        })
        .collect();
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "-n",
            "prod",
            "-r",
            &d.recipient,
            "--recovery",
            &second,
        ])
        .args(["--from-literal", "k=v", "-w", "s.yaml"])
        .assert()
        .success();
    std::fs::remove_file(d.path("id.txt")).unwrap();
    std::fs::remove_file(d.path("id2.txt")).unwrap();
    d.cmd()
        .args(["inspect", "-f", "s.yaml"])
        .assert()
        .success()
        .stdout(contains("SealedSecret prod/db"))
        .stdout(contains("scope strict"))
        .stdout(contains(&fingerprints[0]).and(contains(&fingerprints[1])));
}

#[test]
fn validate_reports_copied_and_malformed_files_and_passes_good_ones() {
    let d = Dir::new();
    std::fs::create_dir(d.path("repo")).unwrap();
    d.seal("repo/good.yaml", "db", "prod", &["k=v"]);
    d.write(
        "repo/other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    d.cmd()
        .args(["validate", "repo"])
        .assert()
        .success()
        .stderr(contains("checked 1 SealedSecret(s), 0 problem(s)"));
    let good = d.read("repo/good.yaml");
    d.write(
        "repo/nested/copied.yaml",
        &good.replace("namespace: prod", "namespace: dev"),
    );
    d.write(
        "repo/broken.yaml",
        &good.replace(
            "encryptedData:",
            "encryptedData:\n    junk: bm90IGFnZQ==\n   ",
        ),
    );
    d.cmd()
        .args(["validate", "repo"])
        .assert()
        .code(5)
        .stderr(contains("copied.yaml").and(contains("was found in namespace")))
        .stderr(contains("broken.yaml"));
}

#[test]
fn validate_is_a_gate_that_cannot_pass_by_accident() {
    let d = Dir::new();
    std::fs::create_dir_all(d.path("empty")).unwrap();
    d.cmd()
        .args(["validate", "empty"])
        .assert()
        .code(5)
        .stderr(contains("empty: nothing to check"));
    d.cmd()
        .args(["validate", "--allow-empty", "empty"])
        .assert()
        .success();

    let bitnami = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: old, namespace: prod}\nspec:\n  encryptedData: {k: AgBy}\n";
    d.write("bitnami/old.yaml", bitnami);
    d.cmd()
        .args(["validate", "bitnami"])
        .assert()
        .code(5)
        .stderr(contains("kage migrate").and(contains("nothing to check")));

    let plaintext = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod}\nstringData: {password: hunter2}\n";
    d.write("plain/secret.yaml", plaintext);
    d.cmd()
        .args(["validate", "plain"])
        .assert()
        .code(5)
        .stderr(contains("Secret prod/db holds plaintext values").and(contains("hunter2").not()));
    let listed = format!(
        "{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{}]}}",
        serde_json::to_string(&serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "prod"},
            "data": {"password": "aHVudGVyMg=="}
        }))
        .unwrap()
    );
    d.write("listed/secrets.json", &listed);
    d.cmd()
        .args(["validate", "listed"])
        .assert()
        .code(5)
        .stderr(contains("plaintext"));
    d.write(
        "no-values/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: empty}\ntype: Opaque\n",
    );

    // A repository: a sealed file, a Helm chart, a values file, an excluded legacy folder.
    std::fs::create_dir_all(d.path("repo/apps")).unwrap();
    d.seal("repo/apps/db.yaml", "db", "prod", &["k=v"]);
    d.write(
        "repo/chart/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    d.write(
        "repo/chart/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  k: {{ .Values.k | b64enc }}\n",
    );
    d.write("repo/chart/values.yaml", "k: v\nreplicas: 1\n");
    d.write("repo/legacy/secret.yaml", plaintext);
    d.cmd()
        .args(["validate", "repo"])
        .assert()
        .code(5)
        .stderr(contains(
            "legacy/secret.yaml: Secret prod/db holds plaintext",
        ));
    let ok = d
        .cmd()
        .args(["validate", "repo", "--exclude", "repo/legacy/**"])
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let ok = String::from_utf8(ok).unwrap();
    assert!(
        ok.contains("checked 1 SealedSecret(s), 0 problem(s)"),
        "{ok}"
    );
    assert!(
        ok.contains("templates/secret.yaml: skipped: a template of the Helm chart"),
        "{ok}"
    );
    assert!(
        ok.contains("values.yaml: skipped: not a Kubernetes manifest"),
        "{ok}"
    );

    let json = d
        .cmd()
        .args(["validate", "repo", "no-values", "-o", "json"])
        .assert()
        .code(5)
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(report["checked"], 1);
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{report}");
    assert!(
        problems[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("legacy/secret.yaml")
    );
    assert_eq!(
        problems[1]["file"], "no-values",
        "a Secret without values is nothing to check"
    );
    assert_eq!(report["skipped"].as_array().unwrap().len(), 3, "{report}");
}
