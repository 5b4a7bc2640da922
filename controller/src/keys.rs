//! Sealing keys: labelled Secrets in the controller's namespace, and their public halves in the
//! `kage-public-keys` ConfigMap.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kage_api::{
    CURRENT_RECIPIENT_KEY, KEYS_JSON_KEY, PUBLIC_KEYS_CONFIGMAP, SEALING_KEY_LABEL, key_secret,
};
use kage_core::{Identity, KeyRing};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use zeroize::{Zeroize, Zeroizing};

use crate::FIELD_MANAGER;
use crate::kms::Kms;

/// Whether a key is still used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Opens values; the newest active key seals new ones.
    Active,
    /// Kept for the record (and for restores), never used to open values.
    Retired,
}

impl KeyState {
    /// Name used in annotations, JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }
}

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
        self.name
            .strip_prefix(key_secret::NAME_PREFIX)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// The keys as the controller uses them.
#[derive(Debug, Default)]
pub struct Keys {
    /// Every key, oldest first.
    pub all: Vec<SealingKey>,
    /// Active keys, for opening values.
    pub ring: KeyRing,
}

impl Keys {
    /// Builds the ring from the active keys.
    pub fn new(all: Vec<SealingKey>) -> Self {
        let ring = KeyRing::new(
            all.iter()
                .filter(|k| k.state == KeyState::Active)
                .map(|k| k.identity.clone()),
        );
        Keys { all, ring }
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

    /// JSON description of every key (public parts only).
    pub fn describe(&self) -> Vec<serde_json::Value> {
        let current = self.current().map(|k| k.identity.fingerprint());
        self.all
            .iter()
            .map(|k| {
                json!({
                    "fingerprint": k.identity.fingerprint().to_string(),
                    "recipient": k.identity.recipient().to_string(),
                    "createdAt": k.created.to_string(),
                    "state": k.state.as_str(),
                    "current": Some(k.identity.fingerprint()) == current,
                    "backedUp": k.backed_up,
                    "secret": k.name,
                })
            })
            .collect()
    }
}

/// Access to the key Secrets and the public-keys ConfigMap of one controller namespace.
pub struct KeyStore {
    secrets: Api<Secret>,
    config_maps: Api<ConfigMap>,
    namespace: String,
    kms: Option<Box<dyn Kms>>,
}

impl KeyStore {
    /// The store in `namespace`; with a KMS, new keys are stored wrapped by it.
    pub fn new(client: Client, namespace: &str, kms: Option<Box<dyn Kms>>) -> Self {
        KeyStore {
            secrets: Api::namespaced(client.clone(), namespace),
            config_maps: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            kms,
        }
    }

    fn api_error(&self, action: &'static str) -> impl FnOnce(kube::Error) -> KeyError + '_ {
        move |source| KeyError::Api {
            action,
            namespace: self.namespace.clone(),
            source,
        }
    }

    /// Every key, oldest first.
    pub async fn load(&self) -> Result<Vec<SealingKey>, KeyError> {
        let list = self
            .secrets
            .list(&ListParams::default().labels(&format!("{SEALING_KEY_LABEL}=true")))
            .await
            .map_err(self.api_error("list"))?;
        let mut keys = Vec::new();
        for mut secret in list.items {
            let name = secret.metadata.name.clone().unwrap_or_default();
            let key = self.read_key(&name, &secret).await;
            wipe_secret(&mut secret);
            keys.push(key?);
        }
        keys.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        Ok(keys)
    }

    /// The keys, generating the first one when there is none. Two controllers starting at once
    /// both try to create the same Secret name; the loser's create fails and it reloads.
    pub async fn load_or_create(&self) -> Result<Vec<SealingKey>, KeyError> {
        let keys = self.load().await?;
        if !keys.is_empty() {
            return Ok(keys);
        }
        self.create_key(1).await?;
        self.load().await
    }

    /// Creates key number `number` (`kage-key-N`). Returns `false` when that name already
    /// exists: another replica got there first, and its key is as good.
    pub async fn create_key(&self, number: u64) -> Result<bool, KeyError> {
        let identity = Identity::generate();
        let name = format!("{}{number}", key_secret::NAME_PREFIX);
        let mut secret = key_secret(&name, &identity, jiff::Timestamp::now());
        if let Some(kms) = &self.kms {
            let wrapped = kms.wrap(identity.to_secret_string().as_bytes()).await?;
            secret.data = Some(BTreeMap::from([(
                key_secret::WRAPPED_IDENTITY.to_owned(),
                ByteString(wrapped.into_bytes()),
            )]));
            secret
                .metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(key_secret::KMS.to_owned(), kms.id().to_owned());
        }
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        match self.secrets.create(&params, &secret).await {
            Ok(mut created) => {
                wipe_secret(&mut created);
                crate::audit::key_created(&name, &identity.fingerprint());
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                tracing::info!(secret = %name, "key already created by another replica");
                Ok(false)
            }
            Err(e) => Err(self.api_error("create")(e)),
        }
    }

    /// Creates the next key (one past the highest number); it becomes the current key.
    pub async fn rotate(&self) -> Result<(), KeyError> {
        let next = self
            .load()
            .await?
            .iter()
            .map(SealingKey::number)
            .max()
            .unwrap_or(0)
            + 1;
        self.create_key(next).await?;
        Ok(())
    }

    /// Publishes the public keys (the current one is the one to seal to) in the ConfigMap.
    pub async fn publish(&self, keys: &Keys) -> Result<(), KeyError> {
        let entries = keys.describe();
        let current = keys
            .current()
            .map(|k| k.identity.recipient().to_string())
            .unwrap_or_default();
        let config_map = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": PUBLIC_KEYS_CONFIGMAP, "namespace": self.namespace,
                "labels": {"app.kubernetes.io/name": "kage", "app.kubernetes.io/component": "public-keys"}},
            "data": {
                CURRENT_RECIPIENT_KEY: current,
                KEYS_JSON_KEY: serde_json::to_string_pretty(&entries).expect("json"),
            },
        });
        self.config_maps
            .patch(
                PUBLIC_KEYS_CONFIGMAP,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&config_map),
            )
            .await
            .map_err(self.api_error("publish"))?;
        Ok(())
    }
}

