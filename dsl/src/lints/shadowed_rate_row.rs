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
use crate::ir::{Const, MatchMode, RateRow, RateTable};
use crate::lints::rates::{contains, overlap, render_tuple, RowIndex};
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
        for finding in findings(table).found {
            let (Some(row), Some(e)) =
                (table.rows.get(finding.row), table.rows.get(finding.earlier))
            else {
                continue;
            };
            match &finding.witness {
                None => out.push(
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
                ),
                Some(w) => out.push(
                    Diagnostic::new(
                        self.code(),
                        row.span.clone(),
                        format!(
                            "rate rows `{}` and `{}` both match `{}` in a `unique match` table",
                            cx.snippet(&e.span),
                            cx.snippet(&row.span),
                            render_tuple(cx, w)
                        ),
                    )
                    .label("overlaps an earlier row")
                    .related(e.span.clone(), "this row matches too")
                    .help("narrow one of the rows so every line item matches exactly one, or use `first match`"),
                ),
            }
        }
    }
}

/// A row and the first earlier row that shadows it (`first match`) or overlaps it
/// (`unique match`, with a key tuple both match).
struct Finding {
    row: usize,
    earlier: usize,
    witness: Option<Vec<Option<Const>>>,
}

/// The findings of a table, and how many row pairs were compared to find them.
struct Findings {
    found: Vec<Finding>,
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by the unit tests that bound the work")
    )]
    comparisons: usize,
}

/// For every row, the first earlier row that shadows (or overlaps) it. Only the rows
/// the [`RowIndex`] offers as candidates are compared, so a table whose rows differ
/// on some key costs about one comparison per row, not one per pair.
fn findings(table: &RateTable) -> Findings {
    let index = RowIndex::new(
        table.keys.len(),
        table.rows.iter().map(|r| r.patterns.as_slice()),
    );
    let mut found = Vec::new();
    let mut comparisons = 0usize;
    for (i, row) in table.rows.iter().enumerate() {
        let candidates = match table.mode {
            MatchMode::First => index.candidates_containing(&row.patterns, i),
            MatchMode::Unique => index.candidates_overlapping(&row.patterns, i),
        };
        // Without a narrowing key, every earlier row is a candidate.
        let candidates = candidates.unwrap_or_else(|| (0..i).collect());
        for e in candidates {
            let Some(earlier) = table.rows.get(e) else {
                continue;
            };
            comparisons += 1;
            let hit = match table.mode {
                MatchMode::First => shadows(earlier, row).then_some(None),
                MatchMode::Unique => witness(earlier, row).map(Some),
            };
            if let Some(witness) = hit {
                found.push(Finding {
                    row: i,
                    earlier: e,
                    witness,
                });
                break;
            }
        }
    }
    Findings { found, comparisons }
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
fn witness(a: &RateRow, b: &RateRow) -> Option<Vec<Option<Const>>> {
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

    /// A table over (tier, product) with text product patterns, built directly.
    fn text_table(mode: MatchMode, rows: &[(Option<u32>, Option<&[&str]>)]) -> RateTable {
        let tier = EnumId(2);
        RateTable {
            keys: vec![
                expr(ExprKind::Const(Const::Bool(true)), Type::Enum(tier)),
                expr(ExprKind::Const(Const::Bool(true)), Type::Text),
            ],
            mode,
            rows: rows
                .iter()
                .enumerate()
                .map(|(n, (t, products))| RateRow {
                    patterns: vec![
                        t.map(|index| vec![Const::Enum { id: tier, index }]),
                        products.map(|ps| ps.iter().map(|p| Const::Text(p.to_string())).collect()),
                    ],
                    rate: Decimal::new(5, 2),
                    span: n..n + 1,
                })
                .collect(),
            span: 0..0,
        }
    }

    /// Every row compared with every earlier row: the definition the index must match.
    fn pairwise(table: &RateTable) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (i, row) in table.rows.iter().enumerate() {
            let hit = table.rows.iter().take(i).position(|e| match table.mode {
                MatchMode::First => super::shadows(e, row),
                MatchMode::Unique => super::witness(e, row).is_some(),
            });
            if let Some(e) = hit {
                out.push((i, e));
            }
        }
        out
    }

    fn found(table: &RateTable) -> Vec<(usize, usize)> {
        super::findings(table)
            .found
            .iter()
            .map(|f| (f.row, f.earlier))
            .collect()
    }

    #[test]
    fn rows_that_differ_on_a_key_cost_a_constant_number_of_comparisons() {
        // The common big table: one row per product, all tiers, and a default row.
        let names: Vec<String> = (0..4000).map(|i| format!("sku-{i}")).collect();
        for mode in [MatchMode::First, MatchMode::Unique] {
            let mut rows: Vec<(Option<u32>, Option<&[&str]>)> = Vec::new();
            let products: Vec<[&str; 1]> = names.iter().map(|n| [n.as_str()]).collect();
            for (i, p) in products.iter().enumerate() {
                rows.push((Some(i as u32 % 3), Some(p.as_slice())));
            }
            if mode == MatchMode::First {
                rows.push((None, None));
            }
            let table = text_table(mode, &rows);
            let f = super::findings(&table);
            assert!(f.found.is_empty(), "{mode:?}: no row shadows another");
            assert!(
                f.comparisons <= rows.len(),
                "{mode:?}: {} comparisons for {} rows",
                f.comparisons,
                rows.len()
            );
        }
        // Many rows under one broad row: each is compared with that row only.
        let mut rows: Vec<(Option<u32>, Option<&[&str]>)> = vec![(Some(1), None)];
        let products: Vec<[&str; 1]> = names.iter().map(|n| [n.as_str()]).collect();
        rows.extend(products.iter().map(|p| (Some(1), Some(p.as_slice()))));
        let table = text_table(MatchMode::First, &rows);
        let f = super::findings(&table);
        assert_eq!(f.found.len(), names.len());
        assert!(f.found.iter().all(|x| x.earlier == 0));
        assert!(f.comparisons <= rows.len(), "{} comparisons", f.comparisons);
    }

    proptest::proptest! {
        #[test]
        fn the_index_finds_what_pairwise_comparison_finds(
            unique in proptest::bool::ANY,
            rows in proptest::collection::vec(
                (
                    proptest::option::of(0u32..3),
                    proptest::option::of(proptest::collection::vec(0usize..4, 1..3)),
                ),
                0..12,
            ),
        ) {
            const P: [&str; 4] = ["a", "b", "c", "d"];
            let products: Vec<Option<Vec<&str>>> = rows
                .iter()
                .map(|(_, p)| p.as_ref().map(|p| p.iter().filter_map(|&i| P.get(i).copied()).collect()))
                .collect();
            let rows: Vec<(Option<u32>, Option<&[&str]>)> = rows
                .iter()
                .zip(&products)
                .map(|((t, _), p)| (*t, p.as_deref()))
                .collect();
            let mode = if unique { MatchMode::Unique } else { MatchMode::First };
            let table = text_table(mode, &rows);
            proptest::prop_assert_eq!(found(&table), pairwise(&table));
        }
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
