//! What the CLI and the controller exchange: the public-keys ConfigMap ([`PublishedKeys`]), the
//! paths ([`path`]) and bodies of the controller's HTTP API, each one type written and read by
//! the same code, so that a renamed field fails to compile instead of breaking the other side.
//! Keys travel as kage-core's types, parsed once at the edge, and are compared as such.

use std::collections::BTreeMap;

use kage_core::{Fingerprint, Recipient};
use serde::{Deserialize, Serialize};

pub use crate::key_secret::KeyState;
use crate::names::{CURRENT_RECIPIENT_KEY, KEYS_JSON_KEY, PUBLIC_KEYS_CONFIGMAP};

/// The paths of the controller's HTTP API (port `api`).
pub mod path {
    /// `GET`: the public keys ([`super::KeysAnswer`]).
    pub const KEYS: &str = "/v1/keys";
    /// `POST` SealedSecrets: can they be opened here ([`super::VerifyAnswer`]).
    pub const VERIFY: &str = "/v1/verify";
    /// `POST` SealedSecrets: the same resealed to the current key ([`super::ResealAnswer`]);
    /// query [`super::ResealQuery`].
    pub const RESEAL: &str = "/v1/reseal";
}

/// One key as the controller publishes it (`keys.json`, `GET /v1/keys`). Public parts only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedKey {
    /// Its fingerprint (16 hex digits), what sealed values name their recipients by.
    #[serde(with = "crate::as_text")]
    pub fingerprint: Fingerprint,
    /// The `age1...` recipient.
    #[serde(with = "crate::as_text")]
    pub recipient: Recipient,
    /// When it was created (RFC 3339).
    pub created_at: jiff::Timestamp,
    /// Active or retired.
    #[serde(default)]
    pub state: KeyState,
    /// Whether new values are sealed to it.
    #[serde(default)]
    pub current: bool,
    /// Whether `kage key backup` has saved it.
    #[serde(default)]
    pub backed_up: bool,
    /// The key Secret holding it.
    #[serde(default)]
    pub secret: String,
}

/// The public-keys ConfigMap ([`PUBLIC_KEYS_CONFIGMAP`]) the controller publishes and every
/// user may read: the current recipient on its own line (for scripts) and every key as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedKeys {
    /// The key new values are sealed to.
    pub current: Recipient,
    /// Every key, oldest first.
    pub keys: Vec<PublishedKey>,
}

/// Why a public-keys ConfigMap cannot be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PublishedKeysError {
    /// No current recipient.
    #[error("ConfigMap {PUBLIC_KEYS_CONFIGMAP} names no current key ({CURRENT_RECIPIENT_KEY})")]
    NoCurrent,
    /// The current recipient does not parse.
    #[error("ConfigMap {PUBLIC_KEYS_CONFIGMAP}: {CURRENT_RECIPIENT_KEY}: {0}")]
    BadCurrent(String),
    /// `keys.json` does not parse.
    #[error("ConfigMap {PUBLIC_KEYS_CONFIGMAP}: bad {KEYS_JSON_KEY}: {0}")]
    BadKeys(String),
}

impl PublishedKeys {
    /// The ConfigMap's `data`.
    pub fn to_data(&self) -> BTreeMap<String, String> {
        Self::data(Some(&self.current), &self.keys)
    }

