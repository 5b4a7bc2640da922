//! What the controller keeps of a SealedSecret between reconciles instead of the object.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use kage_core::Fingerprint;

use super::*;
use crate::policy::TemplatePolicy;

/// What the controller keeps of a SealedSecret between reconciles: the store of SealedSecrets
/// holds these, not the objects. Name, namespace, uid, versions, the template policy's
/// verdict, a digest of what the Secret is made from, the keys each value is sealed to, and
/// what a status write compares; never a sealed value. A reconcile that must open values
/// fetches the object ([`with_values`]). `controller/tests/memory.rs` bounds its size.
#[derive(Clone, Debug)]
pub struct SealedSecretSummary {
    /// Name, namespace, uid, resourceVersion and generation; nothing else.
    pub metadata: ObjectMeta,
    /// Why the template policy refuses it, if it does.
    refusal: Option<Box<Refusal>>,
    /// Digest of everything the Secret is made from ([`source_digest`]).
    digest: [u8; DIGEST_LEN],
    /// The distinct sets of keys the values are sealed to (usually one); an empty set for a
    /// value that does not parse.
    sealed_to: Box<[Box<[Fingerprint]>]>,
    /// What the status says, if it has one.
    status: Option<StatusSummary>,
}

/// What a status write needs of the status as it stands.
#[derive(Clone, Debug)]
pub(super) struct StatusSummary {
    pub(super) observed_generation: Option<i64>,
    pub(super) secret_resource_version: Option<String>,
    /// Type, status, reason and transition time of each condition, in order.
    pub(super) conditions: Box<[ConditionSummary]>,
    /// [`conditions_digest`] of the conditions as they stand.
    pub(super) conditions_digest: [u8; DIGEST_LEN],
}

/// One condition, without its message (the status write compares a digest instead).
#[derive(Clone, Debug)]
pub(super) struct ConditionSummary {
    pub(super) type_: Cow<'static, str>,
    pub(super) status: Cow<'static, str>,
    pub(super) reason: Cow<'static, str>,
    pub(super) last_transition_time: Time,
}

/// The words a condition is made of, kept without an allocation of their own.
const CONDITION_WORDS: [&str; 6] = [
    "Ready",
    "Reconciling",
    "Stalled",
    "True",
    "False",
    "Unknown",
];

fn word(text: String) -> Cow<'static, str> {
    match CONDITION_WORDS
        .iter()
        .chain(READY_REASONS.iter())
        .find(|w| **w == text)
    {
        Some(w) => Cow::Borrowed(*w),
        None => Cow::Owned(text),
    }
}

/// A digest of what a status write compares in `conditions`: type, status, reason, message and
/// observedGeneration of each, in order (the transition time is not compared).
pub(super) fn conditions_digest<'a>(
    conditions: impl IntoIterator<Item = &'a Condition>,
) -> [u8; DIGEST_LEN] {
    let parts: Vec<_> = conditions
        .into_iter()
        .map(|c| {
            json!([
                c.type_,
                c.status,
                c.reason,
                c.message,
                c.observed_generation
            ])
        })
        .collect();
    first_bytes(&Sha256::digest(
        serde_json::Value::Array(parts).to_string().as_bytes(),
    ))
}

/// The controller's store is filled from a watch of SealedSecrets ([`summarize`]); kube's
/// `Controller` asks every resource type to be readable, but a summary is never read.
impl<'de> serde::Deserialize<'de> for SealedSecretSummary {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "a SealedSecret summary is made by the controller, never read",
        ))
    }
}

impl SealedSecretSummary {
    /// The summary of `sealed`, with `policy`'s verdict on it.
    pub fn new(sealed: SealedSecret, policy: &TemplatePolicy) -> Self {
        let refusal = policy
            .check(sealed.namespace_or_empty(), sealed.spec.template.as_ref())
            .err()
            .map(Box::new);
        let digest = source_digest_bytes(&sealed);
        let mut sealed_to: Vec<Box<[Fingerprint]>> = Vec::new();
        for text in sealed.spec.encrypted_data.values() {
            let keys: Box<[Fingerprint]> = SealedValue::from_base64(text)
                .map(|v| v.recipients().into())
                .unwrap_or_default();
            if !sealed_to.contains(&keys) {
                sealed_to.push(keys);
            }
        }
        let status = sealed.status.map(|status| StatusSummary {
            observed_generation: status.observed_generation,
            secret_resource_version: status.secret_resource_version,
            conditions_digest: conditions_digest(&status.conditions),
            conditions: status
                .conditions
                .into_iter()
                .map(|c| ConditionSummary {
                    type_: word(c.type_),
                    status: word(c.status),
                    reason: word(c.reason),
                    last_transition_time: c.last_transition_time,
                })
                .collect(),
        });
        let metadata = sealed.metadata;
        SealedSecretSummary {
            metadata: ObjectMeta {
                name: metadata.name,
                namespace: metadata.namespace,
                uid: metadata.uid,
                resource_version: metadata.resource_version,
                generation: metadata.generation,
                ..ObjectMeta::default()
            },
            refusal,
            digest,
            sealed_to: sealed_to.into(),
            status,
        }
    }
}

