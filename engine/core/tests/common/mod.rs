//! A small policy, as text and as a hand-built checked IR (spans point into the text),
//! so engine tests do not depend on the parser and checker.
#![allow(
    dead_code,
    clippy::panic,
    clippy::unwrap_used,
    reason = "test fixture: each test binary uses a different part"
)]

use chrono::{NaiveDate, NaiveTime};
use dealflow_dsl::ir::*;
use dealflow_dsl::SourceFile;
use dealflow_engine::Policy;
use rust_decimal::Decimal;

pub const MINI: &str = r#"policy "Mini" version "1" {
  currency USD
  calendar business {
    timezone "America/New_York"
    hours mon-fri 09:00-17:00
    holidays 2026-11-26
  }
}
record opportunity {
  amount: money
  product_family: enum { Core, Security }
  strategic: bool = false
  influencer: text?
  evidence {
    decision_maker: text
    po_number: text
  }
}
record partner {
  tier: enum { Silver, Gold }
  territories: list<text>
}
record account {
  owner: enum { direct, channel }
}
record line_item {
  product: text
  quantity: integer
  price: money
}
record lead {
  region: text
}
stage Open { probability 10% forecast pipeline expected 10d }
stage Qualified { probability 30% forecast pipeline expected 20d
  requires decision_maker because "name the decision maker" }
stage Proposal { probability 60% forecast best_case expected 30d }
won stage Won { probability 100% forecast closed requires po_number }
lost stage Lost { probability 0% forecast omitted }
flow {
  Open -> Qualified -> Proposal -> Won
  Open -> Proposal when amount < 10_000 USD because "small deals may skip"
  any -> Lost
}
registration {
  open from Qualified
  eligible when partner.tier >= Silver because "silver or better"
  duplicate when same account, product_family within 90d
  conflict when account.owner == direct reject "direct account"
  conflict when other partner holds protected registration on account, product_family reject "already protected"
  auto approve when partner.tier == Gold and amount <= 250_000 USD
  review by channel_ops within 24 business hours
  escalate to channel_director after 16 business hours
  protect 90d
  late when stage >= Proposal
  discount 10% when approved
}
cosell {
  pool presales "Presales" capacity 2 per week
  assign presales when amount >= 50_000 USD priority amount * probability
  never when not registration.approved because "registered deals only"
}
commission {
  attribute when registration.approved_before_close because "approved before close"
  rate by (partner.tier) first match {
    (Gold) 10%
    (_) 5%
  }
  rebate cosell_bonus 2% when cosell.supported
  split when present influencer { registering 70%, influencer 30% }
}
hygiene {
  flag stale when days_in_stage > 2 * stage.expected because "stale"
  flag pushed when close_date_changes >= 2
  exclude from forecast when stale and pushed
  downweight 50% when pushed
}
leads {
  route when lead.region in partner.territories because "covers the region"
  prefer partner.tier desc
  accept within 2 business days, reroute at most 3
  convert to Qualified
}
"#;

fn sp(needle: &str) -> Span {
    let i = MINI
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in MINI"));
    i..i + needle.len()
}

fn e(kind: ExprKind, ty: Type, needle: &str) -> Expr {
    Expr {
        kind,
        ty,
        span: sp(needle),
    }
}

fn field(record: RecordKind, slot: u32, ty: Type, needle: &str) -> Expr {
    e(ExprKind::Field { record, slot }, ty, needle)
}

fn bin(op: BinOp, a: Expr, b: Expr, ty: Type, needle: &str) -> Expr {
    e(ExprKind::Binary(op, Box::new(a), Box::new(b)), ty, needle)
}

fn konst(c: Const, ty: Type, needle: &str) -> Expr {
    e(ExprKind::Const(c), ty, needle)
}

fn builtin(b: Builtin, ty: Type, needle: &str) -> Expr {
    e(ExprKind::Builtin(b), ty, needle)
}

fn usd(n: i64) -> Const {
    Const::Money(Decimal::from(n))
}

fn pct(n: i64) -> Decimal {
    Decimal::new(n, 2)
}

