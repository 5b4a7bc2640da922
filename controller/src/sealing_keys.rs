//! Sealing keys: labelled Secrets in the controller's namespace, and their public halves in the
//! `kage-public-keys` ConfigMap.

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

/// Why a labelled Secret is not taken as a sealing key: it was not written by the controller
/// (or `kage key restore`) as one.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    /// Not of kage's key Secret type.
    #[error("its type is not {}", key_secret::SECRET_TYPE)]
    Type,
    /// Owned by another object (a Secret written for a SealedSecret is).
    #[error("it has ownerReferences")]
    Owned,
    /// Its data was written by another field manager.
    #[error("its data was not written by the {FIELD_MANAGER} field manager")]
    Writer,
    /// Created after now (beyond [`key_secret::MAX_CLOCK_SKEW`]).
    #[error("its creation time {0} lies in the future")]
    Future(jiff::Timestamp),
}

/// What [`KeyStore::load`] found.
#[derive(Debug, Default)]
pub struct LoadedKeys {
    /// The keys that could be read.
    pub keys: Vec<SealingKey>,
    /// Names of key Secrets written by kage that could not be read, skipped.
    pub unreadable: Vec<String>,
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

/// Whether a labelled Secret may be loaded as a sealing key, and if so when it was created.
pub fn check_key_secret(
    secret: &Secret,
    now: jiff::Timestamp,
) -> Result<jiff::Timestamp, Untrusted> {
    if secret.type_.as_deref() != Some(key_secret::SECRET_TYPE) {
        return Err(Untrusted::Type);
    }
    if secret
        .metadata
        .owner_references
        .as_ref()
        .is_some_and(|o| !o.is_empty())
    {
        return Err(Untrusted::Owned);
    }
    let data_writers: Vec<&str> = secret
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.get("f:data").is_some())
        })
        .map(|m| m.manager.as_deref().unwrap_or(""))
        .collect();
    if data_writers.is_empty() || data_writers.iter().any(|m| *m != FIELD_MANAGER) {
        return Err(Untrusted::Writer);
    }
    let created = created_at(secret);
    let skew = jiff::SignedDuration::try_from(key_secret::MAX_CLOCK_SKEW)
        .unwrap_or(jiff::SignedDuration::MAX);
    if created > now + skew {
        return Err(Untrusted::Future(created));
    }
    Ok(created)
}

