//! The Helm chart (`deploy/helm/kage`) with the real `helm` (v4, built from its Go module by
//! `cargo xtask test`, path in `$KAGE_HELM_BIN`): lint, the same objects as `deploy/` under
//! several value sets, the schema's refusals, then an install into the cluster under test with
//! the controller running on what was installed, and an upgrade with changed values.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kage_api::SealedSecret;
use kage_e2e::{run_ok, secret_manifest, wait_condition, wait_until, workspace};
use kube::Api;
use serde_json::Value;

fn helm() -> Option<Command> {
    kage_e2e::tool_from_env("KAGE_HELM_BIN").map(Command::new)
}

fn chart() -> PathBuf {
    workspace().join("deploy/helm/kage")
}

/// Labels Helm adds that `deploy/` has no use for.
const HELM_LABELS: [&str; 4] = [
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
];

/// The objects of a rendering, by kind, namespace and name, without Helm's own labels.
fn objects(yaml: &[u8]) -> BTreeMap<(String, String, String), Value> {
    let docs = kage_api::manifest::read_documents(std::str::from_utf8(yaml).unwrap()).unwrap();
    docs.into_iter()
        .filter(|d| !d.is_null())
        .map(|mut d| {
            if let Some(labels) = d
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
            {
                for label in HELM_LABELS {
                    labels.remove(label);
                }
            }
            let key = |p: &str| {
                d.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            (
                (
                    key("/kind"),
                    key("/metadata/namespace"),
                    key("/metadata/name"),
                ),
                d,
            )
        })
        .collect()
}

fn template(helm: &mut Command, release: &str, namespace: &str, set: &[&str]) -> Vec<u8> {
    helm.args(["template", release])
        .arg(chart())
        .args(["-n", namespace, "--include-crds"]);
    for value in set {
        helm.args(["--set", value]);
    }
    run_ok(helm).unwrap().stdout
}

fn kustomize(dirs: &[&str]) -> BTreeMap<(String, String, String), Value> {
    let mut all = BTreeMap::new();
    for dir in dirs {
        let out = run_ok(
            Command::new("kubectl")
                .arg("kustomize")
                .arg(workspace().join(dir)),
        )
        .unwrap();
        all.extend(objects(&out.stdout));
    }
    // A chart installs into its release namespace; it does not own the namespace.
    all.retain(|(kind, _, _), _| kind != "Namespace");
    // Helm never deletes what `crds/` holds, so its CRD needs no guard against pruning.
    for object in all.values_mut() {
        if let Some(annotations) = object
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            annotations.retain(|key, _| !PRUNE_GUARDS.contains(&key.as_str()));
            if annotations.is_empty() {
                object["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("annotations");
            }
        }
    }
    all
}

/// The annotations `deploy/foundation/` sets so that Argo CD and Flux never delete the CRD
/// or the namespace.
const PRUNE_GUARDS: [&str; 2] = [
    "argocd.argoproj.io/sync-options",
    "kustomize.toolkit.fluxcd.io/prune",
];

fn assert_same(
    chart: &BTreeMap<(String, String, String), Value>,
    deploy: &BTreeMap<(String, String, String), Value>,
    what: &str,
) {
    assert_eq!(
        chart.keys().collect::<Vec<_>>(),
        deploy.keys().collect::<Vec<_>>(),
        "{what}: the same objects"
    );
    for (key, object) in deploy {
        assert_eq!(&chart[key], object, "{what}: {key:?}");
    }
}

#[test]
fn the_chart_lints_renders_what_deploy_holds_and_refuses_bad_values() {
    let Some(_) = helm() else {
        return;
    };
    run_ok(helm().unwrap().args(["lint", "--strict"]).arg(chart())).unwrap();
    let crd_file = std::fs::read(chart().join("crds/sealedsecrets.kage.dev.yaml")).unwrap();
    assert_eq!(
        crd_file,
        std::fs::read(workspace().join("deploy/foundation/crd.yaml")).unwrap(),
        "the chart's CRD is deploy/foundation/crd.yaml (cp deploy/foundation/crd.yaml deploy/helm/kage/crds/sealedsecrets.kage.dev.yaml)"
    );

    let defaults = objects(&template(&mut helm().unwrap(), "kage", "kage-system", &[]));
    assert_same(
        &defaults,
        &kustomize(&["deploy/foundation", "deploy"]),
        "defaults and deploy/foundation/ + deploy/",
    );
    let namespaced = objects(&template(
        &mut helm().unwrap(),
        "kage",
        "kage-system",
        &["watchNamespace=apps"],
    ));
    assert_same(
        &namespaced,
        &kustomize(&["deploy/foundation", "deploy/namespaced"]),
        "watchNamespace=apps and deploy/namespaced/",
    );
    let policed = objects(&template(
        &mut helm().unwrap(),
        "kage",
        "kage-system",
        &["networkPolicy.enabled=true"],
    ));
    assert_same(
        &policed,
        &kustomize(&["deploy/foundation", "deploy", "deploy/networkpolicy"]),
        "networkPolicy.enabled and deploy/ + deploy/networkpolicy/",
    );

    // Everything on, under another release name.
    let all = objects(&template(
        &mut helm().unwrap(),
        "prod",
        "secrets",
        &[
            "replicas=3",
            "serviceMonitor.enabled=true",
            "podDisruptionBudget.enabled=true",
            "kms.url=vault-transit://bao.example:8200/kage",
            "kms.tokenSecret.name=bao-token",
            "keyRotationPeriod=12h",
            "commonLabels.team=platform",
            "commonAnnotations.owner=sre",
            "image.tag=9.9.9",
        ],
    ));
    for ((kind, _, name), object) in &all {
        if kind == "CustomResourceDefinition" {
            continue;
        }
        assert_eq!(
            object["metadata"]["labels"]["team"], "platform",
            "{kind}/{name}"
        );
        assert_eq!(
            object["metadata"]["annotations"]["owner"], "sre",
            "{kind}/{name}"
        );
    }
    let key = |kind: &str, name: &str| (kind.to_owned(), "secrets".to_owned(), name.to_owned());
    let deployment = &all[&key("Deployment", "prod-controller")];
    assert_eq!(deployment["spec"]["replicas"], 3);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "ghcr.io/kage-dev/kage-controller:9.9.9");
    let env: BTreeMap<&str, &Value> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), &e["value"]))
        .collect();
    assert_eq!(env["KAGE_KMS"], "vault-transit://bao.example:8200/kage");
    assert_eq!(env["KAGE_KMS_AUTH"], "token");
    assert_eq!(env["KAGE_KMS_TOKEN_FILE"], "/var/run/kage/kms/token");
    assert_eq!(env["KAGE_KEY_ROTATION_PERIOD"], "12h");
    assert_eq!(env["KAGE_CONTROLLER_NAME"], "prod-controller");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
        "bao-token"
    );
    // Without a token Secret: OpenBao's Kubernetes auth with a projected token for its audience.
    let kube_auth = objects(&template(
        &mut helm().unwrap(),
        "prod",
        "secrets",
        &["kms.url=vault-transit://bao.example:8200/kage"],
    ));
    let pod = &kube_auth[&key("Deployment", "prod-controller")]["spec"]["template"]["spec"];
    let env: BTreeMap<&str, &Value> = pod["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), &e["value"]))
        .collect();
    assert!(!env.contains_key("KAGE_KMS_AUTH") && !env.contains_key("KAGE_KMS_TOKEN_FILE"));
    assert_eq!(env["KAGE_KMS_ROLE"], "kage-controller");
    let projected = &pod["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"];
    assert_eq!(projected["audience"], "openbao");
    assert_eq!(projected["path"], "token");
    assert_eq!(
        pod["containers"][0]["volumeMounts"][0]["mountPath"],
        "/var/run/secrets/openbao"
    );
    assert!(all.contains_key(&key("ServiceMonitor", "prod-controller")));
    assert!(all.contains_key(&key("Service", "prod-controller-metrics")));
    assert!(all.contains_key(&key("PodDisruptionBudget", "prod-controller")));
    let lease_rule = &all[&key("Role", "prod-controller")]["rules"][4];
    assert_eq!(
        lease_rule["resourceNames"][0], "prod-controller",
        "the Lease is the controller's name"
    );

    // The schema refuses what the controller would refuse later, naming the value.
    for (bad, field) in [
        ("replicas=0", "/replicas"),
        ("keyRotationPeriod=monthly", "/keyRotationPeriod"),
        ("kms.url=http://bao:8200", "/kms/url"),
        ("recoveryRecipients[0]=ssh-ed25519", "/recoveryRecipients/0"),
        ("replica=2", "replica"),
    ] {
        let out = helm()
            .unwrap()
            .args(["template", "kage"])
            .arg(chart())
            .args(["--set", bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(field),
            "{bad}: {stderr}"
        );
    }
}

#[test]
fn the_chart_follows_common_conventions_and_lints_as_a_subchart() {
    let Some(_) = helm() else {
        return;
    };
    // A parent chart holding kage as a subchart, with a global value: lint --strict passes.
    let parent = tempfile::tempdir().unwrap();
    std::fs::write(
        parent.path().join("Chart.yaml"),
        "apiVersion: v2\nname: platform\nversion: 1.0.0\ndependencies:\n  - name: kage\n    version: \">=0.0.0\"\n",
    )
    .unwrap();
    std::fs::write(
        parent.path().join("values.yaml"),
        "global:\n  imageRegistry: registry.example\nkage:\n  replicas: 2\n",
    )
    .unwrap();
    std::fs::create_dir(parent.path().join("charts")).unwrap();
    std::fs::create_dir(parent.path().join("templates")).unwrap();
    run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(chart())
            .arg(parent.path().join("charts/kage")),
    )
    .unwrap();
    run_ok(
        helm()
            .unwrap()
            .args(["lint", "--strict"])
            .arg(parent.path()),
    )
    .unwrap();
    let rendered = objects(
        &run_ok(
            helm()
                .unwrap()
                .args(["template", "kage", "-n", "kage-system"])
                .arg(parent.path()),
        )
        .unwrap()
        .stdout,
    );
    let key = |kind: &str, ns: &str, name: &str| (kind.to_owned(), ns.to_owned(), name.to_owned());
    assert_eq!(
        rendered[&key("Deployment", "kage-system", "kage-controller")]["spec"]["replicas"],
        2
    );

    // Bring your own ServiceAccount and RBAC; a digest; extra flags, environment and volumes;
    // another name; your own security contexts.
    let custom = objects(&template(
        &mut helm().unwrap(),
        "kage",
        "kage-system",
        &[
            "serviceAccount.create=false",
            "serviceAccount.name=workload-identity",
            "rbac.create=false",
            "fullnameOverride=secrets",
            "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "extraArgs[0]=--log-format=text",
            "extraEnv[0].name=HTTPS_PROXY",
            "extraEnv[0].value=http://proxy:3128",
            "extraVolumes[0].name=ca",
            "extraVolumes[0].configMap.name=corporate-ca",
            "extraVolumeMounts[0].name=ca",
            "extraVolumeMounts[0].mountPath=/etc/ssl/corporate",
            "podSecurityContext.runAsUser=10001",
            "securityContext.readOnlyRootFilesystem=true",
        ],
    ));
    let kinds: BTreeSet<&str> = custom.keys().map(|(kind, _, _)| kind.as_str()).collect();
    for absent in [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    ] {
        assert!(!kinds.contains(absent), "{absent} rendered: {kinds:?}");
    }
    assert!(
        kinds.contains("ValidatingAdmissionPolicy"),
        "the key policy stays"
    );
    let pod = &custom[&key("Deployment", "kage-system", "secrets")]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "workload-identity");
    assert_eq!(pod["securityContext"]["runAsUser"], 10001);
    assert_eq!(pod["volumes"][0]["configMap"]["name"], "corporate-ca");
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"],
        "ghcr.io/kage-dev/kage-controller@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(
        container["args"],
        serde_json::json!(["run", "--log-format=text"])
    );
    assert!(
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "HTTPS_PROXY")
    );
    assert_eq!(
        container["volumeMounts"][0]["mountPath"],
        "/etc/ssl/corporate"
    );
    let policy = custom
        .values()
        .find(|o| o["kind"] == "ValidatingAdmissionPolicy")
        .unwrap();
    assert!(
        policy
            .to_string()
            .contains("system:serviceaccount:kage-system:workload-identity"),
        "the key policy admits the ServiceAccount the controller runs as"
    );

    // A disruption budget never blocks a drain: with one replica it allows one eviction, and a
    // minAvailable no eviction could meet is refused.
    let budget = objects(&template(
        &mut helm().unwrap(),
        "kage",
        "kage-system",
        &["podDisruptionBudget.enabled=true"],
    ));
    let pdb = &budget[&key("PodDisruptionBudget", "kage-system", "kage-controller")]["spec"];
    assert_eq!(pdb["maxUnavailable"], 1);
    assert!(pdb.get("minAvailable").is_none());
    let out = helm()
        .unwrap()
        .args(["template", "kage"])
        .arg(chart())
        .args([
            "--set",
            "podDisruptionBudget.enabled=true",
            "--set",
            "podDisruptionBudget.minAvailable=1",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("would block every node drain"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let three = objects(&template(
        &mut helm().unwrap(),
        "kage",
        "kage-system",
        &[
            "podDisruptionBudget.enabled=true",
            "podDisruptionBudget.minAvailable=2",
            "replicas=3",
        ],
    ));
    assert_eq!(
        three[&key("PodDisruptionBudget", "kage-system", "kage-controller")]["spec"]["minAvailable"],
        2
    );

    // The alert rules, when asked for, are the rules file.
    let alerting = objects(&template(
        &mut helm().unwrap(),
        "kage",
        "kage-system",
        &[
            "prometheusRule.enabled=true",
            "prometheusRule.labels.release=prometheus",
        ],
    ));
    let rule = &alerting[&key("PrometheusRule", "kage-system", "kage-controller")];
    assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
    let shipped: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(workspace().join("deploy/monitoring/kage-alerts.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(rule["spec"]["groups"], shipped["groups"]);
}

/// The environment the Deployment gives the controller, with the downward API filled in.
fn deployment_env(deployment: &Deployment, namespace: &str) -> Vec<(String, String)> {
    let container = &deployment.spec.template.spec.as_ref().unwrap().containers[0];
    container
        .env
        .iter()
        .flatten()
        .map(|e| {
            let value = match (&e.value, &e.value_from) {
                (Some(v), _) => v.clone(),
                (None, Some(from)) => match from.field_ref.as_ref().unwrap().field_path.as_str() {
                    "metadata.namespace" => namespace.to_owned(),
                    "metadata.name" => "helm-e2e-pod".to_owned(),
                    other => panic!("unexpected fieldRef {other}"),
                },
                (None, None) => String::new(),
            };
            (e.name.clone(), value)
        })
        .collect()
}

#[tokio::test]
async fn helm_install_runs_the_controller_and_an_upgrade_applies_changed_values() {
    let Some(_) = helm() else {
        return;
    };
    let Some((cluster, _guard)) = kage_e2e::cluster_with_kage().await else {
        return;
    };
    let home = cluster.namespace("e2e-helm").await;
    let apps = cluster.namespace("e2e-helm-apps").await;
    let dir = tempfile::tempdir().unwrap();
    let release = format!("k{}", &home.name[home.name.len() - 8..]);
    let name = format!("{release}-controller");
    let helm_in = |args: &[&str]| {
        let mut cmd = helm().unwrap();
        cmd.arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .args(["-n", &home.name])
            .args(args);
        cmd
    };
    // The CRD is there already (deploy/); Helm leaves an existing CRD alone.
    run_ok(
        helm_in(&["install", &release])
            .arg(chart())
            .args(["--set", "keyRotationPeriod=0"]),
    )
    .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &home.name);
    let installed = deployments.get(&name).await.unwrap();

    // The controller as the chart's ServiceAccount, with the Deployment's environment.
    let (_, kubeconfig) = cluster
        .service_account(&home.name, &name, dir.path())
        .await
        .unwrap();
    let run = |deployment: &Deployment| {
        cluster.start_controller_with_env(
            &kubeconfig,
            dir.path(),
            &deployment_env(deployment, &home.name),
            &[],
        )
    };
    let mut controller = run(&installed).unwrap();
    controller
        .wait_ready()
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &home.name);
    wait_until(
        Duration::from_secs(60),
        "the key published in the release namespace",
        || async { Ok(maps.get_opt("kage-public-keys").await?.is_some()) },
    )
    .await
    .unwrap();
    let seal_and_apply = |ns: &str, secret_name: &str| {
        let input = dir.path().join(format!("{ns}-{secret_name}.json"));
        std::fs::write(
            &input,
            secret_manifest(secret_name, ns, &[("password", "helm-installed")]).to_string(),
        )
        .unwrap();
        let sealed = dir.path().join(format!("{ns}-{secret_name}.yaml"));
        run_ok(
            cluster
                .kage()
                .args(["seal", "--controller-namespace", &home.name, "-f"])
                .arg(&input)
                .arg("-w")
                .arg(&sealed),
        )
        .unwrap();
        run_ok(cluster.kubectl().arg("apply").arg("-f").arg(&sealed)).unwrap();
    };
    seal_and_apply(&apps.name, "db");
    let sealed: Api<SealedSecret> = Api::namespaced(cluster.client.clone(), &apps.name);
    wait_condition(&sealed, "db", "True", "Unsealed").await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &apps.name);
    assert_eq!(
        secrets.get("db").await.unwrap().data.unwrap()["password"].0,
        b"helm-installed"
    );
    let can_i = |verb: &str, resource: &str, ns: &str| {
        let out = cluster
            .kubectl()
            .args(["auth", "can-i", verb, resource, "-n", ns])
            .arg(format!("--as=system:serviceaccount:{}:{name}", home.name))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    assert!(
        can_i("list", "secrets", "default"),
        "cluster-wide rights before the upgrade"
    );

    // The optional objects and fields the install did not use pass the API server's own
    // validation (a dry run; the ServiceMonitor needs the Prometheus Operator's CRD).
    let optional = template(
        &mut helm().unwrap(),
        &release,
        &home.name,
        &[
            "networkPolicy.enabled=true",
            "podDisruptionBudget.enabled=true",
            "kms.url=vault-transit://bao.example:8200/kage",
            "kms.tokenSecret.name=bao-token",
            "recoveryRecipients[0]=age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
            "podAnnotations.example\\.com/team=payments",
            "nodeSelector.kubernetes\\.io/os=linux",
        ],
    );
    let rendered = dir.path().join("optional.yaml");
    std::fs::write(&rendered, &optional).unwrap();
    let dry_run = run_ok(
        cluster
            .kubectl()
            .args([
                "apply",
                "--server-side",
                "--dry-run=server",
                "--force-conflicts",
                "-f",
            ])
            .arg(&rendered),
    )
    .unwrap();
    let applied = String::from_utf8_lossy(&dry_run.stdout);
    for object in ["networkpolicy", "poddisruptionbudget", "deployment"] {
        assert!(
            applied.contains(object),
            "{object} in the dry run: {applied}"
        );
    }

    // Upgrade: one watched namespace, two replicas, another rotation period.
    run_ok(helm_in(&["upgrade", &release]).arg(chart()).args([
        "--set",
        &format!("watchNamespace={}", apps.name),
        "--set",
        "replicas=2",
        "--set",
        "keyRotationPeriod=12h",
    ]))
    .unwrap();
    let upgraded = deployments.get(&name).await.unwrap();
    assert_eq!(upgraded.spec.replicas, Some(2));
    let env: BTreeMap<_, _> = deployment_env(&upgraded, &home.name).into_iter().collect();
    assert_eq!(env.get("KAGE_WATCH_NAMESPACE"), Some(&apps.name));
    assert_eq!(
        env.get("KAGE_KEY_ROTATION_PERIOD").map(String::as_str),
        Some("12h")
    );
    assert!(
        !can_i("list", "secrets", "default"),
        "the ClusterRole is gone"
    );
    assert!(
        can_i("list", "secrets", &apps.name),
        "a Role in the watched namespace"
    );

    // The controller restarted on the upgraded Deployment keeps serving the watched namespace.
    controller.stop();
    let mut controller = run(&upgraded).unwrap();
    controller
        .wait_ready()
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    seal_and_apply(&apps.name, "api");
    wait_condition(&sealed, "api", "True", "Unsealed").await;
    controller.stop();
    let key_secrets = || async {
        let keys: Api<Secret> = Api::namespaced(cluster.client.clone(), &home.name);
        keys.list(
            &kube::api::ListParams::default()
                .labels(&format!("{}=true", kage_api::SEALING_KEY_LABEL)),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.metadata.uid.unwrap())
        .collect::<BTreeSet<_>>()
    };
    let keys_before = key_secrets().await;
    let mut secrets_before = Vec::new();
    for name in ["db", "api"] {
        secrets_before.push(secrets.get(name).await.unwrap().metadata.uid.unwrap());
    }
    run_ok(&mut helm_in(&["uninstall", &release, "--wait"])).unwrap();
    assert!(deployments.get_opt(&name).await.unwrap().is_none());
    // helm uninstall keeps every Secret kage made and every key.
    assert!(!keys_before.is_empty());
    assert_eq!(
        key_secrets().await,
        keys_before,
        "helm uninstall touched the keys"
    );
    for (name, uid) in ["db", "api"].into_iter().zip(&secrets_before) {
        assert_eq!(
            secrets
                .get_opt(name)
                .await
                .unwrap()
                .and_then(|s| s.metadata.uid)
                .as_ref(),
            Some(uid),
            "helm uninstall deleted Secret {name}"
        );
    }
}
