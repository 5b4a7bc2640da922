//! `kage key retire`: marks one key retired, so that values sealed only to it no longer open
//! (after a compromise, the stolen key opens nothing in the cluster).

use anyhow::bail;
use k8s_openapi::api::core::v1::Secret;
use kage_api::key_secret::{self, KeyMeta, KeyState};
use kage_api::unseal::wipe_secret;
use kube::Api;
use kube::api::Patch;

use super::{cli_patch, key_secret_selector, key_secrets};
use crate::args::RetireArgs;
use crate::cluster::Cluster;
use crate::outcome::Outcome;

pub fn run(args: RetireArgs) -> Outcome {
    let target = &args.fingerprint;
    let ns = &args.cluster.controller_namespace;
    let cluster = Cluster::new(&args.cluster)?;
    cluster.block_on(async {
        let (client, _) = cluster.client().await?;
        let api: Api<Secret> = Api::namespaced(client, ns);
        let list = api
            .list_metadata(&key_secret_selector())
            .await
            .map_err(|e| key_secrets(ns, "list", "listing the key Secrets").error(e))?;
        let keys: Vec<(KeyMeta, String)> = list
            .items
            .iter()
            .map(|m| {
                (
                    KeyMeta::of(&m.metadata),
                    m.metadata.resource_version.clone().unwrap_or_default(),
                )
            })
            .collect();
        let Some((found, version)) = keys.iter().find(|(k, _)| k.is(target)) else {
            bail!("no key with fingerprint {target} in {ns} (see `kage key list`)");
        };
        let others_active = keys
            .iter()
            .filter(|(k, _)| !k.is(target) && k.state == KeyState::Active)
            .count();
        if others_active == 0 {
            bail!(
                "{target} is the only active key; rotate first (`kage key rotate`), then reseal and retire it"
            );
        }
        let name = &found.name;
        // Only the version that was checked: a key changed meanwhile is not retired blindly.
        let mut retired = api
            .patch(
                name,
                &cli_patch(),
                &Patch::Merge(&key_secret::retired_patch(version)),
            )
            .await
            .map_err(|e| {
                key_secrets(
                    ns,
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
