//! `dealflow demo`: a seeded, realistic channel program run through the reference
//! policy on a fixed clock, summarized for a channel manager.
//!
//! The policy is embedded in the binary (works from any directory). The generator
//! builds partners, accounts and opportunities as JSON in the documented record
//! format and feeds them through `parse_record_value`, so the demo also exercises
//! validation. The opportunities include every failure mode the policy is meant to
//! catch: late registrations, inflated stages, stale and pushed deals, duplicates
//! and channel conflicts. Same seed, same report: the clock is fixed and the random
//! generator is ChaCha seeded from `--seed`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Instant;

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use dealflow_dsl::SourceFile;
use dealflow_engine::{Action, Audience, Context, Decision, Outcome, Policy, Record};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::eval::{explain, group_thousands};
use crate::files::report_error;
use crate::inputs::describe_record_errors;
use crate::{DemoArgs, ExitStatus};

/// The reference policy, embedded at build time.
const POLICY_TEXT: &str = include_str!("../../policies/channel-standard.policy");
const POLICY_NAME: &str = "policies/channel-standard.policy";

/// The demo clock: Friday 2026-11-27 10:00 in New York.
fn demo_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 15, 0, 0)
        .single()
        .unwrap_or_default()
}

const STAGES: [&str; 5] = [
    "Identification",
    "Qualification",
    "SolutionDevelopment",
    "ProposalEvaluation",
    "NegotiationClosing",
];
/// Expected days per open stage (mirrors the policy; only used to shape histories).
const EXPECTED_DAYS: [i64; 5] = [14, 21, 30, 30, 30];
const FAMILIES: [&str; 4] = ["Core", "Security", "Analytics", "Cloud"];
const REGIONS: [&str; 4] = ["NA", "EMEA", "APAC", "LATAM"];
const TIERS: [&str; 4] = ["Registered", "Silver", "Gold", "Platinum"];
const PARTNER_PREFIXES: [&str; 20] = [
    "Acme",
    "Apex",
    "Blue Ridge",
    "Cedar",
    "Summit",
    "Northwind",
    "Ironclad",
    "Lighthouse",
    "Redwood",
    "Silverline",
    "Harbor",
    "Keystone",
    "Pinnacle",
    "Granite",
    "Evergreen",
    "Vertex",
    "Orbit",
    "Meridian",
    "Cobalt",
    "Beacon",
];
const PARTNER_SUFFIXES: [&str; 8] = [
    "Networks",
    "Systems",
    "Solutions",
    "IT",
    "Technologies",
    "Integrators",
    "Consulting",
    "Secure",
];
const ACCOUNT_STEMS: [&str; 24] = [
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Oscorp",
    "Aperture",
    "Monarch",
    "Nakatomi",
    "Virtucon",
    "Dunder",
    "Gekko",
    "Prestige",
    "Sirius",
    "Duff",
    "Krusty",
    "Pied Piper",
    "Wernham",
];
const ACCOUNT_KINDS: [&str; 6] = ["Health", "Bank", "Foods", "Logistics", "Energy", "Retail"];
const LEGAL: [&str; 5] = ["Inc.", "LLC", "Corp.", "GmbH", "Ltd"];
const COMPETITORS: [&str; 6] = [
    "Fortinet",
    "Palo Alto Networks",
    "Zscaler",
    "Cisco",
    "Check Point",
    "Sophos",
];
const LOSS_REASONS: [&str; 4] = [
    "price",
    "went with a competitor",
    "no decision",
    "budget cut",
];
const PRODUCTS: [(&str, &str, i64); 8] = [
    ("Core Switch 9000", "Core", 18_000),
    ("Core Router Edge", "Core", 9_500),
    ("Firewall X", "Security", 30_000),
    ("Endpoint Shield (100 seats)", "Security", 4_000),
    ("Analytics Suite", "Analytics", 60_000),
    ("Insight Dashboards", "Analytics", 12_000),
    ("Cloud Gateway", "Cloud", 25_000),
    ("Cloud Backup (TB)", "Cloud", 300),
];

struct Partner {
    id: String,
    name: String,
    tier: usize,
    territories: Vec<&'static str>,
    specializations: Vec<&'static str>,
    win_rate: u32,
}

struct Account {
    id: String,
    name: String,
    domain: String,
    direct: bool,
    industry: &'static str,
    employees: u32,
}

/// What makes an opportunity interesting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Healthy,
    LateRegistration,
    Inflated,
    Stale,
    Pushed,
    Duplicate,
    Conflict,
}

