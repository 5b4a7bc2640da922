//! `kage key backup|restore|retire`: the cluster's private keys, for disaster recovery.
//!
//! A backup is an ASCII-armored age file (readable with any age tool) holding a JSON bundle:
//! every key Secret's name, identity, fingerprint, creation time and state. It is encrypted to
//! the given recipients or to a passphrase, written atomically with mode 0600, and nothing of
//! it is ever printed. These commands read and write Secrets in the controller's namespace, so
//! only cluster administrators can run them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use k8s_openapi::api::core::v1::Secret;
use kage_api::key_secret::{KeyMaterial, KeyMeta, KeySecret, KeyState};
use kage_api::unseal::wipe_secret;
use kage_api::{SEALING_KEY_LABEL, key_secret};
use kage_core::{Fingerprint, Identity};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::{Zeroize, Zeroizing};

use crate::args::{BackupArgs, RestoreArgs, RetireArgs};
use crate::client::{block_on, connect};
use crate::cluster_error::Request;
use crate::files;
use crate::run::{Failure, Outcome};

/// Environment variable holding the passphrase for `--passphrase`.
pub const PASSPHRASE_ENV: &str = "KAGE_PASSPHRASE";
/// Largest backup file read, in bytes.
pub const MAX_BACKUP_BYTES: u64 = 4 * 1024 * 1024;

/// One key in a backup.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackedUpKey {
    name: String,
    fingerprint: String,
    created_at: String,
    state: String,
    /// The identity; empty for a KMS-wrapped key, which is backed up wrapped.
    #[serde(default)]
    identity: String,
    /// The KMS-wrapped identity (restoring it still needs the KMS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wrapped_identity: Option<String>,
    /// Which KMS wraps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms: Option<String>,
}

impl Drop for BackedUpKey {
    fn drop(&mut self) {
        self.identity.zeroize();
    }
}

/// The whole backup.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    api_version: String,
    kind: String,
    namespace: String,
    created_at: String,
    keys: Vec<BackedUpKey>,
}

fn passphrase() -> anyhow::Result<age::secrecy::SecretString> {
    let value = std::env::var(PASSPHRASE_ENV).map_err(|_| {
        anyhow!("--passphrase reads the passphrase from ${PASSPHRASE_ENV}, which is not set")
    })?;
    if value.len() < 12 {
        bail!("the passphrase in ${PASSPHRASE_ENV} is shorter than 12 characters");
    }
    Ok(age::secrecy::SecretString::from(value))
}

