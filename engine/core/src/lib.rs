//! The dealflow engine: compiles a checked policy into a workflow graph and a flat
//! expression program, validates opportunity records against the policy schema, and
//! decides actions (advance, register, evaluate, close, route a lead) with a full
//! explanation. The engine does no I/O: it receives text and values and returns data.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use dealflow_dsl::SourceFile;
//! use dealflow_engine::{Action, Audience, Context, Policy};
//!
//! let src = SourceFile::new("mini.policy", r#"
//! policy "Mini" version "1" { currency USD }
//! record opportunity {
//!   amount: money
//!   evidence { decision_maker: text }
//! }
//! stage Open { probability 10% forecast pipeline }
//! stage Qualified { probability 30% forecast pipeline requires decision_maker }
//! won stage Won { probability 100% forecast closed }
//! lost stage Lost { probability 0% forecast omitted }
//! flow {
//!   Open -> Qualified -> Won
//!   any -> Lost
//! }
//! "#);
//! let policy = Policy::compile(&src).expect("the policy compiles");
//! let record = policy
//!     .parse_record_yaml("id: OPP-1\nstage: Open\nfields: { amount: 5000 }")
//!     .expect("the record is valid");
//! let now = Utc.with_ymd_and_hms(2026, 11, 27, 15, 0, 0).unwrap();
//! let action: Action = "advance Qualified".parse().unwrap();
//! let decision = policy.decide(&record, &action, &Context::default(), now, &Audience::Vendor);
//! println!("{}", decision.outcome); // denied: decision_maker is missing
//! assert_eq!(decision.missing, vec!["decision_maker".to_string()]);
//! ```

pub mod action;
pub mod calendar;
pub mod cases;
pub mod compile;
mod decide;
pub mod decision;
pub mod doc;
pub mod eval;
mod explain;
pub mod facts;
pub mod identity;
pub mod record;
pub mod rules;
pub mod value;
pub mod workflow;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dealflow_dsl::ir::{self, SplitRole};
use dealflow_dsl::{Diagnostic, SourceDiagnostic, SourceFile};
use sha2::{Digest, Sha256};

pub use action::{Action, Audience, ParseActionError, ParseAudienceError, UnknownStageError};
pub use calendar::BusinessCalendar;
pub use decide::Summary;
pub use decision::{Decision, Effects, Outcome, Reason, RuleOutcome, Values};
pub use record::{Context, Record, RecordError, RecordErrorKind, RecordErrors};
pub use rules::RuleInfo;
pub use value::Value;
pub use workflow::{StageNode, TransitionEdge, Workflow, WorkflowError};

use compile::Program;
use decide::{Compiled, Decider, Out};
use decision::PolicyRef;
use facts::Facts;
use record::Parser;
use value::{money_str, rfc3339, Names};

/// A policy that could not be compiled: its diagnostics.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("policy `{name}` has {} error(s)", diagnostics.iter().filter(|d| d.is_error()).count().max(1))]
#[diagnostic(
    code(dealflow::compile),
    help("run `dealflow lint` on the policy for details")
)]
pub struct CompileError {
    /// The source name.
    pub name: String,
    /// Every diagnostic of the analysis.
    pub diagnostics: Vec<Diagnostic>,
    #[related]
    related: Vec<SourceDiagnostic>,
}

/// A compiled, immutable policy. Cheap to share across threads.
#[derive(Debug, Clone)]
pub struct Policy {
    ir: Arc<ir::Policy>,
    source: SourceFile,
    hash: String,
    prog: Program,
    workflow: Workflow,
    calendar: Option<BusinessCalendar>,
    texts: explain::Texts,
}

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Policy>();
};

/// The outcome and key numbers of a decision made without explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastDecision {
    pub outcome: Outcome,
    pub summary: Summary,
}

/// Reusable evaluation scratch space for [`Policy::decide_fast_with`].
#[derive(Debug, Default)]
pub struct Scratch {
    vars: Vec<Value>,
    flags: Vec<Value>,
    keys: Vec<Value>,
    implicit: Vec<Vec<Value>>,
    /// The decision accumulator; stays empty on the no-trace path of `advance` and
    /// `evaluate`.
    out: Out,
}

