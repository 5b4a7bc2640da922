//! Turning one SealedSecret into its Secret.
//!
//! The Secret has the SealedSecret's name and namespace, is owned by it, and is written with
//! server-side apply under one field manager. Nothing is written when nothing changed: the
//! Secret carries a digest of what it was made from, and the SealedSecret's status remembers
//! the Secret's resourceVersion, so a resync costs one metadata read and no decryption.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kage_api::seal::ConvertError;
use kage_api::unseal::unseal;
use kage_api::{
    ADOPT_ANNOTATION, CONTROLLER_FIELD_MANAGER as FIELD_MANAGER, IMMUTABLE_ANNOTATION,
    SEALED_SECRET_LABEL, SOURCE_DIGEST_ANNOTATION, SealedSecret,
};
use kage_core::{OpenError, SealedValue};
use kube::api::{DeleteParams, GetParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit;
use crate::metrics::{ReasonLabel, ResultLabel};
use crate::owned::{OwnedSecrets, SecretFacts};
use crate::policy::{Refusal, TemplatePolicy};
use crate::sealing_keys::{KeySet, wipe_secret};
use crate::state::Shared;

/// How often an unchanged SealedSecret is looked at again.
pub const RESYNC_PERIOD: Duration = Duration::from_secs(30 * 60);
/// Wait before retrying a SealedSecret whose reconcile failed.
pub const RETRY_DELAY: Duration = Duration::from_secs(15);

/// How long a reconcile waits for the first list of the owned Secrets before it asks the API
/// server for its Secret instead.
pub const OWNED_SECRETS_WAIT: Duration = Duration::from_secs(5);
/// Longest wait for one API call of a reconcile; beyond it the reconcile fails (`ApiError`) and
/// is retried, instead of holding one of the workers.
pub const API_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// `call`, given at most [`API_CALL_TIMEOUT`]: the outer error is the timeout, the inner one the
/// API's (which the caller may look into).
async fn timed<T>(
    action: &'static str,
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<Result<T, kube::Error>, Error> {
    tokio::time::timeout(API_CALL_TIMEOUT, call)
        .await
        .map_err(|_| Error::Api {
            action,
            source: kube::Error::Service(
                format!("no answer within {}s", API_CALL_TIMEOUT.as_secs()).into(),
            ),
        })
}

/// Everything a reconcile needs, built once.
pub struct Context {
    /// Client, keys and metrics (shared with the endpoints and the key watcher).
    pub shared: Shared,
    /// Publishes Events.
    pub recorder: Recorder,
    /// The Secrets kage wrote, kept by a watch: an existing Secret is looked up here, not
    /// fetched.
    pub owned_secrets: OwnedSecrets,
    /// What a SealedSecret may make the controller write.
    pub policy: TemplatePolicy,
}

/// Why a SealedSecret could not be turned into its Secret. Messages never contain a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value is bound to another namespace, name or key.
    #[error("{}", kage_api::error_chain(.0))]
    Binding(#[source] ConvertError),
    /// No key held by the controller can open a value.
    #[error("{}", kage_api::error_chain(.0))]
    NoKey(#[source] ConvertError),
    /// The only keys that could open a value are retired here.
    #[error(
        "{}; the key it was sealed to is retired: reseal it (`kage reseal`)",
        kage_api::error_chain(.0)
    )]
    KeyRetired(#[source] ConvertError),
    /// A value is malformed or was tampered with.
    #[error("{}", kage_api::error_chain(.0))]
    Tampered(#[source] ConvertError),
    /// `spec.template.data` is refused, before any value is opened.
    #[error("the Secret built from spec.template is invalid: {0}")]
    Template(#[source] kage_api::template::TemplateError),
    /// A Secret of that name exists and belongs to someone else.
    #[error(
        "Secret {name} already exists and is not managed by kage; to let this SealedSecret take it over, annotate it {ADOPT_ANNOTATION}={uid}"
    )]
    NotOwned {
        /// The Secret.
        name: String,
        /// The SealedSecret's uid, the value that adoption needs.
        uid: String,
    },
    /// The SealedSecret asks for a Secret the controller does not write for anyone.
    #[error(transparent)]
    Refused(Refusal),
    /// The API server refused the Secret built from the template.
    #[error("the Secret built from spec.template is invalid: {0}")]
    InvalidTemplate(String),
    /// Any other API failure (including missing RBAC).
    #[error("Kubernetes API error while {action}: {source}")]
    Api {
        /// What the controller was doing.
        action: &'static str,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// Every reason the Ready condition can carry: `Unsealed`, and each [`Error::reason`].
/// `docs/troubleshooting.md` has a section for each (a test checks it).
pub const READY_REASONS: [&str; 10] = [
    "Unsealed",
    "BindingMismatch",
    "NoMatchingKey",
    "KeyRetired",
    "InvalidSealedValue",
    "SecretNotOwned",
    "NamespaceRefused",
    "TemplateRefused",
    "InvalidTemplate",
    "ApiError",
];

impl Error {
    /// Short category: the Ready condition's reason, the Event reason, the metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Binding(_) => "BindingMismatch",
            Error::NoKey(_) => "NoMatchingKey",
            Error::KeyRetired(_) => "KeyRetired",
            Error::Tampered(_) => "InvalidSealedValue",
            Error::NotOwned { .. } => "SecretNotOwned",
            Error::Refused(Refusal::ControllerNamespace(_)) => "NamespaceRefused",
            Error::Refused(_) => "TemplateRefused",
            Error::InvalidTemplate(_) | Error::Template(_) => "InvalidTemplate",
            Error::Api { .. } => "ApiError",
        }
    }

    /// Whether only a change (to the object, its Secret or the keys) can mend this: the
    /// controller will not succeed by retrying. Such an error is `Stalled=True`, which Flux's
    /// kstatus reads as `Failed` at once; the others are `Reconciling=True` (`InProgress`).
    pub fn is_stalled(&self) -> bool {
        !matches!(self, Error::Api { .. })
    }

    fn from_unseal(e: ConvertError, keys: &KeySet) -> Self {
        match e {
            ConvertError::Template(e) => Error::Template(e),
            ConvertError::Open {
                source: OpenError::Binding(_),
                ..
            } => Error::Binding(e),
            ConvertError::Open { ref source, .. } if keys.sealed_only_to_retired(source) => {
                Error::KeyRetired(e)
            }
            ConvertError::Open {
                source: OpenError::NoKey { .. },
                ..
            } => Error::NoKey(e),
            _ => Error::Tampered(e),
        }
    }

    fn api(action: &'static str) -> impl FnOnce(kube::Error) -> Error {
        move |source| Error::Api { action, source }
    }
}

/// Brings the Secret of `sealed` up to date and records the outcome in its status.
pub async fn reconcile(sealed: Arc<SealedSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let outcome = sync(&sealed, &ctx).await;
    ctx.shared
        .metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    let result = match &outcome {
        Ok(_) => "ok",
        Err(e) => e.reason(),
    };
    ctx.shared
        .metrics
        .reconciles
        .get_or_create(&ResultLabel {
            result: result.to_owned(),
        })
        .inc();
    let (ready, reason, message, secret_version) = match &outcome {
        Ok(version) => (
            "True",
            "Unsealed",
            format!("Secret {} is up to date", sealed.name_any()),
            version.clone(),
        ),
        Err(e) => (
            "False",
            e.reason(),
            e.to_string(),
            sealed
                .status
                .as_ref()
                .and_then(|s| s.secret_resource_version.clone()),
        ),
    };
    match &outcome {
        Ok(_) => tracing::debug!(
            namespace = sealed.namespace_or_empty(),
            name = sealed.name_or_empty(),
            "in sync"
        ),
        Err(e) => {
            tracing::warn!(namespace = sealed.namespace_or_empty(), name = sealed.name_or_empty(), reason = e.reason(), error = %e, "not ready")
        }
    }
    let first_unseal = sealed.ready_condition().is_none() && outcome.is_ok();
    let progress = match &outcome {
        Ok(_) => Progress::Done,
        Err(e) if e.is_stalled() => Progress::Stalled,
        Err(_) => Progress::Retrying,
    };
    let transition = update_status(
        &sealed,
        &ctx,
        &Verdict {
            ready,
            reason,
            message: &message,
            progress,
        },
        secret_version,
    )
    .await?;
    if transition
        && let Err(e) = &outcome
        && !matches!(e, Error::Api { .. })
    {
        ctx.shared
            .metrics
            .unseal_failures
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }
    // Events mark changes an operator cares about: a failure, or the recovery from one. The
    // first unseal of a new object is not one (it would double the writes of a cold sync).
    if transition && !first_unseal {
        let event = Event {
            type_: if ready == "True" {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: reason.to_owned(),
            note: Some(message),
            action: "Unseal".to_owned(),
            secondary: None,
        };
        let published = timed(
            "publishing an Event",
            ctx.recorder.publish(&event, &sealed.object_ref(&())),
        )
        .await
        .and_then(|answer| answer.map_err(Error::api("publishing an Event")));
        if let Err(e) = published {
            tracing::warn!(error = %e, "cannot publish event");
        }
    }
    outcome.map(|_| Action::requeue(RESYNC_PERIOD))
}

/// Retry failed reconciles after a fixed delay.
pub fn error_policy(_sealed: Arc<SealedSecret>, _error: &Error, _ctx: Arc<Context>) -> Action {
    Action::requeue(RETRY_DELAY)
}

/// Annotation set only on the controller's in-memory copy of a SealedSecret, never written to
/// the API: its [`Summary`] as JSON.
const SUMMARY_ANNOTATION: &str = "kage.dev/controller-summary";

/// What the controller keeps of a SealedSecret between reconciles instead of its values.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Summary {
    /// Digest of everything the Secret is made from ([`source_digest`]).
    digest: String,
    /// Per value, the fingerprints of the keys it is sealed to; `None` for a value that does
    /// not parse.
    sealed_to: Vec<Option<Vec<String>>>,
}

impl Summary {
    fn of(sealed: &SealedSecret) -> Self {
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
    fn kept_in(sealed: &SealedSecret) -> Option<Self> {
        serde_json::from_str(summary_text(sealed)?).ok()
    }

    /// Whether every value names a key of `keys` that is active (a header check, no
    /// decryption: a value whose keys were all retired must go through a full reconcile to
    /// report it).
    fn openable(&self, keys: &KeySet) -> bool {
        self.sealed_to.iter().all(|sealed_to| {
            sealed_to.iter().flatten().any(|f| {
                f.parse::<kage_core::Fingerprint>()
                    .is_ok_and(|f| keys.ring.contains(&f))
            })
        })
    }
}

/// The summary annotation of a summarized copy (whose values were dropped).
fn summary_text(sealed: &SealedSecret) -> Option<&String> {
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
fn digest_and_openable(sealed: &SealedSecret, keys: &KeySet) -> (String, bool) {
    let summary = Summary::kept_in(sealed).unwrap_or_else(|| Summary::of(sealed));
    let openable = summary.openable(keys);
    (summary.digest, openable)
}

/// The whole SealedSecret, values included, at least as new as `sealed` (fetched when the
/// controller only keeps its summary).
async fn with_values<'a>(
    sealed: &'a SealedSecret,
    ctx: &Context,
) -> Result<std::borrow::Cow<'a, SealedSecret>, Error> {
    if summary_text(sealed).is_none() {
        return Ok(std::borrow::Cow::Borrowed(sealed));
    }
    let version = sealed.metadata.resource_version.as_deref().unwrap_or("0");
    let api =
        Api::<SealedSecret>::namespaced(ctx.shared.client.clone(), sealed.namespace_or_empty());
    timed(
        "reading the SealedSecret",
        api.get_with(sealed.name_or_empty(), &GetParams::at(version)),
    )
    .await?
    .map(std::borrow::Cow::Owned)
    .map_err(Error::api("reading the SealedSecret"))
}

/// Digest of everything the Secret is made from.
fn source_digest(sealed: &SealedSecret) -> String {
    let source = json!({
        "uid": sealed.metadata.uid,
        "encryptedData": sealed.spec.encrypted_data,
        "template": sealed.spec.template,
    });
    let digest = Sha256::digest(source.to_string().as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Returns the resourceVersion of the Secret as it now stands.
#[allow(
    clippy::expect_used,
    reason = "a SealedSecret is namespaced, so it has an owner reference"
)]
async fn sync(sealed: &SealedSecret, ctx: &Context) -> Result<Option<String>, Error> {
    // Refused before any value is opened or anything is written.
    ctx.policy.check(sealed).map_err(Error::Refused)?;
    let namespace = sealed.namespace_or_empty();
    let name = sealed.name_or_empty();
    let secrets: Api<Secret> = Api::namespaced(ctx.shared.client.clone(), namespace);
    let (digest, openable) = digest_and_openable(sealed, &ctx.shared.keys.snapshot());
    // Every Secret kage wrote is in the index. One that is not may still exist without our
    // label (someone else's, or one marked for adoption): ask the API server's cache.
    // Reconciling before the index is filled would fetch every Secret; the controller keeps
    // filling it meanwhile. If the watch cannot list (no RBAC for Secrets), a miss asks the API
    // and the error it gets becomes the condition.
    let _ = tokio::time::timeout(OWNED_SECRETS_WAIT, ctx.owned_secrets.wait_until_ready()).await;
    let existing = match ctx.owned_secrets.get(namespace, name) {
        Some(facts) => Some(facts),
        None => read_facts(&secrets, name, GetParams::any()).await?,
    };
    let target = Target::of(sealed, existing)?;
    if let Target::Existing(facts) = &target {
        let last_written = sealed
            .status
            .as_ref()
            .and_then(|s| s.secret_resource_version.as_ref());
        let owned = facts
            .owner_uids
            .iter()
            .any(|u| Some(u) == sealed.metadata.uid.as_ref());
        let as_written = facts.resource_version.as_ref().is_some_and(|version| {
            Some(version) == last_written || ctx.owned_secrets.wrote(namespace, name, version)
        });
        if owned && openable && facts.source_digest.as_ref() == Some(&digest) && as_written {
            return Ok(facts.resource_version.clone());
        }
    }

    let sealed = &*with_values(sealed, ctx).await?;
    let digest = source_digest(sealed);
    let secret = {
        let keys = ctx.shared.keys.snapshot();
        let secret = unseal(sealed, &keys.ring);
        if let Err(e) = &secret {
            audit::unseal(namespace, name, &[], &kage_api::error_chain(e));
        }
        secret.map_err(|e| Error::from_unseal(e, &keys))?
    };
    audit::unseal(namespace, name, &secret.opened_with, "ok");
    if secret.rendered {
        ctx.shared.metrics.count_template_render();
    }
    // The Secret as `kage unseal` prints it, plus what marks it as this SealedSecret's.
    let mut body = secret.to_document();
    body["metadata"]["labels"][SEALED_SECRET_LABEL] = json!(name);
    body["metadata"]["annotations"][SOURCE_DIGEST_ANNOTATION] = json!(digest);
    let immutable = body["immutable"] == json!(true);
    body["metadata"]["annotations"][IMMUTABLE_ANNOTATION] = json!(immutable.to_string());
    body["metadata"]["ownerReferences"] =
        json!([sealed.controller_owner_ref(&()).expect("namespaced object")]);
    let mut result = write(&secrets, name, &mut body, &target).await;
    // The index was behind (or someone wrote in between): look again at the live Secret, check
    // it is still ours to write, and try once more on its version.
    if matches!(&result, Err(Error::Api { source: kube::Error::Api(s), .. }) if s.code == 409) {
        let fresh = read_facts(&secrets, name, GetParams::default()).await?;
        let target = Target::of(sealed, fresh)?;
        result = write(&secrets, name, &mut body, &target).await;
    }
    kage_api::manifest::wipe(&mut body);
    if let Ok(Some(version)) = &result {
        ctx.owned_secrets
            .record_write(namespace, name, version.clone());
    }
    result
}

async fn read_facts(
    secrets: &Api<Secret>,
    name: &str,
    params: GetParams,
) -> Result<Option<SecretFacts>, Error> {
    Ok(timed(
        "reading the Secret",
        secrets.get_metadata_opt_with(name, &params),
    )
    .await?
    .map_err(Error::api("reading the Secret"))?
    .map(|meta| SecretFacts::of(&meta)))
}

/// The Secret a reconcile writes: a new one, or one that exists and may be written (it is
/// owned by this SealedSecret, or marked for adoption by exactly this SealedSecret's uid).
enum Target {
    New,
    Existing(SecretFacts),
}

impl Target {
    fn of(sealed: &SealedSecret, existing: Option<SecretFacts>) -> Result<Self, Error> {
        let Some(facts) = existing else {
            return Ok(Target::New);
        };
        let uid = sealed.metadata.uid.clone().unwrap_or_default();
        let owned = facts.owner_uids.contains(&uid);
        let adopting = !uid.is_empty() && facts.adopt_by.as_ref() == Some(&uid);
        if owned || adopting {
            Ok(Target::Existing(facts))
        } else {
            Err(Error::NotOwned {
                name: sealed.name_or_empty().to_owned(),
                uid,
            })
        }
    }
}

/// Writes the Secret: created when absent (failing if one appeared meanwhile), else applied
/// on the exact uid and resourceVersion that were checked. Returns its new resourceVersion.
///
/// Which requests are sent depends on the Secret's metadata and the sealed input only, never
/// on the values: an immutable Secret is always replaced (deleted on the checked version, then
/// created), since an apply would succeed when the new values equal the old ones and be refused
/// otherwise, telling an editor of the SealedSecret whether a sealed guess was right. A mutable
/// Secret is always changed by the apply, because the source digest annotation changes with
/// every new sealed input.
async fn write(
    secrets: &Api<Secret>,
    name: &str,
    body: &mut serde_json::Value,
    target: &Target,
) -> Result<Option<String>, Error> {
    let facts = match target {
        Target::New => return create(secrets, body).await,
        Target::Existing(facts) => facts,
    };
    let immutable = match facts.immutable {
        Some(immutable) => immutable,
        None => read_immutable(secrets, name).await?,
    };
    if immutable {
        return replace(secrets, body, facts).await;
    }
    body["metadata"]["uid"] = json!(facts.uid);
    body["metadata"]["resourceVersion"] = json!(facts.resource_version);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let attempt = timed(
        "writing the Secret",
        secrets.patch(name, &params, &Patch::Apply(&*body)),
    )
    .await;
    strip_preconditions(body);
    match attempt? {
        Ok(mut written) => {
            let version = remove_stale_keys(secrets, name, body, &written).await;
            wipe_secret(&mut written);
            version
        }
        // The type cannot change in place (a public field), nor the data of a Secret made
        // immutable by hand behind kage's annotation: replace it.
        Err(kube::Error::Api(status))
            if status.code == 422 && status.message.contains("immutable") =>
        {
            replace(secrets, body, facts).await
        }
        Err(kube::Error::Api(status)) if status.code == 422 => Err(refused_by_api(&status)),
        Err(e) => Err(Error::api("writing the Secret")(e)),
    }
}

/// Whether a Secret kage has not annotated (one to adopt, or written by an older kage) is
/// immutable: read whole once, its data wiped at once.
async fn read_immutable(secrets: &Api<Secret>, name: &str) -> Result<bool, Error> {
    let mut secret = timed("reading the Secret", secrets.get(name))
        .await?
        .map_err(Error::api("reading the Secret"))?;
    wipe_secret(&mut secret);
    Ok(secret.immutable == Some(true))
}

/// Deletes exactly the version that was checked, then creates the Secret anew.
async fn replace(
    secrets: &Api<Secret>,
    body: &serde_json::Value,
    facts: &SecretFacts,
) -> Result<Option<String>, Error> {
    let name = body["metadata"]["name"].as_str().unwrap_or_default();
    let precondition = DeleteParams {
        preconditions: Some(Preconditions {
            uid: facts.uid.clone(),
            resource_version: facts.resource_version.clone(),
        }),
        ..DeleteParams::default()
    };
    timed(
        "replacing an immutable Secret",
        secrets.delete(name, &precondition),
    )
    .await?
    .map_err(Error::api("replacing an immutable Secret"))?;
    create(secrets, body).await
}

fn strip_preconditions(body: &mut serde_json::Value) {
    if let Some(metadata) = body["metadata"].as_object_mut() {
        metadata.remove("uid");
        metadata.remove("resourceVersion");
    }
}

/// Creates the Secret; fails (409) if a Secret of that name appeared since it was looked up.
async fn create(secrets: &Api<Secret>, body: &serde_json::Value) -> Result<Option<String>, Error> {
    // Read from the body in place: a clone would leave an unwiped copy of every value.
    let mut secret = <Secret as serde::Deserialize>::deserialize(body)
        .map_err(|_| Error::InvalidTemplate("the Secret's body is not a Secret".to_owned()))?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let created = timed("creating the Secret", secrets.create(&params, &secret)).await;
    wipe_secret(&mut secret);
    match created? {
        Ok(mut written) => {
            wipe_secret(&mut written);
            Ok(written.metadata.resource_version)
        }
        Err(kube::Error::Api(status)) if status.code == 422 => Err(refused_by_api(&status)),
        Err(e) => Err(Error::api("creating the Secret")(e)),
    }
}

/// The API server's refusal of a Secret, without what it says about `data`: its validation
/// messages can quote a byte of a value ("invalid character 'h' ..." for a
/// `.dockerconfigjson`), and this text becomes the status and an Event.
fn refused_by_api(status: &kube::core::Status) -> Error {
    let causes: Vec<String> = status
        .details
        .iter()
        .flat_map(|d| &d.causes)
        .map(|cause| {
            if cause.field.starts_with("data") {
                format!("{}: {}", cause.field, cause.reason)
            } else {
                format!("{}: {}", cause.field, cause.message)
            }
        })
        .collect();
    Error::InvalidTemplate(if causes.is_empty() {
        format!("the API server refused it ({})", status.reason)
    } else {
        causes.join("; ")
    })
}

/// Data keys the applied body no longer has but the Secret still holds (left by its creation,
/// which server-side apply does not own, or added by hand) are removed, on the version just
/// written. Returns the Secret's resourceVersion.
async fn remove_stale_keys(
    secrets: &Api<Secret>,
    name: &str,
    body: &serde_json::Value,
    written: &Secret,
) -> Result<Option<String>, Error> {
    let version = written.metadata.resource_version.clone();
    let stale: Vec<&String> = written
        .data
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .filter(|k| body["data"].get(k.as_str()).is_none())
        .collect();
    if stale.is_empty() {
        return Ok(version);
    }
    // A merge patch carrying the resourceVersion is refused if the Secret changed meanwhile.
    let removals: serde_json::Map<String, serde_json::Value> = stale
        .iter()
        .map(|k| ((*k).clone(), serde_json::Value::Null))
        .collect();
    let patch = json!({"metadata": {"resourceVersion": version}, "data": removals});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let mut patched = timed(
        "removing stale keys from the Secret",
        secrets.patch(name, &params, &Patch::Merge(&patch)),
    )
    .await?
    .map_err(Error::api("removing stale keys from the Secret"))?;
    wipe_secret(&mut patched);
    Ok(patched.metadata.resource_version)
}

/// Where a SealedSecret stands after a reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// Unsealed and written.
    Done,
    /// Failed in a way retrying cannot mend (`Stalled=True`).
    Stalled,
    /// Failed for now; the controller retries (`Reconciling=True`).
    Retrying,
}

/// What a reconcile concluded, as conditions say it.
struct Verdict<'a> {
    ready: &'a str,
    reason: &'a str,
    message: &'a str,
    progress: Progress,
}

