//! One module per subcommand.

mod backup;
mod inspect;
mod key;
mod keygen;
mod migrate;
mod reseal;
mod seal;
mod status;
mod unseal;
mod validate;

use std::path::Path;

use anyhow::Context;
use kage_api::SealedSecret;
use kage_api::manifest::{self, Document};
use kage_api::seal::sealed_secret_from_document;

use crate::args::{Cli, Command};
use crate::files;
use crate::run::{Failure, Outcome};

/// Runs the parsed command.
pub fn run(cli: Cli) -> Outcome {
    match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Seal(args) => seal::run(*args),
        Command::Unseal(args) => unseal::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Reseal(args) => reseal::run(args),
        Command::Key { command } => key::run(command),
        Command::Migrate(args) => migrate::run(args),
        Command::Status(args) => status::run(args),
        Command::Completions(args) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut cmd, "kage", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Reads the documents of a manifest file (or stdin).
fn read_documents(path: Option<&Path>) -> Result<Vec<Document>, Failure> {
    let text = files::read_input(path)?;
    let name = path.map_or("stdin".into(), |p| p.display().to_string());
    manifest::read_documents(&text)
        .with_context(|| format!("reading {name}"))
        .map_err(Failure::Input)
}

/// Reads every SealedSecret of a manifest file (or stdin); other documents are skipped.
fn read_sealed_secrets(path: Option<&Path>) -> Result<Vec<SealedSecret>, Failure> {
    let docs = read_documents(path)?;
    let sealed = docs
        .iter()
        .filter(|d| manifest::is_sealed_secret(d))
        .map(sealed_secret_from_document)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::Input(e.into()))?;
    if docs.iter().any(crate::sealed_secrets::is_bitnami) && sealed.is_empty() {
        return Err(Failure::Input(anyhow::anyhow!(
            "the input holds a Bitnami SealedSecret (bitnami.com/v1alpha1), not a kage one: `kage migrate` converts it"
        )));
    }
    if sealed.is_empty() {
        return Err(Failure::Input(anyhow::anyhow!(
            "no SealedSecret in the input"
        )));
    }
    Ok(sealed)
}

fn print(text: &str) -> Outcome {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to stdout")?;
    Ok(())
}

/// Fingerprints of the recovery recipients that apply to `file`: `--recovery` flags, else the
/// rule of the repository root's `.kage.yaml` (a subfolder's owner cannot vouch for a
/// recipient as a recovery key).
fn recovery_fingerprints(
    flags: &[String],
    file: Option<&Path>,
) -> Result<Vec<kage_core::Fingerprint>, Failure> {
    if !flags.is_empty() {
        return flags
            .iter()
            .map(|r| {
                r.parse::<kage_core::Recipient>()
                    .map(|r| r.fingerprint())
                    .map_err(|e| Failure::Input(anyhow::anyhow!("--recovery {r}: {e}")))
            })
            .collect();
    }
    let Some(file) = file.filter(|f| *f != Path::new("-")) else {
        return Ok(Vec::new());
    };
    let layers = crate::kage_yaml::layers_for_file(file).map_err(Failure::Input)?;
    Ok(layers
        .root
        .recovery
        .iter()
        .map(kage_core::Recipient::fingerprint)
        .collect())
}
