//! `kage reseal`: move SealedSecret files to the cluster's current key, in place.
//!
//! Through the controller by default (plaintext never leaves the cluster), or offline with
//! `-i`. Each value keeps its binding and scope. Only SealedSecret documents change; the
//! other documents of a file are written back as they were read, and each file is replaced
//! atomically, or not at all.

use std::path::Path;

use anyhow::{Context, anyhow};
use kage_api::manifest::{self, Document, OutputFormat};
use kage_api::seal::{sealed_secret_from_document, sealed_secret_to_document, sealed_values};
use kage_core::{Fingerprint, KeyRing, Location, Recipient, seal};

use crate::args::ResealArgs;
use crate::cluster::Cluster;
use crate::manifest_file::ManifestFile;
use crate::outcome::{Failure, Outcome};
use crate::recipients::{self, Origin};
use crate::{files, kage_yaml};
use kage_api::wire::PublishedKeys;

/// Request bodies sent to the controller are kept under this size: half its limit
/// ([`kage_api::MAX_REQUEST_BYTES`]), so a batch is never refused for its size alone.
const BATCH_BYTES: usize = kage_api::MAX_REQUEST_BYTES / 2;

pub fn run(args: ResealArgs) -> Outcome {
    let ring = load_identities(&args)?;
    let paths = if args.paths.is_empty() {
        vec![".".into()]
    } else {
        args.paths.clone()
    };
    let mut all = Vec::new();
    for root in &paths {
        all.extend(files::manifest_files(root)?);
    }
    let mut failed = 0;
    let mut resealed = 0;
    let verb = if args.dry_run {
        "would reseal"
    } else {
        "resealed"
    };
    let allowed = &args.drop_recipients;
    let mut report = |file: &Path, outcome: anyhow::Result<usize>| match outcome {
        Ok(0) => {}
        Ok(n) => {
            resealed += n;
            eprintln!("{}: {verb} {n} SealedSecret(s)", file.display());
        }
        Err(e) => {
            failed += 1;
            eprintln!("{}: {e:#} (file left unchanged)", file.display());
        }
    };
    let cluster = Cluster::new(&args.cluster)?;
    let published = match &ring {
        Some(_) => recipients::published_keys(&cluster),
        // Through the controller, the cluster must be there: say why it is not.
        None => Some(recipients::fetch_published_keys(&cluster)?),
    };
    match &ring {
        Some(ring) => {
            for file in &all {
                let outcome = FileJob::read(file, published.as_ref(), &args).and_then(|job| {
                    let Some(job) = job else {
                        return Ok(0);
                    };
                    let chosen =
                        recipients::choose(&args.recipients, &job.configured, published.as_ref())?;
                    let after: Vec<_> = chosen.iter().map(Recipient::fingerprint).collect();
                    job.check_coverage(&after, published.as_ref(), allowed)?;
                    let fresh =
                        reseal_offline(&job.sealed_documents(), ring, &chosen, published.as_ref())?;
                    job.write(fresh)
                });
                report(file, outcome);
            }
        }
        None => reseal_through_controller(
            &all,
            &args,
            &cluster,
            (published.as_ref(), allowed),
            &mut report,
        ),
    }
    eprintln!("{verb} {resealed} SealedSecret(s); {failed} file(s) failed");
    if failed > 0 {
        return Err(Failure::Unseal(anyhow!(
            "{failed} file(s) could not be resealed"
        )));
    }
    Ok(())
}

fn load_identities(args: &ResealArgs) -> Result<Option<KeyRing>, Failure> {
    if args.identities.is_empty() {
        return Ok(None);
    }
    Ok(Some(crate::identity_file::ring(&args.identities)?))
}

/// The SealedSecrets of one file, on their way to being resealed.
struct FileJob {
    file: ManifestFile,
    /// What `.kage.yaml` says for this file.
    configured: kage_yaml::Resolved,
    /// `--dry-run`: say what would change, write nothing.
    dry_run: bool,
}

impl FileJob {
    /// Reads a file; `None` when it holds no SealedSecret (or is not a manifest at all).
    /// `.kage.yaml` is read as a command that opens values must read it
    /// ([`recipients::for_resealing`]), and not at all when `-r` replaces it.
    fn read(
        file: &Path,
        published: Option<&PublishedKeys>,
        args: &ResealArgs,
    ) -> anyhow::Result<Option<FileJob>> {
        let flags = &args.recipients;
        // Not a manifest, or nothing sealed: not ours to touch.
        let Some(manifest) = ManifestFile::read_if_any(file, manifest::is_sealed_secret)? else {
            return Ok(None);
        };
        let configured = if flags.is_empty() {
            recipients::for_resealing(file, published)?
        } else {
            kage_yaml::Resolved::default()
        };
        Ok(Some(FileJob {
            file: manifest,
            configured,
            dry_run: args.dry_run,
        }))
    }

