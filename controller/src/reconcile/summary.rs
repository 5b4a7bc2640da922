//! What the controller keeps of a SealedSecret between reconciles instead of the object.

use k8s_openapi::api::core::v1::ObjectReference;
use kage_core::Fingerprint;

use super::*;
use crate::ids::{ObjectKey, Uid, Version};
use crate::policy::TemplatePolicy;

/// What the controller keeps of a SealedSecret between reconciles: the store of SealedSecrets
/// holds these, not the objects. Name, namespace, uid, versions, the template policy's
/// verdict, a digest of what the Secret is made from, the keys each value is sealed to, and
/// what a status write compares; never a sealed value. A reconcile that must open values
/// fetches the object ([`with_values`]). `controller/tests/memory.rs` bounds its size.
#[derive(Clone, Debug)]
pub struct SealedSecretSummary {
    key: ObjectKey,
    uid: Option<Uid>,
    resource_version: Option<Version>,
    generation: Option<i64>,
    /// Why the template policy refuses it, if it does.
    refusal: Option<Box<Refusal>>,
    /// Digest of everything the Secret is made from ([`source_digest`]).
    digest: SourceDigest,
    /// The keys the values are sealed to.
    sealed_to: SealedTo,
    /// What the status says, if it has one.
    status: Option<StatusSummary>,
}

/// The distinct sets of keys the values are sealed to (an empty set for a value that does not
/// parse); almost always one set of one key, kept without an allocation.
#[derive(Clone, Debug)]
enum SealedTo {
    OneKey(Fingerprint),
    Sets(Box<[Box<[Fingerprint]>]>),
}

/// What a status write needs of the status as it stands.
#[derive(Clone, Debug)]
pub(super) struct StatusSummary {
    pub(super) observed_generation: Option<i64>,
    pub(super) secret_resource_version: Option<Version>,
    /// Kage's three conditions as they stand (others are only in the digest).
    pub(super) conditions: Conditions,
    /// [`conditions_digest`] of all the conditions as they stand.
    pub(super) conditions_digest: [u8; DIGEST_LEN],
}

/// The condition types kage writes, in the order it writes them.
pub(super) const CONDITION_TYPES: [&str; 3] = ["Ready", "Reconciling", "Stalled"];

/// The first condition of each type kage writes, if present.
#[derive(Clone, Debug, Default)]
pub(super) struct Conditions([Option<ConditionSummary>; 3]);

impl Conditions {
    fn of(conditions: &[Condition]) -> Self {
        let mut kept = Conditions::default();
        for (slot, type_) in kept.0.iter_mut().zip(CONDITION_TYPES) {
            *slot = conditions
                .iter()
                .find(|c| c.type_ == type_)
                .map(|c| ConditionSummary {
                    status: Word::of(&c.status),
                    reason: Word::of(&c.reason),
                    last_transition_time: c.last_transition_time.clone(),
                });
        }
        kept
    }

    /// The condition of `type_` (one of [`CONDITION_TYPES`]), if present.
    pub(super) fn get(&self, type_: &str) -> Option<&ConditionSummary> {
        let i = CONDITION_TYPES.iter().position(|t| *t == type_)?;
        self.0[i].as_ref()
    }
}

/// One of kage's conditions, without its message (the status write compares a digest instead).
#[derive(Clone, Debug)]
pub(super) struct ConditionSummary {
    pub(super) status: Word,
    pub(super) reason: Word,
    pub(super) last_transition_time: Time,
}

/// A word a condition is made of: one kage writes, or another (which never equals one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Word(u8);

/// The words kage writes in conditions.
const CONDITION_WORDS: [&str; 3] = ["True", "False", "Unknown"];

impl Word {
    const OTHER: Word = Word(u8::MAX);

