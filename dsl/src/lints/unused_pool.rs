//! W308 `unused-pool`.
//!
//! ## What it does
//! Flags a co-sell `pool` that no `assign` rule names. (`never` rules restrict pools
//! but never assign them, so they do not count.)
//!
//! ## Why is this bad?
//! A pool is a scarce vendor resource (presales engineers, executive sponsors) that
//! partners are told they can get on qualifying deals. A pool no rule assigns is never
//! offered: the capacity sits idle and partners who expect the support never get it.
//! It is usually a misspelt or forgotten `assign` rule.
//!
//! ## Example
//! ```text
//! cosell {
//!   pool presales_engineer capacity 10 per week
//!   pool pricing_desk capacity 5 per week
//!   assign presales_engineer when amount >= 50_000 USD
//! }
//! ```
//! Use instead: add `assign pricing_desk when ...`, or remove the pool.

use crate::diagnostics::{Code, Diagnostic};
use crate::lints::{LintContext, LintRule};

/// W308: a co-sell pool that no assign rule uses.
pub struct UnusedPool;

impl LintRule for UnusedPool {
    fn code(&self) -> Code {
        Code::UnusedPool
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Diagnostic>) {
        let Some(cosell) = &cx.ir.cosell else { return };
        // One pass over the assign rules, not one per pool.
        let mut assigned = vec![false; cosell.pools.len()];
        for a in &cosell.assigns {
            if let Some(used) = assigned.get_mut(a.pool.0 as usize) {
                *used = true;
            }
        }
        for (pool, used) in cosell.pools.iter().zip(assigned) {
            if used {
                continue;
            }
            out.push(
                Diagnostic::new(
                    self.code(),
                    pool.span.clone(),
                    format!("co-sell pool `{}` is never assigned", pool.name),
                )
                .label("no `assign` rule uses this pool")
                .help(format!(
                    "add an `assign {} when ...` rule or remove the pool",
                    pool.name
                )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnostics::Code;
    use crate::ir::*;
    use crate::lints::testing::*;

    #[test]
    fn flags_pools_without_assign_rules() {
        let mut p = policy();
        let pool = |name: &str, span: std::ops::Range<usize>| Pool {
            name: name.into(),
            label: None,
            capacity: 1,
            per: Period::Week,
            span,
        };
        p.cosell = Some(Cosell {
            pools: vec![pool("presales", 0..5), pool("pricing_desk", 6..9)],
            assigns: vec![Assign {
                pool: PoolId(0),
                when: bool_const(true),
                priority: None,
                span: 0..0,
            }],
            nevers: vec![Never {
                pool: Some(PoolId(1)),
                when: bool_const(true),
                because: None,
                span: 0..0,
            }],
            span: 0..0,
        });
        let d = lint_code(&p, Code::UnusedPool);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].message,
            "co-sell pool `pricing_desk` is never assigned"
        );
        assert_eq!(d[0].span, 6..9);
    }
}