    /// Every value of the file's SealedSecrets, with the object it belongs to.
    fn values(&self) -> Vec<(String, String, kage_core::SealedValue)> {
        let mut out = Vec::new();
        for doc in self.sealed_documents() {
            let Ok(object) = sealed_secret_from_document(&doc) else {
                continue;
            };
            let who = format!("{}/{}", object.namespace_or_empty(), object.name_or_empty());
            for (key, value) in sealed_values(&object).unwrap_or_default() {
                out.push((who.clone(), key, value));
            }
        }
        out
    }

    /// Refuses the file when a value would lose a recipient that is not a cluster key and
    /// not named with `--drop-recipient` (see [`recipients::dropped`]).
    fn check_coverage(
        &self,
        after: &[Fingerprint],
        published: Option<&PublishedKeys>,
        allowed: &[Fingerprint],
    ) -> anyhow::Result<()> {
        for (who, key, value) in self.values() {
            let lost = recipients::dropped(value.recipients(), after, published, allowed);
            if !lost.is_empty() {
                return Err(recipients::dropped_error(
                    &format!("SealedSecret {who} key {key:?}"),
                    &lost,
                ));
            }
        }
        Ok(())
    }

    fn sealed_documents(&self) -> Vec<Document> {
        self.file.selected().cloned().collect()
    }

