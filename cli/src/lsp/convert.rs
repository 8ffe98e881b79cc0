//! The one place where dealflow's byte spans and diagnostics become LSP ranges and
//! diagnostics (and back).

use dealflow_dsl::ide::{Encoding, LineIndex, Position as DslPosition};
use dealflow_dsl::{Code, Diagnostic, Severity};
use lsp_types::{
    CodeDescription, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString,
    Position, PositionEncodingKind, Range, Url,
};

/// The address of a code's section in `docs/lints.md` (GitHub heading anchors).
pub fn lint_docs_url(code: Code) -> String {
    format!(
        "{}/blob/main/docs/lints.md#{}-{}",
        env!("CARGO_PKG_REPOSITORY"),
        code.as_str().to_lowercase(),
        code.name()
    )
}

pub fn encoding_kind(enc: Encoding) -> PositionEncodingKind {
    match enc {
        Encoding::Utf8 => PositionEncodingKind::UTF8,
        Encoding::Utf16 => PositionEncodingKind::UTF16,
    }
}

/// UTF-8 when the client offers it (spans are bytes: nothing to convert), else
/// UTF-16, the protocol's default.
pub fn choose_encoding(offered: Option<&[PositionEncodingKind]>) -> Encoding {
    match offered {
        Some(kinds) if kinds.contains(&PositionEncodingKind::UTF8) => Encoding::Utf8,
        _ => Encoding::Utf16,
    }
}

pub fn range(index: &LineIndex, span: &std::ops::Range<usize>, enc: Encoding) -> Range {
    let (start, end) = index.range(span, enc);
    Range {
        start: Position::new(start.line, start.column),
        end: Position::new(end.line, end.column),
    }
}

pub fn offset(index: &LineIndex, pos: Position, enc: Encoding) -> usize {
    index.offset(
        DslPosition {
            line: pos.line,
            column: pos.character,
        },
        enc,
    )
}

pub fn span(index: &LineIndex, r: Range, enc: Encoding) -> std::ops::Range<usize> {
    let start = offset(index, r.start, enc);
    let end = offset(index, r.end, enc);
    start.min(end)..end.max(start)
}

/// A dealflow diagnostic as an LSP diagnostic: the stable code, its documentation,
/// the help text on a second line of the message, and the secondary labels as
/// related information.
pub fn diagnostic(
    uri: &Url,
    index: &LineIndex,
    d: &Diagnostic,
    enc: Encoding,
) -> lsp_types::Diagnostic {
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .related
        .iter()
        .map(|r| DiagnosticRelatedInformation {
            location: Location {
                uri: uri.clone(),
                range: range(index, &r.span, enc),
            },
            message: r.label.clone(),
        })
        .collect();
    lsp_types::Diagnostic {
        range: range(index, &d.span, enc),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        code_description: Url::parse(&lint_docs_url(d.code))
            .ok()
            .map(|href| CodeDescription { href }),
        source: Some("dealflow".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}
