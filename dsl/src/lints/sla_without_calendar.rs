//! E310 `sla-without-calendar`.
//!
//! ## What it does
//! Flags every business-time duration (`24 business hours`, `2 business days`) in a
//! policy whose header declares no `calendar`: the `within` of `duplicate`, `review`
//! and lead `accept` rules, `escalate ... after`, `protect`, `extend`, and any
//! expression of type `business_duration` (a literal, or a field of that type).
//!
//! ## Why is this bad?
//! Business time only means something against working hours, days and holidays. With
//! no calendar the engine cannot tell when a review SLA or a lead-acceptance deadline
//! expires, so the policy cannot be run; this rule is an error.
//!
//! ## Example
//! ```text
//! policy "P" version "1" { currency USD }
//! registration { review by channel_ops within 24 business hours }
//! ```
//! Use instead: add `calendar business { timezone "America/New_York" hours mon-fri 09:00-17:00 }`
//! to the policy header.

use crate::ast::{self, Span};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Const, Dur, ExprKind, Type};
use crate::lints::{find_nesting, spans_nest, walk, LintContext, LintRule};

/// E310: a business-time duration in a policy with no business calendar.
pub struct SlaWithoutCalendar;

impl LintRule for SlaWithoutCalendar {
    fn code(&self) -> Code {
        Code::SlaWithoutCalendar
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Diagnostic>) {
        if cx.ir.calendar.is_some() {
            return;
        }
        let mut spans: Vec<Span> = Vec::new();
        let mut add = |dur: &Dur, span: Span| {
            if dur.business {
                spans.push(span);
            }
        };
        if let Some(reg) = &cx.ir.registration {
            if let Some(d) = &reg.duplicate {
                add(
                    &d.within,
                    reg_duration(cx, &d.span, |r| match r {
                        ast::RegRule::Duplicate { within, span, .. } => Some((within, span)),
                        _ => None,
                    }),
                );
            }
            if let Some(r) = &reg.review {
                add(
                    &r.within,
                    reg_duration(cx, &r.span, |r| match r {
                        ast::RegRule::Review { within, span, .. } => Some((within, span)),
                        _ => None,
                    }),
                );
            }
            let steps = cx.reg_rules_by_span(|r| match r {
                ast::RegRule::Escalate { after, span, .. } => Some((span, &after.span)),
                _ => None,
            });
            for e in &reg.escalations {
                let span =
                    find_nesting(&steps, &e.span).map_or_else(|| e.span.clone(), |s| (*s).clone());
                add(&e.after, span);
            }
            if let Some((d, span)) = &reg.protect {
                add(
                    d,
                    reg_duration(cx, span, |r| match r {
                        ast::RegRule::Protect { duration, span } => Some((duration, span)),
                        _ => None,
                    }),
                );
            }
            if let Some(x) = &reg.extend {
                add(
                    &x.by,
                    reg_duration(cx, &x.span, |r| match r {
                        ast::RegRule::Extend { by, span, .. } => Some((by, span)),
                        _ => None,
                    }),
                );
            }
        }
        if let Some(accept) = cx.ir.leads.as_ref().and_then(|l| l.accept.as_ref()) {
            let span = cx
                .lead_rules()
                .find_map(|r| match r {
                    ast::LeadRule::Accept { within, span, .. }
                        if spans_nest(span, &accept.span) =>
                    {
                        Some(within.span.clone())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| accept.span.clone());
            add(&accept.within, span);
        }
        // Expressions: report the outermost business-time node, not its parts.
        for root in walk::roots(cx.ir) {
            walk::visit(root, &mut |e| {
                let business = is_business(&e.ty)
                    || matches!(e.kind, ExprKind::Const(Const::BusinessDuration(_)));
                if business {
                    spans.push(e.span.clone());
                }
                !business
            });
        }
        spans.sort_by_key(|s| (s.start, s.end));
        spans.dedup();
        for span in spans {
            let text = cx.snippet(&span);
            let message = if text.is_empty() {
                "business-time duration used in a policy with no business calendar".to_string()
            } else {
                format!(
                    "business-time duration `{text}` used in a policy with no business calendar"
                )
            };
            out.push(
                Diagnostic::new(self.code(), span, message)
                    .label("counted in business hours")
                    .help("add a `calendar business { ... }` block to the policy header"),
            );
        }
    }
}

/// `business_duration` or an optional of it.
fn is_business(ty: &Type) -> bool {
    match ty {
        Type::BusinessDuration => true,
        Type::Optional(inner) => is_business(inner),
        _ => false,
    }
}

/// The span of a registration rule's duration: the AST rule picked by `pick` whose
/// span nests with the IR span `rule` (the IR span itself when none does).
fn reg_duration<'a>(
    cx: &LintContext<'a>,
    rule: &Span,
    pick: impl Fn(&'a ast::RegRule) -> Option<(&'a ast::Expr, &'a Span)>,
) -> Span {
    cx.reg_rules()
        .filter_map(pick)
        .find(|(_, span)| spans_nest(span, rule))
        .map(|(e, _)| e.span.clone())
        .unwrap_or_else(|| rule.clone())
}

#[cfg(test)]
mod tests {
    use crate::diagnostics::{Code, Severity};
    use crate::ir::*;
    use crate::lints::testing::*;

    fn policy_with(calendar: bool) -> Policy {
        let mut p = policy();
        if calendar {
            p.calendar = Some(Calendar {
                name: "business".into(),
                timezone: "UTC".into(),
                working_days: [true, true, true, true, true, false, false],
                start: chrono::NaiveTime::MIN,
                end: chrono::NaiveTime::MIN,
                holidays: vec![],
                span: 0..0,
            });
        }
        let mut r = registration();
        r.review = Some(Review {
            queue: "ops".into(),
            within: Dur {
                seconds: 86_400,
                business: true,
            },
            span: 1..4,
        });
        r.protect = Some((
            Dur {
                seconds: 86_400,
                business: false,
            },
            5..6,
        ));
        let bd = expr_at(
            ExprKind::Const(Const::BusinessDuration(3600)),
            Type::BusinessDuration,
            12..14,
        );
        let sum = expr_at(
            ExprKind::Binary(BinOp::Add, Box::new(bd.clone()), Box::new(bd)),
            Type::BusinessDuration,
            10..20,
        );
        let cmp = expr(
            ExprKind::Binary(
                BinOp::Gt,
                Box::new(expr(
                    ExprKind::Builtin(Builtin::DaysInStage),
                    Type::Duration,
                )),
                Box::new(sum),
            ),
            Type::Bool,
        );
        r.late.push(cond(cmp));
        p.registration = Some(r);
        p
    }

    #[test]
    fn flags_business_durations_without_a_calendar() {
        let d = lint_code(&policy_with(false), Code::SlaWithoutCalendar);
        let spans: Vec<_> = d.iter().map(|d| d.span.clone()).collect();
        assert_eq!(
            spans,
            vec![1..4, 10..20],
            "the review SLA and the outermost expression"
        );
        assert!(d.iter().all(|d| d.severity == Severity::Error));
    }

    #[test]
    fn a_calendar_silences() {
        assert!(lint_code(&policy_with(true), Code::SlaWithoutCalendar).is_empty());
    }
}