/// `kage key backup`.
pub fn backup(args: BackupArgs) -> Outcome {
    let recipients: Vec<age::x25519::Recipient> = args
        .recipients
        .iter()
        .map(|r| {
            r.parse()
                .map_err(|e| Failure::Input(anyhow!("-r {r}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    if recipients.is_empty() != args.passphrase {
        return Err(Failure::Input(anyhow!(
            "pass either -r RECIPIENT (repeatable) or --passphrase"
        )));
    }
    let ns = args.cluster.controller_namespace.clone();
    let (bundle, versions) = block_on(async {
        let (client, _) = connect(&args.cluster).await?;
        let api: Api<Secret> = Api::namespaced(client, &ns);
        let list = api
            .list(&ListParams::default().labels(&format!("{SEALING_KEY_LABEL}=true")))
            .await
            .map_err(|e| key_secrets(&ns, "list", "listing the key Secrets").error(e))?;
        let mut keys = Vec::new();
        let mut versions = Vec::new();
        for mut secret in list.items {
            let key = backed_up_key(&secret);
            wipe_secret(&mut secret);
            keys.push(key?);
            versions.push((
                secret.metadata.name.unwrap_or_default(),
                secret.metadata.resource_version.unwrap_or_default(),
            ));
        }
        let bundle = Bundle {
            api_version: "kage.dev/v1".into(),
            kind: "KeyBackup".into(),
            namespace: ns.clone(),
            created_at: jiff::Timestamp::now().to_string(),
            keys,
        };
        Ok((bundle, versions))
    })?;
    if bundle.keys.is_empty() {
        return Err(Failure::Other(anyhow!(
            "no sealing keys found in namespace {ns}"
        )));
    }
    let plain = Zeroizing::new(serde_json::to_vec(&bundle).context("encoding the backup")?);
    let encryptor = if args.passphrase {
        age::Encryptor::with_user_passphrase(passphrase().map_err(Failure::Input)?)
    } else {
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .context("encrypting the backup")?
    };
    let armored = armor(encryptor, &plain).context("encrypting the backup")?;
    files::write_atomic(&args.output, &armored, Some(0o600))?;
    let fingerprints: Vec<&str> = bundle.keys.iter().map(|k| k.fingerprint.as_str()).collect();
    eprintln!(
        "backed up {} key(s) ({}) to {}",
        bundle.keys.len(),
        fingerprints.join(", "),
        args.output.display()
    );
    // Tell the controller (metric kage_newest_key_backed_up) that these keys are safe: each
    // stamp applies only to the version that was saved (a key changed since is not marked).
    block_on(async {
        let (client, _) = connect(&args.cluster).await?;
        let api: Api<Secret> = Api::namespaced(client, &ns);
        for (name, version) in &versions {
            let stamp = json!({"metadata": {
                "resourceVersion": version,
                "annotations": {key_secret::BACKED_UP_AT: bundle.created_at},
            }});
            let mut stamped = api
                .patch(name, &PatchParams::default(), &Patch::Merge(&stamp))
                .await
                .map_err(|e| {
                    key_secrets(&ns, "patch", &format!("marking {name} as backed up (a 409 means it changed since it was read: run the backup again)"))
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

fn backed_up_key(secret: &Secret) -> anyhow::Result<BackedUpKey> {
    let key = KeySecret::parse(secret)?;
    let (identity, wrapped_identity, kms) = match key.material {
        KeyMaterial::Identity(identity) => (identity.to_secret_string().to_string(), None, None),
        KeyMaterial::Wrapped { wrapped, kms } => (String::new(), Some(wrapped.to_string()), kms),
    };
    Ok(BackedUpKey {
        name: key.meta.name,
        fingerprint: key.meta.fingerprint,
        created_at: key.meta.created_at,
        state: key.meta.state.as_str().to_owned(),
        identity,
        wrapped_identity,
        kms,
    })
}

fn read_backup(
    path: &Path,
    identities: &[std::path::PathBuf],
    use_passphrase: bool,
) -> anyhow::Result<Bundle> {
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
        let text = Zeroizing::new(
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        );
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("AGE-SECRET-KEY-1"))
        {
            let id: age::x25519::Identity = line
                .parse()
                .map_err(|e| anyhow!("{}: {e}", file.display()))?;
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
    let bundle: Bundle =
        serde_json::from_slice(&plain).context("the backup's content is not a key bundle")?;
    if bundle.kind != "KeyBackup" {
        bail!("{} is not a kage key backup", path.display());
    }
    Ok(bundle)
}

/// Checks every key of a backup before anything is written: a creation time that parses and
/// is not in the future (a future date would make a forged key current for years), a known
/// state; with `expect`, keeps only the keys listed and fails if one is missing.
fn vet(bundle: &mut Bundle, expect: &[String]) -> anyhow::Result<()> {
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
        if !matches!(key.state.as_str(), "active" | "retired") {
            bail!(
                "key {} in the backup has an unknown state {:?}",
                key.fingerprint,
                key.state
            );
        }
    }
    if !expect.is_empty() {
        for fingerprint in expect {
            if !bundle.keys.iter().any(|k| &k.fingerprint == fingerprint) {
                bail!("--expect {fingerprint}: no such key in the backup");
            }
        }
        bundle.keys.retain(|k| expect.contains(&k.fingerprint));
    }
    Ok(())
}

/// Lists the keys about to be restored and asks for `yes` unless `--yes` was given.
fn confirm(bundle: &Bundle, yes: bool) -> Outcome {
    eprintln!("the backup holds {} key(s) to restore:", bundle.keys.len());
    for key in &bundle.keys {
        eprintln!(
            "  {}  created {}  {}",
            key.fingerprint, key.created_at, key.state
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

/// `kage key restore`.
pub fn restore(args: RestoreArgs) -> Outcome {
    let mut bundle =
        read_backup(&args.file, &args.identities, args.passphrase).map_err(Failure::Input)?;
    vet(&mut bundle, &args.expect).map_err(Failure::Input)?;
    confirm(&bundle, args.yes)?;
    for key in bundle.keys.iter().filter(|k| k.wrapped_identity.is_none()) {
        let id: Identity = key.identity.parse().map_err(|_| {
            Failure::Input(anyhow!(
                "key {} in the backup is not a valid identity",
                key.name
            ))
        })?;
        if id.fingerprint().to_string() != key.fingerprint {
            return Err(Failure::Input(anyhow!(
                "key {} in the backup does not match its fingerprint",
                key.name
            )));
        }
    }
    let ns = args.cluster.controller_namespace.clone();
    let restored = block_on(async {
        let (client, _) = connect(&args.cluster).await?;
        let api: Api<Secret> = Api::namespaced(client, &ns);
        let existing = api
            .list(&ListParams::default().labels(&format!("{SEALING_KEY_LABEL}=true")))
            .await
            .map_err(|e| key_secrets(&ns, "list", "listing the key Secrets").error(e))?;
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
            if present.values().any(|fp| fp == &key.fingerprint) {
                eprintln!("{}: already present", key.fingerprint);
                continue;
            }
            // A new cluster may have made its own kage-key-1: never overwrite, take a new name.
            let name = if present.contains_key(&key.name) {
                key_secret::next_name(present.keys().map(String::as_str))
            } else {
                key.name.clone()
            };
            let material = match &key.wrapped_identity {
                Some(wrapped) => KeyMaterial::Wrapped {
                    wrapped: Zeroizing::new(wrapped.clone()),
                    kms: key.kms.clone(),
                },
                // Checked before anything was written.
                None => KeyMaterial::Identity(key.identity.parse().map_err(|_| {
                    anyhow!("key {} in the backup is not a valid identity", key.name)
                })?),
            };
            let mut secret = KeySecret {
                meta: KeyMeta {
                    name: name.clone(),
                    fingerprint: key.fingerprint.clone(),
                    created_at: key.created_at.clone(),
                    state: KeyState::from_annotation(Some(&key.state)),
                    backed_up_at: Some(bundle.created_at.clone()),
                },
                material,
                restored_at: Some(jiff::Timestamp::now().to_string()),
            }
            .build();
            // The controller loads only key data written under its field manager: a restore
            // writes as the controller would.
            let params = PostParams {
                field_manager: Some(kage_api::CONTROLLER_FIELD_MANAGER.to_owned()),
                ..PostParams::default()
            };
            let result = api.create(&params, &secret).await;
            wipe_secret(&mut secret);
            let mut created = result.map_err(|e| {
                key_secrets(&ns, "create", &format!("creating key Secret {ns}/{name}")).error(e)
            })?;
            wipe_secret(&mut created);
            present.insert(name.clone(), key.fingerprint.clone());
            restored.push(format!("{} as {name}", key.fingerprint));
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

/// `kage key retire`.
pub fn retire(args: RetireArgs) -> Outcome {
    let target: Fingerprint = args
        .fingerprint
        .parse()
        .map_err(|e| Failure::Input(anyhow!("{}: {e}", args.fingerprint)))?;
    let ns = args.cluster.controller_namespace.clone();
    block_on(async {
        let (client, _) = connect(&args.cluster).await?;
        let api: Api<Secret> = Api::namespaced(client, &ns);
        let list = api
            .list_metadata(&ListParams::default().labels(&format!("{SEALING_KEY_LABEL}=true")))
            .await
            .map_err(|e| key_secrets(&ns, "list", "listing the key Secrets").error(e))?;
        let keys: Vec<(KeyMeta, Option<String>)> = list
            .items
            .iter()
            .map(|m| {
                (
                    KeyMeta::of(&m.metadata),
                    m.metadata.resource_version.clone(),
                )
            })
            .collect();
        let Some((found, version)) = keys
            .iter()
            .find(|(k, _)| k.fingerprint == target.to_string())
        else {
            bail!("no key with fingerprint {target} in {ns} (see `kage key list`)");
        };
        let others_active = keys
            .iter()
            .filter(|(k, _)| k.fingerprint != target.to_string() && k.state == KeyState::Active)
            .count();
        if others_active == 0 {
            bail!(
                "{target} is the only active key; rotate first (`kage key rotate`), then reseal and retire it"
            );
        }
        let name = &found.name;
        // Only the version that was checked: a key changed meanwhile is not retired blindly.
        let patch = json!({"metadata": {
            "resourceVersion": version,
            "annotations": {
                key_secret::STATE: KeyState::Retired.as_str(),
                key_secret::RETIRED_AT: jiff::Timestamp::now().to_string(),
            },
        }});
        let mut retired = api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                key_secrets(
                    &ns,
                    "patch",
                    &format!(
                        "retiring {name} (a 409 means it changed since it was read: try again)"
                    ),
                )
                .error(e)
            })?;
        wipe_secret(&mut retired);
        eprintln!("retired {target} ({ns}/{name}): values sealed only to it no longer open");
        Ok(())
    })?;
    Ok(())
}

/// A request on the key Secrets in `ns`, to name it in errors.
fn key_secrets<'a>(ns: &'a str, verb: &'static str, action: &'a str) -> Request<'a> {
    Request {
        action,
        verb,
        resource: "secrets",
        namespace: Some(ns),
        ..Request::default()
    }
}
