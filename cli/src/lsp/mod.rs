//! `dealflow lsp`: a Language Server Protocol server over stdio, on `lsp-server` and
//! `lsp-types`. This module is the only part of dealflow that knows LSP; the
//! queries themselves are plain Rust in `dealflow_dsl::ide`.
//!
//! - `convert`: byte spans <-> LSP ranges (UTF-8 or UTF-16 columns, negotiated at
//!   `initialize`), dealflow diagnostics -> LSP diagnostics;
//! - `session`: open documents, each analysed once per change;
//! - `handlers`: one function per request.
//!
//! The server is synchronous: one loop reads a message, answers it, reads the next.
//! Every query is sub-millisecond on a policy of a few hundred lines, so nothing is
//! worth a thread pool; a change that a later queued change of the same document
//! supersedes is skipped, so a fast typist never builds a backlog. Documents are synced in full; every open or change is
//! analysed at once and its diagnostics published with the document's version, and
//! closing a document clears them. Read-only requests run under `catch_unwind` and
//! answer `InternalError` should one panic; the lifecycle follows the protocol
//! (requests after `shutdown` are refused, `exit` before `shutdown` exits with 1).
//! Logs go to stderr: stdout carries the protocol.

mod convert;
mod handlers;
mod session;

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest,
    PrepareRenameRequest, References, Rename, Request as _,
};
use lsp_types::{
    CodeActionProviderCapability, CompletionOptions, InitializeParams, OneOf,
    PublishDiagnosticsParams, RenameOptions, ServerCapabilities, ServerInfo,
    TextDocumentSyncCapability, TextDocumentSyncKind, Url,
};

use crate::ExitStatus;
use session::{Document, Session};

/// Runs the server on stdin/stdout until the client says `exit`.
pub fn run() -> ExitStatus {
    let (connection, io_threads) = Connection::stdio();
    let status = match serve(&connection) {
        Ok(status) => status,
        Err(e) => {
            eprintln!("dealflow lsp: {e}");
            ExitStatus::Error
        }
    };
    drop(connection);
    if let Err(e) = io_threads.join() {
        eprintln!("dealflow lsp: {e}");
        return ExitStatus::Error;
    }
    status
}

fn capabilities(session: &Session) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(convert::encoding_kind(session.encoding)),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(lsp_types::HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), " ".into(), "[".into()]),
            ..CompletionOptions::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        ..ServerCapabilities::default()
    }
}

fn serve(connection: &Connection) -> Result<ExitStatus, String> {
    let (id, params) = connection.initialize_start().map_err(|e| e.to_string())?;
    let params: InitializeParams =
        serde_json::from_value(params).map_err(|e| format!("invalid initialize params: {e}"))?;
    let offered = params
        .capabilities
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.as_deref());
    let mut session = Session::new(convert::choose_encoding(offered));
    let result = serde_json::json!({
        "capabilities": capabilities(&session),
        "serverInfo": ServerInfo {
            name: "dealflow".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        },
    });
    connection
        .initialize_finish(id, result)
        .map_err(|e| e.to_string())?;

    // Messages already read but not yet handled: a change that a later change of the
    // same document supersedes, with no request in between, is never analysed, so a
    // client that sends changes faster than they are analysed never builds a backlog.
    let mut queue: VecDeque<Message> = VecDeque::new();
    loop {
        let msg = match queue.pop_front() {
            Some(m) => m,
            None => match connection.receiver.recv() {
                Ok(m) => m,
                Err(_) => break,
            },
        };
        while let Ok(more) = connection.receiver.try_recv() {
            queue.push_back(more);
        }
        match msg {
            Message::Notification(n) if superseded(&n, &queue) => {}
            Message::Request(req) => {
                let resp = request(&mut session, req);
                send(connection, resp.into())?;
            }
            Message::Notification(n) => {
                if n.method == lsp_types::notification::Exit::METHOD {
                    return Ok(if session.shutdown_requested {
                        ExitStatus::Success
                    } else {
                        ExitStatus::Failure
                    });
                }
                if let Some(publish) = notification(&mut session, n) {
                    send(connection, publish)?;
                }
            }
            Message::Response(_) => {}
        }
    }
    // The client hung up without `exit`.
    Ok(ExitStatus::Failure)
}

/// Whether `n` is a change of a document that a queued change replaces before any
/// request could observe it (full sync: the later change holds the whole text).
fn superseded(n: &Notification, queue: &VecDeque<Message>) -> bool {
    if n.method != DidChangeTextDocument::METHOD {
        return false;
    }
    let uri = &n.params["textDocument"]["uri"];
    for m in queue {
        match m {
            Message::Notification(later) if later.params["textDocument"]["uri"] == *uri => {
                return later.method == DidChangeTextDocument::METHOD;
            }
            Message::Notification(_) => {}
            Message::Request(_) | Message::Response(_) => return false,
        }
    }
    false
}

