//! What the controller knows of the Secrets it wrote, kept by a watch on kage's label.
//!
//! A reconcile looks its Secret up here instead of asking the API server, and only the few
//! fields it reads are kept: the resourceVersion, the owners' uids and kage's two annotations.
//! Secrets without kage's label are never watched, so this does not grow with the cluster's
//! other Secrets.

use std::collections::HashMap;
use std::sync::PoisonError;
use std::sync::{Mutex, RwLock};

use k8s_openapi::api::core::v1::Secret;
use kage_api::{ADOPT_ANNOTATION, IMMUTABLE_ANNOTATION, SOURCE_DIGEST_ANNOTATION, SealedSecret};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use tokio::sync::watch;

use crate::ids::{ObjectKey, Uid, Version};
use crate::reconcile::SourceDigest;

/// What a reconcile reads of an existing Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretFacts {
    /// Its uid.
    pub uid: Option<Uid>,
    /// Its resourceVersion.
    pub resource_version: Option<Version>,
    /// The uids of its owners.
    pub owner_uids: Box<[Uid]>,
    /// The digest of the source it was made from (kage's annotation), if it is one.
    pub source_digest: Option<SourceDigest>,
    /// The uid of the one SealedSecret that may take it over (`kage.dev/adopt`).
    pub adopt_by: Option<Uid>,
    /// Whether kage wrote it immutable (`kage.dev/immutable`); `None` when kage did not say
    /// (a Secret to adopt, or one written before the annotation existed).
    pub immutable: Option<bool>,
    /// Whether the last event seen for it was the echo of a write of this process.
    pub written_here: bool,
}

impl SecretFacts {
    /// The facts of a Secret's metadata.
    pub fn of(secret: &PartialObjectMeta<Secret>) -> Self {
        let annotations = secret.annotations();
        SecretFacts {
            uid: secret.metadata.uid.as_deref().map(Uid::new),
            resource_version: secret
                .metadata
                .resource_version
                .as_deref()
                .map(Version::new),
            owner_uids: secret
                .owner_references()
                .iter()
                .map(|o| Uid::new(&o.uid))
                .collect(),
            source_digest: annotations
                .get(SOURCE_DIGEST_ANNOTATION)
                .and_then(|d| SourceDigest::parse(d)),
            adopt_by: annotations.get(ADOPT_ANNOTATION).map(|u| Uid::new(u)),
            immutable: annotations
                .get(IMMUTABLE_ANNOTATION)
                .and_then(|v| v.parse().ok()),
            written_here: false,
        }
    }
}

type Key = ObjectKey;

fn key_of(secret: &PartialObjectMeta<Secret>) -> Key {
    ObjectKey::of(&secret.metadata)
}

/// The SealedSecrets that own `secret`: those a change to it must wake.
pub fn owners(secret: &PartialObjectMeta<Secret>) -> impl Iterator<Item = ObjectKey> + '_ {
    let namespace = secret.metadata.namespace.as_deref().unwrap_or_default();
    secret
        .owner_references()
        .iter()
        .filter(|o| {
            o.kind == SealedSecret::kind(&())
                && o.api_version.split('/').next() == Some(&SealedSecret::group(&()))
        })
        .map(move |o| ObjectKey::new(namespace, &o.name))
}

/// The Secrets kage wrote, by namespace and name.
#[derive(Debug)]
pub struct OwnedSecrets {
    known: RwLock<HashMap<Key, SecretFacts>>,
    /// Filled by a (re)list, swapped in when it completes.
    relisting: Mutex<Option<HashMap<Key, SecretFacts>>>,
    /// The resourceVersion of each Secret this process wrote whose watch event has not come
    /// back yet: one entry per Secret at most, gone when its echo arrives or the next write
    /// replaces it.
    own_writes: Mutex<HashMap<Key, String>>,
    /// The Secrets this process is writing now, with the versions their events showed while
    /// the write was in flight: the echo of a write can arrive before its answer, and must not
    /// wake the owner (that reconcile would find the SealedSecret in sync).
    in_flight: Mutex<HashMap<Key, Vec<String>>>,
    ready: watch::Sender<bool>,
}

impl Default for OwnedSecrets {
    fn default() -> Self {
        OwnedSecrets {
            known: Default::default(),
            relisting: Default::default(),
            own_writes: Default::default(),
            in_flight: Default::default(),
            ready: watch::channel(false).0,
        }
    }
}

impl OwnedSecrets {
    /// The facts of a Secret kage wrote, if it exists.
    pub fn get(&self, namespace: &str, name: &str) -> Option<SecretFacts> {
        let key = ObjectKey::new(namespace, name);
        self.known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned()
    }

