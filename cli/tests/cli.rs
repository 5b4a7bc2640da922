//! The `kage` command as a user runs it: output, error messages with hints, exit codes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use common::kage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

const SECRET: &str = "s3cr3t-Pa55w0rd-never-printed";

struct Dir {
    dir: tempfile::TempDir,
    recipient: String,
}

impl Dir {
    fn new() -> Self {
        let (dir, recipient) = common::folder_with_identity();
        Dir { dir, recipient }
    }

    /// A new identity in `file`; returns its recipient.
    fn keygen(&self, file: &str) -> String {
        common::keygen(self.dir.path(), file)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self) -> Command {
        kage(self.dir.path())
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    /// Seals a literal Secret named `name` in `ns` into `file`.
    fn seal(&self, file: &str, name: &str, ns: &str, values: &[&str]) {
        let mut cmd = self.cmd();
        cmd.args([
            "seal",
            "--name",
            name,
            "-n",
            ns,
            "-r",
            &self.recipient,
            "-w",
            file,
        ]);
        for v in values {
            cmd.args(["--from-literal", v]);
        }
        cmd.assert().success();
    }

    fn unseal(&self, file: &str) -> assert_cmd::assert::Assert {
        self.cmd()
            .args(["unseal", "-i", "id.txt", "-f", file, "-o", "json"])
            .assert()
    }
}

fn secret_json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap()
}

