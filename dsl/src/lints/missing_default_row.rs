//! W304 `missing-default-row`.
//!
//! ## What it does
//! Flags a rate table that some line item can fall through. A table is complete when
//! it has a row whose patterns are all `_`, or, when every key is a `bool`, an enum,
//! a stage or an optional of those and there are at most 10,000 combinations, when
//! its rows cover every combination (a row with a specific value on a key of another
//! type covers nothing for certain). Larger or open-ended tables need the `_` row.
//! This applies to `first match` and `unique match` tables alike; in a `unique match`
//! table an all-`_` row overlaps every other row (W303), so list the missing
//! combinations instead.
//!
//! ## Why is this bad?
//! A line item that matches no row has no commission rate: the partner sells a product
//! family or reaches a tier the table forgot (often one added to the enum later), and
//! the payout for it is undefined instead of a rate the program chose.
//!
//! ## Example
//! ```text
//! rate by (partner.tier, item.product_family) first match {
//!   (Platinum, _) 12%
//!   (Gold, Security) 10%
//! }
//! ```
//! Use instead: end the table with a default row, `(_, _) 5%`.

use crate::ast::Span;
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Const, MatchMode, RateTable};
use crate::lints::rates::{domain, matches, render_tuple, RowIndex};
use crate::lints::{LintContext, LintRule};

/// Above this many key combinations the rule stops enumerating and asks for an
/// all-wildcard row.
const MAX_COMBINATIONS: usize = 10_000;

/// W304: a rate table with no default row that does not cover every line item.
pub struct MissingDefaultRow;

impl LintRule for MissingDefaultRow {
    fn code(&self) -> Code {
        Code::MissingDefaultRow
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Diagnostic>) {
        let Some(table) = cx.ir.commission.as_ref().and_then(|c| c.rate.as_ref()) else {
            return;
        };
        if table
            .rows
            .iter()
            .any(|r| r.patterns.iter().all(Option::is_none))
        {
            return;
        }
        let wildcards = vec!["_"; table.keys.len()].join(", ");
        let default_help =
            format!("add a default row such as `({wildcards}) 0%` at the end of the table");
        let span = header_span(cx, table);
        match coverage(cx, table) {
            Coverage::Complete => {}
            Coverage::Unknown => out.push(
                Diagnostic::new(
                    self.code(),
                    span,
                    "rate table has no default row, so line items that match no row have no rate",
                )
                .label("no all-`_` row")
                .help(default_help),
            ),
            Coverage::Missing { count, example } => {
                let example = render_tuple(cx, &example);
                let help = match table.mode {
                    MatchMode::First => default_help,
                    MatchMode::Unique => {
                        format!(
                            "add a row for every missing combination, starting with `{example}`"
                        )
                    }
                };
                let what = if count == 1 {
                    "combination matches"
                } else {
                    "combinations match"
                };
                out.push(
                    Diagnostic::new(
                        self.code(),
                        span,
                        format!("rate table does not cover every line item: {count} key {what} no row, e.g. `{example}`"),
                    )
                    .label("incomplete table")
                    .help(help),
                );
            }
        }
    }
}

enum Coverage {
    Complete,
    /// Too many or open-ended combinations to enumerate.
    Unknown,
    /// `example` has `None` for keys with an open-ended domain.
    Missing {
        count: usize,
        example: Vec<Option<Const>>,
    },
}

fn coverage(cx: &LintContext<'_>, table: &RateTable) -> Coverage {
    let domains: Vec<Option<Vec<Const>>> =
        table.keys.iter().map(|k| domain(cx.ir, &k.ty)).collect();
    if domains.iter().all(Option::is_none) {
        return Coverage::Unknown;
    }
    let mut total: usize = 1;
    for d in domains.iter().flatten() {
        total = match total.checked_mul(d.len()) {
            Some(t) if t <= MAX_COMBINATIONS => t,
            _ => return Coverage::Unknown,
        };
    }
    // Only rows that are `_` on every open-ended key are sure to match anything.
    let rows: Vec<_> = table
        .rows
        .iter()
        .filter(|r| {
            r.patterns.len() == domains.len()
                && r.patterns
                    .iter()
                    .zip(&domains)
                    .all(|(p, d)| d.is_some() || p.is_none())
        })
        .collect();
    let index = RowIndex::new(domains.len(), rows.iter().map(|r| r.patterns.as_slice()));
    let mut count = 0;
    let mut example = None;
    for n in 0..total {
        // Decode `n` as a mixed-radix number, one digit per finite key.
        let mut rest = n;
        let combo: Vec<Option<Const>> = domains
            .iter()
            .map(|d| {
                d.as_ref().and_then(|d| {
                    let len = d.len().max(1);
                    let v = d.get(rest % len).cloned();
                    rest /= len;
                    v
                })
            })
            .collect();
        // Only the rows the index offers can match: `_` or this value on some key.
        let candidates = index
            .candidates_matching(&combo)
            .unwrap_or_else(|| (0..rows.len()).collect());
        let covered = candidates.into_iter().filter_map(|r| rows.get(r)).any(|r| {
            r.patterns
                .iter()
                .zip(&combo)
                .all(|(p, v)| v.as_ref().is_none_or(|v| matches(p, v)))
        });
        if !covered {
            count += 1;
            example.get_or_insert(combo);
        }
    }
    match example {
        None => Coverage::Complete,
        Some(example) => Coverage::Missing { count, example },
    }
}

