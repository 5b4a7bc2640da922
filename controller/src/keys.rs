//! Sealing keys: labelled Secrets in the controller's namespace, and their public halves in the
//! `kage-public-keys` ConfigMap.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kage_api::{CURRENT_RECIPIENT_KEY, KEYS_JSON_KEY, PUBLIC_KEYS_CONFIGMAP, SEALING_KEY_LABEL};
use kage_core::{Identity, KeyRing};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use zeroize::{Zeroize, Zeroizing};

use crate::FIELD_MANAGER;

/// Annotation on a key Secret: when the key was created (RFC 3339).
pub const CREATED_AT_ANNOTATION: &str = "kage.dev/created-at";
/// Annotation on a key Secret: the key's fingerprint.
pub const FINGERPRINT_ANNOTATION: &str = "kage.dev/fingerprint";
/// Data key of a key Secret holding the `AGE-SECRET-KEY-1...` identity.
pub const IDENTITY_DATA_KEY: &str = "identity";
/// Secret type of key Secrets.
pub const KEY_SECRET_TYPE: &str = "kage.dev/sealing-key";

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
}

/// Access to the key Secrets and the public-keys ConfigMap of one controller namespace.
pub struct KeyStore {
    secrets: Api<Secret>,
    config_maps: Api<ConfigMap>,
    namespace: String,
}

impl KeyStore {
    /// The store in `namespace`.
    pub fn new(client: Client, namespace: &str) -> Self {
        KeyStore {
            secrets: Api::namespaced(client.clone(), namespace),
            config_maps: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
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
            let key = parse_key(&name, &secret);
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
        let identity = Identity::generate();
        let name = "kage-key-1";
        let secret = key_secret(name, &identity, jiff::Timestamp::now());
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        match self.secrets.create(&params, &secret).await {
            Ok(mut created) => {
                wipe_secret(&mut created);
                tracing::info!(fingerprint = %identity.fingerprint(), secret = name, "generated the first sealing key");
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                tracing::info!(
                    secret = name,
                    "another controller created the first key; loading it"
                );
            }
            Err(e) => return Err(self.api_error("create")(e)),
        }
        self.load().await
    }

    /// Publishes the public keys (newest is the one to seal to) in the ConfigMap.
    pub async fn publish(&self, keys: &[SealingKey]) -> Result<(), KeyError> {
        let entries: Vec<_> = keys
            .iter()
            .map(|k| {
                json!({
                    "fingerprint": k.identity.fingerprint().to_string(),
                    "recipient": k.identity.recipient().to_string(),
                    "createdAt": k.created.to_string(),
                    "secret": k.name,
                })
            })
            .collect();
        let current = keys
            .last()
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

/// A key ring holding every key.
pub fn ring(keys: &[SealingKey]) -> KeyRing {
    KeyRing::new(keys.iter().map(|k| k.identity.clone()))
}

fn parse_key(name: &str, secret: &Secret) -> Result<SealingKey, KeyError> {
    let invalid = || KeyError::Invalid(name.to_owned());
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(IDENTITY_DATA_KEY))
        .ok_or_else(invalid)?;
    let text = Zeroizing::new(String::from_utf8(bytes.0.clone()).map_err(|_| invalid())?);
    let identity: Identity = text.parse().map_err(|_| invalid())?;
    let created = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CREATED_AT_ANNOTATION))
        .and_then(|t| t.parse().ok())
        .or_else(|| secret.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or_default();
    Ok(SealingKey {
        name: name.to_owned(),
        identity,
        created,
    })
}

fn key_secret(name: &str, identity: &Identity, created: jiff::Timestamp) -> Secret {
    let mut data = BTreeMap::new();
    data.insert(
        IDENTITY_DATA_KEY.to_owned(),
        ByteString(identity.to_secret_string().as_bytes().to_vec()),
    );
    let mut secret: Secret = serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": {SEALING_KEY_LABEL: "true", "app.kubernetes.io/name": "kage"},
            "annotations": {
                CREATED_AT_ANNOTATION: created.to_string(),
                FINGERPRINT_ANNOTATION: identity.fingerprint().to_string(),
                "kage.dev/recipient": identity.recipient().to_string(),
            },
        },
        "type": KEY_SECRET_TYPE,
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
