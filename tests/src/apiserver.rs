//! A second API server beside the local control plane's: the same etcd under a prefix of its
//! own, its own port and `EncryptionConfiguration`; started, restarted and stopped by a test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::cluster::{Cluster, free_port, kubectl, random_suffix, wait_until};
use crate::controller::{http_request, workspace};

/// How the local control plane started its API server (`target/cluster/apiserver.json`).
fn started() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(workspace().join("target/cluster/apiserver.json")).unwrap(),
    )
    .unwrap()
}

/// etcd's address, `127.0.0.1:PORT`.
pub fn etcd_address() -> String {
    started()["etcd"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_owned()
}

/// The raw bytes etcd stores under `key` (through etcd's JSON gateway).
pub fn etcd_get(key: &str) -> Vec<u8> {
    let body = serde_json::json!({"key": STANDARD.encode(key)}).to_string();
    let (code, text) = http_request(
        &etcd_address(),
        "POST",
        "/v3/kv/range",
        &[],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 200, "{text}");
    let json = &text[text.find('{').unwrap()..=text.rfind('}').unwrap()];
    let answer: serde_json::Value = serde_json::from_str(json).unwrap();
    let value = answer["kvs"][0]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("no key {key} in etcd: {answer}"));
    STANDARD.decode(value).unwrap()
}

/// Deletes every key under `prefix` in etcd.
fn etcd_delete_prefix(prefix: &str) {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    let body =
        serde_json::json!({"key": STANDARD.encode(prefix), "range_end": STANDARD.encode(end)})
            .to_string();
    let _ = http_request(
        &etcd_address(),
        "POST",
        "/v3/kv/deleterange",
        &[],
        body.as_bytes(),
    );
}

/// Whether `haystack` holds `needle`.
pub fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A second API server; stopped, and its etcd prefix deleted, on drop.
pub struct ApiServer {
    child: Option<Child>,
    binary: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    /// Its etcd prefix (`/kage-e2e-...`).
    pub prefix: String,
    /// An admin kubeconfig for it.
    pub kubeconfig: PathBuf,
}

impl ApiServer {
    /// Starts one with `encryption` as its `EncryptionConfiguration` (none without) and waits
    /// for `/readyz`.
    pub async fn start(admin: &Cluster, dir: &Path, encryption: Option<&Path>) -> Result<Self> {
        let started = started();
        let port = free_port()?;
        let prefix = format!("/kage-e2e-{}", random_suffix());
        let args: Vec<String> = started["args"]
            .as_array()
            .context("apiserver.json args")?
            .iter()
            .filter_map(|a| a.as_str())
            .filter(|a| !a.starts_with("--encryption-provider-config"))
            .map(|a| {
                if a.starts_with("--secure-port=") {
                    format!("--secure-port={port}")
                } else {
                    a.to_owned()
                }
            })
            .chain([format!("--etcd-prefix={prefix}")])
            .chain(encryption.map(|e| format!("--encryption-provider-config={}", e.display())))
            .collect();
        let mut config: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&admin.kubeconfig)?)?;
        config["clusters"][0]["cluster"]["server"] =
            serde_json::json!(format!("https://127.0.0.1:{port}"));
        let kubeconfig = dir.join(format!("apiserver-{port}.kubeconfig"));
        std::fs::write(&kubeconfig, config.to_string())?;
        let mut server = ApiServer {
            child: None,
            binary: PathBuf::from(started["binary"].as_str().context("binary")?),
            args,
            log: dir.join(format!("apiserver-{port}.log")),
            prefix,
            kubeconfig,
        };
        server.spawn()?;
        server.wait("/readyz").await?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        self.child = Some(
            Command::new(&self.binary)
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?,
        );
        Ok(())
    }

    /// Waits until `path` (`/readyz`, `/livez`) answers 200.
    pub async fn wait(&self, path: &str) -> Result<()> {
        wait_until(
            Duration::from_secs(90),
            &format!("the second API server's {path}"),
            || async {
                Ok(kubectl(&self.kubeconfig)
                    .args(["get", "--raw", path])
                    .output()?
                    .status
                    .success())
            },
        )
        .await
    }

    /// Stops it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it and starts it again (its caches empty), waiting for `path`.
    pub async fn restart(&mut self, path: &str) -> Result<()> {
        self.stop();
        self.spawn()?;
        self.wait(path).await
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An admin [`Cluster`] on it.
    pub async fn cluster(&self) -> Result<Cluster> {
        Cluster::connect(&self.kubeconfig).await
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop();
        etcd_delete_prefix(&format!("{}/", self.prefix));
    }
}
