//! The evaluator: walks the compiled node arena of one expression. Evaluation is
//! total: missing values become `Absent`, arithmetic errors become `Absent` plus a
//! recorded error. A [`Recorder`] observes the fields and built-ins read; the no-trace
//! recorder compiles away, so the fast path does not allocate.

use std::cmp::Ordering;

use dealflow_dsl::ir::{BinOp, Builtin, Func, Quantifier, RecordKind};
use rust_decimal::Decimal;

use crate::compile::{ExprId, Node, Program};
use crate::facts::Facts;
use crate::value::{arith, compare, ArithError, Kind, Names, Value, DAY};

/// Observes reads and errors during evaluation.
pub trait Recorder {
    /// Whether reads are recorded at all.
    const ON: bool;
    /// A field or built-in node was read.
    fn read(&mut self, node: ExprId, v: &Value);
    /// An evaluation error happened at a node.
    fn error(&mut self, node: ExprId, e: ArithError);
}

/// Records nothing.
pub struct NoRec;

impl Recorder for NoRec {
    const ON: bool = false;
    fn read(&mut self, _: ExprId, _: &Value) {}
    fn error(&mut self, _: ExprId, _: ArithError) {}
}

/// Records reads (first value per node) and errors.
#[derive(Default)]
pub struct Rec {
    pub reads: Vec<(ExprId, Value)>,
    pub errors: Vec<(ExprId, ArithError)>,
}

impl Recorder for Rec {
    const ON: bool = true;
    fn read(&mut self, node: ExprId, v: &Value) {
        if !self.reads.iter().any(|(n, _)| *n == node) {
            self.reads.push((node, v.clone()));
        }
    }
    fn error(&mut self, node: ExprId, e: ArithError) {
        self.errors.push((node, e));
    }
}

/// What an expression can see.
pub struct Env<'a> {
    pub prog: &'a Program,
    pub names: &'a Names<'a>,
    pub opp: &'a [Value],
    pub partner: &'a [Value],
    pub account: &'a [Value],
    pub account_key: &'a Value,
    pub lead: &'a [Value],
    pub items: &'a [Vec<Value>],
    /// The current line item (rate tables, rebates).
    pub item: Option<usize>,
    pub facts: &'a Facts<'a>,
    /// Hygiene flag values so far.
    pub flags: &'a [Value],
    /// The policy time zone (for `date()`).
    pub tz: Option<chrono_tz::Tz>,
}

fn slot(vals: &[Value], s: u32) -> Value {
    vals.get(s as usize).cloned().unwrap_or(Value::Absent)
}

