//! Templates: checking any text never panics, and rendering a checked template never panics
//! and never writes more than its limit, whatever the values.
#![no_main]

use kage_api::crd::{SealedSecretSpec, SecretTemplate};
use kage_api::template::{MAX_TEMPLATE_OUTPUT_BYTES, Templates};
use kage_api::SealedSecret;
use kage_core::Plaintext;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line is the template; the rest is the value of `a`.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else { return };
    let value = data.get(split + 1..).unwrap_or_default();
    let mut sealed = SealedSecret::new(
        "app",
        SealedSecretSpec {
            // Not a sealed value: the check bounds it by its sealed form, at least `value`'s length.
            encrypted_data: [
                ("a".to_owned(), "A".repeat(value.len() / 3 * 4 + 4)),
                ("b".to_owned(), "A".repeat(8)),
            ]
            .into(),
            template: None,
        },
    );
    sealed.spec.template = Some(SecretTemplate {
        data: [("out".to_owned(), text.to_owned())].into(),
        omit: vec!["a".to_owned()],
        ..SecretTemplate::default()
    });
    let Ok(templates) = Templates::check(&sealed) else { return };
    let values = [
        ("a".to_owned(), Plaintext::from(value)),
        ("b".to_owned(), Plaintext::from(&b"\x00\xff\n\"\\"[..])),
    ]
    .into();
    let rendered = templates.render(values);
    assert!(rendered["out"].len() <= MAX_TEMPLATE_OUTPUT_BYTES);
    assert!(!rendered.contains_key("a"));
});
