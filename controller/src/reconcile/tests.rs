//! Reasons, digests, summaries and the write's refusals.

#[test]
fn every_ready_reason_has_its_troubleshooting_section() {
    let docs = include_str!("../../../docs/troubleshooting.md");
    for reason in READY_REASONS {
        assert!(
            docs.contains(&format!("### `{reason}`")),
            "docs/troubleshooting.md has no section for {reason}"
        );
    }
}

use super::*;

#[test]
fn the_digest_changes_with_data_and_template_only() {
    let mut a = SealedSecret::new("db", Default::default());
    a.spec.encrypted_data.insert("k".into(), "v1".into());
    let base = source_digest(&a);
    a.metadata.labels = Some([("x".to_owned(), "y".to_owned())].into());
    assert_eq!(source_digest(&a), base);
    a.spec.encrypted_data.insert("k".into(), "v2".into());
    assert_ne!(source_digest(&a), base);
}

#[test]
fn a_summary_keeps_the_digest_and_the_keys_but_no_value() {
    use crate::sealing_keys::KeyState;
    use crate::sealing_keys::tests::key;
    use kage_api::seal::{SecretInput, seal_secret};
    use kage_core::{Identity, Plaintext, Scope};

    let identity = Identity::generate();
    let mut input = SecretInput::default();
    input
        .insert("password", Plaintext::from(&b"hunter2"[..]))
        .unwrap();
    let mut sealed = seal_secret(
        &input,
        "db",
        "prod",
        Scope::Strict,
        std::slice::from_ref(identity.recipient()),
    )
    .unwrap();
    sealed.metadata.uid = Some("u-1".into());
    let value_text = sealed.spec.encrypted_data["password"][..40].to_owned();
    let keys = KeySet::new(vec![key(identity.clone(), KeyState::Active)]);
    let digest = source_digest(&sealed);

    let summary = SealedSecretSummary::new(sealed, &any_policy());
    assert!(!format!("{summary:?}").contains(&value_text));
    assert_eq!(summary.digest_and_openable(&keys), (digest, true));
    let retired = KeySet::new(vec![key(identity, KeyState::Retired)]);
    assert!(!summary.digest_and_openable(&retired).1);
    assert!(!summary.digest_and_openable(&KeySet::default()).1);
}