/// `rate by (...) first match`: the table up to its `{`.
fn header_span(cx: &LintContext<'_>, table: &RateTable) -> Span {
    let text = cx.text(&table.span);
    match text.find('{') {
        Some(i) => {
            table.span.start..table.span.start + text.get(..i).unwrap_or(text).trim_end().len()
        }
        None => table.span.clone(),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use crate::diagnostics::Code;
    use crate::ir::*;
    use crate::lints::testing::*;

    /// Keys: tier (3 variants), a bool, and optionally an integer.
    fn table(mode: MatchMode, with_int: bool, rows: Vec<Vec<Option<Vec<Const>>>>) -> Policy {
        let mut p = policy();
        let tier = add_enum(&mut p, "tier", &["Silver", "Gold", "Platinum"]);
        let mut keys = vec![
            expr(ExprKind::Const(Const::Bool(true)), Type::Enum(tier)),
            expr(ExprKind::Const(Const::Bool(true)), Type::Bool),
        ];
        if with_int {
            keys.push(expr(ExprKind::Const(Const::Integer(1)), Type::Integer));
        }
        let mut c = commission();
        c.rate = Some(RateTable {
            keys,
            mode,
            rows: rows
                .into_iter()
                .map(|patterns| RateRow {
                    patterns,
                    rate: Decimal::ONE,
                    span: 0..0,
                })
                .collect(),
            span: 0..0,
        });
        p.commission = Some(c);
        p
    }

    fn t(i: u32) -> Option<Vec<Const>> {
        Some(vec![Const::Enum {
            id: EnumId(2),
            index: i,
        }])
    }

    fn b(v: bool) -> Option<Vec<Const>> {
        Some(vec![Const::Bool(v)])
    }

    #[test]
    fn default_row_silences() {
        let p = table(
            MatchMode::First,
            true,
            vec![vec![t(0), None, None], vec![None, None, None]],
        );
        assert!(lint_code(&p, Code::MissingDefaultRow).is_empty());
    }

    #[test]
    fn full_enum_coverage_needs_no_default() {
        let rows = vec![
            vec![t(0), None],
            vec![t(1), None],
            vec![t(2), b(true)],
            vec![t(2), b(false)],
        ];
        assert!(lint_code(
            &table(MatchMode::Unique, false, rows.clone()),
            Code::MissingDefaultRow
        )
        .is_empty());
        assert!(lint_code(
            &table(MatchMode::First, false, rows),
            Code::MissingDefaultRow
        )
        .is_empty());
    }

    #[test]
    fn reports_the_missing_combinations() {
        let rows = vec![vec![t(0), None], vec![t(1), None], vec![t(2), b(true)]];
        let d = lint_code(
            &table(MatchMode::Unique, false, rows),
            Code::MissingDefaultRow,
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].message,
            "rate table does not cover every line item: 1 key combination matches no row, e.g. `(Platinum, false)`"
        );
        assert_eq!(
            d[0].help.as_deref(),
            Some("add a row for every missing combination, starting with `(Platinum, false)`")
        );
    }

    #[test]
    fn a_value_on_an_open_ended_key_covers_nothing() {
        let int = Some(vec![Const::Integer(3)]);
        let rows = vec![vec![None, None, int]];
        let d = lint_code(
            &table(MatchMode::First, true, rows),
            Code::MissingDefaultRow,
        );
        assert_eq!(d.len(), 1);
        assert!(
            d[0].message.contains("6 key combinations"),
            "{}",
            d[0].message
        );
        assert_eq!(
            d[0].help.as_deref(),
            Some("add a default row such as `(_, _, _) 0%` at the end of the table")
        );
    }

    #[test]
    fn open_ended_keys_only_need_a_default() {
        let mut p = table(MatchMode::First, true, vec![]);
        if let Some(t) = p.commission.as_mut().and_then(|c| c.rate.as_mut()) {
            t.keys.drain(..2);
            t.rows.push(RateRow {
                patterns: vec![Some(vec![Const::Integer(1)])],
                rate: Decimal::ONE,
                span: 0..0,
            });
        }
        let d = lint_code(&p, Code::MissingDefaultRow);
        assert_eq!(d.len(), 1);
        assert!(d[0].message.starts_with("rate table has no default row"));
    }
}