fn b64(s: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn help_lists_commands_and_exit_codes() {
    Command::cargo_bin("kage")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .stdout(
            contains("seal")
                .and(contains("unseal"))
                .and(contains("validate")),
        )
        .stdout(contains("4  a value cannot be unsealed here"));
}

#[test]
fn unknown_flag_is_a_usage_error() {
    Command::cargo_bin("kage")
        .unwrap()
        .args(["seal", "--bogus"])
        .assert()
        .code(2);
}

#[test]
fn keygen_writes_a_private_file_and_never_overwrites() {
    let d = Dir::new();
    assert!(d.recipient.starts_with("age1"));
    let key = d.read("id.txt");
    assert!(key.contains("AGE-SECRET-KEY-1") && key.contains(&d.recipient));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path("id.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    d.cmd()
        .args(["keygen", "-o", "id.txt"])
        .assert()
        .code(3)
        .stderr(contains("never overwrites"));
    assert_eq!(d.read("id.txt"), key);
}

#[test]
fn data_and_string_data_round_trip_with_type_labels_and_annotations() {
    let d = Dir::new();
    d.write(
        "secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: prod\n  labels: {{team: a}}\n  annotations:\n    note: kept\n    kubectl.kubernetes.io/last-applied-configuration: '{{\"stringData\":{{\"pw\":\"{SECRET}\"}}}}'\n  uid: 1234\n  resourceVersion: \"9\"\n  managedFields: [{{manager: kubectl}}]\ntype: kubernetes.io/basic-auth\nimmutable: true\ndata:\n  username: {}\n  empty: \"\"\n  binary: {}\nstringData:\n  password: {SECRET}\nstatus: {{}}\n",
            b64(b"admin"),
            b64(&[0, 159, 146, 150, 255])
        ),
    );
    d.cmd()
        .args([
            "seal",
            "-f",
            "secret.yaml",
            "-r",
            &d.recipient,
            "-w",
            "sealed.yaml",
        ])
        .assert()
        .success();
    let sealed = d.read("sealed.yaml");
    for stripped in [
        "last-applied",
        "uid",
        "resourceVersion",
        "managedFields",
        SECRET,
        "status",
    ] {
        assert!(!sealed.contains(stripped), "{stripped} left in:\n{sealed}");
    }
    let out = d
        .unseal("sealed.yaml")
        .success()
        .get_output()
        .stdout
        .clone();
    let secret = secret_json(&out);
    assert_eq!(secret["type"], "kubernetes.io/basic-auth");
    assert_eq!(secret["immutable"], true);
    assert_eq!(secret["metadata"]["labels"]["team"], "a");
    assert_eq!(secret["metadata"]["annotations"]["note"], "kept");
    assert!(
        secret["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none()
    );
    assert_eq!(secret["data"]["username"], b64(b"admin"));
    assert_eq!(secret["data"]["password"], b64(SECRET.as_bytes()));
    assert_eq!(secret["data"]["empty"], "");
    assert_eq!(secret["data"]["binary"], b64(&[0, 159, 146, 150, 255]));
}

#[test]
fn a_hundred_keys_and_several_documents_round_trip_as_json() {
    let d = Dir::new();
    let mut docs = Vec::new();
    for n in 0..3 {
        let data: serde_json::Map<String, serde_json::Value> = (0..100)
            .map(|i| {
                (
                    format!("key-{i}"),
                    b64(format!("value {n} {i}").as_bytes()).into(),
                )
            })
            .collect();
        docs.push(serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("s{n}"), "namespace": "ns"}, "data": data}));
    }
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": docs});
    d.write("in.json", &list.to_string());
    let out = d
        .cmd()
        .args(["seal", "-f", "in.json", "-r", &d.recipient, "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let sealed = secret_json(&out);
    assert_eq!(sealed["kind"], "List");
    assert_eq!(sealed["items"].as_array().unwrap().len(), 3);
    d.write("sealed.json", &String::from_utf8(out).unwrap());
    let out = d
        .unseal("sealed.json")
        .success()
        .get_output()
        .stdout
        .clone();
    let secrets = secret_json(&out);
    for n in 0..3 {
        let s = &secrets["items"][n];
        assert_eq!(s["metadata"]["name"], format!("s{n}"));
        assert_eq!(s["data"].as_object().unwrap().len(), 100);
        assert_eq!(s["data"]["key-42"], b64(format!("value {n} 42").as_bytes()));
    }
}

#[test]
fn from_file_and_env_file_are_sealed() {
    let d = Dir::new();
    d.write("tls.crt", "CERT");
    d.write("app.env", "# comment\nA=1\nB=two=2\n\n");
    d.cmd()
        .args([
            "seal",
            "--name",
            "x",
            "-n",
            "ns",
            "-r",
            &d.recipient,
            "-w",
            "s.yaml",
        ])
        .args([
            "--from-file",
            "tls.crt",
            "--from-file",
            "other=tls.crt",
            "--from-env-file",
            "app.env",
        ])
        .assert()
        .success();
    let secret = secret_json(&d.unseal("s.yaml").success().get_output().stdout.clone());
    assert_eq!(secret["data"]["tls.crt"], b64(b"CERT"));
    assert_eq!(secret["data"]["other"], b64(b"CERT"));
    assert_eq!(secret["data"]["A"], b64(b"1"));
    assert_eq!(secret["data"]["B"], b64(b"two=2"));
}

#[test]
fn copied_values_are_refused_and_the_error_names_the_mismatch() {
    let d = Dir::new();
    d.seal("orig.yaml", "db", "prod", &[&format!("password={SECRET}")]);
    let orig = d.read("orig.yaml");
    for (from, to, field) in [
        ("namespace: prod", "namespace: dev", "namespace"),
        ("name: db", "name: other", "name"),
        ("password:", "pw:", "key"),
    ] {
        d.write("copied.yaml", &orig.replace(from, to));
        d.unseal("copied.yaml")
            .code(4)
            .stderr(contains(format!("was found in {field}")))
            .stderr(contains("hint:"))
            .stderr(contains(SECRET).not())
            .stdout(contains(SECRET).not());
    }
}

#[test]
fn scopes_allow_exactly_what_they_pin() {
    let d = Dir::new();
    for scope in ["namespace-wide", "cluster-wide"] {
        d.cmd()
            .args([
                "seal",
                "--name",
                "db",
                "-n",
                "prod",
                "-r",
                &d.recipient,
                "--scope",
                scope,
            ])
            .args(["--from-literal", "k=v", "-w", "s.yaml"])
            .assert()
            .success();
        let orig = d.read("s.yaml");
        d.write("renamed.yaml", &orig.replace("name: db", "name: other"));
        d.unseal("renamed.yaml").success();
        d.write(
            "moved.yaml",
            &orig.replace("namespace: prod", "namespace: dev"),
        );
        let moved = d.unseal("moved.yaml");
        if scope == "cluster-wide" {
            moved.success();
        } else {
            moved.code(4).stderr(contains("namespace"));
        }
    }
}

#[test]
fn a_value_sealed_to_two_recipients_opens_with_either() {
    let d = Dir::new();
    let second = d.keygen("id2.txt");
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "-n",
            "prod",
            "-r",
            &d.recipient,
            "-r",
            &second,
        ])
        .args(["--from-literal", "k=v", "-w", "s.yaml"])
        .assert()
        .success();
    for id in ["id.txt", "id2.txt"] {
        d.cmd()
            .args(["unseal", "-i", id, "-f", "s.yaml"])
            .assert()
            .success();
    }
}

