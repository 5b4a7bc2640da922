//! `cargo xtask image`: the controller image as an OCI archive, without a Docker daemon.
//!
//! One layer holds the release binary, exactly the shared libraries `ldd` says it loads, the
//! machine's CA certificates and a `passwd`/`group` naming the non-root user 65532; no shell,
//! no package manager. That is what `deploy/Dockerfile.dist` puts on distroless `cc`, built here
//! from files instead of pulled. Every timestamp is zero and every list sorted, so the same
//! inputs give the same digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::shell::workspace_root;

/// The name the shipped manifests and chart run (`deploy/base/deployment.yaml`).
pub const CONTROLLER_IMAGE: &str = concat!(
    "ghcr.io/kage-dev/kage-controller:",
    env!("CARGO_PKG_VERSION")
);
/// The user the image runs as (distroless' `nonroot`; the manifests' `runAsUser`).
const NON_ROOT: u32 = 65532;
/// Where the CA certificates come from and go (Debian's bundle).
const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// A single-layer image: its files (path inside the image → mode and content) and how it runs.
pub struct ImageSpec {
    /// `registry/name:tag`, written as the archive's reference annotations.
    pub name: String,
    /// The entrypoint (an absolute path inside the image, then its arguments).
    pub entrypoint: Vec<String>,
    /// `uid:gid`.
    pub user: String,
    /// Files of the layer, by path without a leading `/`.
    pub files: BTreeMap<String, (u32, Vec<u8>)>,
}

/// An OCI archive written by [`ImageSpec::write_archive`].
pub struct Archive {
    /// The manifest's digest (`sha256:...`): what a runtime reports as the image's digest.
    pub digest: String,
    /// Bytes of the compressed layer.
    pub layer_size: usize,
}

impl ImageSpec {
    /// Writes an OCI image layout as one tar archive (`ctr images import` reads it) to `out`.
    pub fn write_archive(&self, out: &Path) -> Result<Archive> {
        let layer_tar = tar_of(
            self.files
                .iter()
                .map(|(p, (m, c))| (p.as_str(), *m, &c[..])),
        )?;
        let diff_id = sha256(&layer_tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &layer_tar)?;
        let layer = gz.finish()?;
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "User": self.user,
                "Entrypoint": self.entrypoint,
                "Env": ["PATH=/"],
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))?;
        let descriptor = |media: &str, bytes: &[u8]| serde_json::json!({"mediaType": media, "digest": sha256(bytes), "size": bytes.len()});
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &layer)],
        }))?;
        let tag = self.name.rsplit_once(':').map_or("latest", |(_, t)| t);
        let mut index_entry = descriptor("application/vnd.oci.image.manifest.v1+json", &manifest);
        index_entry["annotations"] = serde_json::json!({
            "io.containerd.image.name": self.name,
            "org.opencontainers.image.ref.name": tag,
        });
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [index_entry],
        }))?;
        let blob = |bytes: &[u8]| format!("blobs/{}", sha256(bytes).replace(':', "/"));
        let entries = [
            (
                "oci-layout".to_owned(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            ("index.json".to_owned(), index),
            (blob(&manifest), manifest.clone()),
            (blob(&config), config),
            (blob(&layer), layer.clone()),
        ];
        let archive = tar_of(entries.iter().map(|(p, c)| (p.as_str(), 0o644, &c[..])))?;
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let partial = out.with_extension("partial");
        std::fs::write(&partial, archive)?;
        std::fs::rename(&partial, out)?;
        Ok(Archive {
            digest: sha256(&manifest),
            layer_size: layer.len(),
        })
    }
}

/// A tar of `files` (sorted by path, parent folders first), owned by root, dated 0.
fn tar_of<'a>(files: impl Iterator<Item = (&'a str, u32, &'a [u8])>) -> Result<Vec<u8>> {
    let mut files: Vec<_> = files.collect();
    files.sort_by(|a, b| a.0.cmp(b.0));
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    let header = |kind: tar::EntryType, mode: u32, size: usize| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size as u64);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    for (path, mode, content) in files {
        for dir in Path::new(path).ancestors().skip(1) {
            let dir = dir.to_string_lossy();
            if !dir.is_empty() && dirs.insert(dir.to_string()) {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                builder.append_data(&mut h, format!("{dir}/"), std::io::empty())?;
            }
        }
        let mut h = header(tar::EntryType::Regular, mode, content.len());
        builder.append_data(&mut h, path, content)?;
    }
    Ok(builder.into_inner()?)
}

fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The files every image of the node gets: the non-root user and group.
fn base_files() -> BTreeMap<String, (u32, Vec<u8>)> {
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NON_ROOT}:{NON_ROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnonroot:x:{NON_ROOT}:\n");
    BTreeMap::from([
        ("etc/passwd".to_owned(), (0o644, passwd.into_bytes())),
        ("etc/group".to_owned(), (0o644, group.into_bytes())),
    ])
}

