//! What the CLI test files share.

use std::path::Path;

use assert_cmd::Command;

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
