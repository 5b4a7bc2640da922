//! Writing the Secret: created, applied on the checked version, or replaced; never more than
//! the sealed input calls for.

use super::*;

/// Returns the resourceVersion of the Secret as it now stands.
#[allow(
    clippy::expect_used,
    reason = "a SealedSecret is namespaced, so it has an owner reference"
)]
pub(super) async fn sync(sealed: &SealedSecretSummary, ctx: &Context) -> Result<Synced, Error> {
    // Refused before any value is opened or anything is written.
    if let Some(refusal) = sealed.refusal() {
        return Err(Error::Refused(refusal.clone()));
    }
    let namespace = sealed.namespace_or_empty();
    let name = sealed.name_or_empty();
    let secrets: Api<Secret> = Api::namespaced(ctx.shared.client.clone(), namespace);
    let keys = ctx.shared.keys.snapshot();
    let (digest, openable) = sealed.digest_and_openable(&keys);
    // Every Secret kage wrote is in the index. One that is not may still exist without our
    // label (someone else's, or one marked for adoption): ask the API server's cache.
    // Reconciling before the index is filled would fetch every Secret; the controller keeps
    // filling it meanwhile. If the watch cannot list (no RBAC for Secrets), a miss asks the API
    // and the error it gets becomes the condition.
    let _ = tokio::time::timeout(OWNED_SECRETS_WAIT, ctx.owned_secrets.wait_until_ready()).await;
    // For a SealedSecret never reconciled (no status yet) whose Secret the filled index does
    // not hold, the lookup is skipped: the create fails if a Secret exists after all (someone
    // else's, one marked for adoption, one whose event is late), and the write below then
    // reads it and decides on what it finds. One request less per new object; an object that
    // failed once (it has a status) is looked up first, so a retry does not open its values.
    let existing = match ctx.owned_secrets.get(namespace, name) {
        Some(facts) => Some(facts),
        None if ctx.owned_secrets.is_ready() && sealed.status().is_none() => None,
        None => read_facts(&secrets, name, GetParams::any()).await?,
    };
    let target = Target::of(name, sealed.uid(), existing)?;
    if let Target::Existing(facts) = &target {
        let last_written = sealed.secret_resource_version();
        let owned = sealed
            .uid()
            .is_some_and(|uid| facts.owner_uids.contains(uid));
        let as_written = facts.resource_version.as_ref().is_some_and(|version| {
            Some(version) == last_written || ctx.owned_secrets.wrote(namespace, name, version)
        });
        if owned && openable && facts.source_digest == Some(digest) && as_written {
            return Ok(Synced {
                version: facts.resource_version.as_ref().map(Version::to_string),
                again: false,
            });
        }
    }

    // The object fetched may be newer than the one checked above: its own template is checked.
    let sealed = &with_values(sealed, ctx).await?;
    ctx.policy
        .check(namespace, sealed.spec.template.as_ref())
        .map_err(Error::Refused)?;
    let digest = source_digest(sealed);
    let secret = {
        let secret = unseal(sealed, &keys.ring);
        if let Err(e) = &secret {
            audit::unseal(namespace, name, &[], &kage_api::error_chain(e));
        }
        secret.map_err(|e| Error::from_unseal(e, &keys))?
    };
    audit::unseal(namespace, name, &secret.opened_with, "ok");
    if secret.rendered {
        ctx.shared.metrics.count_template_render();
    }
    // The Secret as `kage unseal` prints it, plus what marks it as this SealedSecret's.
    let mut body = secret.to_secret();
    drop(secret);
    let metadata = &mut body.metadata;
    metadata
        .labels
        .get_or_insert_default()
        .insert(SEALED_SECRET_LABEL.to_owned(), name.to_owned());
    let immutable = body.immutable == Some(true);
    let annotations = metadata.annotations.get_or_insert_default();
    annotations.insert(SOURCE_DIGEST_ANNOTATION.to_owned(), digest.to_string());
    annotations.insert(IMMUTABLE_ANNOTATION.to_owned(), immutable.to_string());
    metadata.owner_references = Some(vec![
        sealed.controller_owner_ref(&()).expect("namespaced object"),
    ]);
    ctx.owned_secrets.begin_write(namespace, name);
    let result = async {
        let result = write(&secrets, name, &mut body, &target).await;
        // The index was behind (or someone wrote in between): look again at the live Secret,
        // check it is still ours to write, and try once more on its version.
        if matches!(&result, Err(Error::Api { source: kube::Error::Api(s), .. }) if s.code == 409) {
            let fresh = read_facts(&secrets, name, GetParams::default()).await?;
            let uid = sealed.metadata.uid.as_deref().map(Uid::new);
            let target = Target::of(name, uid.as_ref(), fresh)?;
            return write(&secrets, name, &mut body, &target).await;
        }
        result
    }
    .await;
    wipe_secret(&mut body);
    if let Ok(Some(version)) = &result {
        ctx.owned_secrets
            .record_write(namespace, name, version.clone());
    }
    let written = result.as_ref().ok().and_then(Option::as_deref);
    let again = ctx.owned_secrets.end_write(namespace, name, written);
    result.map(|version| Synced { version, again })
}

