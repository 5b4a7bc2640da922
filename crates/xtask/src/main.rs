//! Development tasks for kage, run as `cargo xtask ...`.

mod chart_readme;
mod control_plane;
mod demo;
mod dist;
mod image;
mod node;
mod pki;
mod shell;
mod tools;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use control_plane::ControlPlane;
use shell::{build_binaries, cargo, path_with, run, workspace_root};

/// kage development tasks.
#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// The local control plane (etcd, kube-apiserver, kube-controller-manager from source).
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// Every test: unit, CLI, break-glass, then the e2e suite against a real API server, then
    /// the node tier (the controller as a Pod from the image built here).
    Test {
        /// Run only one tier.
        #[arg(long, value_enum, default_value = "all")]
        tier: Tier,
    },
    /// Build or install (or find in the cache) the other projects' tools the e2e suite runs:
    /// kage-gitops, Sealed Secrets' controller and kubeseal, helm, promtool, OpenBao, pre-commit;
    /// prints where they are.
    Tools,
    /// kage end to end: local cluster, controller, seal the examples, apply, show the Secrets.
    Demo {
        /// The controller as a Pod from the image built here, on a real node (`cluster up --node`).
        #[arg(long)]
        node: bool,
    },
    /// Release artifacts in target/dist: binaries, a tarball, CycloneDX SBOMs, SHA256SUMS and
    /// the image's build context.
    Dist,
    /// The controller image as an OCI archive in target/image/, without a Docker daemon
    /// (reproducible: the same build gives the same digest).
    Image,
    /// Write the Helm chart's README from the comments of its values.yaml.
    ChartReadme,
    /// Mutation testing (cargo-mutants) of the security-critical files, package by package;
    /// fails when a package scores below MIN_MUTATION_SCORE and lists every mutant that survived.
    Mutants,
    /// Benchmarks against the local control plane (see docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        what: BenchTarget,
    },
}

