//! W303 `shadowed-rate-row`.
//!
//! ## What it does
//! In a `first match` rate table, flags a row that can never be chosen because an
//! earlier row matches every line item it matches: on every key, the earlier pattern is
//! `_` or lists all of the later row's values.
//!
//! In a `unique match` table, flags a row that can match the same line item as an
//! earlier row (on every key the patterns share a value or one is `_`); evaluating such
//! a line item is an error because more than one row matches.
//!
//! ## Why is this bad?
//! A shadowed row is a commission rate nobody will ever be paid: the program manager
//! believes Gold partners selling Security earn 10%, but they earn the earlier row's
//! rate. In a unique-match table, an ambiguous pair means some line items have no
//! defined rate at all, and commission calculation fails on them.
//!
//! ## Example
//! ```text
//! rate by (partner.tier, item.product_family) first match {
//!   (Gold, _) 8%
//!   (Gold, Security) 10%
//!   (_, _) 5%
//! }
//! ```
//! `(Gold, Security)` never matches. Use instead: put it above `(Gold, _)`.

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{MatchMode, RateRow};
use crate::lints::rates::{contains, overlap, render_tuple};
use crate::lints::{LintContext, LintRule};

/// W303: a rate-table row that an earlier row always matches first (or, in a
/// unique-match table, that overlaps an earlier row).
pub struct ShadowedRateRow;

impl LintRule for ShadowedRateRow {
    fn code(&self) -> Code {
        Code::ShadowedRateRow
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Diagnostic>) {
        let Some(table) = cx.ir.commission.as_ref().and_then(|c| c.rate.as_ref()) else {
            return;
        };
        for (i, row) in table.rows.iter().enumerate() {
            let earlier = table.rows.iter().take(i);
            match table.mode {
                MatchMode::First => {
                    if let Some(e) = earlier.into_iter().find(|e| shadows(e, row)) {
                        out.push(
                            Diagnostic::new(
                                self.code(),
                                row.span.clone(),
                                format!(
                                    "rate row `{}` never matches: the earlier row `{}` matches every line item it does",
                                    cx.snippet(&row.span),
                                    cx.snippet(&e.span)
                                ),
                            )
                            .label("never matches")
                            .related(e.span.clone(), "this row matches first")
                            .help(format!(
                                "move this row above `{}` or remove it",
                                cx.snippet(&e.span)
                            )),
                        );
                    }
                }
                MatchMode::Unique => {
                    let found = earlier
                        .into_iter()
                        .find_map(|e| witness(e, row).map(|w| (e, w)));
                    if let Some((e, w)) = found {
                        out.push(
                            Diagnostic::new(
                                self.code(),
                                row.span.clone(),
                                format!(
                                    "rate rows `{}` and `{}` both match `{}` in a `unique match` table",
                                    cx.snippet(&e.span),
                                    cx.snippet(&row.span),
                                    render_tuple(cx, &w)
                                ),
                            )
                            .label("overlaps an earlier row")
                            .related(e.span.clone(), "this row matches too")
                            .help("narrow one of the rows so every line item matches exactly one, or use `first match`"),
                        );
                    }
                }
            }
        }
    }
}

/// True when `earlier` matches everything `row` matches.
fn shadows(earlier: &RateRow, row: &RateRow) -> bool {
    earlier.patterns.len() == row.patterns.len()
        && earlier
            .patterns
            .iter()
            .zip(&row.patterns)
            .all(|(e, r)| contains(e, r))
}

/// A key tuple both rows match, if they overlap on every key.
fn witness(a: &RateRow, b: &RateRow) -> Option<Vec<Option<crate::ir::Const>>> {
    if a.patterns.len() != b.patterns.len() {
        return None;
    }
    a.patterns
        .iter()
        .zip(&b.patterns)
        .map(|(x, y)| overlap(x, y))
        .collect()
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use crate::diagnostics::Code;
    use crate::ir::*;
    use crate::lints::testing::*;

    fn table(mode: MatchMode, rows: &[[Option<Vec<u32>>; 2]]) -> Policy {
        let mut p = policy();
        let tier = add_enum(&mut p, "tier", &["Silver", "Gold", "Platinum"]);
        let fam = add_enum(&mut p, "product_family", &["Core", "Security"]);
        let ids = [tier, fam];
        let rows = rows
            .iter()
            .enumerate()
            .map(|(n, pats)| RateRow {
                patterns: pats
                    .iter()
                    .zip(ids)
                    .map(|(pat, id)| {
                        pat.as_ref()
                            .map(|v| v.iter().map(|&index| Const::Enum { id, index }).collect())
                    })
                    .collect(),
                rate: Decimal::new(5, 2),
                span: n * 10..n * 10 + 5,
            })
            .collect();
        let mut c = commission();
        c.rate = Some(RateTable {
            keys: vec![
                expr(ExprKind::Const(Const::Bool(true)), Type::Enum(tier)),
                expr(ExprKind::Const(Const::Bool(true)), Type::Enum(fam)),
            ],
            mode,
            rows,
            span: 0..100,
        });
        p.commission = Some(c);
        p
    }

    #[test]
    fn first_match_flags_rows_under_a_broader_earlier_row() {
        let p = table(
            MatchMode::First,
            &[
                [Some(vec![1]), None],
                [Some(vec![1]), Some(vec![1])],
                [Some(vec![2]), Some(vec![0])],
                [None, None],
            ],
        );
        let d = lint_code(&p, Code::ShadowedRateRow);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].span, 10..15);
        assert_eq!(d[0].related[0].span, 0..5);
    }

    #[test]
    fn first_match_subset_of_a_list_is_shadowed_but_not_the_reverse() {
        let p = table(
            MatchMode::First,
            &[
                [Some(vec![1, 2]), None],
                [Some(vec![2]), None],
                [None, None],
            ],
        );
        assert_eq!(lint_code(&p, Code::ShadowedRateRow).len(), 1);
        let p = table(
            MatchMode::First,
            &[
                [Some(vec![2]), None],
                [Some(vec![1, 2]), None],
                [None, None],
            ],
        );
        assert!(lint_code(&p, Code::ShadowedRateRow).is_empty());
    }

    #[test]
    fn unique_match_flags_overlapping_rows() {
        let p = table(
            MatchMode::Unique,
            &[[Some(vec![1]), None], [None, Some(vec![1])]],
        );
        let d = lint_code(&p, Code::ShadowedRateRow);
        assert_eq!(d.len(), 1);
        assert!(
            d[0].message.contains("both match `(Gold, Security)`"),
            "{}",
            d[0].message
        );
        let p = table(
            MatchMode::Unique,
            &[[Some(vec![1]), None], [Some(vec![0, 2]), None]],
        );
        assert!(lint_code(&p, Code::ShadowedRateRow).is_empty());
    }
}
