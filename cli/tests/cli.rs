//! The `kage` command as a user runs it: help, usage errors, exit codes, completions, hints.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use common::*;

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn help_lists_commands_and_exit_codes() {
    Command::cargo_bin("kage")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .stdout(
            contains("seal")
                .and(contains("unseal"))
                .and(contains("validate")),
        )
        .stdout(contains("4  a value cannot be unsealed here"));
}

#[test]
fn unknown_flag_is_a_usage_error() {
    Command::cargo_bin("kage")
        .unwrap()
        .args(["seal", "--bogus"])
        .assert()
        .code(2);
}

#[test]
fn malformed_and_wrong_kind_input_is_a_clear_error() {
    let d = Dir::new();
    for (input, message) in [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "expected a v1 Secret",
        ),
        ("key: [unclosed", "invalid YAML"),
        ("{\"apiVersion\": ", "invalid JSON"),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: {k: '%%%'}\n",
            "not valid base64",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n",
            "no data",
        ),
    ] {
        d.cmd()
            .args(["seal", "-r", &d.recipient])
            .write_stdin(input)
            .assert()
            .code(3)
            .stderr(contains(message));
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        Command::cargo_bin("kage")
            .unwrap()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(contains("unseal"));
    }
}

/// Compares command output with a committed snapshot; `KAGE_BLESS=1` rewrites the snapshot.
fn assert_snapshot(path: &str, actual: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("KAGE_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        String::from_utf8_lossy(actual),
        expected,
        "{} is stale: rerun with KAGE_BLESS=1 and review the diff",
        path.display()
    );
}

#[test]
fn help_texts_match_their_snapshots() {
    for (args, file) in [
        (&["--help"][..], "tests/snapshots/help.txt"),
        (&["seal", "--help"][..], "tests/snapshots/seal-help.txt"),
    ] {
        let out = Command::cargo_bin("kage")
            .unwrap()
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_snapshot(file, &out.stdout);
    }
}

#[test]
fn committed_completions_match_the_cli() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::cargo_bin("kage")
            .unwrap()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_snapshot(&format!("completions/kage.{shell}"), &out.stdout);
    }
}

#[test]
fn every_command_reports_an_unusable_cluster_the_same_way() {
    let d = Dir::new();
    // No kubeconfig at all.
    d.cmd()
        .args(["status"])
        .assert()
        .code(6)
        .stderr(contains("no kubeconfig").and(contains("hint: point KUBECONFIG")));

    // A file that is not a kubeconfig (here an identity) is named, never quoted.
    for command in [
        vec!["key", "list"],
        vec![
            "seal",
            "--name",
            "x",
            "--from-literal",
            "a=b",
            "-r",
            &d.recipient,
        ],
    ] {
        let out = d
            .cmd()
            .args(&command)
            .args(["--kubeconfig", "id.txt"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{stderr}");
        assert!(
            stderr.contains("id.txt: it is not a kubeconfig"),
            "{stderr}"
        );
        assert!(!stderr.contains("AGE-SECRET-KEY"), "{stderr}");
    }

    // A kubeconfig whose API server does not answer (nothing listens on port 1).
    d.write(
        "down.kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: apps}}]\ncurrent-context: x\n",
    );
    d.seal("s.yaml", "db", "prod", &["k=v"]);
    for command in [
        vec!["key", "fetch"],
        vec!["key", "list"],
        vec!["key", "rotate"],
        vec!["key", "backup", "-r", &d.recipient, "-o", "b.age"],
        vec!["status"],
        vec!["validate", "--cluster", "s.yaml"],
        vec!["reseal", "s.yaml"],
    ] {
        let out = d
            .cmd()
            .args(&command)
            .args(["--kubeconfig", "down.kubeconfig"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{command:?}: {stderr}");
        assert!(
            stderr.contains("cannot reach the API server"),
            "{command:?}: {stderr}"
        );
        assert_eq!(
            stderr.matches("onnection refused").count(),
            1,
            "{command:?}: the cause once: {stderr}"
        );
        assert!(
            stderr.contains("not a kage problem") && !stderr.contains("install"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn what_users_arrive_with_from_kubeseal_and_sops_is_pointed_to_kages_way() {
    let d = Dir::new();
    for (flag, hint) in [
        ("--cert", "hint: kage seals to an age recipient"),
        ("--fetch-cert", "hint: `kage key fetch`"),
        ("--re-encrypt", "hint: `kage reseal"),
    ] {
        d.cmd()
            .args(["seal", flag, "x"])
            .assert()
            .code(2)
            .stderr(contains(hint));
    }
    let bitnami = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: old, namespace: prod}\nspec:\n  encryptedData: {k: AgBy}\n";
    d.write("bitnami.yaml", bitnami);
    d.cmd()
        .args(["inspect", "-f", "bitnami.yaml"])
        .assert()
        .code(3)
        .stderr(contains("Bitnami SealedSecret").and(contains("kage migrate")));
    // SOPS users point an environment variable at their key file.
    d.seal("s.yaml", "db", "prod", &["password=s3cret"]);
    d.cmd()
        .args(["unseal", "-f", "s.yaml"])
        .env("KAGE_IDENTITY_FILE", d.path("id.txt"))
        .assert()
        .success()
        .stdout(contains("password"));
    let typo = format!(
        "{}{}{}",
        &d.recipient[..10],
        if &d.recipient[10..11] == "q" {
            "p"
        } else {
            "q"
        },
        &d.recipient[11..]
    );
    d.cmd()
        .args(["seal", "--name", "a", "--from-literal", "a=b", "-r", &typo])
        .assert()
        .code(3)
        .stderr(contains("checksum does not match"));

    // A terminal on stdin: say what is expected instead of waiting silently (`script` gives
    // kage a terminal; util-linux ships it).
    let kage = assert_cmd::cargo::cargo_bin("kage");
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{} inspect", kage.display()), "/dev/null"])
        .current_dir(d.path(""))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) gives kage a terminal");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("reading a YAML or JSON manifest from the terminal"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
