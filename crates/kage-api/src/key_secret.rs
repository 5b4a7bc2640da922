//! The shape of a sealing-key Secret in the controller's namespace, shared by the controller
//! (which writes and reads them) and `kage key backup|restore|retire`: [`KeySecret::parse`]
//! and [`KeySecret::build`] are the only code that reads or writes one.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kage_core::Identity;
use zeroize::Zeroizing;

use crate::names::SEALING_KEY_LABEL;

/// How far in the future a key's creation time may lie (clocks differ); beyond, the key is
/// refused, by the controller's loader and by `kage key restore`: a future date would make it
/// the current key for years.
pub const MAX_CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Prefix of key Secret names; the suffix is the key's sequence number.
pub const NAME_PREFIX: &str = "kage-key-";
/// Secret type of key Secrets.
pub const SECRET_TYPE: &str = "kage.dev/sealing-key";
/// Data key holding the `AGE-SECRET-KEY-1...` identity.
pub const IDENTITY: &str = "identity";
/// Data key holding the KMS-wrapped identity instead.
pub const WRAPPED_IDENTITY: &str = "wrapped-identity";
/// Annotation: when the key was created (RFC 3339).
pub const CREATED_AT: &str = "kage.dev/created-at";
/// Annotation: the key's fingerprint.
pub const FINGERPRINT: &str = "kage.dev/fingerprint";
/// Annotation: `active` (default) or `retired` (no longer used to unseal).
pub const STATE: &str = "kage.dev/key-state";
/// Annotation: which KMS wraps the identity.
pub const KMS: &str = "kage.dev/kms";
/// Annotation set by `kage key backup` on the keys it saved.
pub const BACKED_UP_AT: &str = "kage.dev/backed-up-at";
/// Annotation: the key's public recipient (`age1...`), for people reading the Secret.
pub const RECIPIENT: &str = "kage.dev/recipient";
/// Annotation set by `kage key restore`: when the key was put back.
pub const RESTORED_AT: &str = "kage.dev/restored-at";
/// Annotation set by `kage key retire`: when the key was retired.
pub const RETIRED_AT: &str = "kage.dev/retired-at";

/// Whether a key is still used. Written in the [`STATE`] annotation and in `keys.json`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Opens values; the newest active key seals new ones.
    #[default]
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

    /// The state an annotation value names; anything but `retired` is active.
    pub fn from_annotation(value: Option<&str>) -> Self {
        match value {
            Some("retired") => KeyState::Retired,
            _ => KeyState::Active,
        }
    }
}

/// The key a key Secret holds.
pub enum KeyMaterial {
    /// The `AGE-SECRET-KEY-1...` identity.
    Identity(Identity),
    /// The identity wrapped by a KMS (opaque text), with the KMS's id when the Secret names it.
    Wrapped {
        /// What the KMS returned when wrapping.
        wrapped: Zeroizing<String>,
        /// The KMS (annotation [`KMS`]).
        kms: Option<String>,
    },
}

/// What the annotations of a key Secret say: readable from its metadata alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyMeta {
    /// Secret name (`kage-key-N`).
    pub name: String,
    /// The key's fingerprint (annotation; checked against the identity when there is one).
    pub fingerprint: String,
    /// When the key was created (RFC 3339), or the Secret's creation time.
    pub created_at: String,
    /// Active or retired.
    pub state: KeyState,
    /// When `kage key backup` last saved it.
    pub backed_up_at: Option<String>,
}

impl KeyMeta {
    /// Reads the annotations of a key Secret.
    pub fn of(metadata: &ObjectMeta) -> Self {
        let annotation = |key: &str| metadata.annotations.as_ref()?.get(key).cloned();
        KeyMeta {
            name: metadata.name.clone().unwrap_or_default(),
            fingerprint: annotation(FINGERPRINT).unwrap_or_default(),
            created_at: annotation(CREATED_AT)
                .or_else(|| {
                    metadata
                        .creation_timestamp
                        .as_ref()
                        .map(|t| t.0.to_string())
                })
                .unwrap_or_default(),
            state: KeyState::from_annotation(annotation(STATE).as_deref()),
            backed_up_at: annotation(BACKED_UP_AT),
        }
    }

