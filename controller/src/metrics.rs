//! Prometheus metrics, served at `/metrics`.

use std::sync::PoisonError;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::SealedSecretStore;

/// Label: a result or reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok`, or the failure category.
    pub result: String,
}

/// Label: a failure reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The failure category (the Ready condition's reason).
    pub reason: String,
}

/// Label: a key state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// `active` or `retired`.
    pub state: String,
}

/// Label: a Ready status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabel {
    /// `True`, `False` or `Unknown`.
    pub ready: String,
}

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Route, e.g. `/v1/verify`.
    pub route: String,
    /// Status code.
    pub code: String,
}

/// Label: a request to the Kubernetes API.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabel {
    /// The HTTP method, or `WATCH` for a watch.
    pub verb: String,
}

/// Buckets of the reconcile duration histogram, in seconds.
const RECONCILE_BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Every metric the controller exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// `kage_reconciles_total{result}`.
    pub reconciles: Family<ResultLabel, Counter>,
    /// `kage_unseal_failures_total{reason}`.
    pub unseal_failures: Family<ReasonLabel, Counter>,
    /// `kage_reconcile_duration_seconds`.
    pub reconcile_duration: Histogram,
    /// `kage_keys{state}`.
    pub keys: Family<StateLabel, Gauge>,
    /// `kage_newest_key_age_seconds`.
    pub newest_key_age: Gauge,
    /// `kage_sealedsecrets{ready}`: counted from the leader's store at each scrape.
    sealed_secrets: Family<ReadyLabel, Gauge>,
    /// The leader's store of SealedSecrets, while this replica leads.
    sealed_secrets_store: Mutex<Option<Arc<SealedSecretStore>>>,
    /// `kage_http_requests_total{route,code}`.
    pub http_requests: Family<HttpLabels, Counter>,
    /// `kage_leader` (1 on the replica holding the lease).
    pub leader: Gauge,
    /// `kage_api_requests_total{verb}`: requests this process sent to the Kubernetes API.
    pub api_requests: Family<VerbLabel, Counter>,
    /// `kage_newest_key_backed_up`: 1 once `kage key backup` saved the current key; alert on 0.
    pub newest_key_backed_up: Gauge,
    /// `kage_key_policy_in_place`: 1 while the admission policy guarding the sealing keys and
    /// its binding are in place (see `key_policy`); alert on 0.
    pub key_policy_in_place: Gauge,
    /// `kage_template_renders_total`: SealedSecrets whose templates this process rendered
    /// (counted by the reconcile that rendered them).
    template_renders: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kage");
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            reconciles: Family::default(),
            unseal_failures: Family::default(),
            reconcile_duration: Histogram::new(RECONCILE_BUCKETS),
            keys: Family::default(),
            newest_key_age: Gauge::default(),
            sealed_secrets: Family::default(),
            sealed_secrets_store: Mutex::new(None),
            http_requests: Family::default(),
            leader: Gauge::default(),
            api_requests: Family::default(),
            newest_key_backed_up: Gauge::default(),
            key_policy_in_place: Gauge::default(),
            template_renders: Counter::default(),
        };
        registry.register("reconciles", "Reconciles by result", m.reconciles.clone());
        registry.register(
            "unseal_failures",
            "SealedSecrets that could not be unsealed, by reason",
            m.unseal_failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time to reconcile one SealedSecret",
            m.reconcile_duration.clone(),
        );
        registry.register("keys", "Sealing keys by state", m.keys.clone());
        registry.register(
            "newest_key_age_seconds",
            "Age of the newest active sealing key",
            m.newest_key_age.clone(),
        );
        registry.register(
            "sealedsecrets",
            "SealedSecrets by Ready status (on the leader)",
            m.sealed_secrets.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status code",
            m.http_requests.clone(),
        );
        registry.register(
            "leader",
            "1 if this replica holds the leader lease",
            m.leader.clone(),
        );
        registry.register(
            "api_requests",
            "Requests sent to the Kubernetes API, by verb",
            m.api_requests.clone(),
        );
        registry.register(
            "newest_key_backed_up",
            "1 if the current sealing key has been backed up with `kage key backup`",
            m.newest_key_backed_up.clone(),
        );
        registry.register(
            "key_policy_in_place",
            "1 while the admission policy guarding the sealing keys is in place",
            m.key_policy_in_place.clone(),
        );
        registry.register(
            "template_renders",
            "SealedSecrets whose spec.template.data this process rendered",
            m.template_renders.clone(),
        );
        *m.registry.lock().unwrap_or_else(PoisonError::into_inner) = registry;
        m
    }
}

