//! `kubectl kage ...`: the CLI as a kubectl plugin, run through the real kubectl, with kubectl's
//! flag habits (`--kubeconfig`, `--context`, `-n`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::process::Command;

use kage_api::SealedSecret;
use kage_e2e::{binary, run_ok, wait_condition};
use kube::Api;

/// `kubectl` with the folder of `kubectl-kage` first on PATH and no `$KUBECONFIG`: every
/// cluster choice comes from the flags under test.
fn kubectl() -> Command {
    let plugins = binary("kubectl-kage").parent().unwrap().to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![plugins];
    dirs.extend(std::env::split_paths(&path));
    let mut cmd = Command::new("kubectl");
    cmd.env("PATH", std::env::join_paths(dirs).unwrap())
        .env_remove("KUBECONFIG");
    cmd
}

/// A kubeconfig whose current context points nowhere, and a context `real` for the cluster
/// under test with `namespace` as its default.
fn kubeconfig_with_contexts(admin: &Path, dir: &Path, namespace: &str) -> String {
    let path = dir.join("kubeconfig");
    std::fs::copy(admin, &path).unwrap();
    let file = path.to_str().unwrap().to_owned();
    let config = |args: &[&str]| {
        run_ok(kubectl().args(["--kubeconfig", &file, "config"]).args(args)).unwrap();
    };
    let current = String::from_utf8(
        run_ok(kubectl().args(["--kubeconfig", &file, "config", "current-context"]))
            .unwrap()
            .stdout,
    )
    .unwrap();
    let cluster_and_user = String::from_utf8(
        run_ok(kubectl().args([
            "--kubeconfig",
            &file,
            "config",
            "view",
            "-o",
            &format!(
                "jsonpath={{.contexts[?(@.name==\"{}\")].context.cluster}} {{.contexts[?(@.name==\"{}\")].context.user}}",
                current.trim(),
                current.trim()
            ),
        ]))
        .unwrap()
        .stdout,
    )
    .unwrap();
    let (cluster, user) = cluster_and_user.trim().split_once(' ').unwrap();
    config(&[
        "set-context",
        "real",
        &format!("--cluster={cluster}"),
        &format!("--user={user}"),
        &format!("--namespace={namespace}"),
    ]);
    // Loopback port 1: nothing listens there.
    config(&["set-cluster", "nowhere", "--server=https://127.0.0.1:1"]);
    config(&[
        "set-context",
        "nowhere",
        "--cluster=nowhere",
        &format!("--user={user}"),
    ]);
    config(&["use-context", "nowhere"]);
    file
}

#[tokio::test]
async fn kubectl_kage_seals_and_reads_the_cluster_its_flags_name() {
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let ns = cluster.namespace("e2e-plugin").await;
    let other = cluster.namespace("e2e-plugin-other").await;
    let dir = tempfile::tempdir().unwrap();
    let _ctl = cluster
        .start_leading_controller(dir.path(), &[])
        .await
        .unwrap();
    let kubeconfig = kubeconfig_with_contexts(&cluster.kubeconfig, dir.path(), &ns.name);
    let kage = |args: &[&str]| {
        let mut cmd = kubectl();
        cmd.arg("kage").args(args);
        cmd
    };

    // (cargo's `kubectl-kage.d` beside the binary makes `plugin list` warn and exit non-zero.)
    let plugins =
        String::from_utf8(kubectl().args(["plugin", "list"]).output().unwrap().stdout).unwrap();
    assert!(
        plugins.lines().any(|l| l.ends_with("/kubectl-kage")),
        "{plugins}"
    );
    let help = String::from_utf8(run_ok(&mut kage(&["--help"])).unwrap().stdout).unwrap();
    assert!(help.contains("Usage: kubectl kage <COMMAND>"), "{help}");

    // The current context points nowhere: without --context the command fails, with it the
    // cluster's key comes back.
    let nowhere = kage(&["key", "fetch", "--kubeconfig", &kubeconfig])
        .output()
        .unwrap();
    assert!(!nowhere.status.success());
    let fetched = run_ok(&mut kage(&[
        "key",
        "fetch",
        "--kubeconfig",
        &kubeconfig,
        "--context",
        "real",
    ]))
    .unwrap();
    assert_eq!(
        String::from_utf8(fetched.stdout).unwrap().trim(),
        cluster.current_key().await
    );

    // The namespace: -n first, else the context's.
    let seal = |file: &Path, extra: &[&str]| {
        let file = file.to_str().unwrap();
        let mut args = vec![
            "seal",
            "--kubeconfig",
            &kubeconfig,
            "--context",
            "real",
            "--name",
            "app",
            "-w",
            file,
        ];
        args.extend(extra);
        let mut cmd = kage(&args);
        cmd.args(["--from-literal", "password=through-kubectl"]);
        run_ok(&mut cmd).unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        let sealed: SealedSecret = serde_saphyr::from_str(&text).unwrap();
        sealed.metadata.namespace.unwrap()
    };
    let in_context = dir.path().join("app.yaml");
    assert_eq!(seal(&in_context, &[]), ns.name);
    assert_eq!(
        seal(&dir.path().join("other.yaml"), &["-n", &other.name]),
        other.name
    );

    run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&in_context)).unwrap();
    let api: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &ns.name);
    wait_condition(&api, "app", "True", "Unsealed").await;
    let status = run_ok(&mut kage(&[
        "status",
        "--kubeconfig",
        &kubeconfig,
        "--context",
        "real",
    ]))
    .unwrap();
    let status = String::from_utf8(status.stdout).unwrap();
    assert!(
        status.lines().any(|l| {
            let columns: Vec<&str> = l.split_whitespace().collect();
            columns.first() == Some(&ns.name.as_str())
                && columns.get(1) == Some(&"app")
                && columns.get(3) == Some(&"Unsealed")
        }),
        "{status}"
    );
}