/// When the key was created: its annotation, else the Secret's creation time.
fn created_at(secret: &Secret) -> jiff::Timestamp {
    KeyMeta::of(&secret.metadata)
        .created_at
        .parse()
        .unwrap_or_default()
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

/// Access to the key Secrets and the public-keys ConfigMap of one controller namespace.
pub struct KeyStore {
    client: Client,
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
            config_maps: Api::namespaced(client.clone(), namespace),
            client,
            namespace: namespace.to_owned(),
            kms,
        }
    }

    /// The API client the store uses.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The controller namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn api_error(&self, action: &'static str) -> impl FnOnce(kube::Error) -> KeyError + '_ {
        move |source| KeyError::Api {
            action,
            namespace: self.namespace.clone(),
            source,
        }
    }

    /// Every key, oldest first.
    /// A labelled Secret that the controller did not write as a key is skipped with a warning:
    /// anyone able to create a Secret here must not be able to add a key, nor to stop the
    /// others from loading. A key Secret that passes that check but cannot be read (malformed,
    /// or wrapped by a KMS this controller cannot use) is skipped too and reported; only when
    /// no key at all can be read does the load fail, with the first reason.
    pub async fn load(&self) -> Result<LoadedKeys, KeyError> {
        let list = timed(
            self.secrets
                .list(&ListParams::default().labels(&format!("{SEALING_KEY_LABEL}=true"))),
        )
        .await
        .map_err(self.api_error("list"))?;
        read_keys(list.items, jiff::Timestamp::now(), self.kms.as_deref()).await
    }

    /// The keys, generating the first one when there is none. Two controllers starting at once
    /// both try to create the same Secret name; the loser's create fails and it reloads.
    pub async fn load_or_create(&self) -> Result<LoadedKeys, KeyError> {
        let loaded = self.load().await?;
        if !loaded.keys.is_empty() {
            return Ok(loaded);
        }
        self.create_key(&key_secret::name(1)).await?;
        self.load().await
    }

    /// Creates the key Secret `name`. Returns `false` when that name already exists: another
    /// replica got there first, and its key is as good.
    pub async fn create_key(&self, name: &str) -> Result<bool, KeyError> {
        let identity = Identity::generate();
        let fingerprint = identity.fingerprint();
        let mut key = KeySecret::new(name, identity, jiff::Timestamp::now().to_string());
        if let (Some(kms), KeyMaterial::Identity(identity)) = (&self.kms, &key.material) {
            let wrapped = kms.wrap(identity.to_secret_string().as_bytes()).await?;
            key.material = KeyMaterial::Wrapped {
                wrapped: Zeroizing::new(wrapped),
                kms: Some(kms.id().to_owned()),
            };
        }
        let mut secret = key.build();
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        let created = timed(self.secrets.create(&params, &secret)).await;
        wipe_secret(&mut secret);
        match created {
            Ok(mut created) => {
                wipe_secret(&mut created);
                crate::audit::key_created(name, &fingerprint);
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                tracing::info!(secret = %name, "key already created by another replica");
                Ok(false)
            }
            Err(e) => Err(self.api_error("create")(e)),
        }
    }

    /// Creates the next key (one past the highest number), which becomes the current key,
    /// unless [`KeySet::may_rotate`] refuses. Returns the new key's Secret name.
    pub async fn rotate(&self) -> Result<String, KeyError> {
        let loaded = self.load().await?;
        let next = key_secret::next_name(
            loaded
                .keys
                .iter()
                .map(|k| k.name.as_str())
                .chain(loaded.unreadable.iter().map(String::as_str)),
        );
        let keys = KeySet::new(loaded.keys);
        keys.may_rotate(jiff::Timestamp::now())
            .map_err(KeyError::RotationRefused)?;
        self.create_key(&next).await?;
        Ok(next)
    }

    /// Publishes the public keys (the current one is the one to seal to) in the ConfigMap.
    pub async fn publish(&self, keys: &KeySet) -> Result<(), KeyError> {
        let config_map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(PUBLIC_KEYS_CONFIGMAP.to_owned()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([
                    ("app.kubernetes.io/name".to_owned(), "kage".to_owned()),
                    (
                        "app.kubernetes.io/component".to_owned(),
                        "public-keys".to_owned(),
                    ),
                ])),
                ..ObjectMeta::default()
            },
            data: Some(published_data(keys)),
            ..ConfigMap::default()
        };
        timed(self.config_maps.patch(
            PUBLIC_KEYS_CONFIGMAP,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&config_map),
        ))
        .await
        .map_err(self.api_error("publish"))?;
        Ok(())
    }

    /// The public-keys ConfigMap as it stands now, if it exists.
    pub async fn published(&self) -> Result<Option<ConfigMap>, KeyError> {
        timed(self.config_maps.get_opt(PUBLIC_KEYS_CONFIGMAP))
            .await
            .map_err(self.api_error("read published"))
    }
}

/// The data of the public-keys ConfigMap for `keys`.
pub fn published_data(keys: &KeySet) -> BTreeMap<String, String> {
    let current = keys.current().map(|k| k.identity.recipient());
    PublishedKeys::data(current, &keys.describe())
}

/// The sealing keys among the labelled Secrets `items`, oldest first (see [`KeyStore::load`]);
/// each Secret's data is wiped once read.
async fn read_keys(
    items: Vec<Secret>,
    now: jiff::Timestamp,
    kms: Option<&dyn Kms>,
) -> Result<LoadedKeys, KeyError> {
    let mut loaded = LoadedKeys::default();
    let mut first_error = None;
    for mut secret in items {
        let name = secret.metadata.name.clone().unwrap_or_default();
        match check_key_secret(&secret, now) {
            Ok(created) => match read_key(&name, &secret, created, kms).await {
                Ok(key) => loaded.keys.push(key),
                Err(e) => {
                    tracing::warn!(secret = %name, error = %kage_api::error_chain(&e), "skipping a key Secret that cannot be read");
                    loaded.unreadable.push(name);
                    first_error.get_or_insert(e);
                }
            },
            Err(why) => {
                tracing::warn!(secret = %name, reason = %why, "ignoring a labelled Secret that is not a sealing key written by kage");
            }
        }
        wipe_secret(&mut secret);
    }
    if let (true, Some(e)) = (loaded.keys.is_empty(), first_error) {
        return Err(e);
    }
    loaded
        .keys
        .sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
    Ok(loaded)
}

