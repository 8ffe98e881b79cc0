//! IR -> compiled program. Every expression of the checked IR is lowered into one
//! flat arena of [`Node`]s: fields are slot indices, enum values are `(EnumId, idx)`,
//! constants (including constant lists) are pre-built [`Value`]s. Rules keep the ids
//! of their compiled expressions next to the IR item they came from.

use dealflow_dsl::ir::{
    self, BinOp, Builtin, ConflictKind, ExprKind, Func, Quantifier, RecordKind, Type, UnOp,
};

use crate::eval::Fast;
use crate::value::{Kind, Value};

/// Index of a node in [`Program::nodes`].
pub type ExprId = u32;

/// One compiled expression node; children are arena ids.
#[derive(Clone, Debug)]
pub enum Node {
    Const(Value),
    Field(RecordKind, u32),
    Var(u32),
    VarField(u32, u32),
    Builtin(Builtin),
    Flag(u32),
    List(Box<[ExprId]>),
    Not(ExprId),
    Neg(ExprId),
    And(ExprId, ExprId),
    Or(ExprId, ExprId),
    Cmp(BinOp, ExprId, ExprId),
    In {
        item: ExprId,
        list: ExprId,
        negate: bool,
    },
    Arith(BinOp, ExprId, ExprId, Kind),
    Presence(bool, ExprId),
    Quant {
        q: Quantifier,
        var: u32,
        list: ExprId,
        body: ExprId,
        kind: Kind,
    },
    Call(Func, ExprId, Option<ExprId>),
    /// The normalized account key (domain, else name, else id) of the record.
    AccountKey,
}

/// A flattened `requires` item of a stage.
#[derive(Clone, Debug)]
pub struct ReqItem {
    pub expr: ExprId,
    /// The evidence field name when the item was a bare evidence field.
    pub evidence: Option<String>,
    pub because: Option<String>,
    pub span: ir::Span,
}

/// Compiled registration rules (ids parallel to the IR lists).
#[derive(Clone, Debug, Default)]
pub struct RegProg {
    pub eligible: Vec<ExprId>,
    pub duplicate_keys: Vec<ExprId>,
    /// Per conflict: the `when` expression or the protected-registration keys.
    pub conflicts: Vec<ConflictProg>,
    pub auto_approve: Vec<ExprId>,
    pub late: Vec<ExprId>,
    pub discounts: Vec<Option<ExprId>>,
}

#[derive(Clone, Debug)]
pub enum ConflictProg {
    When(ExprId),
    OtherProtected(Vec<ExprId>),
}

#[derive(Clone, Debug, Default)]
pub struct CosellProg {
    /// (when, priority) per assign.
    pub assigns: Vec<(ExprId, Option<ExprId>)>,
    pub nevers: Vec<ExprId>,
}

#[derive(Clone, Debug, Default)]
pub struct CommissionProg {
    pub attribute: Vec<ExprId>,
    pub rate_keys: Vec<ExprId>,
    /// Per row, per key: the pattern values (`None` = `_`).
    pub rate_rows: Vec<Vec<Option<Vec<Value>>>>,
    pub rebates: Vec<ExprId>,
    pub splits: Vec<Option<ExprId>>,
    /// How a deal without line items gets its one implicit line.
    pub(crate) implicit: crate::decide::LinePlan,
}

#[derive(Clone, Debug, Default)]
pub struct HygieneProg {
    pub flags: Vec<ExprId>,
    pub excludes: Vec<ExprId>,
    pub downweights: Vec<ExprId>,
}

#[derive(Clone, Debug, Default)]
pub struct LeadsProg {
    pub routes: Vec<ExprId>,
    pub prefer: Vec<ExprId>,
    pub convert: Option<ExprId>,
}

/// Slots the engine reads by convention (from formats.md).
#[derive(Clone, Copy, Debug, Default)]
pub struct WellKnown {
    pub amount: Option<u32>,
    pub item_quantity: Option<u32>,
    pub item_price: Option<u32>,
    pub item_amount: Option<u32>,
}

/// The compiled program of a policy.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub nodes: Vec<Node>,
    /// Source span of each node (for rendering expression text).
    pub spans: Vec<ir::Span>,
    /// Per stage: its flattened `requires` items.
    pub requires: Vec<Vec<ReqItem>>,
    /// Per IR transition: its compiled guard.
    pub guards: Vec<Option<ExprId>>,
    pub registration: RegProg,
    pub cosell: CosellProg,
    pub commission: CommissionProg,
    pub hygiene: HygieneProg,
    pub leads: LeadsProg,
    /// Number of quantifier variable slots needed.
    pub vars: usize,
    pub well_known: WellKnown,
    /// Specialised closures of the conditions (the no-trace fast path).
    pub fast: Fast,
    /// While compiling: the quantifier variables in scope, `(IR var id, slot)`.
    scope: Vec<(u32, u32)>,
}

