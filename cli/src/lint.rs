//! `dealflow lint`: analyze policies and report diagnostics as human text, JSON,
//! SARIF 2.1.0 or GitHub Actions workflow-command annotations.

use std::path::Path;

use dealflow_dsl::lints::calibration::{miscalibrated, Observed};
use dealflow_dsl::{analyze, Code, Diagnostic, LocatedDiagnostic, Severity, SourceFile};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use crate::diag::{self, Stream};
use crate::files::{collect_policy_files, read_source, report_error};
use crate::{ExitStatus, LintArgs, LintFormat};

/// The analysed files of one run, in input order.
struct Linted {
    source: SourceFile,
    diagnostics: Vec<Diagnostic>,
    ast: Option<dealflow_dsl::ast::Policy>,
    ir: Option<dealflow_dsl::ir::Policy>,
}

/// Runs `dealflow lint`.
pub fn run(args: &LintArgs) -> ExitStatus {
    let (paths, mut io_errors) = collect_policy_files(&args.paths);
    // A thread pool costs more to start than one file takes to lint: parallelize only
    // when there are several files. Either way the outcomes keep the input order.
    let outcomes: Vec<Result<Linted, String>> = if paths.len() > 1 {
        paths.par_iter().map(|path| lint_file(path)).collect()
    } else {
        paths.iter().map(|path| lint_file(path)).collect()
    };
    let observed = match &args.db {
        Some(db) => match observed(db, args.as_of.as_deref()) {
            Ok(o) => Some(o),
            Err(message) => {
                report_error(message);
                return ExitStatus::Error;
            }
        },
        None => None,
    };
    let mut linted = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        let outcome = outcome.map(|mut l| {
            if let (Some(obs), Some(ast), Some(ir)) = (&observed, &l.ast, &l.ir) {
                let declared = |stage: &str| {
                    ir.stage_by_name(stage)
                        .and_then(|s| ir.stage(s))
                        .and_then(|s| rust_decimal::prelude::ToPrimitive::to_f64(&s.probability))
                };
                l.diagnostics.extend(miscalibrated(ast, &declared, obs));
                dealflow_dsl::diagnostics::sort(&mut l.diagnostics);
            }
            l
        });
        match outcome {
            Ok(l) => linted.push(l),
            Err(message) => {
                report_error(message);
                io_errors += 1;
            }
        }
    }

    let errors = count(&linted, Severity::Error);
    let warnings = count(&linted, Severity::Warning);
    let output = match args.format {
        LintFormat::Human => human(&linted, errors, warnings),
        LintFormat::Json => to_json_string(&json_report(&linted, errors, warnings)),
        LintFormat::Sarif => to_json_string(&sarif(&linted)),
        LintFormat::Github => github(&linted, errors, warnings),
    };
    print!("{output}");

    if io_errors > 0 {
        ExitStatus::Error
    } else if errors > 0 || (args.deny_warnings && warnings > 0) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

/// Reads and analyses one file.
fn lint_file(path: &Path) -> Result<Linted, String> {
    read_source(path).map(|source| {
        let analysis = analyze(&source);
        Linted {
            source,
            diagnostics: analysis.diagnostics,
            ast: analysis.ast,
            ir: analysis.ir,
        }
    })
}

/// Each stage's observed conversion to won in a store (what `dealflow report` calls
/// calibration), for W401.
fn observed(db: &Path, as_of: Option<&str>) -> Result<Vec<Observed>, String> {
    let as_of = match as_of {
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| format!("--as-of `{d}` is not a date YYYY-MM-DD"))?,
        None => chrono::Utc::now().date_naive(),
    };
    let store = dealflow_store::sqlite::SqliteStore::open_existing(db)
        .map_err(|e| format!("{}: {e}", db.display()))?;
    let r = dealflow_analytics::report::compute(
        &store,
        &dealflow_analytics::report::Options {
            as_of,
            target: None,
            period: None,
            audience: dealflow_engine::Audience::Vendor,
        },
    )
    .map_err(|e| format!("{}: {e}", db.display()))?;
    Ok(r.calibration
        .into_iter()
        .filter_map(|c| {
            Some(Observed {
                stage: c.stage,
                reached: c.reached,
                won: c.won,
                low: c.low?,
                high: c.high?,
            })
        })
        .collect())
}

fn count(linted: &[Linted], severity: Severity) -> usize {
    linted
        .iter()
        .flat_map(|l| &l.diagnostics)
        .filter(|d| d.severity == severity)
        .count()
}