/// A generated opportunity: its JSON record and the requests made about it today.
struct Opportunity {
    json: Value,
    stage: usize,
    account: usize,
    domain_key: String,
    registered: bool,
    actions: Vec<Action>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn date(t: DateTime<Utc>) -> String {
    t.date_naive().format("%Y-%m-%d").to_string()
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> Option<&'a T> {
    items.choose(rng)
}

fn pick_str(rng: &mut ChaCha8Rng, items: &[&'static str]) -> &'static str {
    pick(rng, items).copied().unwrap_or("")
}

/// Index by weight.
fn weighted(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut roll = rng.gen_range(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if roll < *w {
            return i;
        }
        roll -= w;
    }
    0
}

fn gen_partners(rng: &mut ChaCha8Rng, n: usize) -> Vec<Partner> {
    let mut names: Vec<String> = PARTNER_PREFIXES
        .iter()
        .flat_map(|p| PARTNER_SUFFIXES.iter().map(move |s| format!("{p} {s}")))
        .collect();
    names.shuffle(rng);
    (0..n)
        .map(|i| {
            let tier = weighted(rng, &[15, 40, 30, 15]);
            let n_territories = rng.gen_range(1..=2);
            let mut territories: Vec<&str> = REGIONS
                .choose_multiple(rng, n_territories)
                .copied()
                .collect();
            territories.sort_unstable();
            let n_specializations = rng.gen_range(1..=3);
            let mut specializations: Vec<&str> = FAMILIES
                .choose_multiple(rng, n_specializations)
                .copied()
                .collect();
            specializations.sort_unstable();
            Partner {
                id: format!("P-{:03}", i + 1),
                name: names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("Partner {}", i + 1)),
                tier,
                territories,
                specializations,
                win_rate: rng.gen_range(10..=60),
            }
        })
        .collect()
}

fn gen_accounts(rng: &mut ChaCha8Rng, n: usize) -> Vec<Account> {
    let mut stems: Vec<(&str, &str)> = ACCOUNT_STEMS
        .iter()
        .flat_map(|s| ACCOUNT_KINDS.iter().map(move |k| (*s, *k)))
        .collect();
    stems.shuffle(rng);
    (0..n)
        .map(|i| {
            let (stem, kind) = stems.get(i).copied().unwrap_or(("Account", "Group"));
            let industry = match kind {
                "Health" => "Healthcare",
                "Bank" => "Finance",
                _ if rng.gen_bool(0.08) => "Government",
                _ => "Commercial",
            };
            let slug = format!("{stem}-{kind}").to_lowercase().replace(' ', "");
            Account {
                id: format!("A-{:03}", i + 1),
                name: format!("{stem} {kind}, {}", pick_str(rng, &LEGAL)),
                domain: format!("{slug}.com"),
                direct: rng.gen_bool(0.1),
                industry,
                employees: rng.gen_range(50..20_000),
            }
        })
        .collect()
}

fn partner_json(p: &Partner) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "tier": TIERS.get(p.tier).copied().unwrap_or("Registered"),
        "territories": p.territories,
        "specializations": p.specializations,
        "win_rate": format!("{}%", p.win_rate),
    })
}

fn account_json(a: &Account, domain: &str) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "domain": domain,
        "owner": if a.direct { "direct" } else { "channel" },
        "industry": a.industry,
        "employees": a.employees,
    })
}

/// Normalized domain key used to group registrations that may collide.
fn domain_key(domain: &str) -> String {
    let d = domain.trim().to_lowercase();
    d.strip_prefix("www.").map(str::to_string).unwrap_or(d)
}

struct Generator<'a> {
    rng: ChaCha8Rng,
    now: DateTime<Utc>,
    partners: &'a [Partner],
    accounts: &'a [Account],
    /// (account, product family) pairs already in the pipeline: only planted
    /// duplicates and conflicts reuse one.
    taken: BTreeSet<(usize, String)>,
}

