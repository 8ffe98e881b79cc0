//! Commission: per line item (quantity x price, or the opportunity amount when there
//! are no line items), the rate table (first or unique match), rebates, attribution
//! to the registering partner, and splits that sum exactly to the total.
//!
//! A deal without line items is one implicit line built from the opportunity (see
//! [`LinePlan`]), so the rate table's and rebates' `item.x` read the
//! opportunity's fields of the same name.

use std::collections::BTreeMap;

use dealflow_dsl::ir::{self, MatchMode, RecordKind, Span, SplitRole, Type};
use rust_decimal::Decimal;

use super::Decider;
use crate::decision::{CommissionEffect, CommissionLine, EvalError, RuleOutcome, ShareEffect};
use crate::eval::{NoRec, Rec};
use crate::facts::Facts;
use crate::value::{cents, money_str, pct_str as pct, Value};

/// A type without its `?`.
fn base(t: &Type) -> &Type {
    match t {
        Type::Optional(inner) => base(inner),
        t => t,
    }
}

/// The opportunity value `v` (of type `from`) as a value of the line-item type `to`,
/// when the types are compatible: the same type, or enums sharing the variant name.
fn convert(p: &ir::Policy, v: &Value, from: &Type, to: &Type) -> Value {
    match (base(from), base(to), v) {
        (_, _, Value::Absent) => Value::Absent,
        (Type::Enum(a), Type::Enum(b), Value::Enum(_, x)) if a != b => {
            let name = p
                .enum_def(*a)
                .and_then(|e| e.variants.get(*x as usize))
                .map(String::as_str);
            p.enum_def(*b)
                .and_then(|e| e.variants.iter().position(|n| Some(n.as_str()) == name))
                .map_or(Value::Absent, |i| Value::Enum(*b, i as u32))
        }
        (f, t, v) if f == t => v.clone(),
        _ => Value::Absent,
    }
}

/// Where one field of the implicit line takes its value from.
#[derive(Clone, Debug)]
enum LineSrc {
    /// A fixed value (`quantity` 1, or the declared default, else missing).
    Const(Value),
    /// The opportunity `amount` (`price`).
    Amount,
    /// The opportunity field of the same name, converted; `default` when missing.
    Opp {
        slot: u32,
        from: Type,
        to: Type,
        default: Value,
    },
}

/// The single implicit line of a deal without line items, resolved once per policy:
/// every `line_item` field takes the value of the opportunity field with the same
/// name and a compatible type (else its declared default, else missing); `quantity`
/// is 1 and `price` the opportunity `amount` when the line-item schema declares them.
#[derive(Clone, Debug, Default)]
pub(crate) struct LinePlan(Vec<LineSrc>);

impl LinePlan {
    pub(crate) fn build(p: &ir::Policy) -> LinePlan {
        let Some(schema) = p.record(RecordKind::LineItem) else {
            return LinePlan::default();
        };
        let opp_schema = p.record(RecordKind::Opportunity);
        let srcs = schema
            .fields
            .iter()
            .map(|f| {
                let ty = base(&f.ty);
                match (f.name.as_str(), ty) {
                    ("quantity", Type::Integer) => return LineSrc::Const(Value::Int(1)),
                    ("quantity", Type::Decimal) => return LineSrc::Const(Value::Dec(Decimal::ONE)),
                    ("price", Type::Money) => return LineSrc::Amount,
                    _ => {}
                }
                let default = f.default.as_ref().map_or(Value::Absent, Value::from_const);
                match opp_schema.and_then(|s| s.field(&f.name)) {
                    Some((slot, of)) => LineSrc::Opp {
                        slot,
                        from: of.ty.clone(),
                        to: f.ty.clone(),
                        default,
                    },
                    None => LineSrc::Const(default),
                }
            })
            .collect();
        LinePlan(srcs)
    }

    /// Fills `out` with the implicit line of an opportunity.
    fn fill(&self, p: &ir::Policy, opp: &[Value], amount: &Value, out: &mut Vec<Value>) {
        out.clear();
        out.extend(self.0.iter().map(|src| match src {
            LineSrc::Const(v) => v.clone(),
            LineSrc::Amount => amount.clone(),
            LineSrc::Opp {
                slot,
                from,
                to,
                default,
            } => {
                let v = opp.get(*slot as usize).unwrap_or(&Value::Absent);
                match convert(p, v, from, to) {
                    Value::Absent => default.clone(),
                    v => v,
                }
            }
        }));
    }
}

