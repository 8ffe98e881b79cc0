//! Unit tests for the checker over hand-built ASTs (independent of the parser). Most
//! behaviour is tested over policy text in `dsl/tests/check.rs`.

use super::check;
use crate::ast::*;
use crate::diagnostics::Code;
use crate::ir::{self, StageId};
use crate::source::SourceFile;

/// Builds AST nodes whose spans point at successive occurrences of text in `src`.
struct B<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> B<'s> {
    fn new(src: &'s str) -> Self {
        Self { src, pos: 0 }
    }

    /// The span of the next occurrence of `needle` (moves the cursor past it).
    fn at(&mut self, needle: &str) -> Span {
        let start = self.pos + self.src[self.pos..].find(needle).unwrap();
        self.pos = start + needle.len();
        start..self.pos
    }

    fn id(&mut self, name: &str) -> Ident {
        Ident {
            name: name.into(),
            span: self.at(name),
        }
    }

    fn path(&mut self, name: &str) -> Expr {
        let span = self.at(name);
        Expr {
            kind: ExprKind::Path(vec![Ident {
                name: name.into(),
                span: span.clone(),
            }]),
            span,
        }
    }

    fn lit(&mut self, text: &str, lit: Literal) -> Expr {
        Expr {
            kind: ExprKind::Lit(lit),
            span: self.at(text),
        }
    }

    fn percent(&mut self, n: &str) -> Expr {
        self.lit(&format!("{n}%"), Literal::Percent(n.into()))
    }

    fn header(&mut self, currency: &str) -> Item {
        let start = self.at("policy").start;
        let name = Spanned::new("P".to_string(), self.at("\"P\""));
        let version = Spanned::new("1".to_string(), self.at("\"1\""));
        let cur = self.id(currency);
        let end = self.at("}").end;
        Item::Header(Header {
            name,
            version,
            settings: vec![HeaderSetting::Currency(cur)],
            span: start..end,
        })
    }

    fn stage(&mut self, kind: StageKind, name: &str, prob: &str) -> Item {
        let start = self.at("stage").start;
        let name = self.id(name);
        let p = self.percent(prob);
        let end = self.at("}").end;
        Item::Stage(Stage {
            kind,
            name,
            label: None,
            props: vec![StageProp::Probability(p)],
            span: start..end,
        })
    }
}

const SRC: &str = "policy \"P\" version \"1\" { currency USD }
record opportunity { amount: money }
stage A { probability 10% }
won stage W { probability 100% }
flow { A -> W when amount > 10 }
";

/// The AST of [`SRC`], with the guard's right operand given by `rhs`.
fn policy(b: &mut B<'_>, rhs: impl FnOnce(&mut B<'_>) -> Expr) -> Policy {
    let header = b.header("USD");
    let rec_start = b.at("record").start;
    let rec_name = b.id("opportunity");
    let field_name = b.id("amount");
    let ty_name = b.id("money");
    let field = Field {
        name: field_name.clone(),
        ty: TypeExpr {
            kind: TypeKind::Named(ty_name.clone()),
            span: ty_name.span.clone(),
        },
        range: None,
        default: None,
        span: field_name.span.start..ty_name.span.end,
    };
    let rec_end = b.at("}").end;
    let record = Item::Record(Record {
        name: rec_name,
        members: vec![RecordMember::Field(field)],
        span: rec_start..rec_end,
    });
    let a = b.stage(StageKind::Open, "A", "10");
    let w = b.stage(StageKind::Won, "W", "100");
    let flow_start = b.at("flow").start;
    let from = b.id("A");
    let to = b.id("W");
    let lhs = b.path("amount");
    let r = rhs(b);
    let guard = Expr {
        span: lhs.span.start..r.span.end,
        kind: ExprKind::Binary(BinOp::Gt, Box::new(lhs), Box::new(r)),
    };
    let rule_span = from.span.start..guard.span.end;
    let flow_end = b.at("}").end;
    let flow = Item::Flow(Flow {
        rules: vec![FlowRule {
            chain: vec![StageRef::Named(from), StageRef::Named(to)],
            guard: Some(guard),
            because: None,
            span: rule_span,
        }],
        span: flow_start..flow_end,
    });
    Policy {
        items: vec![header, record, a, w, flow],
        comments: Vec::new(),
    }
}

