//! `kage migrate`: Bitnami Sealed Secrets files in, kage SealedSecrets out.
//!
//! Each value is opened in memory with the Sealed Secrets private keys and sealed at once to the
//! kage recipients, under the scope that matches the Sealed Secrets one. A file is written
//! whole or not at all: if any value of it opens with no key, its file and key are reported and
//! the file is left as it was; the run goes on with the other files and exits non-zero.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use k8s_openapi::api::core::v1::Secret;
use kage_api::manifest::{self, Document};
use kage_api::seal::{SecretInput, seal_secret, sealed_secret_to_document};
use kage_api::template::Templates;
use kage_api::{SealedSecret, SecretTemplate};
use kage_core::Recipient;
use kube::Api;
use kube::api::ListParams;

use crate::args::MigrateArgs;
use crate::cluster::Cluster;
use crate::cluster_error::Request;
use crate::manifest_file::ManifestFile;
use crate::outcome::{Failure, Outcome};
use crate::recipients;
use crate::sealed_secrets::{self, BitnamiSealedSecret, SealingKeys};
use crate::{files, kage_yaml};
use kage_api::wire::PublishedKeys;

pub fn run(args: MigrateArgs) -> Outcome {
    let cluster = Cluster::new(&args.cluster)?;
    let keys = load_keys(&args, &cluster)?;
    let roots = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let default_namespace =
        crate::cluster::default_namespace(args.namespace.as_deref(), &args.cluster)
            .map_err(Failure::Input)?;
    let published = recipients::published_keys(&cluster);
    let job = Job {
        keys: &keys,
        default_namespace: &default_namespace,
        recipients: &args.recipients,
        published: published.as_ref(),
        allowed_prefixes: &args.allow_metadata_prefix,
    };
    let (mut migrated, mut failed) = (0, 0);
    let mut printed = Vec::new();
    let mut empty = Vec::new();
    for root in &roots {
        let mut found = 0;
        for file in files::manifest_files(root)? {
            let outcome = job.migrate_file(&file).and_then(|done| match done {
                None => Ok(0),
                Some(done) => {
                    let count = done.file.positions.len();
                    done.write(&args, root, &mut printed)?;
                    Ok(count)
                }
            });
            if !matches!(outcome, Ok(0)) {
                found += 1;
            }
            match outcome {
                Ok(0) => {}
                Ok(n) => {
                    migrated += n;
                    eprintln!("{}: migrated {n} SealedSecret(s)", file.display());
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("{}: {e:#} (nothing written for this file)", file.display());
                }
            }
        }
        if found == 0 {
            empty.push(root.display().to_string());
        }
    }
    if !printed.is_empty() {
        crate::files::print(&manifest::write_documents(
            &printed,
            kage_api::OutputFormat::Yaml,
        ))?;
    }
    eprintln!("migrated {migrated} SealedSecret(s); {failed} file(s) failed");
    if !empty.is_empty() {
        return Err(Failure::Input(anyhow!(
            "nothing to migrate in {}: no {} SealedSecret found",
            empty.join(", "),
            sealed_secrets::API_VERSION
        )));
    }
    if failed > 0 {
        return Err(Failure::Unseal(anyhow!(
            "{failed} file(s) could not be migrated"
        )));
    }
    Ok(())
}

/// The Sealed Secrets keys: from `--key-file`, else the active key Secrets in the cluster.
fn load_keys(args: &MigrateArgs, cluster: &Cluster) -> Result<SealingKeys, Failure> {
    let mut keys = SealingKeys::default();
    for path in &args.key_files {
        let text = zeroize::Zeroizing::new(files::read_input(Some(path))?);
        let added = keys
            .add_file(&text)
            .with_context(|| format!("reading keys from {}", path.display()))
            .map_err(Failure::Input)?;
        if added == 0 {
            return Err(Failure::Input(anyhow!(
                "{} holds no RSA private key",
                path.display()
            )));
        }
    }
    if args.key_files.is_empty() {
        let namespace = &args.sealed_secrets_namespace;
        let secrets = cluster
            .block_on(async {
                let (client, _) = cluster.client().await?;
                let selector = format!("{}={}", sealed_secrets::KEY_LABEL, sealed_secrets::ACTIVE);
                Ok(Api::<Secret>::namespaced(client, namespace)
                    .list(&ListParams::default().labels(&selector))
                    .await
                    .map_err(|e| {
                        Request {
                            action: "listing the Sealed Secrets keys (or pass --key-file)",
                            verb: "list",
                            resource: "secrets",
                            namespace: Some(namespace),
                            ..Request::default()
                        }
                        .error(e)
                    })?
                    .items)
            })
            .map_err(Failure::Input)?;
        for mut secret in secrets {
            let Some(pem) = secret.data.as_mut().and_then(|d| d.remove("tls.key")) else {
                continue;
            };
            let pem = zeroize::Zeroizing::new(pem.0);
            // The rest of the Secret (the certificate) is public; the key is wiped on drop.
            let text = std::str::from_utf8(&pem)
                .map_err(|_| anyhow!("a Sealed Secrets key in {namespace} is not PEM text"))?;
            keys.add_pem(text).map_err(Failure::Input)?;
        }
        if keys.is_empty() {
            return Err(Failure::Input(anyhow!(
                "no active Sealed Secrets key in namespace {namespace} (label {}={}); pass --sealed-secrets-namespace or --key-file",
                sealed_secrets::KEY_LABEL,
                sealed_secrets::ACTIVE
            )));
        }
    }
    eprintln!("{} Sealed Secrets key(s) to try", keys.len());
    Ok(keys)
}

