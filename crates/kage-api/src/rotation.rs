//! Asking the controller for a key rotation, and its answer: the CLI applies the request
//! ConfigMap ([`ROTATION_REQUEST_CONFIGMAP`]) with a new id, so that RBAC on that object decides
//! who may rotate; the controller claims the request and writes its [`RotationAnswer`] in the
//! ConfigMap's annotations. Both sides read and write them only here.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::names::{
    ROTATION_HANDLED_ANNOTATION, ROTATION_REQUEST_CONFIGMAP, ROTATION_REQUEST_KEY,
    ROTATION_RESULT_ANNOTATION,
};

/// One request to rotate, told from the others by its id (unique, not secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationRequest {
    /// The id.
    pub id: String,
}

impl RotationRequest {
    /// A new request, its id made of this moment and this process.
    pub fn new() -> Self {
        RotationRequest {
            id: format!(
                "{}-{}",
                jiff::Timestamp::now().as_nanosecond(),
                std::process::id()
            ),
        }
    }

    /// The ConfigMap that asks for it, to apply in the controller's namespace.
    pub fn config_map(&self, namespace: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(ROTATION_REQUEST_CONFIGMAP.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                ROTATION_REQUEST_KEY.to_owned(),
                self.id.clone(),
            )])),
            ..ConfigMap::default()
        }
    }

    /// The request a ConfigMap holds, if it holds one.
    pub fn of(map: &ConfigMap) -> Option<Self> {
        let id = map.data.as_ref()?.get(ROTATION_REQUEST_KEY)?;
        (!id.is_empty()).then(|| RotationRequest { id: id.clone() })
    }

    /// Whether the controller has taken this request (it acts on each at most once).
    pub fn is_handled_in(&self, map: &ConfigMap) -> bool {
        annotation(map, ROTATION_HANDLED_ANNOTATION) == Some(&self.id)
    }

    /// The controller's final answer to this request, once it has one (not while the rotation
    /// is in progress, nor while an earlier request is the one answered).
    pub fn answer_in(&self, map: &ConfigMap) -> Option<RotationAnswer> {
        if !self.is_handled_in(map) {
            return None;
        }
        let answer = RotationAnswer::parse(annotation(map, ROTATION_RESULT_ANNOTATION)?);
        (answer != RotationAnswer::InProgress).then_some(answer)
    }
}

impl Default for RotationRequest {
    fn default() -> Self {
        Self::new()
    }
}

fn annotation<'a>(map: &'a ConfigMap, key: &str) -> Option<&'a String> {
    map.metadata.annotations.as_ref()?.get(key)
}

/// What became of a rotation request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotationAnswer {
    /// Claimed; the new key is being made.
    InProgress,
    /// A new key was made (the key Secret's name).
    Rotated(String),
    /// Refused by a rule (too soon after the last rotation, too many keys).
    Refused(String),
    /// The rotation failed (the API or the KMS).
    Failed(String),
}

impl RotationAnswer {
    /// Reads the result annotation; text of an unknown form is a failure that quotes it.
    pub fn parse(text: &str) -> Self {
        if text == "in progress" {
            return RotationAnswer::InProgress;
        }
        if let Some(key) = text.strip_prefix("rotated: new key ") {
            return RotationAnswer::Rotated(key.to_owned());
        }
        if let Some(why) = text.strip_prefix("refused: ") {
            return RotationAnswer::Refused(why.to_owned());
        }
        RotationAnswer::Failed(text.strip_prefix("failed: ").unwrap_or(text).to_owned())
    }

    /// The annotations the controller writes for `request`: which request, and this answer.
    pub fn annotations(&self, request: &RotationRequest) -> BTreeMap<String, String> {
        BTreeMap::from([
            (ROTATION_HANDLED_ANNOTATION.to_owned(), request.id.clone()),
            (ROTATION_RESULT_ANNOTATION.to_owned(), self.to_string()),
        ])
    }
}

impl std::fmt::Display for RotationAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RotationAnswer::InProgress => write!(f, "in progress"),
            RotationAnswer::Rotated(key) => write!(f, "rotated: new key {key}"),
            RotationAnswer::Refused(why) => write!(f, "refused: {why}"),
            RotationAnswer::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(request: &RotationRequest, answer: &RotationAnswer) -> ConfigMap {
        let mut map = request.config_map("kage-system");
        map.metadata.annotations = Some(answer.annotations(request));
        map
    }

    #[test]
    fn each_answer_reads_back_as_written() {
        for answer in [
            RotationAnswer::InProgress,
            RotationAnswer::Rotated("kage-key-2".into()),
            RotationAnswer::Refused("too soon".into()),
            RotationAnswer::Failed("the API: timeout".into()),
        ] {
            assert_eq!(RotationAnswer::parse(&answer.to_string()), answer);
        }
        assert_eq!(
            RotationAnswer::parse("something else"),
            RotationAnswer::Failed("something else".into())
        );
    }

    #[test]
    fn only_the_final_answer_to_this_request_is_its_answer() {
        let request = RotationRequest { id: "1-1".into() };
        let map = request.config_map("kage-system");
        assert_eq!(
            map.metadata.name.as_deref(),
            Some(ROTATION_REQUEST_CONFIGMAP)
        );
        assert_eq!(map.metadata.namespace.as_deref(), Some("kage-system"));
        assert_eq!(RotationRequest::of(&map), Some(request.clone()));
        assert!(!request.is_handled_in(&map));
        assert_eq!(request.answer_in(&map), None);
        let rotated = RotationAnswer::Rotated("kage-key-2".into());
        assert_eq!(
            request.answer_in(&answered(&request, &RotationAnswer::InProgress)),
            None
        );
        assert_eq!(
            request.answer_in(&answered(&request, &rotated)),
            Some(rotated.clone())
        );
        let earlier = RotationRequest { id: "0-1".into() };
        let map = answered(&earlier, &rotated);
        assert!(!request.is_handled_in(&map));
        assert_eq!(request.answer_in(&map), None);
        let mut empty = map;
        empty.data = Some(BTreeMap::from([(
            ROTATION_REQUEST_KEY.into(),
            String::new(),
        )]));
        assert_eq!(RotationRequest::of(&empty), None);
    }
}
