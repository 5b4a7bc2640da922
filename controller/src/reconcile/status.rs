//! The outcome of a reconcile, as conditions on the SealedSecret's status.

use super::*;

/// Where a SealedSecret stands after a reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Progress {
    /// Unsealed and written.
    Done,
    /// Failed in a way retrying cannot mend (`Stalled=True`).
    Stalled,
    /// Failed for now; the controller retries (`Reconciling=True`).
    Retrying,
}

/// What a reconcile concluded, as conditions say it.
pub(super) struct Verdict<'a> {
    pub(super) ready: &'a str,
    pub(super) reason: &'a str,
    pub(super) message: &'a str,
    pub(super) progress: Progress,
}

impl Verdict<'_> {
    /// `Ready`, `Reconciling` and `Stalled`, in the shape kstatus (Flux), `kubectl wait` and
    /// Argo CD read: each present, `True` or `False`, with the same reason and message.
    pub(super) fn conditions(
        &self,
        generation: Option<i64>,
        previous: Option<&Conditions>,
    ) -> Vec<Condition> {
        let flag = |on: bool| if on { "True" } else { "False" };
        let statuses = [
            self.ready,
            flag(self.progress == Progress::Retrying),
            flag(self.progress == Progress::Stalled),
        ];
        CONDITION_TYPES
            .into_iter()
            .zip(statuses)
            .map(|(type_, status)| {
                let last_transition_time = match previous.and_then(|p| p.get(type_)) {
                    Some(c) if c.status.is(status) => c.last_transition_time.clone(),
                    _ => Time(jiff::Timestamp::now()),
                };
                Condition {
                    type_: type_.to_owned(),
                    status: status.to_owned(),
                    reason: self.reason.to_owned(),
                    message: self.message.to_owned(),
                    observed_generation: generation,
                    last_transition_time,
                }
            })
            .collect()
    }
}

/// The statuses this process wrote that the SealedSecret store may not show yet: per object
/// (a hash of its namespace and name), a hash of the resourceVersion the write was based on and
/// a digest of what it wrote. A reconcile that reads the object from the store before the
/// status write's own event arrives (woken by the echo of its Secret write) would otherwise
/// write the same status again, with a new transition time: a real write, and a race with
/// whoever reads the object next (a restarted controller saw it as a change). About 24 bytes
/// per object; an entry goes when the store shows the status it recorded.
#[derive(Debug, Default)]
pub struct WrittenStatus(std::sync::Mutex<std::collections::HashMap<u64, (u64, u64)>>);

impl WrittenStatus {
    fn entries(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, (u64, u64)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether this process wrote `digest` on top of exactly the version `based_on` of the
    /// object `key`: the store still shows that version, and what it would write is written.
    fn is_pending(&self, key: u64, based_on: u64, digest: u64) -> bool {
        self.entries().get(&key) == Some(&(based_on, digest))
    }

    fn record(&self, key: u64, based_on: u64, digest: u64) {
        self.entries().insert(key, (based_on, digest));
    }

    fn forget(&self, key: u64) {
        self.entries().remove(&key);
    }

    /// How many writes are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }
}

/// A hash of `parts`, stable within this process.
fn hash_of(parts: impl std::hash::Hash) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(parts)
}

/// Writes observedGeneration, the conditions and the Secret's resourceVersion when any of
/// them changed (and this process has not written exactly that on top of the version it
/// reads). Returns whether the Ready condition changed (an Event is due).
pub(super) async fn update_status(
    sealed: &SealedSecretSummary,
    ctx: &Context,
    verdict: &Verdict<'_>,
    secret_version: Option<String>,
) -> Result<bool, Error> {
    let generation = sealed.generation();
    let status = sealed.status();
    let conditions = verdict.conditions(generation, status.map(|s| &s.conditions));
    let new_conditions = conditions_digest(&conditions);
    let key = hash_of((sealed.namespace_or_empty(), sealed.name_or_empty()));
    if status.is_some_and(|s| {
        s.conditions_digest == new_conditions
            && s.observed_generation == generation
            && Version::same(
                s.secret_resource_version.as_ref(),
                secret_version.as_deref(),
            )
    }) {
        ctx.written_status.forget(key);
        return Ok(false);
    }
    let based_on = hash_of(sealed.resource_version());
    let digest = hash_of((generation, new_conditions, &secret_version));
    if ctx.written_status.is_pending(key, based_on, digest) {
        return Ok(false);
    }
    let transition = !sealed
        .ready_condition()
        .is_some_and(|c| c.status.is(verdict.ready) && c.reason.is(verdict.reason));
    // Applied under the controller's field manager, like the Secret: the status fields are
    // the controller's, and one it no longer sets (no Secret version) goes away.
    let mut status = json!({
        "observedGeneration": generation,
        "conditions": conditions,
    });
    if let Some(version) = secret_version {
        status["secretResourceVersion"] = json!(version);
    }
    let patch = json!({
        "apiVersion": SealedSecret::api_version(&()),
        "kind": SealedSecret::kind(&()),
        "metadata": {"name": sealed.name_or_empty()},
        "status": status,
    });
    let api =
        Api::<SealedSecret>::namespaced(ctx.shared.client.clone(), sealed.namespace_or_empty());
    timed(api.patch_status(
        sealed.name_or_empty(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    ))
    .await
    .map_err(Error::api("updating the SealedSecret status"))?;
    ctx.written_status.record(key, based_on, digest);
    Ok(transition)
}
