//! `cargo xtask dist`: release artifacts in `target/dist/`.
//!
//! - `kage-<version>-<target>/`: `kage`, `kubectl-kage`, `kage-controller`, `kage-kms` (release,
//!   `--locked`),
//!   `LICENSE`, `README.md`, and the image recipe `Dockerfile` (`deploy/Dockerfile.dist`), so
//!   that folder is the image's build context;
//! - `kage-<version>-<target>.tar.gz` of that folder, byte for byte the same for the same
//!   binaries (sorted names, fixed owner and time);
//! - `kage-cli.cdx.json`, `kage-controller.cdx.json`, `kage-kms.cdx.json`: CycloneDX 1.5 SBOMs of every crate that goes
//!   into each binary, from `cargo cyclonedx` (installed at a pinned version if missing);
//! - `SHA256SUMS` of all of the above, in `sha256sum -c` form.
//!
//! Before it returns, the task checks its own work: `sha256sum -c`, each binary's `--version`,
//! the SBOMs naming their crate and a workspace crate inside it, and every `COPY` of the image
//! recipe present.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::shell::{build_binaries, cargo, cargo_tool, run, workspace_root};

/// The binaries a release ships.
const BINARIES: [&str; 4] = ["kage", "kubectl-kage", "kage-controller", "kage-kms"];
/// The packages whose SBOM is published (the ones the binaries come from), each with a
/// workspace crate its SBOM must list.
const SBOM_PACKAGES: [(&str, &str); 3] = [
    ("kage-cli", "kage-core"),
    ("kage-controller", "kage-core"),
    ("kage-kms", "kage-openbao"),
];
/// The cargo-cyclonedx release the SBOMs are made with.
const CARGO_CYCLONEDX_VERSION: &str = "0.5.9";
/// The image recipe that builds from the release binaries.
const IMAGE_RECIPE: &str = "deploy/Dockerfile.dist";

pub fn dist() -> Result<()> {
    let root = workspace_root();
    let version = env!("CARGO_PKG_VERSION");
    let target = host_target()?;
    let out = root.join("target/dist");
    let _ = std::fs::remove_dir_all(&out);
    let name = format!("kage-{version}-{target}");
    let stage = out.join(&name);
    std::fs::create_dir_all(&stage)?;

    release_build()?;
    for bin in BINARIES {
        std::fs::copy(root.join("target/release").join(bin), stage.join(bin))
            .with_context(|| format!("copying {bin}"))?;
    }
    for (from, to) in [
        ("LICENSE", "LICENSE"),
        ("README.md", "README.md"),
        (IMAGE_RECIPE, "Dockerfile"),
    ] {
        std::fs::copy(root.join(from), stage.join(to))
            .with_context(|| format!("copying {from}"))?;
    }

    let tarball = format!("{name}.tar.gz");
    run(Command::new("tar").current_dir(&out).args([
        "--sort=name",
        "--mtime=@0",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        // -n: no name or time in the gzip header either.
        "--use-compress-program=gzip -n",
        "-cf",
        &tarball,
        &name,
    ]))?;

    let mut artifacts = vec![tarball];
    artifacts.extend(sboms(&out)?);
    let sums: String = artifacts
        .iter()
        .map(|file| {
            Ok(format!(
                "{}  {file}\n",
                sha256_hex(&std::fs::read(out.join(file))?)
            ))
        })
        .collect::<Result<_>>()?;
    std::fs::write(out.join("SHA256SUMS"), &sums)?;

    check(&out, &stage, &artifacts)?;
    println!(
        "release artifacts in {}:\n{sums}image: docker build -t ghcr.io/kage-dev/kage-controller:{version} {}",
        out.display(),
        stage.display()
    );
    Ok(())
}

/// The release build of kage's binaries (`--locked`) into `target/release`: the binaries a
/// release ships and the controller image holds (one build for both).
pub fn release_build() -> Result<()> {
    build_binaries(&["--release", "--locked"])
}

