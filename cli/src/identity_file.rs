//! Identity files (`AGE-SECRET-KEY-1...` lines, as `kage keygen` and `age-keygen` write them):
//! one loader for every command that takes `-i`, the text held in zeroizing buffers.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use kage_core::{Identity, KeyRing};
use zeroize::Zeroizing;

use crate::outcome::Failure;

/// The identities of one file; a file that is not an identity file is invalid input.
pub fn read(path: &Path) -> Result<Vec<Identity>, Failure> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    Identity::parse_file(&text).map_err(|e| Failure::Input(anyhow!("{}: {e}", path.display())))
}

/// A ring of every identity of `paths`.
pub fn ring(paths: &[PathBuf]) -> Result<KeyRing, Failure> {
    let mut ring = KeyRing::default();
    for path in paths {
        read(path)?.into_iter().for_each(|id| ring.insert(id));
    }
    Ok(ring)
}

/// The identities of one file for the age library (to open a key backup).
pub fn read_age_identities(path: &Path) -> anyhow::Result<Vec<age::x25519::Identity>> {
    let ids = read(path).map_err(|e| match e {
        Failure::Input(e) | Failure::Unseal(e) | Failure::Other(e) => e,
        Failure::Invalid => anyhow!("{}: not an identity file", path.display()),
    })?;
    ids.iter()
        .map(|id| {
            id.to_secret_string()
                .parse()
                .map_err(|e| anyhow!("{}: {e}", path.display()))
        })
        .collect()
}
