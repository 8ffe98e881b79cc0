//! The rule catalogue: every rule a compiled policy can evaluate, with the id the
//! engine writes in `reasons[].rule` and its source location. `dealflow test` uses it
//! for rule coverage; the end-to-end tests check that decisions never name a rule
//! outside it.
//!
//! Two kinds of reason ids are structural rather than rules of the policy, and are
//! not listed (see [`Policy::is_structural_rule_id`]): `action.<action>` (the action
//! cannot be decided at all) and `flow.<From>-><To>` for a pair of stages the flow does
//! not connect (the reason is located at the target stage).

use std::collections::BTreeSet;

use dealflow_dsl::ir::{ExtendTrigger, Span, StageId, StageKind};

use crate::Policy;

/// One rule of a compiled policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// The rule id exactly as it appears in `reasons[].rule`.
    pub id: String,
    /// The policy section the rule belongs to: `stage`, `forecast`, `flow`,
    /// `registration`, `cosell`, `commission`, `hygiene` or `leads`.
    pub section: &'static str,
    /// `file:line:col` (1-based) of the rule, as in `reasons[].location`.
    pub location: String,
    /// Byte range of the rule in the policy source.
    pub span: Span,
}

/// Builds the catalogue in declaration order, skipping ids already listed.
struct Catalogue<'p> {
    policy: &'p Policy,
    seen: BTreeSet<String>,
    rules: Vec<RuleInfo>,
}

impl Catalogue<'_> {
    fn add(&mut self, section: &'static str, id: String, span: &Span) {
        if self.seen.insert(id.clone()) {
            self.rules.push(RuleInfo {
                location: self.policy.source.location(span.start),
                id,
                section,
                span: span.clone(),
            });
        }
    }
}

/// The action names that have an `action.<name>` structural reason.
const ACTIONS: [&str; 6] = crate::action::VERBS;