#[test]
fn a_failure_retrying_cannot_mend_is_stalled_and_only_that() {
    let permanent = [
        Error::Binding(ConvertError::NoData),
        Error::NoKey(ConvertError::NoData),
        Error::KeyRetired(ConvertError::NoData),
        Error::Tampered(ConvertError::NoData),
        Error::InvalidTemplate(String::new()),
        Error::Template(kage_api::template::TemplateError::TooManyTemplates(0)),
        Error::NotOwned {
            name: String::new(),
            uid: String::new(),
        },
        Error::Refused(Refusal::ControllerNamespace(String::new())),
    ];
    assert!(permanent.iter().all(Error::is_stalled));
    let transient = Error::api("reading")(kube::Error::LinesCodecMaxLineLengthExceeded);
    assert!(!transient.is_stalled());

    let verdict = |progress| Verdict {
        ready: if progress == Progress::Done {
            "True"
        } else {
            "False"
        },
        reason: "R",
        message: "m",
        progress,
    };
    let statuses = |progress| -> Vec<(String, String)> {
        verdict(progress)
            .conditions(Some(3), None)
            .into_iter()
            .map(|c| (c.type_, c.status))
            .collect()
    };
    let pairs = |list: [(&str, &str); 3]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        statuses(Progress::Done),
        pairs([
            ("Ready", "True"),
            ("Reconciling", "False"),
            ("Stalled", "False")
        ])
    );
    assert_eq!(
        statuses(Progress::Stalled),
        pairs([
            ("Ready", "False"),
            ("Reconciling", "False"),
            ("Stalled", "True")
        ])
    );
    assert_eq!(
        statuses(Progress::Retrying),
        pairs([
            ("Ready", "False"),
            ("Reconciling", "True"),
            ("Stalled", "False")
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn an_api_call_that_never_answers_fails_the_reconcile_after_the_timeout() {
    use crate::api_call::{API_CALL_TIMEOUT, timed};
    let never = std::future::pending::<Result<(), kube::Error>>();
    let started = tokio::time::Instant::now();
    let outcome = timed(never).await.map_err(Error::api("reading the Secret"));
    assert!(matches!(
        outcome,
        Err(Error::Api {
            action: "reading the Secret",
            ..
        })
    ));
    assert_eq!(started.elapsed(), API_CALL_TIMEOUT);
    assert!(!outcome.unwrap_err().is_stalled(), "retried, not stalled");
    let answered = timed(async { Ok::<_, kube::Error>(7) }).await;
    assert_eq!(answered.unwrap(), 7);
}

#[test]
fn an_api_refusal_quotes_no_byte_of_a_value() {
    let status: kube::core::Status = serde_json::from_value(json!({
        "code": 422,
        "reason": "Invalid",
        "message": "Secret \"app\" is invalid: data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character 'h' looking for beginning of value",
        "details": {"causes": [
            {"field": "data[.dockerconfigjson]", "reason": "FieldValueInvalid", "message": "Invalid value: \"<secret contents redacted>\": invalid character 'h' looking for beginning of value"},
            {"field": "metadata.labels", "reason": "FieldValueInvalid", "message": "Invalid value: \"a b\": a valid label must be ..."},
        ]},
    }))
    .unwrap();
    let message = refused_by_api(&status).to_string();
    assert!(!message.contains("'h'"), "{message}");
    assert!(
        message.contains("data[.dockerconfigjson]: FieldValueInvalid"),
        "{message}"
    );
    assert!(
        message.contains("metadata.labels: Invalid value: \"a b\""),
        "{message}"
    );
}

/// One error of each variant (and of each reason a variant can carry). The match has no
/// wildcard, so a new variant does not compile until it is listed here.
fn one_of_each() -> Vec<Error> {
    let all = vec![
        Error::Binding(ConvertError::NoData),
        Error::NoKey(ConvertError::NoData),
        Error::KeyRetired(ConvertError::NoData),
        Error::Tampered(ConvertError::NoData),
        Error::Template(kage_api::template::TemplateError::TooManyTemplates(0)),
        Error::NotOwned {
            name: String::new(),
            uid: String::new(),
        },
        Error::Refused(Refusal::ControllerNamespace(String::new())),
        Error::Refused(Refusal::SecretType(String::new(), String::new())),
        Error::InvalidTemplate(String::new()),
        Error::Api {
            action: "",
            source: kube::Error::Service("".into()),
        },
    ];
    for e in &all {
        match e {
            Error::Binding(_)
            | Error::NoKey(_)
            | Error::KeyRetired(_)
            | Error::Tampered(_)
            | Error::Template(_)
            | Error::NotOwned { .. }
            | Error::Refused(_)
            | Error::InvalidTemplate(_)
            | Error::Api { .. } => {}
        }
    }
    all
}

#[test]
fn the_ready_reasons_are_exactly_those_of_the_errors_and_unsealed() {
    let mut from_errors: Vec<&str> = one_of_each().iter().map(Error::reason).collect();
    from_errors.push("Unsealed");
    from_errors.sort_unstable();
    from_errors.dedup();
    let mut listed = READY_REASONS.to_vec();
    listed.sort_unstable();
    assert_eq!(from_errors, listed);
}

/// One request the mocked API server received.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    query: String,
    body: serde_json::Value,
}

/// A client whose API server records each request and answers it with `answer(request
/// number)`: request shapes only (the e2e suite is the proof against a real API server).
fn mocked(
    answer: fn(usize) -> (u16, serde_json::Value),
) -> (kube::Client, Arc<std::sync::Mutex<Vec<Seen>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let log = log.clone();
        async move {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let mut log = log.lock().unwrap();
            log.push(Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                body: serde_json::from_slice(&bytes).unwrap_or_default(),
            });
            let (code, json) = answer(log.len() - 1);
            Ok::<_, std::convert::Infallible>(
                http::Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(kube::client::Body::from(json.to_string().into_bytes()))
                    .unwrap(),
            )
        }
    });
    (kube::Client::new(service, "default"), seen)
}

fn written_secret(version: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "app", "namespace": "ns", "resourceVersion": version},
        "data": {"password": "cw=="}})
}

