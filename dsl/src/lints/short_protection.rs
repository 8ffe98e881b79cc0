//! W307 `short-protection`.
//!
//! ## What it does
//! Flags a registration `protect` window shorter than the expected sales cycle: the
//! sum of the `expected` durations of the open stages from the registration's
//! `open from` stage onward, in declaration order (all open stages when there is no
//! `open from`). Extensions are not counted: the base window alone should cover a
//! typical deal. Business-time windows are not compared.
//!
//! ## Why is this bad?
//! Protection is what a partner gets for registering a deal: nobody else can claim it
//! while the window runs. If the window ends before a typical deal closes, partners
//! routinely lose protection on deals that are still on schedule, conflicts follow and
//! partners stop registering.
//!
//! ## Example
//! ```text
//! stage Qualification { probability 15% forecast pipeline expected 30d }
//! stage Proposal { probability 60% forecast best_case expected 45d }
//! registration { open from Qualification  protect 60d }
//! ```
//! The expected cycle is 75 days. Use instead: `protect 75d` or longer.

use crate::ast::{self, Span};
use crate::diagnostics::{Code, Diagnostic};
use crate::lints::{days, spans_nest, LintContext, LintRule};

/// W307: a protection window shorter than the expected sales cycle.
pub struct ShortProtection;

const DAY: i64 = 86_400;

impl LintRule for ShortProtection {
    fn code(&self) -> Code {
        Code::ShortProtection
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Diagnostic>) {
        let Some(reg) = &cx.ir.registration else {
            return;
        };
        let Some((protect, protect_span)) = &reg.protect else {
            return;
        };
        if protect.business {
            return;
        }
        let from = reg
            .open_from
            .as_ref()
            .map(|(id, _)| id.0 as usize)
            .unwrap_or(0);
        let open: Vec<_> = cx
            .ir
            .stages
            .iter()
            .skip(from)
            .filter(|s| !s.is_terminal())
            .collect();
        let cycle = open
            .iter()
            .filter_map(|s| s.expected)
            .fold(0i64, |acc, e| acc.saturating_add(e));
        if cycle == 0 || protect.seconds >= cycle {
            return;
        }
        let first = open.first().map(|s| s.name.as_str()).unwrap_or("");
        let suggested = cycle.saturating_add(DAY - 1) / DAY;
        out.push(
            Diagnostic::new(
                self.code(),
                duration_span(cx, protect_span),
                format!(
                    "protection window of {} days is shorter than the expected sales cycle of {} days",
                    days(protect.seconds),
                    days(cycle)
                ),
            )
            .label("protection ends before a typical deal closes")
            .help(format!(
                "protect for at least `{suggested}d`, the sum of the expected durations of the open stages from `{first}` on"
            )),
        );
    }
}

/// The span of the duration in the `protect` rule at `rule`.
fn duration_span(cx: &LintContext<'_>, rule: &Span) -> Span {
    cx.reg_rules()
        .find_map(|r| match r {
            ast::RegRule::Protect { duration, span } if spans_nest(span, rule) => {
                Some(duration.span.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| rule.clone())
}

#[cfg(test)]
mod tests {
    use crate::diagnostics::Code;
    use crate::ir::*;
    use crate::lints::testing::*;

    fn policy_with(protect_days: i64, open_from: Option<u32>) -> Policy {
        let mut p = policy();
        p.stages = vec![
            stage("Identification", StageKind::Open, Some(10)),
            stage("Qualification", StageKind::Open, Some(30)),
            stage("Proposal", StageKind::Open, Some(45)),
            stage("ClosedWon", StageKind::Won, Some(100)),
        ];
        let mut r = registration();
        r.open_from = open_from.map(|i| (StageId(i), 0..0));
        r.protect = Some((
            Dur {
                seconds: protect_days * 86_400,
                business: false,
            },
            5..8,
        ));
        p.registration = Some(r);
        p
    }

    #[test]
    fn counts_open_stages_from_open_from_on() {
        let d = lint_code(&policy_with(60, Some(1)), Code::ShortProtection);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].message,
            "protection window of 60 days is shorter than the expected sales cycle of 75 days"
        );
        assert_eq!(
            d[0].help.as_deref(),
            Some("protect for at least `75d`, the sum of the expected durations of the open stages from `Qualification` on")
        );
        assert_eq!(d[0].span, 5..8);
        assert!(lint_code(&policy_with(75, Some(1)), Code::ShortProtection).is_empty());
    }

    #[test]
    fn counts_every_open_stage_without_open_from() {
        assert_eq!(
            lint_code(&policy_with(80, None), Code::ShortProtection).len(),
            1
        );
        assert!(lint_code(&policy_with(85, None), Code::ShortProtection).is_empty());
    }
}
