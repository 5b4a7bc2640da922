//! Running things: the workspace root, cargo, commands that must succeed, PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The workspace root (two folders above this crate).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// `cargo` (the one running xtask), in the workspace root.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// The packages of kage's binaries: `kage` and `kubectl-kage`, `kage-controller`, `kage-kms`.
const BINARY_PACKAGES: [&str; 3] = ["kage-cli", "kage-controller", "kage-kms"];

/// `cargo build` of kage's binaries, with `flags` (`--release`, `--locked`).
pub fn build_binaries(flags: &[&str]) -> Result<()> {
    let mut cmd = cargo();
    cmd.arg("build").args(flags);
    for package in BINARY_PACKAGES {
        cmd.args(["-p", package]);
    }
    run(&mut cmd)
}

/// Runs a command; fails when it does not succeed.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// Installs a cargo subcommand (`cargo-<name>`) at `version` unless that version is installed.
pub fn cargo_tool(name: &str, version: &str) -> Result<()> {
    let installed = Command::new("cargo")
        .args([name, "--version"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(version));
    if !installed {
        run(Command::new("cargo").args([
            "install",
            &format!("cargo-{name}"),
            "--locked",
            "--version",
            version,
        ]))?;
    }
    Ok(())
}

/// PATH with the cluster's tools (kubectl, age) first.
#[allow(
    clippy::expect_used,
    reason = "PATH entries come from PATH itself and from folders kage creates, without separators"
)]
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(existing) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).expect("valid PATH")
}
