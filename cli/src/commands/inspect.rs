//! `kage inspect`: what a SealedSecret holds, without any key.

use anyhow::Context;
use kage_api::SEALED_AT_ANNOTATION;
use kage_api::seal::sealed_values;
use kage_api::template::Templates;
use serde_json::json;

use crate::args::{Format, InspectArgs};
use crate::run::{Failure, Outcome};

pub fn run(args: InspectArgs) -> Outcome {
    let recovery = super::recovery_fingerprints(&args.recovery, args.file.as_deref())?;
    let mut report = Vec::new();
    for sealed in super::read_sealed_secrets(args.file.as_deref())? {
        let values = sealed_values(&sealed).map_err(|e| Failure::Input(e.into()))?;
        let sealed_at = sealed
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SEALED_AT_ANNOTATION))
            .cloned();
        let keys: Vec<_> = values
            .iter()
            .map(|(key, v)| {
                let b = v.binding();
                json!({
                    "key": key,
                    "scope": b.scope().as_str(),
                    "binding": {"namespace": b.namespace(), "name": b.name(), "key": b.key()},
                    "recipients": v.recipients().iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "recovery": (!recovery.is_empty())
                        .then(|| v.recipients().iter().any(|f| recovery.contains(f))),
                })
            })
            .collect();
        // Which values each template reads; a template that does not check is reported as such
        // (`kage validate` says why).
        let templates = match Templates::check_values(&sealed, &values) {
            Ok(t) if t.is_empty() => serde_json::Value::Null,
            Ok(t) => json!({
                "data": t.uses(),
                "omit": t.omitted(),
            }),
            Err(e) => json!({"error": e.to_string()}),
        };
        report.push(json!({
            "name": sealed.name_or_empty(),
            "templates": templates,
            "namespace": sealed.namespace_or_empty(),
            "sealedAt": sealed_at,
            "type": sealed.spec.template.as_ref().and_then(|t| t.type_.clone()).unwrap_or_else(|| "Opaque".into()),
            "keys": keys,
        }));
    }
    let text = match args.format {
        Some(Format::Json) => {
            serde_json::to_string_pretty(&report).context("encoding the report")? + "\n"
        }
        Some(Format::Yaml) => serde_saphyr::to_string(&report).context("encoding the report")?,
        None => render(&report),
    };
    super::print(&text)
}

fn render(report: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for obj in report {
        out.push_str(&format!(
            "SealedSecret {}/{} (type {}, sealed at {})\n",
            obj["namespace"].as_str().unwrap_or(""),
            obj["name"].as_str().unwrap_or(""),
            obj["type"].as_str().unwrap_or(""),
            obj["sealedAt"].as_str().unwrap_or("unknown"),
        ));
        let templates = &obj["templates"];
        if let Some(error) = templates["error"].as_str() {
            out.push_str(&format!("  templates: invalid: {error}\n"));
        }
        for (key, uses) in templates["data"].as_object().into_iter().flatten() {
            let uses: Vec<&str> = uses
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str())
                .collect();
            out.push_str(&format!(
                "  {key}: templated from {}\n",
                if uses.is_empty() {
                    "text only".to_owned()
                } else {
                    uses.join(", ")
                }
            ));
        }
        let omitted: Vec<&str> = templates["omit"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str())
            .collect();
        if !omitted.is_empty() {
            out.push_str(&format!(
                "  kept out of the Secret: {}\n",
                omitted.join(", ")
            ));
        }
        for key in obj["keys"].as_array().into_iter().flatten() {
            let b = &key["binding"];
            let recipients: Vec<&str> = key["recipients"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str())
                .collect();
            let recovery = match key["recovery"].as_bool() {
                Some(true) => ", recovery key present",
                Some(false) => ", NO recovery key",
                None => "",
            };
            out.push_str(&format!(
                "  {}: scope {}, bound to namespace={} name={} key={}, keys {}{recovery}\n",
                key["key"].as_str().unwrap_or(""),
                key["scope"].as_str().unwrap_or(""),
                b["namespace"].as_str().unwrap_or("*"),
                b["name"].as_str().unwrap_or("*"),
                b["key"].as_str().unwrap_or(""),
                recipients.join(", "),
            ));
        }
    }
    out
}
