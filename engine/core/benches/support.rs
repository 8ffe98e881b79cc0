//! Shared bench fixtures: the reference policy, a generated deal, and a hand-written
//! Rust implementation of the same rules on a plain struct (the baseline).
#![allow(dead_code, reason = "shared by the bench and the batch example")]

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use dealflow_dsl::SourceFile;
use dealflow_engine::{Action, Context, Outcome, Policy, Record};
use rust_decimal::Decimal;

pub const SRC: &str = include_str!("../../../policies/channel-standard.policy");

pub fn policy() -> Policy {
    match Policy::compile(&SourceFile::new("channel-standard.policy", SRC)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}: {:?}", e.diagnostics);
            std::process::exit(2)
        }
    }
}

pub fn now() -> DateTime<Utc> {
    "2026-11-27T15:00:00Z".parse().unwrap_or_default()
}

const STAGES: [&str; 5] = [
    "Identification",
    "Qualification",
    "SolutionDevelopment",
    "ProposalEvaluation",
    "NegotiationClosing",
];
const TIERS: [&str; 4] = ["Registered", "Silver", "Gold", "Platinum"];
const FAMILIES: [&str; 4] = ["Core", "Security", "Analytics", "Cloud"];

/// A generated deal as record YAML (variant `i`).
pub fn deal_yaml(i: usize) -> String {
    let stage = STAGES[i % STAGES.len()];
    let tier = TIERS[(i / 5) % 4];
    let fam = FAMILIES[(i / 20) % 4];
    let amount = 20_000 + (i * 7_919) % 600_000;
    let qty = 1 + (i * 31) % 150;
    let demo = if i.is_multiple_of(3) {
        ""
    } else {
        "demo_completed: 2026-10-01, "
    };
    let changes = i % 4;
    let mut history = String::from("  - { at: 2026-08-01T10:00:00Z, type: created }\n");
    history.push_str(&format!(
        "  - {{ at: 2026-{:02}-10T10:00:00Z, type: stage_change, to: {stage} }}\n",
        9 + i % 3
    ));
    for c in 0..changes {
        history.push_str(&format!(
            "  - {{ at: 2026-10-{:02}T10:00:00Z, type: close_date_change }}\n",
            10 + c
        ));
    }
    history.push_str(&format!(
        "  - {{ at: 2026-11-{:02}T10:00:00Z, type: activity }}\n",
        1 + i % 25
    ));
    if i.is_multiple_of(2) {
        history
            .push_str("  - { at: 2026-10-20T10:00:00Z, type: cosell, pool: presales_engineer }\n");
    }
    let status = if i.is_multiple_of(7) {
        "pending"
    } else {
        "approved"
    };
    let influencer = if i.is_multiple_of(5) {
        "influencer: P-INF, "
    } else {
        ""
    };
    format!(
        "id: OPP-{i}
stage: {stage}
fields: {{ amount: {amount}, close_date: 2026-12-{:02}, product_family: {fam}, region: NA, strategic: {}, competitors: [Fortinet, Acme], {influencer}budget_process: true, decision_maker: Jane, need: growth, timeline: 2027-03-01, {demo}proposal_sent: 2026-10-15 }}
partner: {{ id: P-1, tier: {tier} }}
account: {{ id: A-1, domain: globex.com, owner: channel, industry: Commercial, employees: 500 }}
line_items:
  - {{ product: Firewall, product_family: {fam}, quantity: {qty}, price: 1200 }}
  - {{ product: Support, product_family: Core, quantity: 1, price: 5000 }}
registration: {{ id: R-{i}, partner_id: P-1, status: {status}, submitted_at: 2026-08-05T10:00:00Z, approved_at: 2026-08-06T10:00:00Z }}
history:
{history}",
        1 + i % 28,
        i.is_multiple_of(11)
    )
}

pub fn deal(p: &Policy, i: usize) -> Record {
    match p.parse_record_yaml(&deal_yaml(i)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2)
        }
    }
}

pub fn context(p: &Policy) -> Context {
    p.parse_context_yaml("cosell_usage: { presales_engineer: 4, executive_sponsor: 3 }")
        .unwrap_or_default()
}

// ------------------------------------------------------------------ hand-written baseline
//
// The baseline starts from the same raw data the engine gets: the deal's fields, its
// registration and its event history (not precomputed facts such as
// `days_in_stage`). It derives what the rules need from the history, computes
// `today` in the policy's time zone, and rounds like the engine (cents, half away
// from zero). Like the engine's fast path it returns only the outcome and the
// summary numbers (no co-sell priorities, rebates or split shares).

/// A history event of the hand-written deal.
#[derive(Clone, Copy)]
pub enum HandEventKind {
    Created,
    /// Entered the stage with this index.
    StageChange(u8),
    CloseDateChange,
    Activity,
    Cosell,
}

/// A history event: when and what.
#[derive(Clone, Copy)]
pub struct HandEvent {
    pub at: DateTime<Utc>,
    pub kind: HandEventKind,
}