impl KeyStore {
    /// Reads one key Secret, unwrapping it with the KMS when it is wrapped.
    async fn read_key(&self, name: &str, secret: &Secret) -> Result<SealingKey, KeyError> {
        let invalid = || KeyError::Invalid(name.to_owned());
        let data = secret.data.as_ref().ok_or_else(invalid)?;
        let text = match (
            data.get(key_secret::IDENTITY),
            data.get(key_secret::WRAPPED_IDENTITY),
        ) {
            (Some(plain), _) => Zeroizing::new(plain.0.clone()),
            (None, Some(wrapped)) => {
                let wrapped = String::from_utf8(wrapped.0.clone()).map_err(|_| invalid())?;
                let Some(kms) = &self.kms else {
                    let named = secret
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(key_secret::KMS));
                    return Err(KeyError::NeedsKms {
                        secret: name.to_owned(),
                        kms: named.cloned().unwrap_or_else(|| "(unknown)".to_owned()),
                    });
                };
                kms.unwrap(&wrapped).await?
            }
            (None, None) => return Err(invalid()),
        };
        parse_key(name, secret, &text)
    }
}

fn parse_key(name: &str, secret: &Secret, text: &[u8]) -> Result<SealingKey, KeyError> {
    let invalid = || KeyError::Invalid(name.to_owned());
    let text = std::str::from_utf8(text).map_err(|_| invalid())?;
    let identity: Identity = text.parse().map_err(|_| invalid())?;
    let created = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key_secret::CREATED_AT))
        .and_then(|t| t.parse().ok())
        .or_else(|| secret.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or_default();
    let state = match secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key_secret::STATE))
        .map(String::as_str)
    {
        Some("retired") => KeyState::Retired,
        _ => KeyState::Active,
    };
    let backed_up = secret
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(key_secret::BACKED_UP_AT));
    Ok(SealingKey {
        name: name.to_owned(),
        identity,
        created,
        state,
        backed_up,
    })
}

fn key_secret(name: &str, identity: &Identity, created: jiff::Timestamp) -> Secret {
    let mut data = BTreeMap::new();
    data.insert(
        key_secret::IDENTITY.to_owned(),
        ByteString(identity.to_secret_string().as_bytes().to_vec()),
    );
    let mut secret: Secret = serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": {SEALING_KEY_LABEL: "true", "app.kubernetes.io/name": "kage"},
            "annotations": {
                key_secret::CREATED_AT: created.to_string(),
                key_secret::FINGERPRINT: identity.fingerprint().to_string(),
                "kage.dev/recipient": identity.recipient().to_string(),
            },
        },
        "type": key_secret::SECRET_TYPE,
    }))
    .expect("valid Secret");
    secret.data = Some(data);
    secret
}

/// Overwrites the values of a Secret read from or returned by the API.
pub fn wipe_secret(secret: &mut Secret) {
    if let Some(data) = secret.data.as_mut() {
        data.values_mut().for_each(|v| v.0.zeroize());
    }
    if let Some(data) = secret.string_data.as_mut() {
        data.values_mut().for_each(Zeroize::zeroize);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kage_core::{Identity, OpenError};

    /// A sealing key for unit tests.
    pub(crate) fn key(identity: Identity, state: KeyState) -> SealingKey {
        SealingKey {
            name: "kage-key-1".into(),
            identity,
            created: jiff::Timestamp::now(),
            state,
            backed_up: false,
        }
    }

    #[test]
    fn only_a_value_sealed_to_a_retired_key_here_is_reported_as_retired() {
        let (retired, active, foreign) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let sealed_to = |ids: &[&Identity]| OpenError::NoKey {
            sealed_to: ids.iter().map(|i| i.fingerprint()).collect(),
        };
        let keys = Keys::new(vec![
            key(retired.clone(), KeyState::Retired),
            key(active, KeyState::Active),
        ]);
        assert!(keys.sealed_only_to_retired(&sealed_to(&[&retired])));
        assert!(keys.sealed_only_to_retired(&sealed_to(&[&foreign, &retired])));
        assert!(!keys.sealed_only_to_retired(&sealed_to(&[&foreign])));
    }
}