/// The shared libraries `binary` loads, by the absolute path the dynamic loader finds them
/// at (the loader itself included); empty for a static binary.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .context("running ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if text.contains("not a dynamic executable") || stderr.contains("not a dynamic executable")
        {
            return Ok(Vec::new());
        }
        bail!(
            "ldd {}: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        match path {
            Some(p) if p.starts_with('/') => libs.push(PathBuf::from(p)),
            Some("not") => bail!("ldd {}: {line}", binary.display()),
            _ => {}
        }
    }
    Ok(libs)
}

/// Adds `binary` at `/name` and the libraries it loads at their own paths.
fn add_program(
    files: &mut BTreeMap<String, (u32, Vec<u8>)>,
    binary: &Path,
    name: &str,
) -> Result<()> {
    files.insert(name.to_owned(), (0o755, read(binary)?));
    for lib in shared_libraries(binary)? {
        let inside = lib.to_string_lossy().trim_start_matches('/').to_owned();
        files.insert(inside, (0o755, read(&lib)?));
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The controller's image spec from a built binary.
pub fn controller_spec(binary: &Path) -> Result<ImageSpec> {
    let mut files = base_files();
    add_program(&mut files, binary, "kage-controller")?;
    files.insert(
        CA_BUNDLE.to_owned(),
        (0o644, read(&Path::new("/").join(CA_BUNDLE))?),
    );
    Ok(ImageSpec {
        name: CONTROLLER_IMAGE.to_owned(),
        entrypoint: vec!["/kage-controller".to_owned()],
        user: format!("{NON_ROOT}:{NON_ROOT}"),
        files,
    })
}

/// The image's archive in `target/image/`.
pub fn controller_archive_path() -> PathBuf {
    workspace_root().join("target/image/kage-controller.oci.tar")
}

/// `cargo xtask image`: release build (`--locked`), then the archive; prints its digest.
pub fn build_controller_image() -> Result<(PathBuf, Archive)> {
    crate::dist::release_build()?;
    let binary = workspace_root().join("target/release/kage-controller");
    let out = controller_archive_path();
    let archive = controller_spec(&binary)?.write_archive(&out)?;
    println!(
        "{CONTROLLER_IMAGE} {} (layer {:.1} MiB) in {}",
        archive.digest,
        archive.layer_size as f64 / 1024.0 / 1024.0,
        out.display()
    );
    Ok((out, archive))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(content: &[u8]) -> ImageSpec {
        let mut files = base_files();
        files.insert("bin/x".to_owned(), (0o755, content.to_vec()));
        ImageSpec {
            name: "example.test/x:1".to_owned(),
            entrypoint: vec!["/bin/x".to_owned()],
            user: "65532:65532".to_owned(),
            files,
        }
    }

    #[test]
    fn the_same_files_give_the_same_digest_and_other_files_another() {
        let dir = std::env::temp_dir().join(format!("kage-image-test-{}", std::process::id()));
        let a = spec(b"one").write_archive(&dir.join("a.tar")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = spec(b"one").write_archive(&dir.join("b.tar")).unwrap();
        let c = spec(b"two").write_archive(&dir.join("c.tar")).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_eq!(
            std::fs::read(dir.join("a.tar")).unwrap(),
            std::fs::read(dir.join("b.tar")).unwrap()
        );
        assert_ne!(a.digest, c.digest);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_layer_is_owned_by_root_dated_zero_and_runs_as_non_root() {
        let dir = std::env::temp_dir().join(format!("kage-image-layer-{}", std::process::id()));
        let path = dir.join("x.tar");
        spec(b"one").write_archive(&path).unwrap();
        let mut outer = tar::Archive::new(std::fs::File::open(&path).unwrap());
        let mut blobs = BTreeMap::new();
        for entry in outer.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().to_string();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            blobs.insert(name, bytes);
        }
        let index: serde_json::Value = serde_json::from_slice(&blobs["index.json"]).unwrap();
        let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
        let blob = |d: &str| &blobs[&format!("blobs/{}", d.replace(':', "/"))];
        let manifest: serde_json::Value = serde_json::from_slice(blob(manifest_digest)).unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
        assert_eq!(config["config"]["User"], "65532:65532");
        let layer = blob(manifest["layers"][0]["digest"].as_str().unwrap());
        let mut inner = tar::Archive::new(flate2::read::GzDecoder::new(&layer[..]));
        let mut names = Vec::new();
        for entry in inner.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            assert_eq!(
                (h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()),
                (0, 0, 0)
            );
            names.push(entry.path().unwrap().to_string_lossy().to_string());
        }
        assert_eq!(
            names,
            ["bin/", "bin/x", "etc/", "etc/group", "etc/passwd"],
            "no shell, nothing but the files given"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_dynamic_binary_brings_its_loader_and_libraries() {
        let libs = shared_libraries(Path::new("/bin/ls")).unwrap();
        assert!(libs.iter().any(|l| l.to_string_lossy().contains("libc.so")));
        assert!(
            libs.iter()
                .any(|l| l.to_string_lossy().contains("ld-linux"))
        );
    }
}
