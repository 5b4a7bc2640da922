//! Reading and writing manifest streams: multi-document YAML, JSON objects and `List`s.
//!
//! Input is untrusted (files from pull requests, stdin). Every limit below is checked before or
//! while parsing, so alias bombs, deep nesting and huge documents end in an error, not a hang.

use serde_json::Value;
use zeroize::Zeroize;

/// Largest manifest stream read at once, in bytes.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;
/// Most documents in one stream.
pub const MAX_DOCUMENTS: usize = 10_000;
/// Deepest nesting of mappings and sequences.
pub const MAX_DEPTH: usize = 64;
/// Most YAML aliases (`*ref`) in one stream: manifests have no use for many, bombs need them.
pub const MAX_ALIASES: usize = 100;
/// Most YAML parser events (nodes) in one stream.
pub const MAX_EVENTS: usize = 2_000_000;

/// One parsed document of a manifest stream.
pub type Document = Value;

/// Why a manifest could not be read or written. Never contains a document's values.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The input is larger than [`MAX_INPUT_BYTES`].
    #[error("input is {0} bytes, more than the limit of {MAX_INPUT_BYTES} bytes")]
    TooLarge(usize),
    /// More than [`MAX_DOCUMENTS`] documents.
    #[error("input has more than {MAX_DOCUMENTS} documents")]
    TooManyDocuments,
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("input is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Not valid YAML (or a YAML limit was hit).
    #[error("invalid YAML: {0}")]
    Yaml(String),
    /// Not valid JSON.
    #[error("invalid JSON at line {line}, column {column}: {kind}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What kind of error (syntax, EOF, ...), never the offending text.
        kind: &'static str,
    },
    /// A document is not a mapping with `apiVersion` and `kind`.
    #[error("document {index} is not a Kubernetes object (no apiVersion/kind)")]
    NotAnObject {
        /// 0-based index of the document in the stream.
        index: usize,
    },
}

/// How to print manifests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Multi-document YAML.
    #[default]
    Yaml,
    /// One JSON object, or a `List` when there are several.
    Json,
}

/// Reads every document of a YAML or JSON stream. `List` objects are flattened into their items
/// and empty YAML documents skipped. Each result has `apiVersion` and `kind`.
pub fn read_documents(text: &str) -> Result<Vec<Document>, ManifestError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(ManifestError::TooLarge(text.len()));
    }
    // JSON is YAML, but the JSON parser is faster and handles a stream of objects; YAML flow
    // mappings also start with '{', so fall back to YAML when JSON fails.
    let trimmed = text.trim_start();
    let json = (trimmed.starts_with('{') || trimmed.starts_with('[')).then(|| read_json(trimmed));
    let raw = match json {
        Some(Ok(docs)) => docs,
        Some(Err(json_error)) => read_yaml(text).map_err(|_| json_error)?,
        None => read_yaml(text)?,
    };
    let mut docs = Vec::new();
    for doc in raw {
        if doc.is_null() {
            continue;
        }
        if doc.get("kind").and_then(Value::as_str) == Some("List") {
            let Some(Value::Array(items)) = doc.get("items").cloned() else {
                return Err(ManifestError::NotAnObject { index: docs.len() });
            };
            docs.extend(items);
        } else {
            docs.push(doc);
        }
        if docs.len() > MAX_DOCUMENTS {
            return Err(ManifestError::TooManyDocuments);
        }
    }
    for (index, doc) in docs.iter().enumerate() {
        if depth(doc) > MAX_DEPTH {
            return Err(ManifestError::TooDeep);
        }
        if api_version(doc).is_none() || kind(doc).is_none() {
            return Err(ManifestError::NotAnObject { index });
        }
    }
    Ok(docs)
}

fn read_json(text: &str) -> Result<Vec<Value>, ManifestError> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .take(MAX_DOCUMENTS + 1)
        .map(|doc| {
            doc.map_err(|e| ManifestError::Json {
                line: e.line(),
                column: e.column(),
                kind: match e.classify() {
                    serde_json::error::Category::Io => "I/O error",
                    serde_json::error::Category::Syntax => "syntax error",
                    serde_json::error::Category::Data => "unexpected data",
                    serde_json::error::Category::Eof => "unexpected end of input",
                },
            })
        })
        .collect()
}

fn read_yaml(text: &str) -> Result<Vec<Value>, ManifestError> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_aliases = MAX_ALIASES;
    budget.max_events = MAX_EVENTS;
    budget.max_depth = MAX_DEPTH + 1;
    budget.max_documents = MAX_DOCUMENTS + 1;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(text, options)
        .map_err(|e| ManifestError::Yaml(yaml_error_summary(&e)))
}