/// Hex sha256 of the normalized text (CRLF -> LF, trailing whitespace stripped per
/// line, trailing newlines trimmed).
pub fn source_hash(text: &str) -> String {
    let unix = text.replace("\r\n", "\n");
    let lines: Vec<&str> = unix.split('\n').map(str::trim_end).collect();
    let joined = lines.join("\n");
    let normalized = joined.trim_end_matches('\n');
    hex::encode(Sha256::digest(normalized.as_bytes()))
}

impl Policy {
    /// Parses, checks and compiles a policy source.
    pub fn compile(source: &SourceFile) -> Result<Policy, CompileError> {
        let analysis = dealflow_dsl::analyze(source);
        match analysis.ir {
            Some(ir) if !analysis.has_errors() => {
                let policy = Policy::from_ir(ir, source);
                match policy.workflow.validate() {
                    Ok(()) => Ok(policy),
                    Err(e) => {
                        let d = Diagnostic::new(
                            dealflow_dsl::Code::MalformedDeclaration,
                            0..0,
                            e.to_string(),
                        );
                        Err(CompileError {
                            name: source.name.to_string(),
                            related: vec![d.with_source(source)],
                            diagnostics: vec![d],
                        })
                    }
                }
            }
            _ => Err(CompileError {
                name: source.name.to_string(),
                related: analysis
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| d.with_source(source))
                    .collect(),
                diagnostics: analysis.diagnostics,
            }),
        }
    }

    /// Compiles an already checked IR (the source is used for locations and the hash).
    pub fn from_ir(ir: ir::Policy, source: &SourceFile) -> Policy {
        let prog = Program::compile(&ir);
        let workflow = Workflow::build(&ir, &prog).unwrap_or_else(|_| Workflow::empty());
        let calendar = ir.calendar.as_ref().and_then(BusinessCalendar::from_ir);
        let texts = explain::Texts::build(&ir, &prog, source);
        Policy {
            texts,
            hash: source_hash(&source.text),
            source: source.clone(),
            ir: Arc::new(ir),
            prog,
            workflow,
            calendar,
        }
    }

    pub fn name(&self) -> &str {
        &self.ir.name
    }

    pub fn version(&self) -> &str {
        &self.ir.version
    }

    /// Hex sha256 of the normalized source.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn ir(&self) -> &ir::Policy {
        &self.ir
    }

    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    pub fn source(&self) -> &SourceFile {
        &self.source
    }

    /// The business calendar, if the policy declares one.
    pub fn calendar(&self) -> Option<&BusinessCalendar> {
        self.calendar.as_ref()
    }

    /// An instant in the policy's time zone (its business calendar's), as
    /// `2026-12-03 17:00 EST`; `None` when the policy declares no calendar.
    pub fn local_time(&self, t: DateTime<Utc>) -> Option<String> {
        let tz = self.calendar.as_ref()?.tz();
        Some(t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
    }

    /// Validates a record given as JSON text.
    pub fn parse_record_json(&self, text: &str) -> Result<Record, RecordErrors> {
        self.parse_record_doc(&record::json_doc(text)?)
    }

    /// Validates a record given as YAML text.
    pub fn parse_record_yaml(&self, text: &str) -> Result<Record, RecordErrors> {
        self.parse_record_doc(&record::yaml_doc(text)?)
    }

    /// Validates a record given as a JSON value; collects every problem.
    pub fn parse_record_value(&self, v: &serde_json::Value) -> Result<Record, RecordErrors> {
        self.parse_record_doc(&doc::Node::from_json(v))
    }

    /// Validates a record given as a document tree; collects every problem.
    pub fn parse_record_doc(&self, v: &doc::Node) -> Result<Record, RecordErrors> {
        let mut p = Parser::new(&self.ir);
        let r = p.record(v, "");
        p.finish(r)
    }

    /// Validates a decision context given as a JSON value.
    pub fn parse_context_value(&self, v: &serde_json::Value) -> Result<Context, RecordErrors> {
        self.parse_context_doc(&doc::Node::from_json(v))
    }

    /// Validates a decision context given as a document tree.
    pub fn parse_context_doc(&self, v: &doc::Node) -> Result<Context, RecordErrors> {
        let mut p = Parser::new(&self.ir);
        let c = p.context(v);
        p.finish(Some(c))
    }

    /// Validates a decision context given as JSON text.
    pub fn parse_context_json(&self, text: &str) -> Result<Context, RecordErrors> {
        self.parse_context_doc(&record::json_doc(text)?)
    }

    /// Validates a decision context given as YAML text.
    pub fn parse_context_yaml(&self, text: &str) -> Result<Context, RecordErrors> {
        self.parse_context_doc(&record::yaml_doc(text)?)
    }

    fn compiled(&self) -> Compiled<'_> {
        Compiled {
            p: &self.ir,
            prog: &self.prog,
            wf: &self.workflow,
            cal: self.calendar.as_ref(),
            src: &self.source,
            texts: &self.texts,
            ir: &self.ir,
        }
    }

    /// Decides an action with a full explanation.
    pub fn decide(
        &self,
        record: &Record,
        action: &Action,
        ctx: &Context,
        now: DateTime<Utc>,
        audience: &Audience,
    ) -> Decision {
        if !calendar::in_range(now) {
            return self.refused(
                action,
                audience,
                now,
                format!("`now` ({now}) is outside years 1..=9999, which decisions can be dated in"),
            );
        }
        if let Audience::Partner(viewer) = audience {
            if *action != Action::RouteLead && Self::belongs_to_other(record, viewer) {
                return self.refused(
                    action,
                    audience,
                    now,
                    "the opportunity belongs to another partner; a partner sees decisions on \
                     its own deals only"
                        .into(),
                );
            }
        }
        // A lead is routed on its own: whatever record is given, none is read.
        let empty;
        let record = if *action == Action::RouteLead {
            empty = self.empty_record();
            &empty
        } else {
            record
        };
        let closing = matches!(action, Action::CloseWon | Action::CloseLost);
        let facts = Facts::derive(&self.ir, self.calendar.as_ref(), record, ctx, now, closing);
        let names = Names { policy: &self.ir };
        let mut out = Out::default();
        let mut vars = vec![Value::Absent; self.prog.vars];
        let (mut flag_vals, mut keys, mut implicit) = (Vec::new(), Vec::new(), Vec::new());
        let overflow = Cell::new(false);
        let mut d = Decider {
            c: self.compiled(),
            names: &names,
            rec: record,
            cx: ctx,
            now,
            facts: &facts,
            audience,
            explain: true,
            vars: &mut vars,
            flag_vals: &mut flag_vals,
            keys: &mut keys,
            implicit: &mut implicit,
            out: &mut out,
            overflow: &overflow,
        };
        d.run(action);
        if overflow.get() && out.outcome != Some(Outcome::Error) {
            self.undecided_on_overflow(&mut out, record, action, ctx, now);
        }
        let mut decision = Decision {
            outcome: out.outcome.unwrap_or(Outcome::Error),
            action: action.to_string(),
            audience: audience.to_string(),
            policy: PolicyRef {
                name: self.ir.name.clone(),
                version: self.ir.version.clone(),
                hash: self.hash.clone(),
            },
            evaluated_at: rfc3339(now),
            // A lead is routed on its own: the opportunity record plays no part.
            opportunity: (*action != Action::RouteLead).then(|| record.id.clone()),
            reasons: out.reasons,
            missing: out.missing,
            to_pass: out.to_pass,
            cannot_pass: out.cannot_pass,
            flags: out.flags,
            effects: out.effects,
            errors: out.errors,
        };
        if decision.outcome == Outcome::Denied {
            decide::settle_advice(&mut decision);
        } else {
            decision.to_pass.clear();
            decision.cannot_pass.clear();
        }
        if let Audience::Partner(viewer) = audience {
            self.redact(&mut decision, viewer, record, ctx);
        }
        decision
    }

    /// An expression of the explained decision overflowed. When the no-trace path
    /// (which evaluates exactly what the outcome depends on) overflowed too, the
    /// action is not decided: outcome `error`, no effects, and an `action.<action>`
    /// reason at the first overflowing expression. Otherwise the overflow was in
    /// an expression evaluated only for the explanation (a later rule of a
    /// decided choice); it stays an evaluation error with the value missing.
    fn undecided_on_overflow(
        &self,
        out: &mut Out,
        record: &Record,
        action: &Action,
        ctx: &Context,
        now: DateTime<Utc>,
    ) {
        if self.decide_fast(record, action, ctx, now).outcome != Outcome::Error {
            return;
        }
        out.outcome = Some(Outcome::Error);
        out.effects = decision::Effects {
            currency: std::mem::take(&mut out.effects.currency),
            ..Default::default()
        };
        out.to_pass.clear();
        let name = action.verb();
        if let Some((rule, location, text)) = out.overflow_at.clone() {
            out.reasons.push(decision::Reason {
                rule: format!("action.{name}"),
                location,
                outcome: decision::RuleOutcome::Fail,
                values: decision::Values::default(),
                message: format!(
                    "arithmetic overflow in `{text}` (`{rule}`) exceeds the decimal range; the action cannot be decided"
                ),
            });
        }
    }

    /// Checks that the policy can decide `action` as asked: an `advance` names a
    /// declared stage (with a did-you-mean otherwise). [`Policy::decide`] on an
    /// action that fails this check gives an `error` decision.
    pub fn check_action(&self, action: &Action) -> Result<(), UnknownStageError> {
        match action {
            Action::Advance { to } if self.ir.stage_by_name(to).is_none() => Err(
                UnknownStageError::new(to, self.ir.stages.iter().map(|s| s.name.clone()).collect()),
            ),
            _ => Ok(()),
        }
    }

    /// Routes the context's lead to the context's partners (`route_lead`): only the
    /// lead and the partners are read, no opportunity record is needed. Gives the
    /// same decision as [`Policy::decide`] with [`Action::RouteLead`] and any record.
    pub fn route_lead(&self, ctx: &Context, now: DateTime<Utc>, audience: &Audience) -> Decision {
        self.decide(&self.empty_record(), &Action::RouteLead, ctx, now, audience)
    }

    /// An opportunity with no id, no fields and nothing attached, in the first stage
    /// (what `route_lead` evaluates opportunity fields against: all missing).
    fn empty_record(&self) -> Record {
        let fields = self
            .ir
            .record(ir::RecordKind::Opportunity)
            .map_or(0, |r| r.fields.len());
        Record {
            id: String::new(),
            stage: ir::StageId(0),
            fields: vec![Value::Absent; fields],
            partner: None,
            account: None,
            line_items: Vec::new(),
            registration: None,
            history: Vec::new(),
        }
    }

    /// True when the record is another partner's deal as seen by `viewer`: its
    /// partner, or the partner holding its registration, is someone else.
    fn belongs_to_other(record: &Record, viewer: &str) -> bool {
        record.partner_id().is_some_and(|p| p != viewer)
            || record.registering_partner().is_some_and(|p| p != viewer)
    }

    /// An action that is not decided at all (another partner's deal seen as a partner,
    /// an instant outside years 1..=9999): nothing about the deal is shown, not even
    /// its id; the one `action.<verb>` reason says why.
    fn refused(
        &self,
        action: &Action,
        audience: &Audience,
        now: DateTime<Utc>,
        message: String,
    ) -> Decision {
        let verb = action.verb();
        Decision {
            outcome: Outcome::Error,
            action: action.to_string(),
            audience: audience.to_string(),
            policy: PolicyRef {
                name: self.ir.name.clone(),
                version: self.ir.version.clone(),
                hash: self.hash.clone(),
            },
            evaluated_at: rfc3339(now),
            opportunity: None,
            reasons: vec![Reason {
                rule: format!("action.{verb}"),
                location: self.texts.loc(&self.source, 0),
                outcome: RuleOutcome::Fail,
                values: Values::default(),
                message,
            }],
            missing: Vec::new(),
            to_pass: Vec::new(),
            cannot_pass: Vec::new(),
            flags: Vec::new(),
            effects: Effects {
                currency: self.ir.currency.clone(),
                ..Effects::default()
            },
            errors: Vec::new(),
        }
    }

    /// Decides without explanation: outcome and key numbers only.
    pub fn decide_fast(
        &self,
        record: &Record,
        action: &Action,
        ctx: &Context,
        now: DateTime<Utc>,
    ) -> FastDecision {
        let mut scratch = Scratch::default();
        self.decide_fast_with(&mut scratch, record, action, ctx, now)
    }

    /// [`Policy::decide_fast`] reusing scratch space (no allocation for `advance` and
    /// `evaluate` once the scratch is warm, beyond what the policy's rules need).
    pub fn decide_fast_with(
        &self,
        scratch: &mut Scratch,
        record: &Record,
        action: &Action,
        ctx: &Context,
        now: DateTime<Utc>,
    ) -> FastDecision {
        // As in `decide`: an instant outside years 1..=9999 is not decided.
        if !calendar::in_range(now) {
            return FastDecision {
                outcome: Outcome::Error,
                summary: Summary::default(),
            };
        }
        // As in `decide`: a lead is routed on its own.
        let empty;
        let record = if *action == Action::RouteLead {
            empty = self.empty_record();
            &empty
        } else {
            record
        };
        let closing = matches!(action, Action::CloseWon | Action::CloseLost);
        let facts = Facts::derive(&self.ir, self.calendar.as_ref(), record, ctx, now, closing);
        let names = Names { policy: &self.ir };
        let Scratch {
            vars,
            flags,
            keys,
            implicit,
            out,
        } = scratch;
        // Every quantifier slot starts missing (cheaper than clear + resize when warm).
        if vars.len() == self.prog.vars {
            for v in vars.iter_mut().filter(|v| !v.is_absent()) {
                *v = Value::Absent;
            }
        } else {
            vars.clear();
            vars.resize(self.prog.vars, Value::Absent);
        }
        out.outcome = None;
        out.summary = Summary::default();
        let overflow = Cell::new(false);
        let mut d = Decider {
            c: self.compiled(),
            names: &names,
            rec: record,
            cx: ctx,
            now,
            facts: &facts,
            audience: &Audience::Vendor,
            explain: false,
            vars,
            flag_vals: flags,
            keys,
            implicit,
            out,
            overflow: &overflow,
        };
        d.run(action);
        let fast = FastDecision {
            outcome: d.out.outcome.unwrap_or(Outcome::Error),
            summary: d.out.summary,
        };
        if !matches!(action, Action::Advance { .. } | Action::Evaluate) {
            // Other actions may record effects even without explanation.
            *d.out = Out::default();
        }
        fast
    }

    /// Identities the viewer must not see (other partners' ids and names, and the ids
    /// of their registrations and opportunities), and the viewer's own identities
    /// (its id and name, its registrations and opportunities), which are never
    /// redacted.
    fn foreign(
        &self,
        viewer: &str,
        record: &Record,
        ctx: &Context,
    ) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut out = BTreeSet::new();
        let mut own = BTreeSet::new();
        own.insert(viewer.to_string());
        let add_party =
            |p: &record::Party, out: &mut BTreeSet<String>, own: &mut BTreeSet<String>| {
                if &*p.id != viewer {
                    out.insert(p.id.to_string());
                    out.extend(p.name.clone());
                } else {
                    own.extend(p.name.clone());
                }
            };
        let add_record = |r: &Record, out: &mut BTreeSet<String>, own: &mut BTreeSet<String>| {
            let owner = r.registering_partner();
            let mine = owner == Some(viewer) && r.partner_id().is_none_or(|p| p == viewer);
            if let Some(p) = &r.partner {
                add_party(p, out, own);
            }
            if let Some(o) = owner.filter(|o| *o != viewer) {
                out.insert(o.to_string());
            }
            let ids = std::iter::once(r.id.clone())
                .chain(r.registration.as_ref().and_then(|g| g.id.clone()));
            if mine {
                own.extend(ids);
            } else {
                out.extend(ids);
            }
        };
        add_record(record, &mut out, &mut own);
        for r in &ctx.registrations {
            add_record(r, &mut out, &mut own);
        }
        for p in &ctx.partners {
            add_party(p, &mut out, &mut own);
        }
        if let Some(cm) = &self.ir.commission {
            for s in cm.splits.iter().flat_map(|s| s.shares.iter()) {
                if let SplitRole::Field { slot, .. } = &s.role {
                    if let Some(t) = record.fields.get(*slot as usize).and_then(Value::as_text) {
                        if t != viewer {
                            out.insert(t.to_string());
                        }
                    }
                }
            }
        }
        own.retain(|s| !s.trim().is_empty());
        out.retain(|s| !s.trim().is_empty() && !own.contains(s));
        (out, own)
    }

    /// Redacts a partner's view: first the fields known to hold partner identities
    /// (commission shares and partner, `commission.<id>` amounts, routing entries,
    /// the opportunity id), then, as a last line of defence, whole-token occurrences
    /// of the foreign identities in every text (see [`Decision::scrub`]).
    fn redact(&self, d: &mut Decision, viewer: &str, record: &Record, ctx: &Context) {
        let (foreign, own) = self.foreign(viewer, record, ctx);
        // Other partners' commission shares are folded into `commission.others`.
        let mut others = Some(rust_decimal::Decimal::ZERO);
        let mut any = false;
        let keys: Vec<String> = d.effects.amounts.keys().cloned().collect();
        for k in keys {
            if let Some(p) = k.strip_prefix("commission.") {
                if foreign.contains(p) {
                    if let Some(v) = d.effects.amounts.remove(&k) {
                        let share = v.parse::<rust_decimal::Decimal>().unwrap_or_default();
                        others = others.and_then(|o| o.checked_add(share));
                        any = true;
                    }
                }
            }
        }
        if any {
            d.effects.amounts.insert(
                "commission.others".into(),
                // Shares are parts of one checked total, so the sum fits; were it
                // ever not to, no figure is better than a wrong one.
                others.map_or_else(|| "overflow".into(), money_str),
            );
        }
        if let Some(c) = &mut d.effects.commission {
            for s in &mut c.shares {
                if foreign.contains(&s.partner) {
                    s.partner = "another partner".into();
                }
            }
            for p in [&mut c.partner, &mut c.rebate_partner] {
                if p.as_ref().is_some_and(|p| foreign.contains(p)) {
                    *p = Some("another partner".into());
                }
            }
        }
        if let Some(r) = &mut d.effects.routing {
            r.ranked.retain(|p| p.partner == viewer);
            r.excluded.retain(|p| p.partner == viewer);
        }
        if d.opportunity.as_ref().is_some_and(|o| foreign.contains(o)) {
            d.opportunity = None;
        }
        d.scrub(&foreign, &own);
    }
}

