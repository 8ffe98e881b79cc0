//! Editor queries on a policy, as plain Rust: position indexing, the symbol index
//! (definitions and references), hover text, completion in context, the outline,
//! rename and quick fixes. No editor-protocol types live here; the language server
//! (`dealflow lsp`, in the CLI crate) converts these to and from LSP.
//!
//! Every query is total: a query at any offset of any text (half-typed included)
//! returns an answer or nothing, never a panic. Queries that need names take an
//! [`Index`] built from a parsed AST; a server keeps the last one that parsed so
//! completion keeps working while a line is being typed.

mod complete;
mod fixes;
mod hover;
mod index;
mod line_index;
mod outline;
mod rename;

#[cfg(test)]
mod tests;

pub use complete::{complete, Completion, CompletionKind};
pub use fixes::{fix, Fix};
pub use hover::{builtin_meaning, hover, type_name, HoverText};
pub use index::{EnumInfo, FieldInfo, FlagInfo, Index, Occurrence, PoolInfo, StageInfo, Symbol};
pub use line_index::{Encoding, LineIndex, Position};
pub use outline::{outline, OutlineItem, OutlineKind};
pub use rename::{prepare as prepare_rename, rename, RenameError};

use crate::ast::Span;

/// Replace `span` with `new_text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextEdit {
    pub span: Span,
    pub new_text: String,
}

/// Applies non-overlapping edits to a text (edits out of range are skipped).
pub fn apply(text: &str, edits: &[TextEdit]) -> String {
    let mut sorted: Vec<&TextEdit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for e in sorted {
        if e.span.start < at || e.span.end < e.span.start {
            continue;
        }
        let (Some(keep), Some(_)) = (text.get(at..e.span.start), text.get(e.span.clone())) else {
            continue;
        };
        out.push_str(keep);
        out.push_str(&e.new_text);
        at = e.span.end;
    }
    out.push_str(text.get(at..).unwrap_or(""));
    out
}

/// The span of the identifier-like word (letters, digits, `_`) touching `offset`.
pub fn word_at(text: &str, offset: usize) -> Option<Span> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let offset = offset.min(text.len());
    if !text.is_char_boundary(offset) {
        return None;
    }
    let start = text
        .get(..offset)?
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = offset
        + text
            .get(offset..)?
            .char_indices()
            .find(|(_, c)| !is_word(*c))
            .map_or(text.len() - offset, |(i, _)| i);
    (start < end).then_some(start..end)
}