impl Generator<'_> {
    fn amount(&mut self) -> i64 {
        let cents = match weighted(&mut self.rng, &[60, 28, 12]) {
            0 => self.rng.gen_range(8_000..150_000),
            1 => self.rng.gen_range(150_000..400_000),
            _ => self.rng.gen_range(400_000..900_000),
        };
        cents / 500 * 500
    }

    fn line_items(&mut self, family: &str, amount: i64) -> Vec<Value> {
        let mut items = Vec::new();
        let own: Vec<&(&str, &str, i64)> = PRODUCTS.iter().filter(|p| p.1 == family).collect();
        let mut left = amount;
        for (i, (product, fam, price)) in own.iter().map(|p| **p).enumerate() {
            if left <= 0 {
                break;
            }
            let quantity = if i + 1 == own.len() {
                (left / price).max(1)
            } else {
                (left / price / 2).max(1)
            };
            left -= quantity * price;
            items.push(json!({ "product": product, "product_family": fam, "quantity": quantity, "price": price }));
        }
        items
    }

    fn opportunity(
        &mut self,
        index: usize,
        scenario: Scenario,
        twin: Option<&Opportunity>,
    ) -> Opportunity {
        let now = self.now;
        let rng = &mut self.rng;
        // Who and what.
        let partner_idx = rng.gen_range(0..self.partners.len());
        let (account_idx, family) = match twin {
            Some(t) => (
                t.account,
                t.json["fields"]["product_family"]
                    .as_str()
                    .unwrap_or("Core")
                    .to_string(),
            ),
            None => {
                let mut a = rng.gen_range(0..self.accounts.len());
                if scenario == Scenario::Conflict {
                    // Prefer an account owned by direct sales.
                    if let Some((i, _)) = self
                        .accounts
                        .iter()
                        .enumerate()
                        .filter(|(_, a)| a.direct)
                        .collect::<Vec<_>>()
                        .choose(rng)
                    {
                        a = *i;
                    }
                } else if self.accounts.get(a).is_some_and(|acc| acc.direct) {
                    a = (a + 1) % self.accounts.len();
                }
                let p = self.partners.get(partner_idx);
                let mut fam = String::new();
                for attempt in 0..20 {
                    fam = match p.and_then(|p| p.specializations.choose(rng)) {
                        Some(f) if rng.gen_bool(0.8) => (*f).to_string(),
                        _ => pick_str(rng, &FAMILIES).to_string(),
                    };
                    if scenario == Scenario::Conflict || !self.taken.contains(&(a, fam.clone())) {
                        break;
                    }
                    if attempt % 4 == 3 {
                        a = (a + 7) % self.accounts.len();
                        if self.accounts.get(a).is_some_and(|acc| acc.direct) {
                            a = (a + 1) % self.accounts.len();
                        }
                    }
                }
                (a, fam)
            }
        };
        self.taken.insert((account_idx, family.clone()));
        let rng = &mut self.rng;
        let partner = self.partners.get(partner_idx);
        let account = self.accounts.get(account_idx);
        let region = partner
            .and_then(|p| p.territories.choose(rng))
            .copied()
            .unwrap_or("NA");

        // Where in the pipeline.
        let stage = match scenario {
            Scenario::LateRegistration => 4,
            Scenario::Inflated => rng.gen_range(3..=4),
            Scenario::Duplicate | Scenario::Conflict => 1,
            Scenario::Stale => rng.gen_range(1..=3),
            _ => weighted(rng, &[15, 22, 20, 23, 20]),
        };
        let mut days_in_stage =
            rng.gen_range(1..=(EXPECTED_DAYS.get(stage).copied().unwrap_or(21) * 6 / 5));
        if scenario == Scenario::Stale {
            days_in_stage =
                EXPECTED_DAYS.get(stage).copied().unwrap_or(21) * rng.gen_range(25..=55) / 10;
        }
        let durations: Vec<i64> = (0..stage)
            .map(|s| EXPECTED_DAYS.get(s).copied().unwrap_or(21) * rng.gen_range(6..=14) / 10)
            .collect();
        let age: i64 = durations.iter().sum::<i64>() + days_in_stage;
        let created = now - Duration::days(age) - Duration::hours(rng.gen_range(0..8));
        let mut history = vec![json!({ "at": ts(created), "type": "created" })];
        let mut entered = created;
        let mut stage_entered_at = vec![created];
        for (s, d) in durations.iter().enumerate() {
            entered += Duration::days(*d);
            stage_entered_at.push(entered);
            history.push(json!({
                "at": ts(entered), "type": "stage_change",
                "from": STAGES.get(s).copied().unwrap_or("Identification"),
                "to": STAGES.get(s + 1).copied().unwrap_or("Qualification"),
            }));
        }
        // Activity: regular, except for deals that went quiet.
        let quiet = scenario == Scenario::Stale || rng.gen_bool(0.12);
        let last_activity = if quiet {
            now - Duration::days(rng.gen_range(16..45))
        } else {
            now - Duration::days(rng.gen_range(0..6))
        };
        let mut t = created + Duration::days(3);
        while t < last_activity {
            history.push(json!({ "at": ts(t), "type": "activity", "kind": if rng.gen_bool(0.5) { "call" } else { "meeting" } }));
            t += Duration::days(rng.gen_range(5..12));
        }
        if !quiet && last_activity > created {
            history.push(json!({ "at": ts(last_activity), "type": "activity", "kind": "email" }));
        }
        // Close date, pushed a few times for some deals.
        let mut close = now + Duration::days(rng.gen_range(15..120));
        let overdue = scenario == Scenario::Stale && rng.gen_bool(0.3);
        if overdue {
            close = now - Duration::days(rng.gen_range(20..40));
        }
        let pushes = if scenario == Scenario::Pushed {
            rng.gen_range(3..=4)
        } else {
            weighted(rng, &[75, 20, 5]) as i64
        };
        let mut previous = close - Duration::days(30 * pushes);
        for k in 0..pushes {
            let at = created + Duration::days((age * (k + 1)) / (pushes + 1));
            let next = previous + Duration::days(30);
            history.push(json!({ "at": ts(at), "type": "close_date_change", "from": date(previous), "to": date(next) }));
            previous = next;
        }

        // Evidence, by stage (inflated deals lack the evidence of their stage).
        let amount = self.amount();
        let rng = &mut self.rng;
        let mut fields = serde_json::Map::new();
        fields.insert("amount".into(), json!(amount));
        fields.insert("close_date".into(), json!(date(close)));
        fields.insert("product_family".into(), json!(family));
        fields.insert("region".into(), json!(region));
        fields.insert("strategic".into(), json!(rng.gen_bool(0.1)));
        let n_competitors = weighted(rng, &[40, 40, 20]);
        let competitors: Vec<&str> = COMPETITORS
            .choose_multiple(rng, n_competitors)
            .copied()
            .collect();
        fields.insert("competitors".into(), json!(competitors));
        if rng.gen_bool(0.08) {
            if let Some(other) = self.partners.choose(rng) {
                if Some(other.id.as_str()) != partner.map(|p| p.id.as_str()) {
                    fields.insert("influencer".into(), json!(other.id));
                }
            }
        }
        let at = |s: usize| stage_entered_at.get(s).copied().unwrap_or(created);
        if stage >= 1 || rng.gen_bool(0.7) {
            fields.insert("budget_process".into(), json!(true));
            fields.insert(
                "decision_maker".into(),
                json!(pick_str(rng, &["CFO", "CIO", "CISO", "VP Operations"])),
            );
            fields.insert("need".into(), json!("modernize the network"));
            fields.insert("timeline".into(), json!(date(close - Duration::days(10))));
        }
        let inflated_missing_demo =
            scenario == Scenario::Inflated && (stage == 3 || rng.gen_bool(0.5));
        if stage >= 3 && !inflated_missing_demo {
            fields.insert(
                "demo_completed".into(),
                json!(date(at(3) - Duration::days(2))),
            );
        } else if stage == 2 && rng.gen_bool(0.6) {
            fields.insert(
                "demo_completed".into(),
                json!(date(now - Duration::days(1))),
            );
        }
        let inflated_missing_proposal = scenario == Scenario::Inflated && stage == 4;
        if stage >= 4 && !inflated_missing_proposal {
            fields.insert(
                "proposal_sent".into(),
                json!(date(at(4) - Duration::days(1))),
            );
        } else if stage == 3 && rng.gen_bool(0.7) {
            fields.insert("proposal_sent".into(), json!(date(now - Duration::days(2))));
        }

        // Registration.
        let partner_id = partner.map(|p| p.id.clone()).unwrap_or_default();
        let registered = match scenario {
            Scenario::LateRegistration | Scenario::Duplicate | Scenario::Conflict => false,
            _ if stage == 0 => false,
            _ if stage == 1 => rng.gen_bool(0.4),
            _ => true,
        };
        let mut record = json!({
            "id": format!("OPP-{:04}", index + 1),
            "stage": STAGES.get(stage).copied().unwrap_or("Identification"),
            "fields": Value::Object(fields),
        });
        if let Some(p) = partner {
            record["partner"] = partner_json(p);
        }
        let domain = match (account, twin) {
            (Some(a), Some(_)) if rng.gen_bool(0.5) => format!("www.{}", a.domain.to_uppercase()),
            (Some(a), _) => a.domain.clone(),
            (None, _) => "unknown.example".to_string(),
        };
        if let Some(a) = account {
            record["account"] = account_json(a, &domain);
        }
        if stage >= 3 {
            let items = self.line_items(&family, amount);
            record["line_items"] = Value::Array(items);
        }
        let rng = &mut self.rng;
        if registered {
            let submitted = at(1) + Duration::days(rng.gen_range(1..4));
            let approved = submitted + Duration::hours(rng.gen_range(2..30));
            let approved_status = stage >= 2 || rng.gen_bool(0.8);
            let mut reg = json!({
                "id": format!("R-{:04}", index + 1),
                "partner_id": partner_id,
                "status": if approved_status { "approved" } else { "pending" },
                "submitted_at": ts(submitted),
                "extensions": 0,
            });
            if approved_status {
                reg["approved_at"] = json!(ts(approved));
            }
            record["registration"] = reg;
            if stage >= 2 && rng.gen_bool(0.45) {
                history.push(json!({ "at": ts(at(2) + Duration::days(3)), "type": "cosell", "pool": "presales_engineer" }));
            }
        }
        history.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
        record["history"] = Value::Array(history);

        // Today's requests about this deal.
        let mut actions = Vec::new();
        if !registered && stage >= 1 {
            actions.push(Action::Register);
        }
        if stage < 4 {
            // Unregistered qualified deals mostly register before asking to advance.
            let p_advance = if stage == 1 && !registered { 0.15 } else { 0.5 };
            if scenario != Scenario::Stale && rng.gen_bool(p_advance) {
                actions.push(Action::Advance {
                    to: STAGES
                        .get(stage + 1)
                        .copied()
                        .unwrap_or("ClosedLost")
                        .to_string(),
                });
            }
        } else if rng.gen_bool(0.6) {
            if rng.gen_bool(0.8) {
                if rng.gen_bool(0.85) {
                    record["fields"]["po_number"] = json!(format!("PO-{}", 70_000 + index));
                }
                actions.push(Action::CloseWon);
            } else {
                if rng.gen_bool(0.9) {
                    record["fields"]["loss_reason"] = json!(pick_str(rng, &LOSS_REASONS));
                }
                actions.push(Action::CloseLost);
            }
        }
        actions.push(Action::Evaluate);
        Opportunity {
            json: record,
            stage,
            account: account_idx,
            domain_key: domain_key(&domain),
            registered,
            actions,
        }
    }
}