/// The same deal as a plain struct.
pub struct Deal {
    pub stage: u8,
    pub amount: Decimal,
    pub close_date: NaiveDate,
    pub strategic: bool,
    pub competitors: Vec<String>,
    pub influencer: Option<String>,
    pub budget_process: Option<bool>,
    pub decision_maker: Option<String>,
    pub need: Option<String>,
    pub timeline: Option<NaiveDate>,
    pub demo_completed: Option<NaiveDate>,
    pub proposal_sent: Option<NaiveDate>,
    pub partner_id: Option<String>,
    pub tier: u8,
    /// (family, quantity, price)
    pub items: Vec<(u8, i64, Decimal)>,
    pub reg_partner_id: Option<String>,
    pub reg_approved: bool,
    pub submitted_at: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    /// Sorted by time, as in the record.
    pub history: Vec<HandEvent>,
}

pub fn hand_deal(i: usize) -> Deal {
    let fam = ((i / 20) % 4) as u8;
    let stage = (i % 5) as u8;
    let d = |s: &str| s.parse::<NaiveDate>().unwrap_or_default();
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap_or_default();
    let ev = |at: DateTime<Utc>, kind| HandEvent { at, kind };
    let mut history = vec![
        ev(t("2026-08-01T10:00:00Z"), HandEventKind::Created),
        ev(
            t(&format!("2026-{:02}-10T10:00:00Z", 9 + i % 3)),
            HandEventKind::StageChange(stage),
        ),
    ];
    for c in 0..i % 4 {
        history.push(ev(
            t(&format!("2026-10-{:02}T10:00:00Z", 10 + c)),
            HandEventKind::CloseDateChange,
        ));
    }
    history.push(ev(
        t(&format!("2026-11-{:02}T10:00:00Z", 1 + i % 25)),
        HandEventKind::Activity,
    ));
    if i.is_multiple_of(2) {
        history.push(ev(t("2026-10-20T10:00:00Z"), HandEventKind::Cosell));
    }
    history.sort_by_key(|e| e.at);
    Deal {
        stage,
        amount: Decimal::from(20_000 + (i * 7_919) % 600_000),
        close_date: NaiveDate::from_ymd_opt(2026, 12, 1 + (i % 28) as u32).unwrap_or_default(),
        strategic: i.is_multiple_of(11),
        competitors: vec!["Fortinet".into(), "Acme".into()],
        influencer: (i.is_multiple_of(5)).then(|| "P-INF".to_string()),
        budget_process: Some(true),
        decision_maker: Some("Jane".into()),
        need: Some("growth".into()),
        timeline: Some(d("2027-03-01")),
        demo_completed: (!i.is_multiple_of(3)).then(|| d("2026-10-01")),
        proposal_sent: Some(d("2026-10-15")),
        partner_id: Some("P-1".into()),
        tier: ((i / 5) % 4) as u8,
        items: vec![
            (fam, 1 + ((i * 31) % 150) as i64, Decimal::from(1200)),
            (0, 1, Decimal::from(5000)),
        ],
        reg_partner_id: Some("P-1".into()),
        reg_approved: !i.is_multiple_of(7),
        submitted_at: Some(t("2026-08-05T10:00:00Z")),
        approved_at: Some(t("2026-08-06T10:00:00Z")),
        history,
    }
}

/// `today` in the policy's time zone.
fn today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&chrono_tz::America::New_York)
        .date_naive()
}

/// Evidence presence: not missing, not blank.
fn present(s: &Option<String>) -> bool {
    s.as_deref()
        .is_some_and(|s| !s.bytes().all(|b| b.is_ascii_whitespace()))
}

/// Cents, half away from zero (as the engine rounds money).
fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// `advance Qualification` by hand: the edge has no guard; the stage requires four
/// evidence fields and a timeline within 365 days.
pub fn hand_advance_qualification(d: &Deal, now: DateTime<Utc>) -> bool {
    let edge = d.stage == 0;
    edge && d.budget_process.is_some()
        && present(&d.decision_maker)
        && present(&d.need)
        && d.timeline
            .is_some_and(|t| (t - today(now)).num_days() <= 365)
}

const PROB: [i64; 5] = [10, 20, 40, 60, 80];
const EXPECTED_DAYS: [i64; 5] = [14, 21, 30, 30, 30];

/// Summary of a hand-written evaluation.
pub struct HandEval {
    /// Bit i: hygiene flag i raised (stale, pushed, inflated, inactive, overdue).
    pub flags: u8,
    pub weighted: Decimal,
    pub assigned: u32,
    pub commission: Decimal,
}

