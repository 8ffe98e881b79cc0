//! `register`: open-from stage, eligibility, duplicates, conflicts, then
//! auto-approval or the review queue (SLA and escalations on the business
//! calendar), late detection and the registration discount. Also the protection
//! extension `extend ... on advance` applied when an `advance` is approved.

use dealflow_dsl::ir::{ExtendTrigger, StageId, StageKind};
use rust_decimal::Decimal;

use super::Decider;
use crate::action::Audience;
use crate::calendar::{add_duration, date_text, instant_text};
use crate::compile::{ConflictProg, ExprId, Node};
use crate::decision::{
    DiscountEffect, Escalation, Outcome, RegistrationEffect, ReviewEffect, RuleOutcome,
};
use crate::eval::{NoRec, Rec};
use crate::facts::{protection_end, Facts};
use crate::identity::{same_account, AccountIdentity};
use crate::record::{normalize_key, Record, RegStatus};
use crate::value::{money_str, pct_str, rfc3339, Value};

/// The key values of a record, with the record.
type KeysOf<'r> = (&'r [Value], &'r Record);

fn identity(r: &Record) -> Option<AccountIdentity<'_>> {
    r.account.as_ref().map(|acc| AccountIdentity {
        id: &acc.id,
        name: acc.name.as_deref(),
        domain: acc.domain.as_deref(),
    })
}

