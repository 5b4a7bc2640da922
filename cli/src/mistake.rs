//! The mistakes people make most, as types: the error they cause and the next step to take.
//! The hint is chosen from the error's type, never from its wording.

use kage_core::{BindingError, OpenError};

use crate::cluster_error::ClusterError;

/// A mistake made on the command line or in the input.
#[derive(Debug, thiserror::Error)]
pub enum Mistake {
    /// No recipient to seal to could be found.
    #[error("no recipients: {tried}")]
    NoRecipients {
        /// What was tried.
        tried: &'static str,
    },
    /// The controller's public keys could not be read.
    #[error(
        "cannot read ConfigMap {namespace}/{config_map}: is the kage controller installed and running?"
    )]
    NoController {
        /// The controller namespace looked in.
        namespace: String,
        /// The ConfigMap's name.
        config_map: &'static str,
    },
    /// A flag says one thing and the input another.
    #[error("{flag} {given:?} contradicts {field} {found:?} of the input")]
    Contradicts {
        /// The flag.
        flag: &'static str,
        /// What the flag says.
        given: String,
        /// The field of the input.
        field: String,
        /// What the input says.
        found: String,
    },
}

impl Mistake {
    fn hint(&self) -> String {
        match self {
            Mistake::NoRecipients { .. } => {
                "pass -r age1..., add a rule to .kage.yaml (`kage key fetch --save`), or check that the cluster is reachable".to_owned()
            }
            Mistake::NoController { .. } => {
                "install it with `kubectl apply -k deploy/foundation/ && kubectl apply -k deploy/`, or pass --controller-namespace"
                    .to_owned()
            }
            Mistake::Contradicts { flag, field, .. } => {
                format!("drop {flag}, or change {field} in the input")
            }
        }
    }
}

/// What kage does instead of a kubeseal flag a user arrives with (`--cert FILE` is reported
/// as `--cert`).
pub fn kubeseal_flag(flag: &str) -> Option<&'static str> {
    let flag = flag.split(['=', ' ']).next().unwrap_or(flag);
    Some(match flag {
        "--cert" => {
            "kage seals to an age recipient, not a certificate: -r age1... or -R FILE (`kage key fetch` prints the cluster's)"
        }
        "--fetch-cert" => {
            "`kage key fetch` prints the cluster's recipient (`--save` writes it into .kage.yaml)"
        }
        "--re-encrypt" => "`kage reseal FILE...` re-encrypts files to the cluster's current key",
        "--validate" => {
            "`kage validate FILE...` checks offline; add --cluster to ask the controller"
        }
        "--recovery-unseal" | "--recovery-private-key" => {
            "`kage unseal -i IDENTITY -f FILE` opens values offline with a private key"
        }
        "--format" => "-o yaml|json",
        "--sealed-secret-file" => "`kage seal --merge-into FILE` updates a SealedSecret in place",
        "--allow-empty-data" => "a SealedSecret needs at least one value",
        _ => return None,
    })
}

/// Whether the error is the cluster's state rather than the input's: exit code 6.
pub fn is_about_the_cluster(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.is::<ClusterError>()
            || matches!(
                cause.downcast_ref::<Mistake>(),
                Some(Mistake::NoController { .. })
            )
    })
}

/// A next step for the error, from its type or the type of one of its causes.
pub fn hint(e: &anyhow::Error) -> Option<String> {
    if let Some(mistake) = e.chain().find_map(|c| c.downcast_ref::<Mistake>()) {
        return Some(mistake.hint());
    }
    if let Some(cluster) = e.chain().find_map(|c| c.downcast_ref::<ClusterError>()) {
        return Some(cluster.hint());
    }
    let hint = e.chain().find_map(|cause| match cause.downcast_ref::<OpenError>()? {
        OpenError::NoKey { .. } => {
            Some("pass the identity file of one of the fingerprints above with -i")
        }
        OpenError::Tampered => Some(
            "the file was changed after sealing: take it from git history or seal the value again",
        ),
        OpenError::Binding(BindingError::Mismatch { field, .. }) => match *field {
            "namespace" => Some(
                "a sealed value only opens where it was sealed: seal it again for this namespace",
            ),
            "name" => Some(
                "a strict value only opens in the SealedSecret it was sealed for: seal it again, or use --scope namespace-wide",
            ),
            _ => Some("values cannot be moved between keys: seal the value again under the new key"),
        },
        OpenError::Binding(_) => None,
    });
    hint.map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_follows_the_type_through_context_and_sources() {
        let mistake = anyhow::Error::from(Mistake::NoRecipients { tried: "reworded" })
            .context("sealing x.yaml");
        assert!(hint(&mistake).unwrap().starts_with("pass -r"));
        let open = kage_api::ConvertError::Open {
            key: "k".into(),
            source: OpenError::Tampered,
        };
        let open = anyhow::Error::from(open).context("SealedSecret a/b");
        assert!(hint(&open).unwrap().contains("git history"));
        assert_eq!(
            hint(&anyhow::anyhow!("no recipients, tampered, contradicts")),
            None
        );
    }
}