#[derive(Subcommand)]
enum BenchTarget {
    /// Cold sync of N SealedSecrets by a release-built controller, against the ceiling of
    /// writing the same Secrets directly.
    Controller {
        /// kage-bench's flags (`--objects`, `--values`, `--unrelated`, `--changes-per-second`,
        /// `--seconds`, `--reseal-files`, `--concurrency`), passed through: kage-bench parses
        /// them and refuses a typo.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        flags: Vec<String>,
    },
    /// kage-kms: Encrypt/Decrypt latency against a real OpenBao, and N Secrets written to an
    /// API server with and without it.
    Kms {
        /// kage-kms-bench's flags (`--secrets`, `--calls`), passed through.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        flags: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Build (or reuse) the binaries and start the control plane; idempotent.
    Up {
        /// Also one real node (kubelet, containerd, runc, CNI bridge, kube-proxy,
        /// kube-scheduler), with the controller image built here imported.
        #[arg(long)]
        node: bool,
    },
    /// Stop every process `up` started and remove the state (logs are kept).
    Down,
    /// Report which components run and whether the API server is ready.
    Status,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = match args.task {
        Task::Cluster { action } => {
            let cluster = ControlPlane::local();
            match action {
                ClusterAction::Up { node } => cluster.up_with(node),
                ClusterAction::Down => cluster.down(),
                ClusterAction::Status => cluster.status().and_then(|ready| {
                    if ready {
                        Ok(())
                    } else {
                        bail!("cluster not ready")
                    }
                }),
            }
        }
        Task::Test { tier } => test(tier),
        Task::Tools => tools::e2e_tools().map(|tools| {
            for (var, path) in tools {
                println!("{var}={}", path.display());
            }
        }),
        Task::Demo { node } => demo::demo(node),
        Task::Dist => dist::dist(),
        Task::Image => image::build_controller_image().map(drop),
        Task::ChartReadme => chart_readme::write(),
        Task::Mutants => mutants(),
        Task::Bench {
            what: BenchTarget::Controller { flags },
        } => bench("kage-bench", &flags),
        Task::Bench {
            what: BenchTarget::Kms { flags },
        } => bench("kage-kms-bench", &flags),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `cargo xtask test`: unit and CLI tests (with the reference age tool for break-glass), then
/// the e2e suite against `$KUBECONFIG` if set, else against a local control plane started and
/// stopped here (stopped even when tests fail), then, on the local control plane only, the node
/// tier: the controller as a Pod from the image built here on a real node (`tests/tests/node.rs`).
/// Everything the tests need is built or installed here first ([`tools::e2e_tools`]); every
/// test target runs even when one fails, and the failed stages are named at the end.
fn test(tier: Tier) -> Result<()> {
    let bins = control_plane::build_binaries()?;
    let tools = tools::e2e_tools()?;
    let mut failed = Vec::new();
    let external = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty());
    let cluster = ControlPlane::local();
    let e2e = |node: bool, test_args: &[&str]| -> Result<()> {
        let kubeconfig = match &external {
            Some(k) => PathBuf::from(k),
            None => {
                cluster.up_with(node)?;
                cluster.kubeconfig()
            }
        };
        let result = build_binaries(&[]).and_then(|()| {
            run(cargo()
                .args(["test", "--no-fail-fast", "-p", "kage-e2e"])
                .args(test_args)
                .args(["--", "--nocapture"])
                .env("KUBECONFIG", &kubeconfig)
                .env("KAGE_E2E_REQUIRED", "1")
                .env("KAGE_E2E_NODE", if node { "1" } else { "" })
                .env(
                    "KAGE_E2E_LOCAL_CLUSTER",
                    if external.is_none() { "1" } else { "" },
                )
                .envs(tools.iter().map(|(var, path)| (var, path)))
                .env("PATH", path_with(&cluster.bin_dir())))
        });
        if external.is_none() {
            cluster.down()?;
        }
        result
    };
    if tier != Tier::Node {
        // Default members only: the e2e package runs below, once a cluster is there.
        if let Err(e) = run(cargo()
            .args(["test", "--no-fail-fast"])
            .env("KAGE_AGE_BIN", bins.join("age")))
        {
            eprintln!("error: {e:#}");
            failed.push("unit, property and CLI tests");
        }
        if let Err(e) = e2e(false, &[]) {
            eprintln!("error: {e:#}");
            failed.push("end-to-end tests (kage-e2e)");
        }
    }
    if tier != Tier::Fast {
        if external.is_some() {
            println!(
                "node tier skipped: it needs the local control plane's node (KUBECONFIG is set)"
            );
        } else if let Err(e) = e2e(true, &["--test", "node"]) {
            eprintln!("error: {e:#}");
            failed.push("node tier (kage-e2e --test node)");
        }
    }
    if !failed.is_empty() {
        bail!(
            "failed: {} (cargo's summary above names each failed test file)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// Which tests `cargo xtask test` runs.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Tier {
    /// Every test: the fast tier, then the node tier.
    All,
    /// Unit, property, CLI tests and the e2e suite with the controller as a process.
    Fast,
    /// The controller as a Pod on a real node (`cargo xtask cluster up --node`).
    Node,
}

/// Code where a surviving mutant would be a security bug, by package, with that package's
/// tests to catch it.
struct Mutated {
    /// The package whose tests run.
    package: &'static str,
    /// The files mutated.
    files: &'static [&'static str],
    /// When not empty, only the functions of those files named here (`Type::method` for a
    /// method): the rest talk to the API server, and the e2e suite, not unit tests, covers them.
    functions: &'static [&'static str],
    /// Arguments to `cargo test` choosing the package's test targets run for each mutant (all
    /// when empty).
    test_args: &'static [&'static str],
}

/// The code that decides trust: the value format, bindings, identities and the key ring; the
/// template checks, which labels and annotations a template may set, and unsealing; the
/// controller's policy, the judgment of the key admission policy and the key loader; the CLI's
/// choice of recipients and of `.kage.yaml`.
const MUTATED: [Mutated; 4] = [
    Mutated {
        package: "kage-core",
        files: &[
            "crates/kage-core/src/binding.rs",
            "crates/kage-core/src/value.rs",
            "crates/kage-core/src/keyring.rs",
            "crates/kage-core/src/identity.rs",
        ],
        functions: &[],
        test_args: &[],
    },
    Mutated {
        package: "kage-api",
        files: &[
            "crates/kage-api/src/metadata_policy.rs",
            "crates/kage-api/src/template/check.rs",
            "crates/kage-api/src/template/functions.rs",
            "crates/kage-api/src/template/parse.rs",
            "crates/kage-api/src/unseal.rs",
            "crates/kage-api/src/key_backup.rs",
            "crates/kage-api/src/wire.rs",
        ],
        functions: &[],
        test_args: &[],
    },
    Mutated {
        package: "kage-controller",
        files: &[
            "controller/src/policy.rs",
            "controller/src/key_policy.rs",
            "controller/src/sealing_keys/mod.rs",
            "controller/src/sealing_keys/load.rs",
        ],
        functions: &[
            "TemplatePolicy::new",
            "TemplatePolicy::check",
            "judge",
            "check_key_secret",
            "created_at",
            "read_keys",
            "read_key",
            "KeySet::new",
            "KeySet::current",
            "KeySet::is_retired",
            "KeySet::sealed_only_to_retired",
            "KeySet::may_rotate",
        ],
        test_args: &[],
    },
    Mutated {
        package: "kage-cli",
        files: &["cli/src/recipients.rs", "cli/src/kage_yaml.rs"],
        functions: &[
            "cluster_state",
            "check_against_cluster",
            "is_cluster_key",
            "choose",
            "for_resealing",
            "announce",
            "Origin",
            "Resolved::recipients",
            "Source",
            "trusted_folders",
            "Layers::nearest_is_nested",
            "layers_for_file",
            "resolve",
            "layers",
            "rule_in",
        ],
        // The files that seal with `.kage.yaml` and reseal; the others test other commands.
        test_args: &[
            "--lib",
            "--test",
            "folder_owner",
            "--test",
            "seal",
            "--test",
            "recovery",
        ],
    },
];
/// Least share of viable mutants the tests must catch, in each package.
const MIN_MUTATION_SCORE: f64 = 0.90;
/// The cargo-mutants release the score was measured with.
const CARGO_MUTANTS_VERSION: &str = "27.1.0";

/// `cargo xtask mutants`: runs cargo-mutants (installed at the pinned version if missing) on
/// each package's [`MUTATED`] files with that package's tests, then checks each score.
fn mutants() -> Result<()> {
    shell::cargo_tool("mutants", CARGO_MUTANTS_VERSION)?;
    let mut below = Vec::new();
    for target in &MUTATED {
        let score = mutation_score(target)?;
        if score < MIN_MUTATION_SCORE {
            below.push(format!("{} ({:.1} %)", target.package, score * 100.0));
        }
    }
    if !below.is_empty() {
        bail!(
            "mutation score below {:.0} % in {}: add tests, or justify each survivor in docs/testing.md",
            MIN_MUTATION_SCORE * 100.0,
            below.join(", ")
        );
    }
    Ok(())
}

/// Runs cargo-mutants on one package's files; prints and returns the score.
fn mutation_score(target: &Mutated) -> Result<f64> {
    let out = workspace_root().join("target/mutants").join(target.package);
    std::fs::create_dir_all(&out)?;
    let mut cmd = cargo();
    cmd.args([
        "mutants",
        "-p",
        target.package,
        "--test-package",
        target.package,
        "-o",
    ])
    .arg(&out);
    for file in target.files {
        cmd.args(["-f", file]);
    }
    if !target.functions.is_empty() {
        // Mutant names end in the function: `... with false in check_key_secret`, or start
        // with it: `replace check_key_secret -> ... with ...`.
        cmd.args(["--re", &format!(r"\b({})\b", target.functions.join("|"))]);
    }
    for arg in target.test_args {
        cmd.arg(format!("--cargo-test-arg={arg}"));
    }
    // cargo-mutants exits non-zero when a mutant survives; the score decides here.
    let _ = cmd.status().context("running cargo mutants")?;
    let outcomes: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("mutants.out/outcomes.json"))
            .context("reading cargo-mutants' outcomes.json")?,
    )?;
    let count = |field: &str| outcomes[field].as_u64().unwrap_or(0);
    let (caught, missed, timeout) = (count("caught"), count("missed"), count("timeout"));
    let score = caught as f64 / (caught + missed + timeout).max(1) as f64;
    let survivors = std::fs::read_to_string(out.join("mutants.out/missed.txt")).unwrap_or_default();
    println!(
        "{}: mutation score {:.1} % ({caught} caught, {missed} missed, {timeout} timed out, {} unviable); survivors:\n{survivors}",
        target.package,
        score * 100.0,
        count("unviable")
    );
    Ok(score)
}

