//! `kage key restore`: key Secrets back from a backup. A backup can be written by anyone holding
//! its recipient, so every key is checked (identity against fingerprint, a creation time not in
//! the future, `--expect`) and listed, and nothing is written without a yes.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use k8s_openapi::api::core::v1::Secret;
use kage_api::key_backup::KeyBackup;
use kage_api::key_secret::{self, KeyMeta, KeySecret};
use kage_api::unseal::wipe_secret;
use kage_core::Fingerprint;
use kube::Api;
use kube::api::PostParams;
use zeroize::Zeroizing;

use super::{key_secret_selector, key_secrets, passphrase};
use crate::args::RestoreArgs;
use crate::cluster::Cluster;
use crate::outcome::{Failure, Outcome};

/// Largest backup file read, in bytes.
pub const MAX_BACKUP_BYTES: u64 = 4 * 1024 * 1024;

pub fn run(args: RestoreArgs) -> Outcome {
    let mut bundle =
        read_backup(&args.file, &args.identities, args.passphrase).map_err(Failure::Input)?;
    vet(&mut bundle, &args.expect).map_err(Failure::Input)?;
    confirm(&bundle, args.yes)?;
    for key in &bundle.keys {
        key.check().map_err(|e| Failure::Input(e.into()))?;
    }
    let ns = &args.cluster.controller_namespace;
    let cluster = Cluster::new(&args.cluster)?;
    let restored = cluster.block_on(async {
        let (client, _) = cluster.client().await?;
        let api: Api<Secret> = Api::namespaced(client, ns);
        let existing = api
            .list(&key_secret_selector())
            .await
            .map_err(|e| key_secrets(ns, "list", "listing the key Secrets").error(e))?;
        // Each present key by name, with the fingerprint of its identity where it has one.
        let mut present: BTreeMap<String, String> = BTreeMap::new();
        for mut s in existing.items {
            let meta = KeyMeta::of(&s.metadata);
            let fingerprint = KeySecret::parse(&s)
                .map(|k| k.meta.fingerprint)
                .unwrap_or(meta.fingerprint);
            wipe_secret(&mut s);
            present.insert(meta.name, fingerprint);
        }
        let mut restored = Vec::new();
        for key in &bundle.keys {
            let fingerprint = key.fingerprint.to_string();
            if present.values().any(|fp| *fp == fingerprint) {
                eprintln!("{fingerprint}: already present");
                continue;
            }
            // A new cluster may have made its own kage-key-1: never overwrite, take a new name.
            let name = if present.contains_key(&key.name) {
                key_secret::next_name(present.keys().map(String::as_str))
            } else {
                key.name.clone()
            };
            let mut secret = key.to_key_secret(&name, &bundle.created_at)?.build();
            // The controller loads only key data written under its field manager: a restore
            // writes as the controller would.
            let params = PostParams {
                field_manager: Some(kage_api::CONTROLLER_FIELD_MANAGER.to_owned()),
                ..PostParams::default()
            };
            let result = api.create(&params, &secret).await;
            wipe_secret(&mut secret);
            let mut created = result.map_err(|e| {
                key_secrets(ns, "create", &format!("creating key Secret {ns}/{name}")).error(e)
            })?;
            wipe_secret(&mut created);
            restored.push(format!("{fingerprint} as {name}"));
            present.insert(name, fingerprint);
        }
        Ok(restored)
    })?;
    eprintln!(
        "restored {} key(s){}{}",
        restored.len(),
        if restored.is_empty() { "" } else { ": " },
        restored.join(", ")
    );
    Ok(())
}

fn read_backup(
    path: &Path,
    identities: &[std::path::PathBuf],
    use_passphrase: bool,
) -> anyhow::Result<KeyBackup> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut armored = Vec::new();
    file.take(MAX_BACKUP_BYTES + 1).read_to_end(&mut armored)?;
    if armored.len() as u64 > MAX_BACKUP_BYTES {
        bail!(
            "{} is larger than a backup can be ({MAX_BACKUP_BYTES} bytes)",
            path.display()
        );
    }
    let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(&armored[..]))
        .with_context(|| format!("{} is not a kage key backup (age file)", path.display()))?;
    let mut ids: Vec<Box<dyn age::Identity>> = Vec::new();
    if use_passphrase {
        ids.push(Box::new(age::scrypt::Identity::new(passphrase()?)));
    }
    for file in identities {
        for id in crate::identity_file::read_age_identities(file)? {
            ids.push(Box::new(id));
        }
    }
    if ids.is_empty() {
        bail!("pass -i IDENTITY (repeatable) or --passphrase to open the backup");
    }
    let mut reader = decryptor
        .decrypt(ids.iter().map(|i| i.as_ref()))
        .map_err(|e| anyhow!("cannot open {}: {e}", path.display()))?;
    let mut plain = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut plain)?;
    KeyBackup::read(&plain).with_context(|| path.display().to_string())
}

/// Checks every key of a backup before anything is written: a creation time that parses and
/// is not in the future (a future date would make a forged key current for years); with
/// `expect`, keeps only the keys listed and fails if one is missing.
fn vet(bundle: &mut KeyBackup, expect: &[Fingerprint]) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now();
    let skew = jiff::SignedDuration::try_from(key_secret::MAX_CLOCK_SKEW)
        .unwrap_or(jiff::SignedDuration::MAX);
    for key in &bundle.keys {
        let created: jiff::Timestamp = key.created_at.parse().map_err(|_| {
            anyhow!(
                "key {} in the backup has no valid creation time",
                key.fingerprint
            )
        })?;
        if created > now + skew {
            bail!(
                "key {} in the backup claims to be created at {created}, in the future: refusing the backup (it may be forged)",
                key.fingerprint
            );
        }
    }
    if !expect.is_empty() {
        for fingerprint in expect {
            if !bundle.keys.iter().any(|k| k.fingerprint == *fingerprint) {
                bail!("--expect {fingerprint}: no such key in the backup");
            }
        }
        bundle.keys.retain(|k| expect.contains(&k.fingerprint));
    }
    Ok(())
}

/// Lists the keys about to be restored and asks for `yes` unless `--yes` was given.
fn confirm(bundle: &KeyBackup, yes: bool) -> Outcome {
    eprintln!("the backup holds {} key(s) to restore:", bundle.keys.len());
    for key in &bundle.keys {
        eprintln!(
            "  {}  created {}  {}",
            key.fingerprint,
            key.created_at,
            key.state.as_str()
        );
    }
    if yes {
        return Ok(());
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Input(anyhow!(
            "not restoring without confirmation: check the keys above and pass --yes (or run in a terminal)"
        )));
    }
    eprint!("restore these keys into the cluster? type yes: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the answer")?;
    if answer.trim() != "yes" {
        return Err(Failure::Other(anyhow!("restore cancelled")));
    }
    Ok(())
}
