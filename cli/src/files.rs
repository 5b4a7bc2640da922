//! Reading input and writing files atomically.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kage_api::manifest::MAX_INPUT_BYTES;

/// Reads a whole file, or stdin for `None` or "-", refusing more than [`MAX_INPUT_BYTES`].
pub fn read_input(path: Option<&Path>) -> anyhow::Result<String> {
    let mut text = String::new();
    let limit = MAX_INPUT_BYTES as u64 + 1;
    match path {
        None => read_stdin(limit, &mut text)?,
        Some(p) if p == Path::new("-") => read_stdin(limit, &mut text)?,
        Some(p) => {
            let file =
                std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
            read_limited(file, limit, &mut text)
                .with_context(|| format!("reading {}", p.display()))?
        }
    }
    if text.len() > MAX_INPUT_BYTES {
        bail!("input is larger than the limit of {MAX_INPUT_BYTES} bytes");
    }
    Ok(text)
}

/// Reads stdin; on a terminal, first says what is expected instead of waiting silently.
fn read_stdin(limit: u64, text: &mut String) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!(
            "reading a YAML or JSON manifest from the terminal: paste it, then press Ctrl-D (or pass -f FILE)"
        );
    }
    read_limited(stdin.lock(), limit, text).context("reading stdin")
}

fn read_limited(reader: impl Read, limit: u64, text: &mut String) -> std::io::Result<()> {
    reader.take(limit).read_to_string(text).map(|_| ())
}

/// Writes `contents` to `path` atomically: a temporary file in the same folder, flushed, then
/// renamed over the target. A failure leaves the old file as it was. `mode` sets Unix
/// permissions (0600 for private keys).
pub fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write {}: the folder {} does not exist",
            path.display(),
            dir.display()
        );
    }
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot write {}: creating a temporary file in {}: {}",
            path.display(),
            dir.display(),
            e.kind()
        )
    })?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    } else if let Ok(meta) = std::fs::metadata(path) {
        // Keep the permissions of the file being replaced.
        tmp.as_file().set_permissions(meta.permissions())?;
    } else {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Every manifest file under `path` (itself if it is a file), sorted.
pub fn manifest_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let p = entry.path();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type()?.is_dir() {
                dirs.push(p);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                found.push(p);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Writes `text` to stdout.
pub fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to stdout")?;
    Ok(())
}
