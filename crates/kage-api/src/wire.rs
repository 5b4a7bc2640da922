//! What the CLI and the controller exchange: the `keys.json` entry of the public-keys
//! ConfigMap and the bodies of the controller's HTTP API, each one type written and read by the
//! same code, so that a renamed field fails to compile instead of breaking the other side.

use serde::{Deserialize, Serialize};

pub use crate::key_secret::KeyState;

/// One key as the controller publishes it (`keys.json`, `GET /v1/keys`). Public parts only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedKey {
    /// Short fingerprint, for people to read (never to compare keys with).
    pub fingerprint: String,
    /// The `age1...` recipient.
    pub recipient: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
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

/// `GET /v1/keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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

    #[test]
    fn every_body_keeps_its_field_names_both_ways() {
        let key = PublishedKey {
            fingerprint: "0011223344556677".into(),
            recipient: "age1x".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            state: KeyState::Retired,
            current: false,
            backed_up: true,
            secret: "kage-key-1".into(),
        };
        round_trip(
            KeysAnswer { keys: vec![key] },
            serde_json::json!({"keys": [{"fingerprint": "0011223344556677", "recipient": "age1x",
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
        let old: PublishedKey = serde_json::from_value(serde_json::json!({
            "fingerprint": "0011223344556677", "recipient": "age1x", "createdAt": "2026-01-01T00:00:00Z"}))
        .unwrap();
        assert_eq!((old.state, old.current), (KeyState::Active, false));
    }
}
