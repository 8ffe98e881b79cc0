//! Unit tests for the formatter on hand-built ASTs (the parser-driven property
//! tests live in `dsl/tests/fmt.rs`).

use crate::ast::*;

use super::format;

/// The span of the `nth` occurrence of `needle` in `src`.
fn at(src: &str, needle: &str, nth: usize) -> Span {
    let start = src.match_indices(needle).nth(nth).map(|(i, _)| i).unwrap();
    start..start + needle.len()
}

fn id(name: &str) -> Ident {
    Ident {
        name: name.to_string(),
        span: 0..0,
    }
}

fn id_at(src: &str, name: &str, nth: usize) -> Ident {
    Ident {
        name: name.to_string(),
        span: at(src, name, nth),
    }
}

fn e(kind: ExprKind) -> Expr {
    Expr { kind, span: 0..0 }
}

fn path(p: &str) -> Expr {
    e(ExprKind::Path(p.split('.').map(id).collect()))
}

fn int(n: &str) -> Expr {
    e(ExprKind::Lit(Literal::Integer(n.to_string())))
}

fn pct(n: &str) -> Expr {
    e(ExprKind::Lit(Literal::Percent(n.to_string())))
}

fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
    e(ExprKind::Binary(op, Box::new(l), Box::new(r)))
}

fn not(x: Expr) -> Expr {
    e(ExprKind::Unary(UnOp::Not, Box::new(x)))
}

fn paren(x: Expr) -> Expr {
    e(ExprKind::Paren(Box::new(x)))
}

fn dur(amount: &str, unit: DurationUnit, business: bool) -> Expr {
    e(ExprKind::Lit(Literal::Duration {
        amount: amount.to_string(),
        unit,
        business,
    }))
}

fn s(text: &str) -> Str {
    Spanned::new(text.to_string(), 0..0)
}

fn comments(src: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        if let Some(i) = line.find("//") {
            let text = line[i + 2..].trim_end_matches('\n').to_string();
            let start = offset + i;
            out.push(Comment {
                span: start..start + 2 + text.len(),
                text,
            });
        }
        offset += line.len();
    }
    out
}

fn stage_item(src: &str, props: Vec<StageProp>) -> Item {
    Item::Stage(Stage {
        kind: StageKind::Open,
        name: id_at(src, "Q", 0),
        label: Some(Spanned::new("Qual".to_string(), at(src, "\"Qual\"", 0))),
        props,
        span: at(src, "stage", 0).start..src.rfind('}').unwrap() + 1,
    })
}

#[test]
fn comments_land_before_next_node_trailing_or_before_close() {
    let src = "// lead\nstage Q \"Qual\" { // hdr\n    probability 15% // p\n// before forecast\n\t\tforecast pipeline\n\n\n  expected 21d\n        // end of stage\n} // after\n// eof\n";
    let props = vec![
        StageProp::Probability(Expr {
            span: at(src, "15%", 0),
            ..pct("15")
        }),
        StageProp::Forecast(id_at(src, "pipeline", 0)),
        StageProp::Expected(Expr {
            span: at(src, "21d", 0),
            ..dur("21", DurationUnit::Days, false)
        }),
    ];
    let policy = Policy {
        items: vec![stage_item(src, props)],
        comments: comments(src),
    };
    let expected = "// lead\nstage Q \"Qual\" { // hdr\n  probability 15% // p\n  // before forecast\n  forecast pipeline\n\n  expected 21d\n  // end of stage\n} // after\n\n// eof\n";
    assert_eq!(format(&policy, src), expected);
}

#[test]
fn comment_inside_a_one_line_node_moves_above_it() {
    let src = "stage Q \"Qual\" {\n  requires a, // first\n    b\n}\n";
    let req = Requirement {
        items: vec![path("a"), path("b")],
        because: None,
        span: at(src, "requires", 0).start..at(src, "b\n", 0).start + 1,
    };
    let policy = Policy {
        items: vec![stage_item(src, vec![StageProp::Requires(req)])],
        comments: comments(src),
    };
    assert_eq!(
        format(&policy, src),
        "stage Q \"Qual\" {\n  // first\n  requires a, b\n}\n"
    );
}

