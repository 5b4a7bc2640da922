//! Recovery recipients: reported, enforced, and never dropped by a merge or an offline reseal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use common::*;

use std::collections::BTreeMap;

use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn recovery_recipients_are_reported_enforced_and_open_values_alone() {
    let d = Dir::new();
    let recovery = d.keygen("recovery.key");
    std::fs::create_dir_all(d.path("repo")).unwrap();
    d.write(
        "repo/.kage.yaml",
        &format!("rules:\n  - path: \"with/**\"\n    recipients: [{}]\n    recovery: [{recovery}]\n  - recipients: [{}]\n    recovery: [{recovery}]\n", d.recipient, d.recipient),
    );
    d.write("repo/.git/HEAD", "");
    d.write("repo/with/.keep", "");
    d.write("repo/without/.keep", "");
    d.cmd()
        .args([
            "seal",
            "--name",
            "a",
            "-n",
            "ns",
            "--from-literal",
            &format!("k={SECRET}"),
            "-w",
            "repo/with/a.yaml",
        ])
        .assert()
        .success();
    // Sealed with -r only: no recovery recipient, although the rule for the folder asks for one.
    d.cmd()
        .args([
            "seal",
            "--name",
            "b",
            "-n",
            "ns",
            "-r",
            &d.recipient,
            "--from-literal",
            "k=v",
            "-w",
            "repo/without/b.yaml",
        ])
        .assert()
        .success();
    d.cmd()
        .args(["inspect", "-f", "repo/with/a.yaml"])
        .assert()
        .success()
        .stdout(contains("recovery key present"));
    d.cmd()
        .args(["inspect", "-f", "repo/without/b.yaml"])
        .assert()
        .success()
        .stdout(contains("NO recovery key"));
    d.cmd()
        .args(["validate", "--require-recovery", "repo/with"])
        .assert()
        .success();
    d.cmd()
        .args(["validate", "--require-recovery", "repo"])
        .assert()
        .code(5)
        .stderr(contains("b.yaml").and(contains("has no recovery recipient")))
        .stderr(contains("a.yaml").not());
    // With the cluster key gone, the recovery key alone opens the value.
    std::fs::remove_file(d.path("id.txt")).unwrap();
    let out = d
        .cmd()
        .args([
            "unseal",
            "-i",
            "recovery.key",
            "-f",
            "repo/with/a.yaml",
            "-o",
            "json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(secret_json(&out)["data"]["k"], b64(SECRET.as_bytes()));
}

#[test]
fn offline_reseal_names_a_recipient_that_could_not_open_the_value_before() {
    let d = Dir::new();
    d.seal("s.yaml", "db", "ns", &["k=v"]);
    let newcomer = d.keygen("newcomer.key");
    let fingerprint = newcomer
        .parse::<kage_core::Recipient>()
        .unwrap()
        .fingerprint()
        .to_string();
    d.cmd()
        .args([
            "reseal",
            "s.yaml",
            "-i",
            "id.txt",
            "-r",
            &d.recipient,
            "-r",
            &newcomer,
        ])
        .assert()
        .success()
        .stderr(contains(format!("adds recipient {fingerprint}")));
}

/// The fingerprint of recipient `r`, as `kage inspect` shows it.
fn fingerprint(r: &str) -> String {
    r.parse::<kage_core::Recipient>()
        .unwrap()
        .fingerprint()
        .to_string()
}

/// The fingerprints each value of a sealed file is sealed to, by key.
fn sealed_to(d: &Dir, file: &str) -> BTreeMap<String, Vec<String>> {
    let doc: serde_json::Value = serde_saphyr::from_str(&d.read(file)).unwrap();
    doc["spec"]["encryptedData"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let value = kage_core::SealedValue::from_base64(v.as_str().unwrap()).unwrap();
            (
                k.clone(),
                value.recipients().iter().map(ToString::to_string).collect(),
            )
        })
        .collect()
}

/// A folder whose `db.yaml` holds one value sealed to its identity and to a recovery key;
/// returns the recovery recipient.
fn sealed_with_recovery() -> (Dir, String) {
    let d = Dir::new();
    let recovery = d.keygen("recovery.txt");
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "-n",
            "prod",
            "--from-literal",
            "a=1",
        ])
        .args(["-r", &d.recipient, "--recovery", &recovery, "-w", "db.yaml"])
        .assert()
        .success();
    (d, recovery)
}