/// What the demo decided, for the summary.
#[derive(Default)]
struct Tally {
    /// action verb -> outcome -> count
    outcomes: BTreeMap<String, BTreeMap<Outcome, usize>>,
    /// failing rule category -> (count, example message)
    denials: BTreeMap<String, (usize, String)>,
    late: usize,
    flags: BTreeMap<String, usize>,
    open_deals: usize,
    raw_weighted: Decimal,
    adjusted_weighted: Decimal,
    excluded: usize,
    downweighted: usize,
    cosell_assigned: BTreeMap<String, u32>,
    cosell_waitlisted: BTreeMap<String, u32>,
    commission: Decimal,
    rebates: Decimal,
    won: usize,
    won_amount: Decimal,
    unattributed: usize,
    paid_partners: BTreeSet<String>,
    decisions: usize,
    examples: Examples,
}

#[derive(Default)]
struct Examples {
    approval: Option<Decision>,
    denial: Option<Decision>,
    flagged: Option<Decision>,
}

fn verb(action: &Action) -> &'static str {
    match action {
        Action::Advance { .. } => "advance",
        Action::Register => "register",
        Action::Evaluate => "evaluate",
        Action::CloseWon => "close_won",
        Action::CloseLost => "close_lost",
        Action::RouteLead => "route_lead",
    }
}

