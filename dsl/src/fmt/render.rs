//! Layout tree + comments -> text.
//!
//! Comments are consumed in source order through a cursor, so each one is printed
//! exactly once: before a node (own-line comments and comments inside a one-line
//! node), at the end of a node's last line (a comment after the node on the same
//! source line), before a closing `}`, or at the end of the file.

use std::collections::HashMap;

use crate::ast::{Comment, Span};

use super::build::{Block, Doc};

const INDENT: &str = "  ";

/// Prints the top-level items and every comment. Returns the text and the
/// comment texts in the order they were printed.
pub(super) fn render(items: &[Doc], comments: &[Comment], source: &str) -> (String, Vec<String>) {
    let comment_by_end = comments
        .iter()
        .filter_map(|c| {
            let text = source.get(c.span.start..c.span.end)?;
            Some((c.span.start + text.trim_end().len(), c.span.start))
        })
        .collect();
    let mut r = Renderer {
        source,
        comments,
        comment_by_end,
        next_comment: 0,
        out: String::new(),
        printed: Vec::new(),
        last_end: 0,
        at_block_start: true,
        after_item: false,
    };
    for (i, item) in items.iter().enumerate() {
        let next_start = items.get(i + 1).map_or(usize::MAX, Doc::start);
        r.node(item, 0, next_start, true);
        r.after_item = true;
    }
    r.leading(usize::MAX, 0, true);
    (r.out, r.printed)
}

/// A comment's text as printed: no line breaks, no trailing whitespace.
pub(super) fn comment_text(text: &str) -> String {
    text.replace(['\r', '\n'], " ").trim_end().to_string()
}

struct Renderer<'a> {
    source: &'a str,
    comments: &'a [Comment],
    /// Where each comment's text ends (trailing whitespace excluded) -> where it starts.
    comment_by_end: HashMap<usize, usize>,
    /// Index of the first comment not printed yet.
    next_comment: usize,
    out: String,
    printed: Vec<String>,
    /// Source offset where the last printed thing ended (for blank-line detection).
    last_end: usize,
    /// Nothing printed yet in the current block (or file).
    at_block_start: bool,
    /// The last thing printed at top level was an item.
    after_item: bool,
}

impl Renderer<'_> {
    /// Prints a node at `depth`; `next_start` is where the next sibling (or the
    /// enclosing block's `}`) starts, which bounds its trailing comment.
    fn node(&mut self, doc: &Doc, depth: usize, next_start: usize, top_level: bool) {
        match doc {
            Doc::Leaf { span, lines } => {
                let span = &(span.start..self.code_end(span));
                // Comments before the node, and those inside it, go above it.
                self.leading(span.end, depth, top_level);
                self.separator(span.start, top_level);
                for (i, line) in lines.iter().enumerate() {
                    if i > 0 {
                        self.out.push('\n');
                    }
                    self.push_indent(depth);
                    self.out.push_str(line);
                }
                self.last_end = span.end;
                self.trailing(span, next_start);
                self.out.push('\n');
            }
            Doc::Block(block) => self.block(block, depth, next_start, top_level),
        }
    }

    fn block(&mut self, block: &Block, depth: usize, next_start: usize, top_level: bool) {
        let span = &(block.span.start..self.code_end(&block.span));
        let close = self
            .find_close_brace(block.open, span.end)
            .unwrap_or(span.end);
        // Comments before the block and inside its header go above it.
        self.leading(block.open, depth, top_level);
        self.separator(span.start, top_level);
        self.push_indent(depth);
        self.out.push_str(&block.header);
        self.out.push_str(" {");
        let first_child = block.children.first().map_or(close, Doc::start);
        let open_end = block.open.saturating_add(1);
        self.last_end = open_end;
        self.trailing(&(block.open..open_end), first_child);
        self.out.push('\n');

        self.at_block_start = true;
        self.after_item = false;
        for (i, child) in block.children.iter().enumerate() {
            let next = block.children.get(i + 1).map_or(close, Doc::start);
            self.node(child, depth + 1, next, false);
        }
        self.leading(close, depth + 1, false);

        self.push_indent(depth);
        self.out.push('}');
        self.last_end = span.end;
        self.trailing(span, next_start);
        self.out.push('\n');
        self.at_block_start = false;
    }

    /// Where the code of `span` ends: parser spans may run on over whitespace and
    /// comments after the node's last token, which belong to what follows.
    fn code_end(&self, span: &Span) -> usize {
        let mut end = span.end;
        while let Some(text) = self.source.get(span.start..end) {
            end = span.start + text.trim_end().len();
            match self.comment_by_end.get(&end) {
                Some(&comment_start) if comment_start >= span.start && comment_start < end => {
                    end = comment_start
                }
                _ => break,
            }
        }
        end.max(span.start)
    }

    /// The last `}` in `source[after..end]`.
    fn find_close_brace(&self, after: usize, end: usize) -> Option<usize> {
        let text = self.source.get(after..end)?;
        text.rfind('}').map(|i| after + i)
    }

    /// Prints, each on its own line, every comment that starts before `limit`.
    fn leading(&mut self, limit: usize, depth: usize, top_level: bool) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= limit {
                break;
            }
            self.next_comment += 1;
            self.separator(comment.span.start, top_level);
            self.push_indent(depth);
            self.push_comment(&comment.text);
            self.out.push('\n');
            self.last_end = comment_end(self.source, &comment.span);
            self.after_item = false;
        }
    }

    /// Appends the next comment to the current line when it follows `span` on the
    /// same source line, with only spaces between, before `next_start`.
    fn trailing(&mut self, span: &Span, next_start: usize) {
        if span.start >= span.end {
            return;
        }
        let Some(comment) = self.comments.get(self.next_comment) else {
            return;
        };
        let start = comment.span.start;
        if start < span.end || start >= next_start {
            return;
        }
        let same_line = self
            .source
            .get(span.end..start)
            .is_some_and(|gap| gap.chars().all(|c| c == ' ' || c == '\t'));
        if !same_line {
            return;
        }
        self.next_comment += 1;
        self.out.push(' ');
        self.push_comment(&comment.text);
        self.last_end = comment_end(self.source, &comment.span);
    }

    /// Starts a new line: a blank line first when the source had one since the
    /// last printed thing, or always after a top-level item.
    fn separator(&mut self, start: usize, top_level: bool) {
        let blank = !self.at_block_start
            && ((top_level && self.after_item)
                || has_blank_line(self.source, self.last_end, start));
        if blank {
            self.out.push('\n');
        }
        self.at_block_start = false;
    }

    fn push_indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str(INDENT);
        }
    }

    fn push_comment(&mut self, text: &str) {
        let text = comment_text(text);
        self.out.push_str("//");
        self.out.push_str(&text);
        self.printed.push(text);
    }
}

/// Where a comment ends, not counting a line break its span may include.
fn comment_end(source: &str, span: &Span) -> usize {
    let mut end = span.end;
    while end > span.start && matches!(source.as_bytes().get(end - 1), Some(b'\n' | b'\r')) {
        end -= 1;
    }
    end
}

/// Whether `source[from..to]` contains an empty (whitespace-only) line.
fn has_blank_line(source: &str, from: usize, to: usize) -> bool {
    let Some(text) = source.get(from..to) else {
        return false;
    };
    let mut lines = text.split('\n');
    lines.next();
    let mut interior: Vec<&str> = lines.collect();
    interior.pop();
    interior.iter().any(|line| line.trim().is_empty())
}