#[test]
fn merging_a_value_never_drops_the_recovery_recipient_its_siblings_have() {
    let (d, recovery) = sealed_with_recovery();
    let before = d.read("db.yaml");
    d.cmd()
        .args(["seal", "--merge-into", "db.yaml", "--from-literal", "b=2"])
        .args(["-r", &d.recipient])
        .assert()
        .code(3)
        .stderr(
            contains(fingerprint(&recovery))
                .and(contains("--drop-recipient"))
                .and(contains("unlike its other values")),
        );
    assert_eq!(d.read("db.yaml"), before, "a refused merge changes nothing");

    d.cmd()
        .args(["seal", "--merge-into", "db.yaml", "--from-literal", "b=2"])
        .args(["-r", &d.recipient, "--recovery", &recovery])
        .assert()
        .success();
    assert!(sealed_to(&d, "db.yaml")["b"].contains(&fingerprint(&recovery)));

    d.cmd()
        .args(["seal", "--merge-into", "db.yaml", "--from-literal", "c=3"])
        .args([
            "-r",
            &d.recipient,
            "--drop-recipient",
            &fingerprint(&recovery),
        ])
        .assert()
        .success();
    assert_eq!(sealed_to(&d, "db.yaml")["c"], [fingerprint(&d.recipient)]);
}

#[test]
fn an_offline_reseal_keeps_every_recovery_recipient_or_changes_nothing() {
    let (d, recovery) = sealed_with_recovery();
    let new_cluster = d.keygen("new-cluster.txt");
    let before = d.read("db.yaml");
    d.cmd()
        .args(["reseal", "db.yaml", "-i", "id.txt", "-r", &new_cluster])
        .assert()
        .failure()
        .stderr(
            contains("would no longer be sealed to")
                .and(contains(fingerprint(&recovery)))
                .and(contains("file left unchanged")),
        );
    assert_eq!(d.read("db.yaml"), before);

    // Offline, an old cluster key is known as such only when named: kage cannot tell it from a
    // recovery key without the cluster's published keys.
    let old_cluster = fingerprint(&d.recipient);
    d.cmd()
        .args(["reseal", "db.yaml", "-i", "id.txt", "--dry-run"])
        .args(["-r", &new_cluster, "-r", &recovery])
        .args(["--drop-recipient", &old_cluster])
        .assert()
        .success()
        .stderr(
            contains(format!(
                "sealed to {old_cluster}, {} -> {}, {}",
                fingerprint(&recovery),
                fingerprint(&new_cluster),
                fingerprint(&recovery)
            ))
            .and(contains("would reseal 1 SealedSecret(s)")),
        );
    assert_eq!(d.read("db.yaml"), before, "--dry-run writes nothing");

    d.cmd()
        .args(["reseal", "db.yaml", "-i", "id.txt", "-r", &new_cluster])
        .args(["--drop-recipient", &old_cluster])
        .assert()
        .failure();
    assert_eq!(d.read("db.yaml"), before, "the recovery key is still kept");
    d.cmd()
        .args(["reseal", "db.yaml", "-i", "id.txt", "-r", &new_cluster])
        .args(["--drop-recipient", &old_cluster])
        .args(["--drop-recipient", &fingerprint(&recovery)])
        .assert()
        .success();
    assert_eq!(sealed_to(&d, "db.yaml")["a"], [fingerprint(&new_cluster)]);
}