/// Writes the SBOMs with cargo-cyclonedx (which writes one beside every workspace member's
/// Cargo.toml: the published ones are moved into `out`, the others removed). Returns their names.
fn sboms(out: &Path) -> Result<Vec<String>> {
    cargo_tool("cyclonedx", CARGO_CYCLONEDX_VERSION)?;
    run(cargo().args([
        "cyclonedx",
        "--format",
        "json",
        "--spec-version",
        "1.5",
        "--no-build-deps",
        "--quiet",
    ]))?;
    let metadata = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("cargo metadata")?;
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout)?;
    let mut written = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(manifest)) =
            (package["name"].as_str(), package["manifest_path"].as_str())
        else {
            continue;
        };
        let file = format!("{name}.cdx.json");
        let made = Path::new(manifest).with_file_name(&file);
        if SBOM_PACKAGES.iter().any(|(p, _)| *p == name) {
            std::fs::rename(&made, out.join(&file))
                .with_context(|| format!("moving {}", made.display()))?;
            written.push(file);
        } else {
            let _ = std::fs::remove_file(&made);
        }
    }
    if written.len() != SBOM_PACKAGES.len() {
        bail!("cargo cyclonedx wrote {written:?}, expected one SBOM per {SBOM_PACKAGES:?}");
    }
    Ok(written)
}

/// The task's own acceptance check of what it wrote.
fn check(out: &Path, stage: &Path, artifacts: &[String]) -> Result<()> {
    run(Command::new("sha256sum")
        .current_dir(out)
        .args(["--check", "--strict", "SHA256SUMS"]))?;
    for bin in BINARIES {
        let output = Command::new(stage.join(bin))
            .arg("--version")
            .output()
            .with_context(|| format!("running {bin} --version"))?;
        if !output.status.success() {
            bail!("{bin} --version failed");
        }
    }
    for (package, inside) in SBOM_PACKAGES {
        let file = format!("{package}.cdx.json");
        if !artifacts.contains(&file) {
            bail!("no SBOM for {package}");
        }
        let sbom: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join(&file))?)?;
        let names: Vec<&str> = sbom["components"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        if sbom["bomFormat"] != "CycloneDX"
            || sbom["metadata"]["component"]["name"] != package
            || !names.contains(&inside)
        {
            bail!("{file} is not a CycloneDX SBOM of {package} listing its crates");
        }
    }
    let recipe = std::fs::read_to_string(stage.join("Dockerfile"))?;
    for source in copy_sources(&recipe) {
        if !stage.join(source).is_file() {
            bail!("the image recipe copies {source}, which the release folder lacks");
        }
    }
    Ok(())
}

/// The files a Dockerfile's `COPY` lines take from the build context (not from a stage).
fn copy_sources(dockerfile: &str) -> Vec<&str> {
    dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("COPY "))
        .filter(|args| !args.trim_start().starts_with("--from"))
        .flat_map(|args| {
            let words: Vec<&str> = args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            words[..words.len().saturating_sub(1)].to_vec()
        })
        .collect()
}

fn host_target() -> Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV names no host")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_recipe_copies_only_release_files_onto_a_pinned_base() {
        let recipe = std::fs::read_to_string(workspace_root().join(IMAGE_RECIPE)).unwrap();
        assert_eq!(copy_sources(&recipe), ["kage-controller"]);
        let froms: Vec<&str> = recipe.lines().filter(|l| l.starts_with("FROM ")).collect();
        assert_eq!(
            froms.len(),
            1,
            "no build stage: the binary comes from the release"
        );
        assert!(
            froms[0].contains("@sha256:"),
            "base pinned by digest: {}",
            froms[0]
        );
        assert_eq!(
            copy_sources("COPY --from=build /a /b\nCOPY --chmod=755 x y /dst/\n"),
            ["x", "y"]
        );
    }

    #[test]
    fn checksums_are_sha256_hex() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
