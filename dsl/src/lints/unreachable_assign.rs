//! W309 `unreachable-assign`.
//!
//! ## What it does
//! Flags a co-sell `assign` rule whose condition requires the deal to be in a stage
//! where co-sell can never happen. The rule looks at the top-level `and` conjuncts of
//! the condition for `stage == X` and `stage in [X, Y]` and reports when:
//! - every stage named is unreachable: no path of `flow` transitions leads to it from
//!   the first declared stage (`any -> X` counts as an edge from every open stage), or
//! - every stage named is a closed (won or lost) stage, or unreachable.
//!
//! The checker already rejects unreachable stages (E201), so in a policy that compiles
//! the first case is rare; the second is the common one.
//!
//! ## Why is this bad?
//! Co-sell pools are scarce; an assign rule that can never fire, or fires only on a
//! deal that is already won or lost, never gets a partner help while it matters. The
//! partner program promises support that the rules cannot deliver.
//!
//! ## Example
//! ```text
//! assign executive_sponsor when stage == ClosedWon and amount >= 500_000 USD
//! ```
//! Use instead: `when stage == Negotiation and ...`.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Dfs;

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{BinOp, Builtin, Const, Expr, ExprKind, StageId};
use crate::lints::{walk, LintContext, LintRule};

/// W309: an assign rule that needs a stage the flow cannot reach (or a closed stage).
pub struct UnreachableAssign;

impl LintRule for UnreachableAssign {
    fn code(&self) -> Code {
        Code::UnreachableAssign
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Diagnostic>) {
        let Some(cosell) = &cx.ir.cosell else { return };
        if cosell.assigns.is_empty() {
            return;
        }
        let reachable = reachable_stages(cx);
        let suggestion = cx
            .ir
            .stages
            .iter()
            .zip(&reachable)
            .rev()
            .find(|(s, &r)| r && !s.is_terminal())
            .map(|(s, _)| {
                format!(
                    "require an open stage the deal passes through, e.g. `stage == {}`",
                    s.name
                )
            })
            .unwrap_or_else(|| "require an open stage the deal passes through".to_string());
        for assign in &cosell.assigns {
            let pool = cosell
                .pools
                .get(assign.pool.0 as usize)
                .map(|p| p.name.as_str())
                .unwrap_or("");
            for part in walk::conjuncts(&assign.when) {
                let Some(stages) = required_stages(part) else {
                    continue;
                };
                let name = |id: &StageId| cx.ir.stage(*id).map(|s| s.name.as_str()).unwrap_or("");
                let names: Vec<String> =
                    stages.iter().map(|id| format!("`{}`", name(id))).collect();
                let names = names.join(" or ");
                let unreachable =
                    |id: &StageId| !reachable.get(id.0 as usize).copied().unwrap_or(false);
                let closed = |id: &StageId| cx.ir.stage(*id).is_none_or(|s| s.is_terminal());
                let (message, label) = if stages.iter().all(unreachable) {
                    (
                        format!("`assign {pool}` needs stage {names}, which the flow cannot reach"),
                        "no transition path leads here",
                    )
                } else if stages.iter().all(|id| unreachable(id) || closed(id)) {
                    (
                        format!("`assign {pool}` needs closed stage {names}, where co-sell can no longer help"),
                        "the deal is already won or lost here",
                    )
                } else {
                    continue;
                };
                out.push(
                    Diagnostic::new(self.code(), part.span.clone(), message)
                        .label(label)
                        .related(assign.span.clone(), "in this assign rule")
                        .help(suggestion.clone()),
                );
            }
        }
    }
}

/// For each stage, whether the flow reaches it from the first declared stage.
fn reachable_stages(cx: &LintContext<'_>) -> Vec<bool> {
    let stages = &cx.ir.stages;
    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(stages.len(), cx.ir.transitions.len());
    let nodes: Vec<NodeIndex> = stages.iter().map(|_| graph.add_node(())).collect();
    let node = |id: StageId| nodes.get(id.0 as usize).copied();
    for t in &cx.ir.transitions {
        let Some(to) = node(t.to) else { continue };
        match t.from {
            Some(from) => {
                if let Some(from) = node(from) {
                    graph.add_edge(from, to, ());
                }
            }
            None => {
                for (i, s) in stages.iter().enumerate() {
                    if let (false, Some(&from)) = (s.is_terminal(), nodes.get(i)) {
                        graph.add_edge(from, to, ());
                    }
                }
            }
        }
    }
    let mut reachable = vec![false; stages.len()];
    if let Some(&start) = nodes.first() {
        let mut dfs = Dfs::new(&graph, start);
        while let Some(n) = dfs.next(&graph) {
            if let Some(r) = reachable.get_mut(n.index()) {
                *r = true;
            }
        }
    }
    reachable
}

