//! `kage key list`: the published keys, one line each.

use crate::args::ClusterOnly;
use crate::cluster::Cluster;
use crate::outcome::Outcome;

pub fn run(args: ClusterOnly) -> Outcome {
    let cluster = Cluster::new(&args.cluster)?;
    let keys = cluster.block_on(cluster.public_keys())?;
    let mut out = format!(
        "{:<18} {:<64} {:<32} {:<8} CURRENT\n",
        "FINGERPRINT", "RECIPIENT", "CREATED", "STATE"
    );
    for key in &keys.keys {
        out.push_str(&format!(
            "{:<18} {:<64} {:<32} {:<8} {}\n",
            key.fingerprint.to_string(),
            key.recipient.to_string(),
            key.created_at.to_string(),
            key.state.as_str(),
            if key.recipient == keys.current {
                "*"
            } else {
                ""
            }
        ));
    }
    Ok(crate::files::print(&out)?)
}
