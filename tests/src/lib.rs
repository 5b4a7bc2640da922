//! Harness for kage's end-to-end tests against a real API server.
//!
//! The cluster is the one `$KUBECONFIG` names: `cargo xtask test` starts a local control plane
//! and points it there, or any other cluster (kind, k3d, ...) can be used. Without
//! `$KUBECONFIG` the tests skip, unless `KAGE_E2E_REQUIRED=1` (set by `cargo xtask test`), in
//! which case they fail.
//!
//! [`cluster`] reaches the cluster and runs kubectl and the CLI, [`apiserver`] starts a second
//! API server beside the local one, [`controller`] runs the
//! controller as a process, [`pod_network`] gives it a pod network the API server's proxy
//! reaches, [`openbao`] runs the KMS, [`kms_plugin`] runs kage-kms, [`gitops`] asks kstatus and Argo CD's health check, [`sealed_secrets`] runs Bitnami
//! Sealed Secrets for the migration tests, and
//! [`metrics`] parses what `/metrics` says.

pub mod apiserver;
pub mod cluster;
pub mod controller;
pub mod gitops;
pub mod kms_plugin;
pub mod metrics;
pub mod openbao;
pub mod pod_network;
pub mod sealed_secrets;

pub use apiserver::*;
pub use cluster::*;
pub use controller::*;
pub use gitops::*;
pub use kms_plugin::*;
pub use metrics::*;
pub use openbao::*;
pub use pod_network::*;
pub use sealed_secrets::*;