/// `stage.ProposalEvaluation.requires[1]` -> `stage.ProposalEvaluation.requires`.
fn category(rule: &str) -> String {
    match rule.find('[') {
        Some(i) => rule.get(..i).unwrap_or(rule).to_string(),
        None => rule.to_string(),
    }
}

fn dec(s: &str) -> Decimal {
    s.trim().parse().unwrap_or_default()
}

/// `"40%"` -> 0.40; a plain decimal is taken as a fraction.
fn fraction(s: &str) -> Decimal {
    match s.trim().strip_suffix('%') {
        Some(p) => dec(p) / Decimal::ONE_HUNDRED,
        None => dec(s),
    }
}

impl Tally {
    fn add(&mut self, action: &Action, d: Decision) {
        self.decisions += 1;
        *self
            .outcomes
            .entry(verb(action).to_string())
            .or_default()
            .entry(d.outcome)
            .or_default() += 1;
        for r in d.failed() {
            if d.outcome != Outcome::Denied {
                continue;
            }
            let entry = self
                .denials
                .entry(format!("{} ({})", category(&r.rule), verb(action)))
                .or_insert((0, r.message.clone()));
            entry.0 += 1;
        }
        let fx = &d.effects;
        if let Some(reg) = &fx.registration {
            if reg.late {
                self.late += 1;
            }
        }
        match action {
            Action::Evaluate => {
                self.open_deals += 1;
                for f in &d.flags {
                    *self.flags.entry(f.clone()).or_default() += 1;
                }
                if let Some(f) = &fx.forecast {
                    let amount = fx.amounts.get("amount").map(|a| dec(a)).unwrap_or_default();
                    self.raw_weighted += amount * fraction(&f.probability);
                    if f.excluded {
                        self.excluded += 1;
                    } else {
                        self.adjusted_weighted += dec(&f.weighted_amount);
                        if fraction(&f.downweight) != Decimal::ONE {
                            self.downweighted += 1;
                        }
                    }
                }
                for c in &fx.cosell {
                    match c.status.as_str() {
                        "assign" => *self.cosell_assigned.entry(c.pool.clone()).or_default() += 1,
                        "waitlist" => {
                            *self.cosell_waitlisted.entry(c.pool.clone()).or_default() += 1
                        }
                        _ => {}
                    }
                }
                if d.flags.len() >= 2
                    && !d.effects.forecast.as_ref().is_some_and(|f| f.excluded)
                    && self.examples.flagged.is_none()
                {
                    self.examples.flagged = Some(d);
                }
            }
            Action::CloseWon if d.outcome == Outcome::Approved => {
                self.won += 1;
                self.won_amount += fx.amounts.get("amount").map(|a| dec(a)).unwrap_or_default();
                if let Some(c) = &fx.commission {
                    if c.attributed {
                        self.commission += dec(&c.total);
                        self.rebates += dec(&c.rebate_total);
                        self.paid_partners.extend(c.partner.clone());
                    } else {
                        self.unattributed += 1;
                    }
                }
            }
            Action::Register
                if d.outcome == Outcome::Approved
                    && self.examples.approval.is_none()
                    && fx
                        .registration
                        .as_ref()
                        .is_some_and(|r| r.discount.is_some() && !r.late) =>
            {
                self.examples.approval = Some(d);
            }
            Action::Register | Action::Advance { .. }
                if d.outcome == Outcome::Denied
                    && self.examples.denial.is_none()
                    && !d.to_pass.is_empty()
                    && d.missing.len() >= 2 =>
            {
                self.examples.denial = Some(d);
            }
            _ => {}
        }
    }
}

