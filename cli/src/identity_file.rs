//! Identity files (`AGE-SECRET-KEY-1...` lines, as `kage keygen` and `age-keygen` write them):
//! one loader for every command that takes `-i`, the text held in zeroizing buffers.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use kage_core::{Identity, KeyRing};
use zeroize::Zeroizing;

use crate::outcome::Failure;

/// The identities of one file.
fn read(path: &Path) -> anyhow::Result<Vec<Identity>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    Identity::parse_file(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// A ring of every identity of `paths`; a file that is not an identity file is invalid input.
pub fn ring(paths: &[PathBuf]) -> Result<KeyRing, Failure> {
    let mut ring = KeyRing::default();
    for path in paths {
        read(path)
            .map_err(Failure::Input)?
            .into_iter()
            .for_each(|id| ring.insert(id));
    }
    Ok(ring)
}

/// The identities of one file for the age library (to open a key backup).
pub fn read_age_identities(path: &Path) -> anyhow::Result<Vec<age::x25519::Identity>> {
    read(path)?
        .iter()
        .map(|id| {
            id.to_secret_string()
                .parse()
                .map_err(|e| anyhow!("{}: {e}", path.display()))
        })
        .collect()
}
