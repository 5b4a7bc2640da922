//! `kage status`: SealedSecrets and their Ready condition, once or as they change.

use futures::StreamExt;
use kage_api::SealedSecret;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::watcher;
use serde::Serialize;

use crate::args::{Format, StatusArgs};
use crate::cluster::{Cluster, WATCH_TIMEOUT};
use crate::cluster_error::Request;
use crate::outcome::Outcome;

/// One SealedSecret as `kage status -o json|yaml` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The Ready condition's status: `True`, `False`, or `Unknown` before the first reconcile.
    pub ready: String,
    /// Its reason (`Unsealed`, `KeyRetired`, ...; `Pending` before the first reconcile).
    pub reason: String,
    /// Its message.
    pub message: String,
    /// Whether the status describes the object's current generation.
    pub up_to_date: bool,
}

impl Row {
    fn of(sealed: &SealedSecret) -> Row {
        let (ready, reason, message) = match sealed.ready_condition() {
            Some(c) => (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
            None => ("Unknown", "Pending", "not reconciled yet"),
        };
        let observed = sealed.status.as_ref().and_then(|s| s.observed_generation);
        Row {
            namespace: sealed.namespace_or_empty().to_owned(),
            name: sealed.name_or_empty().to_owned(),
            ready: ready.to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            up_to_date: observed.is_some() && observed == sealed.metadata.generation,
        }
    }

    fn line(&self) -> String {
        format!(
            "{:<20} {:<30} {:<7} {:<20} {}\n",
            self.namespace, self.name, self.ready, self.reason, self.message
        )
    }
}

/// The table's header.
fn header() -> String {
    format!(
        "{:<20} {:<30} {:<7} {:<20} {}\n",
        "NAMESPACE", "NAME", "READY", "REASON", "MESSAGE"
    )
}

/// What `kage status -o json|yaml` prints without --watch.
#[derive(Debug, Serialize)]
struct Report {
    items: Vec<Row>,
}

pub fn run(args: StatusArgs) -> Outcome {
    let cluster = Cluster::new(&args.cluster)?;
    let text = cluster.block_on(async {
        let (client, default_ns) = cluster.client().await?;
        let namespace = (!args.all_namespaces).then(|| {
            args.namespace
                .clone()
                .unwrap_or_else(|| default_ns.to_owned())
        });
        let api: Api<SealedSecret> = match &namespace {
            None => Api::all(client),
            Some(ns) => Api::namespaced(client, ns),
        };
        let request = Request {
            action: "listing SealedSecrets",
            verb: if args.watch { "watch" } else { "list" },
            resource: "sealedsecrets.kage.dev",
            namespace: namespace.as_deref(),
            ..Request::default()
        };
        if args.watch {
            watch(api, args.format, &request).await?;
            return Ok(String::new());
        }
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| request.error(e))?;
        let rows: Vec<Row> = list.items.iter().map(Row::of).collect();
        match args.format {
            None => Ok(rows.iter().fold(header(), |out, row| out + &row.line())),
            Some(format) => render(&Report { items: rows }, format),
        }
    })?;
    Ok(crate::files::print(&text)?)
}

/// Prints every SealedSecret, then each one again whenever it changes, until stopped.
async fn watch(
    api: Api<SealedSecret>,
    format: Option<Format>,
    request: &Request<'_>,
) -> anyhow::Result<()> {
    use std::io::Write;
    if format.is_none() {
        print!("{}", header());
    }
    let config = watcher::Config::default().timeout(WATCH_TIMEOUT.as_secs() as u32);
    let mut events = std::pin::pin!(watcher(api, config));
    while let Some(event) = events.next().await {
        let sealed = match event {
            Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => s,
            Ok(watcher::Event::Delete(mut s)) => {
                s.status = None;
                let mut row = Row::of(&s);
                row.reason = "Deleted".to_owned();
                row.message = "the SealedSecret was deleted".to_owned();
                print!(
                    "{}",
                    format.map_or_else(|| Ok(row.line()), |f| line(&row, f))?
                );
                std::io::stdout().flush()?;
                continue;
            }
            Ok(_) => continue,
            Err(watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e)) => {
                return Err(request.error(e));
            }
            Err(e) => {
                eprintln!("watch interrupted ({e}); resuming");
                continue;
            }
        };
        let row = Row::of(&sealed);
        print!(
            "{}",
            format.map_or_else(|| Ok(row.line()), |f| line(&row, f))?
        );
        std::io::stdout().flush()?;
    }
    Ok(())
}

/// One row while watching: a JSON line, or a YAML document.
fn line(row: &Row, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string(row)? + "\n",
        Format::Yaml => format!("---\n{}", render(row, Format::Yaml)?),
    })
}

fn render(value: &impl Serialize, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(value)? + "\n",
        Format::Yaml => serde_saphyr::to_string(value)?,
    })
}
