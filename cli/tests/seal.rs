//! `kage seal` and `kage unseal`: values, scopes, files, `.kage.yaml` and the refusals that change nothing.

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
