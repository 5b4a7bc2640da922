//! Who a value is sealed to, said out loud and checked against the cluster's published keys:
//! a recipient that is a cluster key no longer current draws a warning, a retired one is
//! refused (after a compromise it is the stolen key).

use std::time::Duration;

use anyhow::anyhow;
use kage_api::wire::KeyState;
use kage_core::{Fingerprint, Recipient};

use kage_api::wire::PublishedKeys;

use crate::cluster::Cluster;
use crate::kage_yaml::{self, Resolved, Source};
use crate::mistake::Mistake;

/// How long `seal`, `reseal` and `validate` wait for the cluster's public keys before going on
/// without them (offline work must not hang).
pub const KEYS_WAIT: Duration = Duration::from_secs(3);

/// The cluster's published keys, if the kubeconfig reaches them within [`KEYS_WAIT`].
pub fn published_keys(cluster: &Cluster) -> Option<PublishedKeys> {
    fetch_published_keys(cluster).ok()
}

/// The cluster's published keys within [`KEYS_WAIT`], or why not.
pub fn fetch_published_keys(cluster: &Cluster) -> anyhow::Result<PublishedKeys> {
    cluster.block_on(async {
        tokio::time::timeout(KEYS_WAIT, cluster.public_keys())
            .await
            .map_err(|_| {
                anyhow::Error::from(crate::cluster_error::ClusterError::Unreachable {
                    action: "reading the cluster's public keys".to_owned(),
                    cause: format!("no answer within {} s", KEYS_WAIT.as_secs()),
                })
            })?
    })
}

/// What a published key says of `recipient`: `None` when it is not a cluster key.
fn cluster_state(keys: &PublishedKeys, recipient: &Recipient) -> Option<(bool, KeyState)> {
    keys.find(recipient)
        .map(|k| (keys.current == *recipient, k.state))
}

