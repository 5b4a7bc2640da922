//! What a SealedSecret may make the controller write. The controller may write Secrets in
//! every namespace it watches; whoever may create a SealedSecret must not borrow that right to
//! write a Secret they could not write themselves, or one that other software trusts more than
//! an ordinary Secret.

use kage_api::{MetadataPolicy, MetadataRefusal, SecretTemplate};

/// Secret types a template may ask for without a controller flag: the types of ordinary
/// credentials. Everything else (`kubernetes.io/service-account-token`,
/// `bootstrap.kubernetes.io/token`, `kage.dev/sealing-key`, custom types) needs
/// `--allow-secret-type`.
pub const DEFAULT_SECRET_TYPES: &[&str] = kage_api::ORDINARY_SECRET_TYPES;

/// Why a SealedSecret is refused before anything is opened or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// It lives in the controller's own namespace, next to the sealing keys.
    #[error(
        "SealedSecrets in the controller's namespace {0} are refused: the sealing keys live there"
    )]
    ControllerNamespace(String),
    /// Its template asks for a Secret type outside the allowed set.
    #[error(
        "spec.template.type {0:?} is not allowed: the controller allows {1}; an admin can allow more with --allow-secret-type"
    )]
    SecretType(String, String),
    /// Its template sets a label or annotation outside the allowlist
    /// ([`kage_api::metadata_policy`]).
    #[error(transparent)]
    Metadata(#[from] MetadataRefusal),
}

/// The rules one controller applies.
#[derive(Debug, Clone)]
pub struct TemplatePolicy {
    controller_namespace: String,
    allowed_types: Vec<String>,
    metadata: MetadataPolicy,
}

impl TemplatePolicy {
    /// The default types plus `extra_types`, the default label and annotation prefixes plus
    /// `extra_prefixes`, for a controller in `controller_namespace`.
    pub fn new(
        controller_namespace: &str,
        extra_types: &[String],
        extra_prefixes: &[String],
    ) -> Self {
        let mut allowed_types: Vec<String> = DEFAULT_SECRET_TYPES
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        allowed_types.extend(extra_types.iter().filter(|t| !t.is_empty()).cloned());
        TemplatePolicy {
            controller_namespace: controller_namespace.to_owned(),
            allowed_types,
            metadata: MetadataPolicy::new(extra_prefixes),
        }
    }

    /// Whether the controller may write the Secret a SealedSecret in `namespace` with
    /// `template` describes.
    pub fn check(&self, namespace: &str, template: Option<&SecretTemplate>) -> Result<(), Refusal> {
        if namespace == self.controller_namespace {
            return Err(Refusal::ControllerNamespace(
                self.controller_namespace.clone(),
            ));
        }
        let Some(template) = template else {
            return Ok(());
        };
        let type_ = template.type_.as_deref().unwrap_or("Opaque");
        if !self.allowed_types.iter().any(|t| t == type_) {
            return Err(Refusal::SecretType(
                type_.to_owned(),
                self.allowed_types.join(", "),
            ));
        }
        self.metadata.check(template)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kage_api::crd::TemplateMetadata;

    fn check(
        policy: &TemplatePolicy,
        namespace: &str,
        template: Option<SecretTemplate>,
    ) -> Result<(), Refusal> {
        policy.check(namespace, template.as_ref())
    }

    fn with_type(type_: &str) -> Option<SecretTemplate> {
        Some(SecretTemplate {
            type_: Some(type_.to_owned()),
            ..Default::default()
        })
    }

    fn with_label(key: &str) -> Option<SecretTemplate> {
        Some(SecretTemplate {
            metadata: Some(TemplateMetadata {
                labels: [(key.to_owned(), "x".to_owned())].into(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn ordinary_secrets_pass_and_privileged_ones_are_refused() {
        let policy = TemplatePolicy::new("kage-system", &[], &[]);
        assert_eq!(check(&policy, "app", None), Ok(()));
        for ok in DEFAULT_SECRET_TYPES {
            assert_eq!(check(&policy, "app", with_type(ok)), Ok(()));
        }
        assert_eq!(check(&policy, "app", with_label("team")), Ok(()));
        assert!(matches!(
            check(&policy, "kage-system", None),
            Err(Refusal::ControllerNamespace(_))
        ));
        for refused in [
            "kubernetes.io/service-account-token",
            "bootstrap.kubernetes.io/token",
            "kage.dev/sealing-key",
            "helm.sh/release.v1",
        ] {
            assert!(matches!(
                check(&policy, "app", with_type(refused)),
                Err(Refusal::SecretType(..))
            ));
        }
        for reserved in [
            "kage.dev/sealing-key",
            "kage.dev/anything",
            "sub.kage.dev/x",
            "argocd.argoproj.io/secret-type",
            "notkage.dev/x",
        ] {
            assert!(matches!(
                check(&policy, "app", with_label(reserved)),
                Err(Refusal::Metadata(MetadataRefusal {
                    field: "labels",
                    ..
                }))
            ));
        }
    }

    #[test]
    fn a_flag_allows_more_types() {
        let policy = TemplatePolicy::new("kage-system", &["helm.sh/release.v1".to_owned()], &[]);
        assert_eq!(
            check(&policy, "app", with_type("helm.sh/release.v1")),
            Ok(())
        );
    }
}
