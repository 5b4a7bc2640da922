//! A SealedSecret's templates, checked from its public parts before anything is opened.

use std::collections::{BTreeMap, BTreeSet};

use kage_core::{Plaintext, SealedValue};

use super::functions::{Expr, Function};
use super::parse::compile;
use super::*;
use crate::crd::SealedSecret;
use crate::limits::{CONTENT_CHECKED_KEYS, MAX_SECRET_DATA_BYTES, is_valid_key};

/// The checked templates of one SealedSecret, ready to render once its values are open.
#[derive(Debug, Default)]
pub struct Templates {
    outputs: BTreeMap<String, Expr>,
    omit: BTreeSet<String>,
}

impl Templates {
    /// Checks the templates of `sealed` from what anyone reading the object sees: the template
    /// text, the sealed keys, the lengths of the values and the Secret type. Nothing is opened.
    pub fn check(sealed: &SealedSecret) -> Result<Self, TemplateError> {
        // A value that does not parse (and will not open) is bounded by its sealed form.
        Self::check_with_lengths(sealed, || {
            sealed
                .spec
                .encrypted_data
                .iter()
                .map(|(k, text)| {
                    let len = SealedValue::from_base64(text)
                        .map_or(text.len().div_ceil(4) * 3, |v| v.value_len());
                    (k.clone(), len)
                })
                .collect()
        })
    }

    /// [`Templates::check`] for a caller that has read the sealed values already (each is
    /// parsed once).
    pub fn check_values(
        sealed: &SealedSecret,
        values: &[(String, SealedValue)],
    ) -> Result<Self, TemplateError> {
        Self::check_with_lengths(sealed, || {
            values
                .iter()
                .map(|(key, value)| (key.clone(), value.value_len()))
                .collect()
        })
    }

    /// The check, with the length of each value (public: age does not hide it), asked for
    /// only when there are templates.
    pub(super) fn check_with_lengths(
        sealed: &SealedSecret,
        lengths: impl FnOnce() -> BTreeMap<String, usize>,
    ) -> Result<Self, TemplateError> {
        let Some(template) = &sealed.spec.template else {
            return Ok(Templates::default());
        };
        let sealed_keys = &sealed.spec.encrypted_data;
        for key in &template.omit {
            if !sealed_keys.contains_key(key) {
                return Err(TemplateError::UnknownOmit(key.clone()));
            }
        }
        let omit: BTreeSet<String> = template.omit.iter().cloned().collect();
        if template.data.is_empty() {
            return Ok(Templates {
                outputs: BTreeMap::new(),
                omit,
            });
        }
        if template.data.len() > MAX_TEMPLATED_KEYS {
            return Err(TemplateError::TooManyTemplates(template.data.len()));
        }
        let type_ = template.type_.as_deref().unwrap_or("Opaque");
        if !TEMPLATABLE_TYPES.contains(&type_) {
            return Err(TemplateError::TypeNotTemplatable(type_.to_owned()));
        }
        let lengths = lengths();
        let mut outputs = BTreeMap::new();
        let mut total: usize = lengths
            .iter()
            .filter(|(k, _)| !omit.contains(*k) && !template.data.contains_key(*k))
            .map(|(_, n)| *n)
            .sum();
        for (key, text) in &template.data {
            let invalid = |problem: String| TemplateError::Invalid {
                key: key.clone(),
                problem,
            };
            if !is_valid_key(key) {
                return Err(invalid(
                    "not a valid data key: use letters, digits, '-', '_' or '.'".to_owned(),
                ));
            }
            if sealed_keys.contains_key(key) && !omit.contains(key) {
                return Err(TemplateError::Collision(key.clone()));
            }
            let expr = compile(text, sealed_keys).map_err(invalid)?;
            if let Some((_, checked)) = CONTENT_CHECKED_KEYS
                .iter()
                .find(|(t, k)| *t == type_ && k == key)
                && !matches!(expr, Expr::Call(Function::DockerConfigJson, _))
            {
                return Err(invalid(format!(
                    "for Secret type {type_} the API server parses {checked} as JSON: write it as one {{{{ dockerconfigjson(server, username, password) }}}}"
                )));
            }
            let bound = expr.bound(&lengths);
            if bound > MAX_TEMPLATE_OUTPUT_BYTES {
                return Err(invalid(format!(
                    "the output could reach {bound} bytes (bound from the lengths of the values it reads), more than the limit of {MAX_TEMPLATE_OUTPUT_BYTES}"
                )));
            }
            total = total.saturating_add(bound);
            outputs.insert(key.clone(), expr);
        }
        if total > MAX_SECRET_DATA_BYTES {
            return Err(TemplateError::SecretTooLarge(total));
        }
        Ok(Templates { outputs, omit })
    }

    /// Whether [`Templates::render`] runs a template (the controller counts those renders).
    pub fn renders(&self) -> bool {
        !self.outputs.is_empty()
    }

    /// Whether there is nothing to render and nothing to omit.
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty() && self.omit.is_empty()
    }

    /// The Secret's data from the opened values: every value not omitted, then every
    /// template's output. Cannot fail: everything that could was checked before.
    pub fn render(&self, mut values: BTreeMap<String, Plaintext>) -> BTreeMap<String, Plaintext> {
        let lengths: BTreeMap<String, usize> =
            values.iter().map(|(k, v)| (k.clone(), v.len())).collect();
        let rendered: Vec<(String, Plaintext)> = self
            .outputs
            .iter()
            .map(|(key, expr)| (key.clone(), expr.render(&values, &lengths)))
            .collect();
        values.retain(|k, _| !self.omit.contains(k));
        values.extend(rendered);
        values
    }

    /// Each templated key with the sealed keys its template reads.
    pub fn uses(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        self.outputs
            .iter()
            .map(|(key, expr)| {
                let mut used = BTreeSet::new();
                expr.values_used(&mut used);
                (key.as_str(), used)
            })
            .collect()
    }

    /// The sealed keys kept out of the Secret.
    pub fn omitted(&self) -> &BTreeSet<String> {
        &self.omit
    }
}
