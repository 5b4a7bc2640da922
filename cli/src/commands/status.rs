//! `kage status`: SealedSecrets and their Ready condition.

use kage_api::SealedSecret;
use kube::Api;
use kube::api::ListParams;

use crate::args::StatusArgs;
use crate::client::{block_on, connect};
use crate::cluster_error::Request;
use crate::run::Outcome;

pub fn run(args: StatusArgs) -> Outcome {
    let list = block_on(async {
        let (client, default_ns) = connect(&args.cluster).await?;
        let api: Api<SealedSecret> = if args.all_namespaces {
            Api::all(client)
        } else {
            Api::namespaced(client, args.namespace.as_deref().unwrap_or(&default_ns))
        };
        let namespace =
            (!args.all_namespaces).then(|| args.namespace.clone().unwrap_or(default_ns.clone()));
        api.list(&ListParams::default())
            .await
            .map(|l| l.items)
            .map_err(|e| {
                Request {
                    action: "listing SealedSecrets",
                    verb: "list",
                    resource: "sealedsecrets.kage.dev",
                    namespace: namespace.as_deref(),
                    ..Request::default()
                }
                .error(e)
            })
    })?;
    let mut out = format!(
        "{:<20} {:<30} {:<6} {:<20} {}\n",
        "NAMESPACE", "NAME", "READY", "REASON", "MESSAGE"
    );
    for sealed in &list {
        let (ready, reason, message) = match sealed.ready_condition() {
            Some(c) => (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
            None => ("-", "Pending", "not reconciled yet"),
        };
        out.push_str(&format!(
            "{:<20} {:<30} {:<6} {:<20} {}\n",
            sealed.namespace_or_empty(),
            sealed.name_or_empty(),
            ready,
            reason,
            message
        ));
    }
    super::print(&out)
}
