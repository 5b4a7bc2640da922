//! `kage migrate`: Bitnami Sealed Secrets files in, kage SealedSecrets out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use common::*;

use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn a_repository_halfway_through_a_migration_leaves_bitnami_sealed_secrets_alone() {
    let d = Dir::new();
    std::fs::create_dir(d.path("repo")).unwrap();
    d.seal("repo/kage.yaml", "db", "prod", &["k=v"]);
    let bitnami = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: old, namespace: prod}\nspec:\n  encryptedData: {k: AgBy}\n";
    d.write("repo/bitnami.yaml", bitnami);
    let mixed = format!("{}---\n{bitnami}", d.read("repo/kage.yaml"));
    d.write("repo/mixed.yaml", &mixed);
    d.cmd()
        .args(["validate", "repo"])
        .assert()
        .success()
        .stderr(contains("checked 2 SealedSecret(s), 0 problem(s)"));
    d.cmd()
        .args(["inspect", "-f", "repo/mixed.yaml"])
        .assert()
        .success();
    d.cmd()
        .args(["reseal", "repo", "-i", "id.txt", "-r", &d.recipient])
        .assert()
        .success();
    assert_eq!(d.read("repo/bitnami.yaml"), bitnami, "not kage's to reseal");
    assert!(
        d.read("repo/mixed.yaml")
            .contains("kind: SealedSecret\nmetadata:\n  name: old")
    );
}

/// Real kubeseal output and its throwaway key (see the folder's README).
const SEALED_SECRETS_FIXTURES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sealed-secrets");

#[test]
fn migrate_turns_kubeseal_output_into_sealed_secrets_the_kage_identity_opens() {
    let d = Dir::new();
    for file in ["db.yaml", "registry.json"] {
        d.write(
            &format!("repo/{file}"),
            &std::fs::read_to_string(format!("{SEALED_SECRETS_FIXTURES}/{file}")).unwrap(),
        );
    }
    let key = format!("{SEALED_SECRETS_FIXTURES}/test-key.pem");
    let out = d
        .cmd()
        .args(["migrate", "repo", "--key-file", &key, "-r", &d.recipient])
        .assert()
        .success()
        .stderr(contains("migrated 2 SealedSecret(s); 0 file(s) failed"))
        .stderr(contains("scope cluster-wide"))
        .get_output()
        .clone();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for value in ["shop_app", "s3cret-Fixture-Pw", "fixture-token-77"] {
        assert!(
            !printed.contains(value) && !printed.contains(&b64(value.as_bytes())),
            "{value} printed"
        );
    }
    d.write("migrated.yaml", &String::from_utf8(out.stdout).unwrap());
    d.cmd()
        .args(["inspect", "-f", "migrated.yaml"])
        .assert()
        .success()
        .stdout(contains("strict").and(contains("cluster-wide")));
    let secrets = d
        .unseal("migrated.yaml")
        .success()
        .get_output()
        .stdout
        .clone();
    let secrets: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&secrets)
        .into_iter()
        .map(Result::unwrap)
        .flat_map(|v: serde_json::Value| match v.get("items") {
            Some(items) => items.as_array().unwrap().clone(),
            None => vec![v],
        })
        .collect();
    let db = secrets
        .iter()
        .find(|s| s["metadata"]["name"] == "db")
        .unwrap();
    assert_eq!(db["metadata"]["namespace"], "shop");
    assert_eq!(db["type"], "kubernetes.io/basic-auth");
    assert_eq!(db["metadata"]["labels"]["app"], "db");
    assert_eq!(db["data"]["username"], b64(b"shop_app"));
    assert_eq!(db["data"]["password"], b64(b"s3cret-Fixture-Pw"));
    let registry = secrets
        .iter()
        .find(|s| s["metadata"]["name"] == "registry")
        .unwrap();
    assert_eq!(registry["data"]["token"], b64(b"fixture-token-77"));

    // Without -r, the .kage.yaml rule decides, recovery recipients included: the recovery
    // identity alone opens the migrated values.
    let recovery = d.keygen("recovery.txt");
    d.write(
        "repo/.kage.yaml",
        &format!(
            "rules:\n  - recipients: [{}]\n    recovery: [{recovery}]\n",
            d.recipient
        ),
    );
    let out = d
        .cmd()
        .args(["migrate", "repo/db.yaml", "--key-file", &key])
        .assert()
        .success()
        .stderr(contains("recovery"))
        .get_output()
        .stdout
        .clone();
    d.write("by-rule.yaml", &String::from_utf8(out).unwrap());
    d.cmd()
        .args([
            "unseal",
            "-i",
            "recovery.txt",
            "-f",
            "by-rule.yaml",
            "-o",
            "json",
        ])
        .assert()
        .success()
        .stdout(contains(b64(b"s3cret-Fixture-Pw")));

    // A Go template kage cannot translate: the file is named with its key, nothing is printed.
    let db = d.read("repo/db.yaml");
    d.write(
        "repo/db.yaml",
        &db.replace(
            "  template:\n",
            "  template:\n    data:\n      url: '{{ .password | upper }}'\n",
        ),
    );
    d.cmd()
        .args([
            "migrate",
            "repo/db.yaml",
            "--key-file",
            &key,
            "-r",
            &d.recipient,
        ])
        .assert()
        .code(4)
        .stdout("")
        .stderr(contains("db.yaml").and(contains("spec.template.data.url")));
    // A key file without an RSA private key is refused before any file is read.
    d.write(
        "not-rsa.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    d.cmd()
        .args([
            "migrate",
            "repo",
            "--key-file",
            "not-rsa.pem",
            "-r",
            &d.recipient,
        ])
        .assert()
        .code(3)
        .stderr(contains("holds no RSA private key"));
}