/// What a sync left.
pub(super) struct Synced {
    /// The Secret's resourceVersion as it now stands.
    pub(super) version: Option<String>,
    /// Whether someone else wrote the Secret while it was being written: reconcile again now.
    pub(super) again: bool,
}

pub(super) async fn read_facts(
    secrets: &Api<Secret>,
    name: &str,
    params: GetParams,
) -> Result<Option<SecretFacts>, Error> {
    Ok(timed(secrets.get_metadata_opt_with(name, &params))
        .await
        .map_err(Error::api("reading the Secret"))?
        .map(|meta| SecretFacts::of(&meta)))
}

/// The Secret a reconcile writes: a new one, or one that exists and may be written (it is
/// owned by this SealedSecret, or marked for adoption by exactly this SealedSecret's uid).
pub(super) enum Target {
    New,
    Existing(SecretFacts),
}

impl Target {
    /// The target for the SealedSecret `name` of `uid`, given the Secret that exists.
    pub(super) fn of(
        name: &str,
        uid: Option<&Uid>,
        existing: Option<SecretFacts>,
    ) -> Result<Self, Error> {
        let Some(facts) = existing else {
            return Ok(Target::New);
        };
        // An object without a uid owns nothing and adopts nothing.
        let uid = uid.filter(|uid| **uid != Uid::new(""));
        let owned = uid.is_some_and(|uid| facts.owner_uids.contains(uid));
        let adopting = uid.is_some_and(|uid| facts.adopt_by.as_ref() == Some(uid));
        if owned || adopting {
            Ok(Target::Existing(facts))
        } else {
            Err(Error::NotOwned {
                name: name.to_owned(),
                uid: uid.map(Uid::to_string).unwrap_or_default(),
            })
        }
    }
}

/// Writes the Secret: created when absent (failing if one appeared meanwhile), else applied
/// on the exact uid and resourceVersion that were checked. Returns its new resourceVersion.
///
/// Which requests are sent depends on the Secret's metadata and the sealed input only, never
/// on the values: an immutable Secret is always replaced (deleted on the checked version, then
/// created), since an apply would succeed when the new values equal the old ones and be refused
/// otherwise, telling an editor of the SealedSecret whether a sealed guess was right. A mutable
/// Secret is always changed by the apply, because the source digest annotation changes with
/// every new sealed input.
pub(super) async fn write(
    secrets: &Api<Secret>,
    name: &str,
    body: &mut Secret,
    target: &Target,
) -> Result<Option<String>, Error> {
    let facts = match target {
        Target::New => return create(secrets, body).await,
        Target::Existing(facts) => facts,
    };
    let immutable = match facts.immutable {
        Some(immutable) => immutable,
        None => read_immutable(secrets, name).await?,
    };
    if immutable {
        return replace(secrets, body, facts).await;
    }
    body.metadata.uid = facts.uid.as_ref().map(Uid::to_string);
    body.metadata.resource_version = facts.resource_version.as_ref().map(Version::to_string);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let attempt = timed(secrets.patch(name, &params, &Patch::Apply(&*body))).await;
    body.metadata.uid = None;
    body.metadata.resource_version = None;
    match attempt {
        Ok(mut written) => {
            let version = remove_stale_keys(secrets, name, body, &written).await;
            wipe_secret(&mut written);
            version
        }
        // The type cannot change in place (a public field), nor the data of a Secret made
        // immutable by hand behind kage's annotation: replace it.
        Err(kube::Error::Api(status))
            if status.code == 422 && status.message.contains("immutable") =>
        {
            replace(secrets, body, facts).await
        }
        Err(kube::Error::Api(status)) if status.code == 422 => Err(refused_by_api(&status)),
        Err(e) => Err(Error::api("writing the Secret")(e)),
    }
}

