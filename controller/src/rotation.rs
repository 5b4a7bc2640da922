//! Creating sealing keys: on a schedule, and when an admin asks for it by writing the
//! rotation-request ConfigMap (`kage key rotate`). Who may ask is decided by Kubernetes RBAC on
//! that object; no HTTP request can create a key. Both paths go through the same limits
//! ([`KeySet::may_rotate`](crate::sealing_keys::KeySet::may_rotate)).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kage_api::ROTATION_REQUEST_CONFIGMAP;
use kage_api::rotation::{RotationAnswer, RotationRequest};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::api_call::timed;
use crate::sealing_keys::{KeyError, KeyStore, SharedKeySet};

/// How long the schedule waits after a key creation (or a refusal) before looking again.
const AFTER_ROTATION: Duration = Duration::from_secs(5);

/// Creates a new key once the newest active key is `period` old (never when zero). The due
/// time comes from the newest key's creation time, so restarts neither hurry nor delay it.
pub async fn rotate_on_schedule(store: Arc<KeyStore>, keys: Arc<SharedKeySet>, period: Duration) {
    if period.is_zero() {
        return;
    }
    loop {
        let newest = keys.snapshot().current().map(|k| k.created);
        let wait = newest.map_or(Duration::ZERO, |created| {
            due_in(period, created, jiff::Timestamp::now())
        });
        if wait.is_zero() {
            match store.rotate().await {
                Ok(name) => tracing::info!(secret = %name, "rotated the sealing key"),
                Err(e) => tracing::warn!(error = %e, "cannot rotate the sealing key"),
            }
            // The key watcher installs the new key; give it a moment before looking again.
            tokio::time::sleep(AFTER_ROTATION).await;
        } else {
            // Wake up at least every minute: keys may change under us.
            tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
        }
    }
}

/// How long until a key created at `created` is `period` old. A creation time ahead of `now`
/// counts as age zero, never as a large age (which would rotate at once, again and again).
fn due_in(period: Duration, created: jiff::Timestamp, now: jiff::Timestamp) -> Duration {
    let age = Duration::try_from(now.duration_since(created)).unwrap_or(Duration::ZERO);
    period.saturating_sub(age)
}

/// Watches the rotation-request ConfigMap and answers each new request once: a new key, or a
/// refusal (limits) written back on the ConfigMap and as a Warning Event.
pub async fn serve_rotation_requests(store: Arc<KeyStore>, recorder: Recorder) {
    let api: Api<ConfigMap> = Api::namespaced(store.client(), store.namespace());
    let config =
        watcher::Config::default().fields(&format!("metadata.name={ROTATION_REQUEST_CONFIGMAP}"));
    let mut events = watcher(api.clone(), config)
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(request) => answer(&api, &store, &recorder, &request).await,
            Err(e) => tracing::warn!(error = %e, "watching the rotation request"),
        }
    }
}

async fn answer(api: &Api<ConfigMap>, store: &KeyStore, recorder: &Recorder, map: &ConfigMap) {
    let Some(request) = RotationRequest::of(map) else {
        return;
    };
    if request.is_handled_in(map) {
        return;
    }
    // Mark the request handled first, on the version just read: a request is acted on at most
    // once, even by two leaders in a row or a restart halfway.
    let claim = json!({"metadata": {
        "resourceVersion": map.resource_version(),
        "annotations": RotationAnswer::InProgress.annotations(&request),
    }});
    if let Err(e) = timed(api.patch(
        ROTATION_REQUEST_CONFIGMAP,
        &patch_params(),
        &Patch::Merge(&claim),
    ))
    .await
    {
        tracing::info!(error = %e, "rotation request changed or already claimed");
        return;
    }
    let (type_, reason, answer) = match store.rotate().await {
        Ok(name) => (EventType::Normal, "Rotated", RotationAnswer::Rotated(name)),
        Err(KeyError::RotationRefused(why)) => (
            EventType::Warning,
            "RotationRefused",
            RotationAnswer::Refused(why),
        ),
        Err(e) => (
            EventType::Warning,
            "RotationFailed",
            RotationAnswer::Failed(kage_api::error_chain(&e)),
        ),
    };
    let result = answer.to_string();
    tracing::info!(request = %request.id, result = %result, "rotation request");
    let uid = map.metadata.uid.clone().unwrap_or_default();
    let version = map.resource_version().unwrap_or_default();
    crate::audit::rotation_request(
        &request.id,
        &crate::audit::ObjectVersion {
            uid: &uid,
            resource_version: &version,
        },
        &result,
    );
    let done = json!({"metadata": {"annotations": answer.annotations(&request)}});
    if let Err(e) = timed(api.patch(
        ROTATION_REQUEST_CONFIGMAP,
        &patch_params(),
        &Patch::Merge(&done),
    ))
    .await
    {
        tracing::warn!(error = %e, "cannot record the rotation result");
    }
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(format!("rotation request {}: {result}", request.id)),
        action: "Rotate".to_owned(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &map.object_ref(&())).await {
        tracing::warn!(error = %e, "cannot publish event");
    }
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(kage_api::CONTROLLER_FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_dated_ahead_of_the_clock_is_not_overdue() {
        let now = jiff::Timestamp::now();
        let day = Duration::from_secs(86_400);
        let ahead = now + jiff::SignedDuration::from_hours(24 * 365 * 70);
        assert_eq!(due_in(day, ahead, now), day);
        let hour_old = now - jiff::SignedDuration::from_hours(1);
        assert_eq!(due_in(day, hour_old, now), day - Duration::from_secs(3600));
        let old = now - jiff::SignedDuration::from_hours(48);
        assert_eq!(due_in(day, old, now), Duration::ZERO);
    }
}
