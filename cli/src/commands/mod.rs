//! One module per subcommand.

mod inspect;
mod key;
mod keygen;
mod migrate;
mod reseal;
mod seal;
mod status;
mod unseal;
mod validate;

use crate::args::{Cli, Command};
use crate::outcome::Outcome;

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
