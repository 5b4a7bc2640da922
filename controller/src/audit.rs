//! Audit records: one structured log line (target `kage::audit`) for every unseal, verify,
//! reseal and key change, saying who or what acted, on which object, with which key, and the
//! result. Records never carry a value.

use kage_core::Fingerprint;

/// The log target of audit records; filter on it to ship them elsewhere.
pub const TARGET: &str = "kage::audit";

/// The controller unsealed (or failed to unseal) a SealedSecret into its Secret.
pub fn unseal(namespace: &str, name: &str, keys: &[Fingerprint], result: &str) {
    let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
    tracing::info!(target: TARGET, action = "unseal", actor = "controller", namespace, name, keys = ?keys, result);
}

/// A client asked whether (or had) a SealedSecret be opened here (`verify`) or re-encrypted
/// (`reseal`).
pub fn request(
    action: &str,
    client: &str,
    namespace: &str,
    name: &str,
    keys: &[Fingerprint],
    result: &str,
) {
    let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
    tracing::info!(target: TARGET, action, actor = client, namespace, name, keys = ?keys, result);
}

/// A sealing key was created.
pub fn key_created(secret: &str, fingerprint: &Fingerprint) {
    tracing::info!(target: TARGET, action = "key.create", actor = "controller", secret, fingerprint = %fingerprint, result = "ok");
}

/// The set of keys in use changed (added, removed or retired by someone).
pub fn keys_changed(active: &[Fingerprint], retired: &[Fingerprint]) {
    let active: Vec<String> = active.iter().map(ToString::to_string).collect();
    let retired: Vec<String> = retired.iter().map(ToString::to_string).collect();
    tracing::info!(target: TARGET, action = "key.reload", actor = "controller", active = ?active, retired = ?retired, result = "ok");
}

/// An admin's rotation request (the rotation-request ConfigMap) was answered. Who wrote the
/// request is known to the API server, not here: the record names the ConfigMap's uid and the
/// resourceVersion that carried the request, which the API server's audit log (see
/// `deploy/audit/audit-policy.yaml`) records with the user who wrote it.
pub fn rotation_request(request: &str, object: &ObjectVersion, result: &str) {
    tracing::info!(target: TARGET, action = "key.rotate", actor = "rotation-request", request, object_uid = object.uid, object_resource_version = object.resource_version, result);
}

/// Which version of an object an action answered: the join key with the API server's audit
/// log.
#[derive(Debug, Clone, Copy)]
pub struct ObjectVersion<'a> {
    /// The object's uid.
    pub uid: &'a str,
    /// The resourceVersion the action read.
    pub resource_version: &'a str,
}
