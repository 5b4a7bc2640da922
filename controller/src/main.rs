//! The `kage-controller` binary.

fn main() -> std::process::ExitCode {
    kage_controller::Cli::parse_and_run()
}
