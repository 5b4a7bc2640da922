//! `kage-kms` as a local process on a Unix socket, logged in to a test's OpenBao.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::Result;
use kage_kms::client::Client;
use kage_kms::proto::{HEALTHY, StatusResponse};

use crate::cluster::wait_until;
use crate::controller::binary;

/// A running `kage-kms serve`; stopped on drop.
pub struct KmsPlugin {
    child: Option<Child>,
    log: PathBuf,
    /// Its socket.
    pub socket: PathBuf,
}

impl KmsPlugin {
    /// Starts `kage-kms serve --socket SOCKET ARGS...`, logging to `SOCKET.log`, and waits until
    /// the socket exists (or the process has exited: see [`KmsPlugin::exited`]).
    pub async fn start(socket: &Path, args: &[&str]) -> Result<Self> {
        let log = socket.with_extension("log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let child = Command::new(binary("kage-kms"))
            .arg("serve")
            .arg("--socket")
            .arg(socket)
            .args(["--log-format", "text"])
            .args(args)
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()?;
        let mut plugin = KmsPlugin {
            child: Some(child),
            log,
            socket: socket.to_owned(),
        };
        wait_until(Duration::from_secs(30), "kage-kms's socket", || {
            let up = socket.exists() || plugin.exited();
            async move { Ok(up) }
        })
        .await?;
        Ok(plugin)
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    /// A client of its socket.
    pub async fn client(&self) -> Result<Client> {
        Ok(Client::connect(&self.socket).await?)
    }

    /// Its `Status`.
    pub async fn status(&self) -> Result<StatusResponse> {
        Ok(self.client().await?.status().await?)
    }

    /// Waits until `Status` says healthy; returns the key id.
    pub async fn wait_healthy(&self) -> Result<String> {
        wait_until(Duration::from_secs(30), "kage-kms healthy", || async {
            Ok(self.status().await?.healthz == HEALTHY)
        })
        .await?;
        Ok(self.status().await?.key_id)
    }

    /// Its log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it (SIGTERM, as a supervisor would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            if wait_exit(&mut child, Duration::from_secs(5)).is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

impl Drop for KmsPlugin {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The shipped `EncryptionConfiguration` (`deploy/kms/encryption-config.yaml`: kage-kms first,
/// then `identity`) with its endpoint on `socket`; returns its path.
pub fn kms_encryption_config(dir: &Path, socket: &Path) -> Result<PathBuf> {
    let shipped = crate::workspace().join("deploy/kms/encryption-config.yaml");
    let mut config: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(shipped)?)?;
    let kms = &mut config["resources"][0]["providers"][0]["kms"];
    anyhow::ensure!(
        kms["name"] == "kage-kms",
        "the shipped configuration changed: {config}"
    );
    kms["endpoint"] = format!("unix://{}", socket.display()).into();
    let path = dir.join("encryption-kms.json");
    std::fs::write(&path, config.to_string())?;
    Ok(path)
}
