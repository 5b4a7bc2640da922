//! Sealed value parsing and opening never panic, whatever the input.
#![no_main]

use kage_core::{Identity, KeyRing, Location, SealedValue};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static RING: LazyLock<KeyRing> = LazyLock::new(|| KeyRing::new([Identity::generate()]));

fuzz_target!(|data: &[u8]| {
    let here = Location::new("prod", "db", "password");
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(value) = SealedValue::from_base64(text) {
            let _ = RING.open(&value, &here);
        }
    }
    if let Ok(value) = SealedValue::from_age_bytes(data.to_vec()) {
        let _ = RING.open(&value, &here);
    }
});
