//! `kage keygen` and `kage key restore` offline: private files, forged backups refused.

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
fn keygen_writes_a_private_file_and_never_overwrites() {
    let d = Dir::new();
    assert!(d.recipient.starts_with("age1"));
    let key = d.read("id.txt");
    assert!(key.contains("AGE-SECRET-KEY-1") && key.contains(&d.recipient));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path("id.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    d.cmd()
        .args(["keygen", "-o", "id.txt"])
        .assert()
        .code(3)
        .stderr(contains("never overwrites"));
    assert_eq!(d.read("id.txt"), key);
}

/// A backup anyone holding the backup recipient could write: age does not say who wrote it.
fn forged_backup(d: &Dir, created_at: &str) -> String {
    use std::io::Write;
    let recipient: age::x25519::Recipient = d.keygen("backup.key").parse().unwrap();
    let attacker = std::fs::read_to_string(d.path("id.txt"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_owned();
    let bundle = serde_json::json!({
        "apiVersion": "kage.dev/v1alpha1", "kind": "KeyBackup", "namespace": "kage-system",
        "createdAt": "2026-01-01T00:00:00Z",
        "keys": [{"name": "kage-key-1", "fingerprint": "0000000000000000", "createdAt": created_at,
                  "state": "active", "identity": attacker}],
    });
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .unwrap();
    let mut armored = Vec::new();
    let writer =
        age::armor::ArmoredWriter::wrap_output(&mut armored, age::armor::Format::AsciiArmor)
            .unwrap();
    let mut w = encryptor.wrap_output(writer).unwrap();
    w.write_all(bundle.to_string().as_bytes()).unwrap();
    w.finish().unwrap().finish().unwrap();
    d.write("forged.age", std::str::from_utf8(&armored).unwrap());
    "forged.age".to_owned()
}

#[test]
fn a_forged_backup_dated_in_the_future_is_refused_before_the_cluster_is_touched() {
    let d = Dir::new();
    let file = forged_backup(&d, "2099-01-01T00:00:00Z");
    d.cmd()
        .args(["key", "restore", &file, "-i", "backup.key", "--yes"])
        .assert()
        .code(3)
        .stderr(contains("in the future"));
}

#[test]
fn a_restore_lists_the_keys_and_needs_a_yes_and_expect_names_them() {
    let d = Dir::new();
    let file = forged_backup(&d, "2026-01-01T00:00:00Z");
    d.cmd()
        .args(["key", "restore", &file, "-i", "backup.key"])
        .assert()
        .code(3)
        .stderr(
            contains("0000000000000000  created 2026-01-01T00:00:00Z  active")
                .and(contains("--yes")),
        );
    d.cmd()
        .args([
            "key",
            "restore",
            &file,
            "-i",
            "backup.key",
            "--yes",
            "--expect",
            "1111111111111111",
        ])
        .assert()
        .code(3)
        .stderr(contains("no such key"));
}
