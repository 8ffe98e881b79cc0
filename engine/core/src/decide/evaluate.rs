//! `evaluate`: hygiene flags (in order, each visible to later flags), forecast
//! category and weighted amount, co-sell eligibility per pool, and a commission
//! preview computed as `close_won` would.

use dealflow_dsl::ir::Forecast;
use rust_decimal::Decimal;

use super::Decider;
use crate::decision::{CosellEffect, ForecastEffect, Outcome, RuleOutcome};
use crate::eval::{NoRec, Rec};
use crate::value::{cents, money_str, pct_str as pct, Value};

fn forecast_name(f: Forecast) -> &'static str {
    match f {
        Forecast::Omitted => "omitted",
        Forecast::Pipeline => "pipeline",
        Forecast::BestCase => "best_case",
        Forecast::Commit => "commit",
        Forecast::Closed => "closed",
    }
}

impl Decider<'_> {
    pub(super) fn evaluate(&mut self) -> Outcome {
        let c = self.c;
        let mut excluded = false;
        let mut factor = Decimal::ONE;
        if let Some(h) = &c.p.hygiene {
            let mut flag_vals = std::mem::take(self.flag_vals);
            if flag_vals.len() == h.flags.len() {
                for v in flag_vals.iter_mut().filter(|v| !v.is_absent()) {
                    *v = Value::Absent;
                }
            } else {
                flag_vals.clear();
                flag_vals.resize(h.flags.len(), Value::Absent);
            }
            let base = self.env();
            for (i, f) in h.flags.iter().enumerate() {
                let Some(id) = c.prog.hygiene.flags.get(i).copied() else {
                    continue;
                };
                let mut env = base;
                env.flags = &flag_vals;
                let (raised, rec) = if self.explain {
                    self.cond(&env, id)
                } else {
                    let raised = self.check(&env, id);
                    if let Some(cell) = flag_vals.get_mut(i) {
                        *cell = Value::Bool(raised);
                    }
                    if raised && i < 64 {
                        self.out.summary.flags |= 1 << i;
                    }
                    continue;
                };
                if let Some(cell) = flag_vals.get_mut(i) {
                    *cell = Value::Bool(raised);
                }
                if raised && i < 64 {
                    self.out.summary.flags |= 1 << i;
                }
                if self.explain {
                    if raised {
                        self.out.flags.push(f.name.clone());
                    }
                    let msg = match (raised, &f.because) {
                        (true, Some(b)) => format!("flag `{}`: {b}", f.name),
                        (true, None) => format!("flag `{}` raised", f.name),
                        (false, _) => format!("flag `{}` not raised", f.name),
                    };
                    let outcome = if raised {
                        RuleOutcome::Fail
                    } else {
                        RuleOutcome::Pass
                    };
                    self.reason(
                        format!("hygiene.flag.{}", f.name),
                        &f.span,
                        outcome,
                        &rec,
                        msg,
                    );
                }
            }
            let mut env = base;
            env.flags = &flag_vals;
            for (i, x) in h.excludes.iter().enumerate() {
                let Some(id) = c.prog.hygiene.excludes.get(i).copied() else {
                    continue;
                };
                if !self.explain {
                    excluded |= self.check(&env, id);
                    continue;
                }
                let (held, rec) = self.cond(&env, id);
                excluded |= held;
                if self.explain {
                    let text = self.etext(id);
                    let (outcome, msg) = if held {
                        (
                            RuleOutcome::Fail,
                            format!("excluded from forecast: `{text}` holds"),
                        )
                    } else {
                        (
                            RuleOutcome::Pass,
                            format!("not excluded: `{text}` does not hold"),
                        )
                    };
                    self.reason(format!("hygiene.exclude[{i}]"), &x.span, outcome, &rec, msg);
                }
            }
            for (i, d) in h.downweights.iter().enumerate() {
                let Some(id) = c.prog.hygiene.downweights.get(i).copied() else {
                    continue;
                };
                let (held, rec) = self.cond(&env, id);
                if held {
                    match factor.checked_mul(d.factor) {
                        Some(f) => factor = f,
                        None => {
                            let what = format!(
                                "the product of the downweights ({} x {})",
                                pct(factor),
                                pct(d.factor)
                            );
                            self.overflowed(format!("hygiene.downweight[{i}]"), &d.span, what);
                            *self.flag_vals = flag_vals;
                            return Outcome::Error;
                        }
                    }
                }
                if !self.explain {
                    continue;
                }
                if self.explain {
                    let text = self.etext(id);
                    let (outcome, msg) = if held {
                        (
                            RuleOutcome::Fail,
                            format!(
                                "weighted amount multiplied by {}: `{text}` holds",
                                pct(d.factor)
                            ),
                        )
                    } else {
                        (
                            RuleOutcome::Pass,
                            format!("no downweight: `{text}` does not hold"),
                        )
                    };
                    self.reason(
                        format!("hygiene.downweight[{i}]"),
                        &d.span,
                        outcome,
                        &rec,
                        msg,
                    );
                }
            }
            *self.flag_vals = flag_vals;
        }

        // Forecast.
        if let Some(st) = c.p.stage(self.rec.stage) {
            let amount = self.amount().num();
            let weighted = match (amount, excluded) {
                (_, true) => Decimal::ZERO,
                (Some(a), false) => {
                    match a
                        .checked_mul(st.probability)
                        .and_then(|x| x.checked_mul(factor))
                    {
                        Some(w) => cents(w),
                        None => {
                            let what = format!(
                                "the weighted amount {a} x {} x {}",
                                pct(st.probability),
                                pct(factor)
                            );
                            self.overflowed(format!("forecast.{}", st.name), &st.span, what);
                            return Outcome::Error;
                        }
                    }
                }
                (None, false) => Decimal::ZERO,
            };
            self.out.summary.weighted_amount = Some(weighted);
            if self.explain {
                let category = if excluded {
                    Forecast::Omitted
                } else {
                    st.forecast
                };
                let msg = format!(
                    "stage `{}`: forecast `{}`, probability {}, weighted amount {} {}",
                    st.name,
                    forecast_name(category),
                    pct(st.probability),
                    money_str(weighted),
                    c.p.currency
                );
                self.reason(
                    format!("forecast.{}", st.name),
                    &st.span,
                    RuleOutcome::Pass,
                    &Rec::default(),
                    msg,
                );
                let shown = self.names.render(&self.amount());
                if let Some(r) = self.out.reasons.last_mut() {
                    r.values.insert("amount", shown);
                    r.values.insert("probability", pct(st.probability));
                }
                self.out.effects.forecast = Some(ForecastEffect {
                    category: forecast_name(category).into(),
                    probability: pct(st.probability),
                    excluded,
                    downweight: pct(factor),
                    weighted_amount: money_str(weighted),
                });
                if let Some(a) = amount {
                    self.out
                        .effects
                        .amounts
                        .insert("amount".into(), money_str(a));
                }
                self.out
                    .effects
                    .amounts
                    .insert("weighted_amount".into(), money_str(weighted));
            }
        }

        self.cosell();
        if c.p.commission.is_some() {
            let closing = self.facts.closing_now();
            if !self.commission(&closing) {
                return Outcome::Error;
            }
        }
        Outcome::Evaluated
    }

    fn cosell(&mut self) {
        let c = self.c;
        let Some(cs) = &c.p.cosell else { return };
        let env = self.env();
        for (pi, pool) in cs.pools.iter().enumerate() {
            // First holding assign for the pool.
            let mut priority: Option<Value> = None;
            let mut assigned = false;
            for (ai, a) in cs.assigns.iter().enumerate() {
                if a.pool.0 as usize != pi {
                    continue;
                }
                let Some((when, prio)) = c.prog.cosell.assigns.get(ai).cloned() else {
                    continue;
                };
                if !self.explain {
                    // The first holding assign decides. Its priority is computed
                    // only for an overflow check (an overflowing priority makes the
                    // decision an error on both paths).
                    if self.check(&env, when) {
                        if let Some(p) = prio {
                            env.eval(p, self.vars, &mut NoRec);
                        }
                        assigned = true;
                        break;
                    }
                    continue;
                }
                let (ok, rec) = self.cond(&env, when);
                if ok && !assigned {
                    assigned = true;
                    // The priority is explanation only (the fast path returns no priorities).
                    if let Some(p) = prio.filter(|_| self.explain) {
                        let (v, prec) = self.value(&env, p);
                        if self.explain {
                            let mut rec = rec;
                            rec.reads.extend(prec.reads);
                            rec.errors.extend(prec.errors);
                            let msg = format!(
                                "`{}` is eligible: `{}` holds, priority {}",
                                pool.name,
                                self.etext(when),
                                self.names.render(&v)
                            );
                            self.reason(
                                format!("cosell.assign[{ai}]"),
                                &a.span,
                                RuleOutcome::Pass,
                                &rec,
                                msg,
                            );
                        }
                        priority = Some(v);
                        continue;
                    }
                }
                if self.explain {
                    let text = self.etext(when);
                    let (outcome, msg) = if ok {
                        (
                            RuleOutcome::Pass,
                            format!("`{}` is eligible: `{text}` holds", pool.name),
                        )
                    } else {
                        (
                            RuleOutcome::Skip,
                            format!(
                                "`{}` not assigned by this rule: `{text}` does not hold",
                                pool.name
                            ),
                        )
                    };
                    self.reason(format!("cosell.assign[{ai}]"), &a.span, outcome, &rec, msg);
                }
            }
            let mut never_reason: Option<String> = None;
            let mut blocked = false;
            if assigned {
                for (ni, n) in cs.nevers.iter().enumerate() {
                    if n.pool.is_some_and(|p| p.0 as usize != pi) {
                        continue;
                    }
                    let Some(id) = c.prog.cosell.nevers.get(ni).copied() else {
                        continue;
                    };
                    if !self.explain {
                        if self.check(&env, id) {
                            blocked = true;
                            break;
                        }
                        continue;
                    }
                    let (held, rec) = self.cond(&env, id);
                    if held {
                        blocked = true;
                    }
                    if self.explain {
                        let text = self.etext(id);
                        let msg = match (held, &n.because) {
                            (true, Some(b)) => b.clone(),
                            (true, None) => format!("never `{}` when `{text}`", pool.name),
                            (false, _) => format!("`{text}` does not hold"),
                        };
                        if held && never_reason.is_none() {
                            never_reason = Some(msg.clone());
                        }
                        let outcome = if held {
                            RuleOutcome::Fail
                        } else {
                            RuleOutcome::Pass
                        };
                        self.reason(format!("cosell.never[{ni}]"), &n.span, outcome, &rec, msg);
                    }
                    if blocked && !self.explain {
                        break;
                    }
                }
            }
            let used = self.cx.cosell_usage.get(pi).copied().unwrap_or(0);
            let remaining = pool.capacity.saturating_sub(used);
            let status = match (assigned, blocked, remaining > 0) {
                (true, false, true) => "assign",
                (true, false, false) => "waitlist",
                _ => "ineligible",
            };
            if status == "assign" {
                self.out.summary.cosell_assigned += 1;
            }
            if self.explain {
                let reason = match status {
                    "waitlist" => Some(format!(
                        "no capacity left this period ({} of {} used)",
                        used, pool.capacity
                    )),
                    "ineligible" if !assigned => Some("no assign rule holds".to_string()),
                    "ineligible" => never_reason,
                    _ => None,
                };
                if assigned && !blocked {
                    let (outcome, msg) = if remaining > 0 {
                        (
                            RuleOutcome::Pass,
                            format!(
                                "`{}`: {remaining} of {} left this period",
                                pool.name, pool.capacity
                            ),
                        )
                    } else {
                        (
                            RuleOutcome::Fail,
                            format!("`{}`: no capacity left this period", pool.name),
                        )
                    };
                    self.reason(
                        format!("cosell.pool.{}", pool.name),
                        &pool.span,
                        outcome,
                        &Rec::default(),
                        msg,
                    );
                }
                self.out.effects.cosell.push(CosellEffect {
                    pool: pool.name.clone(),
                    status: status.into(),
                    priority: priority.as_ref().map(|v| self.names.render(v)),
                    capacity_remaining: remaining,
                    reason,
                });
            }
        }
    }
}
