//! The metrics of `docs/metrics.md`, computed in one pass over the store's
//! opportunities (each reduced to a compact summary kept in memory) plus passes
//! over registrations and register decisions.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use dealflow_dsl::ir::{self, StageKind};
use dealflow_engine::{Action, Audience, Context, Policy, Scratch};
use dealflow_store::Store;
use rayon::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::model::*;

/// A calendar quarter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    pub year: i32,
    /// 1..=4.
    pub q: u32,
}

impl Quarter {
    /// `2017-Q4`.
    pub fn parse(s: &str) -> Option<Quarter> {
        let (y, q) = s.trim().split_once("-Q")?;
        let year: i32 = y.parse().ok()?;
        let q: u32 = q.parse().ok()?;
        ((1..=4).contains(&q) && (1..=9998).contains(&year)).then_some(Quarter { year, q })
    }

    pub fn of(d: NaiveDate) -> Quarter {
        Quarter {
            year: d.year(),
            q: (d.month() - 1) / 3 + 1,
        }
    }

    pub fn start(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, (self.q - 1) * 3 + 1, 1).unwrap_or_default()
    }

    pub fn next(self) -> Quarter {
        if self.q == 4 {
            Quarter {
                year: self.year + 1,
                q: 1,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q + 1,
            }
        }
    }

    pub fn label(self) -> String {
        format!("{}-Q{}", self.year, self.q)
    }

    /// The quarter as Unix seconds, `start..end` (UTC midnights).
    pub fn bounds(self) -> (i64, i64) {
        let at = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
                .timestamp()
        };
        (at(self.start()), at(self.next().start()))
    }
}

/// What the report is asked for.
#[derive(Clone, Debug)]
pub struct Options {
    /// Everything recorded up to the end of this day (UTC) counts.
    pub as_of: NaiveDate,
    pub target: Option<Decimal>,
    pub period: Option<Quarter>,
    pub audience: Audience,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Store(#[from] dealflow_store::StoreError),
    #[error("{0}")]
    Invalid(String),
}

const DAY: f64 = 86_400.0;

fn r4(x: f64) -> f64 {
    if x.is_finite() {
        (x * 10_000.0).round() / 10_000.0
    } else {
        0.0
    }
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| r4(n as f64 / d as f64))
}

/// Money as text with two decimals.
pub fn money(d: Decimal) -> String {
    let mut x = d.round_dp(2);
    x.rescale(2);
    x.to_string()
}

fn add(acc: &mut Decimal, d: Decimal) -> Result<(), ReportError> {
    *acc = acc
        .checked_add(d)
        .ok_or_else(|| ReportError::Invalid("an amount total overflows".into()))?;
    Ok(())
}

fn stat(mut v: Vec<f64>) -> Stat {
    if v.is_empty() {
        return Stat::default();
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Stat {
        count: n as u64,
        mean: Some(r4(mean)),
        median: Some(r4(median)),
    }
}

/// The 95% Wilson score interval of `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let n = n as f64;
    let p = k as f64 / n;
    let den = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / den;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / den;
    Some((r4((centre - half).max(0.0)), r4((centre + half).min(1.0))))
}

/// The fewest closed deals for calibration to call a declared probability off.
pub const CALIBRATION_MIN: u64 = 30;

#[derive(Default)]
struct Seg {
    won: u64,
    lost: u64,
    open: u64,
    won_amount: Decimal,
}

impl Seg {
    fn add(&mut self, d: &Opp) -> Result<(), ReportError> {
        if d.won {
            self.won += 1;
            add(&mut self.won_amount, d.amount.unwrap_or_default())?;
        } else if d.lost {
            self.lost += 1;
        } else {
            self.open += 1;
        }
        Ok(())
    }

    fn out(&self, key: &str) -> Segment {
        Segment {
            key: key.to_string(),
            won: self.won,
            lost: self.lost,
            open: self.open,
            win_rate: ratio(self.won, self.won + self.lost),
            won_amount: money(self.won_amount),
            avg_won: (self.won > 0).then(|| money(self.won_amount / Decimal::from(self.won))),
        }
    }
}

fn segments(m: &BTreeMap<String, Seg>) -> Vec<Segment> {
    m.iter().map(|(k, s)| s.out(k)).collect()
}

/// One opportunity reduced to what the metrics need.
struct Opp {
    stage: u16,
    won: bool,
    lost: bool,
    amount: Option<Decimal>,
    created: i64,
    closed_at: Option<i64>,
    close_date: Option<NaiveDate>,
    /// Stages entered, with the instant.
    entries: Vec<(i64, u16)>,
    /// Close-date moves: instant, from, to.
    moves: Vec<(i64, Option<NaiveDate>, Option<NaiveDate>)>,
}

