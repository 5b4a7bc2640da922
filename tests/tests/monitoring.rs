//! The shipped alert rules (`deploy/monitoring/kage-alerts.yaml`) with the real `promtool`
//! (built from the Prometheus Go module by `cargo xtask test`, path in `$KAGE_PROMTOOL_BIN`):
//! they load, their unit tests pass, and every metric they read is one a real controller
//! exports, as its scrape shows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::process::Command;

use kage_e2e::{run_ok, workspace};

fn promtool() -> Option<Command> {
    match std::env::var_os("KAGE_PROMTOOL_BIN") {
        Some(bin) => Some(Command::new(bin)),
        None => {
            assert!(
                std::env::var_os("KAGE_E2E_REQUIRED").is_none(),
                "KAGE_PROMTOOL_BIN is not set: run `cargo xtask test`"
            );
            eprintln!("skipped: no promtool (run `cargo xtask test`)");
            None
        }
    }
}

/// The `kage_` metric names the rules' expressions read.
fn metrics_read_by(rules: &str) -> BTreeSet<String> {
    let doc: serde_json::Value = serde_saphyr::from_str(rules).unwrap();
    let mut names = BTreeSet::new();
    for group in doc["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let expr = rule["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("kage_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                names.insert(name);
            }
        }
    }
    names
}

#[tokio::test]
async fn the_alert_rules_load_pass_their_tests_and_read_only_metrics_the_controller_exports() {
    let Some(_) = promtool() else {
        return;
    };
    let rules = workspace().join("deploy/monitoring/kage-alerts.yaml");
    run_ok(promtool().unwrap().args(["check", "rules"]).arg(&rules)).unwrap();
    run_ok(
        promtool()
            .unwrap()
            .args(["test", "rules"])
            .arg(workspace().join("deploy/monitoring/kage-alerts.test.yaml")),
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&rules).unwrap(),
        std::fs::read(workspace().join("deploy/helm/kage/files/kage-alerts.yaml")).unwrap(),
        "the chart's rules are a copy: cp deploy/monitoring/kage-alerts.yaml deploy/helm/kage/files/"
    );

    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-alerts").await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = cluster
        .start_leading_controller(dir.path(), &["--watch-namespace", &ns.name])
        .await
        .unwrap();
    // A counter family appears once it counts something: one SealedSecret that unseals, one
    // sealed to a key the cluster does not hold.
    let secret = |name: &str| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns.name},
            "stringData": {"k": "v"},
        })
    };
    cluster.seal_and_apply(&secret("good"), &dir.path().join("good.yaml"), &[]);
    let foreign = kage_core::Identity::generate().recipient().to_string();
    cluster.seal_and_apply(
        &secret("foreign"),
        &dir.path().join("foreign.yaml"),
        &["-r", &foreign],
    );
    let api: kube::Api<kage_api::SealedSecret> =
        kube::Api::namespaced(cluster.client.clone(), &ns.name);
    kage_e2e::wait_condition(&api, "good", "True", "Unsealed").await;
    kage_e2e::wait_condition(&api, "foreign", "False", "NoMatchingKey").await;
    let (code, scrape) = ctl.metrics().unwrap();
    assert_eq!(code, 200, "{scrape}");
    // The families the scrape declares (`# TYPE kage_reconciles counter`; a counter's samples
    // add `_total`).
    let declared: BTreeSet<&str> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let read = metrics_read_by(&std::fs::read_to_string(&rules).unwrap());
    assert!(read.len() >= 7, "{read:?}");
    for name in &read {
        let family = name.strip_suffix("_total").unwrap_or(name);
        assert!(
            declared.contains(family),
            "the rules read {name}, which the controller does not export: {declared:?}"
        );
    }
    // The scrape passes promtool's lint of the exposition format. The controller speaks
    // OpenMetrics, where a counter's HELP names the family (`kage_reconciles`), and the lint,
    // written for the older text format, looks for it under the sample's name (`_total`): that
    // one finding is checked by hand, every other one fails the test.
    let mut lint = promtool().unwrap();
    lint.args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = lint.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), scrape.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let unexplained: Vec<&str> = findings
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            let counter_help = l
                .strip_suffix(" no help text")
                .and_then(|name| name.trim().strip_suffix("_total"))
                .is_some_and(|family| scrape.contains(&format!("# HELP {family} ")));
            !counter_help
        })
        .collect();
    assert!(unexplained.is_empty(), "{findings}");
}
