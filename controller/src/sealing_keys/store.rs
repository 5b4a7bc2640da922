//! The key Secrets and the public-keys ConfigMap through the API: load, create, rotate,
//! publish.

use super::load::read_keys;
use super::*;

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
