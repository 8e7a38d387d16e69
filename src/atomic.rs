//! Writing outputs so that a failure never leaves a half-written file behind, and so that
//! nothing HitCast did not make is overwritten or deleted: bytes go to a temporary file (or
//! folder) beside the destination, which is then renamed over the target; a folder is only
//! replaced when it is empty or carries the marker HitCast writes into every folder it owns.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The file HitCast writes into every output folder it owns. A folder holding it may be
/// replaced whole by the next run; any other non-empty folder is refused.
pub const MARKER: &str = ".hitcast-output";

/// What the marker says to a person who opens it.
const MARKER_TEXT: &str = "This folder was written by HitCast. The next `hitcast report` \
with this folder as --out replaces it whole: keep your own files elsewhere.\n";

/// When [`replace_dir`] may replace an existing folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Only when it is empty or holds [`MARKER`] (the default everywhere).
    OnlyOurs,
    /// Whatever it holds (`--force`): for people who mean it.
    Force,
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into())
}

fn output(path: &Path, message: impl Into<String>) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Checks that [`write`](fn@write) can put a file at `path` (it is not a folder), so a command writing
/// several files can check them all before writing the first.
///
/// # Errors
/// [`Error::Output`] if `path` is a folder.
pub fn check_file_target(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(output(path, "is a folder; name a file to write"));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically, creating the parent folder if needed.
///
/// # Errors
/// [`Error::Io`] naming `path` if the folder cannot be created or the file cannot be written;
/// [`Error::Output`] if `path` is a folder.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |w| w.write_all(bytes))
}

/// [`write`](fn@write) of what `fill` writes, streamed (buffered) instead of held whole.
///
/// # Errors
/// As [`write`](fn@write); an error of `fill` is an [`Error::Io`] naming `path`, and the
/// target is then left untouched.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    check_file_target(path)?;
    let dir = parent_of(path);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(format!(".{}.tmp{}", name_of(path), std::process::id()));
    let result = (|| {
        let mut f = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&tmp)?);
        fill(&mut f)?;
        let f = f
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// The absolute, symlink-free form of `path`, also when `path` does not exist yet (its
/// nearest existing ancestor is resolved and the rest appended).
fn resolved(path: &Path) -> PathBuf {
    let raw = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // `sub/../x` names `x` once written (the writer creates `sub`), so `..` is resolved
    // lexically first.
    let mut abs = PathBuf::new();
    for c in raw.components() {
        match c {
            std::path::Component::ParentDir => {
                abs.pop();
            }
            std::path::Component::CurDir => {}
            other => abs.push(other),
        }
    }
    let mut rest = Vec::new();
    let mut at = abs.as_path();
    loop {
        if let Ok(real) = at.canonicalize() {
            return rest.iter().rev().fold(real, |p, n| p.join(n));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                at = parent;
            }
            _ => return abs,
        }
    }
}

/// Refuses an output that would overwrite (or, for a folder, delete) one of the command's
/// own inputs.
///
/// # Errors
/// [`Error::Output`] naming the output and the input it would destroy.
pub fn check_not_input(out: &Path, inputs: &[&Path]) -> Result<()> {
    let target = resolved(out);
    for input in inputs {
        let input_path = resolved(input);
        if input_path == target {
            return Err(output(
                out,
                format!(
                    "is this command's input ({}); write to another path",
                    input.display()
                ),
            ));
        }
        if input_path.starts_with(&target) {
            return Err(output(
                out,
                format!(
                    "holds this command's input ({}), which replacing the folder would delete; \
                     choose another --out",
                    input.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that `dir` may be replaced: it does not exist, or it is a folder (not a file or a
/// link) that is empty or carries [`MARKER`], unless `replace` is [`Replace::Force`]; and
/// every folder inside is writable, so that removing it cannot stop halfway.
///
/// Returns whether `dir` exists.
///
/// # Errors
/// [`Error::Output`] saying why `dir` may not be replaced.
pub fn check_replaceable(dir: &Path, replace: Replace) -> Result<bool> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(dir, e)),
    };
    if meta.file_type().is_symlink() {
        return Err(output(
            dir,
            "is a symbolic link; name a real folder (HitCast will not replace a link's target)",
        ));
    }
    if !meta.is_dir() {
        return Err(output(dir, "is a file, not a folder; choose another --out"));
    }
    let mut entries: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    entries.sort();
    let ours = entries.iter().any(|e| e == MARKER);
    if !entries.is_empty() && !ours && replace == Replace::OnlyOurs {
        let shown: Vec<&str> = entries.iter().take(3).map(String::as_str).collect();
        let more = if entries.len() > 3 { ", …" } else { "" };
        return Err(output(
            dir,
            format!(
                "holds files HitCast did not write ({}{more}) and no {MARKER} marker; \
                 choose an empty or new folder, or pass --force to replace it whole",
                shown.join(", ")
            ),
        ));
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let meta = std::fs::symlink_metadata(&d).map_err(|e| Error::io(&d, e))?;
        if meta.permissions().readonly() {
            return Err(output(
                &d,
                "is read-only, so the old output cannot be removed; make it writable first",
            ));
        }
        for entry in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let entry = entry.map_err(|e| Error::io(&d, e))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
    Ok(true)
}

/// Replaces the folder `dir` with exactly `files` (relative paths → bytes) plus [`MARKER`].
/// Everything is written into a sibling temporary folder first and swapped in by renames, so
/// a failure leaves either the old folder or the new one, never a mix, and no temporary or
/// old copy survives.
///
/// # Errors
/// [`Error::Output`] when `dir` is a file, a link, read-only, or (without
/// [`Replace::Force`]) a non-empty folder HitCast did not write; [`Error::Io`] naming the
/// path that could not be written.
pub fn replace_dir(dir: &Path, files: &[(String, Vec<u8>)], replace: Replace) -> Result<()> {
    let exists = check_replaceable(dir, replace)?;
    let parent = parent_of(dir);
    let name = name_of(dir);
    let pid = std::process::id();
    let tmp = parent.join(format!(".{name}.tmp{pid}"));
    let old = parent.join(format!(".{name}.old{pid}"));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| -> Result<()> {
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let put = |rel: &str, bytes: &[u8]| -> Result<()> {
            let p = tmp.join(rel);
            let folder = parent_of(&p);
            std::fs::create_dir_all(folder).map_err(|e| Error::io(dir.join(rel), e))?;
            std::fs::write(&p, bytes).map_err(|e| Error::io(dir.join(rel), e))
        };
        put(MARKER, MARKER_TEXT.as_bytes())?;
        for (rel, bytes) in files {
            put(rel, bytes)?;
        }
        if exists {
            std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        }
        if let Err(e) = std::fs::rename(&tmp, dir) {
            if exists {
                let _ = std::fs::rename(&old, dir);
            }
            return Err(Error::io(dir, e));
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        return result;
    }
    if exists {
        std::fs::remove_dir_all(&old).map_err(|e| {
            output(
                &old,
                format!("the new output is in {}, but its predecessor could not be removed ({e}); delete it by hand", dir.display()),
            )
        })?;
    }
    Ok(())
}
