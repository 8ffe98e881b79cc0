//! Rendering [`Diagnostic`]s for people with miette's graphical handler.
//!
//! Colour is used only when the output stream is a terminal and `NO_COLOR` is unset,
//! so piped output and test snapshots are plain text.

use std::io::IsTerminal;

use dealflow_dsl::{Diagnostic, SourceFile};
use miette::{GraphicalReportHandler, GraphicalTheme};

/// Which stream the rendering is for (decides colour).
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

fn use_color(stream: Stream) -> bool {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    match stream {
        Stream::Stdout => std::io::stdout().is_terminal(),
        Stream::Stderr => std::io::stderr().is_terminal(),
    }
}

/// A miette handler suited to the stream.
pub fn handler(stream: Stream) -> GraphicalReportHandler {
    let theme = if use_color(stream) {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme)
        .with_links(false)
        .with_width(100)
}

/// Renders one diagnostic with its source excerpt.
pub fn render(handler: &GraphicalReportHandler, diag: &Diagnostic, source: &SourceFile) -> String {
    let mut out = String::new();
    let report = diag.with_source(source);
    if handler.render_report(&mut out, &report).is_ok() {
        out.push('\n');
    } else {
        // Rendering into a String cannot fail in practice; fall back to one line.
        let lc = source.line_col(diag.span.start);
        out = format!(
            "{}: {}[{}] {}:{}:{}: {}\n",
            severity_word(diag),
            diag.code.as_str(),
            diag.code.name(),
            source.name,
            lc.line,
            lc.column,
            diag.message
        );
    }
    out
}

/// `error` or `warning`.
pub fn severity_word(diag: &Diagnostic) -> &'static str {
    if diag.is_error() {
        "error"
    } else {
        "warning"
    }
}

/// Renders every diagnostic of a file to stderr.
pub fn eprint_all(diags: &[Diagnostic], source: &SourceFile) {
    let handler = handler(Stream::Stderr);
    for diag in diags {
        eprint!("{}", render(&handler, diag, source));
    }
}
