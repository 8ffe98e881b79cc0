//! Parser: policy text -> [`crate::ast::Policy`] via the pest grammar in `grammar.pest`.
//! Pest pairs never leave this module.

use crate::ast;
use crate::diagnostics::Diagnostic;
use crate::source::SourceFile;

/// Parses a policy. Returns the AST (when one could be built) and syntax diagnostics.
pub fn parse(source: &SourceFile) -> (Option<ast::Policy>, Vec<Diagnostic>) {
    let _ = source;
    (None, Vec::new())
}
