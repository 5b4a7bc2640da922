//! `kage validate`: offline checks of SealedSecret files.

use std::path::{Path, PathBuf};

use kage_api::manifest;
use kage_api::seal::{sealed_secret_from_document, sealed_values};
use kage_api::template::Templates;
use kage_core::{Location, Scope};

use serde::Serialize;

use crate::args::ValidateArgs;
use crate::cluster::Cluster;
use crate::files;
use crate::outcome::{Failure, Outcome};
use kage_api::wire::PublishedKeys;

/// What `kage validate` found: the `-o json|yaml` report, or the text on stderr.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// kage SealedSecrets checked.
    pub checked: usize,
    /// Files read.
    pub files: usize,
    /// What fails the check.
    pub problems: Vec<Finding>,
    /// What is worth knowing but does not fail it.
    pub warnings: Vec<Finding>,
    /// Files not checked, and why.
    pub skipped: Vec<Finding>,
}

/// One line of a [`Report`].
#[derive(Debug, Serialize)]
pub struct Finding {
    /// The file (or the PATH given, for "nothing to check").
    pub file: PathBuf,
    /// What was found.
    pub message: String,
}

impl Report {
    fn add(list: &mut Vec<Finding>, file: &Path, message: impl Into<String>) {
        list.push(Finding {
            file: file.to_path_buf(),
            message: message.into(),
        });
    }
}

pub fn run(args: ValidateArgs) -> Outcome {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let exclude = exclusions(&args.exclude)?;
    let cluster = Cluster::new(&args.cluster_args)?;
    let published = crate::recipients::published_keys(&cluster);
    let metadata = kage_api::MetadataPolicy::new(&args.allow_metadata_prefix);
    let mut report = Report::default();
    for root in &paths {
        let mut found_here = 0;
        for file in files::manifest_files(root)? {
            if exclude.is_match(file.strip_prefix(".").unwrap_or(&file)) {
                continue;
            }
            report.files += 1;
            let mut found = check_file(&file, &metadata, &mut report);
            found_here += found.checked + found.plaintext;
            if found.checked > 0 {
                let recipients = check_recipients(
                    &file,
                    &found.values,
                    published.as_ref(),
                    &args.recovery,
                    &mut report,
                )?;
                found.problems.extend(recipients);
                if args.require_recovery {
                    let recovery = check_recovery(&file, &found.values, &args.recovery)?;
                    found.problems.extend(recovery);
                }
                if args.cluster && found.problems.is_empty() {
                    let verdicts = check_with_cluster(&found.sealed, &cluster)?;
                    found.problems.extend(verdicts);
                }
            }
            report.checked += found.checked;
            for problem in found.problems {
                Report::add(&mut report.problems, &file, problem);
            }
        }
        if found_here == 0 && !args.allow_empty {
            Report::add(
                &mut report.problems,
                root,
                "nothing to check: no kage SealedSecret (or plaintext Secret) here; a check that finds nothing would pass by accident (--allow-empty accepts it)",
            );
        }
    }
    match args.format {
        Some(format) => print!(
            "{}",
            manifest::write_documents(
                &[serde_json::to_value(&report).map_err(anyhow::Error::from)?],
                format.into()
            )
        ),
        None => {
            for (label, list) in [
                ("skipped: ", &report.skipped),
                ("warning: ", &report.warnings),
                ("", &report.problems),
            ] {
                for finding in list {
                    eprintln!("{}: {label}{}", finding.file.display(), finding.message);
                }
            }
            eprintln!(
                "checked {} SealedSecret(s), {} problem(s) ({} file(s) read, {} skipped)",
                report.checked,
                report.problems.len(),
                report.files,
                report.skipped.len()
            );
        }
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Invalid)
    }
}

/// The `--exclude` globs.
fn exclusions(globs: &[String]) -> Result<globset::GlobSet, Failure> {
    let mut set = globset::GlobSetBuilder::new();
    for glob in globs {
        set.add(
            globset::Glob::new(glob.trim_start_matches("./"))
                .map_err(|e| Failure::Input(anyhow::anyhow!("--exclude {glob}: {e}")))?,
        );
    }
    set.build()
        .map_err(|e| Failure::Input(anyhow::anyhow!("--exclude: {e}")))
}

