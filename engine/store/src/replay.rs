//! Replay: the command log fed into a fresh in-memory store. Without a candidate
//! policy it must reproduce every decision byte for byte. With a candidate (which
//! replaces the most recently published version wherever that version is in force)
//! it yields what would change: outcomes by action and rule, SLA breaches, co-sell
//! assignments, commission and rebate totals per partner, and the forecast.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dealflow_engine::Policy;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use crate::sqlite::{parse_ts, SqliteStore};
use crate::{Audience, Logged, Store, StoreError};

/// Commands per transaction while replaying.
const CHUNK: usize = 1000;

/// Replays `commands` into `target` (a fresh store).
fn feed(target: &SqliteStore, source: &dyn Store) -> Result<usize, StoreError> {
    let commands = source.commands()?;
    let mut chunk: Vec<(String, DateTime<Utc>)> = Vec::with_capacity(CHUNK);
    let mut n = 0;
    for c in commands {
        chunk.push((c.raw, parse_ts(&c.at)?));
        if chunk.len() == CHUNK {
            n += submit_chunk(target, &chunk)?;
            chunk.clear();
        }
    }
    n += submit_chunk(target, &chunk)?;
    Ok(n)
}

fn submit_chunk(
    target: &SqliteStore,
    chunk: &[(String, DateTime<Utc>)],
) -> Result<usize, StoreError> {
    if chunk.is_empty() {
        return Ok(0);
    }
    let refs: Vec<(&str, DateTime<Utc>)> = chunk.iter().map(|(r, t)| (r.as_str(), *t)).collect();
    target.submit_batch(&refs)?;
    Ok(chunk.len())
}

/// The first decision that differs between two logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub seq: u64,
    pub logged: Option<String>,
    pub replayed: Option<String>,
}

/// Replay without a candidate: do the decisions come out byte for byte the same?
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub commands: usize,
    pub decisions: usize,
    pub identical: usize,
    pub first_difference: Option<Difference>,
}

/// Replays the store's command log and compares every decision.
pub fn verify_replay(source: &dyn Store) -> Result<Identity, StoreError> {
    let fresh = SqliteStore::open_in_memory()?;
    let commands = feed(&fresh, source)?;
    let a = source.decisions(&Audience::Vendor, 0, usize::MAX)?;
    let b = fresh.decisions(&Audience::Vendor, 0, usize::MAX)?;
    let identical = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let first_difference = (identical < a.len().max(b.len())).then(|| Difference {
        seq: u64::try_from(identical)
            .unwrap_or(u64::MAX)
            .saturating_add(1),
        logged: a.get(identical).map(|d| d.json.clone()),
        replayed: b.get(identical).map(|d| d.json.clone()),
    });
    Ok(Identity {
        commands,
        decisions: a.len(),
        identical,
        first_difference,
    })
}

/// Totals of one program run (a store after its commands).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub decisions: usize,
    pub outcomes: BTreeMap<String, usize>,
    pub sla_breaches: usize,
    pub escalations: usize,
    pub expiries: usize,
    /// `cosell_assigned` events per pool.
    pub cosell_assignments: BTreeMap<String, usize>,
    /// Booked commission and rebate per partner.
    pub commission: BTreeMap<String, String>,
    pub rebates: BTreeMap<String, String>,
    /// Open pipeline at the last instant: amount x probability, and after hygiene
    /// (downweights and exclusions).
    pub forecast_weighted: String,
    pub forecast_adjusted: String,
    pub currency: String,
}

fn pct(s: &str) -> Decimal {
    s.trim_end_matches('%')
        .parse::<Decimal>()
        .map(|d| d / Decimal::from(100))
        .unwrap_or_default()
}

fn add(map: &mut BTreeMap<String, Decimal>, k: &str, v: &str) {
    let v = v.parse::<Decimal>().unwrap_or_default();
    let e = map.entry(k.to_string()).or_default();
    *e = e.checked_add(v).unwrap_or(*e);
}

/// Totals of a store, the forecast evaluated at `at`.
pub fn totals(store: &SqliteStore, at: DateTime<Utc>) -> Result<Totals, StoreError> {
    let mut t = Totals::default();
    let all = store.decisions(&Audience::Vendor, 0, usize::MAX)?;
    t.decisions = all.len();
    for d in &all {
        *t.outcomes.entry(d.outcome.clone()).or_default() += 1;
        let v: Value = serde_json::from_str(&d.json).unwrap_or(Value::Null);
        for e in v
            .get("events")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match e.get("type").and_then(Value::as_str) {
                Some("review_sla_breached") => t.sla_breaches += 1,
                Some("review_escalated") => t.escalations += 1,
                Some("registration_expired") => t.expiries += 1,
                Some("cosell_assigned") => {
                    let pool = e.get("pool").and_then(Value::as_str).unwrap_or("?");
                    *t.cosell_assignments.entry(pool.to_string()).or_default() += 1;
                }
                _ => {}
            }
        }
    }
    let (mut com, mut reb) = (BTreeMap::new(), BTreeMap::new());
    let start = crate::command::parse_instant("0001-01-01T00:00:00Z").unwrap_or_default();
    let end = crate::command::parse_instant("9999-12-31T23:59:59Z").unwrap_or(at);
    for l in store.commission(&Audience::Vendor, start, end)? {
        let m = if l.kind == "rebate" {
            &mut reb
        } else {
            &mut com
        };
        add(m, &l.partner, &l.amount);
        t.currency = l.currency.clone();
    }
    t.commission = com
        .into_iter()
        .map(|(k, v)| (k, v.round_dp(2).to_string()))
        .collect();
    t.rebates = reb
        .into_iter()
        .map(|(k, v)| (k, v.round_dp(2).to_string()))
        .collect();
    let (mut w, mut adj) = (Decimal::ZERO, Decimal::ZERO);
    for (id, closed) in store.opportunity_ids()? {
        if closed {
            continue;
        }
        let Some(d) = store.evaluate(&id, at)? else {
            continue;
        };
        if t.currency.is_empty() {
            t.currency = d.effects.currency.clone();
        }
        if let Some(f) = &d.effects.forecast {
            let amount = d
                .effects
                .amounts
                .get("amount")
                .and_then(|a| a.parse::<Decimal>().ok())
                .unwrap_or_default();
            w = w
                .checked_add(amount.checked_mul(pct(&f.probability)).unwrap_or_default())
                .unwrap_or(w);
            adj = adj
                .checked_add(f.weighted_amount.parse::<Decimal>().unwrap_or_default())
                .unwrap_or(adj);
        }
    }
    t.forecast_weighted = w.round_dp(2).to_string();
    t.forecast_adjusted = adj.round_dp(2).to_string();
    Ok(t)
}