#[test]
fn span_running_on_over_a_trailing_comment_keeps_it_trailing() {
    // pest spans can include the whitespace and comments after an optional part
    let src = "stage Q \"Qual\" {\n  probability 15% // p\n  // next\n  forecast pipeline\n}\n";
    let leaky = at(src, "15%", 0).start..at(src, "forecast", 0).start;
    let props = vec![
        StageProp::Probability(Expr {
            span: leaky,
            ..pct("15")
        }),
        StageProp::Forecast(id_at(src, "pipeline", 0)),
    ];
    let policy = Policy {
        items: vec![stage_item(src, props)],
        comments: comments(src),
    };
    assert_eq!(format(&policy, src), src);
}

#[test]
fn long_requires_wraps_after_commas_with_because_on_its_own_line() {
    let items: Vec<Expr> = (0..8)
        .map(|i| path(&format!("evidence_field_number_{i}")))
        .collect();
    let req = Requirement {
        items,
        because: Some(s("needs \"all\" of it")),
        span: 0..0,
    };
    let policy = Policy {
        items: vec![Item::Stage(Stage {
            kind: StageKind::Won,
            name: id("Won"),
            label: None,
            props: vec![StageProp::Requires(req)],
            span: 0..0,
        })],
        comments: vec![],
    };
    let out = format(&policy, "");
    let expected = "won stage Won {\n  requires evidence_field_number_0, evidence_field_number_1, evidence_field_number_2,\n      evidence_field_number_3, evidence_field_number_4, evidence_field_number_5,\n      evidence_field_number_6, evidence_field_number_7\n      because \"needs \\\"all\\\" of it\"\n}\n";
    assert_eq!(out, expected);
    assert!(out.lines().all(|l| l.len() <= super::MAX_WIDTH));
}

#[test]
fn short_requires_with_long_because_keeps_items_on_one_line() {
    let req = Requirement {
        items: vec![path("a"), path("b")],
        because: Some(s(&"x".repeat(90))),
        span: 0..0,
    };
    let policy = Policy {
        items: vec![Item::Stage(Stage {
            kind: StageKind::Lost,
            name: id("L"),
            label: None,
            props: vec![StageProp::Requires(req)],
            span: 0..0,
        })],
        comments: vec![],
    };
    let out = format(&policy, "");
    assert_eq!(
        out,
        format!(
            "lost stage L {{\n  requires a, b\n      because \"{}\"\n}}\n",
            "x".repeat(90)
        )
    );
}