#[test]
fn inspect_needs_no_key_and_names_every_fingerprint() {
    let d = Dir::new();
    let second = d.keygen("id2.txt");
    let fingerprints: Vec<String> = ["id.txt", "id2.txt"]
        .iter()
        .map(|f| {
            d.read(f)
                .lines()
                .find_map(|l| l.strip_prefix("# fingerprint: ").map(str::to_owned))
                .unwrap()
        })
        .collect();
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "-n",
            "prod",
            "-r",
            &d.recipient,
            "--recovery",
            &second,
        ])
        .args(["--from-literal", "k=v", "-w", "s.yaml"])
        .assert()
        .success();
    std::fs::remove_file(d.path("id.txt")).unwrap();
    std::fs::remove_file(d.path("id2.txt")).unwrap();
    d.cmd()
        .args(["inspect", "-f", "s.yaml"])
        .assert()
        .success()
        .stdout(contains("SealedSecret prod/db"))
        .stdout(contains("scope strict"))
        .stdout(contains(&fingerprints[0]).and(contains(&fingerprints[1])));
}

#[test]
fn merge_into_reseals_only_the_keys_given() {
    let d = Dir::new();
    d.seal("s.yaml", "db", "prod", &["a=1", "b=2"]);
    let before: serde_json::Value = serde_saphyr::from_str(&d.read("s.yaml")).unwrap();
    d.cmd()
        .args([
            "seal",
            "--merge-into",
            "s.yaml",
            "-r",
            &d.recipient,
            "--from-literal",
            "b=3",
            "--from-literal",
            "c=4",
        ])
        .assert()
        .success();
    let after: serde_json::Value = serde_saphyr::from_str(&d.read("s.yaml")).unwrap();
    let (b, a) = (
        &before["spec"]["encryptedData"],
        &after["spec"]["encryptedData"],
    );
    assert_eq!(a["a"], b["a"], "untouched value must stay byte-identical");
    assert_ne!(a["b"], b["b"]);
    let secret = secret_json(&d.unseal("s.yaml").success().get_output().stdout.clone());
    assert_eq!(secret["data"]["a"], b64(b"1"));
    assert_eq!(secret["data"]["b"], b64(b"3"));
    assert_eq!(secret["data"]["c"], b64(b"4"));
}

#[test]
fn a_failing_merge_leaves_the_file_byte_identical() {
    let d = Dir::new();
    d.seal("s.yaml", "db", "prod", &["a=1"]);
    let before = d.read("s.yaml");
    // Wrong namespace, then an invalid key name, then a bad recipient: each fails, nothing changes.
    d.cmd()
        .args([
            "seal",
            "--merge-into",
            "s.yaml",
            "-n",
            "dev",
            "-r",
            &d.recipient,
            "--from-literal",
            "b=2",
        ])
        .assert()
        .code(3)
        .stderr(contains("contradicts"));
    d.cmd()
        .args([
            "seal",
            "--merge-into",
            "s.yaml",
            "-r",
            &d.recipient,
            "--from-literal",
            "bad key=2",
        ])
        .assert()
        .code(3);
    d.cmd()
        .args([
            "seal",
            "--merge-into",
            "s.yaml",
            "-r",
            "age1nope",
            "--from-literal",
            "b=2",
        ])
        .assert()
        .code(3);
    assert_eq!(d.read("s.yaml"), before);
}