/// Full `evaluate` by hand: flags, forecast, co-sell, commission preview.
pub fn hand_evaluate(d: &Deal, usage: &[u32; 4], now: DateTime<Utc>) -> HandEval {
    // Facts from the history.
    let mut entered = None;
    let mut created = None;
    let mut close_date_changes = 0;
    let mut last_activity = None;
    let mut cosell_supported = false;
    for e in &d.history {
        match e.kind {
            HandEventKind::Created => created = created.or(Some(e.at)),
            HandEventKind::StageChange(s) if s == d.stage => entered = Some(e.at),
            HandEventKind::StageChange(_) => {}
            HandEventKind::CloseDateChange => close_date_changes += 1,
            HandEventKind::Activity => last_activity = Some(e.at),
            HandEventKind::Cosell => {
                cosell_supported = true;
                last_activity = Some(e.at);
            }
        }
    }
    let _ = cosell_supported; // read by rebates only (not in the summary)
    let in_stage = entered.or(created).map(|e| now - e);
    let today = today(now);

    let s = d.stage as usize;
    let expected = TimeDelta::days(EXPECTED_DAYS.get(s).copied().unwrap_or(0));
    let stale = in_stage.is_some_and(|t| t > expected * 2);
    let pushed = close_date_changes >= 3;
    let inflated =
        (d.stage >= 3 && d.demo_completed.is_none()) || (d.stage >= 4 && d.proposal_sent.is_none());
    let inactive = last_activity.is_some_and(|a| now - a > TimeDelta::days(14));
    let overdue = (d.close_date - today).num_days() < -14;
    let flags = u8::from(stale)
        | u8::from(pushed) << 1
        | u8::from(inflated) << 2
        | u8::from(inactive) << 3
        | u8::from(overdue) << 4;
    let excluded = (stale && in_stage.is_some_and(|t| t > expected + TimeDelta::days(60)))
        || (overdue && inactive);
    let mut factor = Decimal::ONE;
    if pushed {
        factor *= Decimal::new(50, 2);
    }
    if inactive || inflated {
        factor *= Decimal::new(75, 2);
    }
    let prob = Decimal::new(PROB.get(s).copied().unwrap_or(0), 2);
    let weighted = if excluded {
        Decimal::ZERO
    } else {
        cents(d.amount * prob * factor)
    };

    // Co-sell.
    let caps = [10u32, 3, 4, 20];
    let rivals = ["fortinet", "palo alto networks", "zscaler"];
    let eligible = [
        d.stage == 2 && d.amount >= Decimal::from(50_000),
        d.stage >= 3
            && (d.amount >= Decimal::from(500_000) || d.strategic)
            && d.amount >= Decimal::from(100_000),
        (d.stage == 2 || d.stage == 3)
            && d.competitors.iter().any(|c| {
                rivals
                    .iter()
                    .any(|r| c.chars().flat_map(char::to_lowercase).eq(r.chars()))
            }),
        d.stage == 4 && d.items.iter().filter(|i| i.1 >= 100).count() >= 1,
    ];
    let mut assigned = 0;
    for (i, e) in eligible.iter().enumerate() {
        if *e && d.reg_approved && caps[i] > usage[i] {
            assigned += 1;
        }
    }

    // Commission preview (close time = now).
    let mut total = Decimal::ZERO;
    for (fam, qty, price) in &d.items {
        let amount = Decimal::from(*qty) * price;
        let rate = match (d.tier, fam) {
            (3, _) => 12,
            (2, 1 | 3) => 10,
            (2, _) => 8,
            (1, 1) => 6,
            _ => 5,
        };
        total += amount * Decimal::new(rate, 2);
    }
    let registering = d.reg_partner_id.as_ref().or(d.partner_id.as_ref());
    let attributed =
        d.reg_approved && d.approved_at.is_none_or(|a| a <= now) && registering.is_some();
    let commission = if attributed {
        cents(total)
    } else {
        Decimal::ZERO
    };
    HandEval {
        flags,
        weighted,
        assigned,
        commission,
    }
}

/// Checks that the engine's fast path and the hand-written functions agree on the
/// first `n` generated deals (advance to Qualification, and evaluate: flags, weighted
/// amount, co-sell assignments, commission). Exits with status 3 on a disagreement.
pub fn check_agreement(p: &Policy, n: usize) {
    let ctx = context(p);
    let now = now();
    let usage = [4u32, 3, 0, 0];
    let advance: Action = match "advance Qualification".parse() {
        Ok(a) => a,
        Err(_) => std::process::exit(2),
    };
    for i in 0..n {
        let rec = deal(p, i);
        let hand = hand_deal(i);
        let a = p.decide_fast(&rec, &advance, &ctx, now);
        let h = hand_evaluate(&hand, &usage, now);
        let e = p.decide_fast(&rec, &Action::Evaluate, &ctx, now).summary;
        let agree = (a.outcome == Outcome::Approved) == hand_advance_qualification(&hand, now)
            && e.flags == u64::from(h.flags)
            && e.weighted_amount == Some(h.weighted)
            && e.cosell_assigned == h.assigned
            && e.commission == Some(h.commission);
        if !agree {
            eprintln!(
                "deal {i}: engine and hand-written disagree: engine {a:?} {e:?}, hand flags {} weighted {} assigned {} commission {}",
                h.flags, h.weighted, h.assigned, h.commission
            );
            std::process::exit(3);
        }
    }
}