impl Decider<'_> {
    /// Key values of a record (for duplicate/conflict matching).
    fn keys_of(&mut self, rec: &Record, facts: &Facts<'_>, keys: &[ExprId]) -> Vec<Value> {
        let env = self.env_for(rec, facts);
        keys.iter()
            .map(|k| env.eval(*k, self.vars, &mut NoRec))
            .collect()
    }

    /// Whether two records' key values match: a bare `account` key compares the
    /// accounts' identities (domain, else name, else id: [`same_account`]), text
    /// compares normalized, a missing value matches nothing.
    fn keys_match(&self, keys: &[ExprId], (a, ar): KeysOf<'_>, (b, br): KeysOf<'_>) -> bool {
        a.len() == b.len()
            && keys.len() == a.len()
            && keys.iter().zip(a.iter().zip(b)).all(|(k, (x, y))| {
                if matches!(self.c.prog.node(*k), Node::AccountKey) {
                    return match (identity(ar), identity(br)) {
                        (Some(p), Some(q)) => same_account(p, q),
                        _ => false,
                    };
                }
                match (x, y) {
                    (Value::Text(p), Value::Text(q)) => normalize_key(p) == normalize_key(q),
                    (Value::Absent, _) | (_, Value::Absent) => false,
                    _ => self.names.eq(x, y),
                }
            })
    }

    /// Whether the viewer may see the identity behind another record.
    fn visible(&self, other: &Record) -> bool {
        match self.audience {
            Audience::Vendor => true,
            Audience::Partner(v) => {
                other.registering_partner() == Some(v.as_str())
                    && other.partner_id().is_none_or(|p| p == v)
            }
        }
    }

    pub(super) fn register(&mut self) -> Outcome {
        let c = self.c;
        let Some(reg) = &c.p.registration else {
            self.fail(
                "action.register".into(),
                &(0..0),
                "the policy has no `registration` section".into(),
            );
            return Outcome::Error;
        };
        let prog = &c.prog.registration;
        let env = self.env();
        let mut denied = false;
        let mut blocked_for_good = false;

        // A deal already won or lost cannot be registered: there is nothing left to
        // protect, and no change to the request would make it pass.
        if let Some(st) =
            c.p.stage(self.rec.stage)
                .filter(|s| s.kind != StageKind::Open)
        {
            if self.explain {
                let what = if st.kind == StageKind::Won {
                    "won"
                } else {
                    "lost"
                };
                self.fail(
                    format!("registration.closed.{}", st.name),
                    &st.span,
                    format!(
                        "the deal is already {what} (stage `{}`); a closed deal cannot be registered",
                        st.name
                    ),
                );
                self.out.to_pass.clear();
            }
            return Outcome::Denied;
        }

        if let Some((from, span)) = &reg.open_from {
            let ok = self.rec.stage >= *from;
            let (cur, min) = (self.stage_name(self.rec.stage), self.stage_name(*from));
            if self.explain {
                let msg = if ok {
                    format!("stage `{cur}` is at or after `{min}`")
                } else {
                    format!("registration opens at stage `{min}`, the deal is in `{cur}`")
                };
                let outcome = if ok {
                    RuleOutcome::Pass
                } else {
                    RuleOutcome::Fail
                };
                self.reason(
                    "registration.open_from".into(),
                    span,
                    outcome,
                    &Rec::default(),
                    msg,
                );
                if !ok {
                    self.out
                        .to_pass
                        .push(format!("stage must be at least {min}"));
                }
            }
            denied |= !ok;
        }

        for (i, cond) in reg.eligible.iter().enumerate() {
            let Some(id) = prog.eligible.get(i).copied() else {
                continue;
            };
            let (ok, rec) = self.cond(&env, id);
            denied |= !ok;
            if self.explain {
                let text = self.etext(id);
                let msg = match (ok, &cond.because) {
                    (true, _) => format!("eligible: `{text}` holds"),
                    (false, Some(b)) => b.clone(),
                    (false, None) => format!("not eligible: `{text}` does not hold"),
                };
                if !ok {
                    self.advise(&env, id, &rec);
                }
                let outcome = if ok {
                    RuleOutcome::Pass
                } else {
                    RuleOutcome::Fail
                };
                self.reason(
                    format!("registration.eligible[{i}]"),
                    &cond.span,
                    outcome,
                    &rec,
                    msg,
                );
            }
        }

        if let Some(dup) = &reg.duplicate {
            let keys = prog.duplicate_keys.clone();
            let mine = self.keys_of(self.rec, self.facts, &keys);
            let mut found = false;
            for other in &self.cx.registrations {
                if other.id == self.rec.id {
                    continue;
                }
                let Some(oreg) = &other.registration else {
                    continue;
                };
                if matches!(
                    oreg.status,
                    RegStatus::None | RegStatus::Rejected | RegStatus::Expired
                ) {
                    continue;
                }
                let Some(sub) = oreg.submitted_at else {
                    continue;
                };
                // A window end past year 9999 has not passed.
                if add_duration(c.cal, sub, dup.within.seconds, dup.within.business)
                    .is_ok_and(|end| end < self.now)
                    || sub > self.now
                {
                    continue;
                }
                let ofacts = Facts::derive(c.p, c.cal, other, self.cx, self.now, false);
                let theirs = self.keys_of(other, &ofacts, &keys);
                if !self.keys_match(&keys, (&mine, self.rec), (&theirs, other)) {
                    continue;
                }
                found = true;
                if !self.explain {
                    break;
                }
                let msg = if self.visible(other) {
                    format!(
                        "duplicate of registration `{}` on opportunity `{}` by partner `{}`, submitted {}",
                        oreg.id.as_deref().unwrap_or("?"),
                        other.id,
                        other.registering_partner().unwrap_or("?"),
                        rfc3339(sub)
                    )
                } else {
                    format!(
                        "an existing registration for the same deal was submitted {}",
                        sub.date_naive()
                    )
                };
                let values = self.key_values(&mine, &keys);
                self.reason(
                    "registration.duplicate".into(),
                    &dup.span,
                    RuleOutcome::Fail,
                    &values,
                    msg,
                );
            }
            if found {
                denied = true;
                blocked_for_good = true;
            } else if self.explain {
                let values = self.key_values(&mine, &keys);
                let msg = format!(
                    "no other registration on the same keys within {}",
                    crate::value::render_duration(dup.within.seconds)
                );
                self.reason(
                    "registration.duplicate".into(),
                    &dup.span,
                    RuleOutcome::Pass,
                    &values,
                    msg,
                );
            }
        }

        for (i, conflict) in reg.conflicts.iter().enumerate() {
            let rule = format!("registration.conflict[{i}]");
            match prog.conflicts.get(i) {
                Some(ConflictProg::When(id)) => {
                    let (held, rec) = self.cond(&env, *id);
                    if held {
                        denied = true;
                        blocked_for_good = true;
                    }
                    if self.explain {
                        let text = self.etext(*id);
                        let msg = match (held, &conflict.reject) {
                            (true, Some(r)) => r.clone(),
                            (true, None) => format!("conflict: `{text}` holds"),
                            (false, _) => format!("no conflict: `{text}` does not hold"),
                        };
                        let outcome = if held {
                            RuleOutcome::Fail
                        } else {
                            RuleOutcome::Pass
                        };
                        self.reason(rule, &conflict.span, outcome, &rec, msg);
                    }
                }
                Some(ConflictProg::OtherProtected(keys)) => {
                    let keys = keys.clone();
                    let mine = self.keys_of(self.rec, self.facts, &keys);
                    let me = self.rec.registering_partner();
                    let mut held = false;
                    for other in &self.cx.registrations {
                        if other.id == self.rec.id || other.registering_partner() == me {
                            continue;
                        }
                        let Some(oreg) = &other.registration else {
                            continue;
                        };
                        if oreg.status != RegStatus::Approved {
                            continue;
                        }
                        let Some(until) = protection_end(c.p, c.cal, other)
                            .filter(|u| u.map_or(true, |u| u > self.now))
                        else {
                            continue;
                        };
                        let ofacts = Facts::derive(c.p, c.cal, other, self.cx, self.now, false);
                        let theirs = self.keys_of(other, &ofacts, &keys);
                        if !self.keys_match(&keys, (&mine, self.rec), (&theirs, other)) {
                            continue;
                        }
                        held = true;
                        if !self.explain {
                            break;
                        }
                        let head = conflict
                            .reject
                            .clone()
                            .unwrap_or_else(|| "channel conflict".into());
                        let msg = if self.visible(other) {
                            format!(
                                "{head}: registration `{}` of partner `{}` on opportunity `{}` is protected until {}",
                                oreg.id.as_deref().unwrap_or("?"),
                                other.registering_partner().unwrap_or("?"),
                                other.id,
                                instant_text(&until)
                            )
                        } else {
                            format!(
                                "{head}: an existing protected registration until {}",
                                date_text(&until)
                            )
                        };
                        let values = self.key_values(&mine, &keys);
                        self.reason(
                            rule.clone(),
                            &conflict.span,
                            RuleOutcome::Fail,
                            &values,
                            msg,
                        );
                    }
                    if held {
                        denied = true;
                        blocked_for_good = true;
                    } else if self.explain {
                        let values = self.key_values(&mine, &keys);
                        self.reason(
                            rule,
                            &conflict.span,
                            RuleOutcome::Pass,
                            &values,
                            "no other partner holds a protected registration on the same keys"
                                .into(),
                        );
                    }
                }
                None => {}
            }
        }

        if denied {
            if blocked_for_good {
                self.out.to_pass.clear();
            }
            return Outcome::Denied;
        }

        // Auto-approval: the first holding condition wins.
        let mut auto = false;
        for (i, cond) in reg.auto_approve.iter().enumerate() {
            let Some(id) = prog.auto_approve.get(i).copied() else {
                continue;
            };
            if auto && !self.explain {
                break;
            }
            let (ok, rec) = self.cond(&env, id);
            if self.explain {
                let text = self.etext(id);
                let (outcome, msg) = match (ok, auto) {
                    (true, false) => (RuleOutcome::Pass, format!("auto-approved: `{text}` holds")),
                    (true, true) => (
                        RuleOutcome::Skip,
                        format!("`{text}` holds but an earlier rule already approved"),
                    ),
                    (false, _) => (
                        RuleOutcome::Skip,
                        format!("not auto-approved: `{text}` does not hold"),
                    ),
                };
                self.reason(
                    format!("registration.auto_approve[{i}]"),
                    &cond.span,
                    outcome,
                    &rec,
                    msg,
                );
            }
            auto |= ok;
        }

        let mut effect = RegistrationEffect {
            status: if auto { "approved" } else { "pending" }.into(),
            protected_until: None,
            review: None,
            late: false,
            discount: None,
            extensions: None,
        };
        if auto {
            if let Some((d, span)) = &reg.protect {
                let until = self.later(
                    "registration.protect",
                    span,
                    "the protection end",
                    self.now,
                    d,
                );
                if let (true, Some(until)) = (self.explain, until) {
                    effect.protected_until = Some(rfc3339(until));
                    let msg = format!(
                        "protected for {} until {}",
                        crate::value::render_duration(d.seconds),
                        rfc3339(until)
                    );
                    self.reason(
                        "registration.protect".into(),
                        span,
                        RuleOutcome::Pass,
                        &Rec::default(),
                        msg,
                    );
                }
            }
        } else if let Some(rv) = &reg.review {
            let deadline = self.later(
                "registration.review",
                &rv.span,
                "the review deadline",
                self.now,
                &rv.within,
            );
            if self.explain {
                let mut escalations = Vec::new();
                for (i, e) in reg.escalations.iter().enumerate() {
                    let rule = format!("registration.escalate[{i}]");
                    let Some(at) =
                        self.later(&rule, &e.span, "the escalation time", self.now, &e.after)
                    else {
                        continue;
                    };
                    escalations.push(Escalation {
                        to: e.to.clone(),
                        at: rfc3339(at),
                    });
                    let msg = format!(
                        "escalates to `{}` at {} if still pending",
                        e.to,
                        rfc3339(at)
                    );
                    self.reason(
                        format!("registration.escalate[{i}]"),
                        &e.span,
                        RuleOutcome::Pass,
                        &Rec::default(),
                        msg,
                    );
                }
                if let Some(deadline) = deadline {
                    let msg = format!(
                        "queued for review by `{}`, decision due by {}",
                        rv.queue,
                        rfc3339(deadline)
                    );
                    self.reason(
                        "registration.review".into(),
                        &rv.span,
                        RuleOutcome::Pass,
                        &Rec::default(),
                        msg,
                    );
                    effect.review = Some(ReviewEffect {
                        queue: rv.queue.clone(),
                        deadline: rfc3339(deadline),
                        escalations,
                    });
                }
            }
        }

        let mut late = false;
        for (i, cond) in reg.late.iter().enumerate() {
            let Some(id) = prog.late.get(i).copied() else {
                continue;
            };
            let (held, rec) = self.cond(&env, id);
            late |= held;
            if self.explain {
                let text = self.etext(id);
                let (outcome, msg) = if held {
                    (
                        RuleOutcome::Fail,
                        format!("late registration: `{text}` holds"),
                    )
                } else {
                    (
                        RuleOutcome::Pass,
                        format!("not late: `{text}` does not hold"),
                    )
                };
                self.reason(
                    format!("registration.late[{i}]"),
                    &cond.span,
                    outcome,
                    &rec,
                    msg,
                );
            }
        }
        effect.late = late;
        if late && self.explain {
            self.out.flags.push("late".into());
        }

        // Discount: `approved` means approved by this decision.
        let mut dfacts = self.facts.clone();
        dfacts.set_approved(auto);
        let denv = self.env_for(self.rec, &dfacts);
        let mut chosen: Option<(usize, Decimal)> = None;
        for (i, d) in reg.discounts.iter().enumerate() {
            let (ok, rec) = match prog.discounts.get(i).copied().flatten() {
                Some(id) => self.cond(&denv, id),
                None => (true, Rec::default()),
            };
            if self.explain {
                let pct = pct_str(d.rate);
                let (outcome, msg) = match (ok, chosen.is_some()) {
                    (true, false) => (RuleOutcome::Pass, format!("discount {pct} applies")),
                    (true, true) => (
                        RuleOutcome::Skip,
                        format!("discount {pct} not used: an earlier discount applies"),
                    ),
                    (false, _) => (RuleOutcome::Skip, format!("discount {pct} does not apply")),
                };
                self.reason(
                    format!("registration.discount[{i}]"),
                    &d.span,
                    outcome,
                    &rec,
                    msg,
                );
            }
            if ok && chosen.is_none() {
                chosen = Some((i, d.rate));
            }
        }
        let amount = self.amount().num();
        let disc = match (chosen, amount) {
            (Some((i, rate)), Some(a)) => match a.checked_mul(rate) {
                Some(x) => x,
                None => {
                    let span = reg.discounts.get(i).map_or(&reg.span, |d| &d.span);
                    let what = format!("the discount {a} x {}", pct_str(rate));
                    self.overflowed(format!("registration.discount[{i}]"), span, what);
                    return Outcome::Error;
                }
            },
            _ => Decimal::ZERO,
        };
        if self.explain {
            if let Some(a) = amount {
                self.out
                    .effects
                    .amounts
                    .insert("amount".into(), money_str(a));
            }
            if let Some((_, rate)) = chosen {
                effect.discount = Some(DiscountEffect {
                    rate: pct_str(rate),
                    amount: money_str(disc),
                });
                self.out
                    .effects
                    .amounts
                    .insert("discount".into(), money_str(disc));
            }
            self.out.effects.registration = Some(effect);
        }
        if auto {
            Outcome::Approved
        } else {
            Outcome::Review
        }
    }

    /// `extend <duration> on advance, at most N`: after an approved `advance` of a
    /// deal with an approved registration to a later open stage, the protection
    /// (still running) is extended by the duration, counting one more extension,
    /// unless the registration already had `N` extensions. Reported as the
    /// `registration.extend` reason and a `registration` effect. Nothing is reported
    /// when the policy has no `on advance` extension or the registration is not
    /// approved.
    pub(super) fn extend_on_advance(&mut self, from: StageId, to: StageId) {
        let c = self.c;
        let Some(ext) =
            c.p.registration
                .as_ref()
                .and_then(|r| r.extend.as_ref())
                .filter(|e| e.on == ExtendTrigger::Advance)
        else {
            return;
        };
        let Some(reg) = self
            .rec
            .registration
            .as_ref()
            .filter(|r| r.status == RegStatus::Approved)
        else {
            return;
        };
        let to_open = c.p.stage(to).is_some_and(|s| s.kind == StageKind::Open);
        let end = match protection_end(c.p, c.cal, self.rec) {
            Some(Err(e)) => {
                let how = "the approval time plus the protection window and extensions";
                self.calendar_error(
                    "registration.extend",
                    &ext.span,
                    "the protection end",
                    how,
                    e,
                );
                return;
            }
            end => end.and_then(Result::ok),
        };
        let by = crate::value::render_duration(ext.by.seconds);
        let by = if ext.by.business {
            format!("{by} (business time)")
        } else {
            by
        };
        let skip = if !to_open || to <= from {
            Some(format!(
                "protection is extended only when the deal advances to a later open stage, not `{}`",
                self.stage_name(to)
            ))
        } else if let Some(m) = ext.at_most.filter(|m| reg.extensions >= *m) {
            Some(format!(
                "protection already extended {} time(s), the most allowed is {m}",
                reg.extensions
            ))
        } else {
            match end {
                None => Some("the registration has no protection end to extend".to_string()),
                Some(e) if e <= self.now => Some(format!(
                    "protection expired at {}, nothing to extend",
                    rfc3339(e)
                )),
                Some(_) => None,
            }
        };
        let (Some(end), None) = (end, &skip) else {
            self.reason(
                "registration.extend".into(),
                &ext.span,
                RuleOutcome::Skip,
                &Rec::default(),
                skip.unwrap_or_default(),
            );
            return;
        };
        let what = "the extended protection end";
        let Some(until) = self.later("registration.extend", &ext.span, what, end, &ext.by) else {
            return;
        };
        let count = reg.extensions.saturating_add(1);
        let limit = ext
            .at_most
            .map(|m| format!(" of at most {m}"))
            .unwrap_or_default();
        let msg = format!(
            "the deal advanced: protection extended by {by} from {} to {} (extension {count}{limit})",
            rfc3339(end),
            rfc3339(until)
        );
        self.reason(
            "registration.extend".into(),
            &ext.span,
            RuleOutcome::Pass,
            &Rec::default(),
            msg,
        );
        self.out.effects.registration = Some(RegistrationEffect {
            status: "approved".into(),
            protected_until: Some(rfc3339(until)),
            review: None,
            late: false,
            discount: None,
            extensions: Some(count),
        });
    }

    fn key_values(&self, vals: &[Value], keys: &[ExprId]) -> Rec {
        let mut r = Rec::default();
        if self.explain {
            for (k, v) in keys.iter().zip(vals) {
                r.reads.push((*k, v.clone()));
            }
        }
        r
    }
}