#[test]
fn raw_prints_one_sealed_value() {
    let d = Dir::new();
    let out = d
        .cmd()
        .args([
            "seal",
            "--raw",
            "--name",
            "db",
            "-n",
            "prod",
            "-r",
            &d.recipient,
            "--from-literal",
            "pw=x",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let line = String::from_utf8(out).unwrap();
    assert_eq!(line.trim().lines().count(), 1);
    let value = kage_core::SealedValue::from_base64(line.trim()).unwrap();
    assert_eq!(value.binding().key(), "pw");
}

#[test]
fn no_recipients_is_an_error_with_a_hint() {
    let d = Dir::new();
    d.cmd()
        .args(["seal", "--name", "db", "--from-literal", "k=v"])
        .assert()
        .code(3)
        .stderr(contains("no recipients").and(contains("hint: pass -r age1...")));
}

#[test]
fn a_kage_yaml_above_the_repository_adds_no_recipient_and_the_one_used_is_named() {
    let d = Dir::new();
    let attacker = d.keygen("attacker.key");
    // A shared folder above the repository holds a rule adding the attacker.
    d.write(
        ".kage.yaml",
        &format!(
            "rules:\n  - recipients: [{}]\n    recovery: [{attacker}]\n    scope: cluster-wide\n",
            d.recipient
        ),
    );
    d.write("repo/.git/HEAD", "");
    d.write("repo/app/.keep", "");
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "-n",
            "prod",
            "--from-literal",
            "k=v",
            "-w",
            "repo/app/s.yaml",
        ])
        .assert()
        .code(3)
        .stderr(contains("no recipients"));
    // The repository's own rule applies, and seal says which file, rule and keys.
    d.write(
        "repo/.kage.yaml",
        &format!("rules:\n  - recipients: [{}]\n", d.recipient),
    );
    let fingerprint = d
        .recipient
        .parse::<kage_core::Recipient>()
        .unwrap()
        .fingerprint()
        .to_string();
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "-n",
            "prod",
            "--from-literal",
            "k=v",
            "-w",
            "repo/app/s.yaml",
        ])
        .assert()
        .success()
        .stderr(
            contains("repo/.kage.yaml rule 1")
                .and(contains(format!("{fingerprint} (cluster)")))
                .and(contains("recovery").not()),
        );
    let attacker_fp = attacker
        .parse::<kage_core::Recipient>()
        .unwrap()
        .fingerprint()
        .to_string();
    d.cmd()
        .args(["inspect", "-f", "repo/app/s.yaml"])
        .assert()
        .success()
        .stdout(contains(attacker_fp).not().and(contains("scope strict")));
}

#[test]
fn kage_yaml_is_found_from_the_sealed_files_own_folder() {
    let d = Dir::new();
    d.write(
        "repo/.kage.yaml",
        &format!(
            "rules:\n  - path: \"prod/**\"\n    recipients: [{}]\n    scope: namespace-wide\n",
            d.recipient
        ),
    );
    d.write("repo/.git/HEAD", "");
    d.write("repo/prod/app/.keep", "");
    // Run from elsewhere: the rule applies because of where the output file lives.
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "-n",
            "prod",
            "--from-literal",
            "k=v",
            "-w",
            "repo/prod/app/s.yaml",
        ])
        .assert()
        .success();
    d.cmd()
        .args(["inspect", "-f", "repo/prod/app/s.yaml"])
        .assert()
        .success()
        .stdout(contains("scope namespace-wide"));
    // A file outside the rule's glob gets no recipients.
    d.write("repo/dev/.keep", "");
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "--from-literal",
            "k=v",
            "-w",
            "repo/dev/s.yaml",
        ])
        .assert()
        .code(3)
        .stderr(contains("no recipients"));
}

#[test]
fn namespace_comes_from_input_then_flag_then_kubeconfig_then_default() {
    let d = Dir::new();
    d.write(
        "kubeconfig",
        "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: x, user: y, namespace: from-kubeconfig}\n",
    );
    let ns = |extra: &[&str], input: Option<&str>| {
        let mut cmd = d.cmd();
        cmd.args(["seal", "-r", &d.recipient, "--kubeconfig", "kubeconfig"])
            .args(extra);
        match input {
            Some(text) => {
                cmd.write_stdin(text.to_owned());
            }
            None => {
                cmd.args(["--name", "x", "--from-literal", "k=v"]);
            }
        }
        let out = cmd.assert().success().get_output().stdout.clone();
        let doc: serde_json::Value =
            serde_saphyr::from_str(&String::from_utf8(out).unwrap()).unwrap();
        doc["metadata"]["namespace"].as_str().unwrap().to_owned()
    };
    let with_ns = "apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: from-input}\nstringData: {k: v}\n";
    assert_eq!(ns(&[], Some(with_ns)), "from-input");
    assert_eq!(ns(&["-n", "flag"], None), "flag");
    assert_eq!(ns(&[], None), "from-kubeconfig");
    std::fs::remove_file(d.path("kubeconfig")).unwrap();
    d.write("kubeconfig", "apiVersion: v1\nkind: Config\n");
    assert_eq!(ns(&[], None), "default");
    d.cmd()
        .args(["seal", "-r", &d.recipient, "-n", "other"])
        .write_stdin(with_ns)
        .assert()
        .code(3)
        .stderr(contains("contradicts"));
}

#[test]
fn tampered_values_are_refused_without_printing_plaintext() {
    let d = Dir::new();
    d.seal("s.yaml", "db", "prod", &[&format!("password={SECRET}")]);
    let text = d.read("s.yaml");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let value = doc["spec"]["encryptedData"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bytes = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&value)
            .unwrap()
    };
    let last = bytes.len() - 3;
    bytes[last] ^= 0x20;
    let mut tampered = doc.clone();
    tampered["spec"]["encryptedData"]["password"] = b64(&bytes).into();
    d.write("t.json", &tampered.to_string());
    d.unseal("t.json")
        .code(4)
        .stderr(contains("tampered").and(contains(SECRET).not()));
}

