//! `kage key fetch`: the cluster's current recipient, pinned if asked, saved into `.kage.yaml`
//! if asked.

use anyhow::anyhow;

use crate::args::FetchArgs;
use crate::cluster::Cluster;
use crate::kage_yaml;
use crate::outcome::{Failure, Outcome};

pub fn run(args: FetchArgs) -> Outcome {
    let cluster = Cluster::new(&args.cluster)?;
    let keys = cluster.block_on(cluster.public_keys())?;
    let current = &keys.current;
    if let Some(pin) = &args.pin
        && current != pin
    {
        return Err(Failure::Unseal(anyhow!(
            "the cluster's current key is {}, not the pinned {}: refusing it (the key was rotated, or this is not the cluster you think)",
            current.fingerprint(),
            pin.fingerprint()
        )));
    }
    for key in &keys.keys {
        let marker = if key.recipient == *current {
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
        kage_yaml::save_cluster_key(path, &keys)?;
        eprintln!("saved {} to {}", current.fingerprint(), path.display());
    }
    Ok(crate::files::print(&format!("{current}\n"))?)
}
