//! `kage-kms`: a Kubernetes KMS v2 plugin whose key encryption key is an OpenBao (or Vault)
//! Transit key, so that the API server stores every Secret in etcd encrypted under a key that
//! never leaves the KMS.
//!
//! Layers: [`proto`] (the messages), [`grpc`] (gRPC on the Unix socket), [`plugin`] (what each
//! call does), [`start`] (flags, login, serving); [`client`] speaks to the socket.

pub mod client;
pub mod grpc;
pub mod plugin;
pub mod proto;
pub mod start;