#[test]
fn validate_reports_copied_and_malformed_files_and_passes_good_ones() {
    let d = Dir::new();
    std::fs::create_dir(d.path("repo")).unwrap();
    d.seal("repo/good.yaml", "db", "prod", &["k=v"]);
    d.write(
        "repo/other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    d.cmd()
        .args(["validate", "repo"])
        .assert()
        .success()
        .stderr(contains("checked 1 SealedSecret(s), 0 problem(s)"));
    let good = d.read("repo/good.yaml");
    d.write(
        "repo/nested/copied.yaml",
        &good.replace("namespace: prod", "namespace: dev"),
    );
    d.write(
        "repo/broken.yaml",
        &good.replace(
            "encryptedData:",
            "encryptedData:\n    junk: bm90IGFnZQ==\n   ",
        ),
    );
    d.cmd()
        .args(["validate", "repo"])
        .assert()
        .code(5)
        .stderr(contains("copied.yaml").and(contains("was found in namespace")))
        .stderr(contains("broken.yaml"));
}

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

#[test]
fn malformed_and_wrong_kind_input_is_a_clear_error() {
    let d = Dir::new();
    for (input, message) in [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "expected a v1 Secret",
        ),
        ("key: [unclosed", "invalid YAML"),
        ("{\"apiVersion\": ", "invalid JSON"),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: {k: '%%%'}\n",
            "not valid base64",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n",
            "no data",
        ),
    ] {
        d.cmd()
            .args(["seal", "-r", &d.recipient])
            .write_stdin(input)
            .assert()
            .code(3)
            .stderr(contains(message));
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        Command::cargo_bin("kage")
            .unwrap()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(contains("unseal"));
    }
}

/// Compares command output with a committed snapshot; `KAGE_BLESS=1` rewrites the snapshot.
fn assert_snapshot(path: &str, actual: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("KAGE_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        String::from_utf8_lossy(actual),
        expected,
        "{} is stale: rerun with KAGE_BLESS=1 and review the diff",
        path.display()
    );
}

#[test]
fn help_texts_match_their_snapshots() {
    for (args, file) in [
        (&["--help"][..], "tests/snapshots/help.txt"),
        (&["seal", "--help"][..], "tests/snapshots/seal-help.txt"),
    ] {
        let out = Command::cargo_bin("kage")
            .unwrap()
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_snapshot(file, &out.stdout);
    }
}

#[test]
fn committed_completions_match_the_cli() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::cargo_bin("kage")
            .unwrap()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_snapshot(&format!("completions/kage.{shell}"), &out.stdout);
    }
}

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

/// A backup anyone holding the backup recipient could write: age does not say who wrote it.
fn forged_backup(d: &Dir, created_at: &str) -> String {
    use std::io::Write;
    let recipient: age::x25519::Recipient = d.keygen("backup.key").parse().unwrap();
    let attacker = std::fs::read_to_string(d.path("id.txt"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_owned();
    let bundle = serde_json::json!({
        "apiVersion": "kage.dev/v1alpha1", "kind": "KeyBackup", "namespace": "kage-system",
        "createdAt": "2026-01-01T00:00:00Z",
        "keys": [{"name": "kage-key-1", "fingerprint": "0000000000000000", "createdAt": created_at,
                  "state": "active", "identity": attacker}],
    });
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .unwrap();
    let mut armored = Vec::new();
    let writer =
        age::armor::ArmoredWriter::wrap_output(&mut armored, age::armor::Format::AsciiArmor)
            .unwrap();
    let mut w = encryptor.wrap_output(writer).unwrap();
    w.write_all(bundle.to_string().as_bytes()).unwrap();
    w.finish().unwrap().finish().unwrap();
    d.write("forged.age", std::str::from_utf8(&armored).unwrap());
    "forged.age".to_owned()
}

#[test]
fn a_forged_backup_dated_in_the_future_is_refused_before_the_cluster_is_touched() {
    let d = Dir::new();
    let file = forged_backup(&d, "2099-01-01T00:00:00Z");
    d.cmd()
        .args(["key", "restore", &file, "-i", "backup.key", "--yes"])
        .assert()
        .code(3)
        .stderr(contains("in the future"));
}

#[test]
fn a_restore_lists_the_keys_and_needs_a_yes_and_expect_names_them() {
    let d = Dir::new();
    let file = forged_backup(&d, "2026-01-01T00:00:00Z");
    d.cmd()
        .args(["key", "restore", &file, "-i", "backup.key"])
        .assert()
        .code(3)
        .stderr(
            contains("0000000000000000  created 2026-01-01T00:00:00Z  active")
                .and(contains("--yes")),
        );
    d.cmd()
        .args([
            "key",
            "restore",
            &file,
            "-i",
            "backup.key",
            "--yes",
            "--expect",
            "1111111111111111",
        ])
        .assert()
        .code(3)
        .stderr(contains("no such key"));
}

#[test]
fn a_literal_can_come_from_stdin_so_it_never_shows_in_ps() {
    let d = Dir::new();
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "-n",
            "ns",
            "-r",
            &d.recipient,
            "--from-literal",
            "k=-",
            "-w",
            "s.yaml",
        ])
        .write_stdin(format!("{SECRET}\n"))
        .assert()
        .success();
    let out = d.unseal("s.yaml").success().get_output().stdout.clone();
    assert_eq!(secret_json(&out)["data"]["k"], b64(SECRET.as_bytes()));
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "-n",
            "ns",
            "-r",
            &d.recipient,
            "--from-literal",
            "a=-",
            "--from-literal",
            "b=-",
        ])
        .write_stdin("x")
        .assert()
        .code(3)
        .stderr(contains("only one value"));
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