impl Metrics {
    /// Counts one request to the Kubernetes API.
    pub fn count_api_request<B>(&self, request: &::http::Request<B>) {
        let watch = request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "watch=true"));
        let verb = if watch {
            "WATCH"
        } else {
            request.method().as_str()
        };
        self.api_requests
            .get_or_create(&VerbLabel {
                verb: verb.to_owned(),
            })
            .inc();
    }

    /// Counts SealedSecrets by Ready status from `store` (the leader's), or not at all (`None`,
    /// a follower: the series go away).
    pub fn count_sealed_secrets_in(&self, store: Option<Arc<SealedSecretStore>>) {
        *self
            .sealed_secrets_store
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = store;
    }

    fn count_sealed_secrets(&self) {
        let Some(store) = &*self
            .sealed_secrets_store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        else {
            self.sealed_secrets.clear();
            return;
        };
        for (ready, count) in store.count_by_ready() {
            self.sealed_secrets
                .get_or_create(&ReadyLabel {
                    ready: ready.to_owned(),
                })
                .set(count);
        }
    }

    /// Counts one SealedSecret whose templates were rendered.
    pub fn count_template_render(&self) {
        self.template_renders.inc();
    }

    /// The Prometheus text exposition of every metric.
    #[allow(clippy::expect_used, reason = "writing into a String cannot fail")]
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.count_sealed_secrets();
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("write to String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use kage_api::{SealedSecret, SealedSecretStatus};
    use kube::runtime::watcher;

    /// The value of `series` in the exposition, parsed; `None` when only a comment names it.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .find(|(s, _)| *s == series)
            .and_then(|(_, v)| v.parse().ok())
    }

    fn object(name: &str, ready: Option<&str>) -> SealedSecret {
        let mut s = SealedSecret::new(name, Default::default());
        s.metadata.namespace = Some("ns".into());
        s.status = ready.map(|status| SealedSecretStatus {
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: status.into(),
                reason: "R".into(),
                message: String::new(),
                observed_generation: None,
                last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
            }],
            ..Default::default()
        });
        s
    }

    #[test]
    fn sealed_secrets_are_counted_by_ready_status_on_the_leader_only() {
        let metrics = Metrics::default();
        let store = std::sync::Arc::new(crate::store::SealedSecretStore::default());
        for (name, ready) in [
            ("a", Some("True")),
            ("b", Some("True")),
            ("c", Some("False")),
            ("d", None),
        ] {
            store.apply(
                watcher::Event::Apply(object(name, ready)),
                &crate::policy::TemplatePolicy::new("kage-system", &[], &[]),
            );
        }
        metrics.count_sealed_secrets_in(Some(store));
        let text = metrics.render();
        assert_eq!(
            sample(&text, "kage_sealedsecrets{ready=\"True\"}"),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, "kage_sealedsecrets{ready=\"False\"}"),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "kage_sealedsecrets{ready=\"Unknown\"}"),
            Some(1.0)
        );
        // Rendering twice counts once.
        assert_eq!(
            sample(&metrics.render(), "kage_sealedsecrets{ready=\"True\"}"),
            Some(2.0)
        );
        metrics.count_sealed_secrets_in(None);
        assert_eq!(
            sample(&metrics.render(), "kage_sealedsecrets{ready=\"True\"}"),
            None
        );
    }

    #[test]
    fn the_backed_up_gauge_reads_as_a_sample_not_as_its_help_text() {
        let metrics = Metrics::default();
        let text = metrics.render();
        // The HELP line starts with "kage_newest_key_backed_up 1 if ...": a text match would pass.
        assert!(text.contains("kage_newest_key_backed_up 1"));
        assert_eq!(sample(&text, "kage_newest_key_backed_up"), Some(0.0));
        metrics.newest_key_backed_up.set(1);
        assert_eq!(
            sample(&metrics.render(), "kage_newest_key_backed_up"),
            Some(1.0)
        );
    }
}
