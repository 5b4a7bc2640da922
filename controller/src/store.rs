//! The SealedSecrets the leader knows, kept from a watch as summaries under a compact key, with
//! when each was last reconciled (so that a sweep, not a timer per object, resyncs them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use kage_api::SealedSecret;
use kube::runtime::watcher;

use crate::ids::ObjectKey;
use crate::policy::TemplatePolicy;
use crate::reconcile::SealedSecretSummary;

/// The leader's SealedSecrets, by namespace and name.
pub struct SealedSecretStore {
    entries: Mutex<Entries>,
    started: Instant,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<ObjectKey, Entry>,
    /// Counts the lists: an entry a list did not show is gone when the list completes.
    list: u32,
}

struct Entry {
    summary: Arc<SealedSecretSummary>,
    /// Seconds from the store's start to the end of the last reconcile (or to when the object
    /// arrived, which schedules its first).
    reconciled_at: u32,
    /// The list that last showed it.
    list: u32,
}

impl Default for SealedSecretStore {
    fn default() -> Self {
        SealedSecretStore {
            entries: Mutex::default(),
            started: Instant::now(),
        }
    }
}

impl SealedSecretStore {
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// Applies a watch event, summarized with `policy`'s verdicts. Returns the object to
    /// reconcile: a new object or a new generation (not a status write, which leaves the
    /// generation as it is).
    pub fn apply(
        &self,
        event: watcher::Event<SealedSecret>,
        policy: &TemplatePolicy,
    ) -> Option<ObjectKey> {
        match event {
            watcher::Event::Init => {
                self.entries().list += 1;
                None
            }
            watcher::Event::InitDone => {
                let mut entries = self.entries();
                let list = entries.list;
                entries.by_key.retain(|_, e| e.list == list);
                None
            }
            watcher::Event::Delete(sealed) => {
                let key = ObjectKey::of(&sealed.metadata);
                self.entries().by_key.remove(&key);
                None
            }
            watcher::Event::Apply(sealed) | watcher::Event::InitApply(sealed) => {
                let summary = SealedSecretSummary::new(sealed, policy);
                let key = summary.key().clone();
                let now = self.now();
                let mut entries = self.entries();
                let list = entries.list;
                match entries.by_key.get_mut(&key) {
                    Some(entry) if entry.summary.same_generation(&summary) => {
                        entry.summary = Arc::new(summary);
                        entry.list = list;
                        None
                    }
                    _ => {
                        let entry = Entry {
                            summary: Arc::new(summary),
                            reconciled_at: now,
                            list,
                        };
                        entries.by_key.insert(key.clone(), entry);
                        Some(key)
                    }
                }
            }
        }
    }

    /// The summary of the object `key`, if it is known.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<SealedSecretSummary>> {
        self.entries().by_key.get(key).map(|e| e.summary.clone())
    }

    /// Records that `key` was reconciled now.
    pub fn reconciled(&self, key: &ObjectKey) {
        let now = self.now();
        if let Some(entry) = self.entries().by_key.get_mut(key) {
            entry.reconciled_at = now;
        }
    }

    /// Every object known.
    pub fn keys(&self) -> Vec<ObjectKey> {
        self.entries().by_key.keys().cloned().collect()
    }

    /// The objects last reconciled `period` ago or longer.
    pub fn due(&self, period: Duration) -> Vec<ObjectKey> {
        let period = u32::try_from(period.as_secs()).unwrap_or(u32::MAX);
        let now = self.now();
        self.entries()
            .by_key
            .iter()
            .filter(|(_, e)| now.saturating_sub(e.reconciled_at) >= period)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// How many objects are known.
    pub fn len(&self) -> usize {
        self.entries().by_key.len()
    }

    /// Whether no object is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many objects have a `Ready` condition of `True`, `False`, and neither.
    pub fn count_by_ready(&self) -> [(&'static str, i64); 3] {
        let mut counts = [("True", 0), ("False", 0), ("Unknown", 0)];
        for entry in self.entries().by_key.values() {
            let i = match entry.summary.ready() {
                Some("True") => 0,
                Some("False") => 1,
                _ => 2,
            };
            counts[i].1 += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(name: &str, uid: &str, generation: i64, version: &str) -> SealedSecret {
        let mut sealed = SealedSecret::new(name, kage_api::SealedSecretSpec::default());
        sealed.metadata.namespace = Some("ns".into());
        sealed.metadata.uid = Some(uid.into());
        sealed.metadata.generation = Some(generation);
        sealed.metadata.resource_version = Some(version.into());
        sealed
    }

    fn policy() -> TemplatePolicy {
        TemplatePolicy::new("kage-system", &[], &[])
    }

    #[test]
    fn only_a_new_object_or_a_new_generation_wakes_a_reconcile() {
        let store = SealedSecretStore::default();
        let apply = |s| store.apply(watcher::Event::Apply(s), &policy());
        let key = ObjectKey::new("ns", "a");
        assert_eq!(apply(sealed("a", "u1", 1, "1")), Some(key.clone()));
        // A status write: a new resourceVersion, the same generation. Kept, wakes nobody.
        assert_eq!(apply(sealed("a", "u1", 1, "2")), None);
        assert!(store.get(&key).unwrap().resource_version().unwrap().is("2"));
        assert_eq!(apply(sealed("a", "u1", 2, "3")), Some(key.clone()));
        // Deleted and created again under the same name.
        assert_eq!(apply(sealed("a", "u2", 2, "4")), Some(key.clone()));
        store.apply(watcher::Event::Delete(sealed("a", "u2", 2, "4")), &policy());
        assert!(store.get(&key).is_none());
        assert!(store.is_empty());
    }

    #[test]
    fn a_relist_drops_what_it_did_not_show_and_wakes_only_what_changed() {
        let store = SealedSecretStore::default();
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(sealed("a", "u1", 1, "1")),
            watcher::Event::InitApply(sealed("b", "u2", 1, "1")),
            watcher::Event::InitDone,
        ] {
            store.apply(event, &policy());
        }
        assert_eq!(store.len(), 2);
        let woken: Vec<_> = [
            watcher::Event::Init,
            watcher::Event::InitApply(sealed("a", "u1", 1, "5")),
            watcher::Event::InitApply(sealed("c", "u3", 1, "6")),
        ]
        .into_iter()
        .filter_map(|e| store.apply(e, &policy()))
        .collect();
        assert_eq!(woken, [ObjectKey::new("ns", "c")]);
        assert_eq!(store.len(), 3, "dropped before the list completed");
        store.apply(watcher::Event::InitDone, &policy());
        let mut keys = store.keys();
        keys.sort();
        assert_eq!(keys, [ObjectKey::new("ns", "a"), ObjectKey::new("ns", "c")]);
    }

    #[test]
    fn an_object_is_due_for_a_resync_a_period_after_its_last_reconcile() {
        let store = SealedSecretStore::default();
        store.apply(watcher::Event::Apply(sealed("a", "u1", 1, "1")), &policy());
        assert_eq!(store.due(Duration::ZERO).len(), 1);
        assert!(store.due(Duration::from_secs(60)).is_empty());
        store.reconciled(&ObjectKey::new("ns", "a"));
        assert!(store.due(Duration::from_secs(1)).is_empty());
    }
}
