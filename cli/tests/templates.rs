//! `spec.template.data` from the command line: sealed with `--template-file`, checked offline,
//! shown by `inspect`, rendered by `unseal` and by nothing else.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use common::{folder_with_identity, kage};

use predicates::prelude::*;
use predicates::str::contains;

const PASSWORD: &str = "p@ss:w/rd-never-printed";

/// A folder with an identity and `db.yaml` sealed from `template` (a template file's text).
fn sealed_with(template: &str) -> (tempfile::TempDir, String) {
    let (dir, recipient) = folder_with_identity();
    std::fs::write(dir.path().join("template.yaml"), template).unwrap();
    kage(dir.path())
        .args(["seal", "--name", "db", "-n", "prod", "-r", &recipient])
        .args(["--from-literal", "username=app"])
        .args(["--from-literal", &format!("password={PASSWORD}")])
        .args(["--template-file", "template.yaml", "-w", "db.yaml"])
        .assert()
        .success();
    (dir, recipient)
}

const DATABASE: &str = r#"
data:
  DATABASE_URL: "postgres://{{ username | urlencode }}:{{ password | urlencode }}@db:5432/app"
omit: [password]
"#;

#[test]
fn a_template_file_composes_values_and_unseal_renders_the_exact_bytes() {
    let (dir, _) = sealed_with(DATABASE);
    let out = kage(dir.path())
        .args(["unseal", "-i", "id.txt", "-f", "db.yaml", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let secret: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let data = secret["data"].as_object().unwrap();
    let keys: Vec<&String> = data.keys().collect();
    assert_eq!(keys, ["DATABASE_URL", "username"], "password is omitted");
    use base64::Engine;
    let url = base64::engine::general_purpose::STANDARD
        .decode(data["DATABASE_URL"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        url,
        b"postgres://app:p%40ss%3Aw%2Frd-never-printed@db:5432/app"
    );

    kage(dir.path())
        .args(["inspect", "-f", "db.yaml"])
        .assert()
        .success()
        .stdout(contains("DATABASE_URL: templated from password, username"))
        .stdout(contains("kept out of the Secret: password"));
}

#[test]
fn validate_reports_unknown_values_and_functions_offline_and_shows_no_value() {
    let (dir, _) = sealed_with(DATABASE);
    let text = std::fs::read_to_string(dir.path().join("db.yaml")).unwrap();
    let broken = text
        .replace("{{ username | urlencode }}", "{{ usernme }}")
        .replace("{{ password | urlencode }}", "{{ password | sha1 }}");
    std::fs::write(dir.path().join("db.yaml"), broken).unwrap();
    kage(dir.path())
        .args(["validate", "db.yaml"])
        .assert()
        .code(5)
        .stderr(contains(
            "spec.template.data.DATABASE_URL: line 1: unknown value \"usernme\": this SealedSecret seals password, username",
        ))
        .stderr(contains(PASSWORD).not());
    let text = std::fs::read_to_string(dir.path().join("db.yaml")).unwrap();
    std::fs::write(
        dir.path().join("db.yaml"),
        text.replace("{{ usernme }}", "{{ username }}"),
    )
    .unwrap();
    kage(dir.path())
        .args(["validate", "db.yaml"])
        .assert()
        .code(5)
        .stderr(contains("unknown function \"sha1\""));
}

#[test]
fn seal_refuses_a_broken_template_file_and_writes_nothing() {
    let (dir, recipient) = folder_with_identity();
    for (template, expected) in [
        ("dta:\n  x: y\n", "unknown field \"dta\""),
        (
            "data:\n  x: \"{% if password %}1{% endif %}\"\n",
            "only {{ ... }} is allowed",
        ),
        (
            "data:\n  password: \"{{ password }}\"\n",
            "add \"password\" to spec.template.omit",
        ),
        ("omit: [nope]\n", "spec.template.omit names \"nope\""),
    ] {
        std::fs::write(dir.path().join("t.yaml"), template).unwrap();
        kage(dir.path())
            .args(["seal", "--name", "db", "-n", "prod", "-r", &recipient])
            .args(["--from-literal", &format!("password={PASSWORD}")])
            .args(["--template-file", "t.yaml", "-w", "out.yaml"])
            .assert()
            .code(3)
            .stderr(contains(expected))
            .stderr(contains(PASSWORD).not());
        assert!(!dir.path().join("out.yaml").exists(), "{template}");
    }
}
