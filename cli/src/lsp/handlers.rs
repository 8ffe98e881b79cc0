//! Request handlers. Each reads the session and returns a result; none changes
//! state, so the main loop may run them under `catch_unwind`.

use std::collections::HashMap;

use dealflow_dsl::ide::{self, CompletionKind, OutlineItem, OutlineKind, Symbol};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CompletionItem,
    CompletionItemKind, CompletionParams, CompletionResponse, DocumentFormattingParams,
    DocumentSymbol, DocumentSymbolParams, DocumentSymbolResponse, GotoDefinitionParams,
    GotoDefinitionResponse, Hover, HoverContents, HoverParams, Location, MarkupContent, MarkupKind,
    PrepareRenameResponse, ReferenceParams, RenameParams, SymbolKind, TextDocumentPositionParams,
    TextEdit, Url, WorkspaceEdit,
};

use super::convert;
use super::session::{Document, Session};

/// A request that failed for a reason the user should see.
pub struct Failed(pub String);

type Result<T> = std::result::Result<T, Failed>;

fn doc<'s>(s: &'s Session, uri: &Url) -> Result<&'s Document> {
    s.docs
        .get(uri)
        .ok_or_else(|| Failed(format!("`{uri}` is not open")))
}

fn offset_of(s: &Session, d: &Document, p: &TextDocumentPositionParams) -> usize {
    convert::offset(&d.lines, p.position, s.encoding)
}

fn edits(s: &Session, d: &Document, edits: &[ide::TextEdit]) -> Vec<TextEdit> {
    edits
        .iter()
        .map(|e| TextEdit {
            range: convert::range(&d.lines, &e.span, s.encoding),
            new_text: e.new_text.clone(),
        })
        .collect()
}

pub fn hover(s: &Session, p: HoverParams) -> Result<Option<Hover>> {
    let pp = &p.text_document_position_params;
    let d = doc(s, &pp.text_document.uri)?;
    let offset = offset_of(s, d, pp);
    // The index of an older text (kept for completion) would point at the wrong
    // places: hover names only on a text that parsed (lint codes always).
    let index = d.ast.as_ref().and(d.index.as_deref());
    let h = ide::hover(
        d.text(),
        d.ast.as_ref(),
        index,
        offset,
        &convert::lint_docs_url,
    );
    Ok(h.map(|h| Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: h.markdown,
        }),
        range: Some(convert::range(&d.lines, &h.span, s.encoding)),
    }))
}

/// The symbol under the cursor, only when the index belongs to the current text
/// (a stale index would point at the wrong places).
fn symbol_at(d: &Document, offset: usize) -> Option<Symbol> {
    d.ast.as_ref()?;
    d.index.as_ref()?.at(offset).map(|o| o.symbol)
}

pub fn definition(s: &Session, p: GotoDefinitionParams) -> Result<Option<GotoDefinitionResponse>> {
    let pp = &p.text_document_position_params;
    let uri = &pp.text_document.uri;
    let d = doc(s, uri)?;
    let Some(sym) = symbol_at(d, offset_of(s, d, pp)) else {
        return Ok(None);
    };
    let Some(index) = d.index.as_ref() else {
        return Ok(None);
    };
    let locations: Vec<Location> = index
        .definitions(sym)
        .iter()
        .map(|span| Location {
            uri: uri.clone(),
            range: convert::range(&d.lines, span, s.encoding),
        })
        .collect();
    Ok(match locations.len() {
        0 => None,
        1 => locations
            .into_iter()
            .next()
            .map(GotoDefinitionResponse::Scalar),
        _ => Some(GotoDefinitionResponse::Array(locations)),
    })
}

pub fn references(s: &Session, p: ReferenceParams) -> Result<Option<Vec<Location>>> {
    let pp = &p.text_document_position;
    let uri = &pp.text_document.uri;
    let d = doc(s, uri)?;
    let Some(sym) = symbol_at(d, offset_of(s, d, pp)) else {
        return Ok(None);
    };
    let Some(index) = d.index.as_ref() else {
        return Ok(None);
    };
    let with_decl = p.context.include_declaration;
    Ok(Some(
        index
            .references(sym)
            .filter(|o| with_decl || !o.is_def)
            .map(|o| Location {
                uri: uri.clone(),
                range: convert::range(&d.lines, &o.span, s.encoding),
            })
            .collect(),
    ))
}

pub fn completion(s: &Session, p: CompletionParams) -> Result<Option<CompletionResponse>> {
    let pp = &p.text_document_position;
    let d = doc(s, &pp.text_document.uri)?;
    let offset = offset_of(s, d, pp);
    let items = ide::complete(d.text(), offset, d.index.as_deref())
        .into_iter()
        .map(|c| CompletionItem {
            label: c.label,
            kind: Some(match c.kind {
                CompletionKind::Keyword => CompletionItemKind::KEYWORD,
                CompletionKind::Field => CompletionItemKind::FIELD,
                CompletionKind::Stage => CompletionItemKind::CLASS,
                CompletionKind::Pool => CompletionItemKind::STRUCT,
                CompletionKind::Variant => CompletionItemKind::ENUM_MEMBER,
                CompletionKind::Flag => CompletionItemKind::CONSTANT,
                CompletionKind::Builtin => CompletionItemKind::VARIABLE,
                CompletionKind::Function => CompletionItemKind::FUNCTION,
                CompletionKind::Namespace => CompletionItemKind::MODULE,
            }),
            detail: c.detail,
            ..CompletionItem::default()
        })
        .collect();
    Ok(Some(CompletionResponse::Array(items)))
}

