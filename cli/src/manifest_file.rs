//! A manifest file that kage edits in place: read whole, the documents of one kind replaced,
//! and written back atomically in the file's own format. `seal --merge-into`, `reseal` and
//! `migrate` edit files only through it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kage_api::OutputFormat;
use kage_api::manifest::{self, Document};

use crate::files;

/// A manifest file and where the documents of the kind asked for stand in it.
pub struct ManifestFile {
    /// The file.
    pub path: PathBuf,
    /// Every document, in order.
    pub docs: Vec<Document>,
    /// Where the documents of the kind asked for are among `docs`.
    pub positions: Vec<usize>,
}

impl ManifestFile {
    /// Reads `path` and finds the documents `is_kind` picks; a file that is not a manifest is
    /// an error.
    pub fn read(path: &Path, is_kind: impl Fn(&Document) -> bool) -> anyhow::Result<Self> {
        let text = files::read_input(Some(path))?;
        let docs = manifest::read_documents(&text)
            .with_context(|| format!("reading {}", path.display()))?;
        let positions = (0..docs.len()).filter(|&i| is_kind(&docs[i])).collect();
        Ok(ManifestFile {
            path: path.to_owned(),
            docs,
            positions,
        })
    }

    /// [`ManifestFile::read`] for a walk over a folder: `None` when the file is not a manifest
    /// or holds no document of the kind (not kage's to touch).
    pub fn read_if_any(
        path: &Path,
        is_kind: impl Fn(&Document) -> bool,
    ) -> anyhow::Result<Option<Self>> {
        let text = files::read_input(Some(path))?;
        let Ok(docs) = manifest::read_documents(&text) else {
            return Ok(None);
        };
        let positions: Vec<usize> = (0..docs.len()).filter(|&i| is_kind(&docs[i])).collect();
        Ok((!positions.is_empty()).then(|| ManifestFile {
            path: path.to_owned(),
            docs,
            positions,
        }))
    }

    /// The documents of the kind asked for, in order.
    pub fn selected(&self) -> impl Iterator<Item = &Document> {
        self.positions.iter().map(|&i| &self.docs[i])
    }

    /// Puts `fresh` in place of the documents of the kind, one for one.
    pub fn replace(&mut self, fresh: Vec<Document>) -> anyhow::Result<()> {
        if fresh.len() != self.positions.len() {
            bail!(
                "{} documents to put in place of {} in {}",
                fresh.len(),
                self.positions.len(),
                self.path.display()
            );
        }
        for (&i, doc) in self.positions.iter().zip(fresh) {
            self.docs[i] = doc;
        }
        Ok(())
    }

    /// The file's own format: JSON for a `.json` file, else YAML.
    pub fn format(&self) -> OutputFormat {
        match self.path.extension().and_then(|e| e.to_str()) {
            Some("json") => OutputFormat::Json,
            _ => OutputFormat::Yaml,
        }
    }

    /// Replaces the file atomically with the documents as they now stand.
    pub fn write(&self) -> anyhow::Result<()> {
        self.write_to(&self.path)
    }

    /// Writes the documents atomically to `target`, in this file's format.
    pub fn write_to(&self, target: &Path) -> anyhow::Result<()> {
        let text = manifest::write_documents(&self.docs, self.format());
        files::write_atomic(target, text.as_bytes(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documents_of_the_kind_are_replaced_and_the_format_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.json");
        let docs = [
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
            serde_json::json!({"apiVersion": "kage.dev/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "b"}}),
        ];
        std::fs::write(&path, manifest::write_documents(&docs, OutputFormat::Json)).unwrap();
        let sealed = |d: &Document| d["kind"] == "SealedSecret";
        let mut file = ManifestFile::read(&path, sealed).unwrap();
        assert_eq!(file.positions, [1]);
        assert!(file.replace(Vec::new()).is_err(), "one for one");
        file.replace(vec![serde_json::json!({"apiVersion": "kage.dev/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "c"}})])
            .unwrap();
        file.write().unwrap();
        let again = ManifestFile::read(&path, sealed).unwrap();
        assert_eq!(again.docs[0]["metadata"]["name"], "a");
        assert_eq!(again.selected().next().unwrap()["metadata"]["name"], "c");
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .trim_start()
                .starts_with('{')
        );
        let other = dir.path().join("notes.txt");
        std::fs::write(&other, "not: [a manifest").unwrap();
        assert!(ManifestFile::read_if_any(&other, sealed).unwrap().is_none());
        assert!(ManifestFile::read(&other, sealed).is_err());
    }
}
