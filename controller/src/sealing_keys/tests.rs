//! Loading, rotation limits and retired keys.

use super::load::read_keys;
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
    planted.metadata.managed_fields = labelled("", "kubectl-create", "").metadata.managed_fields;
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
        created: now - jiff::SignedDuration::from_secs(MIN_ROTATION_INTERVAL.as_secs() as i64 - 1),
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