#[test]
fn builds_ir_from_a_hand_made_ast() {
    let src = SRC.replace("amount > 10 }", "amount > 10 USD }");
    let mut b = B::new(&src);
    let ast = policy(&mut b, |b| {
        b.lit(
            "10 USD",
            Literal::Money {
                amount: "10".into(),
                currency: "USD".into(),
            },
        )
    });
    let (ir, diags) = check(&ast, &SourceFile::new("p", src.as_str()));
    assert!(diags.is_empty(), "{diags:#?}");
    let ir = ir.unwrap();
    assert_eq!(ir.name, "P");
    assert_eq!(ir.stages.len(), 2);
    assert_eq!(ir.stage_by_name("W"), Some(StageId(1)));
    let t = &ir.transitions[0];
    assert_eq!((t.from, t.to), (Some(StageId(0)), StageId(1)));
    let guard = t.guard.as_ref().unwrap();
    assert_eq!(guard.ty, ir::Type::Bool);
    assert_eq!(&src[t.span.clone()], "A -> W");
    let ir::ExprKind::Binary(_, _, rhs) = &guard.kind else {
        panic!()
    };
    assert_eq!(
        rhs.kind,
        ir::ExprKind::Const(ir::Const::Money(rust_decimal::Decimal::TEN))
    );
}

#[test]
fn money_compared_with_integer_blames_the_literal() {
    let mut b = B::new(SRC);
    let ast = policy(&mut b, |b| b.lit("10", Literal::Integer("10".into())));
    let (ir, diags) = check(&ast, &SourceFile::new("p", SRC));
    assert!(ir.is_none());
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert_eq!(d.code, Code::TypeMismatch);
    assert_eq!(&SRC[d.span.clone()], "10");
    assert_eq!(d.message, "cannot compare `money` with `integer`");
    assert_eq!(
        d.help.as_deref(),
        Some("write the amount with its currency, like `10_000 USD`")
    );
    assert_eq!(&SRC[d.related[0].span.clone()], "amount");
}

#[test]
fn duplicate_stage_points_at_the_first() {
    let src = "policy \"P\" version \"1\" { currency USD }\nstage A { probability 10% }\nstage A { probability 20% }\n";
    let mut b = B::new(src);
    let items = vec![
        b.header("USD"),
        b.stage(StageKind::Open, "A", "10"),
        b.stage(StageKind::Open, "A", "20"),
    ];
    let (_, diags) = check(
        &Policy {
            items,
            comments: Vec::new(),
        },
        &SourceFile::new("p", src),
    );
    let dup = diags
        .iter()
        .find(|d| d.code == Code::DuplicateDeclaration)
        .unwrap();
    assert_eq!(dup.span.start, src.rfind("A {").unwrap());
    assert_eq!(dup.related[0].span.start, src.find("A {").unwrap());
    // Without won/lost stages the graph check also fires (E203).
    assert!(diags.iter().any(|d| d.code == Code::NoTerminalStage));
}

#[test]
fn empty_policy_reports_missing_header_and_terminal() {
    let (ir, diags) = check(
        &Policy {
            items: Vec::new(),
            comments: Vec::new(),
        },
        &SourceFile::new("p", ""),
    );
    assert!(ir.is_none());
    let codes: Vec<Code> = diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::MalformedDeclaration, Code::NoTerminalStage]);
    assert!(diags.iter().all(|d| d.span == (0..0)));
}

#[test]
fn suggestions_over_growing_lists_stop_when_the_budget_is_spent() {
    let src = SourceFile::new("t.policy", "");
    let cx = super::Checker::new(&src);
    let names: Vec<String> = (0..1000).map(|i| format!("stage_{i}")).collect();
    let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
    // Each lookup pays one comparison per candidate: the budget allows this many.
    let affordable = super::SUGGEST_BUDGET / candidates.len();
    let mut suggested = 0;
    for _ in 0..affordable + 50 {
        if cx.did_you_mean_in("stage_1x", &candidates).is_some() {
            suggested += 1;
        }
    }
    assert_eq!(suggested, affordable, "then no more comparisons are made");
    // A short list still fits in what is left.
    assert!(cx.did_you_mean_in("Gold", &[]).is_none());
    let left = cx.suggest_budget.get();
    assert!(left < candidates.len());
}