impl<'a> Env<'a> {
    /// Borrows the value of a leaf node (constant, field, built-in) without cloning.
    fn peek<R: Recorder>(&self, id: ExprId, vars: &[Value], rec: &mut R) -> Option<&'a Value> {
        const ABSENT: &Value = &Value::Absent;
        let v = match self.prog.node(id) {
            Node::Const(v) => return Some(v),
            Node::Field(kind, s) => {
                let vals: &'a [Value] = match kind {
                    RecordKind::Opportunity => self.opp,
                    RecordKind::Partner => self.partner,
                    RecordKind::Account => self.account,
                    RecordKind::Lead => self.lead,
                    RecordKind::LineItem => match self.item.and_then(|i| self.items.get(i)) {
                        Some(it) => it,
                        None => &[],
                    },
                };
                vals.get(*s as usize).unwrap_or(ABSENT)
            }
            Node::Builtin(b) if *b != Builtin::LineItems => self.facts.get(*b),
            // A line item's field (not recorded, as in `eval`).
            Node::VarField(v, s) => {
                return Some(match vars.get(*v as usize) {
                    Some(Value::Item(i)) => self
                        .items
                        .get(*i as usize)
                        .and_then(|it| it.get(*s as usize))
                        .unwrap_or(ABSENT),
                    _ => ABSENT,
                })
            }
            _ => return None,
        };
        if R::ON {
            rec.read(id, v);
        }
        Some(v)
    }

    /// Evaluates a condition (only `true` holds).
    pub fn holds<R: Recorder>(&self, id: ExprId, vars: &mut [Value], rec: &mut R) -> bool {
        self.eval(id, vars, rec).truthy()
    }

    /// Evaluates an expression.
    pub fn eval<R: Recorder>(&self, id: ExprId, vars: &mut [Value], rec: &mut R) -> Value {
        match self.prog.node(id) {
            Node::Const(v) => v.clone(),
            Node::Field(kind, s) => {
                let v = match kind {
                    RecordKind::Opportunity => slot(self.opp, *s),
                    RecordKind::Partner => slot(self.partner, *s),
                    RecordKind::Account => slot(self.account, *s),
                    RecordKind::Lead => slot(self.lead, *s),
                    RecordKind::LineItem => match self.item.and_then(|i| self.items.get(i)) {
                        Some(it) => slot(it, *s),
                        None => Value::Absent,
                    },
                };
                if R::ON {
                    rec.read(id, &v);
                }
                v
            }
            Node::Var(v) => vars.get(*v as usize).cloned().unwrap_or(Value::Absent),
            Node::VarField(v, s) => {
                let val = match vars.get(*v as usize) {
                    Some(Value::Item(i)) => self
                        .items
                        .get(*i as usize)
                        .map(|it| slot(it, *s))
                        .unwrap_or(Value::Absent),
                    _ => Value::Absent,
                };
                val
            }
            Node::Builtin(b) => {
                let v = match b {
                    Builtin::LineItems => Value::List(
                        (0..self.items.len())
                            .map(|i| Value::Item(i as u32))
                            .collect(),
                    ),
                    b => self.facts.get(*b).clone(),
                };
                if R::ON && *b != Builtin::LineItems {
                    rec.read(id, &v);
                }
                v
            }
            Node::AccountKey => {
                if R::ON {
                    rec.read(id, self.account_key);
                }
                self.account_key.clone()
            }
            Node::Flag(f) => {
                let v = self
                    .flags
                    .get(*f as usize)
                    .cloned()
                    .unwrap_or(Value::Absent);
                if R::ON {
                    rec.read(id, &v);
                }
                v
            }
            Node::List(ids) => {
                let vals: Vec<Value> = ids.iter().map(|i| self.eval(*i, vars, rec)).collect();
                Value::List(vals.into())
            }
            Node::Not(a) => match self.eval(*a, vars, rec) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Absent,
            },
            Node::Neg(a) => match self.eval(*a, vars, rec) {
                Value::Int(i) => i.checked_neg().map(Value::Int).unwrap_or(Value::Absent),
                Value::Dec(d) => Value::Dec(-d),
                Value::Money(d) => Value::Money(-d),
                Value::Pct(d) => Value::Pct(-d),
                Value::Dur(s) => s.checked_neg().map(Value::Dur).unwrap_or(Value::Absent),
                _ => Value::Absent,
            },
            Node::And(a, b) => Value::Bool(self.holds(*a, vars, rec) && self.holds(*b, vars, rec)),
            Node::Or(a, b) => Value::Bool(self.holds(*a, vars, rec) || self.holds(*b, vars, rec)),
            Node::Cmp(op, a, b) => {
                let (xo, yo);
                let x = match self.peek(*a, vars, rec) {
                    Some(v) => v,
                    None => {
                        xo = self.eval(*a, vars, rec);
                        &xo
                    }
                };
                let y = match self.peek(*b, vars, rec) {
                    Some(v) => v,
                    None => {
                        yo = self.eval(*b, vars, rec);
                        &yo
                    }
                };
                let r = match op {
                    BinOp::Eq => self.names.eq(x, y),
                    BinOp::Ne => !x.is_absent() && !y.is_absent() && !self.names.eq(x, y),
                    _ => match compare(x, y) {
                        Some(o) => match op {
                            BinOp::Lt => o == Ordering::Less,
                            BinOp::Le => o != Ordering::Greater,
                            BinOp::Gt => o == Ordering::Greater,
                            BinOp::Ge => o != Ordering::Less,
                            _ => false,
                        },
                        None => false,
                    },
                };
                Value::Bool(r)
            }
            Node::In { item, list, negate } => {
                // `lower(x) in ["a", "b"]` compares without allocating.
                if let (Node::Call(Func::Lower, inner, None), Node::Const(Value::List(items))) =
                    (self.prog.node(*item), self.prog.node(*list))
                {
                    let owned;
                    let v: &Value = match self.prog.node(*inner) {
                        Node::Var(i) => vars.get(*i as usize).unwrap_or(&Value::Absent),
                        _ => match self.peek(*inner, vars, rec) {
                            Some(v) => v,
                            None => {
                                owned = self.eval(*inner, vars, rec);
                                &owned
                            }
                        },
                    };
                    return match v {
                        Value::Text(t) => {
                            let found = items.iter().any(|i| match i {
                                Value::Text(w) => lower_eq(t, w),
                                _ => false,
                            });
                            Value::Bool(found != *negate)
                        }
                        _ => Value::Bool(false),
                    };
                }
                let (xo, lo);
                let x = match self.peek(*item, vars, rec) {
                    Some(v) => v,
                    None => {
                        xo = self.eval(*item, vars, rec);
                        &xo
                    }
                };
                let l = match self.peek(*list, vars, rec) {
                    Some(v) => v,
                    None => {
                        lo = self.eval(*list, vars, rec);
                        &lo
                    }
                };
                match (x, l) {
                    (Value::Absent, _) | (_, Value::Absent) => Value::Bool(false),
                    (_, Value::List(items)) => {
                        let found = items.iter().any(|i| self.names.eq(x, i));
                        Value::Bool(found != *negate)
                    }
                    _ => Value::Bool(false),
                }
            }
            Node::Arith(op, a, b, kind) => {
                let (x, y) = (self.eval(*a, vars, rec), self.eval(*b, vars, rec));
                match arith(*op, &x, &y, *kind) {
                    Ok(v) => v,
                    Err(e) => {
                        rec.error(id, e);
                        Value::Absent
                    }
                }
            }
            Node::Presence(present, a) => {
                let is = match self.peek(*a, vars, rec) {
                    Some(v) => v.present(),
                    None => self.eval(*a, vars, rec).present(),
                };
                Value::Bool(is == *present)
            }
            Node::Quant {
                q,
                var,
                list,
                body,
                kind,
            } => self.quant(*q, *var, *list, *body, *kind, vars, rec),
            Node::Call(f, a, b) => self.call(*f, *a, *b, vars, rec, id),
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "a quantifier node has this many parts"
    )]
    fn quant<R: Recorder>(
        &self,
        q: Quantifier,
        var: u32,
        list: ExprId,
        body: ExprId,
        kind: Kind,
        vars: &mut [Value],
        rec: &mut R,
    ) -> Value {
        // `line_items` iterates without building a list.
        let n;
        let owned;
        let elems: &[Value] = if matches!(self.prog.node(list), Node::Builtin(Builtin::LineItems)) {
            n = self.items.len();
            &[]
        } else {
            let lv = match self.peek(list, vars, rec) {
                Some(v) => v,
                None => {
                    owned = self.eval(list, vars, rec);
                    &owned
                }
            };
            match lv {
                Value::List(items) => {
                    n = items.len();
                    items
                }
                _ => return Value::Absent,
            }
        };
        let mut count = 0i64;
        let mut sum: Option<Value> = None;
        let mut all = true;
        let mut any = false;
        for i in 0..n {
            let elem = if elems.is_empty() {
                Value::Item(i as u32)
            } else {
                elems.get(i).cloned().unwrap_or(Value::Absent)
            };
            if let Some(c) = vars.get_mut(var as usize) {
                *c = elem;
            }
            let v = self.eval(body, vars, rec);
            match q {
                Quantifier::Any => {
                    if v.truthy() {
                        any = true;
                        break;
                    }
                }
                Quantifier::All => {
                    if !v.truthy() {
                        all = false;
                        break;
                    }
                }
                Quantifier::Count => count += i64::from(v.truthy()),
                Quantifier::Sum => {
                    sum = Some(match sum {
                        None => v,
                        Some(acc) => arith(BinOp::Add, &acc, &v, kind).unwrap_or(Value::Absent),
                    })
                }
            }
        }
        match q {
            Quantifier::Any => Value::Bool(any),
            Quantifier::All => Value::Bool(all),
            Quantifier::Count => Value::Int(count),
            Quantifier::Sum => sum.unwrap_or(match kind {
                Kind::Int => Value::Int(0),
                Kind::Money => Value::Money(Decimal::ZERO),
                Kind::Pct => Value::Pct(Decimal::ZERO),
                Kind::Dur => Value::Dur(0),
                _ => Value::Dec(Decimal::ZERO),
            }),
        }
    }

    fn call<R: Recorder>(
        &self,
        f: Func,
        a: ExprId,
        b: Option<ExprId>,
        vars: &mut [Value],
        rec: &mut R,
        _id: ExprId,
    ) -> Value {
        if f == Func::Len && matches!(self.prog.node(a), Node::Builtin(Builtin::LineItems)) {
            return Value::Int(self.items.len() as i64);
        }
        let x = self.eval(a, vars, rec);
        let y = match b {
            Some(b) => self.eval(b, vars, rec),
            None => Value::Absent,
        };
        match f {
            // Two dates: whole days (what the date-time difference below gives).
            Func::DaysBetween if matches!((&x, &y), (Value::Date(_), Value::Date(_))) => {
                match (&x, &y) {
                    (Value::Date(a), Value::Date(b)) => Value::Int((*b - *a).num_days()),
                    _ => Value::Absent,
                }
            }
            Func::DaysBetween => match arith(BinOp::Sub, &to_dt(&y), &to_dt(&x), Kind::Dur) {
                Ok(Value::Dur(s)) => Value::Int(s.div_euclid(DAY)),
                _ => Value::Absent,
            },
            Func::Days => match x {
                Value::Dur(s) => Value::Int(s / DAY),
                _ => Value::Absent,
            },
            Func::Len => match x {
                Value::List(l) => Value::Int(l.len() as i64),
                Value::Text(t) => Value::Int(t.chars().count() as i64),
                _ => Value::Absent,
            },
            Func::Date => match x {
                Value::DateTime(d) => Value::Date(match self.tz {
                    Some(tz) => d.with_timezone(&tz).date_naive(),
                    None => d.date_naive(),
                }),
                Value::Date(d) => Value::Date(d),
                _ => Value::Absent,
            },
            Func::Min | Func::Max => match compare(&x, &y) {
                Some(o) => {
                    let pick_x = if f == Func::Min {
                        o != Ordering::Greater
                    } else {
                        o != Ordering::Less
                    };
                    if pick_x {
                        x
                    } else {
                        y
                    }
                }
                None => Value::Absent,
            },
            Func::Lower => match x {
                Value::Text(t) => Value::text(&t.to_lowercase()),
                _ => Value::Absent,
            },
        }
    }
}

/// Dates count as midnight UTC so `days_between` works on dates and date-times.
fn to_dt(v: &Value) -> Value {
    match v {
        Value::Date(d) => Value::DateTime(d.and_time(chrono::NaiveTime::MIN).and_utc()),
        other => other.clone(),
    }
}

/// `lower(t) == w` without allocating (ASCII text compares byte by byte).
fn lower_eq(t: &str, w: &str) -> bool {
    if t.is_ascii() {
        t.len() == w.len()
            && t.bytes()
                .zip(w.bytes())
                .all(|(a, b)| a.to_ascii_lowercase() == b)
    } else {
        t.chars().flat_map(char::to_lowercase).eq(w.chars())
    }
}
