//! `kage inspect`: what a SealedSecret holds, without any key.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use kage_api::SEALED_AT_ANNOTATION;
use kage_api::seal::sealed_values;
use kage_api::template::Templates;
use serde::Serialize;

use crate::args::{Format, InspectArgs};
use crate::outcome::{Failure, Outcome};

/// What `kage inspect` says of one SealedSecret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectReport {
    keys: Vec<ValueReport>,
    name: String,
    namespace: String,
    sealed_at: Option<String>,
    templates: Option<TemplatesReport>,
    #[serde(rename = "type")]
    type_: String,
}

/// One sealed value: its binding and who can open it.
#[derive(Debug, Serialize)]
struct ValueReport {
    binding: BindingReport,
    key: String,
    recipients: Vec<String>,
    /// Whether a recovery recipient is among them (`None`: no recovery recipient to look for).
    recovery: Option<bool>,
    scope: &'static str,
}

/// Where a value opens.
#[derive(Debug, Serialize)]
struct BindingReport {
    key: String,
    name: Option<String>,
    namespace: Option<String>,
}

/// Which values each template reads, or why the templates do not check.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum TemplatesReport {
    Checked {
        data: BTreeMap<String, BTreeSet<String>>,
        omit: BTreeSet<String>,
    },
    Invalid {
        error: String,
    },
}

pub fn run(args: InspectArgs) -> Outcome {
    let recovery = crate::input::recovery_fingerprints(&args.recovery, args.file.as_deref())?;
    let mut report = Vec::new();
    for sealed in crate::input::read_sealed_secrets(args.file.as_deref())? {
        let values = sealed_values(&sealed).map_err(|e| Failure::Input(e.into()))?;
        let keys = values
            .iter()
            .map(|(key, v)| {
                let b = v.binding();
                ValueReport {
                    binding: BindingReport {
                        key: b.key().to_owned(),
                        name: b.name().map(str::to_owned),
                        namespace: b.namespace().map(str::to_owned),
                    },
                    key: key.clone(),
                    recipients: v.recipients().iter().map(ToString::to_string).collect(),
                    recovery: (!recovery.is_empty())
                        .then(|| v.recipients().iter().any(|f| recovery.contains(f))),
                    scope: b.scope().as_str(),
                }
            })
            .collect();
        // A template that does not check is reported as such (`kage validate` says why).
        let templates = match Templates::check_values(&sealed, &values) {
            Ok(t) if t.is_empty() => None,
            Ok(t) => Some(TemplatesReport::Checked {
                data: t
                    .uses()
                    .into_iter()
                    .map(|(k, uses)| (k.to_owned(), uses.into_iter().map(str::to_owned).collect()))
                    .collect(),
                omit: t.omitted().clone(),
            }),
            Err(e) => Some(TemplatesReport::Invalid {
                error: e.to_string(),
            }),
        };
        report.push(ObjectReport {
            keys,
            name: sealed.name_or_empty().to_owned(),
            namespace: sealed.namespace_or_empty().to_owned(),
            sealed_at: sealed
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(SEALED_AT_ANNOTATION))
                .cloned(),
            templates,
            type_: sealed
                .spec
                .template
                .as_ref()
                .and_then(|t| t.type_.clone())
                .unwrap_or_else(|| "Opaque".into()),
        });
    }
    let text = match args.format {
        Some(Format::Json) => {
            serde_json::to_string_pretty(&report).context("encoding the report")? + "\n"
        }
        Some(Format::Yaml) => serde_saphyr::to_string(&report).context("encoding the report")?,
        None => report.iter().map(ToString::to_string).collect(),
    };
    Ok(crate::files::print(&text)?)
}

impl std::fmt::Display for ObjectReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "SealedSecret {}/{} (type {}, sealed at {})",
            self.namespace,
            self.name,
            self.type_,
            self.sealed_at.as_deref().unwrap_or("unknown"),
        )?;
        match &self.templates {
            Some(TemplatesReport::Invalid { error }) => {
                writeln!(f, "  templates: invalid: {error}")?;
            }
            Some(TemplatesReport::Checked { data, omit }) => {
                for (key, uses) in data {
                    let uses: Vec<&str> = uses.iter().map(String::as_str).collect();
                    writeln!(
                        f,
                        "  {key}: templated from {}",
                        if uses.is_empty() {
                            "text only".to_owned()
                        } else {
                            uses.join(", ")
                        }
                    )?;
                }
                if !omit.is_empty() {
                    let omit: Vec<&str> = omit.iter().map(String::as_str).collect();
                    writeln!(f, "  kept out of the Secret: {}", omit.join(", "))?;
                }
            }
            None => {}
        }
        for key in &self.keys {
            let b = &key.binding;
            let recovery = match key.recovery {
                Some(true) => ", recovery key present",
                Some(false) => ", NO recovery key",
                None => "",
            };
            writeln!(
                f,
                "  {}: scope {}, bound to namespace={} name={} key={}, keys {}{recovery}",
                key.key,
                key.scope,
                b.namespace.as_deref().unwrap_or("*"),
                b.name.as_deref().unwrap_or("*"),
                b.key,
                key.recipients.join(", "),
            )?;
        }
        Ok(())
    }
}
