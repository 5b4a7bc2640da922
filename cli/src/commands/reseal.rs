//! `kage reseal`: move SealedSecret files to the cluster's current key, in place.
//!
//! Through the controller by default (plaintext never leaves the cluster), or offline with
//! `-i`. Each value keeps its binding and scope. Only SealedSecret documents change; the
//! other documents of a file are written back as they were read, and each file is replaced
//! atomically, or not at all.

use std::path::Path;

use anyhow::{Context, anyhow};
use kage_api::convert::{sealed_secret_from_document, sealed_secret_to_document, sealed_values};
use kage_api::manifest::{self, Document, OutputFormat};
use kage_core::{Identity, KeyRing, Location, Recipient, seal};
use zeroize::Zeroizing;

use crate::args::ResealArgs;
use crate::cluster::{block_on, call_controller, connect, fetch_keys};
use crate::{Failure, Outcome, config, files};

pub fn run(args: ResealArgs) -> Outcome {
    let ring = load_identities(&args)?;
    let paths = if args.paths.is_empty() {
        vec![".".into()]
    } else {
        args.paths.clone()
    };
    let mut failed = 0;
    let mut resealed = 0;
    for root in &paths {
        for file in files::manifest_files(root)? {
            match reseal_file(&file, &args, ring.as_ref()) {
                Ok(0) => {}
                Ok(n) => {
                    resealed += n;
                    eprintln!("{}: resealed {n} SealedSecret(s)", file.display());
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("{}: {e:#} (file left unchanged)", file.display());
                }
            }
        }
    }
    eprintln!("resealed {resealed} SealedSecret(s); {failed} file(s) failed");
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
    let mut ring = KeyRing::default();
    for path in &args.identities {
        let text = Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        );
        for id in Identity::parse_file(&text)
            .map_err(|e| Failure::Input(anyhow!("{}: {e}", path.display())))?
        {
            ring.insert(id);
        }
    }
    Ok(Some(ring))
}

/// Reseals the SealedSecrets of one file; returns how many.
fn reseal_file(file: &Path, args: &ResealArgs, ring: Option<&KeyRing>) -> anyhow::Result<usize> {
    let text = files::read_input(Some(file))?;
    let Ok(mut docs) = manifest::read_documents(&text) else {
        // Not a manifest: not ours to touch.
        return Ok(0);
    };
    let positions: Vec<usize> = (0..docs.len())
        .filter(|&i| manifest::kind(&docs[i]) == Some("SealedSecret"))
        .collect();
    if positions.is_empty() {
        return Ok(0);
    }
    let start = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let configured = config::resolve(start, Some(file))?.recipients;
    let sealed: Vec<Document> = positions.iter().map(|&i| docs[i].clone()).collect();
    let fresh = match ring {
        Some(ring) => reseal_offline(&sealed, ring, &recipients_for(args, &configured)?)?,
        None => reseal_in_cluster(&sealed, &args.cluster, &configured)?,
    };
    if fresh.len() != positions.len() {
        anyhow::bail!(
            "the controller returned {} objects for {}",
            fresh.len(),
            positions.len()
        );
    }
    for (&i, doc) in positions.iter().zip(fresh) {
        docs[i] = doc;
    }
    let format = if file.extension().is_some_and(|e| e == "json") {
        OutputFormat::Json
    } else {
        OutputFormat::Yaml
    };
    files::write_atomic(
        file,
        manifest::write_documents(&docs, format).as_bytes(),
        None,
    )?;
    Ok(positions.len())
}

fn recipients_for(args: &ResealArgs, configured: &[Recipient]) -> anyhow::Result<Vec<Recipient>> {
    if !args.recipients.is_empty() {
        return args
            .recipients
            .iter()
            .map(|r| r.parse().map_err(|e| anyhow!("-r: {e}")))
            .collect();
    }
    if !configured.is_empty() {
        return Ok(configured.to_vec());
    }
    // Fetched once for the whole run, not once per file.
    static CLUSTER_KEY: std::sync::OnceLock<Recipient> = std::sync::OnceLock::new();
    if let Some(key) = CLUSTER_KEY.get() {
        return Ok(vec![key.clone()]);
    }
    let keys = block_on(async {
        let (client, _) = connect(&args.cluster).await?;
        fetch_keys(client, &args.cluster).await
    })
    .context("no recipients: pass -r, add a .kage.yaml rule, or make the cluster reachable")?;
    Ok(vec![CLUSTER_KEY.get_or_init(|| keys.current).clone()])
}

fn reseal_offline(
    sealed: &[Document],
    ring: &KeyRing,
    recipients: &[Recipient],
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
                let fresh = seal(plain.as_bytes(), value.binding(), recipients)?;
                object.spec.encrypted_data.insert(key, fresh.to_base64());
            }
            Ok(sealed_secret_to_document(&object))
        })
        .collect()
}

fn reseal_in_cluster(
    sealed: &[Document],
    cluster: &crate::args::ClusterArgs,
    keep: &[Recipient],
) -> anyhow::Result<Vec<Document>> {
    let body = manifest::write_documents(sealed, OutputFormat::Yaml);
    let keep: Vec<String> = keep.iter().map(ToString::to_string).collect();
    let path = format!("/v1/reseal?keep={}", keep.join(","));
    let answer = block_on(call_controller(cluster, "POST", &path, body.into_bytes()))?;
    let answer: serde_json::Value =
        serde_json::from_str(&answer).context("reading the controller's answer")?;
    answer["objects"]
        .as_array()
        .cloned()
        .ok_or_else(|| anyhow!("the controller's answer has no objects"))
}
