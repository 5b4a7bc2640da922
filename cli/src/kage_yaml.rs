//! `.kage.yaml`: who to seal to, by path.
//!
//! `.kage.yaml` is found by walking up from the sealed file's own folder (not the working
//! directory), so a repository seals the same way wherever the command is run from. The walk
//! stops at the repository root (the folder holding `.git`); outside a repository only the
//! file's own folder is read. A `.kage.yaml` above the repository (a shared `/tmp`, a home
//! folder) is never trusted: it could add an attacker's recipient.
//!
//! ```yaml
//! rules:
//!   - path: "clusters/prod/**"      # glob relative to this file; no path = every file
//!     recipients: [age1...]         # cluster keys
//!     recovery: [age1...]           # offline recovery keys
//!     scope: strict                 # default scope for these files
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use kage_core::{Recipient, Scope};
use serde::Deserialize;

/// Name of the per-repository configuration file.
pub const CONFIG_FILE: &str = ".kage.yaml";

/// A `.kage.yaml` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rules, first match wins.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One rule of `.kage.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Glob matched against the sealed file's path relative to the config file's folder.
    pub path: Option<String>,
    /// Cluster recipients.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Offline recovery recipients.
    #[serde(default)]
    pub recovery: Vec<String>,
    /// Default scope.
    pub scope: Option<String>,
}

/// What a matching rule says.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The cluster recipients alone.
    pub cluster: Vec<Recipient>,
    /// The recovery recipients alone.
    pub recovery: Vec<Recipient>,
    /// The default scope, if the rule sets one.
    pub scope: Option<Scope>,
    /// Which file and rule said it; `None` when no rule matched.
    pub source: Option<Source>,
}

impl Resolved {
    /// Cluster and recovery recipients together.
    pub fn recipients(&self) -> Vec<Recipient> {
        self.cluster.iter().chain(&self.recovery).cloned().collect()
    }
}

/// The rule a recipient list came from.
#[derive(Debug, Clone)]
pub struct Source {
    /// The `.kage.yaml` file.
    pub file: PathBuf,
    /// The rule's position in it, from 1.
    pub rule: usize,
    /// The rule's `path` glob.
    pub path: Option<String>,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} rule {}", self.file.display(), self.rule)?;
        match &self.path {
            Some(glob) => write!(f, " (path {glob:?})"),
            None => write!(f, " (every file)"),
        }
    }
}

/// The folders whose `.kage.yaml` may apply to a file in `start`, nearest first: up to the
/// repository root (the folder holding `.git`), or `start` alone outside a repository.
fn trusted_folders(start: &Path) -> Vec<&Path> {
    match start.ancestors().position(|dir| dir.join(".git").exists()) {
        Some(root) => start.ancestors().take(root + 1).collect(),
        None => vec![start],
    }
}

/// The rule for `file`, from the `.kage.yaml` found upward from the file's own folder.
pub fn for_file(file: &Path) -> anyhow::Result<Resolved> {
    let start = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    resolve(start, Some(file))
}

/// Finds `.kage.yaml` upward from `start` (a folder), never past the repository root, and
/// returns the rule matching `target`.
pub fn resolve(start: &Path, target: Option<&Path>) -> anyhow::Result<Resolved> {
    let start = std::path::absolute(start)?;
    let Some(config_path) = trusted_folders(&start)
        .into_iter()
        .map(|dir| dir.join(CONFIG_FILE))
        .find(|p| p.is_file())
    else {
        return Ok(Resolved::default());
    };
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let config: Config = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config_path.display()))?;
    let base = config_path.parent().unwrap_or(Path::new("."));
    let relative = target
        .map(std::path::absolute)
        .transpose()?
        .and_then(|t| t.strip_prefix(base).ok().map(Path::to_path_buf));
    for (index, rule) in config.rules.iter().enumerate() {
        let matches = match (&rule.path, &relative) {
            (None, _) => true,
            (Some(glob), Some(rel)) => globset::Glob::new(glob)
                .with_context(|| format!("{}: bad glob {glob:?}", config_path.display()))?
                .compile_matcher()
                .is_match(rel),
            (Some(_), None) => false,
        };
        if !matches {
            continue;
        }
        let parse = |list: &[String]| {
            list.iter()
                .map(|r| {
                    r.parse::<Recipient>()
                        .with_context(|| format!("{}: recipient {r:?}", config_path.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        };
        let recovery = parse(&rule.recovery)?;
        let cluster = parse(&rule.recipients)?;
        let scope = rule
            .scope
            .as_deref()
            .map(str::parse)
            .transpose()
            .with_context(|| format!("{}", config_path.display()))?;
        return Ok(Resolved {
            cluster,
            recovery,
            scope,
            source: Some(Source {
                file: config_path.clone(),
                rule: index + 1,
                path: rule.path.clone(),
            }),
        });
    }
    Ok(Resolved::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str =
        "rules:\n  - recovery: [age1aq67e64y7hhm8rncj6sfqt47cgyrpvk85yhn0adtfkmwed7wqpss3lne0f]\n";

    #[test]
    fn a_config_above_the_repository_root_never_applies() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join(CONFIG_FILE), RULE).unwrap();
        let repo = outside.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("apps")).unwrap();
        let resolved = resolve(&repo.join("apps"), None).unwrap();
        assert!(resolved.source.is_none() && resolved.recovery.is_empty());

        std::fs::write(repo.join(CONFIG_FILE), RULE).unwrap();
        let resolved = resolve(&repo.join("apps"), None).unwrap();
        let source = resolved.source.unwrap();
        assert_eq!(source.file, repo.join(CONFIG_FILE));
        assert_eq!((source.rule, resolved.recovery.len()), (1, 1));
    }

    #[test]
    fn outside_a_repository_only_the_files_own_folder_applies() {
        let top = tempfile::tempdir().unwrap();
        std::fs::write(top.path().join(CONFIG_FILE), RULE).unwrap();
        let below = top.path().join("below");
        std::fs::create_dir_all(&below).unwrap();
        assert!(resolve(&below, None).unwrap().source.is_none());
        assert!(resolve(top.path(), None).unwrap().source.is_some());
    }
}
