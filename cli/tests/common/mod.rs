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
    let out = kage(dir.path())
        .args(["keygen", "-o", "id.txt"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let recipient = String::from_utf8(out).unwrap().trim().to_owned();
    (dir, recipient)
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
