//! The document outline: header, records with their fields, stages, flow and the
//! rule sections (with their pools, flags and rebates).

use crate::ast::{self, Span};

/// What an outline entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutlineKind {
    Header,
    Calendar,
    Record,
    Field,
    Stage,
    Flow,
    Section,
    Pool,
    Flag,
    Rebate,
    RateTable,
}

/// One outline entry: `span` is the whole declaration, `name_span` its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutlineItem {
    pub name: String,
    pub detail: Option<String>,
    pub kind: OutlineKind,
    pub span: Span,
    pub name_span: Span,
    pub children: Vec<OutlineItem>,
}

fn leaf(
    name: &str,
    detail: Option<String>,
    kind: OutlineKind,
    span: &Span,
    name_span: &Span,
) -> OutlineItem {
    OutlineItem {
        name: name.to_string(),
        detail,
        kind,
        span: span.clone(),
        name_span: name_span.clone(),
        children: Vec::new(),
    }
}

/// The outline of a parsed policy.
pub fn outline(policy: &ast::Policy) -> Vec<OutlineItem> {
    let mut out = Vec::new();
    for item in &policy.items {
        let span = item.span();
        let keyword = span.start..span.start;
        match item {
            ast::Item::Header(h) => {
                let mut it = leaf(
                    &h.name.node,
                    Some(format!("version {}", h.version.node)),
                    OutlineKind::Header,
                    &span,
                    &h.name.span,
                );
                for s in &h.settings {
                    if let ast::HeaderSetting::Calendar(c) = s {
                        it.children.push(leaf(
                            &c.name.name,
                            Some("calendar".into()),
                            OutlineKind::Calendar,
                            &c.span,
                            &c.name.span,
                        ));
                    }
                }
                out.push(it);
            }
            ast::Item::Record(r) => {
                let mut it = leaf(
                    &r.name.name,
                    Some("record".into()),
                    OutlineKind::Record,
                    &span,
                    &r.name.span,
                );
                for m in &r.members {
                    let (fields, evidence) = match m {
                        ast::RecordMember::Field(f) => (std::slice::from_ref(f), false),
                        ast::RecordMember::Evidence { fields, .. } => (fields.as_slice(), true),
                    };
                    for f in fields {
                        let mut ty = super::index::type_text(&f.ty);
                        if evidence {
                            ty.push_str(" (evidence)");
                        }
                        it.children.push(leaf(
                            &f.name.name,
                            Some(ty),
                            OutlineKind::Field,
                            &f.span,
                            &f.name.span,
                        ));
                    }
                }
                out.push(it);
            }
            ast::Item::Stage(s) => {
                out.push(leaf(
                    &s.name.name,
                    s.label.as_ref().map(|l| l.node.clone()),
                    OutlineKind::Stage,
                    &span,
                    &s.name.span,
                ));
            }
            ast::Item::Flow(_) => out.push(leaf("flow", None, OutlineKind::Flow, &span, &keyword)),
            ast::Item::Registration(_) => out.push(leaf(
                "registration",
                None,
                OutlineKind::Section,
                &span,
                &keyword,
            )),
            ast::Item::Leads(_) => {
                out.push(leaf("leads", None, OutlineKind::Section, &span, &keyword))
            }
            ast::Item::Cosell(sec) => {
                let mut it = leaf("cosell", None, OutlineKind::Section, &span, &keyword);
                for r in &sec.rules {
                    if let ast::CosellRule::Pool {
                        name, label, span, ..
                    } = r
                    {
                        it.children.push(leaf(
                            &name.name,
                            label.as_ref().map(|l| l.node.clone()),
                            OutlineKind::Pool,
                            span,
                            &name.span,
                        ));
                    }
                }
                out.push(it);
            }
            ast::Item::Commission(sec) => {
                let mut it = leaf("commission", None, OutlineKind::Section, &span, &keyword);
                for r in &sec.rules {
                    match r {
                        ast::CommissionRule::Rate(t) => {
                            it.children.push(leaf(
                                "rate",
                                Some("rate table".into()),
                                OutlineKind::RateTable,
                                &t.span,
                                &(t.span.start..t.span.start),
                            ));
                        }
                        ast::CommissionRule::Rebate { name, span, .. } => {
                            it.children.push(leaf(
                                &name.name,
                                Some("rebate".into()),
                                OutlineKind::Rebate,
                                span,
                                &name.span,
                            ));
                        }
                        _ => {}
                    }
                }
                out.push(it);
            }
            ast::Item::Hygiene(sec) => {
                let mut it = leaf("hygiene", None, OutlineKind::Section, &span, &keyword);
                for r in &sec.rules {
                    if let ast::HygieneRule::Flag { name, span, .. } = r {
                        it.children.push(leaf(
                            &name.name,
                            Some("flag".into()),
                            OutlineKind::Flag,
                            span,
                            &name.span,
                        ));
                    }
                }
                out.push(it);
            }
        }
    }
    out
}
