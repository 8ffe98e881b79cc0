//! Checker: AST -> checked IR. Resolves names, infers and checks types, validates
//! literals, and runs the stage-graph checks. Collects every error.
//!
//! The work is split by concern:
//! - `decls`: the header, records, stages and flow,
//! - `sections`: registration, co-sell, commission, hygiene and leads,
//! - `exprs`: name resolution and typing of expressions,
//! - `literals`: literal validation and constant evaluation,
//! - `types`: type expressions and type rules,
//! - `names`: built-in name tables and "did you mean" suggestions,
//! - `graph`: reachability, dead ends, terminal stages, falling probabilities.
//!
//! Passes run in dependency order (header, records, stage names, stage bodies, flow,
//! sections, graph) and each keeps going after an error, so one run reports every
//! problem. A failed sub-expression yields `None` and its parents stay silent, which
//! keeps one mistake from producing a cascade of diagnostics.
//!
//! Semantics decided here (the engine relies on them):
//! - `integer / integer` is a `decimal`; integers and decimals compare and mix freely.
//! - Any field may be absent at run time. `T?` unifies with `T`: comparisons and
//!   arithmetic accept it (arithmetic on an optional operand has an optional type),
//!   and `bool?` is accepted wherever a condition is expected (absent counts as false).
//!   `present x` / `missing x` apply to any field path.
//! - Enums declared with exactly the same variants (in the same order) share one
//!   [`ir::EnumId`], so `lead.region in partner.territories` type-checks when both
//!   fields declare `enum { NA, EMEA, APAC, LATAM }`.
//! - Bare stage names and enum values become [`ir::Const::Stage`] / [`ir::Const::Enum`].
//! - A bare `requires` field `f` is evidence: `present f`, and for a `bool` field
//!   `present f and f == true` (see `decls.rs`); the item's `evidence` names the field.
//! - A stage without `forecast` forecasts as `pipeline` (open), `closed` (won) or
//!   `omitted` (lost).
//! - A business day is the calendar's working day (`17:00 - 09:00` = 8h, the default)
//!   and a business week is that times the working days; business hours and minutes
//!   are plain hours and minutes of business time. Durations are whole seconds.
//! - A bare `account` key in `duplicate`/`conflict ... on` is `account.domain` (or
//!   `account.name` when there is no domain field).
//! - `stage.probability` is [`ir::Builtin::Probability`]; `days(d)` takes a calendar
//!   duration; `min`/`max` of an integer and a decimal is a decimal.

mod decls;
mod exprs;
mod graph;
mod literals;
mod names;

// Name tables shared with `crate::ide` (completion and hover).
pub(crate) use names::{builtin_fields, builtin_type, FUNCS, OPPORTUNITY_SINGLE, ROOTS};
mod sections;
mod types;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use crate::ast::{self, Span};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, EnumId, RecordKind, StageId};
use crate::source::SourceFile;

/// Checks a parsed policy. Returns the IR when no error-severity diagnostic was found
/// (warnings from the graph checks may accompany it).
pub fn check(policy: &ast::Policy, source: &SourceFile) -> (Option<ir::Policy>, Vec<Diagnostic>) {
    let mut cx = Checker::new(source);
    let ir = cx.run(policy);
    let text: &str = &source.text;
    for d in &mut cx.diags {
        d.span = trim_span(text, &d.span);
        for r in &mut d.related {
            r.span = trim_span(text, &r.span);
        }
    }
    let has_errors = cx.diags.iter().any(Diagnostic::is_error);
    (if has_errors { None } else { Some(ir) }, cx.diags)
}

/// Shrinks a span to exclude surrounding whitespace (composite nodes may carry
/// trailing layout from the grammar).
fn trim_span(text: &str, span: &Span) -> Span {
    let Some(slice) = text.get(span.clone()) else {
        return span.clone();
    };
    let start = span.start + (slice.len() - slice.trim_start().len());
    let end = span.end - (slice.len() - slice.trim_end().len());
    if start < end {
        start..end
    } else {
        span.clone()
    }
}

/// Working state of one check run.
pub(crate) struct Checker<'a> {
    pub(crate) source: &'a SourceFile,
    pub(crate) diags: Vec<Diagnostic>,
    /// The policy currency (empty until the header is read or when it is missing).
    pub(crate) currency: String,
    /// Length of one business day in seconds (from the calendar's hours; 8h by default).
    pub(crate) business_day: i64,
    /// Working days per week (for `N business weeks`).
    pub(crate) working_days: i64,
    pub(crate) enums: Vec<ir::EnumDef>,
    pub(crate) records: Vec<ir::RecordSchema>,
    /// Field name -> slot, per record kind.
    pub(crate) field_slots: Vec<HashMap<String, u32>>,
    /// Fields whose declaration failed: their uses stay silent (no cascades).
    pub(crate) poisoned: HashSet<(RecordKind, String)>,
    pub(crate) stages: Vec<ir::StageDef>,
    pub(crate) stage_ids: HashMap<String, StageId>,
    /// Span of each stage's name (indexed like `stages`).
    pub(crate) stage_name_spans: Vec<Span>,
    /// Whether each stage declared a valid probability (indexed like `stages`); a
    /// missing or invalid one is already an error, and the graph checks skip it.
    pub(crate) probability_ok: Vec<bool>,
    pub(crate) pools: Vec<ir::Pool>,
    pub(crate) pool_ids: HashMap<String, ir::PoolId>,
    /// Next quantifier variable id (unique within the policy).
    pub(crate) next_var: u32,
    /// Name comparisons left for "did you mean" suggestions over lists that grow with
    /// the policy (see [`Checker::did_you_mean_in`]).
    suggest_budget: std::cell::Cell<usize>,
}

