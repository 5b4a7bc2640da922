//! What commands read besides their flags: the documents of a manifest file (or stdin), its
//! SealedSecrets, and the recovery recipients that apply to a file.

use std::path::Path;

use anyhow::Context;
use kage_api::SealedSecret;
use kage_api::manifest::{self, Document};
use kage_api::seal::sealed_secret_from_document;

use crate::files;
use crate::outcome::Failure;

/// Reads the documents of a manifest file (or stdin).
pub fn read_documents(path: Option<&Path>) -> Result<Vec<Document>, Failure> {
    let text = files::read_input(path)?;
    let name = path.map_or("stdin".into(), |p| p.display().to_string());
    manifest::read_documents(&text)
        .with_context(|| format!("reading {name}"))
        .map_err(Failure::Input)
}

/// Reads every SealedSecret of a manifest file (or stdin); other documents are skipped.
pub fn read_sealed_secrets(path: Option<&Path>) -> Result<Vec<SealedSecret>, Failure> {
    let docs = read_documents(path)?;
    let sealed = docs
        .iter()
        .filter(|d| manifest::is_sealed_secret(d))
        .map(sealed_secret_from_document)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::Input(e.into()))?;
    if docs.iter().any(crate::sealed_secrets::is_bitnami) && sealed.is_empty() {
        return Err(Failure::Input(anyhow::anyhow!(
            "the input holds a Bitnami SealedSecret (bitnami.com/v1alpha1), not a kage one: `kage migrate` converts it"
        )));
    }
    if sealed.is_empty() {
        return Err(Failure::Input(anyhow::anyhow!(
            "no SealedSecret in the input"
        )));
    }
    Ok(sealed)
}

/// Fingerprints of the recovery recipients that apply to `file`: `--recovery` flags, else the
/// rule of the repository root's `.kage.yaml` (a subfolder's owner cannot vouch for a
/// recipient as a recovery key).
pub fn recovery_fingerprints(
    flags: &[kage_core::Recipient],
    file: Option<&Path>,
) -> Result<Vec<kage_core::Fingerprint>, Failure> {
    if !flags.is_empty() {
        return Ok(flags
            .iter()
            .map(kage_core::Recipient::fingerprint)
            .collect());
    }
    let Some(file) = file.filter(|f| *f != Path::new("-")) else {
        return Ok(Vec::new());
    };
    let layers = crate::kage_yaml::layers_for_file(file).map_err(Failure::Input)?;
    Ok(layers
        .root
        .recovery
        .iter()
        .map(kage_core::Recipient::fingerprint)
        .collect())
}