#[allow(
    deprecated,
    reason = "DocumentSymbol::deprecated must be set; the field itself is deprecated"
)]
fn symbol(s: &Session, d: &Document, item: OutlineItem) -> DocumentSymbol {
    let range = convert::range(&d.lines, &item.span, s.encoding);
    let mut selection = convert::range(&d.lines, &item.name_span, s.encoding);
    if selection.start < range.start || selection.end > range.end {
        selection = range;
    }
    let children: Vec<DocumentSymbol> =
        item.children.into_iter().map(|c| symbol(s, d, c)).collect();
    DocumentSymbol {
        name: if item.name.is_empty() {
            "(unnamed)".into()
        } else {
            item.name
        },
        detail: item.detail,
        kind: match item.kind {
            OutlineKind::Header => SymbolKind::PACKAGE,
            OutlineKind::Calendar => SymbolKind::OBJECT,
            OutlineKind::Record => SymbolKind::STRUCT,
            OutlineKind::Field => SymbolKind::FIELD,
            OutlineKind::Stage => SymbolKind::CLASS,
            OutlineKind::Flow => SymbolKind::EVENT,
            OutlineKind::Section => SymbolKind::NAMESPACE,
            OutlineKind::Pool => SymbolKind::OBJECT,
            OutlineKind::Flag => SymbolKind::BOOLEAN,
            OutlineKind::Rebate => SymbolKind::PROPERTY,
            OutlineKind::RateTable => SymbolKind::ARRAY,
        },
        tags: None,
        deprecated: None,
        range,
        selection_range: selection,
        children: (!children.is_empty()).then_some(children),
    }
}

pub fn document_symbols(
    s: &Session,
    p: DocumentSymbolParams,
) -> Result<Option<DocumentSymbolResponse>> {
    let d = doc(s, &p.text_document.uri)?;
    let Some(ast) = d.ast.as_ref() else {
        return Ok(None);
    };
    let symbols = ide::outline(ast)
        .into_iter()
        .map(|i| symbol(s, d, i))
        .collect();
    Ok(Some(DocumentSymbolResponse::Nested(symbols)))
}

pub fn formatting(s: &Session, p: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
    let d = doc(s, &p.text_document.uri)?;
    // Text with syntax errors is never formatted (the diagnostics say why).
    let Ok(formatted) = dealflow_dsl::fmt::format_source(&d.source) else {
        return Ok(None);
    };
    if formatted == d.text() {
        return Ok(Some(Vec::new()));
    }
    let whole = ide::TextEdit {
        span: 0..d.text().len(),
        new_text: formatted,
    };
    Ok(Some(edits(s, d, &[whole])))
}

pub fn prepare_rename(
    s: &Session,
    p: TextDocumentPositionParams,
) -> Result<Option<PrepareRenameResponse>> {
    let d = doc(s, &p.text_document.uri)?;
    if d.ast.is_none() {
        return Err(Failed(
            "the policy has syntax errors; fix them before renaming".into(),
        ));
    }
    let Some(index) = d.index.as_ref() else {
        return Ok(None);
    };
    match ide::prepare_rename(index, offset_of(s, d, &p)) {
        Ok((_, span)) => Ok(Some(PrepareRenameResponse::Range(convert::range(
            &d.lines, &span, s.encoding,
        )))),
        Err(ide::RenameError::NothingHere) => Ok(None),
        Err(e) => Err(Failed(e.to_string())),
    }
}

pub fn rename(s: &Session, p: RenameParams) -> Result<Option<WorkspaceEdit>> {
    let pp = &p.text_document_position;
    let uri = &pp.text_document.uri;
    let d = doc(s, uri)?;
    if d.ast.is_none() {
        return Err(Failed(
            "the policy has syntax errors; fix them before renaming".into(),
        ));
    }
    let Some(index) = d.index.as_ref() else {
        return Ok(None);
    };
    let found = ide::rename(&d.source, index, offset_of(s, d, pp), &p.new_name)
        .map_err(|e| Failed(e.to_string()))?;
    let changes = HashMap::from([(uri.clone(), edits(s, d, &found))]);
    Ok(Some(WorkspaceEdit {
        changes: Some(changes),
        ..WorkspaceEdit::default()
    }))
}

pub fn code_actions(s: &Session, p: CodeActionParams) -> Result<Option<Vec<CodeActionOrCommand>>> {
    let uri = &p.text_document.uri;
    let d = doc(s, uri)?;
    let want = convert::span(&d.lines, p.range, s.encoding);
    let mut out = Vec::new();
    for diag in &d.diagnostics {
        let overlaps = diag.span.start <= want.end && want.start <= diag.span.end;
        if !overlaps {
            continue;
        }
        let Some(fix) = ide::fix(d.text(), d.ast.as_ref(), diag) else {
            continue;
        };
        let changes = HashMap::from([(uri.clone(), edits(s, d, &fix.edits))]);
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: fix.title,
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![convert::diagnostic(uri, &d.lines, diag, s.encoding)]),
            edit: Some(WorkspaceEdit {
                changes: Some(changes),
                ..WorkspaceEdit::default()
            }),
            is_preferred: Some(true),
            ..CodeAction::default()
        }));
    }
    Ok(Some(out))
}
