//! What each route answers.

use super::*;

/// What `/readyz` says while the keys are not loaded; why is in the log.
pub const NOT_READY: &str = "not ready";

pub(super) async fn readyz(State(state): State<AppState>) -> Result<&'static str, Refused> {
    if state.ready.load(Ordering::Relaxed) {
        return Ok("ok");
    }
    Err(error(StatusCode::SERVICE_UNAVAILABLE, NOT_READY.to_owned()))
}

pub(super) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(auth) = &state.metrics_auth
        && let Err(denied) = auth.check(&headers).await
    {
        let (code, message) = denied.answer();
        return error(code, message).into_response();
    }
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.shared.metrics.render(),
    )
        .into_response()
}

pub(super) async fn keys(State(state): State<AppState>) -> Json<KeysAnswer> {
    Json(KeysAnswer {
        keys: state.shared.keys.snapshot().describe(),
    })
}

/// Reads the SealedSecrets of a request body (YAML or JSON, one or several), within the
/// request's budget of objects and values.
pub(super) fn read_request(body: &Bytes) -> Result<Vec<SealedSecret>, Refused> {
    let text = std::str::from_utf8(body)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "body is not UTF-8"))?;
    let docs = read_documents(text).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    if docs.len() > MAX_OBJECTS_PER_REQUEST {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("more than {MAX_OBJECTS_PER_REQUEST} objects in one request"),
        ));
    }
    let objects = docs
        .iter()
        .map(|d| sealed_secret_from_document(d).map_err(|e| error(StatusCode::BAD_REQUEST, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let values: usize = objects.iter().map(|o| o.spec.encrypted_data.len()).sum();
    if values > MAX_VALUES_PER_REQUEST {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{values} values in one request, more than {MAX_VALUES_PER_REQUEST}: split it"),
        ));
    }
    Ok(objects)
}

/// Runs `work` with a snapshot of the keys on a blocking thread, once one of the
/// [`MAX_CONCURRENT_CRYPTO`] slots is free (503 after [`CRYPTO_QUEUE_WAIT`]).
pub(super) async fn with_crypto<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&KeySet) -> T + Send + 'static,
) -> Result<T, Refused> {
    let busy = || {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the controller is busy; retry later",
        )
    };
    let permit = tokio::time::timeout(CRYPTO_QUEUE_WAIT, state.crypto.clone().acquire_owned())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let keys = state.shared.keys.snapshot();
    tokio::task::spawn_blocking(move || {
        let out = work(&keys);
        drop(permit);
        out
    })
    .await
    .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "the request failed"))
}

/// The result of opening one value here, without keeping what it holds.
pub(super) fn check_value(
    keys: &KeySet,
    sealed: &SealedSecret,
    key: &str,
    text: &str,
) -> Result<SealedValue, String> {
    let value = SealedValue::from_base64(text).map_err(|e| e.to_string())?;
    let here = Location::new(sealed.namespace_or_empty(), sealed.name_or_empty(), key);
    match keys.ring.open(&value, &here) {
        Ok(_plaintext) => Ok(value),
        Err(e) if keys.sealed_only_to_retired(&e) => {
            Err("sealed only to a retired key of this cluster; reseal it".to_owned())
        }
        Err(e) => Err(e.to_string()),
    }
}

pub(super) async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let objects = match read_request(&body) {
        Ok(o) => o,
        Err(refused) => return refused.into_response(),
    };
    let client = client_of(&headers, Some(peer), &state.trusted_proxies);
    match with_crypto(&state, move |keys| verify_all(keys, &objects, &client)).await {
        Ok(answer) => Json(answer).into_response(),
        Err(refused) => refused.into_response(),
    }
}

