//! `kage validate`: offline checks of SealedSecret files.

use std::path::{Path, PathBuf};

use kage_api::manifest;
use kage_api::seal::{sealed_secret_from_document, sealed_values};
use kage_api::template::Templates;
use kage_core::{Location, Scope};

use anyhow::Context;
use kage_api::wire::VerifyAnswer;

use crate::args::ValidateArgs;
use crate::client::PublicKeys;
use crate::files;
use crate::run::{Failure, Outcome};

pub fn run(args: ValidateArgs) -> Outcome {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    let mut checked = 0;
    let mut problems = 0;
    let published = crate::recipients::published_keys(&args.cluster_args);
    let metadata = kage_api::MetadataPolicy::new(&args.allow_metadata_prefix);
    for root in &paths {
        for file in files::manifest_files(root)? {
            let mut found = check_file(&file, &metadata);
            found
                .1
                .extend(check_recipients(&file, published.as_ref(), &args.recovery)?);
            if args.require_recovery {
                found.1.extend(check_recovery(&file, &args.recovery)?);
            }
            if args.cluster && found.0 > 0 && found.1.is_empty() {
                found
                    .1
                    .extend(check_with_cluster(&file, &args.cluster_args)?);
            }
            checked += found.0;
            for problem in &found.1 {
                eprintln!("{}: {problem}", file.display());
            }
            problems += found.1.len();
        }
    }
    eprintln!("checked {checked} SealedSecret(s), {problems} problem(s)");
    if problems > 0 {
        Err(Failure::Invalid)
    } else {
        Ok(())
    }
}

/// Recipients of `file`'s values, held against the cluster's published keys (when they can be
/// read) and the rule of the repository root's `.kage.yaml`: a retired cluster key is a
/// problem (reseal), an older active one a warning, and a recipient that is neither a cluster
/// key nor one the root rule (or `--recovery`) gives this file is a problem (who is it?). A
/// subfolder's `.kage.yaml` vouches for nobody: its owner may not be the values' owner.
fn check_recipients(
    file: &Path,
    keys: Option<&PublicKeys>,
    flags: &[String],
) -> Result<Vec<String>, Failure> {
    let root = crate::kage_yaml::layers_for_file(file)
        .map_err(Failure::Input)?
        .root;
    if keys.is_none() && root.source.is_none() && flags.is_empty() {
        // Offline with nothing configured: nothing to hold the recipients against.
        return Ok(Vec::new());
    }
    let mut trusted = super::recovery_fingerprints(flags, Some(file))?;
    trusted.extend(
        root.recipients()
            .iter()
            .map(kage_core::Recipient::fingerprint),
    );
    let mut problems = Vec::new();
    for (who, key, value) in values_of(file) {
        for fingerprint in value.recipients() {
            let text = fingerprint.to_string();
            match keys.and_then(|keys| {
                let k = keys.keys.iter().find(|k| k.fingerprint == text)?;
                Some((k, k.recipient == keys.current.to_string()))
            }) {
                Some((k, _)) if k.state == kage_api::wire::KeyState::Retired => problems.push(format!(
                    "SealedSecret {who}: key {key:?} is sealed to the retired cluster key {text}: reseal it"
                )),
                Some((_, false)) => eprintln!(
                    "{}: warning: SealedSecret {who}: key {key:?} is sealed to the older cluster key {text}: `kage reseal` moves it to the current key",
                    file.display()
                ),
                Some((_, true)) => {}
                None if trusted.contains(fingerprint) => {}
                None => problems.push(format!(
                    "SealedSecret {who}: key {key:?} is sealed to {text}, which is neither a key of this cluster nor a recipient the repository root's .kage.yaml (or --recovery) gives this file"
                )),
            }
        }
    }
    Ok(problems)
}

/// Every sealed value of `file` that parses, with its object and key; nothing when the file
/// cannot be read (other checks report that).
fn values_of(file: &Path) -> Vec<(String, String, kage_core::SealedValue)> {
    let Ok(docs) = files::read_input(Some(file)).and_then(|t| Ok(manifest::read_documents(&t)?))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for doc in docs.iter().filter(|d| manifest::is_sealed_secret(d)) {
        let Ok(sealed) = sealed_secret_from_document(doc) else {
            continue;
        };
        let who = format!("{}/{}", sealed.namespace_or_empty(), sealed.name_or_empty());
        for (key, value) in sealed_values(&sealed).unwrap_or_default() {
            out.push((who.clone(), key, value));
        }
    }
    out
}