    /// Whether the key is the one `fingerprint` names.
    pub fn is(&self, fingerprint: &kage_core::Fingerprint) -> bool {
        self.fingerprint
            .parse::<kage_core::Fingerprint>()
            .is_ok_and(|f| f == *fingerprint)
    }

    /// The key's sequence number, from its name (0 for other names).
    pub fn number(&self) -> u64 {
        number(&self.name)
    }
}

/// A key Secret, read or to be written.
pub struct KeySecret {
    /// Name, dates and state.
    pub meta: KeyMeta,
    /// The key.
    pub material: KeyMaterial,
    /// When `kage key restore` put it back.
    pub restored_at: Option<String>,
}

/// Why a Secret is not a readable key Secret. Names the Secret, never its content.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeySecretError {
    /// Neither [`IDENTITY`] nor [`WRAPPED_IDENTITY`] holds anything usable.
    #[error("key Secret {0} holds no valid identity")]
    NoIdentity(String),
    /// The identity's fingerprint is not the one the annotation names.
    #[error("key Secret {0} does not match its fingerprint annotation")]
    FingerprintMismatch(String),
}

impl KeySecret {
    /// A new key Secret for `identity`, created now (`created_at`, RFC 3339).
    pub fn new(name: &str, identity: Identity, created_at: String) -> Self {
        KeySecret {
            meta: KeyMeta {
                name: name.to_owned(),
                fingerprint: identity.fingerprint().to_string(),
                created_at,
                state: KeyState::Active,
                backed_up_at: None,
            },
            material: KeyMaterial::Identity(identity),
            restored_at: None,
        }
    }

    /// Reads a key Secret: its annotations and the identity (or the wrapped identity). The
    /// caller still wipes `secret`.
    pub fn parse(secret: &Secret) -> Result<Self, KeySecretError> {
        let mut meta = KeyMeta::of(&secret.metadata);
        let no_identity = || KeySecretError::NoIdentity(meta.name.clone());
        let data = |key: &str| secret.data.as_ref()?.get(key);
        let material = match (data(IDENTITY), data(WRAPPED_IDENTITY)) {
            (Some(plain), _) => {
                let text =
                    Zeroizing::new(String::from_utf8(plain.0.clone()).map_err(|_| no_identity())?);
                let identity: Identity = text.trim().parse().map_err(|_| no_identity())?;
                let fingerprint = identity.fingerprint().to_string();
                if meta.fingerprint.is_empty() {
                    meta.fingerprint = fingerprint;
                } else if meta.fingerprint != fingerprint {
                    return Err(KeySecretError::FingerprintMismatch(meta.name));
                }
                KeyMaterial::Identity(identity)
            }
            (None, Some(wrapped)) => KeyMaterial::Wrapped {
                wrapped: Zeroizing::new(
                    String::from_utf8(wrapped.0.clone()).map_err(|_| no_identity())?,
                ),
                kms: secret
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(KMS))
                    .cloned(),
            },
            (None, None) => return Err(no_identity()),
        };
        Ok(KeySecret {
            meta,
            material,
            restored_at: secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(RESTORED_AT))
                .cloned(),
        })
    }

    /// The Secret to create: label, type, annotations and the key in `data`. Wipe it (with
    /// [`crate::unseal::wipe_secret`]) once sent.
    pub fn build(&self) -> Secret {
        let meta = &self.meta;
        let mut annotations = BTreeMap::from([
            (CREATED_AT.to_owned(), meta.created_at.clone()),
            (FINGERPRINT.to_owned(), meta.fingerprint.clone()),
        ]);
        if meta.state != KeyState::Active {
            annotations.insert(STATE.to_owned(), meta.state.as_str().to_owned());
        }
        let optional = [
            (BACKED_UP_AT, meta.backed_up_at.as_ref()),
            (RESTORED_AT, self.restored_at.as_ref()),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                annotations.insert(key.to_owned(), value.clone());
            }
        }
        let (data_key, bytes) = match &self.material {
            KeyMaterial::Identity(identity) => {
                annotations.insert(RECIPIENT.to_owned(), identity.recipient().to_string());
                (IDENTITY, identity.to_secret_string().as_bytes().to_vec())
            }
            KeyMaterial::Wrapped { wrapped, kms } => {
                if let Some(kms) = kms {
                    annotations.insert(KMS.to_owned(), kms.clone());
                }
                (WRAPPED_IDENTITY, wrapped.as_bytes().to_vec())
            }
        };
        Secret {
            metadata: ObjectMeta {
                name: Some(meta.name.clone()),
                labels: Some(BTreeMap::from([
                    (SEALING_KEY_LABEL.to_owned(), "true".to_owned()),
                    ("app.kubernetes.io/name".to_owned(), "kage".to_owned()),
                ])),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            },
            type_: Some(SECRET_TYPE.to_owned()),
            data: Some(BTreeMap::from([(data_key.to_owned(), ByteString(bytes))])),
            ..Secret::default()
        }
    }
}

