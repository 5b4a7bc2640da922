//! The controller's command line: `run` with its flags (each also an environment variable),
//! and `crd`. Parsing only: `start` runs what was asked.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kage_api::{DEFAULT_CONTROLLER_NAME, DEFAULT_CONTROLLER_NAMESPACE};

use crate::http::Cidr;
use crate::sealing_keys::MIN_ROTATION_INTERVAL;

/// kage-controller: unseals SealedSecrets into native Secrets.
#[derive(Debug, Parser)]
#[command(name = "kage-controller", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller.
    Run(Box<RunArgs>),
    /// Print the SealedSecret CustomResourceDefinition (YAML).
    Crd,
}

/// Flags of `kage-controller run`; each can also be set by its environment variable.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Namespace holding the sealing keys and the public-keys ConfigMap.
    #[arg(long, env = "KAGE_NAMESPACE", default_value = DEFAULT_CONTROLLER_NAMESPACE)]
    pub namespace: String,
    /// Name of the controller (Events' reporting controller).
    #[arg(long, env = "KAGE_CONTROLLER_NAME", default_value = DEFAULT_CONTROLLER_NAME)]
    pub name: String,
    /// Only watch SealedSecrets in this namespace (default: all namespaces).
    #[arg(long, env = "KAGE_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Address of the health and metrics endpoints (`/healthz`, `/readyz`, `/metrics`).
    #[arg(long, env = "KAGE_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: std::net::SocketAddr,
    /// Address of the API (`/v1/keys`, `/v1/verify`, `/v1/reseal`), reached through the API
    /// server's service proxy.
    #[arg(long, env = "KAGE_API_ADDR", default_value = "0.0.0.0:8081")]
    pub api_addr: std::net::SocketAddr,
    /// Address ranges (CIDR) of proxies whose last `X-Forwarded-For` entry names the client
    /// (the API servers). From anyone else the header is ignored: the client is the peer.
    #[arg(long, env = "KAGE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxy: Vec<Cidr>,
    /// Offline recovery recipients (`age1...`) that `/v1/reseal` may keep on a value; any other
    /// recipient a client asks to keep is refused. Compared whole: a short fingerprint could be
    /// forged to match.
    #[arg(long, env = "KAGE_RECOVERY_RECIPIENTS", value_delimiter = ',')]
    pub recovery_recipient: Vec<kage_core::Recipient>,
    /// Secret types a SealedSecret's template may ask for besides the default set (see
    /// docs/operations.md); repeat or separate with commas.
    #[arg(long, env = "KAGE_ALLOW_SECRET_TYPES", value_delimiter = ',')]
    pub allow_secret_type: Vec<String>,
    /// Label and annotation prefixes (`example.com/`) a SealedSecret's template may set besides
    /// unprefixed keys and `app.kubernetes.io/`; repeat or separate with commas. Never
    /// `kage.dev/`.
    #[arg(
        long,
        env = "KAGE_ALLOW_TEMPLATE_METADATA_PREFIXES",
        value_delimiter = ','
    )]
    pub allow_template_metadata_prefix: Vec<String>,
    /// Name of the ValidatingAdmissionPolicy (and its binding) that lets only this controller
    /// and key administrators write sealing keys; checked at start and every few minutes.
    #[arg(long, env = "KAGE_KEY_POLICY", default_value = "kage-sealing-keys")]
    pub key_policy: String,
    /// Who may read `/metrics`: `kubernetes` (a bearer token the API server accepts, whose
    /// user may `get` the non-resource URL `/metrics`), or `none` (anyone who reaches the
    /// health port; only behind a NetworkPolicy that admits Prometheus alone).
    #[arg(long, env = "KAGE_METRICS_AUTH", default_value = "kubernetes", value_parser = ["kubernetes", "none"])]
    pub metrics_auth: String,
    /// Log format.
    #[arg(long, env = "KAGE_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    pub log_format: String,
    /// How many SealedSecrets are reconciled at once.
    #[arg(long, env = "KAGE_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Identity of this replica (pod name) in Events and the leader Lease.
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
    /// Wrap sealing keys with this KMS: vault-transit://HOST:PORT/KEY (OpenBao or Vault
    /// Transit over HTTPS; vault-transit+http:// for a local dev server).
    #[arg(long, env = "KAGE_KMS")]
    pub kms: Option<String>,
    /// How to log in to the KMS: `kubernetes` (OpenBao's Kubernetes auth method with the
    /// projected ServiceAccount token in --kms-jwt-file; no static credential) or `token` (a
    /// static token: the weakest choice).
    #[arg(long, env = "KAGE_KMS_AUTH", value_enum, default_value = "kubernetes")]
    pub kms_auth: crate::kms::KmsAuth,
    /// The OpenBao role the Kubernetes auth method binds to the controller's ServiceAccount.
    #[arg(long, env = "KAGE_KMS_ROLE", default_value = "kage-controller")]
    pub kms_role: String,
    /// The projected ServiceAccount token (with the audience the OpenBao role expects), read
    /// again at every login.
    #[arg(
        long,
        env = "KAGE_KMS_JWT_FILE",
        default_value = "/var/run/secrets/openbao/token"
    )]
    pub kms_jwt_file: std::path::PathBuf,
    /// Where OpenBao's Kubernetes auth method is mounted.
    #[arg(long, env = "KAGE_KMS_AUTH_MOUNT", default_value = "kubernetes")]
    pub kms_auth_mount: String,
    /// With `--kms-auth token`: the file holding the token (default: $BAO_TOKEN, then
    /// $VAULT_TOKEN).
    #[arg(long, env = "KAGE_KMS_TOKEN_FILE")]
    pub kms_token_file: Option<std::path::PathBuf>,
    /// Create a new sealing key this long after the newest one (e.g. 30d, 12h; 0 = never).
    #[arg(long, env = "KAGE_KEY_ROTATION_PERIOD", default_value = "30d", value_parser = parse_period)]
    pub key_rotation_period: Duration,
}