/// "Did you mean" comparisons allowed per check run: a file with thousands of unknown
/// names among thousands of declared ones would otherwise compare every pair.
const SUGGEST_BUDGET: usize = 200_000;

impl<'a> Checker<'a> {
    fn new(source: &'a SourceFile) -> Self {
        let enums = ir::EnumDef::builtins();
        let records = RecordKind::ALL
            .iter()
            .map(|&kind| ir::RecordSchema {
                kind,
                fields: Vec::new(),
                span: None,
            })
            .collect();
        Self {
            source,
            diags: Vec::new(),
            currency: String::new(),
            business_day: 8 * 3600,
            working_days: 5,
            enums,
            records,
            field_slots: vec![HashMap::new(); RecordKind::ALL.len()],
            poisoned: HashSet::new(),
            stages: Vec::new(),
            stage_ids: HashMap::new(),
            stage_name_spans: Vec::new(),
            probability_ok: Vec::new(),
            pools: Vec::new(),
            pool_ids: HashMap::new(),
            next_var: 0,
            suggest_budget: std::cell::Cell::new(SUGGEST_BUDGET),
        }
    }

    /// Runs every pass and assembles the IR (meaningful only when no error was reported).
    fn run(&mut self, policy: &ast::Policy) -> ir::Policy {
        let header = self.header(policy);
        self.records(policy);
        let stage_items = self.register_stages(policy);
        for (stage, id) in &stage_items {
            self.stage_body(stage, *id);
        }
        let (transitions, flow_resolved) = self.flow(policy);
        graph::check(self, &transitions, flow_resolved);
        let registration = self.registration(policy);
        let cosell = self.cosell(policy);
        let commission = self.commission(policy);
        let hygiene = self.hygiene(policy);
        let leads = self.leads(policy);
        ir::Policy {
            name: header.name,
            version: header.version,
            currency: self.currency.clone(),
            calendar: header.calendar,
            enums: std::mem::take(&mut self.enums),
            records: std::mem::take(&mut self.records),
            stages: std::mem::take(&mut self.stages),
            transitions,
            registration,
            cosell,
            commission,
            hygiene,
            leads,
        }
    }

    /// `did you mean `x`?` over candidates that grow with the policy (stages, pools,
    /// flags, fields, enum values). Each call spends one comparison per candidate from
    /// a per-run budget; when the budget cannot pay for the list, no suggestion is
    /// made (the caller's fallback help is used), so the suggestions of a file with
    /// many unknown names cost linear time, not names times candidates.
    pub(crate) fn did_you_mean_in(&self, name: &str, candidates: &[&str]) -> Option<String> {
        let left = self.suggest_budget.get();
        let cost = candidates.len();
        if cost > left {
            return None;
        }
        self.suggest_budget.set(left - cost);
        names::did_you_mean(name, candidates.iter().copied())
    }

    /// Records a diagnostic.
    pub(crate) fn emit(&mut self, diag: Diagnostic) {
        self.diags.push(diag);
    }

    /// A new diagnostic (not yet emitted).
    pub(crate) fn diag(code: Code, span: &Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(code, span.clone(), message)
    }

    /// The source text of a span (empty when out of range).
    pub(crate) fn text(&self, span: &Span) -> &str {
        self.source.text.get(span.clone()).unwrap_or("")
    }

    /// The span of a leading keyword (`registration`, `cosell`, ...) within a node's
    /// span, or the whole span when the text does not start with it.
    pub(crate) fn keyword_span(&self, span: &Span, keyword: &str) -> Span {
        if self.text(span).starts_with(keyword) {
            span.start..span.start + keyword.len()
        } else {
            span.clone()
        }
    }

    /// Registers a user enum and returns its id. An enum with exactly the same variants
    /// as an earlier user enum shares its id, so `item.product_family == product_family`
    /// type-checks when both fields declare the same variants.
    pub(crate) fn add_enum(&mut self, name: &str, variants: Vec<String>, span: Span) -> EnumId {
        let builtin = EnumId::BUILTIN_COUNT as usize;
        if let Some(pos) = self
            .enums
            .iter()
            .skip(builtin)
            .position(|e| e.variants == variants)
        {
            return EnumId((pos + builtin) as u32);
        }
        self.enums.push(ir::EnumDef {
            name: name.to_string(),
            variants,
            span,
        });
        EnumId((self.enums.len() - 1) as u32)
    }

    pub(crate) fn enum_def(&self, id: EnumId) -> Option<&ir::EnumDef> {
        self.enums.get(id.0 as usize)
    }

    pub(crate) fn record(&self, kind: RecordKind) -> Option<&ir::RecordSchema> {
        self.records.get(kind.index())
    }

    /// Looks up a declared field: its slot and definition.
    pub(crate) fn field(&self, kind: RecordKind, name: &str) -> Option<(u32, &ir::FieldDef)> {
        let slot = *self.field_slots.get(kind.index())?.get(name)?;
        let def = self.record(kind)?.fields.get(slot as usize)?;
        Some((slot, def))
    }

    /// Whether `kind.name` was declared but failed to check.
    pub(crate) fn is_poisoned(&self, kind: RecordKind, name: &str) -> bool {
        self.poisoned.contains(&(kind, name.to_string()))
    }

    /// Whether the policy declares `record <kind>`.
    pub(crate) fn record_declared(&self, kind: RecordKind) -> bool {
        self.record(kind).is_some_and(|r| r.span.is_some())
    }
}