fn to_json_string(value: &impl Serialize) -> String {
    match serde_json::to_string_pretty(value) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        Err(err) => {
            report_error(format_args!("cannot serialize the report: {err}"));
            String::new()
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn human(linted: &[Linted], errors: usize, warnings: usize) -> String {
    let mut out = String::new();
    // The handler (terminal detection, theme) is only needed when there is something
    // to render; a clean run prints just the summary line.
    if linted.iter().any(|l| !l.diagnostics.is_empty()) {
        let handler = diag::handler(Stream::Stdout);
        for l in linted {
            for d in &l.diagnostics {
                out.push_str(&diag::render(&handler, d, &l.source));
            }
        }
    }
    out.push_str(&format!(
        "{}, {}, {}\n",
        plural(linted.len(), "file"),
        plural(errors, "error"),
        plural(warnings, "warning")
    ));
    out
}

/// GitHub Actions workflow commands: one `::error`/`::warning` annotation per
/// diagnostic, then the human summary line (shown as plain log text).
fn github(linted: &[Linted], errors: usize, warnings: usize) -> String {
    let mut out = String::new();
    for l in linted {
        for d in &l.diagnostics {
            out.push_str(&github_annotation(&l.source, d));
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "{}, {}, {}\n",
        plural(linted.len(), "file"),
        plural(errors, "error"),
        plural(warnings, "warning")
    ));
    out
}

/// One workflow command:
/// `::error file=F,line=L,col=C,endLine=L,endColumn=C,title=CODE::MESSAGE`.
pub fn github_annotation(source: &SourceFile, d: &Diagnostic) -> String {
    let command = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let (start, end) = source.span_lines(&d.span);
    let mut message = format!("{} ({})", d.message, d.code.name());
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    format!(
        "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
        escape_property(&source.name),
        start.line,
        start.column,
        end.line,
        end.column,
        escape_property(d.code.as_str()),
        escape_data(&message),
    )
}

/// Escapes a workflow-command message: `%`, CR and LF (in that order, `%` first).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow-command property value: as data, plus `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The JSON report: `{"diagnostics":[...],"files":N,"errors":N,"warnings":N}`.
#[derive(Serialize)]
struct JsonReport<'a> {
    diagnostics: Vec<LocatedDiagnostic<'a>>,
    files: usize,
    errors: usize,
    warnings: usize,
}

fn json_report(linted: &[Linted], errors: usize, warnings: usize) -> JsonReport<'_> {
    let diagnostics = linted
        .iter()
        .flat_map(|l| l.diagnostics.iter().map(move |d| d.located(&l.source)))
        .collect();
    JsonReport {
        diagnostics,
        files: linted.len(),
        errors,
        warnings,
    }
}

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where the project lives; the SARIF rules link to `docs/lints.md` there.
const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// The documentation link of a rule: `docs/lints.md#e101-unknown-field`.
pub fn help_uri(code: Code) -> String {
    format!(
        "{REPOSITORY}/blob/main/docs/lints.md#{}-{}",
        code.as_str().to_lowercase(),
        code.name()
    )
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A relative path as a URI reference: forward slashes, no leading `./`, spaces
/// and other unsafe characters percent-encoded.
fn uri_reference(path: &str) -> String {
    let mut p = path.replace('\\', "/");
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.to_string();
    }
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@!$&'()*+,;=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn region(source: &SourceFile, span: &dealflow_dsl::ast::Span) -> Value {
    let (start, end) = source.span_lines(span);
    json!({
        "startLine": start.line,
        "startColumn": start.column,
        "endLine": end.line,
        "endColumn": end.column,
    })
}

fn sarif(linted: &[Linted]) -> Value {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|code| {
            json!({
                "id": code.as_str(),
                "name": code.name(),
                "shortDescription": { "text": code.summary() },
                "helpUri": help_uri(*code),
                "defaultConfiguration": { "level": sarif_level(code.severity()) },
            })
        })
        .collect();
    let mut results = Vec::new();
    for l in linted {
        let uri = uri_reference(&l.source.name);
        for d in &l.diagnostics {
            let rule_index = Code::ALL.iter().position(|c| *c == d.code).unwrap_or(0);
            let text = match &d.help {
                Some(help) => format!("{}\nhelp: {help}", d.message),
                None => d.message.clone(),
            };
            let related: Vec<Value> = d
                .related
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    json!({
                        "id": i,
                        "message": { "text": r.label },
                        "physicalLocation": {
                            "artifactLocation": { "uri": uri },
                            "region": region(&l.source, &r.span),
                        },
                    })
                })
                .collect();
            let mut result = json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": rule_index,
                "level": sarif_level(d.severity),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri },
                        "region": region(&l.source, &d.span),
                    },
                }],
            });
            if !related.is_empty() {
                if let Some(obj) = result.as_object_mut() {
                    obj.insert("relatedLocations".to_string(), Value::Array(related));
                }
            }
            results.push(result);
        }
    }
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "dealflow",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": REPOSITORY,
                    "rules": rules,
                },
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_reference_normalizes_relative_paths() {
        assert_eq!(
            uri_reference("./policies/a b.policy"),
            "policies/a%20b.policy"
        );
        assert_eq!(uri_reference("dir\\x.policy"), "dir/x.policy");
    }

    /// Undoes [`escape_property`] (and [`escape_data`]) as the Actions runner does.
    fn unescape(s: &str) -> String {
        s.replace("%3A", ":")
            .replace("%2C", ",")
            .replace("%0D", "\r")
            .replace("%0A", "\n")
            .replace("%25", "%")
    }

    #[test]
    fn workflow_command_escaping_covers_percent_newlines_colon_and_comma() {
        assert_eq!(escape_data("50% a\r\nb: c, d"), "50%25 a%0D%0Ab: c, d");
        assert_eq!(escape_property("a:b,c%d\ne"), "a%3Ab%2Cc%25d%0Ae");
        // `%` is escaped first, so an input that already looks escaped survives.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    proptest::proptest! {
        #[test]
        fn escaped_values_hold_no_separator_and_round_trip(s in "[a-z%:,\r\n 0-9A-F]{0,40}") {
            let p = escape_property(&s);
            proptest::prop_assert!(!p.contains([':', ',', '\r', '\n']));
            proptest::prop_assert_eq!(unescape(&p), s.clone());
            let d = escape_data(&s);
            proptest::prop_assert!(!d.contains(['\r', '\n']));
            proptest::prop_assert_eq!(unescape(&d), s);
        }
    }

    #[test]
    fn help_uri_points_at_the_rule_anchor() {
        assert!(help_uri(Code::UnknownField).ends_with("/docs/lints.md#e101-unknown-field"));
    }
}