/// Runs `dealflow demo`.
pub fn run(args: &DemoArgs) -> ExitStatus {
    let started = Instant::now();
    let source = SourceFile::new(POLICY_NAME, POLICY_TEXT);
    let policy = match Policy::compile(&source) {
        Ok(p) => p,
        Err(err) => {
            crate::diag::eprint_all(&err.diagnostics, &source);
            report_error("the embedded reference policy does not compile; this is a dealflow bug");
            return ExitStatus::Error;
        }
    };
    match simulate(&policy, args) {
        Ok(report) => {
            print!("{report}");
            eprintln!("demo finished in {:.2} s", started.elapsed().as_secs_f64());
            ExitStatus::Success
        }
        Err(message) => {
            report_error(message);
            ExitStatus::Error
        }
    }
}

fn parse_record(policy: &Policy, v: &Value) -> Result<Record, String> {
    policy.parse_record_value(v).map_err(|e| {
        format!(
            "generated record `{}` was rejected (a demo bug):\n  {}",
            v["id"].as_str().unwrap_or("?"),
            describe_record_errors(&e).join("\n  ")
        )
    })
}

fn parse_context(policy: &Policy, v: &Value) -> Result<Context, String> {
    policy.parse_context_value(v).map_err(|e| {
        format!(
            "generated context was rejected (a demo bug):\n  {}",
            describe_record_errors(&e).join("\n  ")
        )
    })
}