pub(super) fn verify_all(keys: &KeySet, objects: &[SealedSecret], client: &str) -> VerifyAnswer {
    let mut results = Vec::new();
    for sealed in objects {
        let mut fingerprints = Vec::new();
        let verdicts: Vec<ValueVerdict> = sealed
            .spec
            .encrypted_data
            .iter()
            .map(|(key, text)| match check_value(keys, sealed, key, text) {
                Ok(value) => {
                    fingerprints.extend(
                        value
                            .recipients()
                            .iter()
                            .copied()
                            .filter(|f| keys.ring.contains(f)),
                    );
                    ValueVerdict {
                        key: key.clone(),
                        ok: true,
                        reason: None,
                    }
                }
                Err(reason) => ValueVerdict {
                    key: key.clone(),
                    ok: false,
                    reason: Some(reason),
                },
            })
            .collect();
        let ok = !verdicts.is_empty() && verdicts.iter().all(|v| v.ok);
        audit::request(
            "verify",
            client,
            sealed.namespace_or_empty(),
            sealed.name_or_empty(),
            &fingerprints,
            if ok { "ok" } else { "refused" },
        );
        results.push(VerifyResult {
            namespace: sealed.namespace_or_empty().to_owned(),
            name: sealed.name_or_empty().to_owned(),
            ok,
            keys: verdicts,
        });
    }
    VerifyAnswer { results }
}

pub(super) async fn reseal(
    State(state): State<AppState>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<ResealQuery>,
    body: Bytes,
) -> Response {
    let objects = match read_request(&body) {
        Ok(o) => o,
        Err(refused) => return refused.into_response(),
    };
    let keep: Vec<Recipient> = match query.recipients() {
        Ok(k) => k,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("keep: {e}")).into_response(),
    };
    if let Some(stranger) = keep.iter().find(|r| !state.recovery.contains(r)) {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "keep: {} is not a recovery recipient of this controller (--recovery-recipient)",
                stranger.fingerprint()
            ),
        )
        .into_response();
    }
    let client = client_of(&headers, Some(peer), &state.trusted_proxies);
    match with_crypto(&state, move |keys| {
        reseal_all(keys, objects, &keep, &client)
    })
    .await
    {
        Ok(Ok(answer)) => Json(answer).into_response(),
        Ok(Err(refused)) | Err(refused) => refused.into_response(),
    }
}

pub(super) fn reseal_all(
    keys: &KeySet,
    objects: Vec<SealedSecret>,
    keep: &[Recipient],
    client: &str,
) -> Result<ResealAnswer, Refused> {
    let Some(current) = keys.current().map(|k| k.identity.recipient().clone()) else {
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, "no active key"));
    };
    let mut out = Vec::new();
    for mut sealed in objects {
        let (namespace, name) = (
            sealed.namespace_or_empty().to_owned(),
            sealed.name_or_empty().to_owned(),
        );
        let mut resealed = Vec::new();
        for (key, text) in &sealed.spec.encrypted_data {
            let here = Location::new(&namespace, &name, key);
            let refuse = |reason: &str| refuse(client, &namespace, &name, key, reason);
            let value = SealedValue::from_base64(text).map_err(|e| refuse(&e.to_string()))?;
            let plain = keys
                .ring
                .open(&value, &here)
                .map_err(|e| refuse(&e.to_string()))?;
            let mut recipients = vec![current.clone()];
            recipients.extend(
                keep.iter()
                    .filter(|r| value.recipients().contains(&r.fingerprint()))
                    .cloned(),
            );
            recipients.dedup_by_key(|r| r.fingerprint());
            // The binding comes from the authenticated value, never from the request.
            let v = seal(plain.as_bytes(), value.binding(), &recipients)
                .map_err(|e| refuse(&e.to_string()))?;
            resealed.push((key.clone(), v.to_base64()));
        }
        sealed.spec.encrypted_data.extend(resealed);
        audit::request(
            "reseal",
            client,
            &namespace,
            &name,
            &[current.fingerprint()],
            "ok",
        );
        out.push(sealed_secret_to_document(&sealed));
    }
    Ok(ResealAnswer { objects: out })
}

pub(super) fn refuse(
    client: &str,
    namespace: &str,
    name: &str,
    key: &str,
    reason: &str,
) -> Refused {
    audit::request("reseal", client, namespace, name, &[], "refused");
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("SealedSecret {namespace}/{name} key {key:?}: {reason}"),
    )
}
