//! Turning one SealedSecret into its Secret.
//!
//! The Secret has the SealedSecret's name and namespace, is owned by it, and is written with
//! server-side apply under one field manager. Nothing is written when nothing changed: the
//! Secret carries a digest of what it was made from, and the SealedSecret's status remembers
//! the Secret's resourceVersion, so a resync costs one metadata read and no decryption.
//!
//! [`error`] says why a reconcile failed and with which reason, [`summary`] what the controller
//! keeps of a SealedSecret between reconciles, [`write`] how the Secret is written, [`status`]
//! how the outcome is recorded.

mod error;
mod status;
mod summary;
#[cfg(test)]
mod tests;
mod write;

pub use error::{Error, READY_REASONS};
pub use status::WrittenStatus;
pub use summary::{SealedSecretSummary, SourceDigest};

use error::*;
use status::*;
use summary::*;
use write::*;

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kage_api::seal::ConvertError;
use kage_api::unseal::unseal;
use kage_api::{
    ADOPT_ANNOTATION, CONTROLLER_FIELD_MANAGER as FIELD_MANAGER, IMMUTABLE_ANNOTATION,
    SEALED_SECRET_LABEL, SOURCE_DIGEST_ANNOTATION, SealedSecret,
};
use kage_core::{OpenError, SealedValue};
use kube::api::{DeleteParams, GetParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Resource};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api_call::timed;
use crate::audit;
use crate::ids::{Uid, Version};
use crate::metrics::{ReasonLabel, ResultLabel};
use crate::owned::{OwnedSecrets, SecretFacts};
use crate::policy::{Refusal, TemplatePolicy};
use crate::sealing_keys::{KeySet, wipe_secret};
use crate::state::Shared;

/// How long a reconcile waits for the first list of the owned Secrets before it asks the API
/// server for its Secret instead.
pub const OWNED_SECRETS_WAIT: Duration = Duration::from_secs(5);
/// Everything a reconcile needs, built once.
pub struct Context {
    /// Client, keys and metrics (shared with the endpoints and the key watcher).
    pub shared: Shared,
    /// Publishes Events.
    pub recorder: Recorder,
    /// The Secrets kage wrote, kept by a watch: an existing Secret is looked up here, not
    /// fetched.
    pub owned_secrets: OwnedSecrets,
    /// What a SealedSecret may make the controller write.
    pub policy: TemplatePolicy,
    /// The statuses this process wrote that the store may not show yet.
    pub written_status: WrittenStatus,
}

/// What follows a reconcile that succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing until the next change or resync.
    Resync,
    /// Someone else wrote the Secret while it was being written: reconcile again now.
    Again,
}

/// Brings the Secret of `sealed` up to date and records the outcome in its status.
pub async fn reconcile(sealed: Arc<SealedSecretSummary>, ctx: Arc<Context>) -> Result<Next, Error> {
    let started = Instant::now();
    let outcome = sync(&sealed, &ctx).await;
    ctx.shared
        .metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    let result = match &outcome {
        Ok(_) => "ok",
        Err(e) => e.reason(),
    };
    ctx.shared
        .metrics
        .reconciles
        .get_or_create(&ResultLabel {
            result: result.to_owned(),
        })
        .inc();
    let (ready, reason, message, secret_version) = match &outcome {
        Ok(synced) => (
            "True",
            "Unsealed",
            format!("Secret {} is up to date", sealed.name_or_empty()),
            synced.version.clone(),
        ),
        Err(e) => (
            "False",
            e.reason(),
            e.to_string(),
            sealed.secret_resource_version().map(Version::to_string),
        ),
    };
    match &outcome {
        Ok(_) => tracing::debug!(
            namespace = sealed.namespace_or_empty(),
            name = sealed.name_or_empty(),
            "in sync"
        ),
        Err(e) => {
            tracing::warn!(namespace = sealed.namespace_or_empty(), name = sealed.name_or_empty(), reason = e.reason(), error = %e, "not ready")
        }
    }
    let first_unseal = sealed.ready_condition().is_none() && outcome.is_ok();
    let progress = match &outcome {
        Ok(_) => Progress::Done,
        Err(e) if e.is_stalled() => Progress::Stalled,
        Err(_) => Progress::Retrying,
    };
    let transition = update_status(
        &sealed,
        &ctx,
        &Verdict {
            ready,
            reason,
            message: &message,
            progress,
        },
        secret_version,
    )
    .await?;
    if transition
        && let Err(e) = &outcome
        && !matches!(e, Error::Api { .. })
    {
        ctx.shared
            .metrics
            .unseal_failures
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }
    // Events mark changes an operator cares about: a failure, or the recovery from one. The
    // first unseal of a new object is not one (it would double the writes of a cold sync).
    if transition && !first_unseal {
        let event = Event {
            type_: if ready == "True" {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: reason.to_owned(),
            note: Some(message),
            action: "Unseal".to_owned(),
            secondary: None,
        };
        let published = timed(ctx.recorder.publish(&event, &sealed.object_ref()))
            .await
            .map_err(Error::api("publishing an Event"));
        if let Err(e) = published {
            tracing::warn!(error = %e, "cannot publish event");
        }
    }
    outcome.map(|synced| {
        if synced.again {
            Next::Again
        } else {
            Next::Resync
        }
    })
}
