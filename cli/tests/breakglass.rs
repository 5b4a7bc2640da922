//! Break-glass: a sealed value opens with the reference age tool, no kage code involved.
//!
//! Needs `KAGE_AGE_BIN` (set by `cargo xtask test`, which builds `filippo.io/age`). Without it
//! the test is skipped, except under CI where it fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use assert_cmd::Command;

#[test]
fn a_sealed_value_opens_with_the_reference_age_tool() {
    let Some(age) = std::env::var_os("KAGE_AGE_BIN") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "KAGE_AGE_BIN must be set in CI"
        );
        eprintln!("skipped: KAGE_AGE_BIN not set (run `cargo xtask test`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kage = || {
        let mut cmd = Command::cargo_bin("kage").unwrap();
        cmd.current_dir(dir.path());
        cmd
    };
    let out = kage().args(["keygen", "-o", "id.txt"]).assert().success();
    let recipient = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let value: &[u8] = b"break\0glass\n\xff value";
    std::fs::write(dir.path().join("value.bin"), value).unwrap();
    let out = kage()
        .args([
            "seal",
            "--raw",
            "--name",
            "db",
            "-n",
            "prod",
            "-r",
            recipient.trim(),
        ])
        .args(["--from-file", "password=value.bin"])
        .assert()
        .success();
    let sealed = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    use base64::Engine;
    let age_file = base64::engine::general_purpose::STANDARD
        .decode(sealed.trim())
        .unwrap();
    std::fs::write(dir.path().join("value.age"), age_file).unwrap();
    let out = std::process::Command::new(age)
        .current_dir(dir.path())
        .args(["-d", "-i", "id.txt", "value.age"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut expected = b"kage.dev/v1 strict prod db password\n".to_vec();
    expected.extend_from_slice(value);
    assert_eq!(out.stdout, expected);
}
