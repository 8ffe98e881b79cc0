//! E305 `split-not-hundred`.
//!
//! ## What it does
//! Flags a commission `split` whose shares do not add up to exactly 100%.
//!
//! ## Why is this bad?
//! A split divides one commission between the registering partner and the partners
//! who influenced the deal. Shares that sum to 90% silently keep 10% of every payout;
//! shares that sum to 110% pay out more than the commission earned. Either is a
//! financial error, so this rule is an error, not a warning.
//!
//! ## Example
//! ```text
//! split when present influencer { registering 70%, influencer 20% }
//! ```
//! Use instead: `{ registering 70%, influencer 30% }`.

use rust_decimal::Decimal;

use crate::diagnostics::{Code, Diagnostic};
use crate::lints::{percent, LintContext, LintRule};

/// E305: commission split shares that do not sum to 100%.
pub struct SplitNotHundred;

impl LintRule for SplitNotHundred {
    fn code(&self) -> Code {
        Code::SplitNotHundred
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Diagnostic>) {
        let Some(commission) = &cx.ir.commission else {
            return;
        };
        for split in &commission.splits {
            let sum = split
                .shares
                .iter()
                .try_fold(Decimal::ZERO, |acc, s| acc.checked_add(s.share));
            let Some(sum) = sum else {
                out.push(
                    Diagnostic::new(
                        self.code(),
                        split.span.clone(),
                        "split shares are too large to add up",
                    )
                    .label("shares must total 100%")
                    .help("change the shares so they add up to exactly 100%"),
                );
                continue;
            };
            if sum == Decimal::ONE {
                continue;
            }
            out.push(
                Diagnostic::new(
                    self.code(),
                    split.span.clone(),
                    format!("split shares sum to {}, not 100%", percent(sum)),
                )
                .label(format!("totals {}", percent(sum)))
                .help("change the shares so they add up to exactly 100%"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use crate::diagnostics::{Code, Severity};
    use crate::ir::*;
    use crate::lints::testing::*;

    fn split(shares: &[i64]) -> Policy {
        let mut p = policy();
        let mut c = commission();
        c.splits.push(Split {
            when: None,
            shares: shares
                .iter()
                .map(|&pct| Share {
                    role: SplitRole::Registering,
                    share: Decimal::new(pct, 2),
                    span: 0..1,
                })
                .collect(),
            span: 3..9,
        });
        p.commission = Some(c);
        p
    }

    #[test]
    fn flags_a_split_that_is_not_whole() {
        let d = lint_code(&split(&[70, 20]), Code::SplitNotHundred);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, Severity::Error);
        assert_eq!(d[0].message, "split shares sum to 90%, not 100%");
        assert_eq!(d[0].span, 3..9);
        let d = lint_code(&split(&[70, 40]), Code::SplitNotHundred);
        assert_eq!(d[0].message, "split shares sum to 110%, not 100%");
    }

    #[test]
    fn accepts_exactly_one_hundred() {
        assert!(lint_code(&split(&[70, 30]), Code::SplitNotHundred).is_empty());
        assert!(lint_code(&split(&[100]), Code::SplitNotHundred).is_empty());
    }
}