impl Program {
    /// Compiles every expression of a checked policy.
    pub fn compile(p: &ir::Policy) -> Program {
        let mut c = Program::default();
        for st in &p.stages {
            let mut items = Vec::new();
            for req in &st.requires {
                for it in &req.items {
                    let evidence = it.evidence.and_then(|f| {
                        p.record(f.record)
                            .and_then(|r| r.fields.get(f.slot as usize))
                            .map(|fd| field_name(f.record, &fd.name))
                    });
                    items.push(ReqItem {
                        expr: c.expr(&it.expr),
                        evidence,
                        because: req.because.clone(),
                        span: it.span.clone(),
                    });
                }
            }
            c.requires.push(items);
        }
        c.guards = p
            .transitions
            .iter()
            .map(|t| t.guard.as_ref().map(|g| c.expr(g)))
            .collect();
        if let Some(r) = &p.registration {
            let eligible = r.eligible.iter().map(|x| c.expr(&x.expr)).collect();
            let duplicate_keys = r
                .duplicate
                .iter()
                .flat_map(|d| d.keys.iter())
                .collect::<Vec<_>>();
            let duplicate_keys = duplicate_keys.into_iter().map(|k| c.expr(k)).collect();
            let conflicts = r
                .conflicts
                .iter()
                .map(|x| match &x.kind {
                    ConflictKind::When(e) => ConflictProg::When(c.expr(e)),
                    ConflictKind::OtherProtected { keys } => {
                        ConflictProg::OtherProtected(keys.iter().map(|k| c.expr(k)).collect())
                    }
                })
                .collect();
            let auto_approve = r.auto_approve.iter().map(|x| c.expr(&x.expr)).collect();
            let late = r.late.iter().map(|x| c.expr(&x.expr)).collect();
            let discounts = r
                .discounts
                .iter()
                .map(|d| d.when.as_ref().map(|w| c.expr(w)))
                .collect();
            c.registration = RegProg {
                eligible,
                duplicate_keys,
                conflicts,
                auto_approve,
                late,
                discounts,
            };
        }
        if let Some(cs) = &p.cosell {
            let assigns = cs
                .assigns
                .iter()
                .map(|a| (c.expr(&a.when), a.priority.as_ref().map(|e| c.expr(e))))
                .collect();
            let nevers = cs.nevers.iter().map(|n| c.expr(&n.when)).collect();
            c.cosell = CosellProg { assigns, nevers };
        }
        if let Some(cm) = &p.commission {
            let attribute = cm.attribute.iter().map(|x| c.expr(&x.expr)).collect();
            let (rate_keys, rate_rows) = match &cm.rate {
                Some(t) => (
                    t.keys.iter().map(|k| c.expr(k)).collect(),
                    t.rows
                        .iter()
                        .map(|r| {
                            r.patterns
                                .iter()
                                .map(|pat| {
                                    pat.as_ref()
                                        .map(|vs| vs.iter().map(pattern_value).collect())
                                })
                                .collect()
                        })
                        .collect(),
                ),
                None => (Vec::new(), Vec::new()),
            };
            let rebates = cm.rebates.iter().map(|r| c.expr(&r.when)).collect();
            let splits = cm
                .splits
                .iter()
                .map(|s| s.when.as_ref().map(|w| c.expr(w)))
                .collect();
            c.commission = CommissionProg {
                attribute,
                rate_keys,
                rate_rows,
                rebates,
                splits,
                implicit: crate::decide::LinePlan::build(p),
            };
        }
        if let Some(h) = &p.hygiene {
            let flags = h.flags.iter().map(|f| c.expr(&f.when)).collect();
            let excludes = h.excludes.iter().map(|x| c.expr(&x.expr)).collect();
            let downweights = h.downweights.iter().map(|d| c.expr(&d.when)).collect();
            c.hygiene = HygieneProg {
                flags,
                excludes,
                downweights,
            };
        }
        if let Some(l) = &p.leads {
            let routes = l.routes.iter().map(|x| c.expr(&x.expr)).collect();
            let prefer = l.prefer.iter().map(|(e, _)| c.expr(e)).collect();
            let convert = l
                .convert
                .as_ref()
                .and_then(|cv| cv.when.as_ref().map(|w| c.expr(w)));
            c.leads = LeadsProg {
                routes,
                prefer,
                convert,
            };
        }
        let slot = |kind: RecordKind, name: &str| {
            p.record(kind).and_then(|r| r.field(name)).map(|(s, _)| s)
        };
        c.well_known = WellKnown {
            amount: slot(RecordKind::Opportunity, "amount"),
            item_quantity: slot(RecordKind::LineItem, "quantity"),
            item_price: slot(RecordKind::LineItem, "price"),
            item_amount: slot(RecordKind::LineItem, "amount"),
        };
        c.fast = Fast::build(&c.nodes);
        c
    }