/// The merge patch `kage key backup` sends for a key Secret it saved: the [`BACKED_UP_AT`]
/// stamp, on exactly the version saved (a key changed since is not marked).
pub fn backed_up_patch(resource_version: &str, at: &str) -> serde_json::Value {
    serde_json::json!({"metadata": {
        "resourceVersion": resource_version,
        "annotations": {BACKED_UP_AT: at},
    }})
}

/// The merge patch `kage key retire` sends: [`STATE`] retired and [`RETIRED_AT`] now, on
/// exactly the version checked.
pub fn retired_patch(resource_version: &str) -> serde_json::Value {
    serde_json::json!({"metadata": {
        "resourceVersion": resource_version,
        "annotations": {
            STATE: KeyState::Retired.as_str(),
            RETIRED_AT: jiff::Timestamp::now().to_string(),
        },
    }})
}

/// The sequence number in a key Secret's name (`kage-key-N`), 0 for other names.
pub fn number(name: &str) -> u64 {
    name.strip_prefix(NAME_PREFIX)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The name for key number `number`.
pub fn name(number: u64) -> String {
    format!("{NAME_PREFIX}{number}")
}

/// The name after every one of `names`: one past the highest number.
pub fn next_name<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    name(names.into_iter().map(number).max().unwrap_or(0) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_secret_reads_back_as_it_was_built() {
        let identity = Identity::generate();
        let mut key = KeySecret::new(
            "kage-key-3",
            identity.clone(),
            "2026-01-01T00:00:00Z".into(),
        );
        key.meta.state = KeyState::Retired;
        key.meta.backed_up_at = Some("2026-02-01T00:00:00Z".into());
        let mut secret = key.build();
        assert_eq!(secret.type_.as_deref(), Some(SECRET_TYPE));
        let back = KeySecret::parse(&secret).unwrap();
        assert_eq!(back.meta, key.meta);
        assert!(
            matches!(back.material, KeyMaterial::Identity(i) if i.fingerprint() == identity.fingerprint())
        );

        // A fingerprint annotation that does not match the identity is refused.
        secret
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(FINGERPRINT.into(), "0000000000000000".into());
        assert_eq!(
            KeySecret::parse(&secret).err(),
            Some(KeySecretError::FingerprintMismatch("kage-key-3".into()))
        );
        crate::unseal::wipe_secret(&mut secret);
        assert!(
            secret
                .data
                .unwrap()
                .values()
                .all(|v| v.0.iter().all(|b| *b == 0))
        );
    }

    #[test]
    fn names_are_numbered_one_past_the_highest() {
        assert_eq!(number("kage-key-12"), 12);
        assert_eq!(number("other"), 0);
        assert_eq!(next_name(["kage-key-2", "kage-key-10", "x"]), "kage-key-11");
        assert_eq!(next_name([]), "kage-key-1");
    }
}