impl Decider<'_> {
    /// Records an arithmetic overflow of the engine's own money arithmetic (a line
    /// amount, a commission, a sum, a rebate, a share, a weighted amount, a discount):
    /// a `fail` reason with the rule's id and location saying what overflowed, and the
    /// same as an evaluation error. The caller makes the decision's outcome `error`.
    pub(super) fn overflowed(&mut self, rule: String, span: &Span, what: String) {
        if !self.explain {
            return;
        }
        let message = format!(
            "arithmetic overflow: {what} exceeds the decimal range; the decision cannot be made"
        );
        self.out.errors.push(EvalError {
            rule: rule.clone(),
            location: self.loc(span),
            message: message.clone(),
        });
        self.fail(rule, span, message);
    }

    /// Computes commission with the given facts (closing facts: close time = now).
    /// False when an amount overflowed (see [`Decider::overflowed`]): no commission
    /// is computed and the decision is an error.
    pub(super) fn commission(&mut self, facts: &Facts<'_>) -> bool {
        let c = self.c;
        let Some(cm) = &c.p.commission else {
            return true;
        };
        let prog = &c.prog.commission;
        let wk = c.prog.well_known;
        let rec = self.rec;
        let n_lines = rec.line_items.len().max(1);
        // The amount of line `li` (None: missing), or the quantity and price whose
        // product overflows.
        let opp_amount = self.amount().num();
        let amount_of = |li: Option<usize>| -> Result<Option<Decimal>, (Decimal, Decimal)> {
            match li.and_then(|i| rec.line_items.get(i)) {
                None => Ok(opp_amount),
                Some(fields) => {
                    let get = |s: Option<u32>| {
                        s.and_then(|s| fields.get(s as usize)).and_then(Value::num)
                    };
                    match (get(wk.item_quantity), get(wk.item_price)) {
                        (Some(q), Some(p)) => q.checked_mul(p).map(Some).ok_or((q, p)),
                        (None, Some(p)) => Ok(Some(p)),
                        _ => Ok(get(wk.item_amount)),
                    }
                }
            }
        };
        // Rebates only change the explanation, so the no-trace path evaluates them
        // only when they could overflow: when the sum of |line amount| x the sum of
        // |rebate rates| (with a factor 2 of headroom) does not fit in a decimal.
        let check_rebates = !self.explain && !cm.rebates.is_empty();
        let mut abs_sum = Some(Decimal::ZERO);
        let mut total = Decimal::ZERO;
        let mut rebate_total = Decimal::ZERO;
        let mut rebate_by_name: BTreeMap<String, Decimal> = BTreeMap::new();
        // Indices (into the reasons) of the rebate reasons, completed with the
        // recipient once attribution is known.
        let mut rebate_reasons: Vec<usize> = Vec::new();
        let mut lines = Vec::new();
        let mut rebate_used = vec![false; if self.explain { cm.rebates.len() } else { 0 }];
        // The values a rebate read the first time it did not hold (for its skip reason).
        let mut rebate_reads: Vec<Option<Rec>> = Vec::new();
        rebate_reads.resize_with(rebate_used.len(), || None);
        // The implicit line is built in a reused buffer.
        let mut implicit = std::mem::take(self.implicit);
        let has_implicit = rec.line_items.is_empty();
        if has_implicit {
            if implicit.is_empty() {
                implicit.push(Vec::new());
            }
            if let Some(line) = implicit.first_mut() {
                prog.implicit.fill(c.p, &rec.fields, &self.amount(), line);
            }
        }
        let implicit_lines: &[Vec<Value>] = match has_implicit {
            true => implicit.get(..1).unwrap_or(&[]),
            false => &[],
        };
        let mut overflow = false;
        'lines: for li in 0..n_lines {
            let item = (!rec.line_items.is_empty()).then_some(li);
            let mut env = self.env_for(rec, facts);
            env.item = item;
            if item.is_none() {
                // `item.x` (and `line_items`) see the one implicit line.
                env.items = implicit_lines;
                env.item = Some(0);
            }
            let amount_res = amount_of(item);
            let line_amount: Option<Decimal> = amount_res.unwrap_or(None);
            if check_rebates {
                abs_sum = match amount_res {
                    Ok(a) => abs_sum.and_then(|s| s.checked_add(a.unwrap_or_default().abs())),
                    Err(_) => None,
                };
            }
            let line_no = item.map_or(0, |i| i + 1);
            let line_label = match (self.explain, item.is_some()) {
                (false, _) => String::new(),
                (true, true) => format!("line {line_no}"),
                (true, false) => "the opportunity".to_string(),
            };
            // What overflowed in the line amount, for the rule that uses it.
            let amount_overflow = |label: &str| match amount_res {
                Err((q, p)) => format!("{label}: quantity x price ({q} x {p})"),
                Ok(_) => String::new(),
            };
            let mut error: Option<String> = None;
            let mut failed = false;
            let mut rate: Option<Decimal> = None;
            // The matched row (0-based index) and its rule id (rows count from 1).
            let mut row_rule: Option<usize> = None;
            if let Some(table) = &cm.rate {
                let mut matched: Option<usize> = None;
                let mut second: Option<usize> = None;
                // Each key is evaluated once per line, then matched against the rows.
                let keys = &mut *self.keys;
                keys.clear();
                for k in &prog.rate_keys {
                    keys.push(env.eval(*k, self.vars, &mut NoRec));
                }
                for (ri, row) in prog.rate_rows.iter().enumerate() {
                    let mut all = true;
                    for (ki, pat) in row.iter().enumerate() {
                        let Some(vals) = pat else { continue };
                        let Some(v) = keys.get(ki) else {
                            continue;
                        };
                        if v.is_absent() || !vals.iter().any(|x| self.names.eq(v, x)) {
                            all = false;
                            break;
                        }
                    }
                    if all {
                        if matched.is_none() {
                            matched = Some(ri);
                            if table.mode == MatchMode::First {
                                break;
                            }
                        } else {
                            second = Some(ri);
                            break;
                        }
                    }
                }
                let row_span = |ri: usize| {
                    table
                        .rows
                        .get(ri)
                        .map(|r| r.span.clone())
                        .unwrap_or(table.span.clone())
                };
                match (matched, second) {
                    (Some(ri), None) => {
                        rate = table.rows.get(ri).map(|r| r.rate);
                        let row = ri + 1;
                        row_rule = Some(ri);
                        if self.explain {
                            let mut r = Rec::default();
                            for k in &prog.rate_keys {
                                env.eval(*k, self.vars, &mut r);
                            }
                            let msg = format!(
                                "{line_label}: row {row} matches, rate {} on {} {}",
                                pct(rate.unwrap_or_default()),
                                line_amount
                                    .map(money_str)
                                    .unwrap_or_else(|| "(missing)".into()),
                                c.p.currency
                            );
                            self.reason(
                                format!("commission.rate.row[{row}]"),
                                &row_span(ri),
                                RuleOutcome::Pass,
                                &r,
                                msg,
                            );
                        }
                    }
                    (Some(a), Some(b)) => {
                        failed = true;
                        if self.explain {
                            error = Some(format!(
                                "{line_label}: rows {} and {} both match a `unique match` table",
                                a + 1,
                                b + 1
                            ));
                        }
                    }
                    (None, _) => {
                        failed = true;
                        if self.explain {
                            error = Some(format!("{line_label}: no rate row matches"));
                        }
                    }
                }
                if let (Some(e), true) = (&error, self.explain) {
                    let mut r = Rec::default();
                    for k in &prog.rate_keys {
                        env.eval(*k, self.vars, &mut r);
                    }
                    self.reason(
                        "commission.rate".into(),
                        &table.span,
                        RuleOutcome::Fail,
                        &r,
                        e.clone(),
                    );
                    self.out.errors.push(crate::decision::EvalError {
                        rule: "commission.rate".into(),
                        location: self.loc(&table.span),
                        message: format!("{e}; the line earns no commission"),
                    });
                }
            }
            if line_amount.is_none() && !failed && self.explain {
                error = Some(match amount_res {
                    Err(_) => format!("{} exceeds the decimal range", amount_overflow(&line_label)),
                    Ok(_) => format!("{line_label} has no amount"),
                });
            }
            // The matched row's rule id (rows count from 1) and span, for an overflow.
            let row_of = |ri: usize| {
                let span = cm
                    .rate
                    .as_ref()
                    .map(|t| t.rows.get(ri).map_or(&t.span, |r| &r.span))
                    .unwrap_or(&cm.span)
                    .clone();
                (format!("commission.rate.row[{}]", ri + 1), span)
            };
            let line_comm = match (line_amount, rate, row_rule) {
                (Some(a), Some(r), Some(ri)) => match a.checked_mul(r) {
                    Some(x) => x,
                    None => {
                        let (rule, span) = row_of(ri);
                        let what = format!("{line_label}: commission {a} x {}", pct(r));
                        self.overflowed(rule, &span, what);
                        overflow = true;
                        break 'lines;
                    }
                },
                (None, Some(_), Some(ri)) if amount_res.is_err() => {
                    let (rule, span) = row_of(ri);
                    let what = amount_overflow(&line_label);
                    self.overflowed(rule, &span, what);
                    overflow = true;
                    break 'lines;
                }
                _ => Decimal::ZERO,
            };
            total = match total.checked_add(line_comm) {
                Some(t) => t,
                None => {
                    let (rule, span) = row_rule.map(row_of).unwrap_or_else(|| {
                        let span = cm.rate.as_ref().map_or(cm.span.clone(), |t| t.span.clone());
                        ("commission.rate".into(), span)
                    });
                    let what = format!("the sum of line commissions up to {line_label}");
                    self.overflowed(rule, &span, what);
                    overflow = true;
                    break 'lines;
                }
            };
            let mut line_rebates = BTreeMap::new();
            let rebates = if self.explain { &cm.rebates[..] } else { &[] };
            for (bi, rb) in rebates.iter().enumerate() {
                let Some(id) = prog.rebates.get(bi).copied() else {
                    continue;
                };
                let (held, r) = self.cond(&env, id);
                if !held {
                    if let Some(slot @ None) = rebate_reads.get_mut(bi) {
                        *slot = Some(r);
                    }
                    continue;
                }
                let rule = format!("commission.rebate.{}", rb.name);
                let amt = match line_amount.map(|a| a.checked_mul(rb.rate)) {
                    Some(Some(x)) => x,
                    None if amount_res.is_err() => {
                        self.overflowed(rule, &rb.span, amount_overflow(&line_label));
                        overflow = true;
                        break 'lines;
                    }
                    None => Decimal::ZERO,
                    Some(None) => {
                        let what = format!(
                            "{line_label}: rebate `{}` {} x {}",
                            rb.name,
                            line_amount.unwrap_or_default(),
                            pct(rb.rate)
                        );
                        self.overflowed(rule, &rb.span, what);
                        overflow = true;
                        break 'lines;
                    }
                };
                let by_name = rebate_by_name.entry(rb.name.clone()).or_default();
                match (rebate_total.checked_add(amt), by_name.checked_add(amt)) {
                    (Some(t), Some(n)) => {
                        rebate_total = t;
                        *by_name = n;
                    }
                    _ => {
                        let what = format!("the sum of rebates up to {line_label}");
                        self.overflowed(rule, &rb.span, what);
                        overflow = true;
                        break 'lines;
                    }
                }
                if self.explain {
                    line_rebates.insert(rb.name.clone(), money_str(amt));
                    if let Some(u) = rebate_used.get_mut(bi) {
                        *u = true;
                    }
                    let msg = format!(
                        "{line_label}: rebate `{}` {} = {} {}",
                        rb.name,
                        pct(rb.rate),
                        money_str(amt),
                        c.p.currency
                    );
                    rebate_reasons.push(self.out.reasons.len());
                    self.reason(rule, &rb.span, RuleOutcome::Pass, &r, msg);
                }
            }
            if self.explain {
                let product = item
                    .and_then(|i| rec.line_items.get(i))
                    .or(implicit_lines.first())
                    .and_then(|f| {
                        c.p.record(RecordKind::LineItem)?
                            .field("product")
                            .and_then(|(s, _)| f.get(s as usize))
                    })
                    .and_then(|v| v.as_text().map(str::to_string));
                lines.push(CommissionLine {
                    line: line_no,
                    product,
                    amount: line_amount.map(money_str).unwrap_or_else(|| "0.00".into()),
                    rate: rate.map(pct),
                    commission: money_str(line_comm),
                    rebates: line_rebates,
                    error,
                });
            }
        }
        let rates = cm
            .rebates
            .iter()
            .try_fold(Decimal::ZERO, |acc, rb| acc.checked_add(rb.rate.abs()));
        let bound = abs_sum
            .zip(rates)
            .and_then(|(s, r)| s.checked_mul(r))
            .and_then(|b| b.checked_mul(Decimal::TWO));
        if check_rebates && !overflow && bound.is_none() {
            // Rare: the rebates could overflow; evaluate them as the explaining path does.
            let mut sums = vec![Decimal::ZERO; cm.rebates.len()];
            let mut total = Some(Decimal::ZERO);
            'check: for li in 0..n_lines {
                let item = (!rec.line_items.is_empty()).then_some(li);
                let mut env = self.env_for(rec, facts);
                env.item = item;
                if item.is_none() {
                    env.items = implicit_lines;
                    env.item = Some(0);
                }
                let amount = amount_of(item);
                for (bi, rb) in cm.rebates.iter().enumerate() {
                    let Some(id) = prog.rebates.get(bi).copied() else {
                        continue;
                    };
                    if !self.check(&env, id) {
                        continue;
                    }
                    let amt = match amount {
                        Ok(a) => a.map_or(Some(Decimal::ZERO), |a| a.checked_mul(rb.rate)),
                        Err(_) => None,
                    };
                    let by_name = sums.get_mut(bi);
                    match (amt, by_name) {
                        (Some(x), Some(n)) => {
                            total = total.and_then(|t| t.checked_add(x));
                            *n = match n.checked_add(x) {
                                Some(v) => v,
                                None => {
                                    total = None;
                                    break 'check;
                                }
                            };
                        }
                        _ => total = None,
                    }
                    if total.is_none() {
                        break 'check;
                    }
                }
            }
            overflow = total.is_none();
        }
        *self.implicit = implicit;
        if overflow {
            self.out.summary.commission = None;
            return false;
        }
        if self.explain {
            for (bi, rb) in cm.rebates.iter().enumerate() {
                if !rebate_used.get(bi).copied().unwrap_or(true) {
                    let text = prog
                        .rebates
                        .get(bi)
                        .map(|id| self.etext(*id))
                        .unwrap_or_default();
                    let read = rebate_reads.get_mut(bi).and_then(Option::take);
                    self.reason(
                        format!("commission.rebate.{}", rb.name),
                        &rb.span,
                        RuleOutcome::Skip,
                        &read.unwrap_or_default(),
                        format!(
                            "rebate `{}` does not apply: `{text}` does not hold",
                            rb.name
                        ),
                    );
                }
            }
        }
        let computed = cents(total);

        // Attribution.
        let env = self.env_for(rec, facts);
        let mut attributed = true;
        let mut why_not: Option<String> = None;
        for (i, a) in cm.attribute.iter().enumerate() {
            let Some(id) = prog.attribute.get(i).copied() else {
                continue;
            };
            if !self.explain {
                if !self.check(&env, id) {
                    attributed = false;
                }
                continue;
            }
            let (ok, r) = self.cond(&env, id);
            if !ok {
                attributed = false;
            }
            if self.explain {
                let text = self.etext(id);
                let msg = match (ok, &a.because) {
                    (true, _) => format!("attributed to the registering partner: `{text}` holds"),
                    (false, Some(b)) => format!("not attributed: {b}"),
                    (false, None) => format!("not attributed: `{text}` does not hold"),
                };
                if !ok && why_not.is_none() {
                    why_not = Some(msg.clone());
                }
                let outcome = if ok {
                    RuleOutcome::Pass
                } else {
                    RuleOutcome::Fail
                };
                self.reason(
                    format!("commission.attribute[{i}]"),
                    &a.span,
                    outcome,
                    &r,
                    msg,
                );
            }
        }
        let has_registering = rec.registering_partner().is_some();
        if !has_registering {
            attributed = false;
            if self.explain && why_not.is_none() {
                why_not = Some("the deal has no registering partner".into());
            }
        }
        let credited = if attributed { computed } else { Decimal::ZERO };
        let rebates_credited = if attributed {
            cents(rebate_total)
        } else {
            Decimal::ZERO
        };
        self.out.summary.commission = Some(credited);
        if !self.explain {
            return true;
        }
        let registering = rec.registering_partner().map(str::to_string);

        // Rebates are paid in full to the registering partner, outside the split;
        // nothing is paid when the commission is not attributed.
        let rebate_partner = registering.clone().filter(|_| attributed);
        let paid = match &rebate_partner {
            Some(p) => format!("; paid to the registering partner `{p}`, outside the split"),
            None => format!(
                "; not paid: {}",
                why_not
                    .as_deref()
                    .map(|w| w.strip_prefix("not attributed: ").unwrap_or(w))
                    .unwrap_or("the commission is not attributed")
            ),
        };
        for i in rebate_reasons {
            if let Some(r) = self.out.reasons.get_mut(i) {
                r.message.push_str(&paid);
            }
        }

        // Splits.
        let mut shares: Vec<ShareEffect> = Vec::new();
        let mut share_amounts: Vec<Decimal> = Vec::new();
        let mut per_partner: BTreeMap<String, Decimal> = BTreeMap::new();
        if attributed {
            let reg_id = registering.clone().unwrap_or_default();
            let mut chosen = None;
            for (si, s) in cm.splits.iter().enumerate() {
                let (ok, r) = match prog.splits.get(si).copied().flatten() {
                    Some(id) => self.cond(&env, id),
                    None => (true, Rec::default()),
                };
                let outcome = if ok && chosen.is_none() {
                    RuleOutcome::Pass
                } else {
                    RuleOutcome::Skip
                };
                let msg = if outcome == RuleOutcome::Pass {
                    "commission is split".to_string()
                } else {
                    "split does not apply".to_string()
                };
                self.reason(format!("commission.split[{si}]"), &s.span, outcome, &r, msg);
                if ok && chosen.is_none() {
                    chosen = Some((si, s));
                }
            }
            let parts: Vec<(String, String, Decimal)> = match chosen {
                Some((_, s)) => s
                    .shares
                    .iter()
                    .map(|sh| match &sh.role {
                        SplitRole::Registering => {
                            ("registering".to_string(), reg_id.clone(), sh.share)
                        }
                        SplitRole::Field { name, slot } => {
                            let pid = rec
                                .fields
                                .get(*slot as usize)
                                .and_then(|v| v.as_text().map(str::to_string));
                            (
                                name.clone(),
                                pid.unwrap_or_else(|| reg_id.clone()),
                                sh.share,
                            )
                        }
                    })
                    .collect(),
                None => vec![("registering".to_string(), reg_id.clone(), Decimal::ONE)],
            };
            // Every share but the first is rounded to cents; the first is the rest,
            // so the shares sum exactly to the total (the remainder cent goes to it).
            let mut rest = Decimal::ZERO;
            let mut split_overflow = false;
            for (k, (_, _, share)) in parts.iter().enumerate() {
                let amt = match credited.checked_mul(*share) {
                    Some(a) => cents(a),
                    None => {
                        split_overflow = true;
                        break;
                    }
                };
                if k > 0 {
                    match rest.checked_add(amt) {
                        Some(r) => rest = r,
                        None => {
                            split_overflow = true;
                            break;
                        }
                    }
                }
                share_amounts.push(amt);
            }
            if let (Some(first), false) = (credited.checked_sub(rest), split_overflow) {
                if let Some(a) = share_amounts.first_mut() {
                    *a = first;
                }
                for ((_, partner, _), amt) in parts.iter().zip(&share_amounts) {
                    let sum = per_partner.entry(partner.clone()).or_default();
                    match sum.checked_add(*amt) {
                        Some(x) => *sum = x,
                        None => split_overflow = true,
                    }
                }
            }
            match credited.checked_sub(rest) {
                Some(_) if !split_overflow => {}
                _ => {
                    let (rule, span) = match chosen {
                        Some((si, s)) => (format!("commission.split[{si}]"), s.span.clone()),
                        None => ("commission.rate".into(), cm.span.clone()),
                    };
                    let what = format!("the split of {} {}", money_str(credited), c.p.currency);
                    self.overflowed(rule, &span, what);
                    self.out.summary.commission = None;
                    return false;
                }
            }
            for ((role, partner, share), amt) in parts.iter().zip(&share_amounts) {
                shares.push(ShareEffect {
                    role: role.clone(),
                    partner: partner.clone(),
                    share: pct(*share),
                    amount: money_str(*amt),
                });
            }
        }
        let amounts = &mut self.out.effects.amounts;
        amounts.insert("commission".into(), money_str(credited));
        amounts.insert("rebate".into(), money_str(rebates_credited));
        if attributed {
            for (name, amt) in &rebate_by_name {
                amounts.insert(format!("rebate.{name}"), money_str(*amt));
            }
        }
        for (p, a) in per_partner {
            amounts.insert(format!("commission.{p}"), money_str(a));
        }
        if let Some(a) = opp_amount {
            amounts.insert("amount".into(), money_str(a));
        }
        self.out.effects.commission = Some(CommissionEffect {
            attributed,
            partner: registering,
            reason: why_not.filter(|_| !attributed),
            lines,
            computed: money_str(computed),
            total: money_str(credited),
            rebate_total: money_str(rebates_credited),
            rebate_partner,
            shares,
        });
        true
    }
}