fn body_to_write() -> Secret {
    Secret {
        metadata: kube::core::ObjectMeta {
            name: Some("app".to_owned()),
            namespace: Some("ns".to_owned()),
            ..Default::default()
        },
        data: Some(
            [(
                "password".to_owned(),
                k8s_openapi::ByteString(b"s".to_vec()),
            )]
            .into(),
        ),
        ..Default::default()
    }
}

fn facts(immutable: bool) -> SecretFacts {
    SecretFacts {
        uid: Some(Uid::new("u-1")),
        resource_version: Some(Version::new("41")),
        owner_uids: [Uid::new("owner")].into(),
        source_digest: None,
        adopt_by: None,
        immutable: Some(immutable),
        written_here: false,
    }
}

#[tokio::test]
async fn an_owned_mutable_secret_is_applied_once_on_the_checked_uid_and_version() {
    let (client, seen) = mocked(|_| (200, written_secret("42")));
    let secrets: Api<Secret> = Api::namespaced(client, "ns");
    let version = write(
        &secrets,
        "app",
        &mut body_to_write(),
        &Target::Existing(facts(false)),
    )
    .await
    .unwrap();
    assert_eq!(version.as_deref(), Some("42"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "PATCH");
    assert_eq!(seen[0].path, "/api/v1/namespaces/ns/secrets/app");
    assert!(
        seen[0]
            .query
            .contains(&format!("fieldManager={FIELD_MANAGER}")),
        "{seen:?}"
    );
    assert!(seen[0].query.contains("force=true"), "{seen:?}");
    assert_eq!(seen[0].body["metadata"]["uid"], "u-1");
    assert_eq!(seen[0].body["metadata"]["resourceVersion"], "41");
    assert_eq!(seen[0].body["kind"], "Secret");
}

#[tokio::test]
async fn a_new_secret_is_created_under_the_field_manager_and_never_applied() {
    let (client, seen) = mocked(|_| (201, written_secret("7")));
    let secrets: Api<Secret> = Api::namespaced(client, "ns");
    let version = write(&secrets, "app", &mut body_to_write(), &Target::New)
        .await
        .unwrap();
    assert_eq!(version.as_deref(), Some("7"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/api/v1/namespaces/ns/secrets")
    );
    assert!(
        seen[0]
            .query
            .contains(&format!("fieldManager={FIELD_MANAGER}")),
        "{seen:?}"
    );
    assert!(seen[0].body["metadata"].get("resourceVersion").is_none());
}

#[tokio::test]
async fn an_immutable_secret_is_deleted_on_the_checked_version_then_created() {
    let (client, seen) = mocked(|n| match n {
        0 => (
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ),
        _ => (201, written_secret("9")),
    });
    let secrets: Api<Secret> = Api::namespaced(client, "ns");
    write(
        &secrets,
        "app",
        &mut body_to_write(),
        &Target::Existing(facts(true)),
    )
    .await
    .unwrap();
    let seen = seen.lock().unwrap();
    let verbs: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(verbs, ["DELETE", "POST"], "{seen:?}");
    assert_eq!(seen[0].body["preconditions"]["uid"], "u-1");
    assert_eq!(seen[0].body["preconditions"]["resourceVersion"], "41");
}

/// A reconcile context on the mocked API server `client`.
fn context_on(client: kube::Client) -> Context {
    let mut shared = crate::state::Shared::offline();
    shared.client = client.clone();
    Context {
        shared,
        recorder: kube::runtime::events::Recorder::new(
            client,
            kube::runtime::events::Reporter {
                controller: "kage-test".into(),
                instance: None,
            },
        ),
        owned_secrets: Default::default(),
        policy: TemplatePolicy::new("kage-system", &[], &[]),
        written_status: Default::default(),
    }
}

fn sealed_at(version: &str) -> SealedSecret {
    let mut sealed = SealedSecret::new("app", kage_api::SealedSecretSpec::default());
    sealed.metadata.namespace = Some("ns".into());
    sealed.metadata.generation = Some(1);
    sealed.metadata.resource_version = Some(version.into());
    sealed
}

fn summary_at(version: &str) -> SealedSecretSummary {
    SealedSecretSummary::new(sealed_at(version), &any_policy())
}

fn any_policy() -> TemplatePolicy {
    TemplatePolicy::new("kage-system", &[], &[])
}

const READY: Verdict<'static> = Verdict {
    ready: "True",
    reason: "Unsealed",
    message: "Secret app is up to date",
    progress: Progress::Done,
};

#[tokio::test]
async fn a_status_this_process_wrote_is_not_written_again_from_a_store_that_lags() {
    let (client, seen) = mocked(|_| {
        (
            200,
            json!({"apiVersion": "kage.dev/v1alpha1", "kind": "SealedSecret",
                "metadata": {"name": "app", "namespace": "ns", "resourceVersion": "8"}, "spec": {}}),
        )
    });
    let ctx = context_on(client);
    // The first reconcile writes the status on top of version 7.
    let stale = summary_at("7");
    assert!(
        update_status(&stale, &ctx, &READY, Some("3".into()))
            .await
            .unwrap()
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
    // A second reconcile, woken before the store shows that write, reads version 7 again:
    // nothing is written (it would carry a new transition time).
    assert!(
        !update_status(&stale, &ctx, &READY, Some("3".into()))
            .await
            .unwrap()
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "written twice");
    // Someone else changed the object since (another version, no status of ours): written.
    let changed = summary_at("9");
    update_status(&changed, &ctx, &READY, Some("3".into()))
        .await
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "a change by someone else was not corrected"
    );
    // Another outcome on the stale version is written too.
    update_status(&stale, &ctx, &READY, Some("4".into()))
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), 3);
    // Once the store shows the status, the entry goes.
    let mut caught_up = sealed_at("10");
    caught_up.status = Some(kage_api::SealedSecretStatus {
        observed_generation: Some(1),
        conditions: READY.conditions(Some(1), None),
        secret_resource_version: Some("4".into()),
    });
    let caught_up = SealedSecretSummary::new(caught_up, &any_policy());
    let before = ctx.written_status.len();
    assert!(
        !update_status(&caught_up, &ctx, &READY, Some("4".into()))
            .await
            .unwrap()
    );
    assert_eq!(ctx.written_status.len(), before - 1);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

