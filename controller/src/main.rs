//! The `kage-controller` binary.

fn main() -> std::process::ExitCode {
    kage_controller::start::main()
}
