//! Whether the admission policy that guards the sealing keys is in place.
//!
//! The key loader accepts only key Secrets whose data the controller's field manager wrote,
//! but a client picks its field-manager name. What makes a key trustworthy is the API server
//! refusing everyone else: the `ValidatingAdmissionPolicy` shipped in `deploy/` and the chart
//! (`deploy/base/key-policy.yaml`). The controller cannot enforce it; it checks it is there,
//! bound with `Deny` to its namespace, and says loudly when it is not: an error log line, the
//! metric `kage_key_policy_in_place` at 0, and a Warning Event `KeyPolicyMissing` on the
//! public-keys ConfigMap.

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client, Resource};

use crate::api_call::timed;
use crate::metrics::Metrics;

/// How often the policy is looked at again.
pub const KEY_POLICY_CHECK_PERIOD: Duration = Duration::from_secs(300);
/// The Event reason when the policy or its binding is missing or weakened.
pub const KEY_POLICY_MISSING: &str = "KeyPolicyMissing";

/// What is wrong with the policy named `name` and its binding of the same name, if anything.
pub async fn check(client: &Client, name: &str, namespace: &str) -> Option<String> {
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(client.clone());
    let policy = match timed(policies.get_opt(name)).await {
        Ok(Some(policy)) => policy,
        Ok(None) => return Some(format!("ValidatingAdmissionPolicy {name} does not exist")),
        Err(e) => return Some(format!("cannot read ValidatingAdmissionPolicy {name}: {e}")),
    };
    let binding = match timed(bindings.get_opt(name)).await {
        Ok(Some(binding)) => binding,
        Ok(None) => {
            return Some(format!(
                "ValidatingAdmissionPolicyBinding {name} does not exist"
            ));
        }
        Err(e) => {
            return Some(format!(
                "cannot read ValidatingAdmissionPolicyBinding {name}: {e}"
            ));
        }
    };
    judge(&policy, &binding, name, namespace)
}

/// What is wrong with `policy` and `binding` as guards of the keys in `namespace`.
fn judge(
    policy: &ValidatingAdmissionPolicy,
    binding: &ValidatingAdmissionPolicyBinding,
    name: &str,
    namespace: &str,
) -> Option<String> {
    let Some(spec) = policy.spec.as_ref() else {
        return Some(format!("ValidatingAdmissionPolicy {name} has no spec"));
    };
    if spec.failure_policy.as_deref() == Some("Ignore") {
        return Some(format!(
            "ValidatingAdmissionPolicy {name} has failurePolicy Ignore"
        ));
    }
    let binding = &binding.spec;
    if binding.policy_name != name {
        return Some(format!(
            "ValidatingAdmissionPolicyBinding {name} binds another policy"
        ));
    }
    if !binding.validation_actions.iter().any(|a| a == "Deny") {
        return Some(format!(
            "ValidatingAdmissionPolicyBinding {name} does not deny"
        ));
    }
    // Bound to every namespace, or to this one by name.
    let selected = binding
        .match_resources
        .as_ref()
        .and_then(|m| m.namespace_selector.as_ref())
        .is_none_or(|selector| {
            selector
                .match_expressions
                .as_ref()
                .is_none_or(Vec::is_empty)
                && selector.match_labels.as_ref().is_none_or(|labels| {
                    labels.len() == 1
                        && labels
                            .get("kubernetes.io/metadata.name")
                            .map(String::as_str)
                            == Some(namespace)
                })
        });
    (!selected).then(|| {
        format!("ValidatingAdmissionPolicyBinding {name} does not select namespace {namespace}")
    })
}

/// Checks the policy now and every [`KEY_POLICY_CHECK_PERIOD`]; sets the metric on every check
/// and logs and publishes a Warning Event when the verdict turns bad.
pub async fn watch(
    client: Client,
    name: String,
    namespace: String,
    metrics: std::sync::Arc<Metrics>,
    recorder: Recorder,
) {
    let mut was_fine = true;
    loop {
        let problem = check(&client, &name, &namespace).await;
        metrics
            .key_policy_in_place
            .set(i64::from(problem.is_none()));
        match &problem {
            Some(problem) => {
                tracing::error!(%problem, "the admission policy guarding the sealing keys is not in place: anyone allowed to create Secrets in {namespace} could plant a key (install deploy/base/key-policy.yaml)");
                if was_fine {
                    let event = Event {
                        type_: EventType::Warning,
                        reason: KEY_POLICY_MISSING.to_owned(),
                        note: Some(problem.clone()),
                        action: "CheckKeyPolicy".to_owned(),
                        secondary: None,
                    };
                    let mut public_keys = ConfigMap::default();
                    public_keys.metadata.name = Some(kage_api::PUBLIC_KEYS_CONFIGMAP.to_owned());
                    public_keys.metadata.namespace = Some(namespace.clone());
                    if let Err(e) = recorder.publish(&event, &public_keys.object_ref(&())).await {
                        tracing::warn!(error = %e, "cannot publish event");
                    }
                }
            }
            None if !was_fine => {
                tracing::info!("the admission policy guarding the sealing keys is in place again")
            }
            None => {}
        }
        was_fine = problem.is_none();
        tokio::time::sleep(KEY_POLICY_CHECK_PERIOD).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> (ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding) {
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(include_str!("../../deploy/base/key-policy.yaml")).unwrap();
        let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind).cloned().unwrap();
        (
            serde_json::from_value(find("ValidatingAdmissionPolicy")).unwrap(),
            serde_json::from_value(find("ValidatingAdmissionPolicyBinding")).unwrap(),
        )
    }

    #[test]
    fn the_shipped_policy_guards_the_controller_namespace_and_a_weakened_one_is_named() {
        let (policy, binding) = shipped();
        let name = "kage-sealing-keys";
        assert_eq!(judge(&policy, &binding, name, "kage-system"), None);
        assert!(judge(&policy, &binding, name, "other").is_some());

        let mut ignoring = policy.clone();
        ignoring.spec.as_mut().unwrap().failure_policy = Some("Ignore".to_owned());
        assert!(
            judge(&ignoring, &binding, name, "kage-system")
                .unwrap()
                .contains("Ignore")
        );

        let mut warning = binding.clone();
        warning.spec.validation_actions = vec!["Warn".to_owned()];
        assert!(
            judge(&policy, &warning, name, "kage-system")
                .unwrap()
                .contains("does not deny")
        );

        let mut other = binding;
        other.spec.policy_name = "something-else".to_owned();
        assert!(
            judge(&policy, &other, name, "kage-system")
                .unwrap()
                .contains("another policy")
        );
    }
}
