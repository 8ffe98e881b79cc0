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
        let mut hidden_excluded = 0usize;
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
                    if self.explain && self.shown(&partner.id) {
                        let text = self.etext(id);
                        let why = exclusion(r.because.as_deref(), text);
                        let msg = format!("partner `{}` is excluded: {why}", partner.id);
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
                    } else if self.explain {
                        // Counted, never shown: another partner's exclusion.
                        hidden_excluded += 1;
                    }
                    break;
                }
            }
            if ok_all {
                let keys: Vec<Value> = prog.prefer.iter().map(|k| self.value(&env, *k).0).collect();
                if self.explain && self.shown(&partner.id) {
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
        let viewer = match self.audience {
            Audience::Partner(v) => Some(v.as_str()),
            Audience::Vendor => None,
        };
        if !leads.prefer.is_empty() {
            let (outcome, msg) = if none {
                (
                    RuleOutcome::Skip,
                    "no partner is eligible for the lead, so none is ranked".to_string(),
                )
            } else if let Some(v) = viewer {
                // A partner learns its own standing only: first (offered the lead),
                // eligible behind another partner, or not eligible.
                let msg = match ranked.iter().find(|r| r.partner == v) {
                    Some(r) if r.rank == 1 => {
                        format!("partner `{v}` ranks first, so the lead is offered to it")
                    }
                    Some(r) => format!(
                        "partner `{v}` is eligible but ranks {}; the lead is offered to another partner",
                        r.rank
                    ),
                    None => format!("partner `{v}` is not eligible, so it is not ranked"),
                };
                (RuleOutcome::Pass, msg)
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
        if let Some(v) = viewer {
            if !partners.iter().any(|p| &*p.id == v) {
                self.reason(
                    "leads.route".into(),
                    leads.routes.first().map_or(&leads.span, |r| &r.span),
                    RuleOutcome::Skip,
                    &Rec::default(),
                    format!("partner `{v}` is not among the partners considered for the lead"),
                );
            }
        }
        // The counts are the vendor's: a partner sees its own entry only.
        let (eligible_count, excluded_count) = match viewer {
            None => (Some(ranked.len()), Some(excluded.len() + hidden_excluded)),
            Some(_) => (None, None),
        };
        let mut effect = RoutingEffect {
            lead: Some(lead.id.to_string()),
            eligible_count,
            excluded_count,
            ranked: Vec::new(),
            excluded: Vec::new(),
            accept_by: None,
            reroute_at_most: None,
            convert_to: None,
        };
        // A partner the lead is not offered to learns nothing of the offer's terms.
        let passed_over = viewer
            .filter(|v| !none && ranked.first().is_none_or(|r| r.partner != *v))
            .map(str::to_string);
        if let Some(v) = &passed_over {
            if let Some(acc) = &leads.accept {
                self.reason(
                    "leads.accept".into(),
                    &acc.span,
                    RuleOutcome::Skip,
                    &Rec::default(),
                    format!("the lead is not offered to partner `{v}`, so it has no acceptance deadline"),
                );
            }
            if let Some(cv) = &leads.convert {
                self.reason(
                    "leads.convert".into(),
                    &cv.span,
                    RuleOutcome::Skip,
                    &Rec::default(),
                    format!(
                        "the lead is not offered to partner `{v}`, so it does not convert for it"
                    ),
                );
            }
        }
        if let Some(acc) = leads.accept.as_ref().filter(|_| passed_over.is_none()) {
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
        if let Some(cv) = leads.convert.as_ref().filter(|_| passed_over.is_none()) {
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
        if let Some(v) = viewer {
            ranked.retain(|r| r.partner == v);
            excluded.retain(|e| e.partner == v);
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
                    let msg = match viewer.filter(|v| partners.iter().any(|p| &*p.id == *v)) {
                        Some(v) => format!("partner `{v}` is not eligible for the lead"),
                        None => "no partner is eligible for the lead".into(),
                    };
                    self.fail("leads.route".into(), &first.span, msg);
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

impl Decider<'_> {
    /// Whether the audience may see the routing entry of partner `id`: the vendor
    /// sees every partner, a partner only itself.
    fn shown(&self, id: &str) -> bool {
        match self.audience {
            Audience::Vendor => true,
            Audience::Partner(v) => v == id,
        }
    }
}

/// Why a partner is excluded, from the point of view of the route rule it fails:
/// the rule's `because` negated when it is a plain statement about the partner ("the
/// partner covers the lead's region" -> "the partner does not cover the lead's
/// region"), otherwise the failed condition with the rule's reason.
pub(crate) fn exclusion(because: Option<&str>, text: &str) -> String {
    match because {
        None => format!("`{text}` does not hold"),
        Some(b) => match negate(b) {
            Some(n) => n,
            None => format!("`{text}` does not hold (route rule: {b})"),
        },
    }
}

/// Negates a simple sentence about the partner: `the partner <verb> ...`,
/// `partner <verb> ...` or, without a subject, `<verb> the|a|an|its|... ...`, with
/// `is`, `are`, `has`, `can`, `must`, `should`, `does` or a present-tense verb; `None`
/// for anything else (the caller then quotes the sentence as it is).
fn negate(sentence: &str) -> Option<String> {
    let s = sentence.trim();
    let lower = s.to_lowercase();
    let subject_len = ["the partner ", "partner "]
        .iter()
        .find(|p| lower.starts_with(**p))
        .map_or(0, |p| p.len());
    let (subject, rest) = (s.get(..subject_len)?, s.get(subject_len..)?);
    let (verb, tail) = match rest.split_once(' ') {
        Some((v, t)) => (v, format!(" {t}")),
        None => (rest, String::new()),
    };
    if verb.is_empty() || tail.starts_with(" not ") {
        return None;
    }
    let negated = match verb {
        "is" | "are" | "was" | "were" | "must" | "should" => format!("{verb} not"),
        "has" => "does not have".to_string(),
        "can" => "cannot".to_string(),
        "does" => "does not".to_string(),
        _ => {
            const DETERMINERS: [&str; 9] = [
                "the", "a", "an", "its", "their", "all", "every", "any", "at",
            ];
            // Words ending in `s` that are not verbs, and `-ses` verbs whose base is
            // ambiguous (`uses` / `focuses`): quoted rather than negated wrongly.
            const NOT_VERBS: [&str; 12] = [
                "always",
                "also",
                "sometimes",
                "thus",
                "perhaps",
                "its",
                "this",
                "plus",
                "less",
                "across",
                "towards",
                "afterwards",
            ];
            let next = tail.split_whitespace().next().unwrap_or("");
            if !verb.chars().all(|c| c.is_ascii_lowercase())
                || !verb.ends_with('s')
                || NOT_VERBS.contains(&verb)
                || (verb.ends_with("ses") && !verb.ends_with("sses"))
                || (subject.is_empty() && !DETERMINERS.contains(&next))
            {
                return None;
            }
            let base = if let Some(stem) = verb.strip_suffix("ies") {
                format!("{stem}y")
            } else if ["ches", "shes", "sses", "xes", "zes", "oes"]
                .iter()
                .any(|e| verb.ends_with(e))
            {
                verb.get(..verb.len() - 2)?.to_string()
            } else if verb.ends_with("ss") || verb.ends_with("us") {
                return None;
            } else {
                verb.get(..verb.len() - 1)?.to_string()
            };
            format!("does not {base}")
        }
    };
    Some(format!("{subject}{negated}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::exclusion;

    #[test]
    fn exclusions_read_from_the_failing_rules_point_of_view() {
        let cases = [
            (
                Some("the partner covers the lead's region"),
                "the partner does not cover the lead's region",
            ),
            (
                Some("the partner is specialized in the product family"),
                "the partner is not specialized in the product family",
            ),
            (
                Some("the partner has a certified engineer"),
                "the partner does not have a certified engineer",
            ),
            (
                Some("the partner matches the lead's size"),
                "the partner does not match the lead's size",
            ),
            (
                Some("the partner qualifies for enterprise leads"),
                "the partner does not qualify for enterprise leads",
            ),
            (
                Some("covers the region"),
                "does not cover the region",
            ),
            (
                Some("is certified"),
                "is not certified",
            ),
            (
                Some("large leads go to certified partners"),
                "`lead.seats < 500` does not hold (route rule: large leads go to certified partners)",
            ),
            (
                Some("leads go to certified partners"),
                "`lead.seats < 500` does not hold (route rule: leads go to certified partners)",
            ),
            (
                Some("the partner is not a reseller"),
                "`lead.seats < 500` does not hold (route rule: the partner is not a reseller)",
            ),
            (
                Some("the partner always covers the region"),
                "`lead.seats < 500` does not hold (route rule: the partner always covers the region)",
            ),
            (
                Some("the partner focuses on security"),
                "`lead.seats < 500` does not hold (route rule: the partner focuses on security)",
            ),
            (Some("the partner was vetted"), "the partner was not vetted"),
            (None, "`lead.seats < 500` does not hold"),
        ];
        for (because, want) in cases {
            assert_eq!(exclusion(because, "lead.seats < 500"), want);
        }
    }
}