/// Recipients of `file`'s values, held against the cluster's published keys (when they can be
/// read) and the rule of the repository root's `.kage.yaml`: a retired cluster key is a
/// problem (reseal), an older active one a warning, and a recipient that is neither a cluster
/// key nor one the root rule (or `--recovery`) gives this file is a problem (who is it?). A
/// subfolder's `.kage.yaml` vouches for nobody: its owner may not be the values' owner.
fn check_recipients(
    file: &Path,
    values: &[(String, String, kage_core::SealedValue)],
    keys: Option<&PublishedKeys>,
    flags: &[kage_core::Recipient],
    report: &mut Report,
) -> Result<Vec<String>, Failure> {
    let root = crate::kage_yaml::layers_for_file(file)
        .map_err(Failure::Input)?
        .root;
    if keys.is_none() && root.source.is_none() && flags.is_empty() {
        // Offline with nothing configured: nothing to hold the recipients against.
        return Ok(Vec::new());
    }
    let mut trusted = crate::input::recovery_fingerprints(flags, Some(file))?;
    trusted.extend(
        root.recipients()
            .iter()
            .map(kage_core::Recipient::fingerprint),
    );
    let mut problems = Vec::new();
    for (who, key, value) in values {
        for fingerprint in value.recipients() {
            let text = fingerprint.to_string();
            match keys.and_then(|keys| {
                let k = keys.keys.iter().find(|k| k.fingerprint == *fingerprint)?;
                Some((k, k.recipient == keys.current))
            }) {
                Some((k, _)) if k.state == kage_api::wire::KeyState::Retired => problems.push(format!(
                    "SealedSecret {who}: key {key:?} is sealed to the retired cluster key {text}: reseal it"
                )),
                Some((_, false)) => Report::add(
                    &mut report.warnings,
                    file,
                    format!("SealedSecret {who}: key {key:?} is sealed to the older cluster key {text}: `kage reseal` moves it to the current key"),
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

/// Values of `file` that no recovery recipient can open.
fn check_recovery(
    file: &Path,
    values: &[(String, String, kage_core::SealedValue)],
    flags: &[kage_core::Recipient],
) -> Result<Vec<String>, Failure> {
    let recovery = crate::input::recovery_fingerprints(flags, Some(file))?;
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

/// What [`check_file`] found in one file.
#[derive(Default)]
struct Found {
    /// kage SealedSecrets checked.
    checked: usize,
    /// Plaintext Secrets found (each also a problem).
    plaintext: usize,
    /// Problems.
    problems: Vec<String>,
    /// Every value of the kage SealedSecrets that parses, with its object and key.
    values: Vec<(String, String, kage_core::SealedValue)>,
    /// The kage SealedSecret documents, for the controller to verify.
    sealed: Vec<manifest::Document>,
}

/// Checks every document of `file`: kage SealedSecrets in full, plaintext Secrets refused,
/// Bitnami SealedSecrets and files that are not Kubernetes manifests noted as skipped.
fn check_file(file: &Path, metadata: &kage_api::MetadataPolicy, report: &mut Report) -> Found {
    let mut found = Found::default();
    if let Some(chart) = in_helm_chart_templates(file) {
        Report::add(
            &mut report.skipped,
            file,
            format!(
                "a template of the Helm chart {}, not a manifest",
                chart.display()
            ),
        );
        return found;
    }
    let text = match files::read_input(Some(file)) {
        Ok(text) => text,
        Err(e) => {
            found.problems.push(format!("{e:#}"));
            return found;
        }
    };
    let docs = match manifest::read_documents(&text) {
        Ok(docs) => docs,
        Err(_) if text.contains("{{") => {
            Report::add(
                &mut report.skipped,
                file,
                "a template ({{ }}), not a manifest",
            );
            return found;
        }
        Err(manifest::ManifestError::NotAnObject { .. }) => {
            Report::add(
                &mut report.skipped,
                file,
                "not a Kubernetes manifest (a document without apiVersion and kind): a values or configuration file",
            );
            return found;
        }
        // Neither YAML nor JSON and never mentioning a Secret: not ours to judge.
        Err(_) if !text.contains("Secret") => {
            Report::add(&mut report.skipped, file, "neither YAML nor JSON");
            return found;
        }
        Err(e) => {
            found.problems.push(format!("{e:#}"));
            return found;
        }
    };
    for doc in &docs {
        if let Some(who) = plaintext_secret(doc) {
            found.plaintext += 1;
            found.problems.push(format!(
                "Secret {who} holds plaintext values (data or stringData) in a file meant for git: seal it with `kage seal -f {} -w <sealed file>`, commit the sealed file, delete this one and rotate the values if they were ever pushed",
                file.display()
            ));
        } else if crate::sealed_secrets::is_bitnami(doc) {
            Report::add(
                &mut report.skipped,
                file,
                format!(
                    "SealedSecret {} is Bitnami's, not kage's: `kage migrate` converts it",
                    object_name(doc)
                ),
            );
        } else if manifest::is_sealed_secret(doc) {
            found.checked += 1;
            check_sealed_secret(doc, metadata, &mut found);
            found.sealed.push(doc.clone());
        }
    }
    found
}

/// `namespace/name` of a `v1` Secret that carries values, if `doc` is one.
fn plaintext_secret(doc: &manifest::Document) -> Option<String> {
    let has_values = |field: &str| {
        doc.get(field)
            .and_then(|d| d.as_object())
            .is_some_and(|d| !d.is_empty())
    };
    (manifest::kind(doc) == Some("Secret")
        && manifest::api_version(doc) == Some("v1")
        && (has_values("data") || has_values("stringData")))
    .then(|| object_name(doc))
}

/// `namespace/name` of a document, for messages.
fn object_name(doc: &manifest::Document) -> String {
    let field = |f: &str| {
        doc.pointer(&format!("/metadata/{f}"))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    format!("{}/{}", field("namespace"), field("name"))
}

/// The chart folder when `file` lies in a Helm chart's `templates/` folder.
fn in_helm_chart_templates(file: &Path) -> Option<&Path> {
    file.ancestors()
        .skip(1)
        .find(|dir| dir.file_name().is_some_and(|n| n == "templates"))
        .and_then(Path::parent)
        .filter(|chart| chart.join("Chart.yaml").is_file())
}

/// Adds the problems and the values of one kage SealedSecret document to `found`.
fn check_sealed_secret(
    doc: &manifest::Document,
    metadata: &kage_api::MetadataPolicy,
    found: &mut Found,
) {
    let problems = &mut found.problems;
    let sealed = match sealed_secret_from_document(doc) {
        Ok(s) => s,
        Err(e) => return problems.push(e.to_string()),
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
            return problems.push(format!("SealedSecret {who}: {}", kage_api::error_chain(&e)));
        }
    };
    if let Err(e) = kage_api::seal::check_name(sealed.name_or_empty(), sealed.namespace_or_empty())
        .and_then(|()| kage_api::seal::check_sealed_type(&sealed))
    {
        problems.push(format!("SealedSecret {who}: {e}"));
    }
    if let Err(e) = Templates::check_values(&sealed, &values) {
        problems.push(format!("SealedSecret {who}: {e}"));
    }
    if let Some(Err(e)) = sealed.spec.template.as_ref().map(|t| metadata.check(t)) {
        problems.push(format!("SealedSecret {who}: {e}"));
    }
    for (key, value) in &values {
        let binding = value.binding();
        if sealed.metadata.namespace.is_none() && binding.scope() != Scope::ClusterWide {
            problems.push(format!(
                "SealedSecret {who}: key {key:?} is {} but the object has no metadata.namespace",
                binding.scope()
            ));
            continue;
        }
        let here = Location::new(sealed.namespace_or_empty(), sealed.name_or_empty(), key);
        if let Err(e) = binding.check(&here) {
            problems.push(format!("SealedSecret {who}: key {key:?}: {e}"));
        }
    }
    found.values.extend(
        values
            .into_iter()
            .map(|(key, value)| (who.clone(), key, value)),
    );
}

/// Asks the controller whether it can unseal every SealedSecret of a file.
fn check_with_cluster(
    sealed: &[manifest::Document],
    cluster: &Cluster,
) -> anyhow::Result<Vec<String>> {
    let body = manifest::write_documents(sealed, manifest::OutputFormat::Yaml);
    let answer = cluster.block_on(cluster.verify(body))?;
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