#[test]
fn sealing_cluster_wide_says_what_it_allows() {
    let d = Dir::new();
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "-n",
            "ns",
            "-r",
            &d.recipient,
            "--from-literal",
            "k=v",
            "--scope",
            "cluster-wide",
        ])
        .assert()
        .success()
        .stderr(contains("warning: scope cluster-wide"));
    d.cmd()
        .args([
            "seal",
            "--name",
            "db",
            "-n",
            "ns",
            "-r",
            &d.recipient,
            "--from-literal",
            "k=v",
        ])
        .assert()
        .success()
        .stderr(contains("cluster-wide").not());
}

#[test]
fn a_label_or_annotation_other_software_acts_on_is_refused_offline() {
    let d = Dir::new();
    d.write(
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: ns\n  labels:\n    app.kubernetes.io/name: db\n  annotations:\n    replicator.v1.mittwald.de/replicate-to: attacker-ns\nstringData:\n  k: v\n",
    );
    d.cmd()
        .args(["seal", "-f", "secret.yaml", "-r", &d.recipient])
        .assert()
        .code(3)
        .stdout("")
        .stderr(contains(
            "spec.template.metadata.annotations \"replicator.v1.mittwald.de/replicate-to\" is not allowed",
        ));
    // An operator who allows the prefix on the controller passes the same to kage.
    let allow = ["--allow-metadata-prefix", "replicator.v1.mittwald.de"];
    d.cmd()
        .args([
            "seal",
            "-f",
            "secret.yaml",
            "-r",
            &d.recipient,
            "-w",
            "s.yaml",
        ])
        .args(allow)
        .assert()
        .success();
    d.cmd()
        .args(["validate", "s.yaml"])
        .assert()
        .code(5)
        .stderr(contains("replicator.v1.mittwald.de/replicate-to"));
    d.cmd()
        .args(["validate", "s.yaml"])
        .args(allow)
        .assert()
        .success();
}

