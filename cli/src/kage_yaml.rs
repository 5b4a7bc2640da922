//! `.kage.yaml`: who to seal to, by path.
//!
//! `.kage.yaml` is found by walking up from the sealed file's own folder (not the working
//! directory), so a repository seals the same way wherever the command is run from. The walk
//! stops at the repository root (the folder holding `.git`); outside a repository only the
//! file's own folder is read. A `.kage.yaml` above the repository (a shared `/tmp`, a home
//! folder) is never trusted: it could add an attacker's recipient.
//!
//! Inside a repository, whoever owns a subfolder writes its `.kage.yaml`. `kage seal` follows
//! the nearest one (the sealer brings the plaintext and sees on stderr where it goes). Commands
//! that open values someone else sealed and seal them again (`reseal -i`, `migrate`) and
//! `validate` trust only the repository root's `.kage.yaml`, `-r`, and the cluster's keys: a
//! nested rule that would add a recipient is refused (`recipients::for_resealing`).
//!
//! ```yaml
//! rules:
//!   - path: "clusters/prod/**"      # glob relative to this file; no path = every file
//!     recipients: [age1...]         # cluster keys
//!     recovery: [age1...]           # offline recovery keys
//!     scope: strict                 # default scope for these files
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
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

/// The two `.kage.yaml` rules that may speak for a file: the nearest one (what `seal` uses) and
/// the repository root's (what commands that open values and seal them again trust).
#[derive(Debug, Default)]
pub struct Layers {
    /// From the `.kage.yaml` nearest to the file, up to the repository root.
    pub nearest: Resolved,
    /// From the repository root's `.kage.yaml` (outside a repository, the file's own folder's).
    pub root: Resolved,
}

impl Layers {
    /// Whether the nearest rule comes from a `.kage.yaml` below the repository root.
    pub fn nearest_is_nested(&self) -> bool {
        let file = |r: &Resolved| r.source.as_ref().map(|s| s.file.clone());
        self.nearest.source.is_some() && file(&self.nearest) != file(&self.root)
    }
}

/// Both rules for `file` (see [`Layers`]).
pub fn layers_for_file(file: &Path) -> anyhow::Result<Layers> {
    let start = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    layers(start, Some(file))
}

/// Finds `.kage.yaml` upward from `start` (a folder), never past the repository root, and
/// returns the rule matching `target`.
pub fn resolve(start: &Path, target: Option<&Path>) -> anyhow::Result<Resolved> {
    Ok(layers(start, target)?.nearest)
}

fn layers(start: &Path, target: Option<&Path>) -> anyhow::Result<Layers> {
    let start = std::path::absolute(start)?;
    let folders = trusted_folders(&start);
    let root_config = folders
        .last()
        .map(|dir| dir.join(CONFIG_FILE))
        .filter(|p| p.is_file());
    let Some(nearest_config) = folders
        .into_iter()
        .map(|dir| dir.join(CONFIG_FILE))
        .find(|p| p.is_file())
    else {
        return Ok(Layers::default());
    };
    let nearest = rule_in(&nearest_config, target)?;
    let root = match root_config {
        Some(root) if root != nearest_config => rule_in(&root, target)?,
        Some(_) => rule_in(&nearest_config, target)?,
        None => Resolved::default(),
    };
    Ok(Layers { nearest, root })
}

/// The rule of the `.kage.yaml` at `config_path` matching `target`.
fn rule_in(config_path: &Path, target: Option<&Path>) -> anyhow::Result<Resolved> {
    let text = std::fs::read_to_string(config_path)
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
                file: config_path.to_owned(),
                rule: index + 1,
                path: rule.path.clone(),
            }),
        });
    }
    Ok(Resolved::default())
}

/// Puts the cluster's current key into the path-less rule of `.kage.yaml` at `path` (adding
/// the rule, or the file), and in place of every older key of this cluster that any rule
/// names. Refuses to write what `kage seal` would not read back; the file is replaced
/// atomically.
pub fn save_cluster_key(
    path: &Path,
    keys: &kage_api::wire::PublishedKeys,
) -> Result<(), crate::outcome::Failure> {
    use crate::outcome::Failure;
    let recipient = keys.current.to_string();
    let mut doc: serde_json::Value = match std::fs::read_to_string(path) {
        Ok(text) => serde_saphyr::from_str(&text)
            .map_err(|e| Failure::Input(anyhow!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({"rules": []}),
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context(format!("reading {}", path.display()))
                .into());
        }
    };
    let rules = doc["rules"]
        .as_array_mut()
        .ok_or_else(|| Failure::Input(anyhow!("{}: `rules` is not a list", path.display())))?;
    let older = |r: &serde_json::Value| {
        r.as_str()
            .and_then(|r| r.parse::<Recipient>().ok())
            .is_some_and(|r| r != keys.current && keys.find(&r).is_some())
    };
    for rule in rules.iter_mut() {
        if let Some(list) = rule.get_mut("recipients").and_then(|l| l.as_array_mut())
            && list.iter().any(older)
        {
            list.retain(|r| !older(r) && r.as_str() != Some(recipient.as_str()));
            list.insert(0, serde_json::json!(recipient));
        }
    }
    match rules.iter_mut().find(|r| r.get("path").is_none()) {
        Some(rule) => rule["recipients"] = serde_json::json!([recipient]),
        None => rules.push(serde_json::json!({"recipients": [recipient]})),
    }
    let text = serde_saphyr::to_string(&doc).context("writing .kage.yaml")?;
    serde_saphyr::from_str::<Config>(&text)
        .map_err(|e| Failure::Input(anyhow!("{}: {e}", path.display())))?;
    crate::files::write_atomic(path, text.as_bytes(), None)?;
    Ok(())
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
    fn a_rule_below_the_repository_root_is_nested_and_the_root_rule_is_not() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join(".git")).unwrap();
        let team = repo.path().join("team");
        std::fs::create_dir_all(&team).unwrap();
        let file = team.join("s.yaml");
        assert!(
            !layers_for_file(&file).unwrap().nearest_is_nested(),
            "no rule at all"
        );
        std::fs::write(repo.path().join(CONFIG_FILE), RULE).unwrap();
        let at_root = layers_for_file(&file).unwrap();
        assert!(!at_root.nearest_is_nested());
        assert_eq!(
            at_root.root.source.unwrap().file,
            repo.path().join(CONFIG_FILE)
        );
        std::fs::write(team.join(CONFIG_FILE), RULE).unwrap();
        let nested = layers_for_file(&file).unwrap();
        assert!(nested.nearest_is_nested());
        assert_eq!(
            nested.nearest.source.as_ref().unwrap().file,
            team.join(CONFIG_FILE)
        );
        assert_eq!(
            nested.root.source.as_ref().unwrap().file,
            repo.path().join(CONFIG_FILE)
        );
        // Only a subfolder's rule, none at the root: nested too.
        std::fs::remove_file(repo.path().join(CONFIG_FILE)).unwrap();
        let only_nested = layers_for_file(&file).unwrap();
        assert!(only_nested.nearest_is_nested());
        assert!(only_nested.root.source.is_none());
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
