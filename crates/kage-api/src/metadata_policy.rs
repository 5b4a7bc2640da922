//! Which labels and annotations a SealedSecret's template may put on its Secret.
//!
//! Other controllers act on a Secret's labels and annotations: replicators and reflectors copy
//! it into namespaces their annotations name, cert-manager injects it, Argo CD takes it as a
//! cluster credential, Sealed Secrets takes it as its key. Whoever may write a SealedSecret
//! must not borrow the controller's right to write Secrets to set such a key, so the rule is an
//! allowlist: unprefixed keys (`app`, `team`), keys under [`DEFAULT_METADATA_PREFIXES`], and
//! prefixes an operator allows; never a `kage.dev/` key. The CLI (`seal`, `validate`,
//! `migrate`) and the controller apply this same rule.

use std::collections::BTreeMap;

use crate::crd::SecretTemplate;
use crate::names::is_kage_key;

/// Prefixes allowed without an operator's leave: Kubernetes' recommended labels
/// (`app.kubernetes.io/name`, `.../part-of`, ...), which describe an object and give no
/// software authority over it.
pub const DEFAULT_METADATA_PREFIXES: &[&str] = &["app.kubernetes.io/"];

/// A label or annotation key a template may not set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "spec.template.metadata.{field} {key:?} is not allowed: a template may set unprefixed keys and keys under {allowed} (an admin can allow more prefixes with the controller's --allow-template-metadata-prefix; pass the same to kage with --allow-metadata-prefix)"
)]
pub struct MetadataRefusal {
    /// `labels` or `annotations`.
    pub field: &'static str,
    /// The refused key.
    pub key: String,
    allowed: String,
}

/// The allowlist of label and annotation prefixes one controller (or one CLI run) applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPolicy {
    prefixes: Vec<String>,
}

impl Default for MetadataPolicy {
    fn default() -> Self {
        MetadataPolicy::new(&[])
    }
}

impl MetadataPolicy {
    /// [`DEFAULT_METADATA_PREFIXES`] plus `extra` prefixes (`example.com` or `example.com/`;
    /// a prefix covers exactly its own name, not its subdomains).
    pub fn new(extra: &[String]) -> Self {
        let mut prefixes: Vec<String> = DEFAULT_METADATA_PREFIXES
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        prefixes.extend(extra.iter().filter(|p| !p.is_empty()).map(|p| {
            let p = p.trim_end_matches('/');
            format!("{p}/")
        }));
        MetadataPolicy { prefixes }
    }

    /// Whether a template may set the label or annotation `key`.
    pub fn allows(&self, key: &str) -> bool {
        !is_kage_key(key)
            && (!key.contains('/') || self.prefixes.iter().any(|p| key.starts_with(p.as_str())))
    }

    /// The first label, then annotation, of these maps that is not allowed.
    pub fn check_maps(
        &self,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<(), MetadataRefusal> {
        for (field, keys) in [("labels", labels), ("annotations", annotations)] {
            if let Some(key) = keys.keys().find(|k| !self.allows(k)) {
                return Err(MetadataRefusal {
                    field,
                    key: key.clone(),
                    allowed: self.prefixes.join(", "),
                });
            }
        }
        Ok(())
    }

    /// Checks a SealedSecret's template.
    pub fn check(&self, template: &SecretTemplate) -> Result<(), MetadataRefusal> {
        match &template.metadata {
            Some(metadata) => self.check_maps(&metadata.labels, &metadata.annotations),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unprefixed_keys_and_allowed_prefixes_pass() {
        let policy = MetadataPolicy::default();
        for ok in [
            "app",
            "team",
            "app.kubernetes.io/name",
            "app.kubernetes.io/part-of",
        ] {
            assert!(policy.allows(ok), "{ok}");
        }
        // Keys other software acts on: a template must not set them.
        for refused in [
            "kage.dev/sealing-key",
            "sub.kage.dev/x",
            "kubernetes.io/service-account.name",
            "argocd.argoproj.io/secret-type",
            "sealedsecrets.bitnami.com/sealed-secrets-key",
            "replicator.v1.mittwald.de/replicate-to",
            "reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces",
            "cert-manager.io/allow-direct-injection",
            "istio/multiCluster",
            "networking.istio.io/x",
            "sub.app.kubernetes.io/name",
        ] {
            assert!(!policy.allows(refused), "{refused}");
        }
    }

    #[test]
    fn an_operator_allows_more_prefixes_but_never_kage_keys() {
        let policy = MetadataPolicy::new(&["example.com".to_owned(), "kage.dev/".to_owned()]);
        assert!(policy.allows("example.com/owner"));
        assert!(!policy.allows("sub.example.com/owner"));
        assert!(!policy.allows("kage.dev/adopt"));
        let refusal = policy
            .check_maps(
                &BTreeMap::from([("team".to_owned(), "a".to_owned())]),
                &BTreeMap::from([("cert-manager.io/x".to_owned(), "a".to_owned())]),
            )
            .unwrap_err();
        assert_eq!(
            (refusal.field, refusal.key.as_str()),
            ("annotations", "cert-manager.io/x")
        );
    }

    #[test]
    fn a_template_is_held_to_the_allowlist_by_its_labels_and_annotations() {
        let policy = MetadataPolicy::default();
        let mut template = SecretTemplate::default();
        assert_eq!(policy.check(&template), Ok(()));
        template.metadata = Some(crate::crd::TemplateMetadata {
            labels: BTreeMap::from([("team".to_owned(), "a".to_owned())]),
            annotations: BTreeMap::from([(
                "argocd.argoproj.io/secret-type".to_owned(),
                "cluster".to_owned(),
            )]),
        });
        let refusal = policy.check(&template).unwrap_err();
        assert_eq!(
            (refusal.field, refusal.key.as_str()),
            ("annotations", "argocd.argoproj.io/secret-type")
        );
    }
}