/// Parses `30d`, `12h`, `90m`, `45s` or `0`; a period shorter than
/// [`MIN_ROTATION_INTERVAL`] is refused.
fn parse_period(text: &str) -> Result<Duration, String> {
    let period = parse_duration(text)?;
    if !period.is_zero() && period < MIN_ROTATION_INTERVAL {
        return Err(format!(
            "{text:?}: keys are created at least {}s apart",
            MIN_ROTATION_INTERVAL.as_secs()
        ));
    }
    Ok(period)
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected e.g. 30d, 12h, 90m, 45s or 0"))?;
    let seconds = match unit {
        "d" => n * 86_400,
        "h" => n * 3_600,
        "m" => n * 60,
        "s" => n,
        _ => return Err(format!("{text:?}: unit must be d, h, m or s")),
    };
    Ok(Duration::from_secs(seconds))
}

impl RunArgs {
    /// What the leader's work needs of these flags.
    pub fn leading(&self) -> crate::leading::Settings {
        crate::leading::Settings {
            namespace: self.namespace.clone(),
            watch_namespace: self.watch_namespace.clone(),
            key_rotation_period: self.key_rotation_period,
            allow_secret_type: self.allow_secret_type.clone(),
            allow_template_metadata_prefix: self.allow_template_metadata_prefix.clone(),
            concurrency: self.concurrency,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rotation_periods_parse_with_units_and_zero_means_never() {
        use std::time::Duration;
        assert_eq!(
            super::parse_period("30d"),
            Ok(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            super::parse_period("12h"),
            Ok(Duration::from_secs(12 * 3_600))
        );
        assert_eq!(super::parse_period("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(super::parse_period("0"), Ok(Duration::ZERO));
        for bad in ["", "d", "30", "30w", "-1d", "1.5h", "9s"] {
            assert!(super::parse_period(bad).is_err(), "{bad:?}");
        }
        assert_eq!(super::parse_period("10s"), Ok(Duration::from_secs(10)));
    }
}
