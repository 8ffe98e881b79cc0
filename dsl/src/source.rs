//! Policy source files and byte-offset to line/column mapping.

use std::sync::Arc;

use crate::ast::Span;

/// A policy source: its display name (usually a path) and its text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: Arc<str>,
    pub text: Arc<str>,
    line_starts: Arc<[usize]>,
    /// Whether every `\r` is part of a `\r\n` (miette also counts a lone `\r` as a
    /// line break; then spans are read from the whole text).
    crlf_only: bool,
}

/// A 1-based line and column (column counted in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

impl SourceFile {
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let bytes = text.as_bytes();
        let crlf_only = bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b != b'\r' || bytes.get(i + 1) == Some(&b'\n'));
        Self {
            name: name.into(),
            text,
            line_starts: line_starts.into(),
            crlf_only,
        }
    }

    /// The 1-based line and column of a byte offset (clamped to the text).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = offset.min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line_idx).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start)
            + 1;
        LineCol {
            line: line_idx + 1,
            column,
        }
    }

    /// Start and end line/column of a span (end is exclusive, as 1-based column after the last char).
    pub fn span_lines(&self, span: &Span) -> (LineCol, LineCol) {
        (self.line_col(span.start), self.line_col(span.end))
    }

    /// `name:line:column` of a byte offset.
    pub fn location(&self, offset: usize) -> String {
        let lc = self.line_col(offset);
        format!("{}:{}:{}", self.name, lc.line, lc.column)
    }
}

impl miette::SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        // miette's `str` implementation counts lines from the start of the text, so
        // rendering every diagnostic of a large file would be quadratic. Hand it only
        // the lines around the span (found by binary search in `line_starts`, with one
        // spare line each side) and shift the result back.
        let text: &str = &self.text;
        let start = span.offset().min(text.len());
        let end = start.saturating_add(span.len()).min(text.len());
        let first = self
            .line_index(start)
            .saturating_sub(context_lines_before.saturating_add(1));
        let last = self
            .line_index(end)
            .saturating_add(context_lines_after.saturating_add(2));
        let from = self.line_starts.get(first).copied().unwrap_or(0);
        let to = self
            .line_starts
            .get(last)
            .copied()
            .unwrap_or(text.len())
            .max(end);
        // At the end of the text miette counts the lines of the context in its own
        // way; the last few lines are read from the whole text (a bounded number of
        // diagnostics can sit there, so this stays linear).
        let (window, from) = match text.get(from..to) {
            Some(w) if to < text.len() && self.crlf_only => (w, from),
            _ => (text, 0),
        };
        let local = miette::SourceSpan::new((start - from).into(), end - start);
        let inner = window.read_span(&local, context_lines_before, context_lines_after)?;
        let first_line = if from == 0 { 0 } else { first };
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.to_string(),
            inner.data(),
            miette::SourceSpan::new((inner.span().offset() + from).into(), inner.span().len()),
            inner.line() + first_line,
            inner.column(),
            // miette counts the line breaks from the start of what it reads.
            inner.line_count() + first_line,
        )))
    }
}

impl SourceFile {
    /// The 0-based index of the line holding byte `offset`.
    fn line_index(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use miette::SourceCode as _;
    use proptest::prelude::*;

    use super::SourceFile;

    proptest! {
        /// Reading a span through the line index gives exactly what miette's reader
        /// of the whole text gives (same data, span, line, column and line count).
        #[test]
        fn windowed_read_span_matches_the_whole_text(
            lines in proptest::collection::vec("[a-c é\r]{0,6}", 1..12),
            crlf in any::<bool>(),
            at in 0usize..200,
            len in 0usize..30,
            before in 0usize..4,
            after in 0usize..4,
        ) {
            let text = lines.join(if crlf { "\r\n" } else { "\n" });
            let mut start = at.min(text.len());
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + len).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let span = miette::SourceSpan::new(start.into(), end - start);
            let src = SourceFile::new("t.policy", text.as_str());
            let parts = |c: Box<dyn miette::SpanContents<'_> + '_>| {
                (c.data().to_vec(), *c.span(), c.line(), c.column(), c.line_count())
            };
            let whole = text.as_str().read_span(&span, before, after).ok().map(parts);
            let windowed = src.read_span(&span, before, after).ok().map(parts);
            prop_assert_eq!(whole, windowed);
        }
    }
}
