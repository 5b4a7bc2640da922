//! The `kage` command.

fn main() -> std::process::ExitCode {
    kage_cli::run()
}
