//! What the run did, for a channel manager: counted from the decisions as they came
//! back ([`Tally`]) and read from the store at the end (registrations, pipeline,
//! commission, the log's verification). Money is `Decimal` throughout.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};
use dealflow_dsl::ir::Period;
use dealflow_engine::Policy;
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::{Audience, Store};
use rust_decimal::Decimal;
use serde_json::Value;

use super::clock::Clock;
use super::world::{World, TIERS};
use crate::eval::group_thousands;

/// One co-sell pool in one period.
#[derive(Default)]
pub struct PoolUse {
    /// Units assigned in the period (a released unit can be assigned again).
    pub assigned: u64,
    /// Units held now.
    pub held: u64,
    /// Most units held at once.
    pub peak: u64,
}

/// Counters kept while the decisions come back.
#[derive(Default)]
pub struct Tally {
    pub submitted: u64,
    pub commands: BTreeMap<&'static str, u64>,
    pub ticks_firing: u64,
    pub refused: u64,
    pub refusals: Vec<String>,
    pub decisions: u64,
    pub outcomes: BTreeMap<(String, String), u64>,
    /// Evidence named missing by denied stage changes -> count.
    pub missing: BTreeMap<String, u64>,
    /// Other failing rules of denied stage changes (index dropped) -> (count, first message).
    pub blocking: BTreeMap<String, (u64, String)>,
    pub created: u64,
    pub created_from_leads: u64,
    pub won: u64,
    pub lost: u64,
    pub unattributed: u64,
    pub auto_approved: u64,
    pub to_review: u64,
    pub denied_at_submission: BTreeMap<&'static str, u64>,
    pub late: u64,
    pub review_hours: Vec<Decimal>,
    pub verdicts: BTreeMap<String, u64>,
    pub redenied: u64,
    pub resubmitted: u64,
    pub escalations: BTreeMap<String, u64>,
    pub breaches: u64,
    pub expiries: u64,
    pub expiries_closed: u64,
    pub extensions: u64,
    pub gate_denials: u64,
    pub fixed: u64,
    pub waited_for_review: u64,
    pub gave_up: u64,
    /// Pool -> period -> use.
    pub cosell: BTreeMap<String, BTreeMap<String, PoolUse>>,
    pub cosell_released: u64,
    pub cosell_contacts: u64,
    pub leads_submitted: u64,
    pub leads_offered: u64,
    pub leads_rerouted: u64,
    pub leads_unrouted: u64,
    pub leads_exhausted: u64,
    pub leads_timed_out: u64,
    pub leads_declined: u64,
    pub leads_accepted: u64,
    pub leads_converted: u64,
}