    /// Puts the resealed documents in place and replaces the file atomically; returns how many.
    fn write(mut self, fresh: Vec<Document>) -> anyhow::Result<usize> {
        let before = self.values();
        self.file.replace(fresh)?;
        if self.dry_run {
            for ((who, key, old), (_, _, new)) in before.iter().zip(self.values()) {
                let list = |v: &kage_core::SealedValue| {
                    v.recipients()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                eprintln!(
                    "{}: SealedSecret {who} key {key:?}: sealed to {} -> {}",
                    self.file.path.display(),
                    list(old),
                    list(&new)
                );
            }
            return Ok(self.file.positions.len());
        }
        self.file.write()?;
        Ok(self.file.positions.len())
    }
}

/// Reseals every file through the controller, many files per request: files are batched up
/// to [`kage_api::MAX_OBJECTS_PER_REQUEST`] objects, [`kage_api::MAX_VALUES_PER_REQUEST`]
/// values and [`BATCH_BYTES`], never split, and
/// grouped by the recipients `.kage.yaml` keeps. When a batch is refused, its files are sent
/// again one by one so that each error names its own file.
fn reseal_through_controller(
    all: &[std::path::PathBuf],
    args: &ResealArgs,
    cluster: &Cluster,
    (published, allowed): (Option<&PublishedKeys>, &[Fingerprint]),
    report: &mut impl FnMut(&Path, anyhow::Result<usize>),
) {
    /// Files sent in one request, with their object and value counts and body size.
    #[derive(Default)]
    struct Batch {
        jobs: Vec<FileJob>,
        objects: usize,
        values: usize,
        bytes: usize,
    }
    // Files whose rules keep the same recovery recipients go in the same requests.
    let mut groups: std::collections::BTreeMap<Vec<String>, (Vec<Recipient>, Vec<Batch>)> =
        Default::default();
    for file in all {
        let job = match FileJob::read(file, published, args) {
            Ok(Some(job)) => job,
            Ok(None) => continue,
            Err(e) => {
                report(file, Err(e));
                continue;
            }
        };
        // Only recovery recipients are kept: every cluster key but the current one is dropped
        // (after a compromise, an old key is the stolen one).
        let keep = &job.configured.recovery;
        let after: Vec<Fingerprint> = keep
            .iter()
            .chain(published.map(|k| &k.current))
            .map(Recipient::fingerprint)
            .collect();
        if let Err(e) = job.check_coverage(&after, published, allowed) {
            report(file, Err(e));
            continue;
        }
        let group_key: Vec<String> = keep.iter().map(ToString::to_string).collect();
        let (_, batches) = groups
            .entry(group_key)
            .or_insert_with(|| (keep.clone(), Vec::new()));
        let objects = job.file.positions.len();
        let sealed = job.sealed_documents();
        let values: usize = sealed
            .iter()
            .filter_map(|d| {
                d.pointer("/spec/encryptedData")?
                    .as_object()
                    .map(|m| m.len())
            })
            .sum();
        let bytes = manifest::write_documents(&sealed, OutputFormat::Yaml).len();
        let fits = batches.last().is_some_and(|batch| {
            batch.objects + objects <= kage_api::MAX_OBJECTS_PER_REQUEST
                && batch.values + values <= kage_api::MAX_VALUES_PER_REQUEST
                && batch.bytes + bytes <= BATCH_BYTES
        });
        if !fits {
            batches.push(Batch::default());
        }
        if let Some(batch) = batches.last_mut() {
            batch.jobs.push(job);
            batch.objects += objects;
            batch.values += values;
            batch.bytes += bytes;
        }
    }
    let current = published.map(|k| &k.current);
    for (keep, batches) in groups.into_values() {
        let mut list: Vec<Recipient> = current.into_iter().cloned().collect();
        list.extend(keep.iter().cloned());
        recipients::announce(&Origin::Controller, &list, &keep);
        for Batch { jobs: batch, .. } in batches {
            let docs: Vec<Document> = batch.iter().flat_map(FileJob::sealed_documents).collect();
            match reseal_in_cluster(&docs, cluster, &keep, current) {
                Ok(mut fresh) if fresh.len() == docs.len() => {
                    for job in batch {
                        let rest = fresh.split_off(job.file.positions.len());
                        let path = job.file.path.clone();
                        report(&path, job.write(std::mem::replace(&mut fresh, rest)));
                    }
                }
                Ok(_) | Err(_) if batch.len() > 1 => {
                    for job in batch {
                        let path = job.file.path.clone();
                        let outcome =
                            reseal_in_cluster(&job.sealed_documents(), cluster, &keep, current)
                                .and_then(|fresh| job.write(fresh));
                        report(&path, outcome);
                    }
                }
                // One file: its answer, or its error.
                outcome => {
                    if let Some(job) = batch.into_iter().next() {
                        let path = job.file.path.clone();
                        report(&path, outcome.and_then(|fresh| job.write(fresh)));
                    }
                }
            }
        }
    }
}

/// Reseals with identities held here. A recipient that could not open a value before is
/// named on stderr: a reseal should move values to new cluster keys, not to new people.
fn reseal_offline(
    sealed: &[Document],
    ring: &KeyRing,
    recipients: &[Recipient],
    published: Option<&PublishedKeys>,
) -> anyhow::Result<Vec<Document>> {
    sealed
        .iter()
        .map(|doc| {
            let mut object = sealed_secret_from_document(doc)?;
            let (ns, name) = (
                object.namespace_or_empty().to_owned(),
                object.name_or_empty().to_owned(),
            );
            for (key, value) in sealed_values(&object)? {
                let plain = ring
                    .open(&value, &Location::new(&ns, &name, &key))
                    .with_context(|| format!("SealedSecret {ns}/{name} key {key:?}"))?;
                for added in recipients
                    .iter()
                    .filter(|r| !value.recipients().contains(&r.fingerprint()))
                    .filter(|r| !published.is_some_and(|k| recipients::is_cluster_key(k, r)))
                {
                    eprintln!(
                        "warning: SealedSecret {ns}/{name} key {key:?}: adds recipient {} that could not open it before",
                        added.fingerprint()
                    );
                }
                let fresh = seal(plain.as_bytes(), value.binding(), recipients)?;
                object.spec.encrypted_data.insert(key, fresh.to_base64());
            }
            Ok(sealed_secret_to_document(&object))
        })
        .collect()
}

/// Reseals documents through the controller's `/v1/reseal`, keeping `keep` (recovery
/// recipients) on values they could already open. The answer is checked before it is used: a
/// controller, or anyone between it and here, may only have replaced each value's recipients
/// by the current cluster key and `keep`, with the same binding.
fn reseal_in_cluster(
    sealed: &[Document],
    cluster: &Cluster,
    keep: &[Recipient],
    current: Option<&Recipient>,
) -> anyhow::Result<Vec<Document>> {
    let body = manifest::write_documents(sealed, OutputFormat::Yaml);
    let fresh = cluster.block_on(cluster.reseal(body, keep))?.objects;
    check_answer(sealed, &fresh, keep, current)
        .context("refusing the controller's answer: it is not a reseal of what was sent")?;
    Ok(fresh)
}

/// Whether `fresh` is `sent` with only its values re-encrypted, each to the current cluster
/// key (when known; else to one key besides `keep`) and to members of `keep`, binding unchanged.
fn check_answer(
    sent: &[Document],
    fresh: &[Document],
    keep: &[Recipient],
    current: Option<&Recipient>,
) -> anyhow::Result<()> {
    if sent.len() != fresh.len() {
        anyhow::bail!("{} objects sent, {} returned", sent.len(), fresh.len());
    }
    let kept: Vec<kage_core::Fingerprint> = keep.iter().map(Recipient::fingerprint).collect();
    for (before, after) in sent.iter().zip(fresh) {
        let (old, new) = (
            sealed_secret_from_document(before)?,
            sealed_secret_from_document(after)?,
        );
        let label = format!("{}/{}", old.namespace_or_empty(), old.name_or_empty());
        let without_values = |doc: &Document| {
            let mut doc = doc.clone();
            if let Some(spec) = doc.get_mut("spec").and_then(|s| s.as_object_mut()) {
                spec.remove("encryptedData");
            }
            doc
        };
        if without_values(before) != without_values(after) {
            anyhow::bail!("SealedSecret {label}: fields other than the values changed");
        }
        let (old_values, new_values) = (sealed_values(&old)?, sealed_values(&new)?);
        let names = |v: &[(String, kage_core::SealedValue)]| -> Vec<String> {
            v.iter().map(|(k, _)| k.clone()).collect()
        };
        if names(&old_values) != names(&new_values) {
            anyhow::bail!("SealedSecret {label}: the set of keys changed");
        }
        for ((key, was), (_, now)) in old_values.iter().zip(&new_values) {
            if was.binding() != now.binding() {
                anyhow::bail!("SealedSecret {label} key {key:?}: the binding changed");
            }
            let strangers: Vec<_> = now
                .recipients()
                .iter()
                .filter(|f| !kept.contains(f))
                .collect();
            let ok = match current {
                Some(current) => {
                    strangers.iter().all(|f| **f == current.fingerprint())
                        && now.recipients().contains(&current.fingerprint())
                }
                None => strangers.len() <= 1,
            };
            if !ok {
                anyhow::bail!(
                    "SealedSecret {label} key {key:?}: sealed to {} recipients besides the cluster key and the recovery keys",
                    strangers.len()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kage_api::seal::{SecretInput, seal_secret};
    use kage_core::{Identity, Plaintext, Scope};

    fn sealed_to(recipients: &[Recipient]) -> Document {
        let mut input = SecretInput::default();
        input
            .insert("password", Plaintext::from(&b"hunter2"[..]))
            .unwrap();
        sealed_secret_to_document(
            &seal_secret(&input, "db", "prod", Scope::Strict, recipients).unwrap(),
        )
    }

    #[test]
    fn an_answer_is_accepted_only_as_a_reseal_of_what_was_sent() {
        let (old, current, recovery, attacker) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let r = |i: &Identity| i.recipient().clone();
        let sent = vec![sealed_to(&[r(&old), r(&recovery)])];
        let keep = [r(&recovery)];
        let honest = vec![sealed_to(&[r(&current), r(&recovery)])];
        assert!(check_answer(&sent, &honest, &keep, Some(&r(&current))).is_ok());
        assert!(check_answer(&sent, &honest, &keep, None).is_ok());

        let extra = vec![sealed_to(&[r(&current), r(&recovery), r(&attacker)])];
        assert!(check_answer(&sent, &extra, &keep, Some(&r(&current))).is_err());
        assert!(check_answer(&sent, &extra, &keep, None).is_err());
        let swapped = vec![sealed_to(&[r(&attacker), r(&recovery)])];
        assert!(check_answer(&sent, &swapped, &keep, Some(&r(&current))).is_err());
        assert!(check_answer(&sent, &[], &keep, None).is_err());

        let mut templated = honest[0].clone();
        templated["spec"]["template"] =
            serde_json::json!({"type": "kubernetes.io/service-account-token"});
        assert!(check_answer(&sent, &[templated], &keep, Some(&r(&current))).is_err());
        let mut renamed = honest[0].clone();
        renamed["metadata"]["name"] = serde_json::json!("other");
        assert!(check_answer(&sent, &[renamed], &keep, Some(&r(&current))).is_err());
    }
}