/// The object a reconcile fetches with its values, newer than the summary it started from.
static FETCHED: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();

#[tokio::test]
async fn a_template_changed_after_the_policy_check_is_refused_before_a_value_is_written() {
    use crate::sealing_keys::KeyState;
    use crate::sealing_keys::tests::key;
    use kage_api::seal::{SecretInput, seal_secret};
    use kage_core::{Identity, Plaintext, Scope};

    let identity = Identity::generate();
    let mut input = SecretInput::default();
    input
        .insert("token", Plaintext::from(&b"hunter2"[..]))
        .unwrap();
    let recipients = std::slice::from_ref(identity.recipient());
    let mut sealed = seal_secret(&input, "app", "ns", Scope::Strict, recipients).unwrap();
    sealed.metadata.uid = Some("u-1".into());
    sealed.metadata.generation = Some(1);
    sealed.metadata.resource_version = Some("5".into());
    // Checked: no template, an Opaque Secret. Then, before the values are fetched, the editor
    // asks for a Secret type the controller does not write for anyone.
    let checked = SealedSecretSummary::new(sealed.clone(), &any_policy());
    sealed.metadata.generation = Some(2);
    sealed.metadata.resource_version = Some("6".into());
    sealed.spec.template = Some(kage_api::SecretTemplate {
        type_: Some("kubernetes.io/service-account-token".into()),
        ..Default::default()
    });
    FETCHED.set(serde_json::to_value(&sealed).unwrap()).unwrap();
    let (client, seen) = mocked(|i| match i {
        0 => (200, FETCHED.get().unwrap().clone()),
        _ => (201, written_secret("7")),
    });
    let ctx = context_on(client);
    ctx.shared
        .keys
        .replace(KeySet::new(vec![key(identity, KeyState::Active)]));
    ctx.owned_secrets
        .apply(&kube::runtime::watcher::Event::InitDone);

    let outcome = sync(&checked, &ctx).await;
    assert!(
        matches!(outcome, Err(Error::Refused(Refusal::SecretType(..)))),
        "{:?}",
        outcome.err()
    );
    let seen = seen.lock().unwrap();
    let writes: Vec<_> = seen.iter().filter(|s| s.method != "GET").collect();
    assert!(writes.is_empty(), "written: {writes:?}");
}
