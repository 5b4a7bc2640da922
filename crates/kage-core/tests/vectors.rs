//! The test vectors published in docs/format.md open (or are refused) exactly as documented.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::HashMap;

use kage_core::{Identity, KeyRing, Location, OpenError, SealedValue};

fn vectors() -> Vec<HashMap<String, String>> {
    let doc = include_str!("../../../docs/format.md");
    let block = doc
        .split("```kage-test-vectors\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/format.md has a kage-test-vectors block");
    block
        .split("\n\n")
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.lines()
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn documented_vectors_open_or_are_refused_as_stated() {
    let vectors = vectors();
    assert!(
        vectors.len() >= 6,
        "expected the documented vectors, found {}",
        vectors.len()
    );
    for v in vectors {
        let comment = &v["comment"];
        let identity: Identity = v["identity"].parse().unwrap();
        let parts: Vec<&str> = v["open_at"].split('/').collect();
        let at = Location::new(parts[0], parts[1], parts[2]);
        let value = SealedValue::from_base64(&v["sealed"]).unwrap();
        let result = KeyRing::new([identity]).open(&value, &at);
        match (v.get("value_hex"), v.get("refused")) {
            (Some(expected), None) => {
                assert_eq!(result.unwrap().as_bytes(), hex(expected), "{comment}")
            }
            (None, Some(reason)) => {
                let err = result.unwrap_err();
                let matches = match reason.as_str() {
                    "no key" => matches!(err, OpenError::NoKey { .. }),
                    field => err.to_string().contains(&format!("was found in {field}")),
                };
                assert!(matches, "{comment}: got {err}");
            }
            _ => panic!("vector {comment:?} needs value_hex or refused"),
        }
    }
}
