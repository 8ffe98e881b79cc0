//! A realistic workload for the store benchmarks (shared by `benches/store.rs` and
//! `examples/store_figures.rs`): the reference policy, ten Gold partners, and per
//! opportunity 20 commands over its life (its account, create, register (approved),
//! two updates, ten activities, three advances with the evidence they need, close
//! won with commission), interleaved in time order in blocks of 100 deals.
#![allow(dead_code, reason = "each benchmark uses a part")]

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

pub const POLICY: &str = include_str!("../../../../policies/channel-standard.policy");

/// Commands per opportunity in [`opportunity_commands`].
pub const PER_OPPORTUNITY: usize = 20;

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 2, 13, 0, 0)
        .single()
        .unwrap_or_default()
}

fn admin() -> Value {
    json!({"user": "ann", "role": "admin"})
}

/// The policy and the partners, at the start.
pub fn setup() -> Vec<(String, DateTime<Utc>)> {
    let at = start() - Duration::hours(1);
    let mut out = vec![(
        json!({"key": "publish", "type": "publish_policy", "by": admin(), "name": "channel-standard.policy",
               "source": POLICY, "effective_from": "2026-01-01T00:00:00Z"})
        .to_string(),
        at,
    )];
    for p in 0..10 {
        out.push((
            json!({"key": format!("partner-{p}"), "type": "upsert_partner", "by": admin(),
                   "partner": {"id": format!("P-{p}"), "name": format!("Partner {p}"), "tier": "Gold",
                               "territories": ["NA"], "specializations": ["Security"], "win_rate": "30%"}})
            .to_string(),
            at,
        ));
    }
    out
}

/// Step `step` (0..20) of opportunity `i`'s life.
pub fn opportunity_command(i: usize, step: usize) -> Value {
    let opp = format!("OPP-{i}");
    let p = json!({"partner": format!("P-{}", i % 10)});
    let key = format!("{opp}-{step}");
    let amount = 40_000 + (i % 17) * 10_000;
    match step {
        0 => json!({"key": key, "type": "upsert_account", "by": admin(),
                    "account": {"id": format!("A-{i}"), "name": format!("Customer {i}"), "domain": format!("customer-{i}.example"),
                                "industry": "Commercial", "owner": "channel", "employees": 100 + i % 5000}}),
        1 => json!({"key": key, "type": "create_opportunity", "by": p,
                    "opportunity": {"id": opp, "account": format!("A-{i}"), "stage": "Qualification",
                      "fields": {"amount": amount, "close_date": "2027-01-15", "product_family": "Security", "region": "NA",
                                 "budget_process": true, "decision_maker": "CFO", "need": "firewall refresh", "timeline": "2026-12-20"},
                      "line_items": [{"product": "FW-X", "product_family": "Security", "quantity": 2, "price": amount / 2}]}}),
        2 => json!({"key": key, "type": "register", "by": p, "opportunity": opp}),
        3 => {
            json!({"key": key, "type": "update_opportunity", "by": p, "opportunity": opp, "fields": {"close_date": "2027-02-01"}})
        }
        4 => {
            json!({"key": key, "type": "advance", "by": p, "opportunity": opp, "to": "SolutionDevelopment"})
        }
        5..=14 => {
            json!({"key": key, "type": "log_activity", "by": p, "opportunity": opp, "kind": "call", "note": format!("call {step}")})
        }
        15 => json!({"key": key, "type": "update_opportunity", "by": p, "opportunity": opp,
                     "fields": {"demo_completed": "2026-09-20", "proposal_sent": "2026-09-25", "po_number": format!("PO-{i}")}}),
        16 => {
            json!({"key": key, "type": "advance", "by": p, "opportunity": opp, "to": "ProposalEvaluation"})
        }
        17 => {
            json!({"key": key, "type": "update_opportunity", "by": p, "opportunity": opp, "fields": {"amount": amount + 5_000}})
        }
        18 => {
            json!({"key": key, "type": "advance", "by": p, "opportunity": opp, "to": "NegotiationClosing"})
        }
        _ => json!({"key": key, "type": "close_won", "by": p, "opportunity": opp}),
    }
}