    fn words() -> impl Iterator<Item = &'static str> {
        CONDITION_WORDS.into_iter().chain(READY_REASONS)
    }

    fn of(text: &str) -> Self {
        Word::words()
            .position(|w| w == text)
            .and_then(|i| u8::try_from(i).ok())
            .map_or(Word::OTHER, Word)
    }

    /// The word, if kage writes it.
    pub(super) fn as_str(self) -> Option<&'static str> {
        Word::words().nth(usize::from(self.0))
    }

    /// Whether this is `text`.
    pub(super) fn is(self, text: &str) -> bool {
        self.as_str() == Some(text)
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

impl SealedSecretSummary {
    /// The summary of `sealed`, with `policy`'s verdict on it.
    pub fn new(sealed: SealedSecret, policy: &TemplatePolicy) -> Self {
        let refusal = policy
            .check(sealed.namespace_or_empty(), sealed.spec.template.as_ref())
            .err()
            .map(Box::new);
        let digest = SourceDigest(source_digest_bytes(&sealed));
        let mut sets: Vec<Box<[Fingerprint]>> = Vec::new();
        for text in sealed.spec.encrypted_data.values() {
            let keys: Box<[Fingerprint]> = SealedValue::from_base64(text)
                .map(|v| v.recipients().into())
                .unwrap_or_default();
            if !sets.contains(&keys) {
                sets.push(keys);
            }
        }
        let sealed_to = match sets.as_slice() {
            [one] if one.len() == 1 => SealedTo::OneKey(one[0]),
            _ => SealedTo::Sets(sets.into()),
        };
        let status = sealed.status.map(|status| StatusSummary {
            observed_generation: status.observed_generation,
            secret_resource_version: status.secret_resource_version.as_deref().map(Version::new),
            conditions_digest: conditions_digest(&status.conditions),
            conditions: Conditions::of(&status.conditions),
        });
        let metadata = sealed.metadata;
        SealedSecretSummary {
            key: ObjectKey::of(&metadata),
            uid: metadata.uid.as_deref().map(Uid::new),
            resource_version: metadata.resource_version.as_deref().map(Version::new),
            generation: metadata.generation,
            refusal,
            digest,
            sealed_to,
            status,
        }
    }

    /// Its namespace and name.
    pub fn key(&self) -> &ObjectKey {
        &self.key
    }

    /// Namespace of the object, or "" when it has none.
    pub fn namespace_or_empty(&self) -> &str {
        self.key.namespace()
    }

    /// Name of the object, or "" when it has none.
    pub fn name_or_empty(&self) -> &str {
        self.key.name()
    }

    /// Its uid.
    pub fn uid(&self) -> Option<&Uid> {
        self.uid.as_ref()
    }

    /// Its resourceVersion.
    pub fn resource_version(&self) -> Option<&Version> {
        self.resource_version.as_ref()
    }

    /// Its generation.
    pub fn generation(&self) -> Option<i64> {
        self.generation
    }

    /// Whether `other` is the same object (uid) at the same generation: a status write leaves
    /// the generation as it is, so only a new object or a new generation wakes a reconcile.
    pub fn same_generation(&self, other: &SealedSecretSummary) -> bool {
        self.uid == other.uid && self.generation == other.generation
    }

    /// A reference to the object, for an Event.
    pub(super) fn object_ref(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some(SealedSecret::api_version(&()).into_owned()),
            kind: Some(SealedSecret::kind(&()).into_owned()),
            name: Some(self.name_or_empty().to_owned()),
            namespace: Some(self.namespace_or_empty().to_owned()),
            uid: self.uid.as_ref().map(Uid::to_string),
            ..ObjectReference::default()
        }
    }

    /// Why the template policy refuses it, if it does.
    pub(super) fn refusal(&self) -> Option<&Refusal> {
        self.refusal.as_deref()
    }

    /// What the status says, if it has one.
    pub(super) fn status(&self) -> Option<&StatusSummary> {
        self.status.as_ref()
    }

    /// The `Ready` condition's status (`True`, `False`, `Unknown`), if there is one and it is
    /// one of those.
    pub fn ready(&self) -> Option<&'static str> {
        self.ready_condition().and_then(|c| c.status.as_str())
    }

    pub(super) fn ready_condition(&self) -> Option<&ConditionSummary> {
        self.status()?.conditions.get("Ready")
    }

    /// The Secret's resourceVersion as the status last recorded it.
    pub(super) fn secret_resource_version(&self) -> Option<&Version> {
        self.status()?.secret_resource_version.as_ref()
    }

    /// The source digest, and whether every value names a key of `keys` that is active (a
    /// header check, no decryption: a value whose keys were all retired must go through a full
    /// reconcile to report it).
    pub(super) fn digest_and_openable(&self, keys: &KeySet) -> (SourceDigest, bool) {
        let openable = match &self.sealed_to {
            SealedTo::OneKey(key) => keys.ring.contains(key),
            SealedTo::Sets(sets) => sets
                .iter()
                .all(|set| set.iter().any(|f| keys.ring.contains(f))),
        };
        (self.digest, openable)
    }
}

/// The whole SealedSecret, values included, at least as new as `sealed`.
pub(super) async fn with_values(
    sealed: &SealedSecretSummary,
    ctx: &Context,
) -> Result<SealedSecret, Error> {
    let version = sealed
        .resource_version()
        .map_or_else(|| "0".to_owned(), Version::to_string);
    let api =
        Api::<SealedSecret>::namespaced(ctx.shared.client.clone(), sealed.namespace_or_empty());
    timed(api.get_with(sealed.name_or_empty(), &GetParams::at(&version)))
        .await
        .map_err(Error::api("reading the SealedSecret"))
}

/// Bytes of a source digest: the first 16 of a SHA-256.
const DIGEST_LEN: usize = 16;

/// Digest of everything the Secret is made from, as kage's annotation on the Secret says it
/// (the first 16 bytes of a SHA-256, in hex).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceDigest([u8; DIGEST_LEN]);

impl SourceDigest {
    /// The digest an annotation says, or `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.as_bytes();
        if text.len() != 2 * DIGEST_LEN {
            return None;
        }
        let mut bytes = [0; DIGEST_LEN];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        // Only the form kage writes (lowercase) is one.
        (hex(&bytes).as_bytes() == text).then_some(SourceDigest(bytes))
    }
}

impl std::fmt::Display for SourceDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// Digest of everything the Secret is made from, as kage's annotation on the Secret says it.
pub(super) fn source_digest(sealed: &SealedSecret) -> SourceDigest {
    SourceDigest(source_digest_bytes(sealed))
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
