//! `dealflow fmt`: rewrite policies in the canonical layout, or check that they are.
//!
//! Safety: a file with syntax errors is never formatted, and the formatter's output
//! must parse back to the same AST (ignoring spans and comments' positions) before
//! anything is written.

use std::io::Read;
use std::path::PathBuf;

use dealflow_dsl::{fmt, parser, SourceFile};

use crate::diag;
use crate::files::{collect_policy_files, display_path, read_source, report_error, write_atomic};
use crate::{ExitStatus, FmtArgs};

/// What formatting one source produced.
enum Formatted {
    /// The canonical text (maybe equal to the input).
    Text(String),
    /// Syntax errors (already shown on stderr).
    SyntaxErrors,
    /// The formatter failed its safety check (already reported).
    Unsafe,
}

/// Runs `dealflow fmt`.
pub fn run(args: &FmtArgs) -> ExitStatus {
    let stdin_requested = args.paths.iter().any(|p| p.as_os_str() == "-");
    if stdin_requested {
        if args.paths.len() > 1 {
            report_error("`-` (standard input) cannot be combined with other paths");
            return ExitStatus::Error;
        }
        return run_stdin(args.check);
    }
    let (paths, io_errors) = collect_policy_files(&args.paths);
    let mut status = if io_errors > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    };
    let mut changed: Vec<PathBuf> = Vec::new();
    let mut unchanged = 0usize;
    let mut failed = 0usize;
    for path in &paths {
        let source = match read_source(path) {
            Ok(s) => s,
            Err(message) => {
                report_error(message);
                status = status.worst(ExitStatus::Error);
                continue;
            }
        };
        match format_source(&source) {
            Formatted::Text(text) if text == *source.text => unchanged += 1,
            Formatted::Text(text) => {
                if args.check {
                    println!("{}", display_path(path));
                    changed.push(path.clone());
                } else {
                    match write_atomic(path, &text) {
                        Ok(()) => changed.push(path.clone()),
                        Err(message) => {
                            report_error(message);
                            status = status.worst(ExitStatus::Error);
                        }
                    }
                }
            }
            Formatted::SyntaxErrors => {
                failed += 1;
                status = status.worst(ExitStatus::Failure);
            }
            Formatted::Unsafe => {
                failed += 1;
                status = status.worst(ExitStatus::Error);
            }
        }
    }
    let not_formatted = if failed > 0 {
        format!(", {} not formatted", files(failed))
    } else {
        String::new()
    };
    if args.check {
        if !changed.is_empty() {
            eprintln!(
                "{} would be reformatted, {unchanged} already formatted{not_formatted}",
                files(changed.len())
            );
            status = status.worst(ExitStatus::Failure);
        } else {
            eprintln!("{} already formatted{not_formatted}", files(unchanged));
        }
    } else {
        eprintln!(
            "{} reformatted, {unchanged} unchanged{not_formatted}",
            files(changed.len())
        );
    }
    status
}

fn files(n: usize) -> String {
    if n == 1 {
        "1 file".to_string()
    } else {
        format!("{n} files")
    }
}

fn run_stdin(check: bool) -> ExitStatus {
    let mut text = String::new();
    if let Err(err) = std::io::stdin().read_to_string(&mut text) {
        report_error(format_args!(
            "cannot read standard input: {}",
            crate::files::describe_io(&err)
        ));
        return ExitStatus::Error;
    }
    let source = SourceFile::new("<stdin>", text);
    match format_source(&source) {
        Formatted::Text(formatted) => {
            if check {
                if formatted == *source.text {
                    ExitStatus::Success
                } else {
                    println!("<stdin>");
                    ExitStatus::Failure
                }
            } else {
                print!("{formatted}");
                ExitStatus::Success
            }
        }
        Formatted::SyntaxErrors => ExitStatus::Failure,
        Formatted::Unsafe => ExitStatus::Error,
    }
}

fn format_source(source: &SourceFile) -> Formatted {
    let (ast, diagnostics) = parser::parse(source);
    let errors: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    let ast = match ast {
        Some(ast) if errors.is_empty() => ast,
        _ => {
            diag::eprint_all(&errors, source);
            eprintln!(
                "error: `{}` has syntax errors and was not formatted",
                source.name
            );
            return Formatted::SyntaxErrors;
        }
    };
    let formatted = fmt::format(&ast, &source.text);
    if let Err(problem) = soundness_check(source, &ast, &formatted) {
        report_error(format_args!(
            "the formatter produced invalid output for `{}` ({problem}); the file was left unchanged",
            source.name
        ));
        eprintln!("help: this is a dealflow bug; please report it with the policy attached");
        return Formatted::Unsafe;
    }
    Formatted::Text(formatted)
}

/// The formatted text must parse without errors to the same items and keep every comment.
fn soundness_check(
    source: &SourceFile,
    ast: &dealflow_dsl::ast::Policy,
    formatted: &str,
) -> Result<(), String> {
    let reparsed_source = SourceFile::new(source.name.clone(), formatted);
    let (reparsed, diags) = parser::parse(&reparsed_source);
    if diags.iter().any(|d| d.is_error()) {
        return Err("it does not parse".to_string());
    }
    let Some(reparsed) = reparsed else {
        return Err("it does not parse".to_string());
    };
    // AST equality compares some spans; the serialized form skips every span.
    let meaning = |p: &dealflow_dsl::ast::Policy| serde_json::to_value(&p.items).ok();
    if meaning(&reparsed).is_none() || meaning(&reparsed) != meaning(ast) {
        return Err("it does not mean the same policy".to_string());
    }
    if fmt::sorted_comment_texts(&reparsed.comments) != fmt::sorted_comment_texts(&ast.comments) {
        return Err("comments were lost or duplicated".to_string());
    }
    Ok(())
}