/// What every file of a run shares.
struct Job<'a> {
    keys: &'a SealingKeys,
    default_namespace: &'a str,
    recipients: &'a [Recipient],
    published: Option<&'a PublishedKeys>,
    /// `--allow-metadata-prefix`.
    allowed_prefixes: &'a [String],
}

/// A file whose Sealed Secrets documents are all migrated, not yet written.
struct Migrated {
    file: ManifestFile,
}

impl Job<'_> {
    /// Migrates every Sealed Secrets document of a file, in memory; `None` when it has none.
    fn migrate_file(&self, file: &Path) -> anyhow::Result<Option<Migrated>> {
        let Some(mut manifest) = ManifestFile::read_if_any(file, sealed_secrets::is_bitnami)?
        else {
            return Ok(None);
        };
        let values: usize = manifest
            .selected()
            .filter_map(|doc| {
                doc.pointer("/spec/encryptedData")?
                    .as_object()
                    .map(|m| m.len())
            })
            .sum();
        sealed_secrets::check_work(values, self.keys.len())?;
        // -r replaces .kage.yaml; otherwise only what the repository root trusts.
        let configured = if self.recipients.is_empty() {
            recipients::for_resealing(file, self.published)?
        } else {
            kage_yaml::Resolved::default()
        };
        let recipients = recipients::choose(self.recipients, &configured, self.published)?;
        let mut problems = Vec::new();
        let mut fresh = Vec::new();
        for doc in manifest.selected() {
            match self.migrate(doc, &recipients) {
                Ok(sealed) => fresh.push(sealed_secret_to_document(&sealed)),
                Err(e) => problems.push(format!("{e:#}")),
            }
        }
        if !problems.is_empty() {
            bail!("{}", problems.join("; "));
        }
        manifest.replace(fresh)?;
        Ok(Some(Migrated { file: manifest }))
    }

    /// One SealedSecret: every value opened (all failures named), then sealed for kage.
    fn migrate(&self, doc: &Document, recipients: &[Recipient]) -> anyhow::Result<SealedSecret> {
        let bitnami = BitnamiSealedSecret::from_document(doc)?;
        let namespace = bitnami
            .namespace
            .clone()
            .unwrap_or_else(|| self.default_namespace.to_owned());
        let what = format!("SealedSecret {namespace}/{}", bitnami.name);
        let label = bitnami.label(&namespace);
        let mut input = SecretInput {
            name: Some(bitnami.name.clone()),
            namespace: Some(namespace.clone()),
            type_: bitnami.type_.clone(),
            immutable: bitnami.immutable,
            labels: bitnami.template_labels.clone(),
            annotations: bitnami.template_annotations.clone(),
            data: BTreeMap::new(),
        };
        let mut unopened = Vec::new();
        for (key, encoded) in &bitnami.encrypted_data {
            match self.keys.open(encoded, &label) {
                Ok(value) => input
                    .insert(key, value)
                    .with_context(|| format!("{what} key {key:?}"))?,
                Err(e) => unopened.push(format!("key {key:?}: {e}")),
            }
        }
        if !unopened.is_empty() {
            bail!("{what}: {}", unopened.join("; "));
        }
        kage_api::MetadataPolicy::new(self.allowed_prefixes)
            .check_maps(&input.labels, &input.annotations)
            .with_context(|| what.clone())?;
        super::seal::warn_if_wide(bitnami.scope);
        let (data, omit) = translate_templates(&bitnami).with_context(|| what.clone())?;
        let mut sealed = seal_secret(&input, &bitnami.name, &namespace, bitnami.scope, recipients)
            .with_context(|| what.clone())?;
        if !data.is_empty() || !omit.is_empty() {
            let template = sealed
                .spec
                .template
                .get_or_insert_with(SecretTemplate::default);
            template.data = data;
            template.omit = omit;
        }
        if !bitnami.labels.is_empty() {
            sealed.metadata.labels = Some(bitnami.labels.clone());
        }
        if !bitnami.annotations.is_empty() {
            sealed.metadata.annotations = Some(bitnami.annotations.clone());
        }
        super::seal::stamp(&mut sealed);
        Templates::check(&sealed).map_err(|e| anyhow!("{what}: {e}"))?;
        Ok(sealed)
    }
}

