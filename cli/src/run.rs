//! The edge of the CLI: parse, run, and turn the outcome into an exit code and a hint.

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::{commands, mistake};

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
