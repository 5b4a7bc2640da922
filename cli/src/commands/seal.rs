//! `kage seal`: Secrets in, SealedSecrets out.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use kage_api::manifest::{self, write_documents};
use kage_api::seal::{
    SecretInput, merge_values, seal_secret, seal_value, sealed_secret_from_document,
    sealed_secret_to_document,
};
use kage_api::template::Templates;
use kage_api::{SEALED_AT_ANNOTATION, SealedSecret, SecretTemplate};
use kage_core::value::MAX_VALUE_BYTES;
use kage_core::{Fingerprint, Location, Plaintext, Recipient, Scope, SealedValue};

use crate::args::SealArgs;
use crate::cluster::Cluster;
use crate::manifest_file::ManifestFile;
use crate::mistake::Mistake;
use crate::outcome::{Failure, Outcome};
use crate::recipients::{self, Origin};
use crate::{files, kage_yaml};
use kage_api::wire::PublishedKeys;

pub fn run(args: SealArgs) -> Outcome {
    let mut inputs = read_inputs(&args)?;
    // .kage.yaml is looked up from the sealed file's own folder.
    let target = args
        .merge_into
        .as_deref()
        .or(args.write.as_deref())
        .or(args.file.as_deref().filter(|p| *p != Path::new("-")));
    let start = target
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let resolved = kage_yaml::resolve(&start, target).map_err(Failure::Input)?;
    let template = args
        .template_file
        .as_deref()
        .map(read_template_file)
        .transpose()?;
    let cluster = Cluster::new(&args.cluster)?;
    let published = recipients::published_keys(&cluster);
    let recipients = recipients(&args, &resolved, published.as_ref())?;

    if let Some(path) = &args.merge_into {
        let [input] = inputs.as_mut_slice() else {
            return Err(Failure::Input(anyhow!(
                "--merge-into takes one Secret, got {}",
                inputs.len()
            )));
        };
        return merge_into(
            path,
            input,
            &args,
            resolved.scope,
            (&recipients, published.as_ref()),
            template.as_ref(),
        );
    }

    let scope: Scope = args
        .scope
        .map(Into::into)
        .or(resolved.scope)
        .unwrap_or_default();
    warn_if_wide(scope);
    let default_namespace =
        crate::cluster::default_namespace(args.namespace.as_deref(), &args.cluster)
            .map_err(Failure::Input)?;
    let default_origin = if args.namespace.is_some() {
        "from -n"
    } else if default_namespace == "default" {
        "the input names none, and neither -n nor the kubeconfig does"
    } else {
        "the kubeconfig context's namespace"
    };
    let mut docs = Vec::new();
    for input in &inputs {
        let name = name_of(input, &args)?;
        let namespace = namespace_of(input, &args, &default_namespace)?;
        kage_api::seal::check_name(&name, &namespace).map_err(|e| Failure::Input(e.into()))?;
        if scope != Scope::ClusterWide {
            let origin = if input.namespace.is_some() {
                "from its metadata.namespace"
            } else {
                default_origin
            };
            eprintln!("binding {name} to namespace {namespace} ({origin})");
        }
        input
            .check_json(None)
            .map_err(|e| Failure::Input(e.into()))?;
        if args.raw {
            return seal_raw(input, &name, &namespace, scope, &recipients);
        }
        check_metadata(input, &args.allow_metadata_prefix)?;
        let mut sealed = seal_secret(input, &name, &namespace, scope, &recipients)
            .map_err(|e| Failure::Input(e.into()))?;
        set_template(&mut sealed, template.as_ref())?;
        kage_api::seal::check_sealed_type(&sealed).map_err(|e| Failure::Input(e.into()))?;
        stamp(&mut sealed);
        docs.push(sealed_secret_to_document(&sealed));
    }
    let text = write_documents(&docs, args.format.into());
    match &args.write {
        Some(path) => files::write_atomic(path, text.as_bytes(), None)?,
        None => crate::files::print(&text)?,
    }
    Ok(())
}

/// The Secrets to seal: from --from-* flags, or from the manifest (-f or stdin).
fn read_inputs(args: &SealArgs) -> Result<Vec<SecretInput>, Failure> {
    let from_flags = !(args.from_literal.is_empty()
        && args.from_file.is_empty()
        && args.from_env_file.is_empty());
    if from_flags {
        if args.file.is_some() {
            return Err(Failure::Input(anyhow!(
                "use either -f or --from-* flags, not both"
            )));
        }
        return Ok(vec![input_from_flags(args).map_err(Failure::Input)?]);
    }
    if args.raw {
        return Err(Failure::Input(anyhow!(
            "--raw takes one value from --from-literal or --from-file"
        )));
    }
    let docs = crate::input::read_documents(args.file.as_deref())?;
    if docs.is_empty() {
        return Err(Failure::Input(anyhow!("no Secret in the input")));
    }
    docs.into_iter()
        .map(|doc| {
            let mut input =
                SecretInput::from_document(doc).map_err(|e| Failure::Input(e.into()))?;
            if input.type_.is_none() {
                input.type_.clone_from(&args.type_);
            }
            Ok(input)
        })
        .collect()
}

