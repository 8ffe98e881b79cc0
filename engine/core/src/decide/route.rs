//! `route_lead`: which of the context's partners may take the context's lead (every
//! `route` rule holds), ranked by the `prefer` keys (ties by partner id), with the
//! acceptance deadline, the reroute limit and the conversion target.

use std::cmp::Ordering;

use super::Decider;
use crate::action::Audience;
use crate::decision::{ExcludedPartner, Outcome, RankedPartner, RoutingEffect, RuleOutcome};
use crate::eval::Rec;
use crate::value::{compare, rfc3339, Value};

impl Decider<'_> {
    pub(super) fn route_lead(&mut self) -> Outcome {
        let c = self.c;
        let Some(leads) = &c.p.leads else {
            self.fail(
                "action.route_lead".into(),
                &(0..0),
                "the policy has no `leads` section".into(),
            );
            return Outcome::Error;
        };
        let Some(lead) = &self.cx.lead else {
            self.fail(
                "action.route_lead".into(),
                &leads.span,
                "the context has no `lead` to route".into(),
            );
            return Outcome::Error;
        };
        let prog = &c.prog.leads;
        let mut eligible: Vec<(usize, Vec<Value>)> = Vec::new();
        let mut excluded: Vec<ExcludedPartner> = Vec::new();
        for (pi, partner) in self.cx.partners.iter().enumerate() {
            let mut env = self.env();
            env.partner = &partner.fields;
            let mut ok_all = true;
            for (ri, r) in leads.routes.iter().enumerate() {
                let Some(id) = prog.routes.get(ri).copied() else {
                    continue;
                };
                let (ok, rec) = self.cond(&env, id);
                if !ok {
                    ok_all = false;
                    if self.explain {
                        let text = self.etext(id);
                        let why = r
                            .because
                            .clone()
                            .unwrap_or_else(|| format!("`{text}` does not hold"));
                        let msg = format!("partner `{}` excluded: {why}", partner.id);
                        self.reason(
                            format!("leads.route[{ri}]"),
                            &r.span,
                            RuleOutcome::Fail,
                            &rec,
                            msg,
                        );
                        excluded.push(ExcludedPartner {
                            partner: partner.id.to_string(),
                            reason: why,
                        });
                    }
                    break;
                }
            }
            if ok_all {
                let keys: Vec<Value> = prog.prefer.iter().map(|k| self.value(&env, *k).0).collect();
                if self.explain {
                    let span = leads
                        .routes
                        .first()
                        .map(|r| r.span.clone())
                        .unwrap_or(leads.span.clone());
                    let msg = format!("partner `{}` meets every route rule", partner.id);
                    self.reason(
                        "leads.route".into(),
                        &span,
                        RuleOutcome::Pass,
                        &Rec::default(),
                        msg,
                    );
                }
                eligible.push((pi, keys));
            }
        }
        let partners = &self.cx.partners;
        eligible.sort_by(|(a, ka), (b, kb)| {
            for (i, (x, y)) in ka.iter().zip(kb).enumerate() {
                let desc = leads.prefer.get(i).is_some_and(|(_, d)| *d);
                let o = match (x.is_absent(), y.is_absent()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ => {
                        let o = compare(x, y).unwrap_or(Ordering::Equal);
                        if desc {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            let ida = partners.get(*a).map(|p| &*p.id).unwrap_or("");
            let idb = partners.get(*b).map(|p| &*p.id).unwrap_or("");
            ida.cmp(idb)
        });
        if !self.explain {
            return if eligible.is_empty() {
                Outcome::Denied
            } else {
                Outcome::Routed
            };
        }
        let mut ranked: Vec<RankedPartner> = eligible
            .iter()
            .enumerate()
            .filter_map(|(i, (pi, keys))| {
                let p = partners.get(*pi)?;
                Some(RankedPartner {
                    rank: i + 1,
                    partner: p.id.to_string(),
                    name: p.name.clone(),
                    keys: keys.iter().map(|k| self.names.render(k)).collect(),
                })
            })
            .collect();
        let prefer_span = leads.prefer_span.as_ref().unwrap_or(&leads.span);
        let none = ranked.is_empty();
        if !leads.prefer.is_empty() {
            let (outcome, msg) = if none {
                (
                    RuleOutcome::Skip,
                    "no partner is eligible for the lead, so none is ranked".to_string(),
                )
            } else {
                let order: Vec<&str> = ranked.iter().map(|r| r.partner.as_str()).collect();
                (
                    RuleOutcome::Pass,
                    format!(
                        "{} eligible partner(s) ranked: {}",
                        ranked.len(),
                        order.join(", ")
                    ),
                )
            };
            self.reason(
                "leads.prefer".into(),
                prefer_span,
                outcome,
                &Rec::default(),
                msg,
            );
        }
        let mut effect = RoutingEffect {
            lead: Some(lead.id.to_string()),
            eligible_count: ranked.len(),
            excluded_count: excluded.len(),
            ranked: Vec::new(),
            excluded: Vec::new(),
            accept_by: None,
            reroute_at_most: None,
            convert_to: None,
        };
        if let Some(acc) = &leads.accept {
            if none {
                self.reason(
                    "leads.accept".into(),
                    &acc.span,
                    RuleOutcome::Skip,
                    &Rec::default(),
                    "no partner is eligible, so there is no acceptance deadline".into(),
                );
            } else if let Some(by) = self.later(
                "leads.accept",
                &acc.span,
                "the acceptance deadline",
                self.now,
                &acc.within,
            ) {
                effect.accept_by = Some(rfc3339(by));
                effect.reroute_at_most = acc.reroute_at_most;
                let msg = format!("the partner must accept by {}", rfc3339(by));
                self.reason(
                    "leads.accept".into(),
                    &acc.span,
                    RuleOutcome::Pass,
                    &Rec::default(),
                    msg,
                );
            }
        }
        if let Some(cv) = &leads.convert {
            let to = self.stage_name(cv.to).to_string();
            let (ok, rec) = match (none, prog.convert) {
                (true, _) => (false, Rec::default()),
                (false, Some(id)) => {
                    let env = self.env();
                    self.cond(&env, id)
                }
                (false, None) => (true, Rec::default()),
            };
            let (outcome, msg) = if none {
                (
                    RuleOutcome::Skip,
                    format!(
                        "the lead is not routed to any partner, so it does not convert to `{to}`"
                    ),
                )
            } else if ok {
                effect.convert_to = Some(to.clone());
                (
                    RuleOutcome::Pass,
                    format!("the lead converts to an opportunity in `{to}`"),
                )
            } else {
                (
                    RuleOutcome::Skip,
                    format!(
                        "the lead does not convert yet: `{}` does not hold",
                        prog.convert.map(|i| self.etext(i)).unwrap_or_default()
                    ),
                )
            };
            self.reason("leads.convert".into(), &cv.span, outcome, &rec, msg);
        }
        if let Audience::Partner(v) = self.audience {
            ranked.retain(|r| &r.partner == v);
            excluded.retain(|e| &e.partner == v);
        }
        effect.ranked = ranked;
        effect.excluded = excluded;
        self.out.effects.routing = Some(effect);
        if eligible.is_empty() {
            if let Some(first) = leads.routes.first() {
                if !self
                    .out
                    .reasons
                    .iter()
                    .any(|r| r.outcome == RuleOutcome::Fail)
                {
                    self.fail(
                        "leads.route".into(),
                        &first.span,
                        "no partner is eligible for the lead".into(),
                    );
                }
            } else {
                self.fail(
                    "leads.route".into(),
                    &leads.span,
                    "no partner is eligible for the lead".into(),
                );
            }
            Outcome::Denied
        } else {
            Outcome::Routed
        }
    }
}
