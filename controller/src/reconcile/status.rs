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
        previous: &[Condition],
    ) -> Vec<Condition> {
        let flag = |on: bool| if on { "True" } else { "False" };
        [
            ("Ready", self.ready),
            ("Reconciling", flag(self.progress == Progress::Retrying)),
            ("Stalled", flag(self.progress == Progress::Stalled)),
        ]
        .into_iter()
        .map(|(type_, status)| {
            let last_transition_time = match previous.iter().find(|c| c.type_ == type_) {
                Some(c) if c.status == status => c.last_transition_time.clone(),
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

/// Writes observedGeneration, the conditions and the Secret's resourceVersion when any of
/// them changed. Returns whether the Ready condition changed (an Event is due).
pub(super) async fn update_status(
    sealed: &SealedSecret,
    ctx: &Context,
    verdict: &Verdict<'_>,
    secret_version: Option<String>,
) -> Result<bool, Error> {
    let generation = sealed.metadata.generation;
    let status = sealed.status.clone().unwrap_or_default();
    let conditions = verdict.conditions(generation, &status.conditions);
    let unchanged = |a: &Condition, b: &Condition| {
        (
            &a.type_,
            &a.status,
            &a.reason,
            &a.message,
            a.observed_generation,
        ) == (
            &b.type_,
            &b.status,
            &b.reason,
            &b.message,
            b.observed_generation,
        )
    };
    let same_conditions = status.conditions.len() == conditions.len()
        && status
            .conditions
            .iter()
            .zip(&conditions)
            .all(|(a, b)| unchanged(a, b));
    if same_conditions
        && status.observed_generation == generation
        && status.secret_resource_version == secret_version
    {
        return Ok(false);
    }
    let transition = !sealed
        .ready_condition()
        .is_some_and(|c| c.status == verdict.ready && c.reason == verdict.reason);
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
    Ok(transition)
}