/// Values of `file` that no recovery recipient can open.
fn check_recovery(file: &Path, flags: &[String]) -> Result<Vec<String>, Failure> {
    let recovery = super::recovery_fingerprints(flags, Some(file))?;
    let values = values_of(file);
    if recovery.is_empty() {
        let mut objects: Vec<&String> = values.iter().map(|(who, _, _)| who).collect();
        objects.dedup();
        return Ok(objects
            .into_iter()
            .map(|who| format!(
                "SealedSecret {who}: no recovery recipient is configured for this file (.kage.yaml `recovery:` or --recovery)"
            ))
            .collect());
    }
    Ok(values
        .iter()
        .filter(|(_, _, value)| !value.recipients().iter().any(|f| recovery.contains(f)))
        .map(|(who, key, _)| format!("SealedSecret {who}: key {key:?} has no recovery recipient"))
        .collect())
}

/// SealedSecrets checked in `file`, and the problems found.
fn check_file(file: &Path, metadata: &kage_api::MetadataPolicy) -> (usize, Vec<String>) {
    let docs =
        match files::read_input(Some(file)).and_then(|text| Ok(manifest::read_documents(&text)?)) {
            Ok(docs) => docs,
            // A file that is not a manifest and never mentions SealedSecret is not ours to judge.
            Err(_) if !looks_like_kage(file) => return (0, vec![]),
            Err(e) => return (0, vec![format!("{e:#}")]),
        };
    let mut checked = 0;
    let mut problems = Vec::new();
    for doc in docs.iter().filter(|d| manifest::is_sealed_secret(d)) {
        checked += 1;
        let sealed = match sealed_secret_from_document(doc) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let who = format!("{}/{}", sealed.namespace_or_empty(), sealed.name_or_empty());
        if sealed.metadata.name.is_none() {
            problems.push(format!("SealedSecret {who}: no metadata.name"));
        }
        if sealed.spec.encrypted_data.is_empty() {
            problems.push(format!("SealedSecret {who}: no encryptedData"));
        }
        let values = match sealed_values(&sealed) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("SealedSecret {who}: {}", kage_api::error_chain(&e)));
                continue;
            }
        };
        if let Err(e) = Templates::check_values(&sealed, &values) {
            problems.push(format!("SealedSecret {who}: {e}"));
        }
        if let Some(Err(e)) = sealed.spec.template.as_ref().map(|t| metadata.check(t)) {
            problems.push(format!("SealedSecret {who}: {e}"));
        }
        for (key, value) in values {
            let binding = value.binding();
            if sealed.metadata.namespace.is_none() && binding.scope() != Scope::ClusterWide {
                problems.push(format!(
                    "SealedSecret {who}: key {key:?} is {} but the object has no metadata.namespace",
                    binding.scope()
                ));
                continue;
            }
            let here = Location::new(sealed.namespace_or_empty(), sealed.name_or_empty(), &key);
            if let Err(e) = binding.check(&here) {
                problems.push(format!("SealedSecret {who}: key {key:?}: {e}"));
            }
        }
    }
    (checked, problems)
}

fn looks_like_kage(file: &Path) -> bool {
    std::fs::read_to_string(file).is_ok_and(|t| t.contains("SealedSecret"))
}

/// Asks the controller whether it can unseal every SealedSecret of `file`.
fn check_with_cluster(
    file: &Path,
    cluster: &crate::args::ClusterArgs,
) -> anyhow::Result<Vec<String>> {
    let text = files::read_input(Some(file))?;
    let sealed: Vec<_> = manifest::read_documents(&text)?
        .into_iter()
        .filter(manifest::is_sealed_secret)
        .collect();
    let body = manifest::write_documents(&sealed, manifest::OutputFormat::Yaml);
    let answer = crate::client::block_on(crate::client::call_controller(
        cluster,
        "POST",
        "/v1/verify",
        body.into_bytes(),
    ))?;
    let answer: VerifyAnswer =
        serde_json::from_str(&answer).context("reading the controller's answer")?;
    let mut problems = Vec::new();
    for result in answer.results.iter().filter(|r| !r.ok) {
        let who = format!("{}/{}", result.namespace, result.name);
        for verdict in result.keys.iter().filter(|v| !v.ok) {
            problems.push(format!(
                "SealedSecret {who}: key {:?} cannot be unsealed by the cluster: {}",
                verdict.key,
                verdict.reason.as_deref().unwrap_or("unknown reason")
            ));
        }
        if result.keys.is_empty() {
            problems.push(format!(
                "SealedSecret {who}: nothing the cluster can unseal"
            ));
        }
    }
    Ok(problems)
}
