//! `cargo xtask chart-readme`: the Helm chart's README, its table of values generated from the
//! comments of `values.yaml` (a test keeps the committed file in step).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::shell::workspace_root;

/// The chart's folder.
fn chart() -> PathBuf {
    workspace_root().join("deploy/helm/kage")
}

/// Writes `deploy/helm/kage/README.md` from `values.yaml`.
pub fn write() -> Result<()> {
    let path = chart().join("README.md");
    std::fs::write(&path, render()?).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The README as it should be.
pub fn render() -> Result<String> {
    let values = std::fs::read_to_string(chart().join("values.yaml"))
        .context("reading the chart's values.yaml")?;
    let mut out = String::from(
        "# kage Helm chart\n\n\
         Installs kage-controller (docs/operations.md in the repository says what each part does).\n\n\
         ```sh\n\
         kubectl apply -k deploy/foundation/   # the CRD and kage-system, never deleted with the release\n\
         helm install kage deploy/helm/kage -n kage-system\n\
         ```\n\n\
         `helm uninstall kage -n kage-system` keeps every Secret kage made and every sealing key.\n\
         `values.schema.json` refuses unknown and malformed values before anything is installed.\n\n\
         This file is generated from the comments of `values.yaml` by `cargo xtask chart-readme`.\n\n\
         ## Values\n\n\
         | Key | Default | Description |\n|---|---|---|\n",
    );
    for row in rows(&values) {
        out.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            row.key,
            row.default.replace('|', "\\|"),
            row.description.replace('|', "\\|")
        ));
    }
    Ok(out)
}

/// One value of the chart.
struct Row {
    key: String,
    default: String,
    description: String,
}

/// Every value of `values.yaml` with its default and the comment above it: leaves, and the
/// mappings above them that carry a comment of their own.
fn rows(values: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut comment: Vec<String> = Vec::new();
    for line in values.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() {
            // A blank line ends a comment about the file rather than about a key.
            comment.clear();
            continue;
        }
        if let Some(text) = trimmed.strip_prefix('#') {
            comment.push(text.trim().to_owned());
            continue;
        }
        let Some((key, value)) = trimmed.split_once(':') else {
            continue;
        };
        while path.last().is_some_and(|(i, _)| *i >= indent) {
            path.pop();
        }
        let full = path
            .iter()
            .map(|(_, k)| k.as_str())
            .chain([key])
            .collect::<Vec<_>>()
            .join(".");
        let value = value.trim();
        if value.is_empty() {
            if !comment.is_empty() {
                rows.push(Row {
                    key: full,
                    default: String::new(),
                    description: comment.join(" "),
                });
            }
            path.push((indent, key.to_owned()));
        } else {
            rows.push(Row {
                key: full,
                default: value.to_owned(),
                description: comment.join(" "),
            });
        }
        comment.clear();
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_readme_is_generated_from_the_current_values() {
        let committed = std::fs::read_to_string(chart().join("README.md")).unwrap_or_default();
        assert!(
            committed == render().unwrap(),
            "deploy/helm/kage/README.md is stale: run `cargo xtask chart-readme`"
        );
    }

    #[test]
    fn nested_keys_defaults_and_comments_become_rows() {
        let rows = rows(
            "# top comment\n\n# The image.\nimage:\n  # Its name.\n  repository: r\n  tag: \"\"\nreplicas: 1\n",
        );
        let table: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| (r.key.as_str(), r.default.as_str(), r.description.as_str()))
            .collect();
        assert_eq!(
            table,
            [
                ("image", "", "The image."),
                ("image.repository", "r", "Its name."),
                ("image.tag", "\"\"", ""),
                ("replicas", "1", ""),
            ]
        );
    }
}
