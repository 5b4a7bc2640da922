//! SealedSecret -> Secret: every value opened where it stands, then the templates rendered.

use std::collections::BTreeMap;

use kage_core::{Fingerprint, KeyRing, Location, Plaintext};

use crate::crd::{SealedSecret, SecretTemplate};
use crate::manifest::Document;
use crate::seal::{ConvertError, sealed_values};
use crate::template::Templates;

/// The Secret a SealedSecret stands for, values in zeroizing buffers.
#[derive(Debug)]
pub struct SecretOutput {
    /// Name (the SealedSecret's).
    pub name: String,
    /// Namespace (the SealedSecret's).
    pub namespace: String,
    /// The template the Secret is shaped by.
    pub template: SecretTemplate,
    /// The Secret's data: the opened values not omitted, and the rendered templates.
    pub data: BTreeMap<String, Plaintext>,
    /// The key that opened each value (for the audit record).
    pub opened_with: Vec<Fingerprint>,
    /// Whether a template was rendered (the controller counts renders).
    pub rendered: bool,
}

impl SecretOutput {
    /// The Secret as the API's type, values as bytes (wipe it with [`wipe_secret`] when done).
    pub fn to_secret(&self) -> k8s_openapi::api::core::v1::Secret {
        let metadata = self.template.metadata.clone().unwrap_or_default();
        let non_empty = |m: BTreeMap<String, String>| (!m.is_empty()).then_some(m);
        k8s_openapi::api::core::v1::Secret {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: non_empty(metadata.labels),
                annotations: non_empty(metadata.annotations),
                ..Default::default()
            },
            type_: Some(
                self.template
                    .type_
                    .clone()
                    .unwrap_or_else(|| "Opaque".to_owned()),
            ),
            data: Some(
                self.data
                    .iter()
                    .map(|(k, v)| (k.clone(), k8s_openapi::ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            immutable: self.template.immutable,
            ..Default::default()
        }
    }

    /// The Secret as a `v1` document with base64 `data` ([`SecretOutput::to_secret`] as JSON;
    /// the caller wipes it).
    #[allow(
        clippy::expect_used,
        reason = "a Secret of strings and bytes always serialises"
    )]
    pub fn to_document(&self) -> Document {
        let mut secret = self.to_secret();
        let doc = serde_json::to_value(&secret).expect("a Secret serialises");
        wipe_secret(&mut secret);
        doc
    }
}

/// Overwrites the values of a Secret read from or sent to the API, before it is dropped.
pub fn wipe_secret(secret: &mut k8s_openapi::api::core::v1::Secret) {
    use zeroize::Zeroize;
    if let Some(data) = secret.data.as_mut() {
        data.values_mut().for_each(|v| v.0.zeroize());
    }
    if let Some(data) = secret.string_data.as_mut() {
        data.values_mut().for_each(Zeroize::zeroize);
    }
}

/// The Secret a SealedSecret stands for: every value opened where it stands, then the templates
/// rendered. All or nothing: the templates are checked before any value is opened, and the
/// first value that cannot be opened is the error, naming its key.
pub fn unseal(sealed: &SealedSecret, ring: &KeyRing) -> Result<SecretOutput, ConvertError> {
    let values = sealed_values(sealed)?;
    let templates = Templates::check_values(sealed, &values)?;
    let (namespace, name) = (sealed.namespace_or_empty(), sealed.name_or_empty());
    let mut data = BTreeMap::new();
    let mut opened_with = Vec::new();
    for (key, value) in values {
        let location = Location::new(namespace, name, &key);
        let plain = ring
            .open(&value, &location)
            .map_err(|source| ConvertError::Open {
                key: key.clone(),
                source,
            })?;
        // The ring opens with the first recipient it holds.
        opened_with.extend(
            value
                .recipients()
                .iter()
                .find(|f| ring.contains(f))
                .copied(),
        );
        data.insert(key, plain);
    }
    Ok(SecretOutput {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        template: sealed.spec.template.clone().unwrap_or_default(),
        data: templates.render(data),
        opened_with,
        rendered: templates.renders(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::{SecretInput, seal_secret};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use kage_core::{Identity, Scope};
    use serde_json::json;

    fn input(labels: &[(&str, &str)]) -> SecretInput {
        let own = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        SecretInput {
            type_: Some("kubernetes.io/basic-auth".into()),
            immutable: Some(true),
            labels: own(labels),
            annotations: own(labels),
            data: [
                ("username".to_owned(), Plaintext::from(&b"admin"[..])),
                ("password".to_owned(), Plaintext::from(&b"s3cret"[..])),
            ]
            .into(),
            ..SecretInput::default()
        }
    }

    #[test]
    fn the_secret_has_the_values_type_metadata_and_rendered_templates() {
        let id = Identity::generate();
        let mut ring = KeyRing::default();
        ring.insert(id.clone());
        let mut sealed = seal_secret(
            &input(&[("team", "payments")]),
            "db",
            "prod",
            Scope::Strict,
            std::slice::from_ref(id.recipient()),
        )
        .unwrap();
        let template = sealed.spec.template.as_mut().unwrap();
        template
            .data
            .insert("url".into(), "pg://{{ username }}:{{ password }}@db".into());
        template.omit.push("username".into());

        let output = unseal(&sealed, &ring).unwrap();
        assert_eq!(output.opened_with, [id.fingerprint(), id.fingerprint()]);
        let b64 = |s: &str| STANDARD.encode(s);
        assert_eq!(
            output.to_document(),
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": "db",
                    "namespace": "prod",
                    "labels": {"team": "payments"},
                    "annotations": {"team": "payments"},
                },
                "type": "kubernetes.io/basic-auth",
                "immutable": true,
                "data": {"password": b64("s3cret"), "url": b64("pg://admin:s3cret@db")},
            })
        );

        let plain = seal_secret(
            &SecretInput {
                type_: None,
                immutable: None,
                ..input(&[])
            },
            "db",
            "prod",
            Scope::Strict,
            std::slice::from_ref(id.recipient()),
        )
        .unwrap();
        let doc = unseal(&plain, &ring).unwrap().to_document();
        assert_eq!(doc["type"], "Opaque");
        assert!(doc["metadata"].get("labels").is_none());
        assert!(doc["metadata"].get("annotations").is_none());
        assert!(doc.get("immutable").is_none());

        let elsewhere = KeyRing::default();
        assert!(matches!(
            unseal(&plain, &elsewhere),
            Err(ConvertError::Open { key, .. }) if key == "password"
        ));
    }
}