/// Reads one key Secret, unwrapping it with the KMS when it is wrapped.
async fn read_key(
    name: &str,
    secret: &Secret,
    created: jiff::Timestamp,
    kms: Option<&dyn Kms>,
) -> Result<SealingKey, KeyError> {
    let key = KeySecret::parse(secret).map_err(|_| KeyError::Invalid(name.to_owned()))?;
    let identity = match key.material {
        KeyMaterial::Identity(identity) => identity,
        KeyMaterial::Wrapped {
            wrapped,
            kms: named,
        } => {
            let Some(client) = kms else {
                return Err(KeyError::NeedsKms {
                    secret: name.to_owned(),
                    kms: named.unwrap_or_else(|| "(unknown)".to_owned()),
                });
            };
            let text = client.unwrap(&wrapped).await?;
            let text =
                std::str::from_utf8(&text).map_err(|_| KeyError::Invalid(name.to_owned()))?;
            text.trim()
                .parse()
                .map_err(|_| KeyError::Invalid(name.to_owned()))?
        }
    };
    Ok(SealingKey {
        name: name.to_owned(),
        identity,
        created,
        state: key.meta.state,
        backed_up: key.meta.backed_up_at.is_some(),
    })
}

pub use kage_api::unseal::wipe_secret;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kage_core::{Identity, OpenError};
    use serde_json::json;

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

    fn labelled(type_: &str, manager: &str, created: &str) -> Secret {
        serde_json::from_value(json!({
            "metadata": {
                "name": "kage-key-9",
                "annotations": {key_secret::CREATED_AT: created},
                "managedFields": [
                    {"manager": manager, "operation": "Update", "apiVersion": "v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}, "f:identity": {}}}},
                    {"manager": "kubectl-annotate", "operation": "Update", "apiVersion": "v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:annotations": {}}}},
                ],
            },
            "type": type_,
        }))
        .unwrap()
    }

    #[test]
    fn only_key_secrets_the_controller_wrote_and_dated_now_or_before_are_loaded() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let good = labelled(
            key_secret::SECRET_TYPE,
            FIELD_MANAGER,
            "2025-12-31T00:00:00Z",
        );
        assert_eq!(
            check_key_secret(&good, now),
            Ok("2025-12-31T00:00:00Z".parse().unwrap())
        );
        let within_skew = labelled(
            key_secret::SECRET_TYPE,
            FIELD_MANAGER,
            "2026-01-01T00:04:00Z",
        );
        assert!(check_key_secret(&within_skew, now).is_ok());
        let at_the_skew = labelled(
            key_secret::SECRET_TYPE,
            FIELD_MANAGER,
            "2026-01-01T00:05:00Z",
        );
        assert!(check_key_secret(&at_the_skew, now).is_ok());
        let past_the_skew = labelled(
            key_secret::SECRET_TYPE,
            FIELD_MANAGER,
            "2026-01-01T00:05:01Z",
        );
        assert!(check_key_secret(&past_the_skew, now).is_err());

        let opaque = labelled("Opaque", FIELD_MANAGER, "2025-12-31T00:00:00Z");
        assert_eq!(check_key_secret(&opaque, now), Err(Untrusted::Type));
        let by_hand = labelled(
            key_secret::SECRET_TYPE,
            "kubectl-create",
            "2025-12-31T00:00:00Z",
        );
        assert_eq!(check_key_secret(&by_hand, now), Err(Untrusted::Writer));
        let mut no_fields = good.clone();
        no_fields.metadata.managed_fields = None;
        assert_eq!(check_key_secret(&no_fields, now), Err(Untrusted::Writer));
        let mut owned = good.clone();
        owned.metadata.owner_references = Some(vec![Default::default()]);
        assert_eq!(check_key_secret(&owned, now), Err(Untrusted::Owned));
        let future = labelled(
            key_secret::SECRET_TYPE,
            FIELD_MANAGER,
            "2099-01-01T00:00:00Z",
        );
        assert!(matches!(
            check_key_secret(&future, now),
            Err(Untrusted::Future(_))
        ));
    }

    /// A key Secret as the controller would have written it, created at `created`.
    fn written(name: &str, material: KeyMaterial, created: &str) -> Secret {
        let mut key = KeySecret::new(name, Identity::generate(), created.to_owned());
        if let KeyMaterial::Identity(identity) = &material {
            key.meta.fingerprint = identity.fingerprint().to_string();
        }
        key.material = material;
        let mut secret = key.build();
        secret.metadata.managed_fields = labelled("", FIELD_MANAGER, "").metadata.managed_fields;
        secret
    }

    /// A KMS whose wrapping is the identity itself, prefixed.
    struct PrefixKms;
    impl Kms for PrefixKms {
        fn id(&self) -> &str {
            "test"
        }
        fn wrap<'a>(&'a self, plaintext: &'a [u8]) -> crate::kms::KmsFuture<'a, String> {
            let text = format!("wrapped:{}", String::from_utf8_lossy(plaintext));
            Box::pin(async move { Ok(text) })
        }
        fn unwrap<'a>(&'a self, wrapped: &'a str) -> crate::kms::KmsFuture<'a, Zeroizing<Vec<u8>>> {
            let plain = wrapped
                .strip_prefix("wrapped:")
                .unwrap_or("")
                .as_bytes()
                .to_vec();
            Box::pin(async move { Ok(Zeroizing::new(plain)) })
        }
    }

    #[tokio::test]
    async fn keys_that_cannot_be_read_are_skipped_and_named_and_the_rest_load_oldest_first() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let identity = Identity::generate();
        let wrapped = |text: &str| KeyMaterial::Wrapped {
            wrapped: Zeroizing::new(text.to_owned()),
            kms: Some("test".to_owned()),
        };
        let wrapped_key = || wrapped(&format!("wrapped:{}", identity.to_secret_string().as_str()));
        let mut broken = written(
            "kage-key-4",
            KeyMaterial::Identity(Identity::generate()),
            "2025-12-01T00:00:00Z",
        );
        broken.data.as_mut().unwrap().insert(
            key_secret::IDENTITY.to_owned(),
            k8s_openapi::ByteString(b"AGE-SECRET-KEY-1NOPE".to_vec()),
        );
        let mut planted = written(
            "kage-key-5",
            KeyMaterial::Identity(Identity::generate()),
            "2025-11-01T00:00:00Z",
        );
        planted.metadata.managed_fields =
            labelled("", "kubectl-create", "").metadata.managed_fields;
        let mut retired = written(
            "kage-key-2",
            KeyMaterial::Identity(Identity::generate()),
            "2025-12-02T00:00:00Z",
        );
        retired
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(key_secret::STATE.to_owned(), "retired".to_owned());
        retired.metadata.annotations.as_mut().unwrap().insert(
            key_secret::BACKED_UP_AT.to_owned(),
            "2025-12-03T00:00:00Z".to_owned(),
        );
        let items = || {
            vec![
                written(
                    "kage-key-3",
                    KeyMaterial::Identity(Identity::generate()),
                    "2025-12-02T00:00:00Z",
                ),
                written("kage-key-1", wrapped_key(), "2025-12-10T00:00:00Z"),
                broken.clone(),
                planted.clone(),
                retired.clone(),
                written(
                    "kage-key-6",
                    wrapped("wrapped:not an identity"),
                    "2025-12-11T00:00:00Z",
                ),
            ]
        };
        let names = |loaded: &LoadedKeys| {
            loaded
                .keys
                .iter()
                .map(|k| k.name.clone())
                .collect::<Vec<_>>()
        };

        let without_kms = read_keys(items(), now, None).await.unwrap();
        assert_eq!(names(&without_kms), ["kage-key-2", "kage-key-3"]);
        assert_eq!(
            without_kms.unreadable,
            ["kage-key-1", "kage-key-4", "kage-key-6"]
        );
        assert_eq!(without_kms.keys[0].state, KeyState::Retired);
        assert!(without_kms.keys[0].backed_up);
        assert_eq!(without_kms.keys[1].state, KeyState::Active);
        assert!(!without_kms.keys[1].backed_up);
        assert_eq!(
            without_kms.keys[1].created,
            "2025-12-02T00:00:00Z".parse().unwrap()
        );

        let with_kms = read_keys(items(), now, Some(&PrefixKms)).await.unwrap();
        assert_eq!(names(&with_kms), ["kage-key-2", "kage-key-3", "kage-key-1"]);
        assert_eq!(
            with_kms.keys[2].identity.fingerprint(),
            identity.fingerprint()
        );
        assert_eq!(with_kms.unreadable, ["kage-key-4", "kage-key-6"]);

        let only_unreadable = vec![
            written("kage-key-1", wrapped_key(), "2025-12-10T00:00:00Z"),
            planted,
        ];
        assert!(matches!(
            read_keys(only_unreadable, now, None).await,
            Err(KeyError::NeedsKms { secret, kms }) if secret == "kage-key-1" && kms == "test"
        ));
        assert!(
            matches!(read_keys(vec![broken], now, None).await, Err(KeyError::Invalid(name)) if name == "kage-key-4")
        );
        assert!(
            read_keys(Vec::new(), now, None)
                .await
                .unwrap()
                .keys
                .is_empty()
        );
    }

    #[test]
    fn rotation_is_refused_beyond_each_limit() {
        let now = jiff::Timestamp::now();
        let aged = |hours: i64, state| SealingKey {
            created: now - jiff::SignedDuration::from_hours(hours),
            ..key(Identity::generate(), state)
        };
        let old: Vec<_> = (0..MAX_ACTIVE_KEYS as i64)
            .map(|i| aged(24 + i, KeyState::Active))
            .collect();
        assert!(
            KeySet::new(old[..MAX_ACTIVE_KEYS - 1].to_vec())
                .may_rotate(now)
                .is_ok()
        );
        let full = KeySet::new(old.clone());
        assert!(full.may_rotate(now).unwrap_err().contains("retire"));
        let mut some_retired = old;
        some_retired[0].state = KeyState::Retired;
        assert!(KeySet::new(some_retired).may_rotate(now).is_ok());

        let recent = |minutes: i64| SealingKey {
            created: now - jiff::SignedDuration::from_mins(minutes),
            ..key(Identity::generate(), KeyState::Retired)
        };
        let busy_hour: Vec<_> = (1..=MAX_ROTATIONS_PER_HOUR as i64)
            .map(|m| recent(m * 2))
            .collect();
        assert!(KeySet::new(busy_hour[1..].to_vec()).may_rotate(now).is_ok());
        assert!(
            KeySet::new(busy_hour)
                .may_rotate(now)
                .unwrap_err()
                .contains("last hour")
        );

        let just_now = SealingKey {
            created: now
                - jiff::SignedDuration::from_secs(MIN_ROTATION_INTERVAL.as_secs() as i64 - 1),
            ..key(Identity::generate(), KeyState::Active)
        };
        assert!(
            KeySet::new(vec![just_now.clone()])
                .may_rotate(now)
                .unwrap_err()
                .contains("apart")
        );
        let a_bit_later = now + jiff::SignedDuration::from_secs(2);
        assert!(KeySet::new(vec![just_now]).may_rotate(a_bit_later).is_ok());
        // Exactly at each boundary: the interval has passed, the hour is over.
        let exactly = |secs: i64| SealingKey {
            created: now - jiff::SignedDuration::from_secs(secs),
            ..key(Identity::generate(), KeyState::Retired)
        };
        let interval = MIN_ROTATION_INTERVAL.as_secs() as i64;
        assert!(KeySet::new(vec![exactly(interval)]).may_rotate(now).is_ok());
        let hour_ago: Vec<_> = (0..MAX_ROTATIONS_PER_HOUR).map(|_| exactly(3600)).collect();
        assert!(KeySet::new(hour_ago).may_rotate(now).is_ok());
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
        let keys = KeySet::new(vec![
            key(retired.clone(), KeyState::Retired),
            key(active, KeyState::Active),
        ]);
        assert!(keys.sealed_only_to_retired(&sealed_to(&[&retired])));
        assert!(keys.sealed_only_to_retired(&sealed_to(&[&foreign, &retired])));
        assert!(!keys.sealed_only_to_retired(&sealed_to(&[&foreign])));
    }
}
