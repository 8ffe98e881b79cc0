//! Unit tests: grammar rules on their own, literals, precedence and spans.

use pest::{consumes_to, parses_to, Parser as _};

use super::convert::expr_for_tests;
use super::{PolicyParser, Rule};
use crate::ast::*;
use crate::source::SourceFile;

/// Whether `rule` matches all of `input`.
fn matches_all(rule: Rule, input: &str) -> bool {
    PolicyParser::parse(rule, input)
        .ok()
        .and_then(|mut pairs| pairs.next())
        .is_some_and(|p| p.as_span().end() == input.len())
}

/// Parses a whole expression, or `None` if `input` is not exactly one expression.
fn parse_expr(input: &str) -> Option<Expr> {
    let pair = PolicyParser::parse(Rule::expr, input).ok()?.next()?;
    if pair.as_span().end() != input.len() {
        return None;
    }
    expr_for_tests(pair).ok()
}

/// A compact prefix rendering of an expression, to assert tree shapes.
fn sexpr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Lit(l) => match l {
            Literal::Bool(b) => b.to_string(),
            Literal::Integer(t) | Literal::Decimal(t) => t.clone(),
            Literal::Percent(t) => format!("{t}%"),
            Literal::Money { amount, currency } => format!("{amount}{currency}"),
            Literal::Duration {
                amount,
                unit,
                business,
            } => {
                format!("{amount}{unit:?}{}", if *business { "B" } else { "" })
            }
            Literal::Date(t) | Literal::DateTime(t) => t.clone(),
            Literal::Text(t) => format!("{t:?}"),
        },
        ExprKind::Path(p) => p
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join("."),
        ExprKind::List(items) => format!(
            "[{}]",
            items.iter().map(sexpr).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::Unary(UnOp::Not, x) => format!("(not {})", sexpr(x)),
        ExprKind::Unary(UnOp::Neg, x) => format!("(neg {})", sexpr(x)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.as_str(), sexpr(a), sexpr(b)),
        ExprKind::Presence { present, expr } => {
            format!(
                "({} {})",
                if *present { "present" } else { "missing" },
                sexpr(expr)
            )
        }
        ExprKind::Quant { q, var, list, body } => {
            format!("({q:?} {} {} {})", var.name, sexpr(list), sexpr(body))
        }
        ExprKind::Call { func, args } => {
            format!(
                "{}({})",
                func.name,
                args.iter().map(sexpr).collect::<Vec<_>>().join(" ")
            )
        }
        ExprKind::Paren(x) => format!("{{{}}}", sexpr(x)),
    }
}

fn tree(input: &str) -> String {
    parse_expr(input)
        .map(|e| sexpr(&e))
        .unwrap_or_else(|| format!("<no parse: {input}>"))
}

fn lit(input: &str) -> Literal {
    match parse_expr(input).map(|e| e.kind) {
        Some(ExprKind::Lit(l)) => l,
        other => panic!("{input}: not a literal: {other:?}"),
    }
}

#[test]
fn keyword_rules_need_a_word_boundary() {
    parses_to! {
        parser: PolicyParser,
        input: "when",
        rule: Rule::kw_when,
        tokens: [kw_when(0, 4)]
    };
    assert!(!matches_all(Rule::kw_when, "whenever"));
    assert!(matches_all(Rule::ident, "whenever"));
    assert!(matches_all(Rule::ident, "_private2"));
    for reserved in [
        "and", "or", "not", "in", "true", "false", "present", "missing", "when", "because",
    ] {
        assert!(
            !matches_all(Rule::ident, reserved),
            "{reserved} must be reserved"
        );
    }
    // `any` is an identifier unless a `(` follows.
    assert_eq!(tree("any"), "any");
    assert_eq!(tree("count"), "count");
}

