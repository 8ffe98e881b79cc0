//! Domain lints: one module per rule, each with a stable [`crate::Code`].

use crate::ast;
use crate::diagnostics::Diagnostic;
use crate::ir;
use crate::source::SourceFile;

/// What a lint rule sees: the source, its AST and its checked IR.
pub struct LintContext<'a> {
    pub source: &'a SourceFile,
    pub ast: &'a ast::Policy,
    pub ir: &'a ir::Policy,
}

/// Runs every lint rule.
pub fn run(cx: &LintContext<'_>) -> Vec<Diagnostic> {
    let _ = cx;
    Vec::new()
}
