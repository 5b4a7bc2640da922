//! kage's pre-commit hook (`.pre-commit-hooks.yaml`) run by the real `pre-commit` (installed
//! by `cargo xtask test`, folder in `$KAGE_PRE_COMMIT_DIR`) on a repository of its own: a
//! commit of sealed files passes, a commit of a plaintext Secret is stopped. No cluster needed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::process::{Command, Output};

use kage_e2e::{binary, run_ok, workspace};

/// `pre-commit try-repo <kage's checkout> kage-validate` in `repo`, on its staged files: the
/// hook definition as it is in the working tree, with `kage` from this build on PATH.
fn hook(pre_commit: &Path, repo: &Path) -> Output {
    let kage_dir = binary("kage").parent().unwrap().to_path_buf();
    let path = std::env::join_paths(std::iter::once(kage_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    Command::new("python3")
        .args(["-m", "pre_commit", "try-repo"])
        .arg(workspace())
        .arg("kage-validate")
        .current_dir(repo)
        .env("PYTHONPATH", pre_commit)
        .env("PRE_COMMIT_HOME", repo.join("../pre-commit-home"))
        .env("PATH", path)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

fn git(repo: &Path, args: &[&str]) {
    run_ok(Command::new("git").args(args).current_dir(repo)).unwrap();
}

#[test]
fn the_pre_commit_hook_passes_sealed_files_and_stops_a_plaintext_secret() {
    let Some(pre_commit) = std::env::var_os("KAGE_PRE_COMMIT_DIR") else {
        assert!(
            std::env::var_os("KAGE_E2E_REQUIRED").is_none(),
            "KAGE_PRE_COMMIT_DIR is not set: run `cargo xtask test`"
        );
        eprintln!("skipped: no pre-commit (run `cargo xtask test`)");
        return;
    };
    let pre_commit = Path::new(&pre_commit);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("apps")).unwrap();
    git(&repo, &["init", "-q"]);
    let kage = || {
        let mut cmd = Command::new(binary("kage"));
        cmd.current_dir(&repo).env_remove("KUBECONFIG");
        cmd
    };
    let recipient = run_ok(kage().args(["keygen", "-o", "../id.txt"])).unwrap();
    let recipient = String::from_utf8(recipient.stdout).unwrap();
    run_ok(kage().args([
        "seal",
        "--name",
        "db",
        "-n",
        "prod",
        "--from-literal",
        "password=s3cret",
        "-r",
        recipient.trim(),
        "-w",
        "apps/db.yaml",
    ]))
    .unwrap();
    std::fs::write(repo.join("values.yaml"), "replicas: 2\n").unwrap();
    git(&repo, &["add", "apps/db.yaml", "values.yaml"]);
    let passed = hook(pre_commit, &repo);
    assert!(
        passed.status.success(),
        "{}{}",
        String::from_utf8_lossy(&passed.stdout),
        String::from_utf8_lossy(&passed.stderr)
    );

    std::fs::write(
        repo.join("apps/plain.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod}\nstringData: {password: hunter2}\n",
    )
    .unwrap();
    git(&repo, &["add", "apps/plain.yaml"]);
    let stopped = hook(pre_commit, &repo);
    let out = String::from_utf8_lossy(&stopped.stdout);
    assert!(!stopped.status.success(), "{out}");
    assert!(
        out.contains("Secret prod/db holds plaintext values"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "{out}");
}
