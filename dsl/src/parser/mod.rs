//! Parser: policy text -> [`crate::ast::Policy`] via the pest grammar in `grammar.pest`.
//! Pest pairs never leave this module.
//!
//! The pipeline is: a pre-scan that bounds bracket nesting (so neither pest nor the
//! conversion can run out of stack), the pest parse, and the conversion of pairs into
//! the owned AST (`convert`). Syntax errors become [`Diagnostic`]s in user words
//! (`errors`); pest rule names never reach the user.
//!
//! Pest stops at the first error. To report more than one error per file, the parser
//! recovers at item level: it blanks out the top-level item that failed (keeping byte
//! offsets, so spans stay valid) and parses again, up to [`MAX_SYNTAX_ERRORS`] times.
//! Items are found by a top-level keyword (`policy`, `record`, `stage`, `won`, `lost`,
//! `flow`, `registration`, `cosell`, `commission`, `hygiene`, `leads`) at the start of
//! a line.
//!
//! Literal conventions: literals keep their source text exactly as written, so
//! `10_000`, `250_000 USD` and `1_000.50` keep their underscores
//! (`Literal::Money { amount: "250_000", currency: "USD" }`); the checker strips them
//! when it converts the value. Calls and quantifiers need their `(` right after the
//! name (`len(x)`, `any(li in line_items: ...)`), and money and business durations
//! keep their parts on one line (`250_000 USD`, `16 business hours`).

mod convert;
mod errors;
mod scan;

use pest::Parser as _;
use pest_derive::Parser;

use crate::ast;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::SourceFile;

/// The pest parser generated from `grammar.pest`.
#[derive(Parser)]
#[grammar = "grammar.pest"]
struct PolicyParser;

/// At most this many syntax errors are reported per file.
pub const MAX_SYNTAX_ERRORS: usize = 10;

/// Brackets (`(`, `[`, `{`, `list<`) may nest at most this deep.
pub const MAX_NESTING: usize = 64;

/// An expression tree may be at most this deep (operators and brackets combined).
pub const MAX_EXPR_DEPTH: usize = 256;

/// Parses a policy. Returns the AST and syntax diagnostics.
///
/// The AST is `Some` exactly when there is no syntax error: a policy with a syntax
/// error yields `None` (plus every syntax error found, see the module docs), so a
/// caller can never format or evaluate half a policy by mistake. Never panics.
pub fn parse(source: &SourceFile) -> (Option<ast::Policy>, Vec<Diagnostic>) {
    let text: &str = &source.text;
    if let Some(diag) = scan::check_nesting(text, MAX_NESTING) {
        return (None, vec![diag]);
    }
    let mut diags = Vec::new();
    let mut masked: Option<String> = None;
    let mut last_error = None;
    while diags.len() < MAX_SYNTAX_ERRORS {
        let current = masked.as_deref().unwrap_or(text);
        match PolicyParser::parse(Rule::file, current) {
            Ok(pairs) => {
                if !diags.is_empty() {
                    break;
                }
                return match convert::policy(pairs, scan::comments(text)) {
                    Ok(policy) => (Some(policy), diags),
                    Err(diag) => (None, vec![diag]),
                };
            }
            Err(err) => {
                let (diag, pos) = errors::to_diagnostic(current, &err);
                diags.push(diag);
                if last_error.is_some_and(|last| pos <= last) {
                    break;
                }
                last_error = Some(pos);
                match scan::mask_failed_item(current, pos) {
                    Some(next) => masked = Some(next),
                    None => break,
                }
            }
        }
    }
    (None, diags)
}

/// A syntax diagnostic for a structure the grammar should have ruled out. Never
/// expected; it exists so the conversion can fail without panicking.
fn internal_error(span: ast::Span) -> Diagnostic {
    Diagnostic::new(
        Code::Syntax,
        span,
        "the parser could not read this part of the policy",
    )
    .label("not understood")
    .help("this is a bug in dealflow; please report it with the policy text")
}

#[cfg(test)]
mod tests;