fn input_from_flags(args: &SealArgs) -> anyhow::Result<SecretInput> {
    let mut input = SecretInput {
        type_: args.type_.clone(),
        ..SecretInput::default()
    };
    let mut stdin_used = false;
    for literal in &args.from_literal {
        let (key, value) = literal
            .split_once('=')
            .ok_or_else(|| anyhow!("--from-literal needs KEY=VALUE (got a value without '=')"))?;
        if value == "-" {
            if std::mem::replace(&mut stdin_used, true) || args.file.is_some() {
                bail!("only one value can come from stdin (--from-literal {key}=-)");
            }
            input.insert_new(key, value_from_stdin(key)?)?;
        } else {
            input.insert_new(key, Plaintext::from(value.as_bytes()))?;
        }
    }
    for spec in &args.from_file {
        let (key, path) = match spec.split_once('=') {
            Some((k, p)) => (k.to_owned(), PathBuf::from(p)),
            None => {
                let path = PathBuf::from(spec);
                let key = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| anyhow!("--from-file {spec}: no file name to use as key"))?;
                (key, path)
            }
        };
        input.insert_new(&key, read_value_file(&path)?)?;
    }
    for path in &args.from_env_file {
        let text = read_value_file(path)?;
        let text = std::str::from_utf8(text.as_bytes())
            .map_err(|_| anyhow!("{} is not UTF-8 text", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| anyhow!("{} line {}: expected KEY=VALUE", path.display(), n + 1))?;
            input.insert_new(key.trim_end(), Plaintext::from(value.as_bytes()))?;
        }
    }
    Ok(input)
}

