//! `kage key backup`: every key Secret, in an ASCII-armored age file (readable with any age
//! tool) holding a [`KeyBackup`] bundle, encrypted to the given recipients or to a passphrase,
//! written atomically with mode 0600. Nothing of it is ever printed.

use std::io::Write;

use anyhow::{Context, anyhow};
use k8s_openapi::api::core::v1::Secret;
use kage_api::key_backup::{BackedUpKey, KeyBackup};
use kage_api::key_secret::{self, KeySecret};
use kage_api::unseal::wipe_secret;
use kube::Api;
use kube::api::Patch;

use super::{cli_patch, key_secret_selector, key_secrets, passphrase};
use crate::args::BackupArgs;
use crate::cluster::Cluster;
use crate::files;
use crate::outcome::{Failure, Outcome};

pub fn run(args: BackupArgs) -> Outcome {
    if args.recipients.is_empty() != args.passphrase {
        return Err(Failure::Input(anyhow!(
            "pass either -r RECIPIENT (repeatable) or --passphrase"
        )));
    }
    let ns = &args.cluster.controller_namespace;
    let cluster = Cluster::new(&args.cluster)?;
    let (client, _) = cluster.block_on(cluster.client())?;
    let api: Api<Secret> = Api::namespaced(client, ns);
    let (bundle, versions) = cluster.block_on(async {
        let list = api
            .list(&key_secret_selector())
            .await
            .map_err(|e| key_secrets(ns, "list", "listing the key Secrets").error(e))?;
        let mut keys = Vec::new();
        let mut versions = Vec::new();
        for mut secret in list.items {
            let key = KeySecret::parse(&secret)
                .map_err(anyhow::Error::from)
                .and_then(|k| Ok(BackedUpKey::of(k)?));
            wipe_secret(&mut secret);
            keys.push(key?);
            versions.push((
                secret.metadata.name.unwrap_or_default(),
                secret.metadata.resource_version.unwrap_or_default(),
            ));
        }
        Ok((KeyBackup::new(ns, keys), versions))
    })?;
    if bundle.keys.is_empty() {
        return Err(Failure::Other(anyhow!(
            "no sealing keys found in namespace {ns}"
        )));
    }
    let encryptor = if args.passphrase {
        age::Encryptor::with_user_passphrase(passphrase().map_err(Failure::Input)?)
    } else {
        age::Encryptor::with_recipients(args.recipients.iter().map(|r| r as &dyn age::Recipient))
            .context("encrypting the backup")?
    };
    let armored = armor(encryptor, &bundle.to_json()).context("encrypting the backup")?;
    files::write_atomic(&args.output, &armored, Some(0o600))?;
    let fingerprints: Vec<String> = bundle
        .keys
        .iter()
        .map(|k| k.fingerprint.to_string())
        .collect();
    eprintln!(
        "backed up {} key(s) ({}) to {}",
        bundle.keys.len(),
        fingerprints.join(", "),
        args.output.display()
    );
    // Tell the controller (metric kage_newest_key_backed_up) that these keys are safe: each
    // stamp applies only to the version that was saved (a key changed since is not marked).
    cluster.block_on(async {
        for (name, version) in &versions {
            let stamp = key_secret::backed_up_patch(version, &bundle.created_at);
            let mut stamped = api
                .patch(name, &cli_patch(), &Patch::Merge(&stamp))
                .await
                .map_err(|e| {
                    key_secrets(ns, "patch", &format!("marking {name} as backed up (a 409 means it changed since it was read: run the backup again)"))
                    .error(e)
                })?;
            wipe_secret(&mut stamped);
        }
        Ok(())
    })?;
    Ok(())
}

fn armor(encryptor: age::Encryptor, plain: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut armored = Vec::new();
    let output =
        age::armor::ArmoredWriter::wrap_output(&mut armored, age::armor::Format::AsciiArmor)?;
    let mut writer = encryptor.wrap_output(output)?;
    writer.write_all(plain)?;
    writer.finish()?.finish()?;
    Ok(armored)
}
