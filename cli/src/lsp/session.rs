//! Open documents and what is known about each: text, version, analysis, the
//! symbol index of the last text that parsed.

use std::collections::HashMap;
use std::sync::Arc;

use dealflow_dsl::ast;
use dealflow_dsl::ide::{Encoding, Index, LineIndex};
use dealflow_dsl::{analyze, Diagnostic, SourceFile};
use lsp_types::Url;

/// One open document.
pub struct Document {
    pub version: i32,
    pub source: SourceFile,
    pub lines: LineIndex,
    /// `None` when the text does not parse.
    pub ast: Option<ast::Policy>,
    /// The index of this text, or of the last version that parsed.
    pub index: Option<Arc<Index>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Document {
    /// Analyses a new text. `previous` is the index of the document's last text
    /// that parsed, kept when this one does not.
    pub fn new(uri: &Url, version: i32, text: String, previous: Option<Arc<Index>>) -> Document {
        let text: Arc<str> = text.into();
        let source = SourceFile::new(uri.as_str(), text.clone());
        let analysis = analyze(&source);
        let index = match &analysis.ast {
            Some(ast) => Some(Arc::new(Index::build(ast))),
            None => previous,
        };
        Document {
            version,
            lines: LineIndex::new(text),
            source,
            ast: analysis.ast,
            index,
            diagnostics: analysis.diagnostics,
        }
    }

    pub fn text(&self) -> &str {
        &self.source.text
    }
}

/// The server's state.
pub struct Session {
    pub encoding: Encoding,
    pub docs: HashMap<Url, Document>,
    pub shutdown_requested: bool,
}

impl Session {
    pub fn new(encoding: Encoding) -> Session {
        Session {
            encoding,
            docs: HashMap::new(),
            shutdown_requested: false,
        }
    }
}