/// The commands of `opportunities` deals (numbered from `first`), in time order:
/// blocks of 100 deals, each block walking its deals through their 20 steps, one
/// second apart.
pub fn workload(first: usize, opportunities: usize) -> Vec<(String, DateTime<Utc>)> {
    let mut out = Vec::with_capacity(opportunities * PER_OPPORTUNITY);
    let mut at = start() + Duration::seconds(i64::try_from(first * PER_OPPORTUNITY).unwrap_or(0));
    let mut block = first;
    while block < first + opportunities {
        let end = (block + 100).min(first + opportunities);
        for step in 0..PER_OPPORTUNITY {
            for i in block..end {
                out.push((opportunity_command(i, step).to_string(), at));
                at += Duration::seconds(1);
            }
        }
        block = end;
    }
    out
}

/// Silver-partner deals registered for review (three timers each: two escalations
/// and the SLA breach): setup, then per deal an account, a deal and its registration.
pub fn pending_reviews(deals: usize) -> Vec<(String, DateTime<Utc>)> {
    let at = start() - Duration::hours(1);
    let mut out = vec![(
        json!({"key": "publish", "type": "publish_policy", "by": admin(), "name": "channel-standard.policy",
               "source": POLICY, "effective_from": "2026-01-01T00:00:00Z"})
        .to_string(),
        at,
    )];
    out.push((
        json!({"key": "silver", "type": "upsert_partner", "by": admin(),
               "partner": {"id": "P-S", "name": "Silver Partner", "tier": "Silver", "territories": ["NA"], "specializations": ["Security"], "win_rate": "20%"}})
        .to_string(),
        at,
    ));
    let at = start();
    for i in 0..deals {
        let opp = format!("OPP-{i}");
        let p = json!({"partner": "P-S"});
        out.push((
            json!({"key": format!("a{i}"), "type": "upsert_account", "by": admin(),
                   "account": {"id": format!("A-{i}"), "name": format!("Customer {i}"), "domain": format!("customer-{i}.example"),
                               "industry": "Commercial", "owner": "channel", "employees": 100}})
            .to_string(),
            at,
        ));
        out.push((
            json!({"key": format!("c{i}"), "type": "create_opportunity", "by": p,
                   "opportunity": {"id": opp, "account": format!("A-{i}"), "stage": "Qualification",
                     "fields": {"amount": 60_000, "close_date": "2027-01-15", "product_family": "Security", "region": "NA",
                                "budget_process": true, "decision_maker": "CFO", "need": "firewall refresh", "timeline": "2026-12-20"}}})
            .to_string(),
            at,
        ));
        out.push((
            json!({"key": format!("r{i}"), "type": "register", "by": p, "opportunity": opp})
                .to_string(),
            at,
        ));
    }
    out
}

/// The first three steps (account, create, register) of deals `0..deals`, after
/// [`setup`].
pub fn deals_ready(deals: usize) -> Vec<(String, DateTime<Utc>)> {
    let at = start();
    (0..3)
        .flat_map(|step| (0..deals).map(move |i| (opportunity_command(i, step).to_string(), at)))
        .collect()
}

/// `n` activities (the cheapest command that writes an event) spread round robin
/// over deals `0..deals` (see [`deals_ready`]).
pub fn activities(n: usize, deals: usize, tag: &str) -> Vec<(String, DateTime<Utc>)> {
    let at = start() + Duration::days(1);
    (0..n)
        .map(|k| {
            let i = k % deals.max(1);
            (
                json!({"key": format!("{tag}-{k}"), "type": "log_activity", "by": {"partner": format!("P-{}", i % 10)},
                       "opportunity": format!("OPP-{i}"), "kind": "call"})
                .to_string(),
                at,
            )
        })
        .collect()
}

/// Submits `commands` in batches of `batch`; the number of decisions logged.
pub fn submit_all(
    store: &dealflow_store::sqlite::SqliteStore,
    commands: &[(String, DateTime<Utc>)],
    batch: usize,
) -> usize {
    use dealflow_store::Store;
    let mut decisions = 0;
    for chunk in commands.chunks(batch.max(1)) {
        let refs: Vec<(&str, DateTime<Utc>)> =
            chunk.iter().map(|(r, t)| (r.as_str(), *t)).collect();
        match store.submit_batch(&refs) {
            Ok(out) => {
                for s in out {
                    if s.refused {
                        eprintln!(
                            "refused: {}",
                            s.decisions.first().map_or("", |d| d.json.as_str())
                        );
                    }
                    decisions += s.decisions.len();
                }
            }
            Err(e) => eprintln!("store error: {e}"),
        }
    }
    decisions
}
