//! What the CLI test files share.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "each test file uses part of it; test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};

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

/// A value no output may ever show.
pub const SECRET: &str = "s3cr3t-Pa55w0rd-never-printed";

pub struct Dir {
    pub dir: tempfile::TempDir,
    pub recipient: String,
}

impl Dir {
    pub fn new() -> Self {
        let (dir, recipient) = folder_with_identity();
        Dir { dir, recipient }
    }

    /// A new identity in `file`; returns its recipient.
    pub fn keygen(&self, file: &str) -> String {
        keygen(self.dir.path(), file)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self) -> Command {
        kage(self.dir.path())
    }

    pub fn write(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    /// Seals a literal Secret named `name` in `ns` into `file`.
    pub fn seal(&self, file: &str, name: &str, ns: &str, values: &[&str]) {
        let mut cmd = self.cmd();
        cmd.args([
            "seal",
            "--name",
            name,
            "-n",
            ns,
            "-r",
            &self.recipient,
            "-w",
            file,
        ]);
        for v in values {
            cmd.args(["--from-literal", v]);
        }
        cmd.assert().success();
    }

    pub fn unseal(&self, file: &str) -> assert_cmd::assert::Assert {
        self.cmd()
            .args(["unseal", "-i", "id.txt", "-f", file, "-o", "json"])
            .assert()
    }
}

pub fn secret_json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap()
}

pub fn b64(s: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