    /// The ConfigMap's `data` for `keys`, with `current` as the key to seal to; `None` (every
    /// key retired) publishes an empty current key, which reads back as
    /// [`PublishedKeysError::NoCurrent`].
    pub fn data(current: Option<&Recipient>, keys: &[PublishedKey]) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                CURRENT_RECIPIENT_KEY.to_owned(),
                current.map(ToString::to_string).unwrap_or_default(),
            ),
            (
                KEYS_JSON_KEY.to_owned(),
                serde_json::to_string_pretty(keys).unwrap_or_default(),
            ),
        ])
    }

    /// Reads the ConfigMap's `data` (a ConfigMap without `keys.json` lists no keys).
    pub fn from_data(data: &BTreeMap<String, String>) -> Result<Self, PublishedKeysError> {
        let current = data
            .get(CURRENT_RECIPIENT_KEY)
            .map(|text| text.trim())
            .filter(|text| !text.is_empty())
            .ok_or(PublishedKeysError::NoCurrent)?
            .parse::<Recipient>()
            .map_err(|e| PublishedKeysError::BadCurrent(e.to_string()))?;
        let keys: Vec<PublishedKey> = match data.get(KEYS_JSON_KEY) {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| PublishedKeysError::BadKeys(e.to_string()))?,
            None => Vec::new(),
        };
        if let Some(wrong) = keys
            .iter()
            .find(|k| k.fingerprint != k.recipient.fingerprint())
        {
            return Err(PublishedKeysError::BadKeys(format!(
                "fingerprint {} is not that of its recipient",
                wrong.fingerprint
            )));
        }
        Ok(PublishedKeys { current, keys })
    }

    /// The published key that is `recipient`, if any.
    pub fn find(&self, recipient: &Recipient) -> Option<&PublishedKey> {
        self.keys.iter().find(|k| k.recipient == *recipient)
    }

    /// Whether `fingerprint` names one of the published keys.
    pub fn contains(&self, fingerprint: &Fingerprint) -> bool {
        self.keys.iter().any(|k| k.fingerprint == *fingerprint)
    }
}

/// Query of [`path::RESEAL`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResealQuery {
    /// Comma-separated `age1...` recipients to keep besides the cluster's current key. Each
    /// must be one of the controller's recovery recipients (compared whole) and already able to
    /// open the value (its fingerprint is among the value's), so a reseal can never give a
    /// value to someone new.
    #[serde(default)]
    pub keep: String,
}

impl ResealQuery {
    /// The query keeping `recipients`.
    pub fn keeping(recipients: &[Recipient]) -> Self {
        let keep: Vec<String> = recipients.iter().map(ToString::to_string).collect();
        ResealQuery {
            keep: keep.join(","),
        }
    }

    /// The recipients to keep.
    pub fn recipients(&self) -> Result<Vec<Recipient>, kage_core::KeyError> {
        self.keep
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect()
    }

    /// The path and query to request.
    pub fn uri(&self) -> String {
        format!("{}?keep={}", path::RESEAL, self.keep)
    }
}

/// `GET /v1/keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysAnswer {
    /// Every key, oldest first.
    pub keys: Vec<PublishedKey>,
}

/// `POST /v1/verify`: one result per SealedSecret sent, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyAnswer {
    /// The results.
    pub results: Vec<VerifyResult>,
}

/// Whether the cluster can open one SealedSecret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyResult {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Whether every value opens here (and there is at least one).
    pub ok: bool,
    /// One verdict per value.
    pub keys: Vec<ValueVerdict>,
}