#[test]
fn expressions_print_canonically_and_add_parens_only_when_needed() {
    let cases: Vec<(Expr, &str)> = vec![
        (
            bin(
                BinOp::Add,
                path("a"),
                bin(BinOp::Mul, path("b"), int("10_000")),
            ),
            "a + b * 10_000",
        ),
        (
            bin(BinOp::Mul, bin(BinOp::Add, path("a"), path("b")), path("c")),
            "(a + b) * c",
        ),
        (
            bin(
                BinOp::Mul,
                paren(bin(BinOp::Add, path("a"), path("b"))),
                path("c"),
            ),
            "(a + b) * c",
        ),
        (
            bin(BinOp::Sub, path("a"), bin(BinOp::Sub, path("b"), path("c"))),
            "a - (b - c)",
        ),
        (
            bin(BinOp::Eq, bin(BinOp::Eq, path("a"), path("b")), path("c")),
            "(a == b) == c",
        ),
        (not(bin(BinOp::And, path("a"), path("b"))), "not (a and b)"),
        (
            not(bin(BinOp::Ge, path("stage"), path("Proposal"))),
            "not stage >= Proposal",
        ),
        (
            bin(BinOp::And, path("a"), not(not(path("b")))),
            "a and not not b",
        ),
        (bin(BinOp::Eq, not(path("a")), path("b")), "(not a) == b"),
        (
            e(ExprKind::Unary(
                UnOp::Neg,
                Box::new(bin(BinOp::Add, int("1"), int("2"))),
            )),
            "-(1 + 2)",
        ),
        (
            e(ExprKind::Unary(
                UnOp::Neg,
                Box::new(e(ExprKind::Unary(UnOp::Neg, Box::new(int("1"))))),
            )),
            "- -1",
        ),
        (
            e(ExprKind::Presence {
                present: false,
                expr: Box::new(bin(BinOp::Or, path("a"), path("b"))),
            }),
            "missing (a or b)",
        ),
        (
            bin(
                BinOp::NotIn,
                path("partner.tier"),
                e(ExprKind::List(vec![path("Gold"), path("Platinum")])),
            ),
            "partner.tier not in [Gold, Platinum]",
        ),
        (
            e(ExprKind::Quant {
                q: Quantifier::Count,
                var: id("li"),
                list: Box::new(path("line_items")),
                body: Box::new(bin(BinOp::Gt, path("li.quantity"), int("10"))),
            }),
            "count(li in line_items: li.quantity > 10)",
        ),
        (
            e(ExprKind::Call {
                func: id("days_between"),
                args: vec![path("a"), path("b")],
            }),
            "days_between(a, b)",
        ),
        (
            e(ExprKind::Lit(Literal::Money {
                amount: "250_000".into(),
                currency: "USD".into(),
            })),
            "250_000 USD",
        ),
        (e(ExprKind::Lit(Literal::Decimal("2.50".into()))), "2.50"),
        (
            e(ExprKind::Lit(Literal::Text("a \"q\" \\ \n\t".into()))),
            "\"a \\\"q\\\" \\\\ \\n\\t\"",
        ),
        (dur("30", DurationUnit::Minutes, false), "30min"),
        (dur("2", DurationUnit::Weeks, false), "2w"),
        (dur("1", DurationUnit::Hours, true), "1 business hour"),
        (dur("16", DurationUnit::Hours, true), "16 business hours"),
        (dur("2", DurationUnit::Days, true), "2 business days"),
    ];
    for (expr, expected) in cases {
        assert_eq!(super::expr::expr(&expr), expected);
    }
}