fn send(connection: &Connection, msg: Message) -> Result<(), String> {
    connection
        .sender
        .send(msg)
        .map_err(|_| "the client connection closed".to_string())
}

fn error(id: RequestId, code: ErrorCode, message: impl Into<String>) -> Response {
    Response::new_err(id, code as i32, message.into())
}

/// Decodes the params, runs a read-only handler under `catch_unwind`, encodes the
/// result.
fn read<P, R>(
    session: &Session,
    req: Request,
    handler: fn(&Session, P) -> Result<R, handlers::Failed>,
) -> Response
where
    P: serde::de::DeserializeOwned,
    R: serde::Serialize,
{
    let id = req.id.clone();
    let params: P = match serde_json::from_value(req.params) {
        Ok(p) => p,
        Err(e) => return error(id, ErrorCode::InvalidParams, format!("invalid params: {e}")),
    };
    match catch_unwind(AssertUnwindSafe(|| handler(session, params))) {
        Ok(Ok(result)) => Response::new_ok(id, result),
        Ok(Err(handlers::Failed(message))) => error(id, ErrorCode::RequestFailed, message),
        Err(_) => {
            eprintln!("dealflow lsp: `{}` panicked", req.method);
            error(
                id,
                ErrorCode::InternalError,
                format!("`{}` failed inside dealflow", req.method),
            )
        }
    }
}

fn request(session: &mut Session, req: Request) -> Response {
    if session.shutdown_requested {
        return error(
            req.id,
            ErrorCode::InvalidRequest,
            "the server is shutting down",
        );
    }
    match req.method.as_str() {
        lsp_types::request::Shutdown::METHOD => {
            session.shutdown_requested = true;
            Response::new_ok(req.id, ())
        }
        HoverRequest::METHOD => read(session, req, handlers::hover),
        GotoDefinition::METHOD => read(session, req, handlers::definition),
        References::METHOD => read(session, req, handlers::references),
        Completion::METHOD => read(session, req, handlers::completion),
        DocumentSymbolRequest::METHOD => read(session, req, handlers::document_symbols),
        Formatting::METHOD => read(session, req, handlers::formatting),
        PrepareRenameRequest::METHOD => read(session, req, handlers::prepare_rename),
        Rename::METHOD => read(session, req, handlers::rename),
        CodeActionRequest::METHOD => read(session, req, handlers::code_actions),
        other => error(
            req.id,
            ErrorCode::MethodNotFound,
            format!("unsupported request `{other}`"),
        ),
    }
}

/// Applies a notification; returns the diagnostics to publish, if any.
fn notification(session: &mut Session, n: Notification) -> Option<Message> {
    match n.method.as_str() {
        DidOpenTextDocument::METHOD => {
            let p: lsp_types::DidOpenTextDocumentParams = decode(n)?;
            let doc = p.text_document;
            Some(open(session, doc.uri, doc.version, doc.text))
        }
        DidChangeTextDocument::METHOD => {
            let p: lsp_types::DidChangeTextDocumentParams = decode(n)?;
            // Full sync: the last change holds the whole text.
            let text = p.content_changes.into_iter().last()?.text;
            Some(open(
                session,
                p.text_document.uri,
                p.text_document.version,
                text,
            ))
        }
        DidCloseTextDocument::METHOD => {
            let p: lsp_types::DidCloseTextDocumentParams = decode(n)?;
            session.docs.remove(&p.text_document.uri);
            Some(publish(p.text_document.uri, Vec::new(), None))
        }
        _ => None,
    }
}

fn decode<P: serde::de::DeserializeOwned>(n: Notification) -> Option<P> {
    match serde_json::from_value(n.params) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("dealflow lsp: invalid `{}` params: {e}", n.method);
            None
        }
    }
}

/// Analyses a document's new text, stores it and returns its diagnostics.
fn open(session: &mut Session, uri: Url, version: i32, text: String) -> Message {
    let previous = session.docs.remove(&uri).and_then(|d| d.index);
    let doc = match catch_unwind(AssertUnwindSafe(|| {
        Document::new(&uri, version, text.clone(), previous.clone())
    })) {
        Ok(doc) => doc,
        Err(_) => {
            // Never expected (no input makes the dsl panic); keep the text, without
            // diagnostics, so later requests still answer.
            eprintln!("dealflow lsp: analysing `{uri}` panicked");
            let mut doc = Document::new(&uri, version, String::new(), previous);
            doc.version = version;
            doc
        }
    };
    let diagnostics = doc
        .diagnostics
        .iter()
        .map(|d| convert::diagnostic(&uri, &doc.lines, d, session.encoding))
        .collect();
    session.docs.insert(uri.clone(), doc);
    publish(uri, diagnostics, Some(version))
}

fn publish(uri: Url, diagnostics: Vec<lsp_types::Diagnostic>, version: Option<i32>) -> Message {
    Message::Notification(Notification::new(
        PublishDiagnostics::METHOD.to_string(),
        PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        },
    ))
}
