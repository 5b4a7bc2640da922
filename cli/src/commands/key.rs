//! `kage key ...`: the cluster's sealing keys, seen from outside.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use k8s_openapi::api::core::v1::ConfigMap;
use kage_api::{
    ROTATION_HANDLED_ANNOTATION, ROTATION_REQUEST_CONFIGMAP, ROTATION_REQUEST_KEY,
    ROTATION_RESULT_ANNOTATION,
};
use kage_core::{Fingerprint, Recipient};
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::args::{ClusterOnly, FetchArgs, KeyCommand};
use crate::client::{PublicKeys, block_on, connect, fetch_keys};
use crate::cluster_error::Request;
use crate::run::{Failure, Outcome};
use crate::{files, kage_yaml};

pub fn run(command: KeyCommand) -> Outcome {
    match command {
        KeyCommand::Fetch(args) => fetch(args),
        KeyCommand::List(args) => list(args),
        KeyCommand::Rotate(args) => rotate(args),
        KeyCommand::Backup(args) => super::backup::backup(args),
        KeyCommand::Restore(args) => super::backup::restore(args),
        KeyCommand::Retire(args) => super::backup::retire(args),
    }
}

fn list(args: ClusterOnly) -> Outcome {
    let keys = block_on(async {
        let (client, _) = connect(&args.cluster).await?;
        fetch_keys(client, &args.cluster).await
    })?;
    let mut out = format!(
        "{:<18} {:<64} {:<32} {:<8} CURRENT\n",
        "FINGERPRINT", "RECIPIENT", "CREATED", "STATE"
    );
    for key in &keys.keys {
        let current = key.recipient == keys.current.to_string();
        out.push_str(&format!(
            "{:<18} {:<64} {:<32} {:<8} {}\n",
            key.fingerprint,
            key.recipient,
            key.created_at,
            key.state.as_str(),
            if current { "*" } else { "" }
        ));
    }
    super::print(&out)
}

/// How long `kage key rotate` waits for the controller's answer.
const ROTATION_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes a new request id into the rotation-request ConfigMap (RBAC decides who may), then
/// waits for the controller to answer it.
fn rotate(args: ClusterOnly) -> Outcome {
    let ns = args.cluster.controller_namespace.clone();
    // Unique, not secret: it only tells this request from the last one.
    let request = format!(
        "{}-{}",
        jiff::Timestamp::now().as_nanosecond(),
        std::process::id()
    );
    let result = block_on(async {
        let (client, _) = connect(&args.cluster).await?;
        let api: Api<ConfigMap> = Api::namespaced(client, &ns);
        let map = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ROTATION_REQUEST_CONFIGMAP, "namespace": ns},
            "data": {ROTATION_REQUEST_KEY: request},
        });
        api.patch(
            ROTATION_REQUEST_CONFIGMAP,
            &PatchParams::apply("kage").force(),
            &Patch::Apply(&map),
        )
        .await
        .map_err(|e| {
            rotation_request(
                &ns,
                "patch",
                "requesting a rotation (the kage-key-admin Role allows it)",
            )
            .error(e)
        })?;
        eprintln!("rotation requested ({request}); waiting for the controller");
        let deadline = std::time::Instant::now() + ROTATION_WAIT;
        loop {
            let map = api.get(ROTATION_REQUEST_CONFIGMAP).await.map_err(|e| {
                rotation_request(&ns, "get", "reading the rotation's answer").error(e)
            })?;
            let annotations = map.metadata.annotations.unwrap_or_default();
            let result = annotations.get(ROTATION_RESULT_ANNOTATION);
            if annotations.get(ROTATION_HANDLED_ANNOTATION) == Some(&request)
                && let Some(result) = result.filter(|r| *r != "in progress")
            {
                return Ok(result.clone());
            }
            if std::time::Instant::now() > deadline {
                bail!(
                    "the controller has not answered rotation request {request} within {}s: is it running (`kage status`)?",
                    ROTATION_WAIT.as_secs()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    })?;
    if result.starts_with("rotated") {
        eprintln!("{result}; it is published in a few seconds (`kage key list`)");
        Ok(())
    } else {
        Err(Failure::Other(anyhow!("the controller answered: {result}")))
    }
}