impl Opp {
    fn stage_at(&self, t: i64) -> u16 {
        self.entries
            .iter()
            .rev()
            .find(|e| e.0 <= t)
            .map_or(0, |e| e.1)
    }

    fn close_date_at(&self, t: i64) -> Option<NaiveDate> {
        match self.moves.iter().rev().find(|m| m.0 <= t) {
            Some(m) => m.2,
            None => self.moves.first().map_or(self.close_date, |m| m.1),
        }
    }
}

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    fields: Map<String, Value>,
    #[serde(default)]
    line_items: Vec<Value>,
}

/// The fields every deal's metrics read (the rest of the document is skipped).
#[derive(Deserialize)]
struct Lite {
    #[serde(default)]
    fields: LiteFields,
    #[serde(default)]
    line_items: Vec<LiteItem>,
}

#[derive(Default, Deserialize)]
struct LiteFields {
    #[serde(default)]
    amount: Option<Value>,
    #[serde(default)]
    close_date: Option<String>,
    #[serde(default)]
    product: Option<Value>,
    #[serde(default)]
    product_family: Option<Value>,
    #[serde(default)]
    region: Option<Value>,
}

#[derive(Deserialize)]
struct LiteItem {
    #[serde(default)]
    product: Option<Value>,
}

#[derive(Deserialize)]
struct Hev<'a> {
    #[serde(borrow)]
    at: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    from: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    to: Option<Cow<'a, str>>,
}

