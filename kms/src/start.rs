//! Flags, the OpenBao login and the socket.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use kage_openbao::{Credential, Transit, TransitUrl, unwrap_secret_id};
use zeroize::Zeroizing;

use crate::client::Client;
use crate::plugin::Plugin;
use crate::proto::HEALTHY;

/// The socket's default path; the API server's `EncryptionConfiguration` names it as
/// `unix:///var/run/kage-kms/kms.sock`.
pub const DEFAULT_SOCKET: &str = "/var/run/kage-kms/kms.sock";

/// kage's KMS v2 plugin for the Kubernetes API server.
#[derive(Parser)]
#[command(name = "kage-kms", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the KMS v2 API on a Unix socket for the API server.
    Serve(ServeArgs),
    /// Asks a running plugin for its health and current key id (exit 1 when unhealthy).
    Status {
        /// The plugin's socket.
        #[arg(long, default_value = DEFAULT_SOCKET)]
        socket: PathBuf,
    },
}

/// How kage-kms logs in to OpenBao.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Auth {
    /// AppRole: --role-id-file and --secret-id-file; the token it gets is short-lived and
    /// renewed.
    Approle,
    /// A static token from --token-file: the weakest choice.
    Token,
}

/// `kage-kms serve`.
#[derive(clap::Args)]
struct ServeArgs {
    /// The Unix socket to listen on (created mode 0600; a stale socket is replaced).
    #[arg(long, env = "KAGE_KMS_SOCKET", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// The key encryption key: vault-transit://HOST:PORT/KEY (OpenBao or Vault Transit over
    /// HTTPS; vault-transit+http:// for a local dev server).
    #[arg(long, env = "KAGE_KMS")]
    kms: String,
    /// How to log in to OpenBao.
    #[arg(long, env = "KAGE_KMS_AUTH", value_enum, default_value = "approle")]
    auth: Auth,
    /// Where the AppRole auth method is mounted.
    #[arg(long, default_value = "approle")]
    approle_mount: String,
    /// The file holding the AppRole role id.
    #[arg(long, required_if_eq("auth", "approle"))]
    role_id_file: Option<PathBuf>,
    /// The file holding the AppRole secret id, or with --secret-id-wrapped a response-wrapping
    /// token that holds it (unwrapped once at start; the secret id then lives only in memory).
    #[arg(long, required_if_eq("auth", "approle"))]
    secret_id_file: Option<PathBuf>,
    /// The secret id file holds a response-wrapping token.
    #[arg(long)]
    secret_id_wrapped: bool,
    /// With --auth token: the file holding the token.
    #[arg(long, required_if_eq("auth", "token"))]
    token_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, default_value = "json", value_parser = ["json", "text"])]
    log_format: String,
}

fn read_secret(path: &Path, what: &str) -> anyhow::Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading the {what} {path:?}"))?,
    );
    let trimmed = text.trim();
    anyhow::ensure!(!trimmed.is_empty(), "the {what} {path:?} is empty");
    Ok(Zeroizing::new(trimmed.to_owned()))
}

async fn credential(args: &ServeArgs, url: &TransitUrl) -> anyhow::Result<Credential> {
    let missing = |flag: &str| anyhow::anyhow!("{flag} is required");
    Ok(match args.auth {
        Auth::Token => {
            let path = args
                .token_file
                .as_ref()
                .ok_or_else(|| missing("--token-file"))?;
            Credential::Token(read_secret(path, "token file")?)
        }
        Auth::Approle => {
            let role_path = args
                .role_id_file
                .as_ref()
                .ok_or_else(|| missing("--role-id-file"))?;
            let secret_path = args
                .secret_id_file
                .as_ref()
                .ok_or_else(|| missing("--secret-id-file"))?;
            let role_id = read_secret(role_path, "role id file")?;
            let secret = read_secret(secret_path, "secret id file")?;
            let secret_id = if args.secret_id_wrapped {
                unwrap_secret_id(url, &secret).await?
            } else {
                secret
            };
            Credential::AppRole {
                mount: args.approle_mount.clone(),
                role_id: role_id.to_string(),
                secret_id,
            }
        }
    })
}

/// Binds the socket, replacing a stale one, readable and writable by its owner only from the
/// moment it is reachable: it is bound inside a fresh 0700 folder beside `path`, set to 0600,
/// then renamed into place, so that nobody can connect while its mode is still the umask's
/// (a connection made then would outlive the `chmod`).
fn bind(path: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        anyhow::ensure!(
            meta.file_type().is_socket(),
            "{path:?} exists and is not a socket"
        );
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let private = tempfile::Builder::new()
        .prefix(".kage-kms-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a private folder in {parent:?}"))?;
    let staged = private.path().join("kms.sock");
    let listener = tokio::net::UnixListener::bind(&staged)
        .with_context(|| format!("listening on {staged:?}"))?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&staged, path).with_context(|| format!("moving the socket to {path:?}"))?;
    Ok(listener)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    let url: TransitUrl = args.kms.parse()?;
    let credential = credential(&args, &url).await?;
    if credential.method() == "token" {
        tracing::warn!("a static OpenBao token: the weakest credential (see docs/operations.md)");
    }
    let plugin = Arc::new(Plugin::new(Transit::new(url.clone(), credential)?));
    let listener = bind(&args.socket)?;
    tracing::info!(socket = %args.socket.display(), kms = %url.url, "serving the KMS v2 API");
    let status = plugin.status().await;
    if status.healthz != HEALTHY {
        tracing::warn!(healthz = %status.healthz, "not healthy yet");
    }
    crate::grpc::serve(listener, plugin, shutdown()).await;
    let _ = std::fs::remove_file(&args.socket);
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

async fn status(socket: &Path) -> anyhow::Result<bool> {
    let mut client = Client::connect(socket)
        .await
        .with_context(|| format!("connecting to {socket:?}"))?;
    let status = client.status().await?;
    println!(
        "version: {}\nhealthz: {}\nkey_id: {}",
        status.version, status.healthz, status.key_id
    );
    Ok(status.healthz == HEALTHY)
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,kube=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Parses the command line and runs it; the process exit code says how it went.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)).map(|()| true),
        Command::Status { socket } => runtime.block_on(status(&socket)),
    };
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_socket_is_owner_only_replaces_a_stale_one_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.sock");
        let first = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(first);
        // A stale socket (the previous process's) is replaced, and nothing is left beside it.
        let _second = bind(&path).unwrap();
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
        // Anything else at the path is refused and left alone.
        let file = dir.path().join("file");
        std::fs::write(&file, b"keep").unwrap();
        assert!(bind(&file).is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    }
}
