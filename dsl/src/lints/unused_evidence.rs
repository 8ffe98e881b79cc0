//! W302 `unused-evidence`.
//!
//! ## What it does
//! Flags a field declared in an `evidence { }` block that no expression of the policy
//! reads: no stage requires it, and no guard, registration, co-sell, commission,
//! hygiene or lead rule mentions it.
//!
//! ## Why is this bad?
//! Evidence is what partners are asked to collect to qualify and advance a deal. An
//! evidence field nothing checks is either a requirement someone forgot to attach to a
//! stage (so deals advance without that proof), or dead schema that makes partners
//! and reviewers believe it matters.
//!
//! ## Example
//! ```text
//! record opportunity {
//!   evidence { decision_maker: text  need: text }
//! }
//! stage Qualification { probability 15% forecast pipeline requires decision_maker }
//! ```
//! `need` is never used. Use instead: `requires decision_maker, need`, or remove `need`.

use std::collections::{HashMap, HashSet};

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{ExprKind, FieldRef, RecordKind, SplitRole, Type};
use crate::lints::{walk, LintContext, LintRule};

/// W302: an evidence field that no rule uses.
pub struct UnusedEvidence;

impl LintRule for UnusedEvidence {
    fn code(&self) -> Code {
        Code::UnusedEvidence
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Diagnostic>) {
        let has_evidence = cx
            .ir
            .records
            .iter()
            .any(|r| r.fields.iter().any(|f| f.evidence));
        if !has_evidence {
            return;
        }
        let mut used: HashSet<FieldRef> = HashSet::new();
        for stage in &cx.ir.stages {
            used.extend(
                stage
                    .requires
                    .iter()
                    .flat_map(|r| &r.items)
                    .filter_map(|i| i.evidence),
            );
        }
        // Quantifier variables range over record lists (`li in line_items`); their
        // field reads (`li.price`) are reads of that record's fields.
        let mut var_record: HashMap<u32, RecordKind> = HashMap::new();
        for root in walk::roots(cx.ir) {
            walk::visit(root, &mut |e| {
                match &e.kind {
                    ExprKind::Field { record, slot } => {
                        used.insert(FieldRef {
                            record: *record,
                            slot: *slot,
                        });
                    }
                    ExprKind::Quant { var, list, .. } => {
                        if let Type::List(inner) = &list.ty {
                            if let Type::Record(kind) = **inner {
                                var_record.insert(*var, kind);
                            }
                        }
                    }
                    ExprKind::VarField { var, slot } => {
                        let record = var_record.get(var).copied().unwrap_or(RecordKind::LineItem);
                        used.insert(FieldRef {
                            record,
                            slot: *slot,
                        });
                    }
                    _ => {}
                }
                true
            });
        }
        // A split role names an opportunity field holding a partner id.
        for split in cx.ir.commission.iter().flat_map(|c| &c.splits) {
            for share in &split.shares {
                if let SplitRole::Field { slot, .. } = share.role {
                    used.insert(FieldRef {
                        record: RecordKind::Opportunity,
                        slot,
                    });
                }
            }
        }
        for record in &cx.ir.records {
            for (slot, field) in record.fields.iter().enumerate() {
                let r = FieldRef {
                    record: record.kind,
                    slot: slot as u32,
                };
                if !field.evidence || used.contains(&r) {
                    continue;
                }
                out.push(
                    Diagnostic::new(
                        self.code(),
                        field.span.clone(),
                        format!("evidence field `{}` is never used", field.name),
                    )
                    .label("declared here")
                    .help(format!(
                        "require it in a stage (`requires {}`) or remove it from the `evidence {{ }}` block",
                        field.name
                    )),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnostics::Code;
    use crate::ir::*;
    use crate::lints::testing::*;

    #[test]
    fn flags_unread_evidence_only() {
        let mut p = policy();
        let need = add_field(&mut p, "need", Type::Text, true, 5..15);
        let dm = add_field(&mut p, "decision_maker", Type::Text, true, 20..40);
        add_field(&mut p, "plain", Type::Text, false, 45..50);
        let mut h = Hygiene {
            flags: vec![],
            excludes: vec![],
            downweights: vec![],
            span: 0..0,
        };
        h.flags.push(FlagDef {
            name: "no_dm".into(),
            when: expr(
                ExprKind::Presence {
                    present: false,
                    expr: Box::new(field_expr(dm, Type::Text)),
                },
                Type::Bool,
            ),
            because: None,
            span: 0..0,
        });
        p.hygiene = Some(h);
        let d = lint_code(&p, Code::UnusedEvidence);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].span, 5..15);
        assert_eq!(d[0].message, "evidence field `need` is never used");
        let _ = need;
    }

    #[test]
    fn line_item_evidence_read_through_a_quantifier_counts() {
        let mut p = policy();
        p.records[RecordKind::LineItem.index()]
            .fields
            .push(FieldDef {
                name: "approved_quote".into(),
                ty: Type::Bool,
                evidence: true,
                default: None,
                range: None,
                span: 0..1,
            });
        let q = expr(
            ExprKind::Quant {
                q: Quantifier::All,
                var: 0,
                list: Box::new(expr(
                    ExprKind::Builtin(Builtin::LineItems),
                    Type::List(Box::new(Type::Record(RecordKind::LineItem))),
                )),
                body: Box::new(expr(ExprKind::VarField { var: 0, slot: 0 }, Type::Bool)),
            },
            Type::Bool,
        );
        let mut r = registration();
        r.eligible.push(cond(q));
        p.registration = Some(r);
        assert!(lint_code(&p, Code::UnusedEvidence).is_empty());
    }
}
