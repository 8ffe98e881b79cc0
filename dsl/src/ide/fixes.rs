//! Quick fixes for diagnostics with one obvious repair: a "did you mean" name, a
//! missing all-wildcard rate-table row (W304), a block that is never closed (E001).

use crate::ast;
use crate::diagnostics::{Code, Diagnostic};

use super::TextEdit;

/// A titled set of edits that repairs one diagnostic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<TextEdit>,
}

/// The fix for a diagnostic of `text` (parsed as `policy`, when it parses), if one
/// is obvious.
pub fn fix(text: &str, policy: Option<&ast::Policy>, diag: &Diagnostic) -> Option<Fix> {
    let help = diag.help.as_deref().unwrap_or("");
    if let Some(suggestion) = did_you_mean(help) {
        return replace_name(text, diag, suggestion);
    }
    if diag.code == Code::MissingDefaultRow {
        return default_row(text, policy?, diag);
    }
    if diag.code == Code::Syntax && help.starts_with("add a `}`") {
        return close_block(text, diag);
    }
    None
}

/// `x` from a help text of the form ``did you mean `x`?``.
fn did_you_mean(help: &str) -> Option<&str> {
    let rest = help.strip_prefix("did you mean `")?;
    let end = rest.find("`?")?;
    rest.get(..end).filter(|s| !s.is_empty())
}

fn replace_name(text: &str, diag: &Diagnostic, suggestion: &str) -> Option<Fix> {
    let old = text.get(diag.span.clone())?;
    if old.is_empty() || old.contains('\n') {
        return None;
    }
    // A dotted path flagged as a whole, with a suggestion for its last segment only.
    let span = match (old.rfind('.'), suggestion.contains('.')) {
        (Some(dot), false) => diag.span.start + dot + 1..diag.span.end,
        _ => diag.span.clone(),
    };
    Some(Fix {
        title: format!("Replace with `{suggestion}`"),
        edits: vec![TextEdit {
            span,
            new_text: suggestion.to_string(),
        }],
    })
}

fn default_row(text: &str, policy: &ast::Policy, diag: &Diagnostic) -> Option<Fix> {
    let table = policy.items.iter().find_map(|item| match item {
        ast::Item::Commission(sec) => sec.rules.iter().find_map(|r| match r {
            // In a `unique match` table an all-`_` row would overlap every other
            // row, so there is no obvious fix there.
            ast::CommissionRule::Rate(t)
                if t.mode == ast::MatchMode::First
                    && t.span.start <= diag.span.start
                    && diag.span.start <= t.span.end =>
            {
                Some(t)
            }
            _ => None,
        }),
        _ => None,
    })?;
    let body = text.get(table.span.clone())?;
    let close = table.span.start + body.rfind('}')?;
    let wildcards = vec!["_"; table.keys.len()].join(", ");
    let row = format!("({wildcards}) 0%");
    let line_start = text.get(..close)?.rfind('\n').map_or(0, |i| i + 1);
    let before_close = text.get(line_start..close)?;
    let indent_of = |offset: usize| -> String {
        let ls = text
            .get(..offset)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1);
        text.get(ls..)
            .unwrap_or("")
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect()
    };
    let edit = if before_close.trim().is_empty() {
        let indent = table
            .rows
            .last()
            .map(|r| indent_of(r.span.start))
            .unwrap_or_else(|| format!("{}  ", before_close));
        TextEdit {
            span: line_start..line_start,
            new_text: format!("{indent}{row}\n"),
        }
    } else {
        TextEdit {
            span: close..close,
            new_text: format!(" {row} "),
        }
    };
    Some(Fix {
        title: format!("Add the default row `{row}`"),
        edits: vec![edit],
    })
}

fn close_block(text: &str, diag: &Diagnostic) -> Option<Fix> {
    let pos = diag.span.start.min(text.len());
    let rest = text.get(pos..)?;
    let edit = if rest.trim().is_empty() {
        let sep = if text.ends_with('\n') { "" } else { "\n" };
        TextEdit {
            span: text.len()..text.len(),
            new_text: format!("{sep}}}\n"),
        }
    } else {
        let line_start = text.get(..pos)?.rfind('\n').map_or(0, |i| i + 1);
        TextEdit {
            span: line_start..line_start,
            new_text: "}\n\n".to_string(),
        }
    };
    Some(Fix {
        title: "Add the missing `}`".to_string(),
        edits: vec![edit],
    })
}
