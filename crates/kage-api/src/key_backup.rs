//! The content of a `kage key backup` file: a JSON bundle of every key Secret (name,
//! fingerprint, creation time, state, and the identity or its KMS-wrapped form), which the CLI
//! encrypts with age. Anyone holding a backup recipient can write one, so a bundle read back is
//! attacker input: [`KeyBackup::read`] checks its shape and [`BackedUpKey::to_key_secret`] that
//! each identity is the key it claims to be.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::key_secret::{KeyMaterial, KeyMeta, KeySecret, KeyState};
use kage_core::{Fingerprint, Identity};

/// `kind` of a bundle.
pub const KIND: &str = "KeyBackup";
/// `apiVersion` of the bundles written now.
pub const API_VERSION: &str = "kage.dev/v1";

/// The whole backup.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyBackup {
    /// [`API_VERSION`].
    pub api_version: String,
    /// [`KIND`].
    pub kind: String,
    /// The controller's namespace the keys came from.
    pub namespace: String,
    /// When the backup was made (RFC 3339).
    pub created_at: String,
    /// Every key.
    pub keys: Vec<BackedUpKey>,
}

/// One key in a backup.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackedUpKey {
    /// The key Secret's name.
    pub name: String,
    /// The key's fingerprint.
    #[serde(with = "crate::as_text")]
    pub fingerprint: Fingerprint,
    /// When the key was created (RFC 3339).
    pub created_at: String,
    /// Active or retired.
    pub state: KeyState,
    /// The identity; empty for a KMS-wrapped key, which is backed up wrapped.
    #[serde(default)]
    pub identity: String,
    /// The KMS-wrapped identity (restoring it still needs the KMS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_identity: Option<String>,
    /// Which KMS wraps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<String>,
}

impl Drop for BackedUpKey {
    fn drop(&mut self) {
        self.identity.zeroize();
        if let Some(wrapped) = self.wrapped_identity.as_mut() {
            wrapped.zeroize();
        }
    }
}

/// Why a bundle or one of its keys is refused. Names keys, never their content.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyBackupError {
    /// Not JSON of the bundle's shape.
    #[error("the backup's content is not a key bundle: {0}")]
    Malformed(String),
    /// Another kind of document.
    #[error("not a kage key backup (kind {0:?})")]
    WrongKind(String),
    /// A key Secret without a valid fingerprint (a wrapped key whose annotation is wrong).
    #[error("key Secret {0} has no valid fingerprint annotation")]
    NoFingerprint(String),
    /// A key whose identity does not parse.
    #[error("key {0} in the backup is not a valid identity")]
    BadIdentity(String),
    /// A key whose identity is not the one its fingerprint names.
    #[error("key {0} in the backup does not match its fingerprint")]
    FingerprintMismatch(String),
}

impl KeyBackup {
    /// A bundle of `keys` from `namespace`, made now.
    pub fn new(namespace: &str, keys: Vec<BackedUpKey>) -> Self {
        KeyBackup {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            namespace: namespace.to_owned(),
            created_at: jiff::Timestamp::now().to_string(),
            keys,
        }
    }

    /// The bundle as JSON, in a zeroizing buffer.
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a decrypted bundle.
    pub fn read(json: &[u8]) -> Result<Self, KeyBackupError> {
        let bundle: KeyBackup = serde_json::from_slice(json)
            .map_err(|e| KeyBackupError::Malformed(without_input(&e)))?;
        if bundle.kind != KIND {
            return Err(KeyBackupError::WrongKind(bundle.kind.clone()));
        }
        Ok(bundle)
    }
}

