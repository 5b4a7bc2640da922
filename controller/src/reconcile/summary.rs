//! What the controller keeps of a SealedSecret between reconciles instead of its values.

use super::*;

/// Annotation set only on the controller's in-memory copy of a SealedSecret, never written to
/// the API: its [`Summary`] as JSON.
pub(super) const SUMMARY_ANNOTATION: &str = "kage.dev/controller-summary";

/// What the controller keeps of a SealedSecret between reconciles instead of its values.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Summary {
    /// Digest of everything the Secret is made from ([`source_digest`]).
    digest: String,
    /// Per value, the fingerprints of the keys it is sealed to; `None` for a value that does
    /// not parse.
    sealed_to: Vec<Option<Vec<String>>>,
}

impl Summary {
    pub(super) fn of(sealed: &SealedSecret) -> Self {
        Summary {
            digest: source_digest(sealed),
            sealed_to: sealed
                .spec
                .encrypted_data
                .values()
                .map(|text| {
                    SealedValue::from_base64(text)
                        .ok()
                        .map(|v| v.recipients().iter().map(ToString::to_string).collect())
                })
                .collect(),
        }
    }

    /// The summary kept in `sealed`, if it is a summarized copy.
    pub(super) fn kept_in(sealed: &SealedSecret) -> Option<Self> {
        serde_json::from_str(summary_text(sealed)?).ok()
    }

    /// Whether every value names a key of `keys` that is active (a header check, no
    /// decryption: a value whose keys were all retired must go through a full reconcile to
    /// report it).
    pub(super) fn openable(&self, keys: &KeySet) -> bool {
        self.sealed_to.iter().all(|sealed_to| {
            sealed_to.iter().flatten().any(|f| {
                f.parse::<kage_core::Fingerprint>()
                    .is_ok_and(|f| keys.ring.contains(&f))
            })
        })
    }
}

/// The summary annotation of a summarized copy (whose values were dropped).
pub(super) fn summary_text(sealed: &SealedSecret) -> Option<&String> {
    sealed
        .metadata
        .annotations
        .as_ref()?
        .get(SUMMARY_ANNOTATION)
}

/// Shrinks a SealedSecret to what the controller keeps between reconciles: name, uid,
/// versions, template, status and its [`Summary`]. The sealed values themselves are dropped; a
/// reconcile that must open them fetches the object. This keeps the controller's memory at a
/// few hundred bytes per SealedSecret, however large its values.
pub fn summarize(sealed: &mut SealedSecret) {
    let metadata = &mut sealed.metadata;
    metadata.managed_fields = None;
    metadata.labels = None;
    metadata.owner_references = None;
    let summary = serde_json::to_string(&Summary::of(sealed)).unwrap_or_default();
    sealed.spec.encrypted_data = BTreeMap::new();
    sealed.metadata.annotations = Some([(SUMMARY_ANNOTATION.to_owned(), summary)].into());
}

/// The source digest of a SealedSecret, and whether every value still names an active key.
pub(super) fn digest_and_openable(sealed: &SealedSecret, keys: &KeySet) -> (String, bool) {
    let summary = Summary::kept_in(sealed).unwrap_or_else(|| Summary::of(sealed));
    let openable = summary.openable(keys);
    (summary.digest, openable)
}

/// The whole SealedSecret, values included, at least as new as `sealed` (fetched when the
/// controller only keeps its summary).
pub(super) async fn with_values<'a>(
    sealed: &'a SealedSecret,
    ctx: &Context,
) -> Result<std::borrow::Cow<'a, SealedSecret>, Error> {
    if summary_text(sealed).is_none() {
        return Ok(std::borrow::Cow::Borrowed(sealed));
    }
    let version = sealed.metadata.resource_version.as_deref().unwrap_or("0");
    let api =
        Api::<SealedSecret>::namespaced(ctx.shared.client.clone(), sealed.namespace_or_empty());
    timed(api.get_with(sealed.name_or_empty(), &GetParams::at(version)))
        .await
        .map(std::borrow::Cow::Owned)
        .map_err(Error::api("reading the SealedSecret"))
}

/// Digest of everything the Secret is made from.
pub(super) fn source_digest(sealed: &SealedSecret) -> String {
    let source = json!({
        "uid": sealed.metadata.uid,
        "encryptedData": sealed.spec.encrypted_data,
        "template": sealed.spec.template,
    });
    let digest = Sha256::digest(source.to_string().as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}
