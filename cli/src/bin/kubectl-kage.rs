//! `kubectl kage ...`: the `kage` command as a kubectl plugin (kubectl runs `kubectl-kage` from
//! PATH with the rest of the command line).

fn main() -> std::process::ExitCode {
    kage_cli::run()
}