const DAY: i64 = 86_400;

fn fd(name: &str, ty: Type, evidence: bool, default: Option<Const>) -> FieldDef {
    FieldDef {
        name: name.into(),
        ty,
        evidence,
        default,
        range: None,
        span: sp(&format!("{name}:")),
    }
}

fn stage(
    name: &str,
    kind: StageKind,
    p: i64,
    f: Forecast,
    expected: Option<i64>,
    requires: Vec<Requirement>,
) -> StageDef {
    let needle = match kind {
        StageKind::Open => format!("stage {name} "),
        StageKind::Won => format!("won stage {name}"),
        StageKind::Lost => format!("lost stage {name}"),
    };
    StageDef {
        name: name.into(),
        label: None,
        kind,
        probability: pct(p),
        forecast: f,
        expected,
        requires,
        span: sp(&needle),
    }
}

const PRODUCT: EnumId = EnumId(2);
const TIER: EnumId = EnumId(3);
const OWNER: EnumId = EnumId(4);

/// The hand-built checked IR of [`MINI`].
pub fn mini_ir() -> Policy_ {
    use RecordKind::*;
    let money = Type::Money;
    let enums = EnumDef::builtins()
        .into_iter()
        .chain([
            EnumDef {
                name: "product_family".into(),
                variants: vec!["Core".into(), "Security".into()],
                span: sp("enum { Core, Security }"),
            },
            EnumDef {
                name: "tier".into(),
                variants: vec!["Silver".into(), "Gold".into()],
                span: sp("enum { Silver, Gold }"),
            },
            EnumDef {
                name: "owner".into(),
                variants: vec!["direct".into(), "channel".into()],
                span: sp("enum { direct, channel }"),
            },
        ])
        .collect::<Vec<_>>();
    let records = vec![
        RecordSchema {
            kind: Opportunity,
            fields: vec![
                fd("amount", money.clone(), false, None),
                fd("product_family", Type::Enum(PRODUCT), false, None),
                fd("strategic", Type::Bool, false, Some(Const::Bool(false))),
                fd(
                    "influencer",
                    Type::Optional(Box::new(Type::Text)),
                    false,
                    None,
                ),
                fd("decision_maker", Type::Text, true, None),
                fd("po_number", Type::Text, true, None),
            ],
            span: Some(sp("record opportunity")),
        },
        RecordSchema {
            kind: Partner,
            fields: vec![
                fd("tier", Type::Enum(TIER), false, None),
                fd("territories", Type::List(Box::new(Type::Text)), false, None),
            ],
            span: Some(sp("record partner")),
        },
        RecordSchema {
            kind: Account,
            fields: vec![fd("owner", Type::Enum(OWNER), false, None)],
            span: Some(sp("record account")),
        },
        RecordSchema {
            kind: LineItem,
            fields: vec![
                fd("product", Type::Text, false, None),
                fd("quantity", Type::Integer, false, None),
                fd("price", money.clone(), false, None),
            ],
            span: Some(sp("record line_item")),
        },
        RecordSchema {
            kind: Lead,
            fields: vec![fd("region", Type::Text, false, None)],
            span: Some(sp("record lead")),
        },
    ];
    let presence = |slot: u32, needle: &str| {
        e(
            ExprKind::Presence {
                present: true,
                expr: Box::new(field(Opportunity, slot, Type::Text, needle)),
            },
            Type::Bool,
            needle,
        )
    };
    let req_dm = Requirement {
        items: vec![RequireItem {
            expr: presence(4, "decision_maker because"),
            evidence: Some(FieldRef {
                record: Opportunity,
                slot: 4,
            }),
            span: {
                let s = sp("decision_maker because");
                s.start..s.start + "decision_maker".len()
            },
        }],
        because: Some("name the decision maker".into()),
        span: sp("requires decision_maker because \"name the decision maker\""),
    };
    let req_po = Requirement {
        items: vec![RequireItem {
            expr: presence(5, "po_number }"),
            evidence: Some(FieldRef {
                record: Opportunity,
                slot: 5,
            }),
            span: {
                let s = sp("po_number }");
                s.start..s.start + "po_number".len()
            },
        }],
        because: None,
        span: sp("requires po_number"),
    };
    let stages = vec![
        stage(
            "Open",
            StageKind::Open,
            10,
            Forecast::Pipeline,
            Some(10 * DAY),
            vec![],
        ),
        stage(
            "Qualified",
            StageKind::Open,
            30,
            Forecast::Pipeline,
            Some(20 * DAY),
            vec![req_dm],
        ),
        stage(
            "Proposal",
            StageKind::Open,
            60,
            Forecast::BestCase,
            Some(30 * DAY),
            vec![],
        ),
        stage(
            "Won",
            StageKind::Won,
            100,
            Forecast::Closed,
            None,
            vec![req_po],
        ),
        stage("Lost", StageKind::Lost, 0, Forecast::Omitted, None, vec![]),
    ];
    let chain = sp("Open -> Qualified -> Proposal -> Won");
    let t = |from: Option<u32>, to: u32, guard: Option<Expr>, because: Option<&str>, span: Span| {
        Transition {
            from: from.map(StageId),
            to: StageId(to),
            guard,
            because: because.map(String::from),
            span,
        }
    };
    let amount = |needle: &str| field(Opportunity, 0, Type::Money, needle);
    let small = bin(
        BinOp::Lt,
        amount("amount < 10_000"),
        konst(usd(10_000), Type::Money, "10_000 USD"),
        Type::Bool,
        "amount < 10_000 USD",
    );
    let transitions = vec![
        t(Some(0), 1, None, None, chain.clone()),
        t(Some(1), 2, None, None, chain.clone()),
        t(Some(2), 3, None, None, chain.clone()),
        t(
            Some(0),
            2,
            Some(small),
            Some("small deals may skip"),
            sp("Open -> Proposal when"),
        ),
        t(None, 4, None, None, sp("any -> Lost")),
    ];
    let tier = |needle: &str| field(Partner, 0, Type::Enum(TIER), needle);
    let acct = || {
        e(
            ExprKind::Field {
                record: Account,
                slot: 0,
            },
            Type::Record(Account),
            "account, product_family within",
        )
    };
    let family = |needle: &str| field(Opportunity, 1, Type::Enum(PRODUCT), needle);
    let registration = Registration {
        open_from: Some((StageId(1), sp("open from Qualified"))),
        eligible: vec![Cond {
            expr: bin(BinOp::Ge, tier("partner.tier >= Silver"), konst(Const::Enum { id: TIER, index: 0 }, Type::Enum(TIER), "Silver because"), Type::Bool, "partner.tier >= Silver"),
            because: Some("silver or better".into()),
            span: sp("eligible when partner.tier >= Silver because \"silver or better\""),
        }],
        duplicate: Some(Duplicate {
            keys: vec![acct(), family("product_family within")],
            within: Dur { seconds: 90 * DAY, business: false },
            span: sp("duplicate when same account, product_family within 90d"),
        }),
        conflicts: vec![
            Conflict {
                kind: ConflictKind::When(bin(
                    BinOp::Eq,
                    field(Account, 0, Type::Enum(OWNER), "account.owner"),
                    konst(Const::Enum { id: OWNER, index: 0 }, Type::Enum(OWNER), "direct reject"),
                    Type::Bool,
                    "account.owner == direct",
                )),
                reject: Some("direct account".into()),
                span: sp("conflict when account.owner == direct reject \"direct account\""),
            },
            Conflict {
                kind: ConflictKind::OtherProtected {
                    keys: vec![
                        e(ExprKind::Field { record: Account, slot: 0 }, Type::Record(Account), "account, product_family reject"),
                        family("product_family reject"),
                    ],
                },
                reject: Some("already protected".into()),
                span: sp("conflict when other partner holds protected registration on account, product_family reject \"already protected\""),
            },
        ],
        auto_approve: vec![Cond {
            expr: bin(
                BinOp::And,
                bin(BinOp::Eq, tier("partner.tier == Gold"), konst(Const::Enum { id: TIER, index: 1 }, Type::Enum(TIER), "Gold and"), Type::Bool, "partner.tier == Gold"),
                bin(BinOp::Le, amount("amount <= 250_000"), konst(usd(250_000), Type::Money, "250_000 USD"), Type::Bool, "amount <= 250_000 USD"),
                Type::Bool,
                "partner.tier == Gold and amount <= 250_000 USD",
            ),
            because: None,
            span: sp("auto approve when partner.tier == Gold and amount <= 250_000 USD"),
        }],
        review: Some(Review { queue: "channel_ops".into(), within: Dur { seconds: 24 * 3600, business: true }, span: sp("review by channel_ops within 24 business hours") }),
        escalations: vec![Escalation { to: "channel_director".into(), after: Dur { seconds: 16 * 3600, business: true }, span: sp("escalate to channel_director after 16 business hours") }],
        protect: Some((Dur { seconds: 90 * DAY, business: false }, sp("protect 90d"))),
        extend: None,
        late: vec![Cond {
            expr: bin(BinOp::Ge, builtin(Builtin::Stage, Type::Stage, "stage >= Proposal"), konst(Const::Stage(StageId(2)), Type::Stage, "Proposal\n  discount"), Type::Bool, "stage >= Proposal"),
            because: None,
            span: sp("late when stage >= Proposal"),
        }],
        discounts: vec![Discount { rate: pct(10), when: Some(builtin(Builtin::Approved, Type::Bool, "approved\n}")), span: sp("discount 10% when approved") }],
        span: sp("registration {"),
    };
    let cosell = Cosell {
        pools: vec![Pool {
            name: "presales".into(),
            label: Some("Presales".into()),
            capacity: 2,
            per: Period::Week,
            span: sp("pool presales"),
        }],
        assigns: vec![Assign {
            pool: PoolId(0),
            when: bin(
                BinOp::Ge,
                amount("amount >= 50_000"),
                konst(usd(50_000), Type::Money, "50_000 USD"),
                Type::Bool,
                "amount >= 50_000 USD",
            ),
            priority: Some(bin(
                BinOp::Mul,
                amount("amount * probability"),
                builtin(Builtin::Probability, Type::Percent, "probability\n"),
                Type::Money,
                "amount * probability",
            )),
            span: sp("assign presales when"),
        }],
        nevers: vec![Never {
            pool: None,
            when: e(
                ExprKind::Unary(
                    UnOp::Not,
                    Box::new(builtin(
                        Builtin::RegistrationApproved,
                        Type::Bool,
                        "registration.approved because",
                    )),
                ),
                Type::Bool,
                "not registration.approved",
            ),
            because: Some("registered deals only".into()),
            span: sp("never when not registration.approved"),
        }],
        span: sp("cosell {"),
    };
    let commission = Commission {
        attribute: vec![Cond {
            expr: builtin(
                Builtin::RegistrationApprovedBeforeClose,
                Type::Bool,
                "registration.approved_before_close",
            ),
            because: Some("approved before close".into()),
            span: sp("attribute when registration.approved_before_close"),
        }],
        rate: Some(RateTable {
            keys: vec![tier("partner.tier) first match")],
            mode: MatchMode::First,
            rows: vec![
                RateRow {
                    patterns: vec![Some(vec![Const::Enum { id: TIER, index: 1 }])],
                    rate: pct(10),
                    span: sp("(Gold) 10%"),
                },
                RateRow {
                    patterns: vec![None],
                    rate: pct(5),
                    span: sp("(_) 5%"),
                },
            ],
            span: sp("rate by (partner.tier)"),
        }),
        rebates: vec![Rebate {
            name: "cosell_bonus".into(),
            rate: pct(2),
            when: builtin(Builtin::CosellSupported, Type::Bool, "cosell.supported"),
            span: sp("rebate cosell_bonus"),
        }],
        splits: vec![Split {
            when: Some(e(
                ExprKind::Presence {
                    present: true,
                    expr: Box::new(field(
                        Opportunity,
                        3,
                        Type::Optional(Box::new(Type::Text)),
                        "influencer {",
                    )),
                },
                Type::Bool,
                "present influencer",
            )),
            shares: vec![
                Share {
                    role: SplitRole::Registering,
                    share: pct(70),
                    span: sp("registering 70%"),
                },
                Share {
                    role: SplitRole::Field {
                        name: "influencer".into(),
                        slot: 3,
                    },
                    share: pct(30),
                    span: sp("influencer 30%"),
                },
            ],
            span: sp("split when present influencer"),
        }],
        span: sp("commission {"),
    };
    let hygiene = Hygiene {
        flags: vec![
            FlagDef {
                name: "stale".into(),
                when: bin(
                    BinOp::Gt,
                    builtin(Builtin::DaysInStage, Type::Duration, "days_in_stage >"),
                    bin(
                        BinOp::Mul,
                        konst(Const::Integer(2), Type::Integer, "2 * stage"),
                        builtin(Builtin::StageExpected, Type::Duration, "stage.expected"),
                        Type::Duration,
                        "2 * stage.expected",
                    ),
                    Type::Bool,
                    "days_in_stage > 2 * stage.expected",
                ),
                because: Some("stale".into()),
                span: sp("flag stale"),
            },
            FlagDef {
                name: "pushed".into(),
                when: bin(
                    BinOp::Ge,
                    builtin(
                        Builtin::CloseDateChanges,
                        Type::Integer,
                        "close_date_changes",
                    ),
                    konst(Const::Integer(2), Type::Integer, "2\n  exclude"),
                    Type::Bool,
                    "close_date_changes >= 2",
                ),
                because: None,
                span: sp("flag pushed"),
            },
        ],
        excludes: vec![Cond {
            expr: bin(
                BinOp::And,
                e(ExprKind::Flag(0), Type::Bool, "stale and"),
                e(ExprKind::Flag(1), Type::Bool, "pushed\n  downweight"),
                Type::Bool,
                "stale and pushed",
            ),
            because: None,
            span: sp("exclude from forecast when stale and pushed"),
        }],
        downweights: vec![Downweight {
            factor: pct(50),
            when: e(ExprKind::Flag(1), Type::Bool, "pushed\n}"),
            span: sp("downweight 50% when pushed"),
        }],
        span: sp("hygiene {"),
    };
    let leads = Leads {
        routes: vec![Cond {
            expr: bin(
                BinOp::In,
                field(Lead, 0, Type::Text, "lead.region"),
                field(
                    Partner,
                    1,
                    Type::List(Box::new(Type::Text)),
                    "partner.territories",
                ),
                Type::Bool,
                "lead.region in partner.territories",
            ),
            because: Some("covers the region".into()),
            span: sp("route when lead.region in partner.territories because \"covers the region\""),
        }],
        prefer: vec![(tier("partner.tier desc"), true)],
        prefer_span: Some(sp("prefer partner.tier desc")),
        accept: Some(Accept {
            within: Dur {
                seconds: 16 * 3600,
                business: true,
            },
            reroute_at_most: Some(3),
            span: sp("accept within 2 business days, reroute at most 3"),
        }),
        convert: Some(Convert {
            to: StageId(1),
            when: None,
            span: sp("convert to Qualified"),
        }),
        span: sp("leads {"),
    };
    Policy_ {
        name: "Mini".into(),
        version: "1".into(),
        currency: "USD".into(),
        calendar: Some(Calendar {
            name: "business".into(),
            timezone: "America/New_York".into(),
            working_days: [true, true, true, true, true, false, false],
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            holidays: vec![NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()],
            span: sp("calendar business"),
        }),
        enums,
        records,
        stages,
        transitions,
        registration: Some(registration),
        cosell: Some(cosell),
        commission: Some(commission),
        hygiene: Some(hygiene),
        leads: Some(leads),
    }
}

pub type Policy_ = dealflow_dsl::ir::Policy;

/// The engine policy compiled from the hand-built IR.
pub fn mini() -> Policy {
    let src = SourceFile::new("mini.policy", MINI);
    Policy::from_ir(mini_ir(), &src)
}

pub fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-11-27T15:00:00Z".parse().unwrap()
}
