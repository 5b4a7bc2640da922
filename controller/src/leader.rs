//! Leader election on a Lease: several replicas run, one reconciles, rotates and publishes.
//!
//! A replica holds the lease while it renews it every [`RETRY_PERIOD`]. It gives up leadership
//! when it has not renewed for [`RENEW_DEADLINE`], which is shorter than [`LEASE_DURATION`]:
//! it stops writing before any other replica may take over.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;

/// How long a lease is valid after its last renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// A leader that could not renew for this long steps down.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often the lease is renewed or tried.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// One replica's view of the lease.
#[derive(Clone)]
pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
}

impl LeaderElection {
    /// Election on Lease `namespace/name` as `identity`.
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Self {
        LeaderElection {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
        }
    }

    /// Tries once to take or renew the lease; `Ok(true)` when this replica holds it now.
    #[allow(clippy::expect_used, reason = "the Lease literal has the Lease schema")]
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = jiff::Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease: Lease = serde_json::from_value(json!({
                "metadata": {"name": self.name},
                "spec": {
                    "holderIdentity": self.identity,
                    "leaseDurationSeconds": LEASE_DURATION.as_secs(),
                    "acquireTime": MicroTime(now),
                    "renewTime": MicroTime(now),
                    "leaseTransitions": 0,
                },
            }))
            .expect("valid Lease");
            return match self.api.create(&self.post_params(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let duration = spec
            .lease_duration_seconds
            .map_or(LEASE_DURATION, |s| Duration::from_secs(s.max(0) as u64));
        let expired = spec
            .renew_time
            .as_ref()
            .is_none_or(|t| now.duration_since(t.0).unsigned_abs() > duration && now > t.0);
        if holder != self.identity {
            if !holder.is_empty() && !expired {
                return Ok(false);
            }
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.lease_duration_seconds = Some(LEASE_DURATION.as_secs() as i32);
        }
        spec.renew_time = Some(MicroTime(now));
        // replace() carries the resourceVersion read above: a concurrent writer makes it fail.
        match self
            .api
            .replace(&self.name, &self.post_params(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates and replaces carry the controller's field manager, like its other writes.
    fn post_params(&self) -> PostParams {
        PostParams {
            field_manager: Some(kage_api::CONTROLLER_FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        }
    }

    /// Hands the lease back (on shutdown) so that another replica takes over at once.
    pub async fn release(&self) {
        if let Ok(Some(lease)) = self.api.get_opt(&self.name).await
            && lease.spec.and_then(|s| s.holder_identity).as_deref() == Some(&self.identity)
        {
            // Only the version that names this replica: a lease taken over meanwhile stays.
            let patch = json!({
                "metadata": {"resourceVersion": lease.metadata.resource_version},
                "spec": {"holderIdentity": null, "renewTime": null},
            });
            let params = PatchParams {
                field_manager: Some(kage_api::CONTROLLER_FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            };
            let _ = self
                .api
                .patch(&self.name, &params, &Patch::Merge(&patch))
                .await;
        }
    }

    /// Keeps trying forever, publishing whether this replica leads on `leading`.
    pub async fn run(self, leading: watch::Sender<bool>) {
        let mut last_renewal: Option<Instant> = None;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = Some(Instant::now()),
                Ok(false) => last_renewal = None,
                Err(e) => tracing::warn!(error = %e, "cannot reach the leader lease"),
            }
            let leads = last_renewal.is_some_and(|t| t.elapsed() < RENEW_DEADLINE);
            if *leading.borrow() != leads {
                tracing::info!(identity = %self.identity, leads, "leadership changed");
                let _ = leading.send(leads);
            }
            tokio::time::sleep(RETRY_PERIOD).await;
        }
    }
}
