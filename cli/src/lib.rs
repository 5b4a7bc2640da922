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
//! - 6: the cluster cannot be used (no kubeconfig, API server unreachable, credentials refused,
//!   forbidden by RBAC, controller not installed or not running)

mod args;
mod cluster;
mod cluster_error;
mod commands;
mod files;
mod identity_file;
mod input;
mod kage_yaml;
mod manifest_file;
mod mistake;
mod outcome;
mod recipients;
mod run;
mod sealed_secrets;

pub use args::Cli;
pub use outcome::{Failure, Outcome};
pub use run::run;
