//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kage_core::{Fingerprint, Recipient, Scope};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  error (I/O, ...)
  2  wrong usage
  3  invalid input (manifest, sealed value, key file)
  4  a value cannot be unsealed here (binding mismatch, no matching key, tampered)
  5  validate found problems
  6  the cluster cannot be used (no kubeconfig, unreachable, 401, 403, no controller)";

/// kage keeps Kubernetes Secrets safe in git: seal them with the cluster's age public key,
/// commit the SealedSecret, and let the controller in the cluster unseal it.
#[derive(Debug, Parser)]
#[command(name = "kage", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a new identity (private key) and print its recipient (public key).
    Keygen(KeygenArgs),
    /// Seal a Secret (or literal values) into a SealedSecret.
    Seal(Box<SealArgs>),
    /// Recover the Secrets from SealedSecrets with private keys, offline.
    Unseal(UnsealArgs),
    /// Show keys, scopes, bindings and key fingerprints of SealedSecrets; no key needed.
    Inspect(InspectArgs),
    /// Check SealedSecret files offline (structure, bindings), or with --cluster whether the
    /// cluster can unseal them.
    Validate(ValidateArgs),
    /// Re-encrypt SealedSecret files to the cluster's current key, in place.
    Reseal(ResealArgs),
    /// Cluster keys: fetch the public key to seal to.
    Key {
        /// What to do with keys.
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Turn Bitnami Sealed Secrets files into kage SealedSecrets, opening each value with the
    /// Sealed Secrets keys and sealing it to the kage cluster key; nothing in clear on disk.
    Migrate(MigrateArgs),
    /// List SealedSecrets and whether the controller has unsealed them.
    Status(StatusArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// `kage key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Read the controller's public keys through the kubeconfig and print the current one.
    Fetch(FetchArgs),
    /// List the cluster's keys: fingerprint, created, state.
    List(ClusterOnly),
    /// Ask the controller to create a new sealing key now (needs `patch` on the
    /// kage-key-rotation ConfigMap in the controller namespace: admins only).
    Rotate(ClusterOnly),
    /// Export every cluster key, encrypted to recipients or a passphrase (admins only).
    Backup(BackupArgs),
    /// Put the keys of a backup back into the cluster; the controller picks them up live.
    Restore(RestoreArgs),
    /// Stop using a key to unseal (after rotating and resealing).
    Retire(RetireArgs),
}

/// `kage key backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Encrypt the backup to this age recipient (repeatable).
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<age::x25519::Recipient>,
    /// Encrypt the backup to the passphrase in $KAGE_PASSPHRASE instead.
    #[arg(long)]
    pub passphrase: bool,
    /// Where to write the backup (atomically, mode 0600).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Cluster selection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `kage key restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Identity file that opens the backup (repeatable).
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,
    /// Open the backup with the passphrase in $KAGE_PASSPHRASE.
    #[arg(long)]
    pub passphrase: bool,
    /// Restore only the keys with these fingerprints (repeatable); anyone holding the backup's
    /// public recipient can write a backup, so name the keys you expect.
    #[arg(long, value_name = "FINGERPRINT")]
    pub expect: Vec<Fingerprint>,
    /// Restore without asking (the keys are listed first either way).
    #[arg(long)]
    pub yes: bool,
    /// Cluster selection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `kage key retire`.
#[derive(Debug, Args)]
pub struct RetireArgs {
    /// Fingerprint of the key to retire.
    #[arg(value_name = "FINGERPRINT")]
    pub fingerprint: Fingerprint,
    /// Cluster selection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Commands that only need to find the cluster.
#[derive(Debug, Args)]
pub struct ClusterOnly {
    /// Cluster selection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `kage reseal`.
#[derive(Debug, Args)]
pub struct ResealArgs {
    /// Files and directories (searched recursively); default ".".
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Reseal offline with these identities instead of through the controller.
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,
    /// Offline: seal to this recipient (repeatable; default .kage.yaml, then the cluster).
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<Recipient>,
    /// Drop on purpose this recipient (a fingerprint, as `kage inspect` shows it) that is not
    /// a cluster key; without it a file whose values would lose one is left unchanged.
    #[arg(long = "drop-recipient", value_name = "FINGERPRINT")]
    pub drop_recipients: Vec<Fingerprint>,
    /// Say what would change, file by file and value by value, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Cluster selection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `kage migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Sealed Secrets files and directories (searched recursively); default ".".
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A file holding Sealed Secrets private keys: PEM, or the YAML of its key Secrets
    /// (repeatable). Without it, the active keys are read from the cluster.
    #[arg(long = "key-file", value_name = "FILE")]
    pub key_files: Vec<PathBuf>,
    /// Namespace of the Sealed Secrets controller, where its keys are.
    #[arg(long, value_name = "NS", default_value = "kube-system")]
    pub sealed_secrets_namespace: String,
    /// Replace each Sealed Secrets document in its file (other documents are kept).
    #[arg(long, conflicts_with = "output_dir")]
    pub in_place: bool,
    /// Write the migrated files under DIR, at their paths relative to the PATH given.
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Seal to this recipient (repeatable; default .kage.yaml, then the cluster's key).
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<Recipient>,
    /// Label and annotation prefixes the controller allows templates to set besides unprefixed
    /// keys and `app.kubernetes.io/` (its --allow-template-metadata-prefix); repeatable.
    #[arg(long = "allow-metadata-prefix", value_name = "PREFIX")]
    pub allow_metadata_prefix: Vec<String>,
    /// Namespace for documents that name none (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Cluster selection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `kage key fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Refuse any current key but this one (the whole `age1...` recipient: a short fingerprint
    /// could be matched by another key).
    #[arg(long, value_name = "RECIPIENT", value_parser = pin)]
    pub pin: Option<Recipient>,
    /// Write the recipient into this .kage.yaml: the rule without a path (added if missing),
    /// and every rule that names an older key of this cluster.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = ".kage.yaml")]
    pub save: Option<PathBuf>,
    /// Cluster selection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `kage status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// All namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Print JSON or YAML (with --watch: one JSON object per line, or one YAML document per
    /// change) instead of a table.
    #[arg(short = 'o', long = "output", value_enum)]
    pub format: Option<Format>,
    /// Keep watching: print each SealedSecret again whenever it changes (Ctrl-C to stop).
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Cluster selection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `kage keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write the identity to FILE (mode 0600; never overwrites) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Output formats for manifests.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Format {
    /// YAML documents.
    #[default]
    Yaml,
    /// JSON.
    Json,
}

impl From<Format> for kage_api::OutputFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Yaml => kage_api::OutputFormat::Yaml,
            Format::Json => kage_api::OutputFormat::Json,
        }
    }
}

/// Sealing scope names for clap.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScopeArg {
    /// Namespace, name and key must match (default).
    Strict,
    /// Namespace and key must match.
    NamespaceWide,
    /// Only the key must match.
    ClusterWide,
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Strict => Scope::Strict,
            ScopeArg::NamespaceWide => Scope::NamespaceWide,
            ScopeArg::ClusterWide => Scope::ClusterWide,
        }
    }
}

/// Where the cluster and its kage controller are.
#[derive(Debug, Args, Default)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace of the kage controller.
    #[arg(long, value_name = "NS", default_value = kage_api::DEFAULT_CONTROLLER_NAMESPACE)]
    pub controller_namespace: String,
    /// Name of the kage controller (Service and Deployment).
    #[arg(long, value_name = "NAME", default_value = kage_api::DEFAULT_CONTROLLER_NAME)]
    pub controller_name: String,
    /// Reach the controller's HTTP API here instead of through the API server's service proxy.
    #[arg(long, value_name = "URL")]
    pub controller_url: Option<http::Uri>,
}

/// `kage seal`.
#[derive(Debug, Args)]
pub struct SealArgs {
    /// Secret manifest to seal (YAML or JSON, several documents allowed); "-" is stdin.
    /// Read from stdin when no file and no --from-* flag is given.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A value given on the command line, as KEY=VALUE (repeatable). A value on the command
    /// line shows in `ps` and shell history: use KEY=- to read it from stdin instead (asked for,
    /// without echo, when stdin is a terminal).
    #[arg(long, value_name = "KEY=VALUE")]
    pub from_literal: Vec<String>,
    /// A value read from a file, as [KEY=]PATH; KEY defaults to the file name (repeatable).
    #[arg(long, value_name = "[KEY=]PATH")]
    pub from_file: Vec<String>,
    /// Values read from an env file of KEY=VALUE lines (repeatable).
    #[arg(long, value_name = "PATH")]
    pub from_env_file: Vec<PathBuf>,
    /// Name of the SealedSecret (and of the Secret it creates).
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace (default: the input's, then the kubeconfig context's, then "default").
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Secret type, for --from-* input (default Opaque).
    #[arg(long = "type", value_name = "TYPE")]
    pub type_: Option<String>,
    /// Where the values may be opened (default: .kage.yaml's, else strict).
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
    /// Label and annotation prefixes the controller allows templates to set besides unprefixed
    /// keys and `app.kubernetes.io/` (its --allow-template-metadata-prefix); repeatable.
    #[arg(long = "allow-metadata-prefix", value_name = "PREFIX")]
    pub allow_metadata_prefix: Vec<String>,
    /// Seal to this recipient (age1...; repeatable).
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<Recipient>,
    /// Seal to every recipient listed in FILE, one per line (repeatable).
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,
    /// Also seal to this offline recovery recipient (age1...; repeatable).
    #[arg(long = "recovery", value_name = "RECIPIENT")]
    pub recovery: Vec<Recipient>,
    /// Write the SealedSecret to FILE atomically instead of stdout.
    #[arg(
        short = 'w',
        long = "write",
        value_name = "FILE",
        conflicts_with = "merge_into"
    )]
    pub write: Option<PathBuf>,
    /// Update the SealedSecret in FILE in place: reseal the keys given, keep every other value.
    /// Refused when the new values would lack a recipient every other value of the file has
    /// (a recovery key), unless --drop-recipient names it.
    #[arg(long, value_name = "FILE")]
    pub merge_into: Option<PathBuf>,
    /// With --merge-into: leave out on purpose this recipient (a fingerprint, as `kage inspect`
    /// shows it) that the file's other values have; repeatable.
    #[arg(
        long = "drop-recipient",
        value_name = "FINGERPRINT",
        requires = "merge_into"
    )]
    pub drop_recipients: Vec<Fingerprint>,
    /// Take spec.template from FILE (YAML or JSON: type, immutable, metadata, data, omit): its
    /// `data` composes values from the sealed ones (docs/templates.md). Checked before writing.
    #[arg(long, value_name = "FILE", conflicts_with = "raw")]
    pub template_file: Option<PathBuf>,
    /// Print one sealed value only (for templates); takes exactly one --from-literal/--from-file.
    #[arg(long, conflicts_with_all = ["merge_into", "file"])]
    pub raw: bool,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: Format,
    /// Cluster selection (for the default namespace).
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `kage unseal`.
#[derive(Debug, Args)]
pub struct UnsealArgs {
    /// Identity file (AGE-SECRET-KEY-1... lines); repeatable. Default: $KAGE_IDENTITY_FILE (a
    /// path, as SOPS reads SOPS_AGE_KEY_FILE; a key itself in the environment is not read: every
    /// child process, and /proc, would see it).
    #[arg(
        short = 'i',
        long = "identity",
        value_name = "FILE",
        required = true,
        env = "KAGE_IDENTITY_FILE"
    )]
    pub identities: Vec<PathBuf>,
    /// SealedSecret manifest; "-" or absent is stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: Format,
}

/// `kage inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// SealedSecret manifest; "-" or absent is stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Recovery recipients to look for (default: the file's .kage.yaml rule).
    #[arg(long = "recovery", value_name = "RECIPIENT")]
    pub recovery: Vec<Recipient>,
    /// Print JSON instead of text.
    #[arg(short = 'o', long = "output", value_enum)]
    pub format: Option<Format>,
}

/// `kage validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files and directories (searched recursively for .yaml, .yml and .json, folders starting
    /// with "." left out); default ".".
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Also ask the controller whether it can unseal each SealedSecret.
    #[arg(long)]
    pub cluster: bool,
    /// Fail on values without a recovery recipient (from .kage.yaml, or --recovery).
    #[arg(long)]
    pub require_recovery: bool,
    /// Recovery recipients that count (default: each file's .kage.yaml rule).
    #[arg(long = "recovery", value_name = "RECIPIENT")]
    pub recovery: Vec<Recipient>,
    /// Label and annotation prefixes the controller allows templates to set besides unprefixed
    /// keys and `app.kubernetes.io/` (its --allow-template-metadata-prefix); repeatable.
    #[arg(long = "allow-metadata-prefix", value_name = "PREFIX")]
    pub allow_metadata_prefix: Vec<String>,
    /// Leave out files whose path matches this glob (e.g. 'charts/**'); repeatable.
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Pass a PATH that holds no kage SealedSecret and no plaintext Secret (a pre-commit hook
    /// given only the changed files); by default it fails, so that a gate cannot pass by
    /// checking nothing.
    #[arg(long)]
    pub allow_empty: bool,
    /// Print the report as JSON or YAML on stdout instead of text on stderr.
    #[arg(short = 'o', long = "output", value_enum)]
    pub format: Option<Format>,
    /// Cluster selection (with --cluster).
    #[command(flatten)]
    pub cluster_args: ClusterArgs,
}

/// `kage completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `--pin`: a whole recipient; a fingerprint is refused with the reason.
fn pin(text: &str) -> Result<Recipient, String> {
    if text.parse::<Fingerprint>().is_ok() {
        return Err(
            "--pin takes the whole age1... recipient, not its fingerprint (a fingerprint is too short to pin a key)"
                .to_owned(),
        );
    }
    text.parse().map_err(|e: kage_core::KeyError| e.to_string())
}
