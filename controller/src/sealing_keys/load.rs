//! Which labelled Secrets are sealing keys, and reading them (unwrapping through the KMS).

use super::*;

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
pub(super) fn created_at(secret: &Secret) -> jiff::Timestamp {
    KeyMeta::of(&secret.metadata)
        .created_at
        .parse()
        .unwrap_or_default()
}

/// The sealing keys among the labelled Secrets `items`, oldest first (see [`KeyStore::load`]);
/// each Secret's data is wiped once read.
pub(super) async fn read_keys(
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
pub(super) async fn read_key(
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
