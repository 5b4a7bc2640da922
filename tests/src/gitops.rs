//! What GitOps tools make of a live object.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::controller::workspace;
use std::process::Command;

/// What GitOps tools make of a live object, each with its own code (`kage-gitops`, built by
/// `cargo xtask test` from `crates/xtask/gitops`).
#[derive(Debug, PartialEq, Eq)]
pub struct GitOpsView {
    /// Flux's kstatus: `Current`, `InProgress`, `Failed`, ...
    pub kstatus: String,
    /// The Argo CD health check of `deploy/argocd/health.lua`: `Healthy`, `Progressing`,
    /// `Degraded`.
    pub argocd: String,
    /// The Argo CD health message.
    pub argocd_message: String,
}

/// The GitOps view of `object`; `None` (the caller skips) when `$KAGE_GITOPS_BIN` is not set
/// and the e2e suite is not required.
pub fn gitops_view(object: &impl serde::Serialize) -> Option<GitOpsView> {
    let bin = crate::tool_from_env("KAGE_GITOPS_BIN")?;
    let json = serde_json::to_vec(object).expect("object serialises");
    let ask = |args: &[&std::ffi::OsStr]| -> serde_json::Value {
        use std::io::Write;
        let mut child = Command::new(&bin)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("kage-gitops");
        child.stdin.take().unwrap().write_all(&json).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "kage-gitops {args:?} failed");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let kstatus = ask(&["kstatus".as_ref()]);
    let script = workspace().join("deploy/argocd/health.lua");
    let argocd = ask(&["argocd-health".as_ref(), script.as_os_str()]);
    let text =
        |v: &serde_json::Value, field: &str| v[field].as_str().unwrap_or_default().to_owned();
    Some(GitOpsView {
        kstatus: text(&kstatus, "status"),
        argocd: text(&argocd, "status"),
        argocd_message: text(&argocd, "message"),
    })
}
