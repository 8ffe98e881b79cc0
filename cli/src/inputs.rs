//! Loading the inputs of a decision: a compiled policy, records and contexts from
//! `.json` / `.yaml` / `.yml` files, the action, the audience and the clock.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use dealflow_engine::{Context, Policy, Record, RecordErrors};

use crate::diag;
use crate::files::{describe_io, display_path, read_source, report_error};
use crate::term;
use dealflow_dsl::SourceFile;

/// Reads and compiles a policy; on failure reports why (diagnostics on stderr).
pub fn load_policy(path: &Path) -> Option<Policy> {
    let source = match read_source(path) {
        Ok(s) => s,
        Err(message) => {
            report_error(message);
            return None;
        }
    };
    match Policy::compile(&source) {
        Ok(policy) => Some(policy),
        Err(err) => {
            // Shown terminal-safe: messages escaped, the excerpt's dangerous
            // characters replaced in place (offsets and columns unchanged).
            let errors: Vec<_> = err
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .map(|mut d| {
                    d.message = term::clean(&d.message).into_owned();
                    d.label = term::clean(&d.label).into_owned();
                    d.help = d.help.map(|h| term::clean(&h).into_owned());
                    for r in &mut d.related {
                        r.label = term::clean(&r.label).into_owned();
                    }
                    d
                })
                .collect();
            let shown = SourceFile::new(
                term::clean(&source.name).into_owned(),
                term::excerpt(&source.text).into_owned(),
            );
            diag::eprint_all(&errors, &shown);
            report_error(format_args!(
                "`{}` has errors and cannot be used to decide",
                display_path(path)
            ));
            None
        }
    }
}

/// The data format of a record or context file, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    Json,
    Yaml,
}

impl DataFormat {
    /// `.json` is JSON, `.yaml`/`.yml` YAML; anything else is refused.
    pub fn of(path: &Path) -> Result<DataFormat, String> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("json") => Ok(DataFormat::Json),
            Some("yaml" | "yml") => Ok(DataFormat::Yaml),
            _ => Err(format!(
                "cannot tell the format of `{}` from its extension; use `.json`, `.yaml` or `.yml`",
                display_path(path)
            )),
        }
    }
}

/// Why an input file could not be used.
pub enum InputError {
    /// I/O or format problem, as one line.
    Message(String),
    /// Validation problems with field paths.
    Invalid(RecordErrors),
}

impl InputError {
    /// Prints the problem to stderr, naming the file and what it was meant to be.
    pub fn report(&self, what: &str, path: &str) {
        match self {
            InputError::Message(m) => report_error(m),
            InputError::Invalid(errors) => {
                report_error(format_args!("the {what} in `{path}` is invalid"));
                for line in describe_record_errors(errors) {
                    eprintln!("  {}", crate::term::clean(&line));
                }
            }
        }
    }
}

/// One line per problem: `- fields.close_date: message (help: ...)`.
pub fn describe_record_errors(errors: &RecordErrors) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            let mut line = if e.path.is_empty() {
                format!("- {}", e.message)
            } else {
                format!("- {}: {}", e.path, e.message)
            };
            if let Some(help) = &e.help {
                line.push_str(&format!(" (help: {help})"));
            }
            line
        })
        .collect()
}

/// Reads and validates a record file.
pub fn load_record(policy: &Policy, path: &Path) -> Result<Record, InputError> {
    let format = DataFormat::of(path).map_err(InputError::Message)?;
    let text = read_input(path).map_err(InputError::Message)?;
    match format {
        DataFormat::Json => policy.parse_record_json(&text),
        DataFormat::Yaml => policy.parse_record_yaml(&text),
    }
    .map_err(InputError::Invalid)
}

/// Reads and validates a decision context file.
pub fn load_context(policy: &Policy, path: &Path) -> Result<Context, InputError> {
    let format = DataFormat::of(path).map_err(InputError::Message)?;
    let text = read_input(path).map_err(InputError::Message)?;
    match format {
        DataFormat::Json => policy.parse_context_json(&text),
        DataFormat::Yaml => policy.parse_context_yaml(&text),
    }
    .map_err(InputError::Invalid)
}

/// Parses an RFC 3339 instant.
pub fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!(
                "`{text}` is not an RFC 3339 date-time ({e}); write e.g. `2026-11-27T15:00:00Z`"
            )
        })
}

/// The default cap on the size of a record, context or test-cases file: 16 MiB.
pub const DEFAULT_MAX_INPUT_SIZE: u64 = 16 * 1024 * 1024;

static MAX_INPUT_SIZE: AtomicU64 = AtomicU64::new(DEFAULT_MAX_INPUT_SIZE);

/// Sets the cap that [`read_input`] enforces (`--max-input-size`).
pub fn set_max_input_size(bytes: u64) {
    MAX_INPUT_SIZE.store(bytes, Ordering::Relaxed);
}

/// Parses a size: bytes (`1048576`) or with a unit (`512KiB`, `64MiB`, `1GiB`, `10MB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. `64MiB` or `1000000`"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit; use B, KB, KiB, MB, MiB, GB or GiB"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{text}` is too large a size"))
}

/// `16 MiB`, `1.5 MiB`, `300 bytes`.
fn show_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads a record, context or test-cases file as UTF-8, refusing it once it is larger
/// than the input size cap (the read is bounded: `/dev/zero` stops at the cap).
pub fn read_input(path: &Path) -> Result<String, String> {
    let cap = MAX_INPUT_SIZE.load(Ordering::Relaxed);
    let shown = display_path(path);
    let cannot = |err: std::io::Error| format!("cannot read `{shown}`: {}", describe_io(&err));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let too_large = || {
        format!(
            "`{shown}` is larger than the input size limit of {}; raise it with `--max-input-size` (e.g. `--max-input-size 64MiB`)",
            show_size(cap)
        )
    };
    if file.metadata().map_err(cannot)?.len() > cap {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > cap) {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "`{shown}` is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("2 KiB"), Ok(2048));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("99999999999GiB").is_err());
        assert_eq!(show_size(16 << 20), "16 MiB");
        assert_eq!(show_size(1500), "1500 bytes");
    }
}
