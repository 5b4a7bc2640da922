//! The `kage` command line: seal Secrets with a cluster's public key, and inspect, validate and
//! (with a private key, for recovery) unseal what was sealed.
//!
//! Exit codes (also in `kage --help`):
//! - 0: success
//! - 1: an error not listed below (I/O, ...)
//! - 2: wrong usage (unknown flag, missing argument)
//! - 3: invalid input (malformed manifest, sealed value or key file)
//! - 4: a value cannot be unsealed here (binding mismatch, no matching key, tampered)
//! - 5: `kage validate` found problems

mod args;
mod client;
mod commands;
mod files;
mod kage_yaml;
mod mistake;
mod recipients;

use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;

/// Why the command failed; decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Malformed input: exit code 3.
    Input(anyhow::Error),
    /// A value cannot be unsealed here: exit code 4.
    Unseal(anyhow::Error),
    /// Validation found problems (already reported): exit code 5.
    Invalid,
    /// Anything else: exit code 1.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

/// Result of a command.
pub type Outcome = Result<(), Failure>;

/// Parses the command line, runs the command and maps the outcome to an exit code.
pub fn run() -> ExitCode {
    run_with(std::env::args_os())
}

/// [`run`] with the given command line (the program name first), in this process.
pub fn run_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    let (code, error) = match commands::run(cli) {
        Ok(()) => (0, None),
        Err(Failure::Input(e)) => (3, Some(e)),
        Err(Failure::Unseal(e)) => (4, Some(e)),
        Err(Failure::Invalid) => (5, None),
        Err(Failure::Other(e)) => (1, Some(e)),
    };
    if let Some(e) = error {
        eprintln!("error: {e:#}");
        if let Some(hint) = mistake::hint(&e) {
            eprintln!("hint: {hint}");
        }
    }
    ExitCode::from(code)
}