/// The value of `--from-literal KEY=-`: asked for without echo on a terminal, else all of
/// stdin (one trailing newline dropped, as `echo` adds one).
fn value_from_stdin(key: &str) -> anyhow::Result<Plaintext> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let typed = zeroize::Zeroizing::new(
            rpassword::prompt_password(format!("value of {key} (not shown): "))
                .context("reading the value from the terminal")?,
        );
        return Ok(Plaintext::from(typed.as_bytes()));
    }
    let mut bytes = Vec::with_capacity(MAX_VALUE_BYTES + 1);
    std::io::stdin()
        .take(MAX_VALUE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .context("reading the value from stdin")?;
    if bytes.len() > MAX_VALUE_BYTES {
        bail!("the value of {key} on stdin is larger than the limit of {MAX_VALUE_BYTES} bytes");
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    Ok(Plaintext::new(bytes))
}

fn read_value_file(path: &Path) -> anyhow::Result<Plaintext> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // Sized up front: a growing buffer would leave copies of the value in freed memory.
    let size = file.metadata().map_or(0, |m| m.len() as usize);
    let mut bytes = Vec::with_capacity(size.min(MAX_VALUE_BYTES + 1));
    file.take(MAX_VALUE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    let value = Plaintext::new(bytes);
    if value.len() > MAX_VALUE_BYTES {
        bail!(
            "{} is larger than the limit of {MAX_VALUE_BYTES} bytes",
            path.display()
        );
    }
    Ok(value)
}

/// The recipients: from flags, else from the `.kage.yaml` rule, else the cluster's current key;
/// said on stderr, and checked against the cluster's published keys when they can be read.
fn recipients(
    args: &SealArgs,
    resolved: &kage_yaml::Resolved,
    published: Option<&PublishedKeys>,
) -> Result<Vec<Recipient>, Failure> {
    let parse = |s: &str, from: &str| {
        s.parse::<Recipient>()
            .map_err(|e| Failure::Input(anyhow!("{from}: {e}")))
    };
    let mut list = args.recipients.clone();
    for file in &args.recipients_files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for line in text.lines().map(str::trim) {
            if !line.is_empty() && !line.starts_with('#') {
                list.push(parse(line, &file.display().to_string())?);
            }
        }
    }
    let mut recovery = Vec::new();
    let mut origin = Origin::Flags;
    if list.is_empty()
        && let Some(source) = &resolved.source
    {
        list.extend(resolved.recipients());
        recovery.extend(resolved.recovery.iter().cloned());
        origin = Origin::Config(source.clone());
    }
    if list.is_empty() {
        // Last resort: the cluster's current key, read through the kubeconfig.
        match published {
            Some(keys) => {
                list.push(keys.current.clone());
                origin = Origin::Cluster;
            }
            None => {
                return Err(Failure::Input(
                    Mistake::NoRecipients {
                        tried: "none given with -r/-R, no .kage.yaml rule matches, and the cluster's key could not be fetched",
                    }
                    .into(),
                ));
            }
        }
    }
    recovery.extend(args.recovery.iter().cloned());
    list.extend(args.recovery.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    list.retain(|r| seen.insert(r.fingerprint()));
    if let Some(keys) = published {
        recipients::check_against_cluster(&list, keys).map_err(Failure::Input)?;
    }
    recipients::announce(&origin, &list, &recovery);
    Ok(list)
}

/// The controller refuses a template that sets a label or annotation outside its allowlist
/// (`TemplateRefused`, [`kage_api::metadata_policy`]): refuse it here, before sealing.
pub(super) fn check_metadata(input: &SecretInput, allowed: &[String]) -> Result<(), Failure> {
    kage_api::MetadataPolicy::new(allowed)
        .check_maps(&input.labels, &input.annotations)
        .map_err(|e| Failure::Input(e.into()))
}

/// A cluster-wide value opens in any namespace under the same key name: say so every time.
pub(super) fn warn_if_wide(scope: Scope) {
    if scope == Scope::ClusterWide {
        eprintln!(
            "warning: scope cluster-wide: whoever can create a SealedSecret in any namespace can unseal these values there (under the same key name)"
        );
    }
}

fn name_of(input: &SecretInput, args: &SealArgs) -> Result<String, Failure> {
    match (&input.name, &args.name) {
        (Some(a), Some(b)) if a != b => Err(Failure::Input(
            Mistake::Contradicts {
                flag: "--name",
                given: b.clone(),
                field: "metadata.name".to_owned(),
                found: a.clone(),
            }
            .into(),
        )),
        (Some(n), _) | (None, Some(n)) => Ok(n.clone()),
        (None, None) => Err(Failure::Input(kage_api::ConvertError::MissingName.into())),
    }
}

/// kubectl's order: the input's namespace, then -n, then the kubeconfig's, then "default".
fn namespace_of(input: &SecretInput, args: &SealArgs, default: &str) -> Result<String, Failure> {
    match (&input.namespace, &args.namespace) {
        (Some(a), Some(b)) if a != b => Err(Failure::Input(
            Mistake::Contradicts {
                flag: "-n",
                given: b.clone(),
                field: "metadata.namespace".to_owned(),
                found: a.clone(),
            }
            .into(),
        )),
        (Some(ns), _) => Ok(ns.clone()),
        (None, _) => Ok(default.to_owned()),
    }
}

fn seal_raw(
    input: &SecretInput,
    name: &str,
    namespace: &str,
    scope: Scope,
    recipients: &[Recipient],
) -> Outcome {
    let mut values = input.data.iter();
    let (Some((key, value)), None) = (values.next(), values.next()) else {
        return Err(Failure::Input(anyhow!("--raw seals exactly one value")));
    };
    let sealed = seal_value(
        value,
        scope,
        &Location::new(namespace, name, key),
        recipients,
    )
    .map_err(|e| Failure::Input(e.into()))?;
    Ok(crate::files::print(&format!("{}\n", sealed.to_base64()))?)
}

pub(super) fn stamp(sealed: &mut SealedSecret) {
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_default();
    sealed
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(SEALED_AT_ANNOTATION.to_owned(), now.to_string());
}

/// Reseals the keys of `input` into the one SealedSecret in `path`; other values and other
/// documents are kept. The file is only replaced once everything succeeded.
fn merge_into(
    path: &Path,
    input: &mut SecretInput,
    args: &SealArgs,
    config_scope: Option<Scope>,
    (recipients, published): (&[Recipient], Option<&PublishedKeys>),
    template: Option<&SecretTemplate>,
) -> Outcome {
    let mut file = ManifestFile::read(path, manifest::is_sealed_secret).map_err(Failure::Input)?;
    let [at] = file.positions[..] else {
        return Err(Failure::Input(anyhow!(
            "{} must hold exactly one SealedSecret to merge into, found {}",
            path.display(),
            file.positions.len()
        )));
    };
    let mut sealed =
        sealed_secret_from_document(&file.docs[at]).map_err(|e| Failure::Input(e.into()))?;
    if let Some(name) = input.name.as_ref().or(args.name.as_ref())
        && name != sealed.name_or_empty()
    {
        return Err(Failure::Input(anyhow!(
            "the input is named {name:?} but {} holds {:?}",
            path.display(),
            sealed.name_or_empty()
        )));
    }
    if let Some(ns) = input.namespace.as_ref().or(args.namespace.as_ref())
        && ns != sealed.namespace_or_empty()
    {
        return Err(Failure::Input(
            Mistake::Contradicts {
                flag: "-n",
                given: ns.clone(),
                field: format!("metadata.namespace of {}", path.display()),
                found: sealed.namespace_or_empty().to_owned(),
            }
            .into(),
        ));
    }
    // Keep the scope the file already uses unless told otherwise.
    let existing: Vec<Scope> = sealed
        .spec
        .encrypted_data
        .values()
        .filter_map(|v| SealedValue::from_base64(v).ok())
        .map(|v| v.binding().scope())
        .collect();
    let scope = args
        .scope
        .map(Into::into)
        .or(config_scope)
        .or_else(|| existing.first().copied())
        .unwrap_or_default();
    warn_if_wide(scope);
    check_siblings(&sealed, input, recipients, published, args)?;
    let existing_type = sealed
        .spec
        .template
        .as_ref()
        .and_then(|t| t.type_.as_deref());
    input
        .check_json(existing_type)
        .map_err(|e| Failure::Input(e.into()))?;
    merge_values(&mut sealed, input, scope, recipients).map_err(|e| Failure::Input(e.into()))?;
    set_template(&mut sealed, template)?;
    kage_api::seal::check_sealed_type(&sealed).map_err(|e| Failure::Input(e.into()))?;
    stamp(&mut sealed);
    file.replace(vec![sealed_secret_to_document(&sealed)])?;
    file.write()?;
    Ok(())
}

/// A value of a file is never sealed to fewer recipients than its siblings: every recipient
/// all other values of the SealedSecret share must be among `recipients`, unless it is a
/// cluster key or named with --drop-recipient.
fn check_siblings(
    sealed: &kage_api::SealedSecret,
    input: &SecretInput,
    recipients: &[Recipient],
    published: Option<&PublishedKeys>,
    args: &SealArgs,
) -> Result<(), Failure> {
    let siblings: Vec<SealedValue> = sealed
        .spec
        .encrypted_data
        .iter()
        .filter(|(key, _)| !input.data.contains_key(*key))
        .filter_map(|(_, v)| SealedValue::from_base64(v).ok())
        .collect();
    let Some((first, rest)) = siblings.split_first() else {
        return Ok(());
    };
    let shared: Vec<Fingerprint> = first
        .recipients()
        .iter()
        .filter(|f| rest.iter().all(|v| v.recipients().contains(f)))
        .copied()
        .collect();
    let after: Vec<Fingerprint> = recipients.iter().map(Recipient::fingerprint).collect();
    let allowed = &args.drop_recipients;
    let lost = recipients::dropped(&shared, &after, published, allowed);
    if lost.is_empty() {
        return Ok(());
    }
    Err(Failure::Input(recipients::dropped_error(
        &format!(
            "the new values of SealedSecret {}/{}, unlike its other values,",
            sealed.namespace_or_empty(),
            sealed.name_or_empty()
        ),
        &lost,
    )))
}

/// The fields a template file may set: those of `spec.template`.
const TEMPLATE_FIELDS: &[&str] = &["type", "immutable", "metadata", "data", "omit"];

/// Reads `spec.template` from a file; an unknown field is an error, not silently ignored.
fn read_template_file(path: &Path) -> Result<SecretTemplate, Failure> {
    let text = files::read_input(Some(path))?;
    let doc: serde_json::Value = serde_saphyr::from_str(&text)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(Failure::Input)?;
    let fields = doc
        .as_object()
        .ok_or_else(|| Failure::Input(anyhow!("{} must hold a mapping", path.display())))?;
    if let Some(unknown) = fields
        .keys()
        .find(|k| !TEMPLATE_FIELDS.contains(&k.as_str()))
    {
        return Err(Failure::Input(anyhow!(
            "{}: unknown field {unknown:?}; a template has {}",
            path.display(),
            TEMPLATE_FIELDS.join(", ")
        )));
    }
    serde_json::from_value(doc)
        .with_context(|| format!("reading the template in {}", path.display()))
        .map_err(Failure::Input)
}

/// Puts the fields the template file sets into the SealedSecret's template, then checks the
/// templates as the controller will (every check that can fail does so here, offline).
fn set_template(sealed: &mut SealedSecret, from_file: Option<&SecretTemplate>) -> Outcome {
    if let Some(file) = from_file {
        let template = sealed
            .spec
            .template
            .get_or_insert_with(SecretTemplate::default);
        if file.type_.is_some() {
            template.type_.clone_from(&file.type_);
        }
        if file.immutable.is_some() {
            template.immutable = file.immutable;
        }
        if file.metadata.is_some() {
            template.metadata.clone_from(&file.metadata);
        }
        template.data.clone_from(&file.data);
        template.omit.clone_from(&file.omit);
    }
    Templates::check(sealed).map_err(|e| {
        Failure::Input(anyhow!(
            "SealedSecret {}/{}: {e}",
            sealed.namespace_or_empty(),
            sealed.name_or_empty()
        ))
    })?;
    Ok(())
}