impl Tally {
    /// Counts a refusal, or what blocked a denied stage change.
    pub fn count_failures(&mut self, kind: &str, decision: &Value, doc: &Value) {
        if doc.get("outcome").and_then(Value::as_str) == Some("refused") {
            self.refused += 1;
            if self.refusals.len() < 5 {
                let msg = doc.get("message").and_then(Value::as_str).unwrap_or("");
                self.refusals.push(format!("{kind}: {msg}"));
            }
            return;
        }
        if !matches!(kind, "advance" | "close_won" | "close_lost") {
            return;
        }
        let missing = decision
            .get("missing")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for m in missing.iter().filter_map(Value::as_str) {
            *self.missing.entry(m.to_string()).or_default() += 1;
        }
        let reasons = decision
            .get("reasons")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut seen = BTreeSet::new();
        for r in reasons {
            if r.get("outcome").and_then(Value::as_str) != Some("fail") {
                continue;
            }
            let rule = r.get("rule").and_then(Value::as_str).unwrap_or("?");
            let msg = r.get("message").and_then(Value::as_str).unwrap_or("");
            // Missing evidence is counted by name above, and so are the rules that
            // fail only because they read a missing value.
            let reads_missing = r
                .get("values")
                .and_then(Value::as_object)
                .is_some_and(|v| v.values().any(|x| x.as_str() == Some("(missing)")));
            if msg.starts_with("missing evidence") || reads_missing {
                continue;
            }
            let category = rule.split('[').next().unwrap_or(rule).to_string();
            if !seen.insert(category.clone()) {
                continue;
            }
            let e = self
                .blocking
                .entry(category)
                .or_insert_with(|| (0, msg.to_string()));
            e.0 += 1;
        }
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[Decimal], p: usize) -> Option<Decimal> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = p.saturating_mul(n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn num(n: u64) -> String {
    group_thousands(&n.to_string())
}

fn decimal_of(v: &Value) -> Decimal {
    match v {
        Value::Number(n) => n.to_string().parse().unwrap_or_default(),
        Value::String(s) => s
            .split_whitespace()
            .next()
            .unwrap_or("")
            .parse()
            .unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

/// Percent with no decimals, `part / whole`.
fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let p = Decimal::from(part) * Decimal::ONE_HUNDRED / Decimal::from(whole);
    format!("{}%", p.round_dp(0))
}

fn label(stage: &str) -> &str {
    match stage {
        "SolutionDevelopment" => "Solution Development",
        "ProposalEvaluation" => "Proposal/Evaluation",
        "NegotiationClosing" => "Negotiation/Closing",
        other => other,
    }
}

/// Distinct periods of the kind `per` that the window's days fall in.
fn periods_in(clock: &Clock<'_>, per: Period) -> u64 {
    let key = |d: NaiveDate| -> (i32, u32) {
        match per {
            Period::Day => (d.year(), d.ordinal()),
            Period::Week => {
                let w = d.iso_week();
                (w.year(), w.week())
            }
            Period::Month => (d.year(), d.month()),
            Period::Quarter => (d.year(), d.month0() / 3),
        }
    };
    let keys: BTreeSet<(i32, u32)> = clock.days().map(key).collect();
    keys.len() as u64
}

pub struct Inputs<'a> {
    pub store: &'a SqliteStore,
    pub policy: &'a Policy,
    pub clock: &'a Clock<'a>,
    pub world: &'a World,
    pub tally: &'a Tally,
    pub seed: u64,
    pub store_name: String,
}

/// The summary text.
pub fn summary(x: &Inputs<'_>) -> Result<String, String> {
    let store_err = |e: dealflow_store::StoreError| format!("reading the store: {e}");
    let t = x.tally;
    let cur = x.policy.ir().currency.clone();
    let money = |d: Decimal| {
        format!(
            "{} {cur}",
            group_thousands(&format!("{:.2}", d.round_dp(2)))
        )
    };
    let mut out = String::new();
    let w = &mut out;

    let _ = writeln!(
        w,
        "dealflow demo: a simulated channel program (seed {})",
        x.seed
    );
    let _ = writeln!(
        w,
        "policy: {} {} (embedded, sha256 {})",
        x.policy.name(),
        x.policy.version(),
        x.policy.hash().get(..12).unwrap_or("")
    );
    let _ = writeln!(
        w,
        "clock: {} to {}, a tick every business hour 09:00-17:00 America/New_York\n  (the summer builds up the pipeline that the quarter from {} works; every figure covers the whole run)",
        x.clock.start, x.clock.end, x.clock.quarter_start
    );
    let tiers: Vec<String> = TIERS
        .iter()
        .enumerate()
        .rev()
        .map(|(k, name)| {
            format!(
                "{} {name}",
                x.world.partners.iter().filter(|p| p.tier == k).count()
            )
        })
        .collect();
    let direct = x.world.accounts.iter().filter(|a| a.direct()).count();
    let aliases = x
        .world
        .accounts
        .iter()
        .filter(|a| a.alias_of.is_some())
        .count();
    let _ = writeln!(
        w,
        "program: {} partners ({}), {} accounts ({direct} owned by direct sales, {aliases} CRM duplicates)",
        x.world.partners.len(),
        tiers.join(", "),
        x.world.accounts.len(),
    );
    let _ = writeln!(w, "store: {}", x.store_name);

    // ---------------------------------------------------------------- commands
    let logged = x.store.commands().map_err(store_err)?.len() as u64;
    let verify = x.store.verify().map_err(store_err)?;
    let ticks = t.commands.get("tick").copied().unwrap_or(0);
    let _ = writeln!(w, "\n== Commands and decisions");
    let _ = writeln!(
        w,
        "  {} commands submitted, each with its own instant and idempotency key: {} ticks ({} fired timers), {} others",
        num(t.submitted),
        num(ticks),
        num(t.ticks_firing),
        num(t.submitted.saturating_sub(ticks))
    );
    let mut by_type: Vec<(&&str, &u64)> =
        t.commands.iter().filter(|(k, _)| **k != "tick").collect();
    by_type.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let types: Vec<String> = by_type
        .iter()
        .map(|(k, n)| format!("{k} {}", num(**n)))
        .collect();
    let _ = writeln!(w, "    {}", types.join(", "));
    let _ = writeln!(
        w,
        "  {} commands logged by the store (a tick with nothing due leaves no trace), {} refused",
        num(logged),
        num(t.refused)
    );
    let _ = writeln!(w, "  {} decisions logged", num(t.decisions));
    for r in &t.refusals {
        let _ = writeln!(w, "  refused: {r}");
    }

    // ---------------------------------------------------------------- pipeline
    let ids = x.store.opportunity_ids().map_err(store_err)?;
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut registrations = 0u64;
    let mut won = (0u64, Decimal::ZERO);
    let mut lost = 0u64;
    let mut open = (0u64, Decimal::ZERO);
    let mut open_by_stage: BTreeMap<String, u64> = BTreeMap::new();
    let mut flags: BTreeMap<String, u64> = BTreeMap::new();
    let mut weighted = Decimal::ZERO;
    let end = x.clock.horizon();
    for (id, _) in &ids {
        let Some(v) = x
            .store
            .opportunity(&Audience::Vendor, id)
            .map_err(store_err)?
        else {
            continue;
        };
        for r in &v.registrations {
            registrations += 1;
            *statuses.entry(r.status.clone()).or_default() += 1;
        }
        let amount = v.fields.get("amount").map(decimal_of).unwrap_or_default();
        match (v.closed, v.stage.as_str()) {
            (true, "ClosedWon") => {
                won.0 += 1;
                won.1 += amount;
            }
            (true, _) => lost += 1,
            (false, stage) => {
                open.0 += 1;
                open.1 += amount;
                *open_by_stage.entry(stage.to_string()).or_default() += 1;
                if let Some(d) = x.store.evaluate(id, end).map_err(store_err)? {
                    for f in &d.flags {
                        *flags.entry(f.clone()).or_default() += 1;
                    }
                    if let Some(f) = &d.effects.forecast {
                        weighted += f.weighted_amount.parse::<Decimal>().unwrap_or_default();
                    }
                }
            }
        }
    }
    let _ = writeln!(w, "\n== Pipeline at the end");
    let _ = writeln!(
        w,
        "  {} opportunities: {} opened by partners, {} converted from leads",
        num(ids.len() as u64),
        num(t.created),
        num(t.created_from_leads)
    );
    let _ = writeln!(w, "  won   {:>5}  {:>20}", num(won.0), money(won.1));
    let _ = writeln!(w, "  lost  {:>5}", num(lost));
    let stages: Vec<String> = super::sim::STAGES
        .iter()
        .take(5)
        .map(|s| {
            format!(
                "{} {}",
                open_by_stage.get(*s).copied().unwrap_or(0),
                label(s)
            )
        })
        .collect();
    let _ = writeln!(
        w,
        "  open  {:>5}  {:>20}  ({})",
        num(open.0),
        money(open.1),
        stages.join(", ")
    );
    let mut flags: Vec<(String, u64)> = flags.into_iter().collect();
    flags.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let flags: Vec<String> = flags.iter().map(|(f, n)| format!("{n} {f}")).collect();
    let _ = writeln!(
        w,
        "  open deals flagged: {}; hygiene-adjusted weighted forecast {}",
        if flags.is_empty() {
            "none".to_string()
        } else {
            flags.join(", ")
        },
        money(weighted)
    );

    // ---------------------------------------------------------------- registrations
    let st = |s: &str| statuses.get(s).copied().unwrap_or(0);
    let _ = writeln!(w, "\n== Registrations");
    let _ = writeln!(
        w,
        "  {} submitted; final status: {} approved, {} pending, {} rejected, {} returned, {} withdrawn, {} expired",
        num(registrations),
        st("approved"),
        st("pending"),
        st("rejected"),
        st("returned"),
        st("withdrawn"),
        st("expired")
    );
    let denied: u64 = t.denied_at_submission.values().sum();
    let why: Vec<String> = t
        .denied_at_submission
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    let _ = writeln!(
        w,
        "  when submitted: {} auto-approved, {} queued for review, {} denied ({})",
        t.auto_approved,
        t.to_review,
        denied,
        why.join(", ")
    );
    let _ = writeln!(
        w,
        "  {} late registrations; protection extended {} times on advance; {} protections expired ({} on deals already closed)",
        t.late, t.extensions, t.expiries, t.expiries_closed
    );

    // ---------------------------------------------------------------- review SLA
    let mut hours = t.review_hours.clone();
    hours.sort();
    let h = |p: usize| percentile(&hours, p).map_or("-".to_string(), |d| d.round_dp(2).to_string());
    let within = hours.iter().filter(|d| **d <= Decimal::from(8)).count() as u64;
    let v = |s: &str| t.verdicts.get(s).copied().unwrap_or(0);
    let _ = writeln!(w, "\n== Review queue (channel ops, 24 business hours SLA)");
    let _ = writeln!(
        w,
        "  {} reviewed: time to decision median {} business hours, p90 {}, {} within 8",
        hours.len(),
        h(50),
        h(90),
        pct(within, hours.len() as u64)
    );
    let _ = writeln!(
        w,
        "  verdicts: {} approved, {} rejected, {} returned ({} resubmitted){}",
        v("approved"),
        v("rejected"),
        v("returned"),
        t.resubmitted,
        if t.redenied > 0 {
            format!(
                "; {} approvals the policy denied at review time (then rejected)",
                t.redenied
            )
        } else {
            String::new()
        }
    );
    let esc: u64 = t.escalations.values().sum();
    let esc_to: Vec<String> = t
        .escalations
        .iter()
        .map(|(k, n)| format!("{n} to {k}"))
        .collect();
    let _ = writeln!(
        w,
        "  escalations: {esc}{}; SLA breaches: {}",
        if esc_to.is_empty() {
            String::new()
        } else {
            format!(" ({})", esc_to.join(", "))
        },
        t.breaches
    );

    // ---------------------------------------------------------------- stage gates
    let _ = writeln!(w, "\n== Stage gates");
    let _ = writeln!(
        w,
        "  {} advances or closes denied: {} fixed with the evidence the decision named and retried, {} waited for the registration review, {} left as they were",
        t.gate_denials, t.fixed, t.waited_for_review, t.gave_up
    );
    let mut missing: Vec<(&String, &u64)> = t.missing.iter().collect();
    missing.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let missing: Vec<String> = missing.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(
        w,
        "  missing evidence named: {}",
        if missing.is_empty() {
            "none".to_string()
        } else {
            missing.join(", ")
        }
    );
    let mut blocking: Vec<(&String, &(u64, String))> = t.blocking.iter().collect();
    blocking.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    for (rule, (n, msg)) in blocking.iter().take(4) {
        let msg: String = msg.chars().take(80).collect();
        let _ = writeln!(w, "  {n:>5}  {rule}: {msg}");
    }

    // ---------------------------------------------------------------- co-sell
    let _ = writeln!(w, "\n== Co-sell (units per period against capacity)");
    let _ = writeln!(
        w,
        "  {:<24} {:>10} {:>9} {:>12} {:>11} {:>10} {:>13}",
        "pool", "capacity", "assigned", "avg/period", "max/period", "peak held", "full periods"
    );
    if let Some(cs) = &x.policy.ir().cosell {
        for p in &cs.pools {
            let per = match p.per {
                Period::Day => "day",
                Period::Week => "week",
                Period::Month => "month",
                Period::Quarter => "quarter",
            };
            let periods = periods_in(x.clock, p.per);
            let used = t.cosell.get(&p.name);
            let assigned: u64 = used.map_or(0, |m| m.values().map(|u| u.assigned).sum());
            let most = used
                .and_then(|m| m.values().map(|u| u.assigned).max())
                .unwrap_or(0);
            let peak = used
                .and_then(|m| m.values().map(|u| u.peak).max())
                .unwrap_or(0);
            let full = used.map_or(0, |m| {
                m.values()
                    .filter(|u| u.peak >= u64::from(p.capacity))
                    .count()
            });
            let avg = if periods == 0 {
                Decimal::ZERO
            } else {
                Decimal::from(assigned) / Decimal::from(periods)
            };
            let _ = writeln!(
                w,
                "  {:<24} {:>10} {:>9} {:>12} {:>11} {:>10} {:>13}",
                p.label.clone().unwrap_or_else(|| p.name.clone()),
                format!("{}/{per}", p.capacity),
                assigned,
                format!("{:.1}", avg.round_dp(1)),
                most,
                peak,
                format!("{full} of {periods}")
            );
        }
    }
    let _ = writeln!(
        w,
        "  {} co-sell contacts logged by partners; a unit is released when its deal closes or leaves the stage it qualified in, and can serve another deal in the same period",
        t.cosell_contacts
    );

    // ---------------------------------------------------------------- commission
    let from = x.clock.at_local(Some(x.clock.start), 0);
    let lines = x
        .store
        .commission(&Audience::Vendor, from, end)
        .map_err(store_err)?;
    let mut per_partner: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    let (mut commission, mut rebates) = (Decimal::ZERO, Decimal::ZERO);
    for l in &lines {
        let a: Decimal = l.amount.parse().unwrap_or_default();
        let e = per_partner.entry(l.partner.clone()).or_default();
        if l.kind == "rebate" {
            e.1 += a;
            rebates += a;
        } else {
            e.0 += a;
            commission += a;
        }
    }
    let mut ranked: Vec<(&String, &(Decimal, Decimal))> = per_partner.iter().collect();
    ranked.sort_by(|a, b| (b.1 .0 + b.1 .1).cmp(&(a.1 .0 + a.1 .1)).then(a.0.cmp(b.0)));
    let _ = writeln!(
        w,
        "\n== Commission booked (top 5 of {} partners paid)",
        ranked.len()
    );
    for (id, (c, r)) in ranked.iter().take(5) {
        let p = x.world.partners.iter().find(|p| &p.id == *id);
        let name = p.map_or(String::new(), |p| format!("{} ({})", p.name, p.tier_name()));
        let _ = writeln!(
            w,
            "  {id:<6} {name:<36} {:>16}  (rebates {})",
            money(*c + *r),
            money(*r)
        );
    }
    let _ = writeln!(
        w,
        "  total {} commission + {} rebates on {} won deals ({} won without an approved registration: no commission)",
        money(commission),
        money(rebates),
        t.won,
        t.unattributed
    );

    // ---------------------------------------------------------------- leads
    let _ = writeln!(w, "\n== Lead routing");
    let _ = writeln!(
        w,
        "  {} leads submitted by channel ops: {} offered, {} unrouted",
        t.leads_submitted, t.leads_offered, t.leads_unrouted
    );
    let _ = writeln!(
        w,
        "  {} accepted ({} converted to opportunities), {} declined, {} timed out, {} rerouted, {} exhausted",
        t.leads_accepted,
        t.leads_converted,
        t.leads_declined,
        t.leads_timed_out,
        t.leads_rerouted,
        t.leads_exhausted
    );

    // ---------------------------------------------------------------- verify
    let _ = writeln!(w, "\n== Decision log");
    match verify.first_broken {
        None => {
            let _ = writeln!(
                w,
                "  verified: {} decisions, hash chain intact",
                num(verify.decisions)
            );
        }
        Some(seq) => {
            let _ = writeln!(
                w,
                "  BROKEN at decision {seq}: {}",
                verify.reason.unwrap_or_default()
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Decimal> = (1..=10).map(Decimal::from).collect();
        assert_eq!(percentile(&v, 50), Some(Decimal::from(5)));
        assert_eq!(percentile(&v, 90), Some(Decimal::from(9)));
        assert_eq!(percentile(&v, 100), Some(Decimal::from(10)));
        assert_eq!(percentile(&v[..1], 90), Some(Decimal::from(1)));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn money_values_read_as_decimals() {
        assert_eq!(
            decimal_of(&serde_json::json!(120000)),
            Decimal::from(120_000)
        );
        assert_eq!(
            decimal_of(&serde_json::json!("99.50 USD")),
            Decimal::new(9950, 2)
        );
        assert_eq!(decimal_of(&Value::Null), Decimal::ZERO);
    }
}
