//! What the CLI test files share.

use std::path::Path;

use assert_cmd::Command;

/// A new folder with an identity in `id.txt`; returns its recipient too.
#[allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]
pub fn folder_with_identity() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let recipient = keygen(dir.path(), "id.txt");
    (dir, recipient)
}

/// A new identity in `dir/file`; returns its recipient.
#[allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]
pub fn keygen(dir: &Path, file: &str) -> String {
    let out = kage(dir)
        .args(["keygen", "-o", file])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap().trim().to_owned()
}

/// `kage` run in `dir`, with no cluster in reach and `dir` as its home.
pub fn kage(dir: &Path) -> Command {
    #[allow(
        clippy::unwrap_used,
        reason = "test code: a missing binary is a failed test"
    )]
    let mut cmd = Command::cargo_bin("kage").unwrap();
    cmd.current_dir(dir)
        .env_remove("KUBECONFIG")
        .env("HOME", dir);
    cmd
}