impl Verdict<'_> {
    /// `Ready`, `Reconciling` and `Stalled`, in the shape kstatus (Flux), `kubectl wait` and
    /// Argo CD read: each present, `True` or `False`, with the same reason and message.
    fn conditions(&self, generation: Option<i64>, previous: &[Condition]) -> Vec<Condition> {
        let flag = |on: bool| if on { "True" } else { "False" };
        [
            ("Ready", self.ready),
            ("Reconciling", flag(self.progress == Progress::Retrying)),
            ("Stalled", flag(self.progress == Progress::Stalled)),
        ]
        .into_iter()
        .map(|(type_, status)| {
            let last_transition_time = match previous.iter().find(|c| c.type_ == type_) {
                Some(c) if c.status == status => c.last_transition_time.clone(),
                _ => Time(jiff::Timestamp::now()),
            };
            Condition {
                type_: type_.to_owned(),
                status: status.to_owned(),
                reason: self.reason.to_owned(),
                message: self.message.to_owned(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
    }
}

/// Writes observedGeneration, the conditions and the Secret's resourceVersion when any of
/// them changed. Returns whether the Ready condition changed (an Event is due).
async fn update_status(
    sealed: &SealedSecret,
    ctx: &Context,
    verdict: &Verdict<'_>,
    secret_version: Option<String>,
) -> Result<bool, Error> {
    let generation = sealed.metadata.generation;
    let status = sealed.status.clone().unwrap_or_default();
    let conditions = verdict.conditions(generation, &status.conditions);
    let unchanged = |a: &Condition, b: &Condition| {
        (
            &a.type_,
            &a.status,
            &a.reason,
            &a.message,
            a.observed_generation,
        ) == (
            &b.type_,
            &b.status,
            &b.reason,
            &b.message,
            b.observed_generation,
        )
    };
    let same_conditions = status.conditions.len() == conditions.len()
        && status
            .conditions
            .iter()
            .zip(&conditions)
            .all(|(a, b)| unchanged(a, b));
    if same_conditions
        && status.observed_generation == generation
        && status.secret_resource_version == secret_version
    {
        return Ok(false);
    }
    let transition = !sealed
        .ready_condition()
        .is_some_and(|c| c.status == verdict.ready && c.reason == verdict.reason);
    // Applied under the controller's field manager, like the Secret: the status fields are
    // the controller's, and one it no longer sets (no Secret version) goes away.
    let mut status = json!({
        "observedGeneration": generation,
        "conditions": conditions,
    });
    if let Some(version) = secret_version {
        status["secretResourceVersion"] = json!(version);
    }
    let patch = json!({
        "apiVersion": SealedSecret::api_version(&()),
        "kind": SealedSecret::kind(&()),
        "metadata": {"name": sealed.name_or_empty()},
        "status": status,
    });
    let api =
        Api::<SealedSecret>::namespaced(ctx.shared.client.clone(), sealed.namespace_or_empty());
    timed(
        "updating the SealedSecret status",
        api.patch_status(
            sealed.name_or_empty(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        ),
    )
    .await?
    .map_err(Error::api("updating the SealedSecret status"))?;
    Ok(transition)
}

#[cfg(test)]
mod tests {

    #[test]
    fn every_ready_reason_has_its_troubleshooting_section() {
        let docs = include_str!("../../docs/troubleshooting.md");
        for reason in READY_REASONS {
            assert!(
                docs.contains(&format!("### `{reason}`")),
                "docs/troubleshooting.md has no section for {reason}"
            );
        }
    }

    use super::*;

    #[test]
    fn the_digest_changes_with_data_and_template_only() {
        let mut a = SealedSecret::new("db", Default::default());
        a.spec.encrypted_data.insert("k".into(), "v1".into());
        let base = source_digest(&a);
        a.metadata.labels = Some([("x".to_owned(), "y".to_owned())].into());
        assert_eq!(source_digest(&a), base);
        a.spec.encrypted_data.insert("k".into(), "v2".into());
        assert_ne!(source_digest(&a), base);
    }

    #[test]
    fn a_summary_keeps_the_digest_and_the_keys_but_no_value() {
        use crate::sealing_keys::KeyState;
        use crate::sealing_keys::tests::key;
        use kage_api::seal::{SecretInput, seal_secret};
        use kage_core::{Identity, Plaintext, Scope};

        let identity = Identity::generate();
        let mut input = SecretInput::default();
        input
            .insert("password", Plaintext::from(&b"hunter2"[..]))
            .unwrap();
        let mut sealed = seal_secret(
            &input,
            "db",
            "prod",
            Scope::Strict,
            std::slice::from_ref(identity.recipient()),
        )
        .unwrap();
        sealed.metadata.uid = Some("u-1".into());
        let keys = KeySet::new(vec![key(identity.clone(), KeyState::Active)]);
        let full = digest_and_openable(&sealed, &keys);
        assert!(full.1);

        summarize(&mut sealed);
        assert!(sealed.spec.encrypted_data.is_empty());
        assert_eq!(digest_and_openable(&sealed, &keys), full);
        let retired = KeySet::new(vec![key(identity, KeyState::Retired)]);
        assert!(!digest_and_openable(&sealed, &retired).1);
        assert!(!digest_and_openable(&sealed, &KeySet::default()).1);
    }

    #[test]
    fn a_failure_retrying_cannot_mend_is_stalled_and_only_that() {
        let permanent = [
            Error::Binding(ConvertError::NoData),
            Error::NoKey(ConvertError::NoData),
            Error::KeyRetired(ConvertError::NoData),
            Error::Tampered(ConvertError::NoData),
            Error::InvalidTemplate(String::new()),
            Error::Template(kage_api::template::TemplateError::TooManyTemplates(0)),
            Error::NotOwned {
                name: String::new(),
                uid: String::new(),
            },
            Error::Refused(Refusal::ControllerNamespace(String::new())),
        ];
        assert!(permanent.iter().all(Error::is_stalled));
        let transient = Error::api("reading")(kube::Error::LinesCodecMaxLineLengthExceeded);
        assert!(!transient.is_stalled());

        let verdict = |progress| Verdict {
            ready: if progress == Progress::Done {
                "True"
            } else {
                "False"
            },
            reason: "R",
            message: "m",
            progress,
        };
        let statuses = |progress| -> Vec<(String, String)> {
            verdict(progress)
                .conditions(Some(3), &[])
                .into_iter()
                .map(|c| (c.type_, c.status))
                .collect()
        };
        let pairs = |list: [(&str, &str); 3]| -> Vec<(String, String)> {
            list.iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        assert_eq!(
            statuses(Progress::Done),
            pairs([
                ("Ready", "True"),
                ("Reconciling", "False"),
                ("Stalled", "False")
            ])
        );
        assert_eq!(
            statuses(Progress::Stalled),
            pairs([
                ("Ready", "False"),
                ("Reconciling", "False"),
                ("Stalled", "True")
            ])
        );
        assert_eq!(
            statuses(Progress::Retrying),
            pairs([
                ("Ready", "False"),
                ("Reconciling", "True"),
                ("Stalled", "False")
            ])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_api_call_that_never_answers_fails_the_reconcile_after_the_timeout() {
        let never = std::future::pending::<Result<(), kube::Error>>();
        let started = tokio::time::Instant::now();
        let outcome = timed("reading the Secret", never).await;
        assert!(matches!(
            outcome,
            Err(Error::Api {
                action: "reading the Secret",
                ..
            })
        ));
        assert_eq!(started.elapsed(), API_CALL_TIMEOUT);
        assert!(!outcome.unwrap_err().is_stalled(), "retried, not stalled");
        let answered = timed("reading the Secret", async { Ok::<_, kube::Error>(7) }).await;
        assert_eq!(answered.unwrap().unwrap(), 7);
    }

    #[test]
    fn an_api_refusal_quotes_no_byte_of_a_value() {
        let status: kube::core::Status = serde_json::from_value(json!({
            "code": 422,
            "reason": "Invalid",
            "message": "Secret \"app\" is invalid: data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character 'h' looking for beginning of value",
            "details": {"causes": [
                {"field": "data[.dockerconfigjson]", "reason": "FieldValueInvalid", "message": "Invalid value: \"<secret contents redacted>\": invalid character 'h' looking for beginning of value"},
                {"field": "metadata.labels", "reason": "FieldValueInvalid", "message": "Invalid value: \"a b\": a valid label must be ..."},
            ]},
        }))
        .unwrap();
        let message = refused_by_api(&status).to_string();
        assert!(!message.contains("'h'"), "{message}");
        assert!(
            message.contains("data[.dockerconfigjson]: FieldValueInvalid"),
            "{message}"
        );
        assert!(
            message.contains("metadata.labels: Invalid value: \"a b\""),
            "{message}"
        );
    }

    #[test]
    fn every_error_kind_has_its_own_reason() {
        let reasons = [
            Error::Binding(ConvertError::NoData).reason(),
            Error::NoKey(ConvertError::NoData).reason(),
            Error::KeyRetired(ConvertError::NoData).reason(),
            Error::Tampered(ConvertError::NoData).reason(),
            Error::NotOwned {
                name: String::new(),
                uid: String::new(),
            }
            .reason(),
            Error::Refused(Refusal::ControllerNamespace(String::new())).reason(),
            Error::Refused(Refusal::SecretType(String::new(), String::new())).reason(),
            Error::InvalidTemplate(String::new()).reason(),
        ];
        let unique: std::collections::HashSet<_> = reasons.iter().collect();
        assert_eq!(unique.len(), reasons.len());
    }
}