/// A watch event on SealedSecrets as one on their summaries, with `policy`'s verdicts: what
/// the store keeps.
pub fn summarize(
    event: kube::runtime::watcher::Event<SealedSecret>,
    policy: &TemplatePolicy,
) -> kube::runtime::watcher::Event<SealedSecretSummary> {
    use kube::runtime::watcher::Event;
    let summary = |s| SealedSecretSummary::new(s, policy);
    match event {
        Event::Apply(s) => Event::Apply(summary(s)),
        Event::Delete(s) => Event::Delete(summary(s)),
        Event::Init => Event::Init,
        Event::InitApply(s) => Event::InitApply(summary(s)),
        Event::InitDone => Event::InitDone,
    }
}

/// Whether `summary` is an object `store` does not hold yet, or a generation of it the store
/// does not hold: what wakes a reconcile (a status write leaves the generation as it is).
pub fn is_new_generation(
    store: &kube::runtime::reflector::Store<SealedSecretSummary>,
    summary: &SealedSecretSummary,
) -> bool {
    let known = store.get(&kube::runtime::reflector::ObjectRef::from_obj(summary));
    !known.is_some_and(|known| {
        known.metadata.uid == summary.metadata.uid
            && known.metadata.generation == summary.metadata.generation
    })
}

impl Resource for SealedSecretSummary {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        SealedSecret::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        SealedSecret::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        SealedSecret::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        SealedSecret::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl SealedSecretSummary {
    /// Namespace of the object, or "" when it has none.
    pub fn namespace_or_empty(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("")
    }

    /// Name of the object, or "" when it has none.
    pub fn name_or_empty(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    /// Why the template policy refuses it, if it does.
    pub(super) fn refusal(&self) -> Option<&Refusal> {
        self.refusal.as_deref()
    }

    /// What the status says, if it has one.
    pub(super) fn status(&self) -> Option<&StatusSummary> {
        self.status.as_ref()
    }

    /// The `Ready` condition's status (`True`, `False`, `Unknown`), if there is one.
    pub fn ready(&self) -> Option<&str> {
        self.ready_condition().map(|c| &*c.status)
    }

    pub(super) fn ready_condition(&self) -> Option<&ConditionSummary> {
        self.status()?
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
    }

    /// The Secret's resourceVersion as the status last recorded it.
    pub(super) fn secret_resource_version(&self) -> Option<&String> {
        self.status()?.secret_resource_version.as_ref()
    }

    /// The source digest, and whether every value names a key of `keys` that is active (a
    /// header check, no decryption: a value whose keys were all retired must go through a full
    /// reconcile to report it).
    pub(super) fn digest_and_openable(&self, keys: &KeySet) -> (String, bool) {
        let openable = self
            .sealed_to
            .iter()
            .all(|set| set.iter().any(|f| keys.ring.contains(f)));
        (hex(&self.digest), openable)
    }
}

/// The whole SealedSecret, values included, at least as new as `sealed`.
pub(super) async fn with_values(
    sealed: &SealedSecretSummary,
    ctx: &Context,
) -> Result<SealedSecret, Error> {
    let version = sealed.metadata.resource_version.as_deref().unwrap_or("0");
    let api =
        Api::<SealedSecret>::namespaced(ctx.shared.client.clone(), sealed.namespace_or_empty());
    timed(api.get_with(sealed.name_or_empty(), &GetParams::at(version)))
        .await
        .map_err(Error::api("reading the SealedSecret"))
}

/// Bytes of a source digest: the first 16 of a SHA-256.
const DIGEST_LEN: usize = 16;

/// Digest of everything the Secret is made from, as kage's annotation on the Secret says it.
pub(super) fn source_digest(sealed: &SealedSecret) -> String {
    hex(&source_digest_bytes(sealed))
}

fn source_digest_bytes(sealed: &SealedSecret) -> [u8; DIGEST_LEN] {
    let source = json!({
        "uid": sealed.metadata.uid,
        "encryptedData": sealed.spec.encrypted_data,
        "template": sealed.spec.template,
    });
    first_bytes(&Sha256::digest(source.to_string().as_bytes()))
}

fn first_bytes(digest: &[u8]) -> [u8; DIGEST_LEN] {
    let mut first = [0; DIGEST_LEN];
    first.copy_from_slice(&digest[..DIGEST_LEN]);
    first
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
