//! Decision making: one function per action, all driven by the compiled rules.
//!
//! A [`Decider`] runs in one of two modes. With `explain` on it records a
//! [`Reason`] for every rule it evaluates (rule id, source location, values read,
//! message), the missing evidence, what would make a denial pass, and the effects.
//! With `explain` off it only computes the outcome and a small numeric
//! [`Summary`], without building strings or traces.

mod commission;
mod deadline;

pub(crate) use commission::LinePlan;
mod evaluate;
mod register;
mod route;

use std::cell::Cell;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dealflow_dsl::ir::{self, Builtin, RecordKind, Span, StageId, StageKind};
use dealflow_dsl::SourceFile;
use rust_decimal::Decimal;

use crate::action::{Action, Audience};
use crate::calendar::BusinessCalendar;
use crate::compile::{ExprId, Node, Program};
use crate::decision::{
    Decision, Effects, EvalError, Outcome, Reason, RuleOutcome, StageChange, Values,
};
use crate::eval::{Env, NoRec, Rec};
use crate::explain::{collapse, Texts};
use crate::facts::Facts;
use crate::record::{Context, Record};
use crate::value::{ArithError, Names, Value};
use crate::workflow::Workflow;

/// Numbers computed on every path (the fast path returns only these).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Bit i set: hygiene flag i raised (first 64 flags).
    pub flags: u64,
    pub weighted_amount: Option<Decimal>,
    /// Pools with status `assign`.
    pub cosell_assigned: u32,
    /// Commission credited (after attribution).
    pub commission: Option<Decimal>,
}

/// What a decision accumulates. The no-trace path keeps one in its [`crate::Scratch`]
/// (only `outcome` and `summary` change there), so it is not built and dropped per call.
#[derive(Debug, Default)]
pub(crate) struct Out {
    pub outcome: Option<Outcome>,
    pub reasons: Vec<Reason>,
    pub missing: Vec<String>,
    pub to_pass: Vec<String>,
    pub cannot_pass: Vec<String>,
    pub flags: Vec<String>,
    pub errors: Vec<EvalError>,
    pub effects: Effects,
    pub summary: Summary,
    /// The first expression overflow recorded: rule id, location, expression text.
    pub overflow_at: Option<(String, Arc<str>, String)>,
}

/// The compiled policy pieces a decision needs.
#[derive(Clone, Copy)]
pub(crate) struct Compiled<'a> {
    pub p: &'a ir::Policy,
    pub prog: &'a Program,
    pub wf: &'a Workflow,
    pub cal: Option<&'a BusinessCalendar>,
    pub src: &'a SourceFile,
    pub texts: &'a Texts,
    /// The IR, shared with the decision's values for rendering.
    pub ir: &'a Arc<ir::Policy>,
}

static NO_VALUES: [Value; 0] = [];
static ABSENT: Value = Value::Absent;

/// One decision in progress.
pub(crate) struct Decider<'a> {
    pub c: Compiled<'a>,
    pub names: &'a Names<'a>,
    pub rec: &'a Record,
    pub cx: &'a Context,
    pub now: DateTime<Utc>,
    pub facts: &'a Facts<'a>,
    pub audience: &'a Audience,
    pub explain: bool,
    pub vars: &'a mut Vec<Value>,
    /// Scratch: hygiene flag values of `evaluate`.
    pub flag_vals: &'a mut Vec<Value>,
    /// Scratch: rate-table key values of one commission line.
    pub keys: &'a mut Vec<Value>,
    /// Scratch: the implicit line of a deal without line items (commission).
    pub implicit: &'a mut Vec<Vec<Value>>,
    pub out: &'a mut Out,
    /// Set by any arithmetic overflow of an evaluation (see [`Env::overflow`]).
    pub overflow: &'a Cell<bool>,
}

