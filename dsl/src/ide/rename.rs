//! Rename of stages, pools, flags, fields and enum variants: every occurrence is
//! replaced, and the rename is refused when the renamed policy would have a
//! diagnostic the original does not (a clash, a keyword, a reserved name).

use crate::ast::Span;
use crate::source::SourceFile;

use super::index::{Index, Symbol};
use super::TextEdit;

/// Why a rename was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenameError {
    #[error("there is nothing to rename here")]
    NothingHere,
    #[error("built-in names cannot be renamed")]
    Builtin,
    #[error("`{0}` is not a name: use letters, digits and `_`, starting with a letter")]
    NotAName(String),
    #[error("renaming to `{name}` would break the policy: {message}")]
    WouldBreak { name: String, message: String },
}

/// The symbol and span that a rename at `offset` would change.
pub fn prepare(index: &Index, offset: usize) -> Result<(Symbol, Span), RenameError> {
    let occ = index.at(offset).ok_or(RenameError::NothingHere)?;
    if matches!(occ.symbol, Symbol::Builtin(_)) {
        return Err(RenameError::Builtin);
    }
    Ok((occ.symbol, occ.span.clone()))
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The edits that rename the symbol at `offset` to `new_name` in `source` (whose
/// index is `index`), checked by analysing the renamed text.
pub fn rename(
    source: &SourceFile,
    index: &Index,
    offset: usize,
    new_name: &str,
) -> Result<Vec<TextEdit>, RenameError> {
    let (symbol, _) = prepare(index, offset)?;
    if !is_name(new_name) {
        return Err(RenameError::NotAName(new_name.to_string()));
    }
    let edits: Vec<TextEdit> = index
        .references(symbol)
        .map(|o| TextEdit {
            span: o.span.clone(),
            new_text: new_name.to_string(),
        })
        .collect();
    let renamed = super::apply(&source.text, &edits);
    let before = crate::analyze(source);
    let after = crate::analyze(&SourceFile::new(source.name.clone(), renamed));
    let known = |d: &crate::Diagnostic| {
        before
            .diagnostics
            .iter()
            .any(|b| b.code == d.code && b.severity == d.severity)
    };
    if let Some(new) = after.diagnostics.iter().find(|d| !known(d)) {
        return Err(RenameError::WouldBreak {
            name: new_name.to_string(),
            message: new.message.clone(),
        });
    }
    if after.diagnostics.len() > before.diagnostics.len() {
        let message = after
            .diagnostics
            .last()
            .map(|d| d.message.clone())
            .unwrap_or_default();
        return Err(RenameError::WouldBreak {
            name: new_name.to_string(),
            message,
        });
    }
    Ok(edits)
}
