//! Loading the inputs of a decision: a compiled policy, records and contexts from
//! `.json` / `.yaml` / `.yml` files, the action, the audience and the clock.

use std::path::Path;

use chrono::{DateTime, Utc};
use dealflow_engine::{Context, Policy, Record, RecordErrors};

use crate::diag;
use crate::files::{display_path, read_source, read_text, report_error};
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
    let text = read_text(path).map_err(InputError::Message)?;
    match format {
        DataFormat::Json => policy.parse_record_json(&text),
        DataFormat::Yaml => policy.parse_record_yaml(&text),
    }
    .map_err(InputError::Invalid)
}

/// Reads and validates a decision context file.
pub fn load_context(policy: &Policy, path: &Path) -> Result<Context, InputError> {
    let format = DataFormat::of(path).map_err(InputError::Message)?;
    let text = read_text(path).map_err(InputError::Message)?;
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