impl<'a> Decider<'a> {
    /// The environment of a record (the decision's own by default).
    pub fn env_for<'b>(&self, rec: &'b Record, facts: &'b Facts<'b>) -> Env<'b>
    where
        'a: 'b,
    {
        Env {
            prog: self.c.prog,
            names: self.names,
            opp: &rec.fields,
            partner: rec.partner.as_ref().map_or(&NO_VALUES[..], |p| &p.fields),
            account: rec.account.as_ref().map_or(&NO_VALUES[..], |a| &a.fields),
            account_key: rec.account.as_ref().map_or(&ABSENT, |a| &a.key),
            lead: self.cx.lead.as_ref().map_or(&NO_VALUES[..], |l| &l.fields),
            items: &rec.line_items,
            item: None,
            facts,
            flags: &NO_VALUES,
            tz: self.c.cal.map(BusinessCalendar::tz),
            overflow: self.overflow,
        }
    }

    pub fn env(&self) -> Env<'a> {
        self.env_for(self.rec, self.facts)
    }

    /// `file:line:col` of a span.
    pub fn loc(&self, span: &Span) -> String {
        self.c.texts.loc(self.c.src, span.start).to_string()
    }

    /// The source text of a span, whitespace collapsed.
    pub fn text(&self, span: &Span) -> String {
        collapse(self.c.src, span)
    }

    /// The source text of a compiled expression.
    pub fn etext(&self, id: ExprId) -> &'a str {
        self.c.texts.node_text(id).unwrap_or("")
    }

    /// Evaluates a condition without recording (the no-trace path).
    pub fn check(&mut self, env: &Env<'_>, id: ExprId) -> bool {
        env.holds(id, self.vars, &mut NoRec)
    }

    /// Evaluates a condition, recording reads when explaining.
    pub fn cond(&mut self, env: &Env<'_>, id: ExprId) -> (bool, Rec) {
        if self.explain {
            let mut r = Rec::default();
            let ok = env.holds(id, self.vars, &mut r);
            (ok, r)
        } else {
            (env.holds(id, self.vars, &mut NoRec), Rec::default())
        }
    }

    /// Evaluates a value, recording reads when explaining.
    pub fn value(&mut self, env: &Env<'_>, id: ExprId) -> (Value, Rec) {
        if self.explain {
            let mut r = Rec::default();
            let v = env.eval(id, self.vars, &mut r);
            (v, r)
        } else {
            (env.eval(id, self.vars, &mut NoRec), Rec::default())
        }
    }

    /// The recorded reads by name (rendered only when shown).
    pub fn values(&self, rec: &Rec) -> Values {
        if rec.reads.is_empty() {
            return Values::default();
        }
        let mut out = Values::new(self.c.ir.clone());
        for (node, v) in &rec.reads {
            if let Some(name) = self.c.texts.node_name(*node) {
                out.read(name, v);
            }
        }
        out
    }

    /// Records a reason (and any evaluation errors of its expression).
    pub fn reason(
        &mut self,
        rule: String,
        span: &Span,
        outcome: RuleOutcome,
        rec: &Rec,
        message: String,
    ) {
        if !self.explain {
            return;
        }
        for (node, e) in &rec.errors {
            let at = self
                .c
                .prog
                .spans
                .get(*node as usize)
                .cloned()
                .unwrap_or_else(|| span.clone());
            let what = match e {
                ArithError::DivideByZero => "division by zero",
                ArithError::Overflow => "arithmetic overflow",
            };
            let text = self.text(&at);
            if *e == ArithError::Overflow && self.out.overflow_at.is_none() {
                let location = self.c.texts.loc(self.c.src, at.start);
                self.out.overflow_at = Some((rule.clone(), location, text.clone()));
            }
            self.out.errors.push(EvalError {
                rule: rule.clone(),
                location: self.loc(&at),
                message: format!("{what} in `{text}`; the value is treated as missing"),
            });
        }
        let values = self.values(rec);
        let location = self.c.texts.loc(self.c.src, span.start);
        self.out.reasons.push(Reason {
            rule,
            location,
            outcome,
            values,
            message,
        });
    }

    /// A fail reason with no expression (structural rules).
    pub fn fail(&mut self, rule: String, span: &Span, message: String) {
        self.reason(rule, span, RuleOutcome::Fail, &Rec::default(), message);
    }

    /// The opportunity amount, if declared and present.
    pub fn amount(&self) -> Value {
        match self.c.prog.well_known.amount {
            Some(s) => self
                .rec
                .fields
                .get(s as usize)
                .cloned()
                .unwrap_or(Value::Absent),
            None => Value::Absent,
        }
    }

    pub fn stage_name(&self, s: StageId) -> &'a str {
        self.c.p.stage(s).map(|s| s.name.as_str()).unwrap_or("?")
    }

    /// Runs the decision for an action.
    pub fn run(&mut self, action: &Action) {
        if self.explain {
            self.out.effects.currency = self.c.p.currency.clone();
        }
        let outcome = match action {
            Action::Advance { to } => match self.c.p.stage_by_name(to) {
                Some(to) => {
                    let outcome = self.advance(to);
                    if outcome == Outcome::Approved && self.explain {
                        self.extend_on_advance(self.rec.stage, to);
                    }
                    outcome
                }
                None => {
                    let names = self.c.p.stages.iter().map(|s| s.name.clone()).collect();
                    let e = crate::action::UnknownStageError::new(to, names);
                    self.fail(
                        "action.advance".into(),
                        &(0..0),
                        format!("{e}; {}", e.help()),
                    );
                    Outcome::Error
                }
            },
            Action::Register => self.register(),
            Action::Evaluate => self.evaluate(),
            Action::CloseWon => self.close(StageKind::Won),
            Action::CloseLost => self.close(StageKind::Lost),
            Action::RouteLead => self.route_lead(),
        };
        // An overflow in an expression the no-trace path evaluated leaves the
        // action undecided (the explaining path asks that path, see `Policy::decide`).
        let outcome = if !self.explain && self.overflow.get() {
            Outcome::Error
        } else {
            outcome
        };
        self.out.outcome = Some(outcome);
    }

    fn advance(&mut self, to: StageId) -> Outcome {
        let allowed = if self.explain {
            self.transition(to)
        } else {
            self.transition_fast(to)
        };
        if allowed {
            if self.explain {
                self.out.effects.stage_change = Some(StageChange {
                    from: self.stage_name(self.rec.stage).to_string(),
                    to: self.stage_name(to).to_string(),
                });
            }
            Outcome::Approved
        } else {
            Outcome::Denied
        }
    }

    fn close(&mut self, kind: StageKind) -> Outcome {
        let target = self
            .c
            .p
            .stages
            .iter()
            .position(|s| s.kind == kind)
            .map(|i| StageId(i as u32));
        let Some(to) = target else {
            let what = if kind == StageKind::Won {
                "won"
            } else {
                "lost"
            };
            self.fail(
                format!("action.close_{what}"),
                &(0..0),
                format!("the policy declares no {what} stage"),
            );
            return Outcome::Error;
        };
        let outcome = self.advance(to);
        if outcome == Outcome::Approved && kind == StageKind::Won && !self.commission(self.facts) {
            // An amount overflowed: the close cannot be decided.
            self.out.effects.stage_change = None;
            return Outcome::Error;
        }
        outcome
    }

    /// [`Decider::transition`] without explanation: some edge `current -> to` whose
    /// guard holds (or has none), then every requirement of `to`, stopping at the
    /// first failure. Evaluation has no side effects, so the result is the same.
    fn transition_fast(&mut self, to: StageId) -> bool {
        let c = self.c;
        let env = self.env();
        // Some edge whose guard holds (or that has none); no edge at all denies.
        let flow_ok = c.wf.edges(self.rec.stage, to).any(|edge| {
            edge.guard
                .is_none_or(|g| env.holds(g, self.vars, &mut NoRec))
        });
        if !flow_ok {
            return false;
        }
        let items = c
            .prog
            .requires
            .get(to.0 as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        items
            .iter()
            .all(|item| env.holds(item.expr, self.vars, &mut NoRec))
    }

    /// Checks the flow edge(s) `current -> to` and `to`'s requirements. True when
    /// the move is allowed.
    pub fn transition(&mut self, to: StageId) -> bool {
        let cur = self.rec.stage;
        let c = self.c;
        let env = self.env();
        let (cur_name, to_name) = (self.stage_name(cur), self.stage_name(to));
        let mut any_edge = false;
        let mut flow_ok = false;
        let mut failed_guard: Option<(ExprId, Rec)> = None;
        for edge in c.wf.edges(cur, to) {
            any_edge = true;
            let from = if edge.from_any { "any" } else { cur_name };
            let ok = match edge.guard {
                None => {
                    if self.explain {
                        self.reason(
                            format!("flow.{from}->{to_name}"),
                            &edge.span,
                            RuleOutcome::Pass,
                            &Rec::default(),
                            format!("the flow allows `{from} -> {to_name}`"),
                        );
                    }
                    true
                }
                Some(g) => {
                    let (ok, rec) = self.cond(&env, g);
                    if self.explain {
                        let gtext = self.etext(g);
                        let msg = match (ok, &edge.because) {
                            (true, _) => {
                                format!("`{from} -> {to_name}` is allowed: `{gtext}` holds")
                            }
                            (false, Some(b)) => b.clone(),
                            (false, None) => {
                                format!("`{from} -> {to_name}` requires `{gtext}`")
                            }
                        };
                        let outcome = if ok {
                            RuleOutcome::Pass
                        } else {
                            RuleOutcome::Fail
                        };
                        self.reason(
                            format!("flow.{from}->{to_name}"),
                            &edge.span,
                            outcome,
                            &rec,
                            msg,
                        );
                        if !ok && failed_guard.is_none() {
                            failed_guard = Some((g, rec));
                        }
                    }
                    ok
                }
            };
            if ok {
                flow_ok = true;
                if !self.explain {
                    break;
                }
            }
        }
        if !any_edge {
            if self.explain {
                let next: Vec<&str> =
                    c.wf.successors(cur)
                        .into_iter()
                        .map(|s| self.stage_name(s))
                        .collect();
                let span = c.p.stage(to).map(|s| s.span.clone()).unwrap_or(0..0);
                let msg = if cur == to {
                    format!("the deal is already in `{to_name}`")
                } else if next.is_empty() {
                    format!("the flow has no transition from `{cur_name}` to `{to_name}`; `{cur_name}` is final")
                } else {
                    format!(
                        "the flow has no transition from `{cur_name}` to `{to_name}`; allowed next stages: {}",
                        next.join(", ")
                    )
                };
                self.fail(format!("flow.{cur_name}->{to_name}"), &span, msg);
            }
            return false;
        }
        if !flow_ok && !self.explain {
            return false;
        }
        if let Some((g, rec)) = failed_guard.filter(|_| !flow_ok) {
            self.advise(&env, g, &rec);
        }
        let mut reqs_ok = true;
        let items = c
            .prog
            .requires
            .get(to.0 as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for (k, item) in items.iter().enumerate() {
            let (ok, rec) = self.cond(&env, item.expr);
            if !ok {
                reqs_ok = false;
                if !self.explain {
                    return false;
                }
            }
            if self.explain {
                let text = c.texts.req_text(to.0 as usize, k).unwrap_or("");
                let msg = match (ok, &item.evidence, &item.because) {
                    (true, Some(ev), _) => format!("evidence `{ev}` is present"),
                    (true, None, _) => format!("`{text}` holds"),
                    (false, Some(ev), Some(b)) => format!("missing evidence `{ev}`: {b}"),
                    (false, Some(ev), None) => format!("missing evidence `{ev}`"),
                    (false, None, Some(b)) => b.clone(),
                    (false, None, None) => format!("`{to_name}` requires `{text}`"),
                };
                if !ok {
                    match &item.evidence {
                        Some(ev) => {
                            if !self.out.missing.contains(ev) {
                                self.out.missing.push(ev.clone());
                                self.out.to_pass.push(format!("provide `{ev}`"));
                            }
                        }
                        None => self.advise(&env, item.expr, &rec),
                    }
                }
                let outcome = if ok {
                    RuleOutcome::Pass
                } else {
                    RuleOutcome::Fail
                };
                self.reason(
                    format!("stage.{to_name}.requires[{k}]"),
                    &item.span,
                    outcome,
                    &rec,
                    msg,
                );
            }
        }
        flow_ok && reqs_ok
    }
}

/// What a failing condition depends on, for advice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reach {
    /// Only inputs the requester controls: it can be made to hold.
    Fixable,
    /// No input the requester controls.
    Fixed,
}

