//! Hover text (Markdown) for the name or lint code under the cursor.

use crate::ast::{self, Span};
use crate::diagnostics::Code;
use crate::ir::{Builtin, EnumId, RecordKind, Type};

use super::index::{Index, Symbol};

/// The hover for one position: the span it is about and its Markdown text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoverText {
    pub span: Span,
    pub markdown: String,
}

/// The hover at `offset`: a symbol's declaration and meaning, or a lint code's
/// summary (for a code such as `W307` written anywhere, comments included).
/// `lint_docs` maps a code to the address of its documentation.
pub fn hover(
    text: &str,
    policy: Option<&ast::Policy>,
    index: Option<&Index>,
    offset: usize,
    lint_docs: &dyn Fn(Code) -> String,
) -> Option<HoverText> {
    if let Some(h) = code_hover(text, offset, lint_docs) {
        return Some(h);
    }
    let index = index?;
    let occ = index.at(offset)?;
    let markdown = describe(text, policy, index, occ.symbol)?;
    Some(HoverText {
        span: occ.span.clone(),
        markdown,
    })
}

fn code_hover(text: &str, offset: usize, lint_docs: &dyn Fn(Code) -> String) -> Option<HoverText> {
    let span = super::word_at(text, offset)?;
    let word = text.get(span.clone())?;
    let code = Code::ALL.iter().copied().find(|c| c.as_str() == word)?;
    let severity = match code.severity() {
        crate::Severity::Error => "error",
        crate::Severity::Warning => "warning",
    };
    let markdown = format!(
        "**{} {}** ({severity})\n\n{}\n\n[Documentation]({})",
        code.as_str(),
        code.name(),
        code.summary(),
        lint_docs(code)
    );
    Some(HoverText { span, markdown })
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |s| s.bytes().filter(|b| *b == b'\n').count())
        + 1
}

fn stage_ast<'p>(policy: Option<&'p ast::Policy>, name: &str) -> Option<&'p ast::Stage> {
    policy?.items.iter().find_map(|i| match i {
        ast::Item::Stage(s) if s.name.name == name => Some(s),
        _ => None,
    })
}

fn describe(
    text: &str,
    policy: Option<&ast::Policy>,
    index: &Index,
    sym: Symbol,
) -> Option<String> {
    Some(match sym {
        Symbol::Field(i) => {
            let f = index.fields.get(i as usize)?;
            let mut s = format!(
                "```dealflow\n{}: {}{}\n```\nfield of `record {}`",
                f.name,
                f.ty,
                f.default
                    .as_ref()
                    .map(|d| format!(" = {d}"))
                    .unwrap_or_default(),
                f.record.name()
            );
            if f.evidence {
                s.push_str(" (evidence)");
            }
            if f.record == RecordKind::Opportunity {
                s.push_str(", in scope unqualified");
            }
            s.push_str(&format!(
                ", declared on line {}",
                line_of(text, f.name_span.start)
            ));
            s
        }
        Symbol::Stage(i) => {
            let st = index.stages.get(i as usize)?;
            let kind = match st.kind {
                ast::StageKind::Open => "stage",
                ast::StageKind::Won => "won stage",
                ast::StageKind::Lost => "lost stage",
            };
            let mut s = format!("**{kind} `{}`**", st.name);
            if let Some(l) = &st.label {
                s.push_str(&format!(" \"{l}\""));
            }
            s.push_str(&format!(" (line {})\n", line_of(text, st.name_span.start)));
            if let Some(stage) = stage_ast(policy, &st.name) {
                let mut forecast = None;
                for prop in &stage.props {
                    match prop {
                        ast::StageProp::Probability(e) => {
                            s.push_str(&format!("\n- probability: {}", crate::fmt::format_expr(e)))
                        }
                        ast::StageProp::Forecast(f) => forecast = Some(f.name.clone()),
                        ast::StageProp::Expected(e) => s.push_str(&format!(
                            "\n- expected duration: {}",
                            crate::fmt::format_expr(e)
                        )),
                        ast::StageProp::Requires(_) => {}
                    }
                }
                let forecast = forecast.unwrap_or_else(|| {
                    match st.kind {
                        ast::StageKind::Open => "pipeline (default)",
                        ast::StageKind::Won => "closed (default)",
                        ast::StageKind::Lost => "omitted (default)",
                    }
                    .to_string()
                });
                s.push_str(&format!("\n- forecast category: {forecast}"));
                if !stage
                    .props
                    .iter()
                    .any(|p| matches!(p, ast::StageProp::Expected(_)))
                {
                    s.push_str("\n- expected duration: none");
                }
                for prop in &stage.props {
                    if let ast::StageProp::Requires(r) = prop {
                        let items: Vec<String> =
                            r.items.iter().map(crate::fmt::format_expr).collect();
                        s.push_str(&format!("\n- requires `{}`", items.join(", ")));
                        if let Some(b) = &r.because {
                            s.push_str(&format!(" because \"{}\"", b.node));
                        }
                    }
                }
            }
            s
        }
        Symbol::Pool(i) => {
            let p = index.pools.get(i as usize)?;
            let mut s = format!("**pool `{}`**", p.name);
            if let Some(l) = &p.label {
                s.push_str(&format!(" \"{l}\""));
            }
            let decl = policy.and_then(|pol| {
                pol.items.iter().find_map(|it| match it {
                    ast::Item::Cosell(sec) => sec.rules.iter().find_map(|r| match r {
                        ast::CosellRule::Pool {
                            name,
                            capacity,
                            per,
                            ..
                        } if name.name == p.name => {
                            Some((crate::fmt::format_expr(capacity), per.name.clone()))
                        }
                        _ => None,
                    }),
                    _ => None,
                })
            });
            if let Some((cap, per)) = decl {
                s.push_str(&format!("\n\ncapacity {cap} per {per}"));
            }
            s.push_str(&format!(" (line {})", line_of(text, p.name_span.start)));
            s
        }
        Symbol::Flag(i) => {
            let f = index.flags.get(i as usize)?;
            let mut s = format!(
                "**flag `{}`** (line {})",
                f.name,
                line_of(text, f.name_span.start)
            );
            let decl = policy.and_then(|pol| {
                pol.items.iter().find_map(|it| match it {
                    ast::Item::Hygiene(sec) => sec.rules.iter().find_map(|r| match r {
                        ast::HygieneRule::Flag {
                            name,
                            when,
                            because,
                            ..
                        } if name.name == f.name => Some((
                            crate::fmt::format_expr(when),
                            because.as_ref().map(|b| b.node.clone()),
                        )),
                        _ => None,
                    }),
                    _ => None,
                })
            });
            if let Some((when, because)) = decl {
                s.push_str(&format!("\n\nset when `{when}`"));
                if let Some(b) = because {
                    s.push_str(&format!(" because \"{b}\""));
                }
            }
            s.push_str("\n\nA bool value inside `hygiene` rules.");
            s
        }
        Symbol::Variant { enum_id, index: vi } => {
            let e = index.enums.get(enum_id as usize)?;
            let name = e.variants.get(vi as usize)?;
            let users: Vec<String> = index
                .fields
                .iter()
                .filter(|f| f.enum_id == Some(enum_id))
                .map(|f| match f.record {
                    RecordKind::Opportunity => format!("`{}`", f.name),
                    k => format!("`{}.{}`", record_prefix(k), f.name),
                })
                .collect();
            format!(
                "**variant `{name}`** of `enum {{ {} }}` ({} of {}; variants order as declared)\n\nused by {}",
                e.variants.join(", "),
                vi + 1,
                e.variants.len(),
                users.join(", ")
            )
        }
        Symbol::Builtin(b) => format!(
            "```dealflow\n{}: {}\n```\nbuilt-in fact: {}",
            b.name(),
            type_name(&crate::check::builtin_type(b)),
            builtin_meaning(b)
        ),
    })
}