#[test]
fn validate_is_a_gate_that_cannot_pass_by_accident() {
    let d = Dir::new();
    std::fs::create_dir_all(d.path("empty")).unwrap();
    d.cmd()
        .args(["validate", "empty"])
        .assert()
        .code(5)
        .stderr(contains("empty: nothing to check"));
    d.cmd()
        .args(["validate", "--allow-empty", "empty"])
        .assert()
        .success();

    let bitnami = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: old, namespace: prod}\nspec:\n  encryptedData: {k: AgBy}\n";
    d.write("bitnami/old.yaml", bitnami);
    d.cmd()
        .args(["validate", "bitnami"])
        .assert()
        .code(5)
        .stderr(contains("kage migrate").and(contains("nothing to check")));

    let plaintext = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod}\nstringData: {password: hunter2}\n";
    d.write("plain/secret.yaml", plaintext);
    d.cmd()
        .args(["validate", "plain"])
        .assert()
        .code(5)
        .stderr(contains("Secret prod/db holds plaintext values").and(contains("hunter2").not()));
    let listed = format!(
        "{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{}]}}",
        serde_json::to_string(&serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "prod"},
            "data": {"password": "aHVudGVyMg=="}
        }))
        .unwrap()
    );
    d.write("listed/secrets.json", &listed);
    d.cmd()
        .args(["validate", "listed"])
        .assert()
        .code(5)
        .stderr(contains("plaintext"));
    d.write(
        "no-values/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: empty}\ntype: Opaque\n",
    );

    // A repository: a sealed file, a Helm chart, a values file, an excluded legacy folder.
    std::fs::create_dir_all(d.path("repo/apps")).unwrap();
    d.seal("repo/apps/db.yaml", "db", "prod", &["k=v"]);
    d.write(
        "repo/chart/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    d.write(
        "repo/chart/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  k: {{ .Values.k | b64enc }}\n",
    );
    d.write("repo/chart/values.yaml", "k: v\nreplicas: 1\n");
    d.write("repo/legacy/secret.yaml", plaintext);
    d.cmd()
        .args(["validate", "repo"])
        .assert()
        .code(5)
        .stderr(contains(
            "legacy/secret.yaml: Secret prod/db holds plaintext",
        ));
    let ok = d
        .cmd()
        .args(["validate", "repo", "--exclude", "repo/legacy/**"])
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let ok = String::from_utf8(ok).unwrap();
    assert!(
        ok.contains("checked 1 SealedSecret(s), 0 problem(s)"),
        "{ok}"
    );
    assert!(
        ok.contains("templates/secret.yaml: skipped: a template of the Helm chart"),
        "{ok}"
    );
    assert!(
        ok.contains("values.yaml: skipped: not a Kubernetes manifest"),
        "{ok}"
    );

    let json = d
        .cmd()
        .args(["validate", "repo", "no-values", "-o", "json"])
        .assert()
        .code(5)
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(report["checked"], 1);
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{report}");
    assert!(
        problems[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("legacy/secret.yaml")
    );
    assert_eq!(
        problems[1]["file"], "no-values",
        "a Secret without values is nothing to check"
    );
    assert_eq!(report["skipped"].as_array().unwrap().len(), 3, "{report}");
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

#[test]
fn seal_refuses_offline_what_the_api_server_would_refuse_and_says_where_the_namespace_came_from() {
    let d = Dir::new();
    let seal = |args: &[&str]| {
        let mut cmd = d.cmd();
        cmd.args(["seal", "-r", &d.recipient]).args(args);
        cmd.assert()
    };
    seal(&[
        "--name",
        "db",
        "--from-literal",
        "a=1",
        "--from-literal",
        "a=2",
    ])
    .code(3)
    .stderr(contains("data key \"a\" is given twice"));
    for bad in ["Db", "db_1", "-db", "db.", &"a".repeat(254)] {
        seal(&[&format!("--name={bad}"), "--from-literal", "a=1"])
            .code(3)
            .stderr(contains("is not valid"));
    }
    seal(&["--name", "db", "-n", "Prod", "--from-literal", "a=1"])
        .code(3)
        .stderr(contains("namespace \"Prod\" is not valid"));
    seal(&["--name", "db.example-1", "--from-literal", "a=1"]).success();
    seal(&[
        "--name",
        "db",
        "--from-literal",
        "a=1",
        "-w",
        "nope/db.yaml",
    ])
    .code(1)
    .stderr(contains(
        "cannot write nope/db.yaml: the folder nope does not exist",
    ));
    seal(&[
        "--name",
        "tls",
        "--type",
        "kubernetes.io/tls",
        "--from-literal",
        "tls.crt=c",
    ])
    .code(3)
    .stderr(contains("needs both tls.crt and tls.key"));
    seal(&[
        "--name",
        "tls",
        "--type",
        "kubernetes.io/tls",
        "--from-literal",
        "tls.crt=c",
        "--from-literal",
        "tls.key=k",
    ])
    .success();
    seal(&[
        "--name",
        "pull",
        "--type",
        "kubernetes.io/dockerconfigjson",
        "--from-literal",
        ".dockerconfigjson={not json secret",
    ])
    .code(3)
    .stderr(contains("must hold JSON").and(contains("not json secret").not()));
    seal(&[
        "--name",
        "pull",
        "--type",
        "kubernetes.io/dockerconfigjson",
        "--from-literal",
        ".dockerconfigjson={\"auths\":{}}",
        "-w",
        "pull.yaml",
    ])
    .success();
    // Merged into a file of that type, the value is held to the file's type.
    d.cmd()
        .args(["seal", "--merge-into", "pull.yaml", "-r", &d.recipient])
        .args(["--from-literal", ".dockerconfigjson=not json secret"])
        .assert()
        .code(3)
        .stderr(contains("must hold JSON").and(contains("not json secret").not()));

    seal(&["--name", "db", "--from-literal", "a=1"])
        .success()
        .stderr(contains(
            "binding db to namespace default (the input names none",
        ));
    seal(&["--name", "db", "-n", "prod", "--from-literal", "a=1"])
        .success()
        .stderr(contains("binding db to namespace prod (from -n)"));
    d.write(
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\nstringData: {a: '1'}\n",
    );
    seal(&["-f", "s.yaml"]).success().stderr(contains(
        "binding db to namespace shop (from its metadata.namespace)",
    ));
}

#[test]
fn every_command_reports_an_unusable_cluster_the_same_way() {
    let d = Dir::new();
    // No kubeconfig at all.
    d.cmd()
        .args(["status"])
        .assert()
        .code(6)
        .stderr(contains("no kubeconfig").and(contains("hint: point KUBECONFIG")));

    // A file that is not a kubeconfig (here an identity) is named, never quoted.
    for command in [
        vec!["key", "list"],
        vec![
            "seal",
            "--name",
            "x",
            "--from-literal",
            "a=b",
            "-r",
            &d.recipient,
        ],
    ] {
        let out = d
            .cmd()
            .args(&command)
            .args(["--kubeconfig", "id.txt"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{stderr}");
        assert!(
            stderr.contains("id.txt: it is not a kubeconfig"),
            "{stderr}"
        );
        assert!(!stderr.contains("AGE-SECRET-KEY"), "{stderr}");
    }

    // A kubeconfig whose API server does not answer (nothing listens on port 1).
    d.write(
        "down.kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: apps}}]\ncurrent-context: x\n",
    );
    d.seal("s.yaml", "db", "prod", &["k=v"]);
    for command in [
        vec!["key", "fetch"],
        vec!["key", "list"],
        vec!["key", "rotate"],
        vec!["key", "backup", "-r", &d.recipient, "-o", "b.age"],
        vec!["status"],
        vec!["validate", "--cluster", "s.yaml"],
        vec!["reseal", "s.yaml"],
    ] {
        let out = d
            .cmd()
            .args(&command)
            .args(["--kubeconfig", "down.kubeconfig"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{command:?}: {stderr}");
        assert!(
            stderr.contains("cannot reach the API server"),
            "{command:?}: {stderr}"
        );
        assert_eq!(
            stderr.matches("onnection refused").count(),
            1,
            "{command:?}: the cause once: {stderr}"
        );
        assert!(
            stderr.contains("not a kage problem") && !stderr.contains("install"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn what_users_arrive_with_from_kubeseal_and_sops_is_pointed_to_kages_way() {
    let d = Dir::new();
    for (flag, hint) in [
        ("--cert", "hint: kage seals to an age recipient"),
        ("--fetch-cert", "hint: `kage key fetch`"),
        ("--re-encrypt", "hint: `kage reseal"),
    ] {
        d.cmd()
            .args(["seal", flag, "x"])
            .assert()
            .code(2)
            .stderr(contains(hint));
    }
    let bitnami = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: old, namespace: prod}\nspec:\n  encryptedData: {k: AgBy}\n";
    d.write("bitnami.yaml", bitnami);
    d.cmd()
        .args(["inspect", "-f", "bitnami.yaml"])
        .assert()
        .code(3)
        .stderr(contains("Bitnami SealedSecret").and(contains("kage migrate")));
    // SOPS users point an environment variable at their key file.
    d.seal("s.yaml", "db", "prod", &["password=s3cret"]);
    d.cmd()
        .args(["unseal", "-f", "s.yaml"])
        .env("KAGE_IDENTITY_FILE", d.path("id.txt"))
        .assert()
        .success()
        .stdout(contains("password"));
    let typo = format!(
        "{}{}{}",
        &d.recipient[..10],
        if &d.recipient[10..11] == "q" {
            "p"
        } else {
            "q"
        },
        &d.recipient[11..]
    );
    d.cmd()
        .args(["seal", "--name", "a", "--from-literal", "a=b", "-r", &typo])
        .assert()
        .code(3)
        .stderr(contains("checksum does not match"));

    // A terminal on stdin: say what is expected instead of waiting silently (`script` gives
    // kage a terminal; util-linux ships it).
    let kage = assert_cmd::cargo::cargo_bin("kage");
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{} inspect", kage.display()), "/dev/null"])
        .current_dir(d.path(""))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) gives kage a terminal");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("reading a YAML or JSON manifest from the terminal"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
