//! The edge of the CLI: parse, run, and turn the outcome into an exit code and a hint.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::args::Cli;
use crate::outcome::Failure;
use crate::{commands, mistake};

/// The name under which kubectl finds kage as a plugin.
pub const PLUGIN_BINARY: &str = "kubectl-kage";

/// Parses the command line, runs the command and maps the outcome to an exit code.
pub fn run() -> ExitCode {
    run_with(std::env::args_os())
}

/// [`run`] with the given command line (the program name first), in this process.
fn run_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // Run as a kubectl plugin, usage lines say `kubectl kage`.
    let as_plugin = args
        .first()
        .and_then(|program| std::path::Path::new(program).file_name())
        .is_some_and(|name| name.to_string_lossy().starts_with(PLUGIN_BINARY));
    let mut command = Cli::command();
    if as_plugin {
        command = command.bin_name("kubectl kage");
    }
    let matches = match command.try_get_matches_from(args) {
        Ok(matches) => matches,
        Err(e) => {
            let unknown = e
                .get(clap::error::ContextKind::InvalidArg)
                .map(ToString::to_string);
            let _ = e.print();
            if let Some(hint) = unknown.as_deref().and_then(mistake::kubeseal_flag) {
                eprintln!("hint: {hint}");
            }
            // A flag's value that does not parse (a recipient, a fingerprint, a URL) is invalid
            // input, like a malformed file; other usage errors keep clap's code.
            let code = if e.kind() == clap::error::ErrorKind::ValueValidation {
                3
            } else {
                u8::try_from(e.exit_code()).unwrap_or(2)
            };
            return ExitCode::from(code);
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let (code, error) = match commands::run(cli) {
        Ok(()) => (0, None),
        // The cluster's state, whichever command met it: one exit code.
        Err(Failure::Input(e) | Failure::Unseal(e) | Failure::Other(e))
            if mistake::is_about_the_cluster(&e) =>
        {
            (6, Some(e))
        }
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
