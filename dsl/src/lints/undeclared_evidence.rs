//! W301 `undeclared-evidence`.
//!
//! ## What it does
//! Flags a stage `requires` item that names a field declared as an ordinary record
//! field rather than inside the record's `evidence { }` block.
//!
//! ## Why is this bad?
//! Stage requirements are the qualification proof a partner must supply to advance a
//! deal. Evidence fields are what the engine reports as missing ("provide
//! decision_maker and timeline") and what the hygiene and explanation tooling treats as
//! proof. A requirement on an ordinary field still gates the stage, but it reads as
//! evidence while not being declared as such, which usually means the field was put in
//! the wrong block.
//!
//! ## Example
//! ```text
//! record opportunity {
//!   budget_process: bool
//!   evidence { decision_maker: text }
//! }
//! stage Qualification { probability 15% forecast pipeline
//!   requires budget_process, decision_maker }
//! ```
//! Use instead: move `budget_process: bool` into `evidence { }`.

use crate::diagnostics::{Code, Diagnostic};
use crate::lints::{LintContext, LintRule};

/// W301: a stage requires a field that is not declared as evidence.
pub struct UndeclaredEvidence;

impl LintRule for UndeclaredEvidence {
    fn code(&self) -> Code {
        Code::UndeclaredEvidence
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Diagnostic>) {
        // The checker records a requirement written as a bare opportunity field name
        // (`requires budget_process`) as `evidence: Some(field)`, whether or not the
        // field is declared as evidence; any other item is a plain condition.
        for stage in &cx.ir.stages {
            for item in stage.requires.iter().flat_map(|r| &r.items) {
                let Some(r) = item.evidence else { continue };
                let Some(field) = cx.field(r) else { continue };
                if field.evidence {
                    continue;
                }
                let record = r.record.name();
                out.push(
                    Diagnostic::new(
                        self.code(),
                        item.span.clone(),
                        format!(
                            "stage `{}` requires `{}`, which is not declared as evidence",
                            stage.name, field.name
                        ),
                    )
                    .label("required here")
                    .related(field.span.clone(), "declared as an ordinary field")
                    .help(format!(
                        "move `{}` into the `evidence {{ }}` block of record `{record}`",
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

    fn requiring(evidence_field: bool) -> Policy {
        let mut p = policy();
        let slot = add_field(&mut p, "budget_process", Type::Bool, evidence_field, 10..30);
        let mut s = stage("Qualification", StageKind::Open, None);
        s.requires.push(Requirement {
            items: vec![RequireItem {
                expr: field_expr(slot, Type::Bool),
                evidence: Some(FieldRef {
                    record: RecordKind::Opportunity,
                    slot,
                }),
                span: 40..54,
            }],
            because: None,
            span: 31..54,
        });
        p.stages.push(s);
        p
    }

    #[test]
    fn flags_a_required_ordinary_field() {
        let d = lint_code(&requiring(false), Code::UndeclaredEvidence);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].span, 40..54);
        assert_eq!(d[0].related[0].span, 10..30);
        assert_eq!(
            d[0].message,
            "stage `Qualification` requires `budget_process`, which is not declared as evidence"
        );
    }

    #[test]
    fn accepts_a_required_evidence_field() {
        assert!(lint_code(&requiring(true), Code::UndeclaredEvidence).is_empty());
    }
}
