//! Formatter: prints an AST (and the file's comments) in the one canonical layout.
//!
//! Formatting is two steps. `build` turns the AST into a small layout tree of
//! blocks (`header {` ... `}`) and leaves (one logical line, sometimes wrapped);
//! `render` prints that tree with 2-space indentation and weaves the comments
//! back in, using the node spans and the source text to decide where each comment
//! belongs:
//!
//! - a comment on its own line goes on its own line before the next node, at that
//!   node's indentation (or before the closing `}` when nothing follows it);
//! - a comment after code on the same line stays at the end of that output line;
//! - a comment inside a one-line node (say between two `requires` items) moves to
//!   its own line before that node.
//!
//! Every comment is printed exactly once. Runs of blank lines collapse to one; a
//! blank line between two members of a block is kept, and top-level items are
//! always separated by exactly one blank line.
//!
//! Lines wider than [`MAX_WIDTH`] wrap in three places only, with continuation
//! lines indented 4 more spaces: `requires` and `holidays` lists break after
//! commas, and a rule's final `because "..."`, `reject "..."` or `priority ...`
//! clause moves to its own line. Expressions and flow chains never break.

mod build;
mod expr;
mod render;

use crate::ast;
use crate::diagnostics::Diagnostic;
use crate::parser;
use crate::source::SourceFile;

/// The maximum line width the formatter aims for (used to wrap `requires` clauses).
pub const MAX_WIDTH: usize = 100;

/// Formats a parsed policy. `source` is the text it was parsed from (for comments).
pub fn format(policy: &ast::Policy, source: &str) -> String {
    let items: Vec<build::Doc> = policy
        .items
        .iter()
        .map(|item| build::item(item, source))
        .collect();
    let (out, printed) = render::render(&items, &policy.comments, source);
    debug_assert_eq!(
        sorted(printed),
        sorted_comment_texts(&policy.comments),
        "the formatter must print every comment exactly once"
    );
    out
}

fn sorted(mut texts: Vec<String>) -> Vec<String> {
    texts.sort();
    texts
}

/// Parses `source` and formats it. Text with syntax errors is never formatted: the
/// Prints one expression in canonical policy syntax (`amount < 10_000 USD`), as the
/// formatter would; used to show guards and conditions back to the author.
pub fn format_expr(e: &ast::Expr) -> String {
    expr::expr(e)
}

/// syntax diagnostics are returned instead.
pub fn format_source(source: &SourceFile) -> Result<String, Vec<Diagnostic>> {
    let (policy, diagnostics) = parser::parse(source);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    match policy {
        Some(policy) => Ok(format(&policy, &source.text)),
        None => Err(diagnostics),
    }
}

/// The comment texts (trailing whitespace trimmed), sorted: the multiset the
/// formatter must preserve.
pub fn sorted_comment_texts(comments: &[ast::Comment]) -> Vec<String> {
    let mut texts: Vec<String> = comments
        .iter()
        .map(|c| render::comment_text(&c.text))
        .collect();
    texts.sort();
    texts
}

#[cfg(test)]
mod tests;
