//! The dealflow policy language: parse, check, lint and format `.policy` files.
//!
//! Pipeline: source text -> pest pairs (private to [`parser`]) -> [`ast::Policy`]
//! (spans on every node) -> [`ir::Policy`] (names resolved, types known) plus
//! [`Diagnostic`]s. Errors are collected, never first-only, and no input panics.
//!
//! ```
//! use dealflow_dsl::{analyze, SourceFile};
//! let src = SourceFile::new("p.policy", "policy \"P\" version \"1\" { currency USD }");
//! let analysis = analyze(&src);
//! assert!(analysis.ast.is_some());
//! ```

// pest_derive without its `std` feature refers to `alloc::` paths.
extern crate alloc;

pub mod ast;
pub mod check;
pub mod diagnostics;
pub mod fmt;
pub mod ide;
pub mod ir;
pub mod lints;
pub mod parser;
pub mod source;

pub use diagnostics::{Code, Diagnostic, LocatedDiagnostic, Severity, SourceDiagnostic};
pub use source::{LineCol, SourceFile};

/// Everything known about one policy source.
#[derive(Debug)]
pub struct Analysis {
    /// `None` only when the text is so broken no AST could be built.
    pub ast: Option<ast::Policy>,
    /// `Some` when there are no error-severity diagnostics.
    pub ir: Option<ir::Policy>,
    /// Syntax, check, graph and lint diagnostics, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses, checks and lints a policy source.
pub fn analyze(source: &SourceFile) -> Analysis {
    let (ast, mut diagnostics) = parser::parse(source);
    let mut ir = None;
    if let Some(ast) = &ast {
        if diagnostics.is_empty() {
            let (checked, check_diags) = check::check(ast, source);
            diagnostics.extend(check_diags);
            if let Some(checked) = &checked {
                let cx = lints::LintContext {
                    source,
                    ast,
                    ir: checked,
                };
                diagnostics.extend(lints::run(&cx));
            }
            ir = checked;
        }
    }
    diagnostics::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        ir = None;
    }
    Analysis {
        ast,
        ir,
        diagnostics,
    }
}