fn simulate(policy: &Policy, args: &DemoArgs) -> Result<String, String> {
    let now = demo_now();
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let partners = gen_partners(&mut rng, 40);
    let accounts = gen_accounts(&mut rng, 120);
    let mut g = Generator {
        rng,
        now,
        partners: &partners,
        accounts: &accounts,
        taken: BTreeSet::new(),
    };

    // Opportunities, with duplicates and conflicts planted among them.
    let mut opps: Vec<Opportunity> = Vec::with_capacity(args.opportunities);
    for i in 0..args.opportunities {
        let scenario = match weighted(&mut g.rng, &[52, 7, 8, 10, 8, 8, 7]) {
            1 => Scenario::LateRegistration,
            2 => Scenario::Inflated,
            3 => Scenario::Stale,
            4 => Scenario::Pushed,
            5 => Scenario::Duplicate,
            6 => Scenario::Conflict,
            _ => Scenario::Healthy,
        };
        let twin_idx = if scenario == Scenario::Duplicate {
            let candidates: Vec<usize> = opps
                .iter()
                .enumerate()
                .filter(|(_, o)| o.registered)
                .map(|(i, _)| i)
                .collect();
            candidates.choose(&mut g.rng).copied()
        } else {
            None
        };
        let opp = match twin_idx.and_then(|t| opps.get(t)) {
            Some(twin) => {
                // Borrow juggling: generate against a snapshot of the twin.
                let snapshot = Opportunity {
                    json: twin.json.clone(),
                    stage: twin.stage,
                    account: twin.account,
                    domain_key: twin.domain_key.clone(),
                    registered: twin.registered,
                    actions: Vec::new(),
                };
                g.opportunity(i, Scenario::Duplicate, Some(&snapshot))
            }
            None if scenario == Scenario::Duplicate => g.opportunity(i, Scenario::Healthy, None),
            None => g.opportunity(i, scenario, None),
        };
        opps.push(opp);
    }
    // Direct sales also owns some accounts that the CRM lists as channel.
    let mut direct_accounts: Vec<String> = accounts
        .iter()
        .filter(|a| a.direct)
        .map(|a| a.domain.clone())
        .collect();
    for a in accounts.iter().filter(|a| !a.direct).step_by(17) {
        direct_accounts.push(a.id.clone());
    }

    // Validate every record once.
    let records: Vec<Record> = opps
        .iter()
        .map(|o| parse_record(policy, &o.json))
        .collect::<Result<_, _>>()?;
    let mut by_domain: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, o) in opps.iter().enumerate() {
        if o.json.get("registration").is_some() {
            by_domain.entry(o.domain_key.as_str()).or_default().push(i);
        }
    }

    let pools: Vec<(String, String, u32, String)> = policy
        .ir()
        .cosell
        .as_ref()
        .map(|c| {
            c.pools
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        p.label.clone().unwrap_or_else(|| p.name.clone()),
                        p.capacity,
                        format!("{:?}", p.per).to_lowercase(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut usage: BTreeMap<String, u32> = pools.iter().map(|p| (p.0.clone(), 0)).collect();

    let mut tally = Tally::default();
    for (i, (opp, record)) in opps.iter().zip(&records).enumerate() {
        let others: Vec<Value> = by_domain
            .get(opp.domain_key.as_str())
            .into_iter()
            .flatten()
            .filter(|j| **j != i)
            .filter_map(|j| opps.get(*j).map(|o| o.json.clone()))
            .collect();
        for action in &opp.actions {
            let ctx_json = json!({
                "registrations": others,
                "direct_accounts": direct_accounts,
                "cosell_usage": usage,
            });
            let ctx = parse_context(policy, &ctx_json)?;
            let d = policy.decide(record, action, &ctx, now, &Audience::Vendor);
            if matches!(action, Action::Evaluate) {
                for c in &d.effects.cosell {
                    if c.status == "assign" {
                        *usage.entry(c.pool.clone()).or_default() += 1;
                    }
                }
            }
            tally.add(action, d);
        }
    }

    // Inbound leads, routed across the whole partner network.
    let partner_values: Vec<Value> = partners.iter().map(partner_json).collect();
    let mut routes = Vec::new();
    for k in 0..6 {
        let lead = json!({
            "id": format!("L-{:03}", k + 1),
            "region": pick_str(&mut g.rng, &REGIONS),
            "product_family": pick_str(&mut g.rng, &FAMILIES),
            "budget_confirmed": g.rng.gen_bool(0.5),
            "score": format!("{:.1}", g.rng.gen_range(10..50) as f64 / 10.0),
        });
        let ctx = parse_context(policy, &json!({ "partners": partner_values, "lead": lead }))?;
        let d = policy.route_lead(&ctx, now, &Audience::Vendor);
        routes.push((lead, d.clone()));
        tally.add(&Action::RouteLead, d);
    }

    Ok(report(
        policy,
        args,
        &partners,
        &accounts,
        &opps,
        &direct_accounts,
        &pools,
        &usage,
        &routes,
        tally,
    ))
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the report reads every part of the run"
)]
fn report(
    policy: &Policy,
    args: &DemoArgs,
    partners: &[Partner],
    accounts: &[Account],
    opps: &[Opportunity],
    direct_accounts: &[String],
    pools: &[(String, String, u32, String)],
    usage: &BTreeMap<String, u32>,
    routes: &[(Value, Decision)],
    tally: Tally,
) -> String {
    let mut out = String::new();
    let cur = policy.ir().currency.clone();
    let money = |d: Decimal| format!("{} {cur}", group_thousands(&d.round_dp(2).to_string()));
    let _ = writeln!(
        out,
        "dealflow demo: a simulated channel program (seed {}, clock {})",
        args.seed,
        ts(demo_now())
    );
    let _ = writeln!(
        out,
        "policy: {} {} (embedded, sha256 {})",
        policy.name(),
        policy.version(),
        policy.hash().get(..12).unwrap_or("")
    );
    let tiers: Vec<String> = TIERS
        .iter()
        .enumerate()
        .rev()
        .map(|(t, name)| format!("{} {name}", partners.iter().filter(|p| p.tier == t).count()))
        .collect();
    let _ = writeln!(
        out,
        "program: {} partners ({}), {} accounts ({} owned by direct sales)",
        partners.len(),
        tiers.join(", "),
        accounts.len(),
        direct_accounts.len()
    );
    let by_stage: Vec<String> = STAGES
        .iter()
        .enumerate()
        .map(|(s, name)| format!("{} {name}", opps.iter().filter(|o| o.stage == s).count()))
        .collect();
    let _ = writeln!(
        out,
        "pipeline: {} opportunities ({})",
        opps.len(),
        by_stage.join(", ")
    );
    let _ = writeln!(
        out,
        "decisions: {} made on {}",
        tally.decisions,
        ts(demo_now())
    );

    let _ = writeln!(out, "\n== Decisions by action");
    let _ = writeln!(
        out,
        "  {:<12} {:>8} {:>8} {:>8} {:>10} {:>8}",
        "action", "approved", "review", "denied", "evaluated", "routed"
    );
    for (action, counts) in &tally.outcomes {
        let c = |o: Outcome| counts.get(&o).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "  {:<12} {:>8} {:>8} {:>8} {:>10} {:>8}",
            action,
            c(Outcome::Approved),
            c(Outcome::Review),
            c(Outcome::Denied),
            c(Outcome::Evaluated),
            c(Outcome::Routed)
        );
    }
    let _ = writeln!(
        out,
        "  late registrations (approved but flagged late): {}",
        tally.late
    );

    let _ = writeln!(out, "\n== Why requests were denied (failing rules)");
    let mut denials: Vec<_> = tally.denials.iter().collect();
    denials.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    for (rule, (count, example)) in denials {
        let _ = writeln!(out, "  {count:>4}  {rule}\n        e.g. {example}");
    }

    let _ = writeln!(
        out,
        "\n== Pipeline hygiene ({} open deals evaluated)",
        tally.open_deals
    );
    let mut flags: Vec<_> = tally.flags.iter().collect();
    flags.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (flag, count) in flags {
        let _ = writeln!(out, "  {flag:<10} {count:>4}");
    }

    let _ = writeln!(out, "\n== Forecast (weighted open pipeline)");
    let _ = writeln!(
        out,
        "  raw (amount x stage probability)  {:>20}",
        money(tally.raw_weighted)
    );
    let _ = writeln!(
        out,
        "  hygiene-adjusted                  {:>20}",
        money(tally.adjusted_weighted)
    );
    if tally.raw_weighted > Decimal::ZERO {
        let cut =
            (Decimal::ONE - tally.adjusted_weighted / tally.raw_weighted) * Decimal::ONE_HUNDRED;
        let _ = writeln!(
            out,
            "  hygiene removes {}% of the weighted pipeline: {} deals excluded, {} downweighted",
            cut.round_dp(1),
            tally.excluded,
            tally.downweighted
        );
    }

    let _ = writeln!(out, "\n== Co-sell assignments this period");
    let _ = writeln!(
        out,
        "  {:<24} {:>9} {:>9} {:>11}",
        "pool", "assigned", "capacity", "waitlisted"
    );
    for (name, label, capacity, per) in pools {
        let _ = writeln!(
            out,
            "  {:<24} {:>9} {:>9} {:>11}",
            label,
            usage.get(name).copied().unwrap_or(0),
            format!("{capacity}/{per}"),
            tally.cosell_waitlisted.get(name).copied().unwrap_or(0)
        );
    }

    let _ = writeln!(out, "\n== Commission on deals closed won today");
    let _ = writeln!(
        out,
        "  {} deals won, {} booked",
        tally.won,
        money(tally.won_amount)
    );
    let _ = writeln!(
        out,
        "  commission {} and rebates {} to {} partners",
        money(tally.commission),
        money(tally.rebates),
        tally.paid_partners.len()
    );
    let _ = writeln!(
        out,
        "  {} won deals earned no commission (registration not approved before close)",
        tally.unattributed
    );

    let _ = writeln!(out, "\n== Lead routing");
    for (lead, d) in routes {
        let who = d
            .effects
            .routing
            .as_ref()
            .and_then(|r| r.ranked.first().map(|p| (p, r.eligible_count.unwrap_or(0))))
            .map(|(p, n)| {
                format!(
                    "-> {} {} ({n} eligible)",
                    p.partner,
                    p.name.clone().unwrap_or_default()
                )
            })
            .unwrap_or_else(|| format!("-> not routed ({})", d.outcome));
        let _ = writeln!(
            out,
            "  {} {:<5} {:<10} score {:<4} {}",
            lead["id"].as_str().unwrap_or(""),
            lead["region"].as_str().unwrap_or(""),
            lead["product_family"].as_str().unwrap_or(""),
            lead["score"].as_str().unwrap_or(""),
            who
        );
    }

    let examples = [
        ("An approval", tally.examples.approval.as_ref()),
        ("A denial", tally.examples.denial.as_ref()),
        ("A flagged deal", tally.examples.flagged.as_ref()),
    ];
    for (title, d) in examples {
        let _ = writeln!(out, "\n== {title}");
        match d {
            Some(d) => {
                for line in explain(d, policy).lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
            None => {
                let _ = writeln!(out, "  (none in this run; try another --seed)");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_clock_is_fixed() {
        assert_eq!(ts(demo_now()), "2026-11-27T15:00:00Z");
    }

    #[test]
    fn rule_categories_drop_indexes() {
        assert_eq!(
            category("stage.ProposalEvaluation.requires[1]"),
            "stage.ProposalEvaluation.requires"
        );
        assert_eq!(category("registration.duplicate"), "registration.duplicate");
    }

    #[test]
    fn the_same_seed_generates_the_same_records() {
        let gen = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let partners = gen_partners(&mut rng, 5);
            let accounts = gen_accounts(&mut rng, 5);
            let mut g = Generator {
                rng,
                now: demo_now(),
                partners: &partners,
                accounts: &accounts,
                taken: BTreeSet::new(),
            };
            g.opportunity(0, Scenario::Stale, None).json
        };
        assert_eq!(gen(7), gen(7));
        assert_ne!(gen(7), gen(8));
    }
}
