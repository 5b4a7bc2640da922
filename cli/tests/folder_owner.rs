//! The owner of a subfolder in a monorepo writes its `.kage.yaml`, and can copy another team's
//! sealed file into it. Commands that open values and seal them again must not seal to the
//! recipients that folder names: the attacker's identity opens nothing afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::path::Path;

use common::{kage, keygen};
use predicates::prelude::*;
use predicates::str::contains;

const SEALED_SECRETS_FIXTURES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sealed-secrets");

/// A repository (with `.git`) whose root `.kage.yaml` seals to the operator's key, and a
/// subfolder `team-b/` owned by the attacker, whose `.kage.yaml` adds the attacker as a
/// recovery recipient. Returns the folder, the operator's and the attacker's recipients.
fn monorepo() -> (tempfile::TempDir, String, String) {
    let (dir, operator) = common::folder_with_identity();
    let attacker = keygen(dir.path(), "attacker.key");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join("team-a")).unwrap();
    std::fs::create_dir_all(repo.join("team-b")).unwrap();
    std::fs::write(
        repo.join(".kage.yaml"),
        format!("rules:\n  - recipients: [{operator}]\n"),
    )
    .unwrap();
    std::fs::write(
        repo.join("team-b/.kage.yaml"),
        format!("rules:\n  - recipients: [{operator}]\n    recovery: [{attacker}]\n"),
    )
    .unwrap();
    (dir, operator, attacker)
}

/// `kage seal` of Secret shop/db with `password=value` into `file`, with `extra` flags.
fn seal_db(dir: &Path, value: &str, file: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
    kage(dir)
        .args(["seal", "--name", "db", "-n", "shop", "-w", file])
        .arg("--from-literal")
        .arg(format!("password={value}"))
        .args(extra)
        .assert()
}

fn fingerprint(recipient: &str) -> String {
    recipient
        .parse::<kage_core::Recipient>()
        .unwrap()
        .fingerprint()
        .to_string()
}

/// Every SealedSecret file under `dir` that the attacker's identity can open any value of.
fn opened_by_attacker(dir: &Path) -> Vec<String> {
    let mut opened = Vec::new();
    for entry in walk(dir) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        if !text.contains("kage.dev/v1alpha1") {
            continue;
        }
        let ok = kage(dir)
            .args(["unseal", "-i", "attacker.key", "-f"])
            .arg(&entry)
            .output()
            .unwrap()
            .status
            .success();
        if ok {
            opened.push(entry.display().to_string());
        }
    }
    opened
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn migrate_seals_nothing_to_a_recipient_a_subfolders_kage_yaml_adds() {
    let (dir, _operator, attacker) = monorepo();
    let repo = dir.path().join("repo");
    let victim = std::fs::read_to_string(format!("{SEALED_SECRETS_FIXTURES}/db.yaml")).unwrap();
    std::fs::write(repo.join("team-a/db.yaml"), &victim).unwrap();
    // A verbatim copy: same namespace and name, so the Bitnami label binding holds.
    std::fs::write(repo.join("team-b/db.yaml"), &victim).unwrap();
    let key = format!("{SEALED_SECRETS_FIXTURES}/test-key.pem");
    kage(dir.path())
        .args(["migrate", "repo", "--key-file", &key, "--in-place"])
        .assert()
        .code(4)
        .stderr(
            contains("team-b/.kage.yaml")
                .and(contains(fingerprint(&attacker)))
                .and(contains("migrated 1 SealedSecret(s); 1 file(s) failed")),
        );
    assert_eq!(
        std::fs::read_to_string(repo.join("team-b/db.yaml")).unwrap(),
        victim,
        "the copy is left as it was"
    );
    assert_eq!(opened_by_attacker(dir.path()), Vec::<String>::new());
}

#[test]
fn offline_reseal_seals_nothing_to_a_recipient_a_subfolders_kage_yaml_adds() {
    let (dir, operator, attacker) = monorepo();
    let repo = dir.path().join("repo");
    seal_db(
        dir.path(),
        "team-a-only",
        "repo/team-a/db.yaml",
        &["-r", &operator],
    )
    .success();
    let sealed = std::fs::read_to_string(repo.join("team-a/db.yaml")).unwrap();
    std::fs::write(repo.join("team-b/db.yaml"), &sealed).unwrap();
    kage(dir.path())
        .args(["reseal", "repo", "-i", "id.txt"])
        .assert()
        .code(4)
        .stderr(
            contains("team-b/.kage.yaml")
                .and(contains(fingerprint(&attacker)))
                .and(contains("(file left unchanged)")),
        );
    assert_eq!(
        std::fs::read_to_string(repo.join("team-b/db.yaml")).unwrap(),
        sealed
    );
    assert_eq!(opened_by_attacker(dir.path()), Vec::<String>::new());
}

#[test]
fn a_nested_kage_yaml_that_adds_no_recipient_is_followed() {
    let (dir, operator, _attacker) = monorepo();
    let repo = dir.path().join("repo");
    // team-b narrows to the root's own recipients and sets a scope: nothing new to trust.
    std::fs::write(
        repo.join("team-b/.kage.yaml"),
        format!("rules:\n  - recipients: [{operator}]\n    scope: namespace-wide\n"),
    )
    .unwrap();
    let victim = std::fs::read_to_string(format!("{SEALED_SECRETS_FIXTURES}/db.yaml")).unwrap();
    std::fs::write(repo.join("team-b/db.yaml"), &victim).unwrap();
    let key = format!("{SEALED_SECRETS_FIXTURES}/test-key.pem");
    kage(dir.path())
        .args(["migrate", "repo", "--key-file", &key, "--in-place"])
        .assert()
        .success()
        .stderr(contains("team-b/.kage.yaml"));
}

#[test]
fn validate_flags_a_value_sealed_to_a_recipient_the_root_kage_yaml_does_not_give() {
    let (dir, operator, attacker) = monorepo();
    // Sealed by the folder's owner with its own .kage.yaml: the attacker is a recipient.
    seal_db(dir.path(), "pw", "repo/team-b/db.yaml", &[])
        .success()
        .stderr(contains(fingerprint(&attacker)));
    kage(dir.path())
        .args(["validate", "repo"])
        .assert()
        .code(5)
        .stderr(
            contains(fingerprint(&attacker))
                .and(contains("repository root's .kage.yaml"))
                .and(contains(fingerprint(&operator)).not()),
        );
    // The same value with only the root's recipients passes.
    seal_db(dir.path(), "pw", "repo/team-b/db.yaml", &["-r", &operator]).success();
    kage(dir.path())
        .args(["validate", "repo"])
        .assert()
        .success();
}

#[test]
fn migrate_of_a_path_with_nothing_to_migrate_is_an_error() {
    let (dir, operator, _) = monorepo();
    let key = format!("{SEALED_SECRETS_FIXTURES}/test-key.pem");
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    kage(dir.path())
        .args(["migrate", "empty", "--key-file", &key, "-r", &operator])
        .assert()
        .code(3)
        .stderr(contains("nothing to migrate in empty"));
}