/// Refuses a retired cluster key among `recipients` and warns on stderr about one that is
/// active but not current. Recipients the cluster does not know (recovery keys, other
/// clusters) pass.
pub fn check_against_cluster(recipients: &[Recipient], keys: &PublishedKeys) -> anyhow::Result<()> {
    for warning in cluster_warnings(recipients, keys)? {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// [`check_against_cluster`]'s verdict: an error for a retired key, else the warnings.
fn cluster_warnings(recipients: &[Recipient], keys: &PublishedKeys) -> anyhow::Result<Vec<String>> {
    let mut warnings = Vec::new();
    for recipient in recipients {
        match cluster_state(keys, recipient) {
            Some((_, KeyState::Retired)) => {
                anyhow::bail!(
                    "recipient {} is a retired key of this cluster: refusing to seal to it (update .kage.yaml with `kage key fetch --save`)",
                    recipient.fingerprint()
                );
            }
            Some((false, _)) => warnings.push(format!(
                "recipient {} is an old key of this cluster, not its current key {}: run `kage key fetch --save`",
                recipient.fingerprint(),
                keys.current.fingerprint()
            )),
            _ => {}
        }
    }
    Ok(warnings)
}

/// Whether `recipient` is one of the cluster's keys, current or not.
pub fn is_cluster_key(keys: &PublishedKeys, recipient: &Recipient) -> bool {
    cluster_state(keys, recipient).is_some()
}

/// The recipients a value was sealed to (`before`) that sealing it to `after` would lose,
/// leaving out keys the cluster publishes (moving values off old cluster keys is what a reseal
/// is for) and those named with `--drop-recipient` (`allowed`). Whatever remains is most likely
/// a recovery key: losing it silently is losing the way back without the cluster.
pub fn dropped(
    before: &[Fingerprint],
    after: &[Fingerprint],
    published: Option<&PublishedKeys>,
    allowed: &[Fingerprint],
) -> Vec<Fingerprint> {
    let cluster_key =
        |fingerprint: &Fingerprint| published.is_some_and(|k| k.contains(fingerprint));
    before
        .iter()
        .filter(|f| !after.contains(f) && !allowed.contains(f) && !cluster_key(f))
        .copied()
        .collect()
}

/// The error for recipients [`dropped`] would lose.
pub fn dropped_error(what: &str, lost: &[Fingerprint]) -> anyhow::Error {
    let list: Vec<String> = lost.iter().map(ToString::to_string).collect();
    anyhow!(
        "{what} would no longer be sealed to {}, which is not a key of this cluster (a recovery key?): add it (--recovery, or `recovery:` in the repository root's .kage.yaml), or pass --drop-recipient {} to drop it on purpose",
        list.join(", "),
        list.join(" --drop-recipient ")
    )
}

/// The recipients of a file sealed without the controller: `-r`, else the file's `.kage.yaml`
/// rule (recovery included), else the cluster's current key; checked against the cluster's
/// keys when they can be read, and said on stderr.
pub fn choose(
    flags: &[Recipient],
    configured: &Resolved,
    published: Option<&PublishedKeys>,
) -> anyhow::Result<Vec<Recipient>> {
    let (list, origin) = if !flags.is_empty() {
        (flags.to_vec(), Origin::Flags)
    } else if let Some(source) = &configured.source {
        (configured.recipients(), Origin::Config(source.clone()))
    } else {
        let keys = published.ok_or(Mistake::NoRecipients {
            tried: "pass -r, add a .kage.yaml rule, or make the cluster reachable",
        })?;
        (vec![keys.current.clone()], Origin::Cluster)
    };
    if let Some(keys) = published {
        check_against_cluster(&list, keys)?;
    }
    announce(&origin, &list, &configured.recovery);
    Ok(list)
}

/// The `.kage.yaml` rule for a command that opens values and seals them again (`reseal -i`,
/// `migrate`). Whoever owns a subfolder writes its `.kage.yaml`, so a nested rule is followed
/// only when every recipient it names is one the repository root's rule gives this file too,
/// or a key the cluster publishes; otherwise the file is refused, naming the nested file and
/// the recipient. `-r` bypasses `.kage.yaml` altogether.
pub fn for_resealing(
    file: &std::path::Path,
    published: Option<&PublishedKeys>,
) -> anyhow::Result<Resolved> {
    let layers = kage_yaml::layers_for_file(file)?;
    if !layers.nearest_is_nested() {
        return Ok(layers.nearest);
    }
    let trusted = layers.root.recipients();
    if let Some(added) = layers
        .nearest
        .recipients()
        .into_iter()
        .find(|r| !trusted.contains(r) && !published.is_some_and(|k| is_cluster_key(k, r)))
    {
        let nested = layers
            .nearest
            .source
            .as_ref()
            .map_or_else(String::new, ToString::to_string);
        anyhow::bail!(
            "{nested} adds recipient {} ({added}), which neither the repository root's .kage.yaml gives this file nor the cluster publishes: refusing to seal values opened here to it (add it to the root .kage.yaml, or pass -r with every recipient you mean)",
            added.fingerprint()
        );
    }
    Ok(layers.nearest)
}

/// Says on stderr where the recipients came from and who they are.
pub fn announce(origin: &Origin, recipients: &[Recipient], recovery: &[Recipient]) {
    let list: Vec<String> = recipients
        .iter()
        .map(|r| {
            let role = if recovery.contains(r) {
                "recovery"
            } else {
                "cluster"
            };
            format!("{} ({role})", r.fingerprint())
        })
        .collect();
    eprintln!("sealing to {} [{origin}]", list.join(", "));
}

/// Where a list of recipients came from.
pub enum Origin {
    /// `-r`/`-R`/`--recovery` flags.
    Flags,
    /// A `.kage.yaml` rule.
    Config(Source),
    /// The cluster's current key.
    Cluster,
    /// The controller's current key, plus the recovery recipients kept.
    Controller,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flags => write!(f, "from the command line"),
            Origin::Config(source) => write!(f, "from {source}"),
            Origin::Cluster => write!(f, "the cluster's current key"),
            Origin::Controller => write!(
                f,
                "through the controller: its current key, and the recovery keys of .kage.yaml"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kage_api::wire::PublishedKey;
    use kage_core::Identity;

    fn published(keys: &[(&Recipient, KeyState)], current: &Recipient) -> PublishedKeys {
        PublishedKeys {
            current: current.clone(),
            keys: keys
                .iter()
                .map(|(recipient, state)| PublishedKey {
                    fingerprint: recipient.fingerprint(),
                    recipient: (*recipient).clone(),
                    created_at: jiff::Timestamp::UNIX_EPOCH,
                    state: *state,
                    current: *recipient == current,
                    backed_up: false,
                    secret: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_retired_cluster_key_is_refused_and_keys_the_cluster_does_not_know_pass() {
        let [current, old, retired, foreign] =
            [(); 4].map(|()| Identity::generate().recipient().clone());
        let keys = published(
            &[
                (&retired, KeyState::Retired),
                (&old, KeyState::Active),
                (&current, KeyState::Active),
            ],
            &current,
        );
        assert_eq!(
            cluster_state(&keys, &current),
            Some((true, KeyState::Active))
        );
        assert_eq!(cluster_state(&keys, &old), Some((false, KeyState::Active)));
        assert_eq!(
            cluster_state(&keys, &retired),
            Some((false, KeyState::Retired))
        );
        assert_eq!(cluster_state(&keys, &foreign), None);
        assert!(is_cluster_key(&keys, &old));
        assert!(!is_cluster_key(&keys, &foreign));

        let warnings =
            cluster_warnings(&[current.clone(), old.clone(), foreign.clone()], &keys).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains(&old.fingerprint().to_string()));
        let refused = check_against_cluster(&[current.clone(), retired.clone()], &keys)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("retired"), "{refused}");
        assert!(
            refused.contains(&retired.fingerprint().to_string()),
            "{refused}"
        );

        // A retired key that is still the current one (never published so, but the check must
        // not depend on it) is refused too.
        let odd = published(&[(&retired, KeyState::Retired)], &retired);
        assert!(check_against_cluster(&[retired], &odd).is_err());
    }

    #[test]
    fn only_a_recipient_that_is_no_cluster_key_and_not_named_counts_as_dropped() {
        let [old, new, recovery] = [(); 3].map(|()| Identity::generate().recipient().clone());
        let keys = published(&[(&old, KeyState::Active), (&new, KeyState::Active)], &new);
        let before = [old.fingerprint(), recovery.fingerprint()];
        let after = [new.fingerprint()];
        assert_eq!(
            dropped(&before, &after, Some(&keys), &[]),
            [recovery.fingerprint()]
        );
        assert!(dropped(&before, &after, Some(&keys), &[recovery.fingerprint()]).is_empty());
        assert_eq!(
            dropped(&before, &after, None, &[]),
            before,
            "offline, no key is known"
        );
        assert!(dropped(&before, &before, None, &[]).is_empty());
    }

    #[test]
    fn flags_come_first_then_the_config_then_the_clusters_current_key() {
        let [flagged, configured, current] =
            [(); 3].map(|()| Identity::generate().recipient().clone());
        let keys = published(&[(&current, KeyState::Active)], &current);
        let none = Resolved::default();
        let config = Resolved {
            cluster: vec![configured.clone()],
            source: Some(Source {
                file: ".kage.yaml".into(),
                rule: 1,
                path: None,
            }),
            ..Resolved::default()
        };
        assert_eq!(
            choose(std::slice::from_ref(&flagged), &config, Some(&keys)).unwrap(),
            [flagged]
        );
        assert_eq!(choose(&[], &config, Some(&keys)).unwrap(), [configured]);
        assert_eq!(choose(&[], &none, Some(&keys)).unwrap(), [current]);
        assert!(choose(&[], &none, None).is_err());
    }
}
