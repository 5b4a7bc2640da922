//! Why a reconcile failed: one error per cause, each with its reason.

use super::*;

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

    pub(super) fn from_unseal(e: ConvertError, keys: &KeySet) -> Self {
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

    pub(super) fn api(action: &'static str) -> impl FnOnce(kube::Error) -> Error {
        move |source| Error::Api { action, source }
    }
}

/// The API server's refusal of a Secret, without what it says about `data`: its validation
/// messages can quote a byte of a value ("invalid character 'h' ..." for a
/// `.dockerconfigjson`), and this text becomes the status and an Event.
pub(super) fn refused_by_api(status: &kube::core::Status) -> Error {
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
