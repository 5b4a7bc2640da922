//! `kage key rotate`: asks the controller for a new key through the rotation-request
//! ConfigMap (RBAC decides who may) and waits for its answer.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use k8s_openapi::api::core::v1::ConfigMap;
use kage_api::ROTATION_REQUEST_CONFIGMAP;
use kage_api::rotation::{RotationAnswer, RotationRequest};
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::args::ClusterOnly;
use crate::cluster::Cluster;
use crate::cluster_error::Request;
use crate::outcome::{Failure, Outcome};

/// How long `kage key rotate` waits for the controller's answer.
pub const ROTATION_WAIT: Duration = Duration::from_secs(60);
/// How often it looks for the answer meanwhile.
const POLL: Duration = Duration::from_millis(500);

pub fn run(args: ClusterOnly) -> Outcome {
    let ns = &args.cluster.controller_namespace;
    let cluster = Cluster::new(&args.cluster)?;
    let request = RotationRequest::new();
    let answer = cluster.block_on(async {
        let (client, _) = cluster.client().await?;
        let api: Api<ConfigMap> = Api::namespaced(client, ns);
        api.patch(
            ROTATION_REQUEST_CONFIGMAP,
            &PatchParams::apply(kage_api::CLI_FIELD_MANAGER).force(),
            &Patch::Apply(&request.config_map(ns)),
        )
        .await
        .map_err(|e| {
            rotation_request(
                ns,
                "patch",
                "requesting a rotation (the kage-key-admin Role allows it)",
            )
            .error(e)
        })?;
        eprintln!(
            "rotation requested ({}); waiting for the controller",
            request.id
        );
        let deadline = Instant::now() + ROTATION_WAIT;
        loop {
            let map = api.get(ROTATION_REQUEST_CONFIGMAP).await.map_err(|e| {
                rotation_request(ns, "get", "reading the rotation's answer").error(e)
            })?;
            if let Some(answer) = request.answer_in(&map) {
                return Ok(answer);
            }
            if Instant::now() > deadline {
                bail!(
                    "the controller has not answered rotation request {} within {}s: is it running (`kage status`)?",
                    request.id,
                    ROTATION_WAIT.as_secs()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    })?;
    match answer {
        RotationAnswer::Rotated(_) => {
            eprintln!("{answer}; it is published in a few seconds (`kage key list`)");
            Ok(())
        }
        other => Err(Failure::Other(anyhow!("the controller answered: {other}"))),
    }
}

/// A request on the rotation-request ConfigMap in `ns`, to name it in errors.
fn rotation_request<'a>(ns: &'a str, verb: &'static str, action: &'a str) -> Request<'a> {
    Request {
        action,
        verb,
        resource: "configmaps",
        name: Some(ROTATION_REQUEST_CONFIGMAP),
        namespace: Some(ns),
        ..Request::default()
    }
}