    /// The slot of a quantifier variable in scope (an unbound one reads as missing).
    fn var_slot(&self, var: u32) -> u32 {
        self.scope
            .iter()
            .rev()
            .find(|(v, _)| *v == var)
            .map_or(u32::MAX, |(_, s)| *s)
    }

    fn push(&mut self, n: Node, span: &ir::Span) -> ExprId {
        self.nodes.push(n);
        self.spans.push(span.clone());
        (self.nodes.len() - 1) as ExprId
    }

    /// The node for an id (a `Const(Absent)` stand-in for an invalid id).
    pub fn node(&self, id: ExprId) -> &Node {
        const ABSENT: &Node = &Node::Const(Value::Absent);
        self.nodes.get(id as usize).unwrap_or(ABSENT)
    }

    /// Lowers one IR expression.
    pub fn expr(&mut self, e: &ir::Expr) -> ExprId {
        let n = match &e.kind {
            _ if e.ty == Type::Record(RecordKind::Account) => Node::AccountKey,
            ExprKind::Const(k) => Node::Const(Value::from_const(k)),
            ExprKind::Field { record, slot } => Node::Field(*record, *slot),
            ExprKind::Var(v) => Node::Var(self.var_slot(*v)),
            ExprKind::VarField { var, slot } => Node::VarField(self.var_slot(*var), *slot),
            ExprKind::Builtin(b) => Node::Builtin(*b),
            ExprKind::Flag(f) => Node::Flag(*f),
            ExprKind::List(items) => {
                if items.iter().all(|i| matches!(i.kind, ExprKind::Const(_))) {
                    let vals: Vec<Value> = items
                        .iter()
                        .map(|i| match &i.kind {
                            ExprKind::Const(k) => Value::from_const(k),
                            _ => Value::Absent,
                        })
                        .collect();
                    Node::Const(Value::List(vals.into()))
                } else {
                    let ids: Vec<ExprId> = items.iter().map(|i| self.expr(i)).collect();
                    Node::List(ids.into())
                }
            }
            ExprKind::Unary(UnOp::Not, a) => Node::Not(self.expr(a)),
            ExprKind::Unary(UnOp::Neg, a) => Node::Neg(self.expr(a)),
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                match op {
                    BinOp::And => Node::And(a, b),
                    BinOp::Or => Node::Or(a, b),
                    BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        Node::Cmp(*op, a, b)
                    }
                    BinOp::In => Node::In {
                        item: a,
                        list: b,
                        negate: false,
                    },
                    BinOp::NotIn => Node::In {
                        item: a,
                        list: b,
                        negate: true,
                    },
                    BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                        Node::Arith(*op, a, b, Kind::of(&e.ty))
                    }
                }
            }
            ExprKind::Presence { present, expr } => Node::Presence(*present, self.expr(expr)),
            ExprKind::Quant { q, var, list, body } => {
                // Variables get a slot per nesting depth (quantifiers side by side
                // share slots), so a decision resets only a few.
                let list = self.expr(list);
                let slot = self.scope.len() as u32;
                self.vars = self.vars.max(slot as usize + 1);
                self.scope.push((*var, slot));
                let body = self.expr(body);
                self.scope.pop();
                Node::Quant {
                    q: *q,
                    var: slot,
                    list,
                    body,
                    kind: Kind::of(&e.ty),
                }
            }
            ExprKind::Call(f, args) => {
                let a = args.first().map(|x| self.expr(x));
                let b = args.get(1).map(|x| self.expr(x));
                match a {
                    Some(a) => Node::Call(*f, a, b),
                    None => Node::Const(Value::Absent),
                }
            }
        };
        self.push(n, &e.span)
    }
}

fn pattern_value(c: &ir::Const) -> Value {
    Value::from_const(c)
}

/// The name of a field as written in a policy (`amount`, `partner.tier`, `item.price`).
pub fn field_name(kind: RecordKind, name: &str) -> String {
    match kind {
        RecordKind::Opportunity => name.to_string(),
        RecordKind::LineItem => format!("item.{name}"),
        k => format!("{}.{name}", k.name()),
    }
}
