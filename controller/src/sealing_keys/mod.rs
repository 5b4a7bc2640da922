//! Sealing keys: labelled Secrets in the controller's namespace, and their public halves in the
//! `kage-public-keys` ConfigMap.
//!
//! [`load`] decides which labelled Secrets are sealing keys and reads them, [`store`] creates,
//! rotates and publishes them through the API; [`KeySet`] is what the rest of the controller
//! uses.

mod load;
mod store;
#[cfg(test)]
pub(crate) mod tests;

pub use load::{LoadedKeys, Untrusted, check_key_secret};
pub use store::KeyStore;

use std::collections::BTreeMap;
use std::sync::PoisonError;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kage_api::key_secret::{KeyMaterial, KeyMeta, KeySecret};
use kage_api::wire::{PublishedKey, PublishedKeys};
use kage_api::{
    CONTROLLER_FIELD_MANAGER as FIELD_MANAGER, PUBLIC_KEYS_CONFIGMAP, SEALING_KEY_LABEL, key_secret,
};
use kage_core::{Identity, KeyRing};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use zeroize::Zeroizing;

use crate::api_call::timed;
use crate::kms::Kms;

/// Most keys that are not retired; a rotation beyond it is refused (retire old keys first).
pub const MAX_ACTIVE_KEYS: usize = 50;
/// Most keys created in any hour, by schedule or on request.
pub const MAX_ROTATIONS_PER_HOUR: usize = 20;
/// Least time between two key creations.
pub const MIN_ROTATION_INTERVAL: Duration = Duration::from_secs(10);

pub use kage_api::key_secret::KeyState;

/// Why keys could not be loaded or stored. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The API refused or failed.
    #[error("cannot {action} sealing keys in namespace {namespace}")]
    Api {
        /// What was attempted.
        action: &'static str,
        /// The controller namespace.
        namespace: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A key Secret does not hold a valid identity.
    #[error("key Secret {0} does not hold a valid identity")]
    Invalid(String),
    /// A key Secret is KMS-wrapped and no KMS is configured.
    #[error("key Secret {secret} is wrapped by KMS {kms}: start the controller with --kms {kms}")]
    NeedsKms {
        /// The key Secret.
        secret: String,
        /// The KMS named in it.
        kms: String,
    },
    /// The KMS failed.
    #[error(transparent)]
    Kms(#[from] crate::kms::KmsError),
    /// A rotation was asked for beyond a limit.
    #[error("rotation refused: {0}")]
    RotationRefused(String),
}

/// One sealing key as stored.
#[derive(Clone, Debug)]
pub struct SealingKey {
    /// Name of the Secret holding it.
    pub name: String,
    /// The identity.
    pub identity: Identity,
    /// When it was created.
    pub created: jiff::Timestamp,
    /// Active or retired.
    pub state: KeyState,
    /// Whether `kage key backup` has saved it.
    pub backed_up: bool,
}

impl SealingKey {
    /// Sequence number from the Secret name (`kage-key-N`), 0 for other names.
    pub fn number(&self) -> u64 {
        key_secret::number(&self.name)
    }
}

/// The keys as the controller uses them.
#[derive(Debug, Default)]
pub struct KeySet {
    /// Every key, oldest first.
    pub all: Vec<SealingKey>,
    /// Active keys, for opening values.
    pub ring: KeyRing,
}

impl KeySet {
    /// Builds the ring from the active keys.
    pub fn new(all: Vec<SealingKey>) -> Self {
        let ring = KeyRing::new(
            all.iter()
                .filter(|k| k.state == KeyState::Active)
                .map(|k| k.identity.clone()),
        );
        KeySet { all, ring }
    }

    /// The newest active key: new values are sealed to it.
    pub fn current(&self) -> Option<&SealingKey> {
        self.all
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .max_by_key(|k| (k.created, k.number()))
    }

    /// Whether `fingerprint` is a key held here in the retired state.
    pub fn is_retired(&self, fingerprint: &kage_core::Fingerprint) -> bool {
        self.all
            .iter()
            .any(|k| k.state == KeyState::Retired && &k.identity.fingerprint() == fingerprint)
    }

    /// Whether a value could not be opened only because the keys it was sealed to are retired
    /// here (the reason `KeyRetired`, and the hint to reseal).
    pub fn sealed_only_to_retired(&self, error: &kage_core::OpenError) -> bool {
        matches!(error, kage_core::OpenError::NoKey { sealed_to }
            if sealed_to.iter().any(|f| self.is_retired(f)))
    }

    /// Whether one more key may be created at `now`: at most [`MAX_ACTIVE_KEYS`] not retired,
    /// [`MAX_ROTATIONS_PER_HOUR`] created in the last hour, none in the last
    /// [`MIN_ROTATION_INTERVAL`].
    pub fn may_rotate(&self, now: jiff::Timestamp) -> Result<(), String> {
        let active = self
            .all
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .count();
        if active >= MAX_ACTIVE_KEYS {
            return Err(format!(
                "{active} keys are active, the most allowed is {MAX_ACTIVE_KEYS}: retire old keys first (`kage key retire`)"
            ));
        }
        let since = |k: &SealingKey| now.duration_since(k.created);
        let hour = jiff::SignedDuration::from_hours(1);
        let last_hour = self.all.iter().filter(|k| since(k) < hour).count();
        if last_hour >= MAX_ROTATIONS_PER_HOUR {
            return Err(format!(
                "{last_hour} keys were created in the last hour, the most allowed is {MAX_ROTATIONS_PER_HOUR}"
            ));
        }
        let interval = jiff::SignedDuration::try_from(MIN_ROTATION_INTERVAL)
            .unwrap_or(jiff::SignedDuration::MAX);
        if let Some(newest) = self.all.iter().map(since).min()
            && newest < interval
        {
            return Err(format!(
                "the newest key is {}s old; keys are created at least {}s apart",
                newest.as_secs().max(0),
                MIN_ROTATION_INTERVAL.as_secs()
            ));
        }
        Ok(())
    }

    /// Every key as it is published (public parts only).
    pub fn describe(&self) -> Vec<PublishedKey> {
        let current = self.current().map(|k| k.identity.fingerprint());
        self.all
            .iter()
            .map(|k| PublishedKey {
                fingerprint: k.identity.fingerprint(),
                recipient: k.identity.recipient().clone(),
                created_at: k.created,
                state: k.state,
                current: Some(k.identity.fingerprint()) == current,
                backed_up: k.backed_up,
                secret: k.name.clone(),
            })
            .collect()
    }
}

/// The keys in use, shared by reconciles, the HTTP API and the key watcher. Readers take a
/// snapshot, so no lock is held while values are opened.
#[derive(Debug, Default)]
pub struct SharedKeySet(RwLock<Arc<KeySet>>);

impl SharedKeySet {
    /// The keys as they are now.
    pub fn snapshot(&self) -> Arc<KeySet> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `keys` in place for every later snapshot.
    pub fn replace(&self, keys: KeySet) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
    }
}

/// The data of the public-keys ConfigMap for `keys`.
pub fn published_data(keys: &KeySet) -> BTreeMap<String, String> {
    let current = keys.current().map(|k| k.identity.recipient());
    PublishedKeys::data(current, &keys.describe())
}

pub use kage_api::unseal::wipe_secret;