    /// Whether the first list has been applied: from then on, a Secret missing here is one
    /// kage has not written (or whose event has not arrived yet).
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits until the first list has been applied.
    pub async fn wait_until_ready(&self) {
        let _ = self.ready.subscribe().wait_for(|ready| *ready).await;
    }

    /// Remembers that this process wrote `version` of a Secret.
    pub fn record_write(&self, namespace: &str, name: &str, version: String) {
        let key = ObjectKey::new(namespace, name);
        self.own_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, version);
    }

    /// Marks a write of a Secret as started: its events until [`OwnedSecrets::end_write`] wake
    /// nobody and are remembered instead.
    pub fn begin_write(&self, namespace: &str, name: &str) {
        let key = ObjectKey::new(namespace, name);
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Vec::new());
    }

    /// Ends a write that left the Secret at `written` (`None`: it failed). Returns whether an
    /// event seen meanwhile showed another version: someone else wrote the Secret, and its
    /// owner must be reconciled again.
    pub fn end_write(&self, namespace: &str, name: &str, written: Option<&str>) -> bool {
        let key = ObjectKey::new(namespace, name);
        let seen = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key)
            .unwrap_or_default();
        seen.iter().any(|version| Some(version.as_str()) != written)
    }

    /// Remembers an event's version if a write of its Secret is in flight; returns whether one
    /// is.
    fn seen_in_flight(&self, secret: &PartialObjectMeta<Secret>) -> bool {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match in_flight.get_mut(&key_of(secret)) {
            Some(seen) => {
                seen.extend(secret.metadata.resource_version.clone());
                true
            }
            None => false,
        }
    }

    /// Whether `version` of a Secret is one this process wrote: its echo has not come back
    /// yet, or the last event seen for the Secret was that echo. A reconcile woken by the
    /// deletion half of a replace may read a SealedSecret whose status does not yet name the
    /// version just written; this tells it the Secret is already as it was written.
    pub fn wrote(&self, namespace: &str, name: &str, version: &Version) -> bool {
        let key = ObjectKey::new(namespace, name);
        let pending = self
            .own_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .is_some_and(|written| version.is(written));
        pending
            || self
                .known
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key)
                .is_some_and(|f| f.written_here && f.resource_version.as_ref() == Some(version))
    }

    /// Applies a watch event. Returns whether it should wake the Secret's owner: not for list
    /// markers, and not for our own last write coming back (that reconcile would only find
    /// the SealedSecret in sync). Deletions always do.
    pub fn apply(&self, event: &watcher::Event<PartialObjectMeta<Secret>>) -> bool {
        match event {
            watcher::Event::Init => {
                *self
                    .relisting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(HashMap::new());
                false
            }
            watcher::Event::InitApply(secret) => {
                let mut facts = SecretFacts::of(secret);
                facts.written_here = self.is_echo(secret);
                let wake = !facts.written_here && !self.seen_in_flight(secret);
                if let Some(relisting) = self
                    .relisting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_mut()
                {
                    relisting.insert(key_of(secret), facts);
                }
                wake
            }
            watcher::Event::InitDone => {
                if let Some(listed) = self
                    .relisting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                {
                    *self.known.write().unwrap_or_else(PoisonError::into_inner) = listed;
                }
                self.ready.send_replace(true);
                false
            }
            watcher::Event::Apply(secret) => {
                let mut facts = SecretFacts::of(secret);
                facts.written_here = self.is_echo(secret);
                let wake = !facts.written_here && !self.seen_in_flight(secret);
                self.known
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key_of(secret), facts);
                wake
            }
            watcher::Event::Delete(secret) => {
                self.known
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key_of(secret));
                true
            }
        }
    }

    fn is_echo(&self, secret: &PartialObjectMeta<Secret>) -> bool {
        let key = key_of(secret);
        let mut writes = self
            .own_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let echo = writes
            .get(&key)
            .is_some_and(|written| secret.metadata.resource_version.as_ref() == Some(written));
        if echo {
            writes.remove(&key);
        }
        echo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "0123456789abcdef0123456789abcdef";

    fn secret(name: &str, version: &str) -> PartialObjectMeta<Secret> {
        let mut secret = PartialObjectMeta::<Secret>::default();
        secret.metadata.name = Some(name.into());
        secret.metadata.namespace = Some("ns".into());
        secret.metadata.resource_version = Some(version.into());
        secret.metadata.annotations = Some(
            [
                (SOURCE_DIGEST_ANNOTATION.to_owned(), D1.to_owned()),
                ("other".to_owned(), "x".to_owned()),
            ]
            .into(),
        );
        secret
    }

    #[test]
    fn only_kage_sealed_secrets_that_own_a_secret_are_woken_by_it() {
        let mut secret = secret("a", "1");
        let owner = |api_version: &str, kind: &str, name: &str| {
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: api_version.into(),
                kind: kind.into(),
                name: name.into(),
                uid: "u".into(),
                ..Default::default()
            }
        };
        secret.metadata.owner_references = Some(vec![
            owner("kage.dev/v1alpha1", "SealedSecret", "mine"),
            // Bitnami's SealedSecret has the same kind in another group.
            owner("bitnami.com/v1alpha1", "SealedSecret", "theirs"),
            owner("apps/v1", "Deployment", "web"),
            owner("kage.dev/v2", "SealedSecret", "newer"),
        ]);
        let woken: Vec<_> = owners(&secret).collect();
        assert_eq!(
            woken,
            [ObjectKey::new("ns", "mine"), ObjectKey::new("ns", "newer")]
        );
    }

    #[test]
    fn a_relist_replaces_what_was_known_and_marks_ready() {
        let owned = OwnedSecrets::default();
        owned.apply(&watcher::Event::Apply(secret("gone", "1")));
        assert!(!*owned.ready.borrow());
        owned.apply(&watcher::Event::Init);
        owned.apply(&watcher::Event::InitApply(secret("a", "2")));
        assert!(
            owned.get("ns", "gone").is_some(),
            "swapped only when the list completes"
        );
        owned.apply(&watcher::Event::InitDone);
        assert!(*owned.ready.borrow());
        assert_eq!(owned.get("ns", "gone"), None);
        let a = owned.get("ns", "a").unwrap();
        assert_eq!(a.resource_version, Some(Version::new("2")));
        assert_eq!(a.source_digest, SourceDigest::parse(D1));
        assert!(a.source_digest.is_some());
        assert_eq!(a.adopt_by, None);
    }

    #[test]
    fn only_our_exact_last_write_is_an_echo_and_deletions_always_wake() {
        let owned = OwnedSecrets::default();
        owned.record_write("ns", "a", "5".into());
        assert!(
            owned.apply(&watcher::Event::Apply(secret("a", "4"))),
            "older version"
        );
        assert!(
            !owned.apply(&watcher::Event::Apply(secret("a", "5"))),
            "our write"
        );
        assert!(
            owned.apply(&watcher::Event::Apply(secret("a", "5"))),
            "seen once only"
        );
        owned.record_write("ns", "a", "6".into());
        assert!(owned.apply(&watcher::Event::Delete(secret("a", "6"))));
        assert_eq!(owned.get("ns", "a"), None);
    }

    #[test]
    fn a_version_we_wrote_is_known_as_ours_until_someone_else_writes() {
        let owned = OwnedSecrets::default();
        owned.record_write("ns", "a", "7".into());
        assert!(owned.wrote("ns", "a", &Version::new("7")), "echo pending");
        assert!(!owned.wrote("ns", "a", &Version::new("6")));
        owned.apply(&watcher::Event::Apply(secret("a", "7")));
        assert!(owned.wrote("ns", "a", &Version::new("7")), "echo seen");
        owned.apply(&watcher::Event::Apply(secret("a", "8")));
        assert!(
            !owned.wrote("ns", "a", &Version::new("8")),
            "a hand edit is not ours"
        );
        assert!(!owned.wrote("ns", "a", &Version::new("7")));
    }

    #[test]
    fn an_echo_before_the_answer_wakes_nobody_and_another_version_meanwhile_is_reported() {
        let owned = OwnedSecrets::default();
        owned.begin_write("ns", "a");
        assert!(
            !owned.apply(&watcher::Event::Apply(secret("a", "5"))),
            "the echo of a write in flight woke its owner"
        );
        owned.record_write("ns", "a", "5".into());
        assert!(!owned.end_write("ns", "a", Some("5")), "its own version");
        owned.begin_write("ns", "a");
        assert!(!owned.apply(&watcher::Event::Apply(secret("a", "6"))));
        assert!(
            owned.end_write("ns", "a", Some("7")),
            "another version seen during the write was not reported"
        );
        // No write in flight: every change by someone else wakes the owner.
        assert!(owned.apply(&watcher::Event::Apply(secret("a", "8"))));
        owned.begin_write("ns", "a");
        assert!(
            !owned.end_write("ns", "a", None),
            "a failed write with nothing seen"
        );
        assert!(owned.apply(&watcher::Event::Delete(secret("a", "9"))));
    }
}