fn fetch(args: FetchArgs) -> Outcome {
    let pin = args
        .pin
        .as_deref()
        .map(|p| {
            if p.parse::<Fingerprint>().is_ok() {
                return Err(Failure::Input(anyhow!(
                    "--pin takes the whole age1... recipient, not its fingerprint (a fingerprint is too short to pin a key)"
                )));
            }
            p.parse::<Recipient>()
                .map_err(|e| Failure::Input(anyhow!("--pin: {e}")))
        })
        .transpose()?;
    let keys = block_on(async {
        let (client, _) = connect(&args.cluster).await?;
        fetch_keys(client, &args.cluster).await
    })?;
    let current = &keys.current;
    if let Some(pin) = pin
        && *current != pin
    {
        return Err(Failure::Unseal(anyhow!(
            "the cluster's current key is {}, not the pinned {}: refusing it (the key was rotated, or this is not the cluster you think)",
            current.fingerprint(),
            pin.fingerprint()
        )));
    }
    for key in &keys.keys {
        let marker = if key.recipient == current.to_string() {
            "current"
        } else {
            ""
        };
        eprintln!(
            "{}  {}  created {}  {marker}",
            key.fingerprint, key.recipient, key.created_at
        );
    }
    if let Some(path) = &args.save {
        save(path, &keys)?;
        eprintln!("saved {} to {}", current.fingerprint(), path.display());
    }
    super::print(&format!("{current}\n"))
}

/// Puts the cluster's current key into the path-less rule of `.kage.yaml` (adding the rule, or
/// the file), and in place of every older key of this cluster that any rule names.
fn save(path: &Path, keys: &PublicKeys) -> Outcome {
    let recipient = keys.current.to_string();
    let mut doc: serde_json::Value = match std::fs::read_to_string(path) {
        Ok(text) => serde_saphyr::from_str(&text)
            .map_err(|e| Failure::Input(anyhow!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({"rules": []}),
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context(format!("reading {}", path.display()))
                .into());
        }
    };
    let rules = doc["rules"]
        .as_array_mut()
        .ok_or_else(|| Failure::Input(anyhow!("{}: `rules` is not a list", path.display())))?;
    let older = |r: &serde_json::Value| {
        r.as_str()
            .is_some_and(|r| r != recipient && keys.keys.iter().any(|k| k.recipient == r))
    };
    for rule in rules.iter_mut() {
        if let Some(list) = rule.get_mut("recipients").and_then(|l| l.as_array_mut())
            && list.iter().any(older)
        {
            list.retain(|r| !older(r) && r.as_str() != Some(recipient.as_str()));
            list.insert(0, serde_json::json!(recipient));
        }
    }
    match rules.iter_mut().find(|r| r.get("path").is_none()) {
        Some(rule) => rule["recipients"] = serde_json::json!([recipient]),
        None => rules.push(serde_json::json!({"recipients": [recipient]})),
    }
    // Refuse to write something `kage seal` would not read back.
    let text = serde_saphyr::to_string(&doc).context("writing .kage.yaml")?;
    serde_saphyr::from_str::<kage_yaml::Config>(&text)
        .map_err(|e| Failure::Input(anyhow!("{}: {e}", path.display())))?;
    files::write_atomic(path, text.as_bytes(), None)?;
    Ok(())
}

/// A request on the rotation-request ConfigMap in `ns`, to name it in errors.
fn rotation_request<'a>(ns: &'a str, verb: &'static str, action: &'a str) -> Request<'a> {
    Request {
        action,
        verb,
        resource: "configmaps",
        name: Some(ROTATION_REQUEST_CONFIGMAP),
        namespace: Some(ns),
        ..Request::default()
    }
}