fn record_prefix(k: RecordKind) -> &'static str {
    match k {
        RecordKind::LineItem => "item",
        k => k.name(),
    }
}

/// A type as written in a policy.
pub fn type_name(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::Integer => "integer".into(),
        Type::Decimal => "decimal".into(),
        Type::Money => "money".into(),
        Type::Percent => "percent".into(),
        Type::Date => "date".into(),
        Type::DateTime => "datetime".into(),
        Type::Duration => "duration".into(),
        Type::BusinessDuration => "business_duration".into(),
        Type::Text => "text".into(),
        Type::Enum(id) if *id == EnumId::REGISTRATION_STATUS => {
            "enum { none, pending, approved, rejected, expired }".into()
        }
        Type::Enum(id) if *id == EnumId::FORECAST => {
            "enum { omitted, pipeline, best_case, commit, closed }".into()
        }
        Type::Enum(_) => "enum".into(),
        Type::Stage => "stage".into(),
        Type::Record(k) => k.name().into(),
        Type::List(t) => format!("list<{}>", type_name(t)),
        Type::Optional(t) => format!("{}?", type_name(t)),
    }
}

/// What a built-in fact means.
pub fn builtin_meaning(b: Builtin) -> &'static str {
    match b {
        Builtin::Stage => "the opportunity's current stage; compares in declaration order",
        Builtin::Probability => "the current stage's win probability",
        Builtin::StageExpected => {
            "the current stage's expected duration (zero when it declares none)"
        }
        Builtin::StageEnteredAt => "when the opportunity entered its current stage",
        Builtin::DaysInStage => "time spent in the current stage",
        Builtin::CloseDateChanges => "how many times the close date was changed",
        Builtin::DaysSinceLastActivity => {
            "time since the last logged activity (absent when none was logged)"
        }
        Builtin::Now => "the evaluation time",
        Builtin::Today => "the evaluation date in the policy's time zone",
        Builtin::LineItems => "the opportunity's line items",
        Builtin::RegistrationStatus => "the partner registration's status",
        Builtin::RegistrationApproved => "the registration is approved",
        Builtin::RegistrationSubmittedAt => "when the registration was submitted",
        Builtin::RegistrationApprovedAt => "when the registration was approved",
        Builtin::RegistrationAge => "time since the registration was submitted",
        Builtin::RegistrationAgeAtClose => "time from the registration's submission to the close",
        Builtin::RegistrationApprovedBeforeClose => {
            "the registration was approved before the deal closed"
        }
        Builtin::RegistrationPartner => "the registering partner's id",
        Builtin::RegistrationProtectedUntil => "the end of the registration's protection window",
        Builtin::CosellSupported => "any co-sell activity was logged",
        Builtin::CosellFirstContactAt => "the first co-sell contact",
        Builtin::Approved => "inside `discount ... when`: the registration is approved",
        Builtin::AccountDirectOwned => "the context lists the account as owned by direct sales",
    }
}