#[test]
fn every_item_kind_prints_in_canonical_layout() {
    let policy = Policy {
        items: vec![
            Item::Header(Header {
                name: s("P"),
                version: s("1"),
                settings: vec![
                    HeaderSetting::Currency(id("USD")),
                    HeaderSetting::Calendar(Calendar {
                        name: id("business"),
                        entries: vec![
                            CalendarEntry::Timezone(s("America/New_York")),
                            CalendarEntry::Hours {
                                first_day: id("mon"),
                                last_day: Some(id("fri")),
                                start: s("09:00"),
                                end: s("17:00"),
                                span: 0..0,
                            },
                            CalendarEntry::Holidays(vec![s("2026-12-25"), s("2027-01-01")]),
                        ],
                        span: 0..0,
                    }),
                ],
                span: 0..0,
            }),
            Item::Record(Record {
                name: id("opportunity"),
                members: vec![
                    RecordMember::Field(Field {
                        name: id("tags"),
                        ty: TypeExpr {
                            kind: TypeKind::Optional(Box::new(TypeExpr {
                                kind: TypeKind::List(Box::new(TypeExpr {
                                    kind: TypeKind::Named(id("text")),
                                    span: 0..0,
                                })),
                                span: 0..0,
                            })),
                            span: 0..0,
                        },
                        range: None,
                        default: None,
                        span: 0..0,
                    }),
                    RecordMember::Evidence {
                        fields: vec![Field {
                            name: id("fam"),
                            ty: TypeExpr {
                                kind: TypeKind::Enum(vec![id("A"), id("B")]),
                                span: 0..0,
                            },
                            range: None,
                            default: Some(path("A")),
                            span: 0..0,
                        }],
                        span: 0..0,
                    },
                ],
                span: 0..0,
            }),
            Item::Flow(Flow {
                rules: vec![FlowRule {
                    chain: vec![StageRef::Any(0..0), StageRef::Named(id("Lost"))],
                    guard: Some(path("x")),
                    because: Some(s("m")),
                    span: 0..0,
                }],
                span: 0..0,
            }),
            Item::Commission(Section {
                rules: vec![
                    CommissionRule::Rate(RateTable {
                        keys: vec![path("partner.tier"), path("item.product_family")],
                        mode: MatchMode::Unique,
                        rows: vec![RateRow {
                            patterns: vec![Pattern::Value(path("Gold")), Pattern::Wildcard(0..0)],
                            rate: pct("12.5"),
                            span: 0..0,
                        }],
                        span: 0..0,
                    }),
                    CommissionRule::Split {
                        when: Some(e(ExprKind::Presence {
                            present: true,
                            expr: Box::new(path("influencer")),
                        })),
                        shares: vec![
                            SplitShare {
                                role: id("registering"),
                                share: pct("70"),
                                span: 0..0,
                            },
                            SplitShare {
                                role: id("influencer"),
                                share: pct("30"),
                                span: 0..0,
                            },
                        ],
                        span: 0..0,
                    },
                ],
                span: 0..0,
            }),
            Item::Leads(Section {
                rules: vec![
                    LeadRule::Prefer {
                        keys: vec![
                            PreferKey {
                                expr: path("partner.tier"),
                                descending: true,
                            },
                            PreferKey {
                                expr: path("partner.win_rate"),
                                descending: false,
                            },
                        ],
                        span: 0..0,
                    },
                    LeadRule::Accept {
                        within: dur("48", DurationUnit::Hours, true),
                        reroute_at_most: Some(int("3")),
                        span: 0..0,
                    },
                ],
                span: 0..0,
            }),
        ],
        comments: vec![],
    };
    let expected = "\
policy \"P\" version \"1\" {
  currency USD
  calendar business {
    timezone \"America/New_York\"
    hours mon-fri 09:00-17:00
    holidays 2026-12-25, 2027-01-01
  }
}

record opportunity {
  tags: list<text>?
  evidence {
    fam: enum { A, B } = A
  }
}

flow {
  any -> Lost when x because \"m\"
}

commission {
  rate by (partner.tier, item.product_family) unique match {
    (Gold, _) 12.5%
  }
  split when present influencer { registering 70%, influencer 30% }
}

leads {
  prefer partner.tier desc, partner.win_rate
  accept within 48 business hours, reroute at most 3
}
";
    assert_eq!(format(&policy, ""), expected);
}

