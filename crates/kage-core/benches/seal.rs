//! Cost of sealing and opening one value, beside the raw X25519 operations they are made of.
//! Targets (docs/benchmarks.md): open <= 1.3 x one Diffie-Hellman; seal <= 1.3 x (one key
//! generation + one Diffie-Hellman).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use kage_core::{Binding, Identity, KeyRing, Location, Scope, seal};
use std::hint::black_box;
use x25519_dalek::{EphemeralSecret, PublicKey, StaticSecret};

fn bench(c: &mut Criterion) {
    let here = Location::new("prod", "db", "password");
    let binding = Binding::new(Scope::Strict, &here).unwrap();
    let id = Identity::generate();
    let recipients = [id.recipient().clone()];
    // A ring of many keys: opening must still cost one DH.
    let ring = KeyRing::new((0..100).map(|_| Identity::generate()).chain([id.clone()]));
    let value = seal(b"correct horse battery staple", &binding, &recipients).unwrap();

    let secret = StaticSecret::random_from_rng(rand::rngs::OsRng);
    let peer = PublicKey::from(&StaticSecret::random_from_rng(rand::rngs::OsRng));
    c.bench_function("raw x25519 diffie-hellman", |b| {
        b.iter(|| black_box(secret.diffie_hellman(black_box(&peer))))
    });
    c.bench_function("raw x25519 keygen + diffie-hellman", |b| {
        b.iter(|| {
            let esk = EphemeralSecret::random_from_rng(rand::rngs::OsRng);
            black_box(PublicKey::from(&esk));
            black_box(esk.diffie_hellman(black_box(&peer)))
        })
    });
    c.bench_function("seal one value", |b| {
        b.iter(|| {
            seal(
                black_box(b"correct horse battery staple"),
                &binding,
                &recipients,
            )
        })
    });
    c.bench_function("open one value (ring of 101 keys)", |b| {
        b.iter(|| ring.open(black_box(&value), &here).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
