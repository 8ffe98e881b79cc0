//! Static explanation text, computed once when a policy is compiled: the
//! `file:line:col` of every span a reason can point at, the source text of every
//! compiled expression (whitespace collapsed) and the name each field or built-in
//! node is shown under in a reason's `values`. Building a reason then copies or
//! shares these instead of scanning the source and formatting.

use std::collections::HashMap;
use std::sync::Arc;

use dealflow_dsl::ir::{self, Span};
use dealflow_dsl::SourceFile;

use crate::compile::{field_name, Node, Program};

/// Precomputed explanation text of one compiled policy.
#[derive(Clone, Debug, Default)]
pub(crate) struct Texts {
    /// `file:line:col` by byte offset.
    locs: HashMap<usize, Arc<str>>,
    /// Source text per compiled node, whitespace collapsed.
    node_text: Vec<Arc<str>>,
    /// The name a field, built-in, account or flag node is shown under.
    node_name: Vec<Option<Arc<str>>>,
    /// Per stage, per `requires` item: its source text.
    req_text: Vec<Vec<Arc<str>>>,
}

/// The source text of a span, whitespace collapsed.
pub(crate) fn collapse(src: &SourceFile, span: &Span) -> String {
    let t = src.text.get(span.clone()).unwrap_or("");
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Texts {
    pub fn build(p: &ir::Policy, prog: &Program, src: &SourceFile) -> Texts {
        let mut starts: Vec<usize> = vec![0];
        starts.extend(prog.spans.iter().map(|s| s.start));
        starts.extend(p.stages.iter().map(|s| s.span.start));
        starts.extend(prog.requires.iter().flatten().map(|r| r.span.start));
        starts.extend(p.transitions.iter().map(|t| t.span.start));
        if let Some(r) = &p.registration {
            starts.push(r.span.start);
            starts.extend(r.open_from.iter().map(|(_, s)| s.start));
            starts.extend(r.eligible.iter().map(|c| c.span.start));
            starts.extend(r.duplicate.iter().map(|d| d.span.start));
            starts.extend(r.conflicts.iter().map(|c| c.span.start));
            starts.extend(r.auto_approve.iter().map(|c| c.span.start));
            starts.extend(r.review.iter().map(|c| c.span.start));
            starts.extend(r.escalations.iter().map(|c| c.span.start));
            starts.extend(r.protect.iter().map(|(_, s)| s.start));
            starts.extend(r.extend.iter().map(|c| c.span.start));
            starts.extend(r.late.iter().map(|c| c.span.start));
            starts.extend(r.discounts.iter().map(|c| c.span.start));
        }
        if let Some(c) = &p.cosell {
            starts.push(c.span.start);
            starts.extend(c.pools.iter().map(|x| x.span.start));
            starts.extend(c.assigns.iter().map(|x| x.span.start));
            starts.extend(c.nevers.iter().map(|x| x.span.start));
        }
        if let Some(c) = &p.commission {
            starts.push(c.span.start);
            starts.extend(c.attribute.iter().map(|x| x.span.start));
            if let Some(t) = &c.rate {
                starts.push(t.span.start);
                starts.extend(t.rows.iter().map(|x| x.span.start));
            }
            starts.extend(c.rebates.iter().map(|x| x.span.start));
            starts.extend(c.splits.iter().map(|x| x.span.start));
        }
        if let Some(h) = &p.hygiene {
            starts.push(h.span.start);
            starts.extend(h.flags.iter().map(|x| x.span.start));
            starts.extend(h.excludes.iter().map(|x| x.span.start));
            starts.extend(h.downweights.iter().map(|x| x.span.start));
        }
        if let Some(l) = &p.leads {
            starts.push(l.span.start);
            starts.extend(l.routes.iter().map(|x| x.span.start));
            starts.extend(l.accept.iter().map(|x| x.span.start));
            starts.extend(l.convert.iter().map(|x| x.span.start));
        }
        let locs = starts
            .into_iter()
            .map(|s| (s, Arc::from(src.location(s))))
            .collect();
        let node_text = prog
            .spans
            .iter()
            .map(|s| Arc::from(collapse(src, s)))
            .collect();
        let node_name = prog
            .nodes
            .iter()
            .map(|n| {
                let name = match n {
                    Node::Field(kind, slot) => p
                        .record(*kind)
                        .and_then(|r| r.fields.get(*slot as usize))
                        .map(|f| field_name(*kind, &f.name)),
                    Node::Builtin(b) => Some(b.name().to_string()),
                    Node::AccountKey => Some("account".to_string()),
                    Node::Flag(f) => p
                        .hygiene
                        .as_ref()
                        .and_then(|h| h.flags.get(*f as usize))
                        .map(|f| f.name.clone()),
                    _ => None,
                };
                name.map(Arc::from)
            })
            .collect();
        let req_text = prog
            .requires
            .iter()
            .map(|items| {
                items
                    .iter()
                    .map(|r| Arc::from(collapse(src, &r.span)))
                    .collect()
            })
            .collect();
        Texts {
            locs,
            node_text,
            node_name,
            req_text,
        }
    }

    /// `file:line:col` of an offset (computed when not precomputed).
    pub fn loc(&self, src: &SourceFile, offset: usize) -> Arc<str> {
        match self.locs.get(&offset) {
            Some(l) => l.clone(),
            None => Arc::from(src.location(offset)),
        }
    }

    /// The collapsed source text of a compiled node.
    pub fn node_text(&self, id: u32) -> Option<&str> {
        self.node_text.get(id as usize).map(|t| &**t)
    }

    /// The name a node's value is shown under in `values`.
    pub fn node_name(&self, id: u32) -> Option<&Arc<str>> {
        self.node_name.get(id as usize).and_then(Option::as_ref)
    }
}

impl Texts {
    /// The source text of `requires` item `k` of stage `stage`.
    pub fn req_text(&self, stage: usize, k: usize) -> Option<&str> {
        self.req_text
            .get(stage)
            .and_then(|v| v.get(k))
            .map(|t| &**t)
    }
}