#[test]
fn bogus_spans_and_comments_never_panic_and_keep_every_comment() {
    let src = "x // é\n";
    let wild = [
        0..0,
        Span { start: 5, end: 2 },
        3..400,
        usize::MAX - 1..usize::MAX,
        1..2,
    ];
    for span in wild {
        let comments = vec![
            Comment {
                text: " b".into(),
                span: span.clone(),
            },
            Comment {
                text: " a\nwith newline".into(),
                span: 0..1,
            },
            Comment {
                text: " c".into(),
                span: Span {
                    start: 200,
                    end: 100,
                },
            },
        ];
        let policy = Policy {
            items: vec![
                Item::Flow(Flow {
                    rules: vec![FlowRule {
                        chain: vec![StageRef::Named(Ident {
                            name: "A".into(),
                            span: span.clone(),
                        })],
                        guard: None,
                        because: None,
                        span: span.clone(),
                    }],
                    span: span.clone(),
                }),
                Item::Hygiene(Section {
                    rules: vec![],
                    span: span.clone(),
                }),
            ],
            comments,
        };
        let out = format(&policy, src);
        assert_eq!(out.matches("//").count(), 3, "{out}");
        assert!(out.contains("// a with newline"));
        assert!(out.ends_with('\n') && !out.ends_with("\n\n"));
    }
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    fn span() -> impl Strategy<Value = Span> {
        (0usize..80, 0usize..80).prop_map(|(a, b)| a..b)
    }

    fn leaf_expr() -> impl Strategy<Value = Expr> {
        prop_oneof![
            "[a-z_]{0,6}".prop_map(|p| path(&p)),
            "[0-9_.]{0,5}".prop_map(|n| int(&n)),
            ".{0,6}".prop_map(|t| e(ExprKind::Lit(Literal::Text(t)))),
            Just(dur("1", DurationUnit::Weeks, true)),
        ]
    }

    fn any_expr() -> impl Strategy<Value = Expr> {
        leaf_expr().prop_recursive(5, 40, 4, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone(), 0usize..14).prop_map(|(l, r, op)| {
                    let ops = [
                        BinOp::Or,
                        BinOp::And,
                        BinOp::Eq,
                        BinOp::Ne,
                        BinOp::Lt,
                        BinOp::Le,
                        BinOp::Gt,
                        BinOp::Ge,
                        BinOp::In,
                        BinOp::NotIn,
                        BinOp::Add,
                        BinOp::Sub,
                        BinOp::Mul,
                        BinOp::Div,
                    ];
                    bin(ops[op % ops.len()], l, r)
                }),
                inner.clone().prop_map(not),
                inner.clone().prop_map(paren),
                inner
                    .clone()
                    .prop_map(|x| e(ExprKind::Unary(UnOp::Neg, Box::new(x)))),
                inner.clone().prop_map(|x| e(ExprKind::Presence {
                    present: true,
                    expr: Box::new(x)
                })),
                proptest::collection::vec(inner.clone(), 0..3).prop_map(|xs| e(ExprKind::List(xs))),
                (inner.clone(), inner).prop_map(|(l, b)| e(ExprKind::Quant {
                    q: Quantifier::Sum,
                    var: id("x"),
                    list: Box::new(l),
                    body: Box::new(b),
                })),
            ]
        })
    }

    proptest! {
        #[test]
        fn format_never_panics_and_prints_every_comment(
            exprs in proptest::collection::vec((any_expr(), span()), 0..6),
            comment_spans in proptest::collection::vec(span(), 0..6),
            source in ".{0,80}",
        ) {
            let rules = exprs
                .iter()
                .map(|(x, sp)| HygieneRule::Flag { name: id("f"), when: x.clone(), because: None, span: sp.clone() })
                .collect();
            let flow_rules = exprs
                .iter()
                .map(|(x, sp)| FlowRule {
                    chain: vec![StageRef::Any(sp.clone())],
                    guard: Some(x.clone()),
                    because: Some(s("m")),
                    span: sp.clone(),
                })
                .collect();
            let end = source.len();
            let comments: Vec<Comment> = comment_spans
                .iter()
                .enumerate()
                .map(|(i, sp)| Comment { text: format!(" c{i}"), span: sp.clone() })
                .collect();
            let policy = Policy {
                items: vec![
                    Item::Hygiene(Section { rules, span: 0..end }),
                    Item::Flow(Flow { rules: flow_rules, span: end / 2..end }),
                ],
                comments,
            };
            let out = format(&policy, &source);
            for i in 0..comment_spans.len() {
                let needle = format!("// c{i}");
                prop_assert_eq!(out.matches(needle.as_str()).count(), 1);
            }
            prop_assert!(out.ends_with('\n') && !out.ends_with("\n\n"));
        }
    }
}