impl Decider<'_> {
    /// Advice for a failing condition `id` (its reads in `rec`): `make ... hold` in
    /// `to_pass` when the requester can make it hold by changing what it controls
    /// (see [`Decider::fixable`]), otherwise an entry in `cannot_pass` naming the
    /// condition and the values it depends on.
    pub(crate) fn advise(&mut self, env: &Env<'_>, id: ExprId, rec: &Rec) {
        if !self.explain {
            return;
        }
        let text = self.etext(id);
        if self.fixable(env, id, &[]) == Reach::Fixable {
            self.out.to_pass.push(format!("make `{text}` hold"));
        } else {
            let seen: Vec<String> = self
                .values(rec)
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            let on = if seen.is_empty() {
                String::new()
            } else {
                format!(" (it depends on {})", seen.join(", "))
            };
            self.out
                .cannot_pass
                .push(format!("`{text}` does not hold{on}"));
        }
    }

    /// Whether the requester could make condition `id` hold by changing only what it
    /// controls, the rest of the deal staying as it is. The requester controls its
    /// evidence, the opportunity fields it has not filled in yet and the line items;
    /// not the values already recorded on the deal (amount, product line...), the
    /// partner, account or lead records, the stage, dates, history facts or flags.
    /// `and` needs each failing side fixable, `or` one side; any other condition is
    /// fixable when it reads something the requester controls. `vars`: quantifier
    /// variables bound over a list the requester controls.
    fn fixable(&mut self, env: &Env<'_>, id: ExprId, vars: &[u32]) -> Reach {
        let node = self.c.prog.nodes.get(id as usize).cloned();
        match node {
            Some(Node::And(a, b)) => {
                let side = |d: &mut Self, x: ExprId| {
                    env.holds(x, d.vars, &mut NoRec) || d.fixable(env, x, vars) == Reach::Fixable
                };
                if side(self, a) && side(self, b) {
                    Reach::Fixable
                } else {
                    Reach::Fixed
                }
            }
            Some(Node::Or(a, b)) => {
                if self.fixable(env, a, vars) == Reach::Fixable
                    || self.fixable(env, b, vars) == Reach::Fixable
                {
                    Reach::Fixable
                } else {
                    Reach::Fixed
                }
            }
            _ => {
                if self.touches(id, vars, 0) {
                    Reach::Fixable
                } else {
                    Reach::Fixed
                }
            }
        }
    }

    /// Whether expression `id` reads an input the requester controls.
    fn touches(&self, id: ExprId, vars: &[u32], depth: usize) -> bool {
        if depth > 256 {
            return false;
        }
        let d = depth + 1;
        let Some(node) = self.c.prog.nodes.get(id as usize) else {
            return false;
        };
        match node {
            Node::Field(RecordKind::Opportunity, slot) => self.controlled_field(*slot),
            Node::Field(RecordKind::LineItem, _) => true,
            Node::Builtin(Builtin::LineItems) => true,
            Node::Var(v) | Node::VarField(v, _) => vars.contains(v),
            Node::Const(_)
            | Node::Field(..)
            | Node::Builtin(_)
            | Node::Flag(_)
            | Node::AccountKey => false,
            Node::List(items) => items.iter().any(|i| self.touches(*i, vars, d)),
            Node::Not(a) | Node::Neg(a) | Node::Presence(_, a) => self.touches(*a, vars, d),
            Node::And(a, b) | Node::Or(a, b) | Node::Cmp(_, a, b) | Node::Arith(_, a, b, _) => {
                self.touches(*a, vars, d) || self.touches(*b, vars, d)
            }
            Node::In { item, list, .. } => {
                self.touches(*item, vars, d) || self.touches(*list, vars, d)
            }
            Node::Call(_, a, b) => {
                self.touches(*a, vars, d) || b.is_some_and(|b| self.touches(b, vars, d))
            }
            Node::Quant {
                var, list, body, ..
            } => {
                if self.touches(*list, vars, d) {
                    let mut inner = vars.to_vec();
                    inner.push(*var);
                    self.touches(*body, &inner, d)
                } else {
                    self.touches(*body, vars, d)
                }
            }
        }
    }

    /// An opportunity field the requester controls: evidence, or a field the deal
    /// has no value for yet.
    fn controlled_field(&self, slot: u32) -> bool {
        let evidence = self
            .c
            .p
            .record(RecordKind::Opportunity)
            .and_then(|r| r.fields.get(slot as usize))
            .is_some_and(|f| f.evidence);
        evidence
            || self
                .rec
                .fields
                .get(slot as usize)
                .is_none_or(Value::is_absent)
    }
}

/// Final advice of a denied decision: when some failing rule cannot be fixed by the
/// requester, nothing it changes passes, so `to_pass` is emptied; when no advice was
/// given at all (no flow edge, a duplicate, a conflict, no eligible partner), the
/// failing rules are what blocks it.
pub(crate) fn settle_advice(d: &mut Decision) {
    if !d.cannot_pass.is_empty() {
        d.to_pass.clear();
    } else if d.to_pass.is_empty() {
        d.cannot_pass = d.failed().map(|r| r.message.clone()).collect();
    }
}
