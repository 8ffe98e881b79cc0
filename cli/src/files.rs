//! File-system helpers: expanding paths to policy files, reading them, and writing
//! files atomically. All I/O errors become one-line messages on stderr.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use dealflow_dsl::SourceFile;

/// Prints a one-line error to stderr: `error: message`.
pub fn report_error(message: impl std::fmt::Display) {
    // Messages quote file names and input values: escape what a terminal acts on.
    eprintln!("error: {}", crate::term::block(&message.to_string()));
}

/// A path as shown to the user: as given, with forward slashes.
pub fn display_path(path: &Path) -> String {
    let mut shown = path.to_string_lossy().replace('\\', "/");
    while shown.len() > 2 && shown.starts_with("./") {
        shown.drain(..2);
    }
    shown
}

/// Expands files and directories into the list of policy files to process.
///
/// Directories are walked recursively for `*.policy` files (hidden entries skipped),
/// sorted so output is deterministic; files named explicitly are kept whatever their
/// extension. Paths that do not exist or cannot be listed are reported and returned
/// in the error count.
pub fn collect_policy_files(paths: &[PathBuf]) -> (Vec<PathBuf>, usize) {
    let mut files = Vec::new();
    let mut errors = 0;
    for path in paths {
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                if let Err(err) = walk(path, &mut found) {
                    report_error(format_args!(
                        "cannot read directory `{}`: {err}",
                        display_path(path)
                    ));
                    errors += 1;
                }
                found.sort();
                files.extend(found);
            }
            Ok(_) => files.push(path.clone()),
            Err(err) => {
                report_error(format_args!(
                    "cannot read `{}`: {}",
                    display_path(path),
                    describe_io(&err)
                ));
                errors += 1;
            }
        }
    }
    (files, errors)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else if path.extension() == Some(OsStr::new("policy")) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads a policy file as UTF-8 into a [`SourceFile`] named by its display path.
pub fn read_source(path: &Path) -> Result<SourceFile, String> {
    let bytes = fs::read(path).map_err(|err| {
        format!(
            "cannot read `{}`: {}",
            display_path(path),
            describe_io(&err)
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        format!(
            "cannot read `{}`: the file is not valid UTF-8",
            display_path(path)
        )
    })?;
    Ok(SourceFile::new(display_path(path), text))
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory,
/// flushed, then renamed over the target (keeping the original permissions).
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), String> {
    let fail = |err: std::io::Error| {
        format!(
            "cannot write `{}`: {}",
            display_path(path),
            describe_io(&err)
        )
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.dealflow-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        if let Ok(meta) = fs::metadata(path) {
            fs::set_permissions(&tmp, meta.permissions())?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

/// A lowercase description of an I/O error, without the OS error number.
pub fn describe_io(err: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::NotFound => "no such file or directory".to_string(),
        ErrorKind::PermissionDenied => "permission denied".to_string(),
        ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => {
            let text = err.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            text.to_lowercase()
        }
    }
}