/// Whether one value opens here, and why not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueVerdict {
    /// The data key.
    pub key: String,
    /// Whether it opens here.
    pub ok: bool,
    /// Why not (never a value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/reseal`: the SealedSecrets sent, resealed, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResealAnswer {
    /// The resealed SealedSecret documents.
    pub objects: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(
        value: T,
        expected: serde_json::Value,
    ) {
        let json = serde_json::to_value(&value).unwrap();
        assert_eq!(json, expected, "the wire shape changed");
        assert_eq!(serde_json::from_value::<T>(json).unwrap(), value);
    }

    fn a_recipient() -> Recipient {
        kage_core::Identity::generate().recipient().clone()
    }

    #[test]
    fn every_body_keeps_its_field_names_both_ways() {
        let recipient = a_recipient();
        let fingerprint = recipient.fingerprint();
        let key = PublishedKey {
            fingerprint,
            recipient: recipient.clone(),
            created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            state: KeyState::Retired,
            current: false,
            backed_up: true,
            secret: "kage-key-1".into(),
        };
        round_trip(
            KeysAnswer { keys: vec![key] },
            serde_json::json!({"keys": [{"fingerprint": fingerprint.to_string(), "recipient": recipient.to_string(),
                "createdAt": "2026-01-01T00:00:00Z", "state": "retired", "current": false,
                "backedUp": true, "secret": "kage-key-1"}]}),
        );
        round_trip(
            VerifyAnswer {
                results: vec![VerifyResult {
                    namespace: "ns".into(),
                    name: "db".into(),
                    ok: false,
                    keys: vec![
                        ValueVerdict {
                            key: "a".into(),
                            ok: true,
                            reason: None,
                        },
                        ValueVerdict {
                            key: "b".into(),
                            ok: false,
                            reason: Some("why".into()),
                        },
                    ],
                }],
            },
            serde_json::json!({"results": [{"namespace": "ns", "name": "db", "ok": false, "keys": [
                {"key": "a", "ok": true}, {"key": "b", "ok": false, "reason": "why"}]}]}),
        );
        round_trip(
            ResealAnswer {
                objects: vec![serde_json::json!({"kind": "SealedSecret"})],
            },
            serde_json::json!({"objects": [{"kind": "SealedSecret"}]}),
        );
    }

    #[test]
    fn a_key_entry_from_an_older_controller_still_reads() {
        let recipient = a_recipient();
        let old: PublishedKey = serde_json::from_value(serde_json::json!({
            "fingerprint": recipient.fingerprint().to_string(), "recipient": recipient.to_string(),
            "createdAt": "2026-01-01T00:00:00Z"}))
        .unwrap();
        assert_eq!((old.state, old.current), (KeyState::Active, false));
    }

    #[test]
    fn the_public_keys_config_map_reads_back_what_was_written_and_refuses_the_rest() {
        let current = a_recipient();
        let published = PublishedKeys {
            current: current.clone(),
            keys: vec![PublishedKey {
                fingerprint: current.fingerprint(),
                recipient: current.clone(),
                created_at: jiff::Timestamp::UNIX_EPOCH,
                state: KeyState::Active,
                current: true,
                backed_up: false,
                secret: "kage-key-1".into(),
            }],
        };
        let data = published.to_data();
        assert_eq!(data[CURRENT_RECIPIENT_KEY], current.to_string());
        assert_eq!(PublishedKeys::from_data(&data), Ok(published.clone()));
        assert!(published.contains(&current.fingerprint()));
        assert!(!published.contains(&a_recipient().fingerprint()));
        assert!(published.find(&current).is_some());
        assert!(published.find(&a_recipient()).is_none());
        let mut broken = data.clone();
        broken.remove(CURRENT_RECIPIENT_KEY);
        assert_eq!(
            PublishedKeys::from_data(&broken),
            Err(PublishedKeysError::NoCurrent)
        );
        assert_eq!(
            PublishedKeys::from_data(&PublishedKeys::data(None, &published.keys)),
            Err(PublishedKeysError::NoCurrent)
        );
        let mut broken = data.clone();
        broken.insert(CURRENT_RECIPIENT_KEY.into(), "age1nope".into());
        assert!(matches!(
            PublishedKeys::from_data(&broken),
            Err(PublishedKeysError::BadCurrent(_))
        ));
        let mut wrong = published.clone();
        wrong.keys[0].fingerprint = a_recipient().fingerprint();
        let mut broken = wrong.to_data();
        assert!(matches!(
            PublishedKeys::from_data(&broken),
            Err(PublishedKeysError::BadKeys(_))
        ));
        broken.insert(KEYS_JSON_KEY.into(), r#"[{"fingerprint": "zz"}]"#.into());
        assert!(matches!(
            PublishedKeys::from_data(&broken),
            Err(PublishedKeysError::BadKeys(_))
        ));
    }

    #[test]
    fn a_reseal_query_keeps_exactly_its_recipients() {
        let [a, b] = [a_recipient(), a_recipient()];
        let query = ResealQuery::keeping(&[a.clone(), b.clone()]);
        assert_eq!(query.recipients().unwrap(), [a, b]);
        assert!(query.uri().starts_with("/v1/reseal?keep=age1"));
        assert_eq!(ResealQuery::default().recipients().unwrap(), []);
        assert!(
            ResealQuery {
                keep: "age1x".into()
            }
            .recipients()
            .is_err()
        );
    }
}