/// Whether a Secret kage has not annotated (one to adopt, or written by an older kage) is
/// immutable: read whole once, its data wiped at once.
pub(super) async fn read_immutable(secrets: &Api<Secret>, name: &str) -> Result<bool, Error> {
    let mut secret = timed(secrets.get(name))
        .await
        .map_err(Error::api("reading the Secret"))?;
    wipe_secret(&mut secret);
    Ok(secret.immutable == Some(true))
}

/// Deletes exactly the version that was checked, then creates the Secret anew.
pub(super) async fn replace(
    secrets: &Api<Secret>,
    body: &Secret,
    facts: &SecretFacts,
) -> Result<Option<String>, Error> {
    let name = body.metadata.name.as_deref().unwrap_or_default();
    let precondition = DeleteParams {
        preconditions: Some(Preconditions {
            uid: facts.uid.as_ref().map(Uid::to_string),
            resource_version: facts.resource_version.as_ref().map(Version::to_string),
        }),
        ..DeleteParams::default()
    };
    timed(secrets.delete(name, &precondition))
        .await
        .map_err(Error::api("replacing an immutable Secret"))?;
    create(secrets, body).await
}

/// Creates the Secret; fails (409) if a Secret of that name appeared since it was looked up.
pub(super) async fn create(secrets: &Api<Secret>, body: &Secret) -> Result<Option<String>, Error> {
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let created = timed(secrets.create(&params, body)).await;
    match created {
        Ok(mut written) => {
            wipe_secret(&mut written);
            Ok(written.metadata.resource_version)
        }
        Err(kube::Error::Api(status)) if status.code == 422 => Err(refused_by_api(&status)),
        Err(e) => Err(Error::api("creating the Secret")(e)),
    }
}

/// Data keys the applied body no longer has but the Secret still holds (left by its creation,
/// which server-side apply does not own, or added by hand) are removed, on the version just
/// written. Returns the Secret's resourceVersion.
pub(super) async fn remove_stale_keys(
    secrets: &Api<Secret>,
    name: &str,
    body: &Secret,
    written: &Secret,
) -> Result<Option<String>, Error> {
    let version = written.metadata.resource_version.clone();
    let stale: Vec<&String> = written
        .data
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .filter(|k| !body.data.as_ref().is_some_and(|d| d.contains_key(*k)))
        .collect();
    if stale.is_empty() {
        return Ok(version);
    }
    // A merge patch carrying the resourceVersion is refused if the Secret changed meanwhile.
    let removals: serde_json::Map<String, serde_json::Value> = stale
        .iter()
        .map(|k| ((*k).clone(), serde_json::Value::Null))
        .collect();
    let patch = json!({"metadata": {"resourceVersion": version}, "data": removals});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let mut patched = timed(secrets.patch(name, &params, &Patch::Merge(&patch)))
        .await
        .map_err(Error::api("removing stale keys from the Secret"))?;
    wipe_secret(&mut patched);
    Ok(patched.metadata.resource_version)
}
