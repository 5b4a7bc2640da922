//! Every name kage agrees on between the CLI and the controller: labels, annotations, object
//! names, the field manager, the Secret types it writes, and the limits of its API.

/// Prefix of every label and annotation kage reads or writes.
pub const DOMAIN: &str = "kage.dev";
/// Annotation on a SealedSecret: when its values were last sealed (RFC 3339).
pub const SEALED_AT_ANNOTATION: &str = "kage.dev/sealed-at";
/// Annotation on an existing Secret that lets one SealedSecret take it over: its value must be
/// that SealedSecret's uid, so no other object of the same name (now or later) can.
pub const ADOPT_ANNOTATION: &str = "kage.dev/adopt";
/// The one field manager every write of the controller uses; key Secrets are loaded only when
/// their data was written under it.
pub const CONTROLLER_FIELD_MANAGER: &str = "kage-controller";
/// The field manager of the CLI's writes (the rotation request, the annotations of key
/// Secrets it marks as backed up or retired).
pub const CLI_FIELD_MANAGER: &str = "kage";
/// Label on every Secret the controller writes (value: the SealedSecret's name); the
/// controller watches only Secrets with this label.
pub const SEALED_SECRET_LABEL: &str = "kage.dev/sealed-secret";
/// Annotation on a written Secret: digest of what it was made from (sealed data, template).
pub const SOURCE_DIGEST_ANNOTATION: &str = "kage.dev/source-digest";
/// Annotation on a written Secret: `"true"` or `"false"`, whether kage wrote it immutable. Read
/// from metadata alone, it decides how the Secret is next written (replaced when immutable)
/// without looking at its data.
pub const IMMUTABLE_ANNOTATION: &str = "kage.dev/immutable";
/// Label on the Secrets in the controller's namespace that hold sealing keys.
pub const SEALING_KEY_LABEL: &str = "kage.dev/sealing-key";
/// Default namespace of the controller.
pub const DEFAULT_CONTROLLER_NAMESPACE: &str = "kage-system";
/// Default name of the controller's Deployment, Service and Lease.
pub const DEFAULT_CONTROLLER_NAME: &str = "kage-controller";
/// ConfigMap in the controller's namespace holding the public keys.
pub const PUBLIC_KEYS_CONFIGMAP: &str = "kage-public-keys";
/// Key of [`PUBLIC_KEYS_CONFIGMAP`] with the recipient new values are sealed to.
pub const CURRENT_RECIPIENT_KEY: &str = "recipient";
/// Key of [`PUBLIC_KEYS_CONFIGMAP`] with every key as JSON: fingerprint, recipient, createdAt.
pub const KEYS_JSON_KEY: &str = "keys.json";
/// Largest request body the controller's `/v1` endpoints accept (413 beyond).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Most SealedSecrets in one verify or reseal request to the controller.
pub const MAX_OBJECTS_PER_REQUEST: usize = 1000;
/// Most sealed values in one verify or reseal request: the crypto budget of one request
/// (about 60 ms of X25519 on one core).
pub const MAX_VALUES_PER_REQUEST: usize = 1000;
/// ConfigMap in the controller's namespace through which admins ask for a key rotation: RBAC
/// on this object, not reachability of a port, decides who may rotate.
pub const ROTATION_REQUEST_CONFIGMAP: &str = "kage-key-rotation";
/// Key of [`ROTATION_REQUEST_CONFIGMAP`]: an opaque id, new for each request.
pub const ROTATION_REQUEST_KEY: &str = "request";
/// Annotation the controller sets on [`ROTATION_REQUEST_CONFIGMAP`]: the last request it
/// handled (each request rotates at most once).
pub const ROTATION_HANDLED_ANNOTATION: &str = "kage.dev/handled-request";
/// Annotation the controller sets on [`ROTATION_REQUEST_CONFIGMAP`]: what became of that
/// request (`rotated: ...` or `refused: ...`).
pub const ROTATION_RESULT_ANNOTATION: &str = "kage.dev/rotation-result";

/// The Secret types of ordinary credentials: what a SealedSecret may ask for without a
/// controller flag, and what templates may write.
pub const ORDINARY_SECRET_TYPES: &[&str] = &[
    "Opaque",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
    "kubernetes.io/tls",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/dockercfg",
];

/// Whether a label or annotation key belongs to kage (`kage.dev/...` or `*.kage.dev/...`): only
/// kage writes them, never a SealedSecret's template.
pub fn is_kage_key(key: &str) -> bool {
    key.split_once('/').is_some_and(|(prefix, _)| {
        prefix == DOMAIN
            || prefix
                .strip_suffix(DOMAIN)
                .is_some_and(|p| p.ends_with('.'))
    })
}
