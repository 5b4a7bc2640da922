//! Manifest reading (YAML and JSON) and Secret conversion never panic or hang.
#![no_main]

use kage_api::seal::{SecretInput, sealed_secret_from_document, sealed_values};
use kage_api::manifest::read_documents;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(docs) = read_documents(text) else { return };
    for doc in docs {
        if let Ok(sealed) = sealed_secret_from_document(&doc) {
            let _ = sealed_values(&sealed);
        }
        let _ = SecretInput::from_document(doc);
    }
});