impl Policy {
    /// Every rule this policy can evaluate, once each, in source order. A rule that
    /// the engine can never reach (an `escalate` without a `review`, `protect`
    /// without any `auto approve`, a `never` whose pool has no `assign`) is left out.
    pub fn rule_ids(&self) -> Vec<RuleInfo> {
        let p = &self.ir;
        let mut c = Catalogue {
            policy: self,
            seen: BTreeSet::new(),
            rules: Vec::new(),
        };
        let stage_name = |s: StageId| p.stage(s).map(|s| s.name.as_str()).unwrap_or("?");

        for st in &p.stages {
            c.add("forecast", format!("forecast.{}", st.name), &st.span);
            let items = st.requires.iter().flat_map(|r| r.items.iter());
            for (k, item) in items.enumerate() {
                c.add(
                    "stage",
                    format!("stage.{}.requires[{k}]", st.name),
                    &item.span,
                );
            }
        }

        for t in &p.transitions {
            let to = stage_name(t.to);
            match t.from {
                Some(f) => c.add("flow", format!("flow.{}->{to}", stage_name(f)), &t.span),
                None => {
                    // `any -> X` is an edge from every open stage other than X.
                    let has_source = p
                        .stages
                        .iter()
                        .enumerate()
                        .any(|(i, s)| i as u32 != t.to.0 && s.kind == StageKind::Open);
                    if has_source {
                        c.add("flow", format!("flow.any->{to}"), &t.span);
                    }
                }
            }
        }

        if let Some(r) = &p.registration {
            // `register` on a deal in a won or lost stage is denied at that stage.
            for st in p.stages.iter().filter(|s| s.kind != StageKind::Open) {
                c.add(
                    "registration",
                    format!("registration.closed.{}", st.name),
                    &st.span,
                );
            }
            if let Some((_, span)) = &r.open_from {
                c.add("registration", "registration.open_from".into(), span);
            }
            for (i, e) in r.eligible.iter().enumerate() {
                c.add(
                    "registration",
                    format!("registration.eligible[{i}]"),
                    &e.span,
                );
            }
            if let Some(d) = &r.duplicate {
                c.add("registration", "registration.duplicate".into(), &d.span);
            }
            for (i, x) in r.conflicts.iter().enumerate() {
                c.add(
                    "registration",
                    format!("registration.conflict[{i}]"),
                    &x.span,
                );
            }
            for (i, a) in r.auto_approve.iter().enumerate() {
                c.add(
                    "registration",
                    format!("registration.auto_approve[{i}]"),
                    &a.span,
                );
            }
            if let Some(rv) = &r.review {
                c.add("registration", "registration.review".into(), &rv.span);
                for (i, e) in r.escalations.iter().enumerate() {
                    c.add(
                        "registration",
                        format!("registration.escalate[{i}]"),
                        &e.span,
                    );
                }
            }
            if let Some((_, span)) = r.protect.as_ref().filter(|_| !r.auto_approve.is_empty()) {
                c.add("registration", "registration.protect".into(), span);
            }
            // Only the `advance` trigger is applied (by an approved `advance`).
            if let Some(e) = r.extend.as_ref().filter(|e| e.on == ExtendTrigger::Advance) {
                c.add("registration", "registration.extend".into(), &e.span);
            }
            for (i, l) in r.late.iter().enumerate() {
                c.add("registration", format!("registration.late[{i}]"), &l.span);
            }
            for (i, d) in r.discounts.iter().enumerate() {
                c.add(
                    "registration",
                    format!("registration.discount[{i}]"),
                    &d.span,
                );
            }
        }

        if let Some(cs) = &p.cosell {
            let assigned = |pool: u32| cs.assigns.iter().any(|a| a.pool.0 == pool);
            for (pi, pool) in cs.pools.iter().enumerate() {
                if assigned(pi as u32) {
                    c.add("cosell", format!("cosell.pool.{}", pool.name), &pool.span);
                }
            }
            for (i, a) in cs.assigns.iter().enumerate() {
                c.add("cosell", format!("cosell.assign[{i}]"), &a.span);
            }
            for (i, n) in cs.nevers.iter().enumerate() {
                let reachable = match n.pool {
                    Some(pool) => assigned(pool.0),
                    None => !cs.assigns.is_empty(),
                };
                if reachable {
                    c.add("cosell", format!("cosell.never[{i}]"), &n.span);
                }
            }
        }

        if let Some(cm) = &p.commission {
            for (i, a) in cm.attribute.iter().enumerate() {
                c.add("commission", format!("commission.attribute[{i}]"), &a.span);
            }
            if let Some(table) = &cm.rate {
                c.add("commission", "commission.rate".into(), &table.span);
                // Rows count from 1, like line items.
                for (r, row) in table.rows.iter().enumerate() {
                    let r = r + 1;
                    c.add("commission", format!("commission.rate.row[{r}]"), &row.span);
                }
            }
            for rb in &cm.rebates {
                c.add(
                    "commission",
                    format!("commission.rebate.{}", rb.name),
                    &rb.span,
                );
            }
            for (i, s) in cm.splits.iter().enumerate() {
                c.add("commission", format!("commission.split[{i}]"), &s.span);
            }
        }

        if let Some(h) = &p.hygiene {
            for f in &h.flags {
                c.add("hygiene", format!("hygiene.flag.{}", f.name), &f.span);
            }
            for (i, x) in h.excludes.iter().enumerate() {
                c.add("hygiene", format!("hygiene.exclude[{i}]"), &x.span);
            }
            for (i, d) in h.downweights.iter().enumerate() {
                c.add("hygiene", format!("hygiene.downweight[{i}]"), &d.span);
            }
        }

        if let Some(l) = &p.leads {
            // `leads.route` (a partner meets every route rule, or none does) is
            // located at the first route rule, or at the section without one.
            let eligible_span = l.routes.first().map_or(&l.span, |r| &r.span);
            c.add("leads", "leads.route".into(), eligible_span);
            for (i, r) in l.routes.iter().enumerate() {
                c.add("leads", format!("leads.route[{i}]"), &r.span);
            }
            if !l.prefer.is_empty() {
                let span = l.prefer_span.as_ref().unwrap_or(&l.span);
                c.add("leads", "leads.prefer".into(), span);
            }
            if let Some(a) = &l.accept {
                c.add("leads", "leads.accept".into(), &a.span);
            }
            if let Some(cv) = &l.convert {
                c.add("leads", "leads.convert".into(), &cv.span);
            }
        }

        let mut rules = c.rules;
        rules.sort_by_key(|r| r.span.start);
        rules
    }

    /// The catalogue entry of a rule id, if the policy has that rule.
    pub fn rule(&self, id: &str) -> Option<RuleInfo> {
        self.rule_ids().into_iter().find(|r| r.id == id)
    }

    /// True for reason ids that are structural rather than rules of the policy:
    /// `action.<action>`, and `flow.<From>-><To>` naming two declared stages that no
    /// flow edge connects.
    pub fn is_structural_rule_id(&self, id: &str) -> bool {
        if let Some(action) = id.strip_prefix("action.") {
            return ACTIONS.contains(&action);
        }
        let Some((from, to)) = id.strip_prefix("flow.").and_then(|r| r.split_once("->")) else {
            return false;
        };
        match (self.ir.stage_by_name(from), self.ir.stage_by_name(to)) {
            (Some(f), Some(t)) => self.workflow.edges(f, t).next().is_none(),
            _ => false,
        }
    }
}
