//! Walking the expressions of a checked policy, shared by the lints.

use crate::ir::{self, ConflictKind, Expr, ExprKind};

/// Every root expression of the policy, in declaration order: stage requirements,
/// transition guards, registration, co-sell, commission, hygiene and lead rules.
/// (Field defaults are constants in the IR and read nothing.)
pub(crate) fn roots(p: &ir::Policy) -> Vec<&Expr> {
    let mut out: Vec<&Expr> = Vec::new();
    for stage in &p.stages {
        for req in &stage.requires {
            out.extend(req.items.iter().map(|i| &i.expr));
        }
    }
    out.extend(p.transitions.iter().filter_map(|t| t.guard.as_ref()));
    if let Some(r) = &p.registration {
        out.extend(r.eligible.iter().map(|c| &c.expr));
        if let Some(d) = &r.duplicate {
            out.extend(&d.keys);
        }
        for c in &r.conflicts {
            match &c.kind {
                ConflictKind::When(e) => out.push(e),
                ConflictKind::OtherProtected { keys } => out.extend(keys),
            }
        }
        out.extend(r.auto_approve.iter().map(|c| &c.expr));
        out.extend(r.late.iter().map(|c| &c.expr));
        out.extend(r.discounts.iter().filter_map(|d| d.when.as_ref()));
    }
    if let Some(c) = &p.cosell {
        for a in &c.assigns {
            out.push(&a.when);
            out.extend(&a.priority);
        }
        out.extend(c.nevers.iter().map(|n| &n.when));
    }
    if let Some(c) = &p.commission {
        out.extend(c.attribute.iter().map(|c| &c.expr));
        if let Some(t) = &c.rate {
            out.extend(&t.keys);
        }
        out.extend(c.rebates.iter().map(|r| &r.when));
        out.extend(c.splits.iter().filter_map(|s| s.when.as_ref()));
    }
    if let Some(h) = &p.hygiene {
        out.extend(h.flags.iter().map(|f| &f.when));
        out.extend(h.excludes.iter().map(|c| &c.expr));
        out.extend(h.downweights.iter().map(|d| &d.when));
    }
    if let Some(l) = &p.leads {
        out.extend(l.routes.iter().map(|c| &c.expr));
        out.extend(l.prefer.iter().map(|(e, _)| e));
        if let Some(c) = &l.convert {
            out.extend(&c.when);
        }
    }
    out
}

/// Visits `root` and its subexpressions in pre-order. When `f` returns `false` the
/// node's children are skipped. Iterative, so deep nesting cannot overflow the stack.
pub(crate) fn visit<'e>(root: &'e Expr, f: &mut impl FnMut(&'e Expr) -> bool) {
    let mut stack: Vec<&'e Expr> = vec![root];
    while let Some(e) = stack.pop() {
        if !f(e) {
            continue;
        }
        // Children are pushed in reverse so they are visited left to right.
        match &e.kind {
            ExprKind::Const(_)
            | ExprKind::Field { .. }
            | ExprKind::Var(_)
            | ExprKind::VarField { .. }
            | ExprKind::Builtin(_)
            | ExprKind::Flag(_) => {}
            ExprKind::List(items) | ExprKind::Call(_, items) => stack.extend(items.iter().rev()),
            ExprKind::Unary(_, a) | ExprKind::Presence { expr: a, .. } => stack.push(a),
            ExprKind::Binary(_, a, b)
            | ExprKind::Quant {
                list: a, body: b, ..
            } => {
                stack.push(b);
                stack.push(a);
            }
        }
    }
}

/// The conjuncts of an `and` chain: `a and (b and c)` -> `[a, b, c]`.
pub(crate) fn conjuncts(e: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match &e.kind {
            ExprKind::Binary(ir::BinOp::And, a, b) => {
                stack.push(b);
                stack.push(a);
            }
            _ => out.push(e),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BinOp, Builtin, Type};
    use crate::lints::testing::*;

    fn and(a: Expr, b: Expr) -> Expr {
        expr(
            ExprKind::Binary(BinOp::And, Box::new(a), Box::new(b)),
            Type::Bool,
        )
    }

    #[test]
    fn visits_in_preorder_and_can_prune() {
        let e = and(
            expr(
                ExprKind::Unary(ir::UnOp::Not, Box::new(bool_const(true))),
                Type::Bool,
            ),
            expr(ExprKind::Builtin(Builtin::CosellSupported), Type::Bool),
        );
        let mut seen = Vec::new();
        visit(&e, &mut |x| {
            seen.push(std::mem::discriminant(&x.kind));
            !matches!(x.kind, ExprKind::Unary(..))
        });
        assert_eq!(seen.len(), 3, "the child of `not` is pruned");
        assert_eq!(
            seen[1],
            std::mem::discriminant(&ExprKind::Unary(ir::UnOp::Not, Box::new(bool_const(true))))
        );
    }

    #[test]
    fn splits_and_chains() {
        let e = and(bool_const(true), and(bool_const(false), bool_const(true)));
        let parts = conjuncts(&e);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1], &bool_const(false));
        let or = expr(
            ExprKind::Binary(
                BinOp::Or,
                Box::new(bool_const(true)),
                Box::new(bool_const(false)),
            ),
            Type::Bool,
        );
        assert_eq!(conjuncts(&or).len(), 1);
    }

    #[test]
    fn roots_cover_every_section() {
        let mut p = policy();
        p.transitions.push(ir::Transition {
            guard: Some(bool_const(true)),
            ..edge(None, 0)
        });
        let mut r = registration();
        r.late.push(cond(bool_const(true)));
        p.registration = Some(r);
        let mut c = commission();
        c.splits.push(ir::Split {
            when: Some(bool_const(false)),
            shares: vec![],
            span: 0..0,
        });
        p.commission = Some(c);
        p.leads = Some(ir::Leads {
            routes: vec![],
            prefer: vec![(bool_const(true), true)],
            prefer_span: None,
            accept: None,
            convert: None,
            span: 0..0,
        });
        assert_eq!(roots(&p).len(), 4);
    }
}