fn secs(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

fn date(s: Option<&str>) -> Option<NaiveDate> {
    s.and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
}

fn decimal(v: Option<&Value>) -> Option<Decimal> {
    match v? {
        Value::String(s) => s.split_whitespace().next()?.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A deal's latest registration, as the report needs it.
#[derive(Clone)]
struct Reg {
    status: String,
    /// The deal's first submission (what "registered with" means).
    first_submitted: i64,
    approved: bool,
    doc: Value,
}

const NONE: &str = "(none)";

/// Computes the report from the store.
pub fn compute(store: &dyn Store, o: &Options) -> Result<Report, ReportError> {
    let end = o
        .as_of
        .succ_opt()
        .ok_or_else(|| ReportError::Invalid("--as-of is the last representable day".into()))?
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let now = end.timestamp();
    let policy = policy_at(store, end)?;
    let p = policy.ir();
    let nstages = p.stages.len();
    let stage_ix: HashMap<&str, u16> = p
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), u16::try_from(i).unwrap_or(u16::MAX)))
        .collect();

    let partners: HashMap<String, Value> = store
        .partners(&o.audience)?
        .into_iter()
        .map(|r| (r.id, serde_json::from_str(&r.doc).unwrap_or(Value::Null)))
        .collect();
    let accounts: HashMap<String, Value> = store
        .accounts(&o.audience)?
        .into_iter()
        .map(|r| (r.id, serde_json::from_str(&r.doc).unwrap_or(Value::Null)))
        .collect();

    // Registrations: the latest per deal, and the program's registration figures.
    let mut regs: HashMap<String, Reg> = HashMap::new();
    let mut reg_count = 0u64;
    let mut hours = Vec::new();
    let (mut breaches, mut late) = (0u64, 0u64);
    store.scan_registrations(&o.audience, &mut |r| {
        let Some(sub) = secs(&r.submitted_at) else {
            return Ok(());
        };
        if sub >= now {
            return Ok(());
        }
        reg_count += 1;
        breaches += u64::from(r.breached);
        late += u64::from(r.late);
        let decided_in_time = r
            .decided_at
            .as_deref()
            .and_then(secs)
            .is_some_and(|t| t < now);
        if let (Some(d), "approved" | "rejected", true) =
            (r.decided_at.as_deref(), r.status.as_str(), decided_in_time)
        {
            if let (Ok(a), Ok(b)) = (
                DateTime::parse_from_rfc3339(&r.submitted_at),
                DateTime::parse_from_rfc3339(d),
            ) {
                let s = dealflow_store::sqlite::business_seconds(
                    &policy,
                    a.with_timezone(&Utc),
                    b.with_timezone(&Utc),
                );
                hours.push(s as f64 / 3600.0);
            }
        }
        let mut g = Map::new();
        g.insert("id".into(), r.id.clone().into());
        g.insert("partner_id".into(), r.partner.clone().into());
        g.insert("status".into(), r.status.clone().into());
        g.insert("submitted_at".into(), r.submitted_at.clone().into());
        if let Some(a) = &r.approved_at {
            g.insert("approved_at".into(), a.clone().into());
        }
        if let Some(pu) = &r.protected_until {
            g.insert("protected_until".into(), pu.clone().into());
        }
        g.insert("extensions".into(), r.extensions.into());
        // Approved by the report's instant.
        let approved = r
            .approved_at
            .as_deref()
            .and_then(secs)
            .is_some_and(|t| t < now);
        let prev = regs.get(&r.opportunity);
        let prev_approved = prev.is_some_and(|x| x.approved);
        let first_submitted = prev.map_or(sub, |x| x.first_submitted.min(sub));
        regs.insert(
            r.opportunity.clone(),
            Reg {
                status: r.status.clone(),
                first_submitted,
                approved: approved || prev_approved,
                doc: Value::Object(g),
            },
        );
        Ok(())
    })?;

    // Qualification at registration: the first register decision per deal.
    let mut qual_seen: HashMap<String, bool> = HashMap::new();
    store.scan_register_decisions(&o.audience, &mut |d| {
        let Some(opp) = d.opportunity else {
            return Ok(());
        };
        if qual_seen.contains_key(opp) {
            return Ok(());
        }
        let v: Value = serde_json::from_str(d.body).unwrap_or(Value::Null);
        if v.get("at")
            .and_then(Value::as_str)
            .and_then(secs)
            .is_some_and(|t| t >= now)
        {
            return Ok(());
        }
        let missing = v
            .pointer("/decision/missing")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        qual_seen.insert(opp.to_string(), missing == 0);
        Ok(())
    })?;

    let flag_names: Vec<String> = p
        .hygiene
        .as_ref()
        .map(|h| h.flags.iter().map(|f| f.name.clone()).collect())
        .unwrap_or_default();
    let stale_bit = flag_names.iter().position(|f| f == "stale");
    let expected_cycle: i64 = p
        .stages
        .iter()
        .filter(|s| s.kind == StageKind::Open)
        .filter_map(|s| s.expected)
        .sum();

    let mut deals: Vec<Opp> = Vec::new();
    let mut by_stage = vec![(0u64, Decimal::ZERO); nstages];
    let mut stays: Vec<Vec<f64>> = vec![Vec::new(); nstages];
    let mut reached = vec![(0u64, 0u64); nstages];
    let mut seg_tier: BTreeMap<String, Seg> = BTreeMap::new();
    let mut seg_product: BTreeMap<String, Seg> = BTreeMap::new();
    let mut seg_region: BTreeMap<String, Seg> = BTreeMap::new();
    let mut seg_partner: BTreeMap<String, Seg> = BTreeMap::new();
    let mut seg_quarter: BTreeMap<String, Seg> = BTreeMap::new();
    let (mut with_cs, mut without_cs) = (Seg::default(), Seg::default());
    let (mut registered, mut unregistered) = (Seg::default(), Seg::default());
    let mut first_contact = Vec::new();
    let (mut eligible, mut supported_eligible) = (0u64, 0u64);
    let mut flags = vec![(0u64, Decimal::ZERO); flag_names.len()];
    let mut stale: Vec<(Decimal, Deal2)> = Vec::new();
    let mut stale_count = 0u64;
    let (mut weighted, mut adjusted) = (Decimal::ZERO, Decimal::ZERO);
    let (mut acc_ok, mut acc_n) = (0u64, 0u64);
    let (mut cycle_sum, mut cycle_n) = (0f64, 0u64);
    let mut dq = DataQuality::default();
    let ctx = Context::default();
    let mut bands = vec![(0u64, Decimal::ZERO); 6];
    let (mut aged_amount, mut aged_count, mut open_amount) = (Decimal::ZERO, 0u64, Decimal::ZERO);
    let (mut won_amount, mut lost_amount) = (Decimal::ZERO, Decimal::ZERO);
    let mut err: Option<ReportError> = None;

    // The scan lends rows; they are copied in batches, each batch analysed on every
    // core (the records parsed, open deals evaluated by the engine), then folded
    // into the totals in scan order.
    let analyze =
        |row: &Owned, scratch: &mut Scratch| -> Result<Option<Pre>, dealflow_store::StoreError> {
            let Some(created) = secs(&row.created_at) else {
                return Ok(None);
            };
            if created >= now {
                return Ok(None);
            }
            let Some(&stage) = stage_ix.get(row.stage.as_str()) else {
                return Ok(None);
            };
            let doc: Lite = serde_json::from_str(&row.doc).map_err(|e| {
                dealflow_store::StoreError::Corrupt(format!("opportunity {}: {e}", row.id))
            })?;
            let hist: Vec<Hev<'_>> = serde_json::from_str(&row.history).map_err(|e| {
                dealflow_store::StoreError::Corrupt(format!("opportunity {} history: {e}", row.id))
            })?;
            let kind = p.stage(ir::StageId(u32::from(stage))).map(|s| s.kind);
            let mut d = Opp {
                stage,
                won: false,
                lost: false,
                amount: decimal(doc.fields.amount.as_ref()),
                created,
                closed_at: None,
                close_date: date(doc.fields.close_date.as_deref()),
                entries: Vec::new(),
                moves: Vec::new(),
            };
            let mut cosell_first: Option<i64> = None;
            let mut first_change_from: Option<u16> = None;
            let mut any_change = false;
            for e in &hist {
                let Some(t) = secs(&e.at) else { continue };
                match &*e.kind {
                    "stage_change" => {
                        if !any_change {
                            first_change_from =
                                e.from.as_deref().and_then(|f| stage_ix.get(f).copied());
                            any_change = true;
                        }
                        if let Some(s) = e.to.as_deref().and_then(|x| stage_ix.get(x)) {
                            d.entries.push((t, *s));
                        }
                    }
                    "close_date_change" => {
                        d.moves
                            .push((t, date(e.from.as_deref()), date(e.to.as_deref())));
                    }
                    "closed" => d.closed_at = Some(t),
                    "cosell" => {
                        cosell_first = Some(cosell_first.map_or(t, |c: i64| c.min(t)));
                    }
                    _ => {}
                }
            }
            // The stage the deal was created in: the first change's `from`, else the
            // first stage when it changed later than its creation, else its first entry.
            let initial = match (first_change_from, d.entries.first()) {
                (Some(f), _) => Some(f),
                (None, Some(e)) if e.0 > created => Some(0),
                (None, Some(_)) => None,
                (None, None) => Some(stage),
            };
            if let Some(s) = initial {
                d.entries.insert(0, (created, s));
            }
            // A deal closed after the report's date is open at it.
            let closed_now =
                kind.is_some_and(|k| k != StageKind::Open) && d.closed_at.is_none_or(|c| c < now);
            if closed_now {
                d.won = kind == Some(StageKind::Won);
                d.lost = !d.won;
            } else if kind.is_some_and(|k| k != StageKind::Open) {
                // Closed later than the report: it stood in its last open stage.
                d.stage = d.stage_at(now - 1);
                d.closed_at = None;
            } else if d.entries.last().is_some_and(|e| e.0 >= now) {
                // Moved on after the report's instant: the stage it stood in then.
                d.stage = d.stage_at(now - 1);
            }
            // Entries after the report's instant did not happen yet.
            d.entries.retain(|e| e.0 < now);
            let mut summary = None;
            if !closed_now {
                // The engine's own view at the report's instant: flags, hygiene-adjusted
                // forecast, co-sell eligibility.
                let mut rec = Map::new();
                rec.insert("id".into(), row.id.clone().into());
                rec.insert(
                    "stage".into(),
                    p.stages
                        .get(usize::from(d.stage))
                        .map_or(row.stage.as_str(), |s| s.name.as_str())
                        .into(),
                );
                // The whole document only for the engine's open deals.
                let full: Doc = serde_json::from_str(&row.doc).map_err(|e| {
                    dealflow_store::StoreError::Corrupt(format!("opportunity {}: {e}", row.id))
                })?;
                rec.insert("fields".into(), Value::Object(full.fields));
                rec.insert("line_items".into(), Value::Array(full.line_items));
                if let Some(pd) = row.partner.as_deref().and_then(|x| partners.get(x)) {
                    rec.insert("partner".into(), pd.clone());
                }
                if let Some(ad) = row.account.as_deref().and_then(|x| accounts.get(x)) {
                    rec.insert("account".into(), ad.clone());
                }
                if let Some(r) = regs
                    .get(&row.id)
                    .filter(|r| !matches!(r.status.as_str(), "returned" | "withdrawn"))
                {
                    rec.insert("registration".into(), r.doc.clone());
                }
                let h: Vec<Value> = serde_json::from_str(&row.history).unwrap_or_default();
                let h: Vec<Value> = h
                    .into_iter()
                    .filter(|e| {
                        e.get("at")
                            .and_then(Value::as_str)
                            .and_then(secs)
                            .is_some_and(|t| t < now)
                    })
                    .collect();
                rec.insert("history".into(), Value::Array(h));
                if let Ok(record) = policy.parse_record_value(&Value::Object(rec)) {
                    summary = Some(
                        policy
                            .decide_fast_with(scratch, &record, &Action::Evaluate, &ctx, end)
                            .summary,
                    );
                }
            }
            let product = text_of(doc.fields.product.as_ref())
                .or_else(|| {
                    doc.line_items
                        .first()
                        .and_then(|l| text_of(l.product.as_ref()))
                })
                .or_else(|| text_of(doc.fields.product_family.as_ref()))
                .unwrap_or_else(|| NONE.into());
            let region = text_of(doc.fields.region.as_ref()).unwrap_or_else(|| NONE.into());
            Ok(Some(Pre {
                d,
                seg_keys: (product, region),
                created,
                closed_now,
                cosell_first,
                summary,
            }))
        };
    let mut fold = |row: &Owned, pre: Pre| -> Result<(), dealflow_store::StoreError> {
        let Pre {
            mut d,
            seg_keys,
            created,
            closed_now,
            cosell_first,
            summary,
        } = pre;
        let _ = &summary;
        let amount = d.amount.unwrap_or_default();
        if d.amount.is_none() {
            dq.without_amount += 1;
        }
        if row.account.is_none() {
            dq.without_account += 1;
            if !closed_now {
                dq.open_without_account += 1;
            }
        }
        if let Some(bs) = by_stage.get_mut(usize::from(d.stage)) {
            bs.0 += 1;
            if let Err(e) = add(&mut bs.1, amount) {
                err = Some(e);
            }
        }
        // Stays in each stage (entered and left before the report's date).
        for w in d.entries.windows(2) {
            if w[1].0 <= now && w[0].1 != w[1].1 {
                if let Some(v) = stays.get_mut(usize::from(w[0].1)) {
                    v.push((w[1].0 - w[0].0) as f64 / DAY);
                }
            }
        }
        if closed_now {
            let mut seen = vec![false; nstages];
            for e in &d.entries {
                if let Some(s) = seen.get_mut(usize::from(e.1)) {
                    *s = true;
                }
            }
            for (i, s) in seen.iter().enumerate() {
                if *s && p.stages.get(i).is_some_and(|x| x.kind == StageKind::Open) {
                    if let Some(r) = reached.get_mut(i) {
                        r.0 += 1;
                        r.1 += u64::from(d.won);
                    }
                }
            }
            // Close-date accuracy: against the date registered with (or first known).
            if let Some(c) = d.closed_at {
                let reg_at = regs.get(&row.id).map(|r| r.first_submitted);
                let promised = match reg_at {
                    Some(t) => d.close_date_at(t),
                    None => d.moves.first().map_or(d.close_date, |m| m.1),
                };
                if let (Some(pd), Some(cd)) = (promised, DateTime::from_timestamp(c, 0)) {
                    acc_n += 1;
                    if (cd.date_naive() - pd).num_days().abs() <= 91 {
                        acc_ok += 1;
                    }
                }
                if d.won {
                    cycle_sum += (c - created) as f64 / DAY;
                    cycle_n += 1;
                }
            }
        }
        let r = if d.won {
            add(&mut won_amount, amount)
        } else if d.lost {
            add(&mut lost_amount, amount)
        } else {
            add(&mut open_amount, amount)
        };
        if let Err(e) = r {
            err = Some(e);
        }
        // Segments.
        let partner = row.partner.as_deref().unwrap_or(NONE);
        let tier = row
            .partner
            .as_deref()
            .and_then(|p| partners.get(p))
            .and_then(|p| text_of(p.get("tier")))
            .unwrap_or_else(|| NONE.into());
        let (product, region) = (seg_keys.0, seg_keys.1);
        let mut segs: Vec<(&mut BTreeMap<String, Seg>, String)> = vec![
            (&mut seg_tier, tier),
            (&mut seg_product, product),
            (&mut seg_region, region),
            (&mut seg_partner, partner.to_string()),
        ];
        if let Some(q) = d
            .closed_at
            .filter(|_| closed_now)
            .and_then(|c| DateTime::from_timestamp(c, 0))
        {
            segs.push((&mut seg_quarter, Quarter::of(q.date_naive()).label()));
        }
        for (m, k) in segs {
            let seg = match m.get_mut(&k) {
                Some(x) => x,
                None => m.entry(k).or_default(),
            };
            if let Err(e) = seg.add(&d) {
                err = Some(e);
            }
        }
        let supported = cosell_first.is_some_and(|t| t < now);
        let r = if supported {
            with_cs.add(&d)
        } else {
            without_cs.add(&d)
        };
        if let Err(e) = r {
            err = Some(e);
        }
        let reg = regs.get(&row.id);
        let r = if reg.is_some_and(|r| r.approved) {
            registered.add(&d)
        } else {
            unregistered.add(&d)
        };
        if let Err(e) = r {
            err = Some(e);
        }
        if let (Some(r), Some(c)) = (reg, cosell_first) {
            if c >= r.first_submitted && c < now {
                first_contact.push((c - r.first_submitted) as f64 / DAY);
            }
        }
        if !closed_now {
            // Pipeline aging.
            let age = now - created;
            let band = match age / 86_400 {
                0..=30 => 0,
                31..=60 => 1,
                61..=90 => 2,
                91..=180 => 3,
                181..=365 => 4,
                _ => 5,
            };
            if let Some(b) = bands.get_mut(band) {
                b.0 += 1;
                let _ = add(&mut b.1, amount);
            }
            if expected_cycle > 0 && age > expected_cycle {
                aged_count += 1;
                let _ = add(&mut aged_amount, amount);
            }
            if let Some(prob) = p
                .stage(ir::StageId(u32::from(d.stage)))
                .map(|s| s.probability)
            {
                if let Some(w) = amount.checked_mul(prob) {
                    let _ = add(&mut weighted, w);
                }
            }
            if let Some(s) = summary {
                if let Some(w) = s.weighted_amount {
                    let _ = add(&mut adjusted, w);
                }
                for (i, fl) in flags.iter_mut().enumerate().take(64) {
                    if s.flags & (1u64 << i) != 0 {
                        fl.0 += 1;
                        let _ = add(&mut fl.1, amount);
                    }
                }
                if stale_bit.is_some_and(|b| b < 64 && s.flags & (1u64 << b) != 0) {
                    stale_count += 1;
                    let entered = d.entries.last().map_or(created, |e| e.0);
                    stale.push((
                        amount,
                        Deal2 {
                            id: row.id.clone(),
                            partner: row.partner.clone(),
                            stage: p
                                .stages
                                .get(usize::from(d.stage))
                                .map_or_else(String::new, |s| s.name.clone()),
                            days: (now - entered) / 86_400,
                        },
                    ));
                    if stale.len() > 200 {
                        stale.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
                        stale.truncate(20);
                    }
                }
                if s.cosell_assigned > 0 {
                    eligible += 1;
                    supported_eligible += u64::from(supported);
                }
            }
        }
        d.entries.shrink_to_fit();
        deals.push(d);
        Ok(())
    };
    let mut batch: Vec<Owned> = Vec::with_capacity(BATCH);
    let mut flush = |batch: &mut Vec<Owned>| -> Result<(), dealflow_store::StoreError> {
        let pres: Vec<Result<Option<Pre>, dealflow_store::StoreError>> = batch
            .par_iter()
            .map_init(Scratch::default, |scratch, row| analyze(row, scratch))
            .collect();
        for (row, pre) in batch.iter().zip(pres) {
            if let Some(pre) = pre? {
                fold(row, pre)?;
            }
        }
        batch.clear();
        Ok(())
    };
    store.scan_opportunities(&o.audience, &mut |row| {
        batch.push(Owned {
            id: row.id.to_string(),
            partner: row.partner.map(str::to_string),
            account: row.account.map(str::to_string),
            stage: row.stage.to_string(),
            doc: row.doc.to_string(),
            history: row.history.to_string(),
            created_at: row.created_at.to_string(),
        });
        if batch.len() >= BATCH {
            flush(&mut batch)?;
        }
        Ok(())
    })?;
    flush(&mut batch)?;
    if let Some(e) = err {
        return Err(e);
    }

    // Forecast accuracy: at the start of each full quarter before the report's
    // date, the weighted forecast of deals due to close in it, against what closed won.
    let mut accuracy = Vec::new();
    if let Some(first) = deals.iter().map(|d| d.created).min() {
        let first_q = DateTime::from_timestamp(first, 0).map(|t| Quarter::of(t.date_naive()));
        let mut q = first_q.map(Quarter::next);
        let mut points = Vec::new();
        while let Some(cur) = q {
            let (qs, qe) = cur.bounds();
            if qe > now {
                break;
            }
            let (mut f, mut act) = (Decimal::ZERO, Decimal::ZERO);
            for d in &deals {
                let amount = d.amount.unwrap_or_default();
                if d.won && d.closed_at.is_some_and(|c| c >= qs && c < qe) {
                    add(&mut act, amount)?;
                }
                let open_at = d.created <= qs && d.closed_at.is_none_or(|c| c > qs);
                if open_at && d.close_date_at(qs).is_some_and(|cd| Quarter::of(cd) == cur) {
                    let s = d.stage_at(qs);
                    if let Some(prob) = p.stage(ir::StageId(u32::from(s))).map(|x| x.probability) {
                        if let Some(w) = amount.checked_mul(prob) {
                            add(&mut f, w)?;
                        }
                    }
                }
            }
            let acc = act
                .to_f64()
                .filter(|a| *a > 0.0)
                .and_then(|a| f.to_f64().map(|fv| r4(1.0 - (fv - a).abs() / a)));
            points.push(ForecastPoint {
                period: cur.label(),
                forecast: money(f),
                actual: money(act),
                accuracy: acc,
            });
            q = Some(cur.next());
        }
        let skip = points.len().saturating_sub(8);
        accuracy = points.into_iter().skip(skip).collect();
    }

    // Coverage of a target.
    let coverage = match (o.target, o.period) {
        (Some(target), Some(per)) => {
            let (qs, qe) = per.bounds();
            let (mut won_in, mut open_in) = (Decimal::ZERO, Decimal::ZERO);
            for d in &deals {
                let amount = d.amount.unwrap_or_default();
                if d.won && d.closed_at.is_some_and(|c| c >= qs && c < qe && c < now) {
                    add(&mut won_in, amount)?;
                }
                if !d.won && !d.lost && d.close_date.is_some_and(|cd| Quarter::of(cd) == per) {
                    add(&mut open_in, amount)?;
                }
            }
            let remaining = (target - won_in).max(Decimal::ZERO);
            Some(Coverage {
                period: per.label(),
                target: money(target),
                won_in_period: money(won_in),
                remaining: money(remaining),
                open_in_period: money(open_in),
                coverage: if remaining > Decimal::ZERO {
                    (open_in / remaining).to_f64().map(r4)
                } else {
                    None
                },
            })
        }
        _ => None,
    };

    let won = deals.iter().filter(|d| d.won).count() as u64;
    let lost = deals.iter().filter(|d| d.lost).count() as u64;
    let open = deals.len() as u64 - won - lost;
    stale.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    stale.truncate(20);

    let kind_name = |k: StageKind| match k {
        StageKind::Open => "open",
        StageKind::Won => "won",
        StageKind::Lost => "lost",
    };
    let r = Report {
        as_of: dealflow_store::sqlite::ts(end),
        audience: match &o.audience {
            Audience::Vendor => "vendor".into(),
            Audience::Partner(x) => format!("partner:{x}"),
        },
        policy: PolicyRef {
            name: policy.name().to_string(),
            version: policy.version().to_string(),
            hash: policy.hash().to_string(),
        },
        currency: p.currency.clone(),
        totals: Totals {
            opportunities: deals.len() as u64,
            open,
            won,
            lost,
            open_amount: money(open_amount),
            won_amount: money(won_amount),
            lost_amount: money(lost_amount),
            win_rate: ratio(won, won + lost),
            avg_won: (won > 0).then(|| money(won_amount / Decimal::from(won))),
            won_cycle_days: (cycle_n > 0).then(|| r4(cycle_sum / cycle_n as f64)),
        },
        by_stage: p
            .stages
            .iter()
            .zip(&by_stage)
            .map(|(s, (n, a))| StageCount {
                stage: s.name.clone(),
                label: s.label.clone().unwrap_or_else(|| s.name.clone()),
                kind: kind_name(s.kind).into(),
                count: *n,
                amount: money(*a),
            })
            .collect(),
        quality: Quality {
            qualification: Rate {
                numerator: qual_seen.values().filter(|q| **q).count() as u64,
                denominator: qual_seen.len() as u64,
                rate: ratio(
                    qual_seen.values().filter(|q| **q).count() as u64,
                    qual_seen.len() as u64,
                ),
            },
            velocity: p
                .stages
                .iter()
                .zip(stays)
                .filter(|(s, _)| s.kind == StageKind::Open)
                .map(|(s, v)| {
                    let st = stat(v);
                    StageVelocity {
                        stage: s.name.clone(),
                        stays: st.count,
                        mean_days: st.mean,
                        median_days: st.median,
                        expected_days: s.expected.map(|e| r4(e as f64 / DAY)),
                    }
                })
                .collect(),
            close_date_accuracy: Rate {
                numerator: acc_ok,
                denominator: acc_n,
                rate: ratio(acc_ok, acc_n),
            },
            coverage,
        },
        cosell: Cosell {
            with_cosell: with_cs.out("with co-sell"),
            without_cosell: without_cs.out("without co-sell"),
            days_to_first_contact: stat(first_contact),
            utilization: Rate {
                numerator: supported_eligible,
                denominator: eligible,
                rate: ratio(supported_eligible, eligible),
            },
        },
        forecast: Forecast {
            weighted: money(weighted),
            hygiene_adjusted: money(adjusted),
            accuracy,
            conversion: p
                .stages
                .iter()
                .zip(&reached)
                .filter(|(s, _)| s.kind == StageKind::Open)
                .map(|(s, (n, w))| StageConversion {
                    stage: s.name.clone(),
                    reached: *n,
                    won: *w,
                    rate: ratio(*w, *n),
                })
                .collect(),
            aging: Aging {
                open_amount: money(open_amount),
                aged_amount: money(aged_amount),
                aged_count,
                share: if open_amount > Decimal::ZERO {
                    (aged_amount / open_amount).to_f64().map(r4)
                } else {
                    None
                },
                expected_cycle_days: r4(expected_cycle as f64 / DAY),
                bands: ["0-30d", "31-60d", "61-90d", "91-180d", "181-365d", ">365d"]
                    .iter()
                    .zip(&bands)
                    .map(|(b, (n, a))| AgeBand {
                        band: (*b).into(),
                        count: *n,
                        amount: money(*a),
                    })
                    .collect(),
            },
            flags: flag_names
                .iter()
                .zip(&flags)
                .map(|(f, (n, a))| FlagCount {
                    flag: f.clone(),
                    count: *n,
                    amount: money(*a),
                })
                .collect(),
            stale_count,
            stale: stale
                .into_iter()
                .map(|(a, d)| Deal {
                    id: d.id,
                    partner: d.partner,
                    stage: d.stage,
                    days_in_stage: d.days,
                    amount: money(a),
                })
                .collect(),
        },
        segments: Segments {
            tier: segments(&seg_tier),
            product: segments(&seg_product),
            region: segments(&seg_region),
            partner: segments(&seg_partner),
            quarter: segments(&seg_quarter),
        },
        registration: {
            let reg = registered.out("registered");
            let unreg = unregistered.out("unregistered");
            let lift = match (reg.win_rate, unreg.win_rate) {
                (Some(a), Some(b)) if b > 0.0 => Some(r4(a / b - 1.0)),
                _ => None,
            };
            Registration {
                registrations: reg_count,
                hours_to_decision: stat(hours),
                sla_breaches: breaches,
                late,
                registered: reg,
                unregistered: unreg,
                lift,
            }
        },
        calibration: calibration(p, &reached),
        data: dq,
    };
    Ok(r)
}