/// The stages a conjunct pins the deal to: `stage == X`, `X == stage` or
/// `stage in [X, Y]`.
fn required_stages(e: &Expr) -> Option<Vec<StageId>> {
    let ExprKind::Binary(op, a, b) = &e.kind else {
        return None;
    };
    let is_stage = |x: &Expr| matches!(x.kind, ExprKind::Builtin(Builtin::Stage));
    match op {
        BinOp::Eq => {
            let other = if is_stage(a) {
                b
            } else if is_stage(b) {
                a
            } else {
                return None;
            };
            match &other.kind {
                ExprKind::Const(Const::Stage(id)) => Some(vec![*id]),
                _ => None,
            }
        }
        BinOp::In if is_stage(a) => {
            let ids: Option<Vec<StageId>> = match &b.kind {
                ExprKind::List(items) => items
                    .iter()
                    .map(|i| match &i.kind {
                        ExprKind::Const(Const::Stage(id)) => Some(*id),
                        _ => None,
                    })
                    .collect(),
                ExprKind::Const(Const::List(items)) => items
                    .iter()
                    .map(|c| match c {
                        Const::Stage(id) => Some(*id),
                        _ => None,
                    })
                    .collect(),
                _ => None,
            };
            ids.filter(|ids| !ids.is_empty())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnostics::Code;
    use crate::ir::*;
    use crate::lints::testing::*;

    fn stage_const(i: u32) -> Expr {
        expr(ExprKind::Const(Const::Stage(StageId(i))), Type::Stage)
    }

    fn stage_is(i: u32) -> Expr {
        expr_at(
            ExprKind::Binary(
                BinOp::Eq,
                Box::new(expr(ExprKind::Builtin(Builtin::Stage), Type::Stage)),
                Box::new(stage_const(i)),
            ),
            Type::Bool,
            40..50,
        )
    }

    /// A -> B -> Won, any -> Lost; C is declared but only reachable from itself.
    fn policy_with(when: Expr) -> Policy {
        let mut p = policy();
        p.stages = vec![
            stage("A", StageKind::Open, None),
            stage("B", StageKind::Open, None),
            stage("C", StageKind::Open, None),
            stage("Won", StageKind::Won, None),
            stage("Lost", StageKind::Lost, None),
        ];
        p.transitions = vec![
            edge(Some(0), 1),
            edge(Some(1), 3),
            edge(None, 4),
            edge(Some(2), 3),
        ];
        p.cosell = Some(Cosell {
            pools: vec![Pool {
                name: "se".into(),
                label: None,
                capacity: 1,
                per: Period::Week,
                span: 0..1,
            }],
            assigns: vec![Assign {
                pool: PoolId(0),
                when,
                priority: None,
                span: 30..60,
            }],
            nevers: vec![],
            span: 0..0,
        });
        p
    }

    fn and(a: Expr, b: Expr) -> Expr {
        expr(
            ExprKind::Binary(BinOp::And, Box::new(a), Box::new(b)),
            Type::Bool,
        )
    }

    #[test]
    fn flags_an_unreachable_stage_in_an_and_chain() {
        let d = lint_code(
            &policy_with(and(bool_const(true), stage_is(2))),
            Code::UnreachableAssign,
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].message,
            "`assign se` needs stage `C`, which the flow cannot reach"
        );
        assert_eq!(d[0].span, 40..50);
        assert_eq!(
            d[0].help.as_deref(),
            Some("require an open stage the deal passes through, e.g. `stage == B`")
        );
    }

    #[test]
    fn flags_a_closed_stage() {
        let d = lint_code(&policy_with(stage_is(3)), Code::UnreachableAssign);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].message,
            "`assign se` needs closed stage `Won`, where co-sell can no longer help"
        );
    }

    #[test]
    fn accepts_reachable_open_stages_and_mixed_lists() {
        assert!(lint_code(&policy_with(stage_is(1)), Code::UnreachableAssign).is_empty());
        let in_list = expr(
            ExprKind::Binary(
                BinOp::In,
                Box::new(expr(ExprKind::Builtin(Builtin::Stage), Type::Stage)),
                Box::new(expr(
                    ExprKind::List(vec![stage_const(2), stage_const(1)]),
                    Type::List(Box::new(Type::Stage)),
                )),
            ),
            Type::Bool,
        );
        assert!(lint_code(&policy_with(in_list), Code::UnreachableAssign).is_empty());
        // `or` is not a conjunct: the rule can still fire through the other branch.
        let or = expr(
            ExprKind::Binary(BinOp::Or, Box::new(stage_is(3)), Box::new(stage_is(1))),
            Type::Bool,
        );
        assert!(lint_code(&policy_with(or), Code::UnreachableAssign).is_empty());
    }
}