/// A serde error without the text of the input it quotes (it could be key material).
fn without_input(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

impl BackedUpKey {
    /// The key a key Secret holds, for a backup.
    pub fn of(key: KeySecret) -> Result<Self, KeyBackupError> {
        let (identity, wrapped_identity, kms) = match key.material {
            KeyMaterial::Identity(identity) => {
                (identity.to_secret_string().to_string(), None, None)
            }
            KeyMaterial::Wrapped { wrapped, kms } => {
                (String::new(), Some(wrapped.to_string()), kms)
            }
        };
        // `KeySecret::parse` takes the fingerprint of an identity; a wrapped key's is the
        // annotation the controller wrote.
        let fingerprint = key
            .meta
            .fingerprint
            .parse()
            .map_err(|_| KeyBackupError::NoFingerprint(key.meta.name.clone()))?;
        Ok(BackedUpKey {
            name: key.meta.name.clone(),
            fingerprint,
            created_at: key.meta.created_at.clone(),
            state: key.meta.state,
            identity,
            wrapped_identity,
            kms,
        })
    }

    /// Checks an identity in the backup against its fingerprint (a wrapped key cannot be
    /// checked without its KMS).
    pub fn check(&self) -> Result<(), KeyBackupError> {
        if self.wrapped_identity.is_some() {
            return Ok(());
        }
        let identity: Identity = self
            .identity
            .parse()
            .map_err(|_| KeyBackupError::BadIdentity(self.name.clone()))?;
        if identity.fingerprint() != self.fingerprint {
            return Err(KeyBackupError::FingerprintMismatch(self.name.clone()));
        }
        Ok(())
    }

    /// The key Secret to restore it as, named `name`, marked as saved at `backed_up_at` and
    /// restored now.
    pub fn to_key_secret(
        &self,
        name: &str,
        backed_up_at: &str,
    ) -> Result<KeySecret, KeyBackupError> {
        self.check()?;
        let material = match &self.wrapped_identity {
            Some(wrapped) => KeyMaterial::Wrapped {
                wrapped: Zeroizing::new(wrapped.clone()),
                kms: self.kms.clone(),
            },
            None => KeyMaterial::Identity(
                self.identity
                    .parse()
                    .map_err(|_| KeyBackupError::BadIdentity(self.name.clone()))?,
            ),
        };
        Ok(KeySecret {
            meta: KeyMeta {
                name: name.to_owned(),
                fingerprint: self.fingerprint.to_string(),
                created_at: self.created_at.clone(),
                state: self.state,
                backed_up_at: Some(backed_up_at.to_owned()),
            },
            material,
            restored_at: Some(jiff::Timestamp::now().to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_reads_back_and_a_key_restores_only_as_the_key_it_names() {
        let identity = Identity::generate();
        let key = KeySecret::new(
            "kage-key-1",
            identity.clone(),
            "2026-01-01T00:00:00Z".into(),
        );
        let bundle = KeyBackup::new("kage-system", vec![BackedUpKey::of(key).unwrap()]);
        let back = KeyBackup::read(&bundle.to_json()).unwrap();
        assert_eq!(back.keys[0].fingerprint, identity.fingerprint());
        assert_eq!(back.keys[0].state, KeyState::Active);
        let restored = back.keys[0].to_key_secret("kage-key-7", "then").unwrap();
        assert_eq!(restored.meta.name, "kage-key-7");
        assert_eq!(restored.meta.backed_up_at.as_deref(), Some("then"));

        let mut forged = KeyBackup::read(&bundle.to_json()).unwrap();
        forged.keys[0].fingerprint = Identity::generate().fingerprint();
        assert_eq!(
            forged.keys[0].to_key_secret("kage-key-1", "then").err(),
            Some(KeyBackupError::FingerprintMismatch("kage-key-1".into()))
        );
        forged.keys[0].identity = "AGE-SECRET-KEY-1NOPE".into();
        assert_eq!(
            forged.keys[0].check(),
            Err(KeyBackupError::BadIdentity("kage-key-1".into()))
        );
    }

    #[test]
    fn other_documents_and_unknown_states_are_refused_without_quoting_them() {
        let secret = "AGE-SECRET-KEY-1SECRETSECRET";
        let other = serde_json::json!({"apiVersion": "v1", "kind": "Other", "namespace": "n",
            "createdAt": "x", "keys": []});
        assert_eq!(
            KeyBackup::read(other.to_string().as_bytes()).err(),
            Some(KeyBackupError::WrongKind("Other".into()))
        );
        let unknown = serde_json::json!({"apiVersion": "v1", "kind": KIND, "namespace": "n",
            "createdAt": "x", "keys": [{"name": "k", "fingerprint": "0000000000000000",
            "createdAt": "x", "state": secret, "identity": secret}]});
        let error = KeyBackup::read(unknown.to_string().as_bytes())
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with("the backup's content is not a key bundle"),
            "{error}"
        );
        assert!(!error.contains("SECRET"), "{error}");
    }
}
