//! Properties of the sealed value format: round trips, bindings, tampering and parser safety.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use kage_core::value::MAX_VALUE_BYTES;
use kage_core::{Binding, Identity, KeyRing, Location, OpenError, Scope, SealedValue, seal};
use proptest::prelude::*;

fn here() -> Location {
    Location::new("prod", "db", "password")
}

fn sealed(value: &[u8], scope: Scope, to: &[&Identity]) -> SealedValue {
    let binding = Binding::new(scope, &here()).unwrap();
    let recipients: Vec<_> = to.iter().map(|id| id.recipient().clone()).collect();
    seal(value, &binding, &recipients).unwrap()
}

#[test]
fn binary_and_empty_values_round_trip_through_base64() {
    let id = Identity::generate();
    let ring = KeyRing::new([id.clone()]);
    let binary: Vec<u8> = (0..=255).collect();
    for value in [&b""[..], &binary, b"\n\0\xff", &vec![7; MAX_VALUE_BYTES]] {
        let text = sealed(value, Scope::Strict, &[&id]).to_base64();
        assert!(!text.contains('\n'));
        let back = SealedValue::from_base64(&text).unwrap();
        assert_eq!(ring.open(&back, &here()).unwrap().as_bytes(), value);
    }
}

#[test]
fn a_value_sealed_to_two_recipients_opens_with_either() {
    let (a, b) = (Identity::generate(), Identity::generate());
    let value = sealed(b"both", Scope::Strict, &[&a, &b]);
    assert_eq!(value.recipients(), [a.fingerprint(), b.fingerprint()]);
    for id in [a, b] {
        let ring = KeyRing::new([id]);
        assert_eq!(ring.open(&value, &here()).unwrap().as_bytes(), b"both");
    }
}

#[test]
fn copied_value_is_refused_in_another_namespace_name_or_key() {
    let id = Identity::generate();
    let ring = KeyRing::new([id.clone()]);
    let value = sealed(b"v", Scope::Strict, &[&id]);
    for (place, field) in [
        (Location::new("dev", "db", "password"), "namespace"),
        (Location::new("prod", "other", "password"), "name"),
        (Location::new("prod", "db", "user"), "key"),
    ] {
        let err = ring.open(&value, &place).unwrap_err();
        assert!(matches!(err, OpenError::Binding(_)), "{err}");
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn a_header_claiming_a_wider_scope_is_refused() {
    // Rewrite the clear-text binding of a strict value to cluster-wide: the header MAC and the
    // payload's own binding line both refuse it.
    let id = Identity::generate();
    let value = sealed(b"v", Scope::Strict, &[&id]);
    let text = String::from_utf8(value.age_bytes().to_vec()).unwrap_or_default();
    let age = value.age_bytes();
    let pos = age.windows(6).position(|w| w == b"strict").unwrap();
    let header_end = age.windows(4).position(|w| w == b"\n---").unwrap();
    assert!(pos < header_end, "{text}");
    let mut widened = age[..pos].to_vec();
    widened.extend_from_slice(b"cluster-wide * *");
    let after_name = pos + b"strict prod db".len();
    widened.extend_from_slice(&age[after_name..]);
    let widened = SealedValue::from_age_bytes(widened).unwrap();
    assert_eq!(widened.binding().scope(), Scope::ClusterWide);
    let ring = KeyRing::new([id]);
    let elsewhere = Location::new("dev", "x", "password");
    assert_eq!(ring.open(&widened, &elsewhere), Err(OpenError::Tampered));
}

#[test]
fn each_flipped_bit_is_refused() {
    let id = Identity::generate();
    let ring = KeyRing::new([id.clone()]);
    let value = sealed(b"secret value", Scope::Strict, &[&id]);
    let age = value.age_bytes();
    for i in 0..age.len() {
        let mut bytes = age.to_vec();
        bytes[i] ^= 0x01;
        if let Ok(v) = SealedValue::from_age_bytes(bytes) {
            assert!(ring.open(&v, &here()).is_err(), "flip at byte {i} opened");
        }
    }
}

#[test]
fn truncations_are_refused() {
    let id = Identity::generate();
    let ring = KeyRing::new([id.clone()]);
    let age = sealed(b"secret value", Scope::Strict, &[&id])
        .age_bytes()
        .to_vec();
    for len in 0..age.len() {
        if let Ok(v) = SealedValue::from_age_bytes(age[..len].to_vec()) {
            assert!(
                ring.open(&v, &here()).is_err(),
                "truncation to {len} opened"
            );
        }
    }
}

proptest! {
    #[test]
    fn any_value_round_trips_in_every_scope(value in proptest::collection::vec(any::<u8>(), 0..2048), s in 0usize..3) {
        let id = Identity::generate();
        let v = sealed(&value, Scope::ALL[s], &[&id]);
        let back = SealedValue::from_base64(&v.to_base64()).unwrap();
        let opened = KeyRing::new([id]).open(&back, &here()).unwrap();
        prop_assert_eq!(opened.as_bytes(), &value[..]);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = SealedValue::from_base64(&text);
    }

    #[test]
    fn parsing_arbitrary_age_like_bytes_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = b"age-encryption.org/v1\n-> ".to_vec();
        bytes.extend(tail);
        if let Ok(v) = SealedValue::from_age_bytes(bytes) {
            let _ = KeyRing::new([Identity::generate()]).open(&v, &here());
        }
    }

    #[test]
    fn random_garbage_in_a_sealed_value_is_refused(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let id = Identity::generate();
        let ring = KeyRing::new([id.clone()]);
        let mut age = sealed(b"value", Scope::Strict, &[&id]).age_bytes().to_vec();
        let i = pos.index(age.len());
        prop_assume!(age[i] != byte);
        age[i] = byte;
        if let Ok(v) = SealedValue::from_age_bytes(age) {
            prop_assert!(ring.open(&v, &here()).is_err());
        }
    }
}
