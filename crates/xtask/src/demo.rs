//! `cargo xtask demo`: kage's whole job on a fresh machine.
//!
//! Starts the local control plane, installs `deploy/`, runs the controller as its
//! ServiceAccount, seals the Secrets in `examples/` with the CLI, applies them with kubectl and
//! prints the resulting Secrets' keys and Ready conditions. With `--node`, the controller is
//! the Pod of `deploy/`'s Deployment on a real node, from the image built here.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::control_plane::ControlPlane;
use crate::shell::{cargo, run, workspace_root};

/// How long the demo waits for every SealedSecret to be Ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the controller's rollout may take on the node (the image is already there).
const ROLLOUT_TIMEOUT: &str = "180s";

/// `cargo xtask demo [--node]`.
pub fn demo(node: bool) -> Result<()> {
    let root = workspace_root();
    let cluster = ControlPlane::local();
    cluster.up_with(node)?;
    run(cargo().args([
        "build",
        "--quiet",
        "-p",
        "kage-cli",
        "-p",
        "kage-controller",
    ]))?;
    let bin = root.join("target/debug");
    let kubeconfig = cluster.kubeconfig();
    let kubectl = || {
        let mut cmd = Command::new(cluster.bin_dir().join("kubectl"));
        cmd.arg("--kubeconfig").arg(&kubeconfig);
        cmd
    };
    let kage = || {
        let mut cmd = Command::new(bin.join("kage"));
        cmd.env("KUBECONFIG", &kubeconfig);
        cmd
    };

    step("kubectl apply -k deploy/foundation/ && kubectl apply -k deploy/");
    for dir in ["deploy/foundation", "deploy"] {
        run(kubectl().arg("apply").arg("-k").arg(root.join(dir)))?;
    }
    run(kubectl().args([
        "wait",
        "--for=condition=Established",
        "crd/sealedsecrets.kage.dev",
        "--timeout=60s",
    ]))?;

    if node {
        step("kubectl rollout status -n kage-system deployment/kage-controller");
        run(kubectl().args([
            "rollout",
            "status",
            "-n",
            "kage-system",
            "deployment/kage-controller",
            &format!("--timeout={ROLLOUT_TIMEOUT}"),
        ]))?;
        run(kubectl().args(["get", "pods", "-n", "kage-system", "-o", "wide"]))?;
    } else {
        run_controller_process(&cluster, &kubectl, &bin)?;
    }

    step("kage key fetch");
    let started = Instant::now();
    let recipient = loop {
        let out = kage()
            .args(["key", "fetch"])
            .stderr(Stdio::null())
            .output()?;
        if out.status.success() {
            break String::from_utf8(out.stdout)?.trim().to_owned();
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!(
                "the controller did not publish its key; see target/cluster/logs/kage-controller.log"
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    println!("{recipient}");

    let out_dir = root.join("target/demo");
    std::fs::create_dir_all(&out_dir)?;
    let mut names = Vec::new();
    for example in secret_examples(&root.join("examples"))? {
        let file_name = example
            .file_name()
            .context("file name")?
            .to_string_lossy()
            .into_owned();
        let sealed = out_dir.join(format!("sealed-{file_name}"));
        // `x.template.yaml` beside `x.yaml` composes the Secret's values (docs/templates.md).
        let template = example.with_extension("template.yaml");
        let mut seal = kage();
        seal.arg("seal").arg("-f").arg(&example);
        let mut shown = format!("kage seal -f examples/{file_name}");
        if template.exists() {
            seal.arg("--template-file").arg(&template);
            shown.push_str(&format!(
                " --template-file examples/{}",
                template.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
        step(&format!("{shown} -w target/demo/sealed-{file_name}"));
        run(seal.arg("-r").arg(&recipient).arg("-w").arg(&sealed))?;
        let namespace = namespace_of(&sealed)?;
        run(kubectl()
            .args(["create", "namespace", &namespace])
            .stderr(Stdio::null()))
        .or_else(|_| Ok::<_, anyhow::Error>(()))?;
        step(&format!("kubectl apply -f target/demo/sealed-{file_name}"));
        run(kubectl().arg("apply").arg("-f").arg(&sealed))?;
        names.push(namespace);
    }
    names.sort();
    names.dedup();

    step("waiting for Ready");
    let started = Instant::now();
    for ns in &names {
        while !output(kubectl().args([
            "get", "sealedsecrets.kage.dev", "-n", ns, "-o",
            "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
        ]))?
        .lines()
        .all(|l| l == "True")
        {
            if started.elapsed() > READY_TIMEOUT {
                bail!("not every SealedSecret became Ready; see `kage status -A`");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    step("kage status -A");
    run(kage().args(["status", "-A"]))?;
    for ns in &names {
        step(&format!("Secrets in namespace {ns} (keys only)"));
        run(kubectl().args([
            "get", "secrets", "-n", ns, "-l", "kage.dev/sealed-secret", "-o",
            "go-template={{range .items}}{{.metadata.name}} ({{.type}}): {{range $k, $v := .data}}{{$k}} {{end}}{{\"\\n\"}}{{end}}",
        ]))?;
    }
    println!();
    println!(
        "The cluster keeps running. KUBECONFIG={}",
        kubeconfig.display()
    );
    println!("Clean up with: cargo xtask cluster down");
    Ok(())
}

/// The controller as a local process with a token of its ServiceAccount (no node).
fn run_controller_process(
    cluster: &ControlPlane,
    kubectl: &dyn Fn() -> Command,
    bin: &Path,
) -> Result<()> {
    let kubeconfig = cluster.kubeconfig();
    step("kage-controller run (as ServiceAccount kage-system/kage-controller)");
    let token = output(kubectl().args([
        "create",
        "token",
        "kage-controller",
        "-n",
        "kage-system",
        "--duration=24h",
    ]))?;
    let sa_kubeconfig = cluster.dir.join("kage-controller.kubeconfig");
    write_token_kubeconfig(&kubeconfig, &sa_kubeconfig, token.trim())?;
    cluster.start_process(
        "kage-controller",
        &bin.join("kage-controller"),
        &[
            "run",
            "--http-addr",
            "127.0.0.1:0",
            "--api-addr",
            "127.0.0.1:0",
            "--log-format",
            "text",
        ],
        &[("KUBECONFIG", sa_kubeconfig.as_os_str())],
    )?;
    Ok(())
}

fn step(what: &str) {
    println!("\n== {what}");
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The example manifests that hold Secrets.
fn secret_examples(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("kind: Secret")))
        .collect();
    files.sort();
    Ok(files)
}

fn namespace_of(sealed: &Path) -> Result<String> {
    let text = std::fs::read_to_string(sealed)?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("namespace: "))
        .map(|ns| ns.trim().to_owned())
        .context("sealed example has no namespace")
}

fn write_token_kubeconfig(admin: &Path, path: &Path, token: &str) -> Result<()> {
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(admin)?)?;
    config["users"] = serde_json::json!([{"name": "kage-admin", "user": {"token": token}}]);
    std::fs::write(path, serde_json::to_string_pretty(&config)?)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}