impl Migrated {
    /// In place, under `--output-dir` at the path relative to `root`, or onto `printed`.
    fn write(
        self,
        args: &MigrateArgs,
        root: &Path,
        printed: &mut Vec<Document>,
    ) -> anyhow::Result<()> {
        let path = &self.file.path;
        let target = if args.in_place {
            path.clone()
        } else if let Some(dir) = &args.output_dir {
            let relative = match path.strip_prefix(root) {
                Ok(r) if !r.as_os_str().is_empty() => r.to_path_buf(),
                _ => PathBuf::from(path.file_name().unwrap_or_default()),
            };
            let target = dir.join(relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            target
        } else {
            printed.extend(self.file.selected().cloned());
            return Ok(());
        };
        self.file.write_to(&target)
    }
}

/// Sealed Secrets' `spec.template.data` as kage templates: literal text and references to a
/// sealed value (`{{ .key }}`, `{{ index . "key" }}`) are translated; a key set to null, or
/// replaced by a template, is omitted from the sealed values. Any other Go template is refused:
/// it is translated by hand (docs/templates.md).
fn translate_templates(
    bitnami: &BitnamiSealedSecret,
) -> anyhow::Result<(BTreeMap<String, String>, Vec<String>)> {
    let mut data = BTreeMap::new();
    let mut omit = Vec::new();
    for (key, template) in &bitnami.template_data {
        if bitnami.encrypted_data.contains_key(key) {
            omit.push(key.clone());
        }
        let Some(template) = template else {
            continue;
        };
        let translated = translate(template, &bitnami.encrypted_data).map_err(|e| {
            anyhow!("spec.template.data.{key}: {e}; translate it by hand (docs/templates.md)")
        })?;
        data.insert(key.clone(), translated);
    }
    Ok((data, omit))
}

fn translate(go: &str, sealed: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = go;
    loop {
        let (text, action) = match rest.split_once("{{") {
            Some((text, after)) => (text, Some(after)),
            None => (rest, None),
        };
        if text.contains("{%") || text.contains("{#") || text.contains("}}") {
            bail!("the text holds '{{%', '{{#' or '}}}}'");
        }
        out.push_str(text);
        let Some(after) = action else {
            return Ok(out);
        };
        let (inner, after) = after
            .split_once("}}")
            .ok_or_else(|| anyhow!("a '{{{{' has no '}}}}'"))?;
        let inner = inner.trim();
        let key = if let Some(field) = inner.strip_prefix('.') {
            field
        } else if let Some(quoted) = inner.strip_prefix("index . ") {
            quoted
                .trim()
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .ok_or_else(|| anyhow!("only `index . \"key\"` is translated"))?
        } else {
            bail!("only `{{{{ .key }}}}` and `{{{{ index . \"key\" }}}}` are translated");
        };
        if !sealed.contains_key(key) {
            bail!("{key:?} is not a sealed value of this SealedSecret");
        }
        out.push_str(&format!(
            "{{{{ values[{}] }}}}",
            serde_json::to_string(key)?
        ));
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_go_templates_are_translated_and_others_refused() {
        let sealed: BTreeMap<String, String> = [
            ("user".to_owned(), String::new()),
            ("tls.key".to_owned(), String::new()),
        ]
        .into();
        assert_eq!(
            translate("postgres://{{ .user }}@db/{{index . \"tls.key\"}}", &sealed).unwrap(),
            "postgres://{{ values[\"user\"] }}@db/{{ values[\"tls.key\"] }}"
        );
        assert_eq!(translate("plain", &sealed).unwrap(), "plain");
        for refused in [
            "{{ .user | upper }}",
            "{{ if .user }}x{{ end }}",
            "{{ .missing }}",
            "{% raw %}",
            "{{ .user",
        ] {
            assert!(translate(refused, &sealed).is_err(), "{refused}");
        }
    }
}
