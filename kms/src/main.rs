//! The `kage-kms` binary.

fn main() -> std::process::ExitCode {
    kage_kms::start::main()
}