/// Named amounts of a decision (alias for `decision.effects.amounts`).
pub fn amounts(d: &Decision) -> &BTreeMap<String, String> {
    &d.effects.amounts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::cases::TestFile;

    /// One scratch reused across every case record, action and policy decides exactly
    /// as a fresh one, and with the explaining path's outcome.
    #[test]
    fn a_reused_scratch_decides_like_a_fresh_one() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies");
        let mut scratch = Scratch::default();
        let mut checked = 0;
        for name in [
            "channel-standard",
            "healthcare-it",
            "mssp-security",
            "salesforce-default",
        ] {
            let text = std::fs::read_to_string(format!("{dir}/{name}.policy")).unwrap();
            let policy = Policy::compile(&SourceFile::new(format!("{name}.policy"), text)).unwrap();
            let cases = std::fs::read_to_string(format!("{dir}/{name}.tests.yaml")).unwrap();
            let file: TestFile = serde_yaml::from_str(&cases).unwrap();
            let mut actions: Vec<Action> = [
                "register",
                "evaluate",
                "close_won",
                "close_lost",
                "route_lead",
            ]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
            actions.extend(
                policy
                    .ir()
                    .stages
                    .iter()
                    .map(|s| Action::Advance { to: s.name.clone() }),
            );
            actions.push(Action::Advance {
                to: "Nowhere".into(),
            });
            for case in &file.cases {
                let Some(Ok(rec)) = case.record.as_ref().map(|r| policy.parse_record_value(r))
                else {
                    continue;
                };
                let ctx = case
                    .context
                    .as_ref()
                    .and_then(|c| policy.parse_context_value(c).ok())
                    .unwrap_or_default();
                let now: DateTime<Utc> = case.now.parse().unwrap();
                for a in actions.iter().chain([&case.action.parse().unwrap()]) {
                    let reused = policy.decide_fast_with(&mut scratch, &rec, a, &ctx, now);
                    let fresh = policy.decide_fast(&rec, a, &ctx, now);
                    assert_eq!(reused, fresh, "{name} / {} / {a}", case.name);
                    let full = policy.decide(&rec, a, &ctx, now, &Audience::Vendor);
                    assert_eq!(reused.outcome, full.outcome, "{name} / {} / {a}", case.name);
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} decisions checked");
    }
}