/// `cargo xtask bench controller|kms`: release builds, the local control plane (or
/// `$KUBECONFIG`), then the measuring driver `driver` (`tests/src/bin/`).
fn bench(driver: &str, flags: &[String]) -> Result<()> {
    let cluster = ControlPlane::local();
    let kubeconfig = match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(k) if driver != "kage-kms-bench" => PathBuf::from(k),
        _ => {
            cluster.up()?;
            cluster.kubeconfig()
        }
    };
    build_binaries(&["--release"])?;
    let mut driver_command = cargo();
    driver_command.args(["run", "--release", "-p", "kage-e2e", "--bin", driver, "--"]);
    if driver == "kage-kms-bench" {
        driver_command
            .env("KAGE_E2E_LOCAL_CLUSTER", "1")
            .env("KAGE_BAO_BIN", tools::install_openbao()?);
    }
    run(driver_command
        .args(flags)
        .env("KUBECONFIG", &kubeconfig)
        .env("KAGE_BIN_DIR", workspace_root().join("target/release"))
        .env("PATH", path_with(&cluster.bin_dir())))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Args, BenchTarget, Task};

    #[test]
    fn bench_flags_pass_through_to_kage_bench() {
        let args = Args::try_parse_from([
            "xtask",
            "bench",
            "controller",
            "--objects",
            "10",
            "--reseal-files",
            "2",
        ])
        .unwrap();
        let Task::Bench {
            what: BenchTarget::Controller { flags },
        } = args.task
        else {
            panic!("not the bench task");
        };
        assert_eq!(flags, ["--objects", "10", "--reseal-files", "2"]);
    }
}