#[test]
fn literal_tokens() {
    parses_to! {
        parser: PolicyParser,
        input: "250_000 USD",
        rule: Rule::money,
        tokens: [money(0, 11, [amount(0, 7), currency(8, 11)])]
    };
    assert!(matches_all(Rule::datetime, "2026-12-25T09:00:00Z"));
    assert!(matches_all(Rule::datetime, "2026-12-25T09:00:00.5+01:00"));
    assert!(!matches_all(Rule::datetime, "2026-12-25T09:00:00"));
    assert!(matches_all(Rule::date, "2026-02-31"));
    assert!(matches_all(Rule::number, "10_000"));
    assert!(!matches_all(Rule::number, "10_"));
    assert!(!matches_all(Rule::number, "10__0"));
    assert!(!matches_all(Rule::currency, "USDX"));
    assert!(matches_all(Rule::string, r#""a \"b\" \\ \n \t""#));
    assert!(!matches_all(Rule::string, r#""bad \q""#));
    assert!(!matches_all(Rule::string, "\"two\nlines\""));
    assert!(matches_all(Rule::time_of_day, "09:00"));
}

#[test]
fn literals_keep_their_text() {
    assert_eq!(lit("42"), Literal::Integer("42".into()));
    assert_eq!(lit("10_000"), Literal::Integer("10_000".into()));
    assert_eq!(lit("2.5"), Literal::Decimal("2.5".into()));
    assert_eq!(lit("15%"), Literal::Percent("15".into()));
    assert_eq!(lit("12.5%"), Literal::Percent("12.5".into()));
    assert_eq!(
        lit("250_000 USD"),
        Literal::Money {
            amount: "250_000".into(),
            currency: "USD".into()
        }
    );
    assert_eq!(
        lit("99.95\tEUR"),
        Literal::Money {
            amount: "99.95".into(),
            currency: "EUR".into()
        }
    );
    let dur = |amount: &str, unit, business| Literal::Duration {
        amount: amount.into(),
        unit,
        business,
    };
    assert_eq!(lit("90d"), dur("90", DurationUnit::Days, false));
    assert_eq!(lit("2w"), dur("2", DurationUnit::Weeks, false));
    assert_eq!(lit("24h"), dur("24", DurationUnit::Hours, false));
    assert_eq!(lit("30min"), dur("30", DurationUnit::Minutes, false));
    assert_eq!(
        lit("16 business hours"),
        dur("16", DurationUnit::Hours, true)
    );
    assert_eq!(lit("1 business hour"), dur("1", DurationUnit::Hours, true));
    assert_eq!(lit("2 business days"), dur("2", DurationUnit::Days, true));
    assert_eq!(lit("1 business day"), dur("1", DurationUnit::Days, true));
    assert_eq!(lit("2026-02-31"), Literal::Date("2026-02-31".into()));
    assert_eq!(
        lit("2026-12-25T09:00:00Z"),
        Literal::DateTime("2026-12-25T09:00:00Z".into())
    );
    assert_eq!(
        lit("2026-12-25T09:00:00-05:00"),
        Literal::DateTime("2026-12-25T09:00:00-05:00".into())
    );
    assert_eq!(
        lit(r#""say \"hi\"\n\tand \\""#),
        Literal::Text("say \"hi\"\n\tand \\".into())
    );
    assert_eq!(lit("true"), Literal::Bool(true));
    assert_eq!(lit("false"), Literal::Bool(false));
}

#[test]
fn lookalike_literals_are_not_literals() {
    // a lowercase word after a number is not a currency, and `90days` is no duration
    assert_eq!(parse_expr("10 usd"), None);
    assert_eq!(parse_expr("90days"), None);
    assert_eq!(parse_expr("90 days"), None);
    // money keeps its currency on the same line
    assert_eq!(parse_expr("10\nUSD"), None);
    // a spaced-out date is arithmetic
    assert_eq!(tree("2026 - 12 - 25"), "(- (- 2026 12) 25)");
}

#[test]
fn precedence_loosest_to_tightest() {
    assert_eq!(tree("a or b and c"), "(or a (and b c))");
    assert_eq!(tree("a and b or c"), "(or (and a b) c)");
    assert_eq!(tree("not a and b"), "(and (not a) b)");
    assert_eq!(tree("not a == b"), "(not (== a b))");
    assert_eq!(tree("not not a"), "(not (not a))");
    assert_eq!(
        tree("a + b * c < d - e / f"),
        "(< (+ a (* b c)) (- d (/ e f)))"
    );
    assert_eq!(tree("a - b - c"), "(- (- a b) c)");
    assert_eq!(tree("a / b * c"), "(* (/ a b) c)");
    assert_eq!(tree("-a * b"), "(* (neg a) b)");
    assert_eq!(tree("- -a"), "(neg (neg a))");
    assert_eq!(
        tree("present x and missing y.z"),
        "(and (present x) (missing y.z))"
    );
    assert_eq!(tree("missing x == false"), "(== (missing x) false)");
    assert_eq!(tree("-present x"), "(neg (present x))");
    assert_eq!(tree("(a or b) and c"), "(and {(or a b)} c)");
    assert_eq!(tree("a in [B, C]"), "(in a [B C])");
    assert_eq!(tree("a not in [B]"), "(not in a [B])");
    assert_eq!(tree("not a in b"), "(not (in a b))");
    assert_eq!(tree("x <= 10_000 USD + 5 USD"), "(<= x (+ 10_000USD 5USD))");
    assert_eq!(tree("stage.expected + 60d"), "(+ stage.expected 60Days)");
    assert_eq!(
        tree("days_between(today, close_date) < -14"),
        "(< days_between(today close_date) (neg 14))"
    );
    assert_eq!(
        tree("any(li in line_items: li.quantity > 10 and li.price > 0 USD)"),
        "(Any li line_items (and (> li.quantity 10) (> li.price 0USD)))"
    );
    assert_eq!(
        tree("sum(li in line_items: li.price * li.quantity)"),
        "(Sum li line_items (* li.price li.quantity))"
    );
    assert_eq!(
        tree("count(x in xs: true) >= 1"),
        "(>= (Count x xs true) 1)"
    );
    assert_eq!(tree("all(x in xs: present x)"), "(All x xs (present x))");
    assert_eq!(tree("len([])"), "len([])");
}

#[test]
fn comparisons_do_not_chain() {
    assert_eq!(parse_expr("a < b < c"), None);
    assert_eq!(parse_expr("a == b == c"), None);
    assert_eq!(tree("a < b and b < c"), "(and (< a b) (< b c))");
    assert_eq!(tree("(a < b) == c"), "(== {(< a b)} c)");
}

#[test]
fn malformed_expressions_fail() {
    for bad in [
        "",
        "a +",
        "a = b",
        "(a",
        "a)",
        "[a,,b]",
        "f (x)",
        "any (x in y: z)",
        "a.",
        "a..b",
        "not",
        "a && b",
    ] {
        assert_eq!(
            parse_expr(bad),
            None,
            "{bad:?} should not parse as one expression"
        );
    }
}

#[test]
fn expression_spans_cover_their_source() {
    let src = "not (a.b + 1) >= 2";
    let e = parse_expr(src).unwrap();
    assert_eq!(e.span, 0..src.len());
    let ExprKind::Unary(UnOp::Not, cmp) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(cmp.span, 4..18);
    let ExprKind::Binary(BinOp::Ge, lhs, rhs) = &cmp.kind else {
        panic!("{cmp:?}")
    };
    assert_eq!((lhs.span.clone(), rhs.span.clone()), (4..13, 17..18));
    let ExprKind::Paren(sum) = &lhs.kind else {
        panic!("{lhs:?}")
    };
    let ExprKind::Binary(BinOp::Add, path, _) = &sum.kind else {
        panic!("{sum:?}")
    };
    let ExprKind::Path(segments) = &path.kind else {
        panic!("{path:?}")
    };
    assert_eq!(
        segments.iter().map(|s| s.span.clone()).collect::<Vec<_>>(),
        vec![5..6, 7..8]
    );
}

#[test]
fn long_operator_chains_are_bounded() {
    let ok = vec!["a"; 200].join(" or ");
    assert!(parse_expr(&ok).is_some());
    let src = SourceFile::new(
        "t",
        format!("hygiene {{ flag f when {} }}", vec!["a"; 2000].join(" or ")),
    );
    let (ast, diags) = super::parse(&src);
    assert!(ast.is_none());
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].message, "this expression is too complex");
    let negs = format!("hygiene {{ flag f when {}x }}", "not ".repeat(5000));
    let (ast, diags) = super::parse(&SourceFile::new("t", negs));
    assert!(ast.is_none() && diags.len() == 1);
}

#[test]
fn deep_nesting_is_a_diagnostic_not_a_crash() {
    // at the limit: parses (in a debug build, on a test thread's stack)
    let depth = super::MAX_NESTING - 2;
    let ok = format!(
        "hygiene {{ flag f when {}a{} }}",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let (ast, diags) = super::parse(&SourceFile::new("t", ok));
    assert!(diags.is_empty(), "{diags:?}");
    assert!(ast.is_some());
    for open in ["(", "[", "{", "list<"] {
        let text = format!("hygiene {{ flag f when {}", open.repeat(100_000));
        let (ast, diags) = super::parse(&SourceFile::new("t", text));
        assert!(ast.is_none());
        assert_eq!(diags[0].message, "the policy is nested too deeply");
    }
}

#[test]
fn flow_and_record_shapes() {
    let src = SourceFile::new(
        "t",
        "record opportunity { a: list<text>?, b: enum { X, Y }  c: bool = not false }\n\
         flow { any -> Lost  A -> B -> C when x because \"y\" }",
    );
    let (ast, diags) = super::parse(&src);
    assert_eq!(diags, vec![]);
    let ast = ast.unwrap();
    let Item::Record(rec) = &ast.items[0] else {
        panic!()
    };
    let RecordMember::Field(a) = &rec.members[0] else {
        panic!()
    };
    let TypeKind::Optional(inner) = &a.ty.kind else {
        panic!("{a:?}")
    };
    assert!(
        matches!(&inner.kind, TypeKind::List(t) if matches!(&t.kind, TypeKind::Named(n) if n.name == "text"))
    );
    assert_eq!(&src.text[a.ty.span.clone()], "list<text>?");
    let RecordMember::Field(c) = &rec.members[2] else {
        panic!()
    };
    assert_eq!(c.default.as_ref().map(sexpr), Some("(not false)".into()));
    let Item::Flow(flow) = &ast.items[1] else {
        panic!()
    };
    assert!(matches!(flow.rules[0].chain[0], StageRef::Any(ref s) if *s == (84..87)));
    assert_eq!(flow.rules[1].chain.len(), 3);
    assert_eq!(
        flow.rules[1].because.as_ref().map(|b| b.node.as_str()),
        Some("y")
    );
}

#[test]
fn empty_and_comment_only_files_parse() {
    let (ast, diags) = super::parse(&SourceFile::new("t", ""));
    assert_eq!((ast.map(|a| a.items.len()), diags.len()), (Some(0), 0));
    let (ast, _) = super::parse(&SourceFile::new("t", "// just a note\n"));
    assert_eq!(ast.map(|a| a.comments.len()), Some(1));
}
