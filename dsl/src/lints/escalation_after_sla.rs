//! W306 `escalation-after-sla`.
//!
//! ## What it does
//! Flags a registration `escalate ... after` step that fires at or after the review
//! SLA (`review by ... within`), and a step that fires earlier than a step declared
//! before it. Durations are compared only when both are of the same kind (business
//! time with business time, calendar time with calendar time).
//!
//! ## Why is this bad?
//! Escalation exists to get a pending deal registration decided before its review
//! deadline passes. A step at or after the SLA only escalates once the partner has
//! already waited longer than the program promised. Steps out of order usually mean a
//! typo: the second-level escalation fires before the first.
//!
//! ## Example
//! ```text
//! review by channel_ops within 24 business hours
//! escalate to channel_director after 32 business hours
//! ```
//! Use instead: `escalate to channel_director after 16 business hours`.

use crate::ast::{self, Span};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::Dur;
use crate::lints::{find_nesting, fmt_dur, spans_nest, LintContext, LintRule};

/// W306: an escalation step that fires at or after the review SLA, or before an
/// earlier step.
pub struct EscalationAfterSla;

impl LintRule for EscalationAfterSla {
    fn code(&self) -> Code {
        Code::EscalationAfterSla
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Diagnostic>) {
        let Some(reg) = &cx.ir.registration else {
            return;
        };
        let review = reg.review.as_ref().map(|r| {
            let ast = cx.reg_rules().find_map(|a| match a {
                ast::RegRule::Review { within, span, .. } if spans_nest(span, &r.span) => {
                    Some(within.span.clone())
                }
                _ => None,
            });
            (r.within, located(cx, &r.span, r.within, ast))
        });
        // The latest step so far, per kind of time: (after, where it is written, to).
        let mut latest: [Option<(Dur, Located, &str)>; 2] = [None, None];
        let steps = cx.reg_rules_by_span(|a| match a {
            ast::RegRule::Escalate { after, span, .. } => Some((span, &after.span)),
            _ => None,
        });
        for esc in &reg.escalations {
            let ast = find_nesting(&steps, &esc.span).map(|s| (*s).clone());
            let at = located(cx, &esc.span, esc.after, ast);
            if let Some((within, within_at)) = &review {
                if within.business == esc.after.business && esc.after.seconds >= within.seconds {
                    out.push(
                        Diagnostic::new(
                            self.code(),
                            at.span.clone(),
                            format!(
                                "escalation to `{}` after {} fires at or after the review SLA of {}",
                                esc.to, at.text, within_at.text
                            ),
                        )
                        .label("too late to help")
                        .related(within_at.span.clone(), "review is due here")
                        .help(format!(
                            "escalate before the review is due, in less than {}",
                            within_at.text
                        )),
                    );
                }
            }
            let Some(slot) = latest.get_mut(usize::from(esc.after.business)) else {
                continue;
            };
            match slot {
                Some((prev, prev_at, prev_to)) if esc.after.seconds < prev.seconds => {
                    out.push(
                        Diagnostic::new(
                            self.code(),
                            at.span.clone(),
                            format!(
                                "escalation to `{}` after {} fires before the earlier step to `{}` after {}",
                                esc.to, at.text, prev_to, prev_at.text
                            ),
                        )
                        .label("out of order")
                        .related(prev_at.span.clone(), "earlier step")
                        .help("list escalation steps in the order they fire"),
                    );
                }
                _ => *slot = Some((esc.after, at, esc.to.as_str())),
            }
        }
    }
}

/// A duration and where it is written.
struct Located {
    span: Span,
    /// As written (`2 business days`), or as [`fmt_dur`] shows it when the AST node
    /// was not found.
    text: String,
}

/// The duration's own span and text when the AST node was found (`ast`), else the
/// rule's span and the formatted value.
fn located(cx: &LintContext<'_>, rule: &Span, dur: Dur, ast: Option<Span>) -> Located {
    match ast {
        Some(span) => {
            let text = cx.snippet(&span);
            Located { span, text }
        }
        None => Located {
            span: rule.clone(),
            text: fmt_dur(dur),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnostics::Code;
    use crate::ir::*;
    use crate::lints::testing::*;

    const H: i64 = 3600;

    fn policy_with(within: Dur, steps: &[(&str, Dur)]) -> Policy {
        let mut p = policy();
        let mut r = registration();
        r.review = Some(Review {
            queue: "channel_ops".into(),
            within,
            span: 0..10,
        });
        r.escalations = steps
            .iter()
            .enumerate()
            .map(|(i, (to, after))| Escalation {
                to: to.to_string(),
                after: *after,
                span: 20 + i * 10..25 + i * 10,
            })
            .collect();
        p.registration = Some(r);
        p
    }

    fn bh(h: i64) -> Dur {
        Dur {
            seconds: h * H,
            business: true,
        }
    }

    #[test]
    fn flags_steps_at_or_after_the_sla() {
        let p = policy_with(bh(24), &[("director", bh(16)), ("vp", bh(24))]);
        let d = lint_code(&p, Code::EscalationAfterSla);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].message,
            "escalation to `vp` after 24 business hours fires at or after the review SLA of 24 business hours"
        );
        assert_eq!(d[0].span, 30..35);
        assert_eq!(d[0].related[0].span, 0..10);
    }

    #[test]
    fn compares_only_the_same_kind_of_time() {
        let p = policy_with(
            bh(24),
            &[(
                "director",
                Dur {
                    seconds: 48 * H,
                    business: false,
                },
            )],
        );
        assert!(lint_code(&p, Code::EscalationAfterSla).is_empty());
    }

    #[test]
    fn flags_steps_out_of_order() {
        let p = policy_with(
            bh(40),
            &[("director", bh(16)), ("vp", bh(8)), ("ceo", bh(20))],
        );
        let d = lint_code(&p, Code::EscalationAfterSla);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].message,
            "escalation to `vp` after 8 business hours fires before the earlier step to `director` after 16 business hours"
        );
    }
}