/// serde-saphyr errors may quote a snippet of the input (which could be a secret); keep only
/// the first line of the message and drop anything after a quote or snippet marker.
fn yaml_error_summary(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("").to_owned();
    match first.find(['\'', '"', '`']) {
        Some(cut) => first[..cut].trim_end().to_owned(),
        None => first,
    }
}

fn depth(value: &Value) -> usize {
    // Iterative so that a hostile document cannot overflow the stack here.
    let mut deepest = 0;
    let mut stack = vec![(value, 1)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// The document's `apiVersion`.
pub fn api_version(doc: &Document) -> Option<&str> {
    doc.get("apiVersion")?.as_str()
}

/// The document's `kind`.
pub fn kind(doc: &Document) -> Option<&str> {
    doc.get("kind")?.as_str()
}

/// Whether the document is a kage SealedSecret (`kage.dev/v1alpha1`); another project's
/// SealedSecret kind (Bitnami's `bitnami.com/v1alpha1`) is an ordinary document to kage.
pub fn is_sealed_secret(doc: &Document) -> bool {
    use kube::Resource;
    kind(doc) == Some("SealedSecret")
        && api_version(doc) == Some(&*crate::SealedSecret::api_version(&()))
}

/// Writes documents as multi-document YAML or as JSON.
#[allow(
    clippy::expect_used,
    reason = "documents are JSON values, which always serialise"
)]
pub fn write_documents(docs: &[Document], format: OutputFormat) -> String {
    match format {
        OutputFormat::Yaml => {
            let mut out = String::new();
            for (i, doc) in docs.iter().enumerate() {
                if i > 0 {
                    out.push_str("---\n");
                }
                out.push_str(&serde_saphyr::to_string(doc).expect("JSON values serialise"));
            }
            out
        }
        OutputFormat::Json => {
            let value = match docs {
                [one] => one.clone(),
                many => serde_json::json!({"apiVersion": "v1", "kind": "List", "items": many}),
            };
            let mut out = serde_json::to_string_pretty(&value).expect("JSON values serialise");
            out.push('\n');
            out
        }
    }
}

/// Overwrites every string in a document (used on Secret documents once their values have been
/// moved into zeroizing buffers).
pub fn wipe(doc: &mut Document) {
    match doc {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_yaml_documents_and_lists_are_read() {
        let text = "apiVersion: v1\nkind: Secret\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap}\n- {apiVersion: v1, kind: Secret}\n";
        let docs = read_documents(text).unwrap();
        let kinds: Vec<_> = docs.iter().map(|d| kind(d).unwrap()).collect();
        assert_eq!(kinds, ["Secret", "ConfigMap", "Secret"]);
    }

    #[test]
    fn yaml_flow_mappings_are_not_mistaken_for_json() {
        let docs = read_documents("{apiVersion: v1, kind: Secret}").unwrap();
        assert_eq!(kind(&docs[0]), Some("Secret"));
    }

    #[test]
    fn json_streams_are_read() {
        let docs = read_documents(
            "{\"apiVersion\":\"v1\",\"kind\":\"A\"}\n{\"apiVersion\":\"v1\",\"kind\":\"B\"}",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn an_alias_bomb_is_an_error_not_a_hang() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        text.push_str("apiVersion: v1\nkind: Secret\n");
        assert!(matches!(read_documents(&text), Err(ManifestError::Yaml(_))));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!(
            "apiVersion: v1\nkind: X\nd: {}{}",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(read_documents(&deep).is_err());
        let deep_json = format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"X\",\"d\":{}{}}}",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(read_documents(&deep_json).is_err());
        let block = (0..100).fold(String::from("apiVersion: v1\nkind: X\n"), |mut s, i| {
            s.push_str(&" ".repeat(i));
            s.push_str("k:\n");
            s
        });
        assert!(read_documents(&block).is_err());
    }

    #[test]
    fn huge_input_is_refused_before_parsing() {
        let huge = "a".repeat(MAX_INPUT_BYTES + 1);
        assert!(matches!(
            read_documents(&huge),
            Err(ManifestError::TooLarge(_))
        ));
    }

    #[test]
    fn yaml_errors_do_not_quote_the_input() {
        let err = read_documents(
            "apiVersion: v1\nkind: Secret\nstringData:\n  password: \"hunter2-unterminated\n",
        )
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn yaml_output_reads_back() {
        let doc =
            serde_json::json!({"apiVersion": "v1", "kind": "X", "data": {"k": "A".repeat(300)}});
        let text = write_documents(&[doc.clone(), doc.clone()], OutputFormat::Yaml);
        assert_eq!(read_documents(&text).unwrap(), vec![doc.clone(), doc]);
    }
}