/// One kind of outcome change: `action` went from `before` to `after`; `rule` is
/// the first failing rule of the side that failed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Change {
    pub action: String,
    pub before: String,
    pub after: String,
    pub rule: Option<String>,
}

/// What a candidate policy would change over the recorded program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WhatIf {
    pub commands: usize,
    pub replaced: String,
    pub candidate: String,
    /// Changes grouped, with their counts and up to 3 example opportunities.
    pub changes: Vec<(Change, usize, Vec<String>)>,
    pub changed_decisions: usize,
    pub before: Totals,
    pub after: Totals,
}

fn first_failed(v: &Value) -> Option<String> {
    v.get("decision")?
        .get("reasons")?
        .as_array()?
        .iter()
        .find(|r| r.get("outcome").and_then(Value::as_str) == Some("fail"))
        .and_then(|r| r.get("rule").and_then(Value::as_str))
        .map(str::to_string)
}

/// Decisions keyed by their command's idempotency key (commands that write nothing
/// in one run, such as an idle tick, shift sequence numbers, not keys), then by
/// position within the command.
fn by_command(log: &[Logged]) -> BTreeMap<(String, usize), Value> {
    let mut out = BTreeMap::new();
    let mut idx: BTreeMap<String, usize> = BTreeMap::new();
    for d in log {
        let v: Value = serde_json::from_str(&d.json).unwrap_or(Value::Null);
        let c = &v["command"];
        let k = match c.get("key").and_then(Value::as_str) {
            Some(k) => k.to_string(),
            None => format!("#{}", c.get("seq").and_then(Value::as_i64).unwrap_or(0)),
        };
        let i = idx.entry(k.clone()).or_default();
        out.insert((k, *i), v);
        *i += 1;
    }
    out
}

/// Replays the log twice (as recorded, and with `candidate`) and compares.
pub fn what_if(source: &dyn Store, candidate: Policy) -> Result<WhatIf, StoreError> {
    let Some(replaced) = source.policy_versions()?.pop().map(|v| v.hash) else {
        return Err(StoreError::Invalid(
            "the store has no published policy to compare with".into(),
        ));
    };
    // The latest instant (a command refused for coming too late keeps its earlier one).
    let last_at = source
        .commands()?
        .iter()
        .map(|c| parse_ts(&c.at))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .max()
        .unwrap_or_default();
    let base = SqliteStore::open_in_memory()?;
    let commands = feed(&base, source)?;
    let cand_hash = candidate.hash().to_string();
    let cand = SqliteStore::open_in_memory()?.with_candidate(replaced.clone(), candidate);
    feed(&cand, source)?;
    let a = by_command(&base.decisions(&Audience::Vendor, 0, usize::MAX)?);
    let b = by_command(&cand.decisions(&Audience::Vendor, 0, usize::MAX)?);
    let mut groups: BTreeMap<Change, (usize, Vec<String>)> = BTreeMap::new();
    let mut changed = 0;
    for (k, x) in &a {
        let Some(y) = b.get(k) else { continue };
        let (ox, oy) = (x.get("outcome"), y.get("outcome"));
        if ox == oy {
            continue;
        }
        changed += 1;
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("none").to_string();
        // What was asked: the engine action for an advance (`advance Proposal`), the
        // command for a refusal, else the decision's kind (register, review, timer...).
        let kind = x.get("kind").and_then(Value::as_str).unwrap_or("?");
        let action = match kind {
            "advance" => x["decision"]["action"].as_str().unwrap_or(kind),
            "refusal" => x["command"]["type"].as_str().unwrap_or(kind),
            _ => kind,
        }
        .to_string();
        let rule = first_failed(y).or_else(|| first_failed(x));
        let g = groups
            .entry(Change {
                action,
                before: s(ox),
                after: s(oy),
                rule,
            })
            .or_default();
        g.0 += 1;
        if let Some(o) = x.get("opportunity").and_then(Value::as_str) {
            if g.1.len() < 3 && !g.1.iter().any(|e| e == o) {
                g.1.push(o.to_string());
            }
        }
    }
    Ok(WhatIf {
        commands,
        replaced,
        candidate: cand_hash,
        changes: groups.into_iter().map(|(c, (n, ex))| (c, n, ex)).collect(),
        changed_decisions: changed,
        before: totals(&base, last_at)?,
        after: totals(&cand, last_at)?,
    })
}
