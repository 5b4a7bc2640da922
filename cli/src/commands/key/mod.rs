//! `kage key ...`: the cluster's sealing keys. `list` and `fetch` read the published public
//! keys and `rotate` writes the rotation request, as RBAC allows; `backup`, `restore` and
//! `retire` read and write the key Secrets in the controller's namespace, so only cluster
//! administrators can run them.

mod backup;
mod fetch;
mod list;
mod restore;
mod retire;
mod rotate;

use anyhow::{anyhow, bail};

use crate::args::KeyCommand;
use crate::cluster_error::Request;
use crate::outcome::Outcome;

pub fn run(command: KeyCommand) -> Outcome {
    match command {
        KeyCommand::Fetch(args) => fetch::run(args),
        KeyCommand::List(args) => list::run(args),
        KeyCommand::Rotate(args) => rotate::run(args),
        KeyCommand::Backup(args) => backup::run(args),
        KeyCommand::Restore(args) => restore::run(args),
        KeyCommand::Retire(args) => retire::run(args),
    }
}

/// Environment variable holding the passphrase for `--passphrase`.
pub const PASSPHRASE_ENV: &str = "KAGE_PASSPHRASE";
/// Shortest passphrase accepted.
pub const MIN_PASSPHRASE_LEN: usize = 12;

/// The passphrase of `--passphrase`, from [`PASSPHRASE_ENV`].
fn passphrase() -> anyhow::Result<age::secrecy::SecretString> {
    let value = std::env::var(PASSPHRASE_ENV).map_err(|_| {
        anyhow!("--passphrase reads the passphrase from ${PASSPHRASE_ENV}, which is not set")
    })?;
    if value.len() < MIN_PASSPHRASE_LEN {
        bail!(
            "the passphrase in ${PASSPHRASE_ENV} is shorter than {MIN_PASSPHRASE_LEN} characters"
        );
    }
    Ok(age::secrecy::SecretString::from(value))
}

/// A request on the key Secrets in `ns`, to name it in errors.
fn key_secrets<'a>(ns: &'a str, verb: &'static str, action: &'a str) -> Request<'a> {
    Request {
        action,
        verb,
        resource: "secrets",
        namespace: Some(ns),
        ..Request::default()
    }
}

/// The label selector of the key Secrets.
fn key_secret_selector() -> kube::api::ListParams {
    kube::api::ListParams::default().labels(&format!("{}=true", kage_api::SEALING_KEY_LABEL))
}

/// Patch parameters of the CLI's writes to key Secrets: its own field manager.
fn cli_patch() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(kage_api::CLI_FIELD_MANAGER.to_owned()),
        ..kube::api::PatchParams::default()
    }
}