/// Rows analysed together on every core.
const BATCH: usize = 8192;

/// A stored opportunity, copied out of the scan for the parallel step.
struct Owned {
    id: String,
    partner: Option<String>,
    account: Option<String>,
    stage: String,
    doc: String,
    history: String,
    created_at: String,
}

/// What the parallel step makes of one row.
struct Pre {
    d: Opp,
    /// The product and region segments.
    seg_keys: (String, String),
    created: i64,
    closed_now: bool,
    cosell_first: Option<i64>,
    /// The engine's no-trace `evaluate` at the report's instant, for open deals.
    summary: Option<dealflow_engine::Summary>,
}

/// A stale deal before it is written out.
struct Deal2 {
    id: String,
    partner: Option<String>,
    stage: String,
    days: i64,
}

fn calibration(p: &ir::Policy, reached: &[(u64, u64)]) -> Vec<Calibration> {
    p.stages
        .iter()
        .zip(reached)
        .filter(|(s, _)| s.kind == StageKind::Open)
        .map(|(s, (n, w))| {
            let declared = s.probability.to_f64().map_or(0.0, r4);
            let iv = wilson(*w, *n);
            Calibration {
                stage: s.name.clone(),
                declared,
                reached: *n,
                won: *w,
                observed: ratio(*w, *n),
                low: iv.map(|x| x.0),
                high: iv.map(|x| x.1),
                outside: *n >= CALIBRATION_MIN
                    && iv.is_some_and(|(lo, hi)| declared < lo || declared > hi),
            }
        })
        .collect()
}

/// The policy version in force at `at`.
pub fn policy_at(
    store: &dyn Store,
    at: DateTime<Utc>,
) -> Result<std::sync::Arc<Policy>, ReportError> {
    let versions = store.policy_versions()?;
    let v = versions
        .iter()
        .filter(|v| {
            DateTime::parse_from_rfc3339(&v.effective_from)
                .map(|t| t.with_timezone(&Utc) <= at)
                .unwrap_or(false)
        })
        .max_by(|a, b| {
            (a.effective_from.as_str(), a.command_seq)
                .cmp(&(b.effective_from.as_str(), b.command_seq))
        })
        .ok_or_else(|| ReportError::Invalid(format!("no policy version is in force at {at}")))?;
    store
        .policy_by_hash(&v.hash)?
        .ok_or_else(|| ReportError::Invalid(format!("policy version {} is missing", v.hash)))
}
