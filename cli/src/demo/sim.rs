//! The program over time. A discrete-event simulation: every actor's next move is a
//! task at an instant; tasks run in instant order (ties in scheduling order), and each
//! submits one command to the store at that instant. What happens next is read back
//! from the store's decisions, never guessed: a denied advance is fixed with the
//! evidence the decision says is missing, a lead is answered by the partner the
//! decision offered it to, channel ops reviews what `Store::queue` shows.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::{Audience, Store};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::clock::Clock;
use super::report::Tally;
use super::world::{pick_str, weighted, Fate, Plan, World};

/// The pipeline's open stages, in order; 5 and 6 are the won and lost stages.
pub const STAGES: [&str; 7] = [
    "Identification",
    "Qualification",
    "SolutionDevelopment",
    "ProposalEvaluation",
    "NegotiationClosing",
    "ClosedWon",
    "ClosedLost",
];
const QUAL: usize = 1;
const SOLDEV: usize = 2;
const PROP: usize = 3;
const NEG: usize = 4;
const WON: usize = 5;
const LOST: usize = 6;

/// Evidence a stage requires on entry (the reference policy's `requires`).
fn evidence_for(stage: usize) -> &'static [&'static str] {
    match stage {
        QUAL => &["budget_process", "decision_maker", "need", "timeline"],
        PROP => &["demo_completed"],
        NEG => &["proposal_sent"],
        WON => &["po_number"],
        LOST => &["loss_reason"],
        _ => &[],
    }
}

/// Business minutes in a business day (09:00-17:00).
const DAY: i64 = 8 * 60;

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    None,
    Pending,
    Approved,
    /// Denied when submitted (duplicate, conflict, not eligible).
    Denied,
    Rejected,
    Returned,
    Withdrawn,
    Expired,
}

struct Opp {
    plan: Plan,
    created: bool,
    /// A converted lead: the partner still has to fill the deal in.
    needs_fields: bool,
    stage: usize,
    closed: bool,
    stalled: bool,
    provided: BTreeSet<&'static str>,
    priced: bool,
    reg: Reg,
    reg_id: Option<String>,
    /// Waiting for channel ops to review its registration.
    waiting: bool,
    tried: [bool; 7],
    tried_early: bool,
    /// What the last denial said to provide.
    fix: Vec<String>,
    fix_items: bool,
    resubmit_updated: bool,
    pushes_left: u32,
    cosell_contacted: BTreeSet<String>,
    /// Denials in a row at the same gate (a guard against loops).
    retries: u32,
    step_pending: bool,
}

impl Opp {
    fn new(plan: Plan) -> Opp {
        let pushes_left = plan.pushes;
        Opp {
            plan,
            created: false,
            needs_fields: false,
            stage: 0,
            closed: false,
            stalled: false,
            provided: BTreeSet::new(),
            priced: false,
            reg: Reg::None,
            reg_id: None,
            waiting: false,
            tried: [false; 7],
            tried_early: false,
            fix: Vec::new(),
            fix_items: false,
            resubmit_updated: false,
            pushes_left,
            cosell_contacted: BTreeSet::new(),
            retries: 0,
            step_pending: false,
        }
    }

    fn active(&self) -> bool {
        self.created && !self.closed && !self.stalled
    }
}

struct Lead {
    plan: usize,
    offered_to: Option<String>,
    open: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Approve,
    Reject,
    Return,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
            Verdict::Return => "return",
        }
    }
}

/// How channel ops will handle one registration: after how many business hours,
/// and with which verdict.
struct ReviewPlan {
    after_hours: Decimal,
    verdict: Verdict,
    scheduled: bool,
}

enum Task {
    Tick,
    OpsPass,
    Review {
        opp: usize,
        reg: String,
        verdict: Verdict,
        reviewer: &'static str,
        note: Option<&'static str>,
    },
    Step(usize),
    Activity(usize),
    Cosell {
        opp: usize,
        pool: String,
    },
    PushClose(usize),
    SubmitLead(usize),
    LeadReply {
        lead: usize,
        partner: String,
        accept: bool,
    },
}

pub struct Sim<'a, 'w> {
    store: &'a SqliteStore,
    clock: &'a Clock<'a>,
    rng: ChaCha8Rng,
    pub world: World,
    opps: Vec<Opp>,
    opp_index: BTreeMap<String, usize>,
    leads: Vec<Lead>,
    lead_index: BTreeMap<String, usize>,
    tasks: BTreeMap<(DateTime<Utc>, u64), Task>,
    task_seq: u64,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
    emit: Option<&'w mut dyn Write>,
    reviews: BTreeMap<String, ReviewPlan>,
    /// Co-sell units held: (opportunity, pool) -> period.
    held: BTreeMap<(usize, String), String>,
    po_seq: u32,
    pub tally: Tally,
}

fn admin() -> Value {
    json!({"user": "ann.admin", "role": "admin"})
}

fn ops(name: &str) -> Value {
    json!({"user": name, "role": "channel_ops"})
}

fn text<'v>(v: &'v Value, k: &str) -> &'v str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

impl<'a, 'w> Sim<'a, 'w> {
    pub fn new(
        store: &'a SqliteStore,
        clock: &'a Clock<'a>,
        rng: ChaCha8Rng,
        world: World,
        emit: Option<&'w mut dyn Write>,
    ) -> Sim<'a, 'w> {
        let opps: Vec<Opp> = world.plans.iter().cloned().map(Opp::new).collect();
        let opp_index = opps
            .iter()
            .enumerate()
            .map(|(i, o)| (o.plan.id.clone(), i))
            .collect();
        let leads: Vec<Lead> = (0..world.leads.len())
            .map(|plan| Lead {
                plan,
                offered_to: None,
                open: true,
            })
            .collect();
        let lead_index = world
            .leads
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.clone(), i))
            .collect();
        Sim {
            store,
            clock,
            rng,
            world,
            opps,
            opp_index,
            leads,
            lead_index,
            tasks: BTreeMap::new(),
            task_seq: 0,
            now: clock.at_local(Some(clock.start), 7 * 60),
            horizon: clock.horizon(),
            emit,
            reviews: BTreeMap::new(),
            held: BTreeMap::new(),
            po_seq: 0,
            tally: Tally::default(),
        }
    }

    /// Plays the whole window.
    pub fn run(&mut self) -> Result<(), String> {
        self.setup()?;
        for day in self.clock.days().collect::<Vec<_>>() {
            if Clock::is_weekday(day) {
                for hour in 9..=17u32 {
                    let t = self.clock.at_local(Some(day), hour * 60);
                    self.schedule(t, Task::Tick);
                }
            }
            if self.clock.is_working_day(day) {
                for hour in 9..=16u32 {
                    let t = self.clock.at_local(Some(day), hour * 60 + 5);
                    self.schedule(t, Task::OpsPass);
                }
            }
        }
        for i in 0..self.opps.len() {
            let at = self.opps.get(i).map(|o| o.plan.created);
            if let Some(at) = at {
                self.schedule_step(i, at);
            }
        }
        for (i, l) in self.world.leads.iter().enumerate() {
            let at = l.at;
            self.tasks.insert((at, self.task_seq), Task::SubmitLead(i));
            self.task_seq += 1;
        }
        while let Some(((at, _), task)) = self.tasks.pop_first() {
            if at >= self.horizon {
                break;
            }
            self.now = self.now.max(at);
            self.perform(task)?;
        }
        Ok(())
    }

    fn schedule(&mut self, at: DateTime<Utc>, task: Task) {
        let at = at.max(self.now);
        if at < self.horizon {
            self.tasks.insert((at, self.task_seq), task);
            self.task_seq += 1;
        }
    }

    fn schedule_step(&mut self, i: usize, at: DateTime<Utc>) {
        let Some(o) = self.opps.get_mut(i) else {
            return;
        };
        if o.step_pending {
            return;
        }
        o.step_pending = true;
        self.schedule(at, Task::Step(i));
    }

    /// `lo..hi` business minutes from now, scaled by the deal's pace.
    fn later(&mut self, lo: i64, hi: i64) -> DateTime<Utc> {
        let m = self.rng.gen_range(lo..hi.max(lo + 1));
        self.clock.after_business_minutes(self.now, m)
    }

    fn later_paced(&mut self, i: usize, lo_days: i64, hi_days: i64) -> DateTime<Utc> {
        let pace = self.opps.get(i).map_or(100, |o| i64::from(o.plan.pace));
        let m = self
            .rng
            .gen_range(lo_days * DAY..(hi_days * DAY).max(lo_days * DAY + 1));
        let m = m.saturating_mul(pace) / 100;
        self.clock.after_business_minutes(self.now, m)
    }

    /// `minutes` wall-clock minutes from now.
    fn minutes_later(&self, minutes: i64) -> DateTime<Utc> {
        self.now
            .checked_add_signed(Duration::minutes(minutes))
            .unwrap_or(self.now)
    }

    fn today(&self) -> NaiveDate {
        self.clock.date(self.now)
    }

    // ------------------------------------------------------------ commands

    fn submit(
        &mut self,
        by: Value,
        kind: &'static str,
        subject: &str,
        body: Value,
    ) -> Result<(), String> {
        self.tally.submitted += 1;
        let key = format!("{:06}-{kind}-{subject}", self.tally.submitted);
        let mut m = match body {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        m.insert("key".into(), key.clone().into());
        m.insert("at".into(), ts(self.now).into());
        m.insert("by".into(), by);
        m.insert("type".into(), kind.into());
        let raw = Value::Object(m).to_string();
        if let Some(w) = self.emit.as_mut() {
            writeln!(w, "{raw}").map_err(|e| format!("cannot write the command stream: {e}"))?;
        }
        let s = self
            .store
            .submit(&raw, self.now)
            .map_err(|e| format!("the store failed on command `{key}`: {e}"))?;
        *self.tally.commands.entry(kind).or_default() += 1;
        if kind == "tick" && !s.decisions.is_empty() {
            self.tally.ticks_firing += 1;
        }
        for d in &s.decisions {
            let v: Value = serde_json::from_str(&d.json)
                .map_err(|e| format!("decision {} is not JSON: {e}", d.seq))?;
            self.observe(&v);
        }
        Ok(())
    }

    fn partner_by(&self, i: usize) -> Value {
        let id = self
            .opps
            .get(i)
            .and_then(|o| self.world.partners.get(o.plan.partner))
            .map(|p| p.id.clone())
            .unwrap_or_default();
        json!({ "partner": id })
    }

    fn opp_id(&self, i: usize) -> String {
        self.opps
            .get(i)
            .map(|o| o.plan.id.clone())
            .unwrap_or_default()
    }

    fn setup(&mut self) -> Result<(), String> {
        let source = super::POLICY_TEXT;
        self.submit(
            admin(),
            "publish_policy",
            "policy",
            json!({ "name": super::POLICY_NAME, "source": source, "effective_from": "2026-01-01T00:00:00Z" }),
        )?;
        for k in 0..self.world.partners.len() {
            let (id, doc) = match self.world.partners.get(k) {
                Some(p) => (p.id.clone(), p.json()),
                None => continue,
            };
            self.submit(admin(), "upsert_partner", &id, json!({ "partner": doc }))?;
        }
        for k in 0..self.world.accounts.len() {
            let (id, doc, direct) = match self.world.accounts.get(k) {
                Some(a) => (a.id.clone(), a.json(), a.direct_flag),
                None => continue,
            };
            let mut body = json!({ "account": doc });
            if direct {
                body["direct"] = true.into();
            }
            self.submit(admin(), "upsert_account", &id, body)?;
        }
        Ok(())
    }

    fn perform(&mut self, task: Task) -> Result<(), String> {
        match task {
            Task::Tick => self.submit(Value::String("system".into()), "tick", "clock", json!({})),
            Task::OpsPass => self.ops_pass(),
            Task::Review {
                opp,
                reg,
                verdict,
                reviewer,
                note,
            } => self.review(opp, &reg, verdict, reviewer, note),
            Task::Step(i) => {
                if let Some(o) = self.opps.get_mut(i) {
                    o.step_pending = false;
                }
                self.step(i)
            }
            Task::Activity(i) => self.activity(i),
            Task::Cosell { opp, pool } => self.cosell_contact(opp, &pool),
            Task::PushClose(i) => self.push_close(i),
            Task::SubmitLead(l) => self.submit_lead(l),
            Task::LeadReply {
                lead,
                partner,
                accept,
            } => self.lead_reply(lead, &partner, accept),
        }
    }

    // ------------------------------------------------------------ channel ops

    fn ops_pass(&mut self) -> Result<(), String> {
        // Nothing submitted is waiting (the simulation knows every registration it
        // made): no need to open the queue.
        if !self.opps.iter().any(|o| o.reg == Reg::Pending) {
            return Ok(());
        }
        let queue = self
            .store
            .queue(&Audience::Vendor, self.now)
            .map_err(|e| format!("the review queue could not be read: {e}"))?;
        let mut k = 0i64;
        for entry in queue {
            let Some(&i) = self.opp_index.get(&entry.opportunity) else {
                continue;
            };
            if !self.reviews.contains_key(&entry.registration) {
                // Most within a few business hours; some wait past the escalations,
                // a few past the 24-hour SLA.
                let quarters: i64 = match weighted(&mut self.rng, &[52, 26, 14, 8]) {
                    0 => self.rng.gen_range(1..=12),
                    1 => self.rng.gen_range(12..=30),
                    2 => self.rng.gen_range(34..=80),
                    _ => self.rng.gen_range(100..=150),
                };
                let verdict = match weighted(&mut self.rng, &[80, 8, 12]) {
                    0 => Verdict::Approve,
                    1 => Verdict::Reject,
                    _ => Verdict::Return,
                };
                self.reviews.insert(
                    entry.registration.clone(),
                    ReviewPlan {
                        after_hours: Decimal::new(quarters * 25, 2),
                        verdict,
                        scheduled: false,
                    },
                );
            }
            let waited: Decimal = entry.waited_business_hours.parse().unwrap_or_default();
            let Some(plan) = self.reviews.get_mut(&entry.registration) else {
                continue;
            };
            if plan.scheduled || waited < plan.after_hours {
                continue;
            }
            plan.scheduled = true;
            let verdict = plan.verdict;
            let reviewer = match entry.escalated_to.as_deref() {
                Some("channel_director") => "dan.director",
                Some(_) => "mia.manager",
                None if k % 2 == 0 => "olga.ops",
                None => "omar.ops",
            };
            let note = match verdict {
                Verdict::Approve => None,
                Verdict::Reject => Some("the customer is already in a direct-sales cycle"),
                Verdict::Return => Some("add the customer's project scope and buying timeline"),
            };
            k += 1;
            let at = self.minutes_later(k.saturating_mul(3));
            self.schedule(
                at,
                Task::Review {
                    opp: i,
                    reg: entry.registration,
                    verdict,
                    reviewer,
                    note,
                },
            );
        }
        Ok(())
    }

    fn review(
        &mut self,
        i: usize,
        reg: &str,
        verdict: Verdict,
        reviewer: &str,
        note: Option<&str>,
    ) -> Result<(), String> {
        let still = self
            .opps
            .get(i)
            .is_some_and(|o| o.reg == Reg::Pending && o.reg_id.as_deref() == Some(reg));
        if !still {
            return Ok(());
        }
        let id = self.opp_id(i);
        let mut body = json!({ "opportunity": id, "verdict": verdict.as_str() });
        if let Some(n) = note {
            body["note"] = n.into();
        }
        self.submit(ops(reviewer), "review", &id, body)
    }

    // ------------------------------------------------------------ partners

    fn step(&mut self, i: usize) -> Result<(), String> {
        let Some(o) = self.opps.get(i) else {
            return Ok(());
        };
        if o.closed || o.stalled {
            return Ok(());
        }
        if !o.created {
            return self.create(i);
        }
        if o.needs_fields {
            return self.fill_in(i);
        }
        if !o.fix.is_empty() || o.fix_items {
            return self.apply_fix(i);
        }
        let stage = o.stage;
        let fate = o.plan.fate;
        if let Fate::Lost(s) = fate {
            if stage >= s && (stage != QUAL || o.reg != Reg::Pending) {
                return self.try_enter(i, LOST);
            }
        }
        match stage {
            0 => self.try_enter(i, QUAL),
            QUAL => self.qualified(i),
            SOLDEV => self.try_enter(i, PROP),
            PROP => self.try_enter(i, NEG),
            _ => {
                if o.plan.late_register && o.reg == Reg::None {
                    return self.register(i);
                }
                self.try_enter(i, WON)
            }
        }
    }

    /// A qualified deal: register it, wait for the review, then go on.
    fn qualified(&mut self, i: usize) -> Result<(), String> {
        let Some(o) = self.opps.get(i) else {
            return Ok(());
        };
        let small = o.plan.small();
        let fate = o.plan.fate;
        match o.reg {
            Reg::None if o.plan.late_register => self.try_enter(i, PROP),
            Reg::None => self.register(i),
            Reg::Returned if !o.resubmit_updated => {
                // Add what channel ops asked for, then register again.
                let id = self.opp_id(i);
                let need = format!(
                    "{} (scope and timeline confirmed with the customer)",
                    need_of(&o.plan)
                );
                if let Some(o) = self.opps.get_mut(i) {
                    o.resubmit_updated = true;
                }
                let by = self.partner_by(i);
                self.submit(
                    by,
                    "update_opportunity",
                    &id,
                    json!({ "opportunity": id, "fields": { "need": need } }),
                )?;
                let at = self.later(30, 3 * 60);
                self.schedule_step(i, at);
                Ok(())
            }
            Reg::Returned => {
                self.tally.resubmitted += 1;
                self.register(i)
            }
            Reg::Pending if fate == Fate::Withdraw => self.withdraw(i),
            Reg::Pending if o.plan.eager && !o.tried_early => {
                if let Some(o) = self.opps.get_mut(i) {
                    o.tried_early = true;
                }
                self.advance(i, SOLDEV)
            }
            Reg::Pending => {
                if let Some(o) = self.opps.get_mut(i) {
                    o.waiting = true;
                }
                Ok(())
            }
            Reg::Approved if fate == Fate::Stall => {
                if let Some(o) = self.opps.get_mut(i) {
                    o.stalled = true;
                }
                Ok(())
            }
            Reg::Approved if fate == Fate::Withdraw => self.withdraw(i),
            Reg::Approved => self.try_enter(i, if small { PROP } else { SOLDEV }),
            Reg::Withdrawn => self.try_enter(i, LOST),
            Reg::Denied | Reg::Rejected | Reg::Expired => {
                if small {
                    // Small deals go on without protection (the guarded skip).
                    return self.try_enter(i, PROP);
                }
                if self.rng.gen_bool(0.7) {
                    self.try_enter(i, LOST)
                } else {
                    if let Some(o) = self.opps.get_mut(i) {
                        o.stalled = true;
                    }
                    Ok(())
                }
            }
        }
    }

    fn create(&mut self, i: usize) -> Result<(), String> {
        let Some(o) = self.opps.get(i) else {
            return Ok(());
        };
        let p = &o.plan;
        let account = self
            .world
            .accounts
            .get(p.account)
            .map(|a| a.id.clone())
            .unwrap_or_default();
        let mut fields = Map::new();
        fields.insert("amount".into(), p.amount.into());
        fields.insert("close_date".into(), p.close_date.to_string().into());
        fields.insert("product_family".into(), p.family.into());
        fields.insert("region".into(), p.region.into());
        fields.insert("strategic".into(), p.strategic.into());
        fields.insert("competitors".into(), json!(p.competitors));
        if let Some(inf) = p.influencer.and_then(|k| self.world.partners.get(k)) {
            fields.insert("influencer".into(), inf.id.clone().into());
        }
        let priced = !p.priced_late;
        let items: Vec<Value> = if priced {
            p.line_items.iter().map(|li| li.json()).collect()
        } else {
            Vec::new()
        };
        let id = p.id.clone();
        let pushes = p.pushes;
        let by = self.partner_by(i);
        self.submit(
            by,
            "create_opportunity",
            &id,
            json!({ "opportunity": { "id": id, "account": account, "fields": fields, "line_items": items } }),
        )?;
        if let Some(o) = self.opps.get_mut(i) {
            o.created = true;
            o.priced = priced;
        }
        self.tally.created += 1;
        let at = self.later_paced(i, 2, 8);
        self.schedule_step(i, at);
        let at = self.later(DAY, 4 * DAY);
        self.schedule(at, Task::Activity(i));
        if pushes > 0 {
            let at = self.later(8 * DAY, 15 * DAY);
            self.schedule(at, Task::PushClose(i));
        }
        Ok(())
    }

    /// A converted lead: the partner fills in amount, dates, line items and the
    /// qualification evidence.
    fn fill_in(&mut self, i: usize) -> Result<(), String> {
        let Some(o) = self.opps.get(i) else {
            return Ok(());
        };
        let p = &o.plan;
        let id = p.id.clone();
        let items: Vec<Value> = p.line_items.iter().map(|li| li.json()).collect();
        let mut fields = Map::new();
        fields.insert("amount".into(), p.amount.into());
        fields.insert("close_date".into(), p.close_date.to_string().into());
        fields.insert("competitors".into(), json!(p.competitors));
        for name in evidence_for(QUAL) {
            fields.insert((*name).into(), self.evidence(i, name));
        }
        let by = self.partner_by(i);
        self.submit(
            by,
            "update_opportunity",
            &id,
            json!({ "opportunity": id, "fields": fields, "line_items": items }),
        )?;
        if let Some(o) = self.opps.get_mut(i) {
            o.needs_fields = false;
            o.priced = true;
            o.provided.extend(evidence_for(QUAL).iter().copied());
        }
        let at = self.later(60, 2 * DAY);
        self.schedule_step(i, at);
        Ok(())
    }

    fn need_of(&self, i: usize) -> String {
        self.opps
            .get(i)
            .map(|o| need_of(&o.plan))
            .unwrap_or_default()
    }

    /// The value a partner records for an evidence field today.
    fn evidence(&mut self, i: usize, name: &str) -> Value {
        let today = self.today();
        let Some(o) = self.opps.get(i) else {
            return Value::Null;
        };
        match name {
            "budget_process" => true.into(),
            "decision_maker" => o.plan.decision_maker.into(),
            "need" => self.need_of(i).into(),
            "timeline" => o
                .plan
                .close_date
                .checked_sub_days(chrono::Days::new(10))
                .unwrap_or(o.plan.close_date)
                .max(today)
                .to_string()
                .into(),
            "po_number" => {
                self.po_seq = self.po_seq.saturating_add(1);
                format!("PO-{}-{:05}", today.format("%y%m"), self.po_seq).into()
            }
            "loss_reason" => o.plan.loss_reason.into(),
            // demo_completed, proposal_sent: it happened today.
            _ => today.to_string().into(),
        }
    }

    /// Provides what the last denial named, then tries again.
    fn apply_fix(&mut self, i: usize) -> Result<(), String> {
        let Some(o) = self.opps.get_mut(i) else {
            return Ok(());
        };
        let fix = std::mem::take(&mut o.fix);
        let items = std::mem::take(&mut o.fix_items);
        self.update(i, &fix, items)?;
        let at = self.later(20, 3 * 60);
        self.schedule_step(i, at);
        Ok(())
    }

    fn update(&mut self, i: usize, names: &[String], items: bool) -> Result<(), String> {
        let id = self.opp_id(i);
        let mut fields = Map::new();
        let mut provided = Vec::new();
        for n in names {
            if let Some(name) = known_evidence(n) {
                fields.insert(name.into(), self.evidence(i, name));
                provided.push(name);
            }
        }
        let mut body = json!({ "opportunity": id, "fields": fields });
        if items {
            let li: Vec<Value> = self
                .opps
                .get(i)
                .map(|o| o.plan.line_items.iter().map(|li| li.json()).collect())
                .unwrap_or_default();
            body["line_items"] = Value::Array(li);
        }
        let by = self.partner_by(i);
        self.submit(by, "update_opportunity", &id, body)?;
        if let Some(o) = self.opps.get_mut(i) {
            o.provided.extend(provided);
            o.priced |= items;
        }
        Ok(())
    }

    /// Moves the deal to `target` (an open stage, won or lost): provides the
    /// evidence first, unless this partner tries its luck at this gate.
    fn try_enter(&mut self, i: usize, target: usize) -> Result<(), String> {
        let Some(o) = self.opps.get(i) else {
            return Ok(());
        };
        let missing: Vec<String> = evidence_for(target)
            .iter()
            .filter(|e| !o.provided.contains(*e))
            .map(|e| (*e).to_string())
            .collect();
        let items = target == PROP && !o.priced;
        let gamble = o.plan.sloppy_gates.get(target).copied().unwrap_or(false)
            && !o.tried.get(target).copied().unwrap_or(true);
        if (!missing.is_empty() || items) && !gamble {
            self.update(i, &missing, items)?;
            let at = self.later(30, 4 * 60);
            self.schedule_step(i, at);
            return Ok(());
        }
        if let Some(t) = self.opps.get_mut(i).and_then(|o| o.tried.get_mut(target)) {
            *t = true;
        }
        match target {
            WON => self.close(i, true),
            LOST => self.close(i, false),
            _ => self.advance(i, target),
        }
    }

    fn advance(&mut self, i: usize, to: usize) -> Result<(), String> {
        let id = self.opp_id(i);
        let stage = STAGES.get(to).copied().unwrap_or("Qualification");
        let by = self.partner_by(i);
        self.submit(
            by,
            "advance",
            &id,
            json!({ "opportunity": id, "to": stage }),
        )
    }

    fn close(&mut self, i: usize, won: bool) -> Result<(), String> {
        let id = self.opp_id(i);
        let by = self.partner_by(i);
        let kind = if won { "close_won" } else { "close_lost" };
        self.submit(by, kind, &id, json!({ "opportunity": id }))
    }

    fn register(&mut self, i: usize) -> Result<(), String> {
        let id = self.opp_id(i);
        let by = self.partner_by(i);
        self.submit(by, "register", &id, json!({ "opportunity": id }))
    }

    fn withdraw(&mut self, i: usize) -> Result<(), String> {
        let id = self.opp_id(i);
        let by = self.partner_by(i);
        self.submit(by, "withdraw", &id, json!({ "opportunity": id }))
    }

    fn activity(&mut self, i: usize) -> Result<(), String> {
        if !self.opps.get(i).is_some_and(Opp::active) {
            return Ok(());
        }
        let id = self.opp_id(i);
        let kind = pick_str(&mut self.rng, &["call", "meeting", "email", "workshop"]);
        let by = self.partner_by(i);
        self.submit(
            by,
            "log_activity",
            &id,
            json!({ "opportunity": id, "kind": kind }),
        )?;
        let at = self.later(4 * DAY, 12 * DAY);
        self.schedule(at, Task::Activity(i));
        Ok(())
    }

    fn cosell_contact(&mut self, i: usize, pool: &str) -> Result<(), String> {
        if !self.opps.get(i).is_some_and(|o| !o.closed && o.created) {
            return Ok(());
        }
        let id = self.opp_id(i);
        let person = match pool {
            "presales_engineer" => pick_str(
                &mut self.rng,
                &["Ravi Menon (SE)", "Julia Stein (SE)", "Ken Ito (SE)"],
            ),
            "executive_sponsor" => pick_str(
                &mut self.rng,
                &["VP Sales Carla Diaz", "SVP Field Ops Mark Lund"],
            ),
            "competitive_specialist" => pick_str(
                &mut self.rng,
                &["Nora Blake (competitive)", "Ali Hassan (competitive)"],
            ),
            _ => pick_str(
                &mut self.rng,
                &["Pricing desk: Eva Novak", "Pricing desk: Tim Cho"],
            ),
        };
        let by = self.partner_by(i);
        self.submit(
            by,
            "log_cosell",
            &id,
            json!({ "opportunity": id, "pool": pool, "person": person, "note": "joint customer call" }),
        )?;
        self.tally.cosell_contacts += 1;
        Ok(())
    }

    fn push_close(&mut self, i: usize) -> Result<(), String> {
        let Some(o) = self.opps.get_mut(i) else {
            return Ok(());
        };
        if !o.created || o.closed || o.pushes_left == 0 {
            return Ok(());
        }
        o.pushes_left -= 1;
        let days = self.rng.gen_range(14..40);
        let Some(o) = self.opps.get_mut(i) else {
            return Ok(());
        };
        o.plan.close_date = o
            .plan
            .close_date
            .checked_add_days(chrono::Days::new(days))
            .unwrap_or(o.plan.close_date);
        let date = o.plan.close_date.to_string();
        let left = o.pushes_left;
        let id = self.opp_id(i);
        let by = self.partner_by(i);
        self.submit(
            by,
            "update_opportunity",
            &id,
            json!({ "opportunity": id, "fields": { "close_date": date } }),
        )?;
        if left > 0 {
            let at = self.later(5 * DAY, 12 * DAY);
            self.schedule(at, Task::PushClose(i));
        }
        Ok(())
    }

    // ------------------------------------------------------------ leads

    fn submit_lead(&mut self, l: usize) -> Result<(), String> {
        let Some(plan) = self.world.leads.get(l) else {
            return Ok(());
        };
        let id = plan.id.clone();
        let doc = plan.json();
        self.tally.leads_submitted += 1;
        self.submit(ops("lena.ops"), "submit_lead", &id, json!({ "lead": doc }))
    }

    fn lead_reply(&mut self, l: usize, partner: &str, accept: bool) -> Result<(), String> {
        let Some(lead) = self.leads.get(l) else {
            return Ok(());
        };
        if !lead.open || lead.offered_to.as_deref() != Some(partner) {
            return Ok(());
        }
        let Some(plan) = self.world.leads.get(lead.plan) else {
            return Ok(());
        };
        let id = plan.id.clone();
        let account = self
            .world
            .accounts
            .get(plan.account)
            .map(|a| a.id.clone())
            .unwrap_or_default();
        let by = json!({ "partner": partner });
        if accept {
            self.submit(
                by,
                "accept_lead",
                &id,
                json!({ "lead": id, "account": account }),
            )
        } else {
            let reason = pick_str(
                &mut self.rng,
                &[
                    "no capacity this month",
                    "outside our focus",
                    "customer already served by us",
                ],
            );
            self.submit(
                by,
                "decline_lead",
                &id,
                json!({ "lead": id, "reason": reason }),
            )
        }
    }

    // ------------------------------------------------------------ decisions

    /// Reads one decision: counts it, moves the actors' state, schedules reactions.
    fn observe(&mut self, d: &Value) {
        self.tally.decisions += 1;
        let kind = text(d, "kind").to_string();
        let outcome = text(d, "outcome").to_string();
        *self
            .tally
            .outcomes
            .entry((kind.clone(), outcome.clone()))
            .or_default() += 1;
        let opp = self.opp_index.get(text(d, "opportunity")).copied();
        let decision = d.get("decision").unwrap_or(&Value::Null);
        if outcome == "denied" || outcome == "refused" {
            self.tally.count_failures(&kind, decision, d);
        }
        let events = d
            .get("events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for e in &events {
            self.observe_event(d, e, opp);
        }
        let Some(i) = opp else {
            return;
        };
        match (kind.as_str(), outcome.as_str()) {
            ("register", "approved") => {
                self.tally.auto_approved += 1;
                self.set_reg(i, Reg::Approved, &events);
                let at = self.later(30, 6 * 60);
                self.schedule_step(i, at);
            }
            ("register", "review") => {
                self.tally.to_review += 1;
                self.set_reg(i, Reg::Pending, &events);
                let eager = self
                    .opps
                    .get(i)
                    .is_some_and(|o| o.plan.eager || o.plan.fate == Fate::Withdraw);
                let late = self.opps.get(i).is_some_and(|o| o.plan.late_register);
                if eager || late {
                    let at = self.later(60, 2 * DAY);
                    self.schedule_step(i, at);
                } else if let Some(o) = self.opps.get_mut(i) {
                    o.waiting = true;
                }
            }
            ("register", "denied") => {
                let why = registration_denial(decision);
                *self.tally.denied_at_submission.entry(why).or_default() += 1;
                self.set_reg(i, Reg::Denied, &events);
                let at = self.later_paced(i, 1, 6);
                self.schedule_step(i, at);
            }
            ("review", "approved" | "rejected" | "returned") => {
                if let Some(h) = d.get("business_hours_to_decision").and_then(Value::as_str) {
                    if let Ok(h) = h.parse::<Decimal>() {
                        self.tally.review_hours.push(h);
                    }
                }
                *self.tally.verdicts.entry(outcome.clone()).or_default() += 1;
                let reg = match outcome.as_str() {
                    "approved" => Reg::Approved,
                    "rejected" => Reg::Rejected,
                    _ => Reg::Returned,
                };
                if let Some(o) = self.opps.get_mut(i) {
                    o.reg = reg;
                    o.waiting = false;
                    if reg == Reg::Returned {
                        o.resubmit_updated = false;
                    }
                }
                let at = if reg == Reg::Returned {
                    self.later(DAY / 2, 3 * DAY)
                } else {
                    self.later(30, 6 * 60)
                };
                self.schedule_step(i, at);
            }
            ("review", "denied") => {
                // The policy denies it now (another partner got there first): reject it.
                self.tally.redenied += 1;
                let reg = self.opps.get(i).and_then(|o| o.reg_id.clone());
                if let Some(reg) = reg {
                    let at = self.minutes_later(10);
                    self.schedule(
                        at,
                        Task::Review {
                            opp: i,
                            reg,
                            verdict: Verdict::Reject,
                            reviewer: "olga.ops",
                            note: Some(
                                "another partner holds a protected registration on this deal",
                            ),
                        },
                    );
                }
            }
            ("withdraw", "withdrawn") => {
                if let Some(o) = self.opps.get_mut(i) {
                    o.reg = Reg::Withdrawn;
                    o.waiting = false;
                }
                let at = self.later_paced(i, 1, 5);
                self.schedule_step(i, at);
            }
            ("advance", "approved") | ("close_won" | "close_lost", "approved") => {
                let to = decision
                    .pointer("/effects/stage_change/to")
                    .and_then(Value::as_str)
                    .and_then(|s| STAGES.iter().position(|x| *x == s));
                if let (Some(to), Some(o)) = (to, self.opps.get_mut(i)) {
                    o.stage = to;
                    o.retries = 0;
                    if to >= WON {
                        o.closed = true;
                    }
                }
                if kind != "advance" {
                    if let Some(o) = self.opps.get_mut(i) {
                        o.closed = true;
                        o.stage = if kind == "close_won" { WON } else { LOST };
                    }
                }
                if kind == "close_won"
                    && decision.pointer("/effects/commission/attributed")
                        != Some(&Value::Bool(true))
                {
                    self.tally.unattributed += 1;
                }
                match kind.as_str() {
                    "close_won" => self.tally.won += 1,
                    "close_lost" => self.tally.lost += 1,
                    _ => {
                        let (lo, hi) = match to {
                            Some(QUAL) => (1, 4),
                            Some(SOLDEV) => (5, 14),
                            Some(PROP) => (4, 12),
                            _ => (3, 10),
                        };
                        let at = self.later_paced(i, lo, hi);
                        self.schedule_step(i, at);
                    }
                }
            }
            ("advance" | "close_won" | "close_lost", "denied") => {
                self.tally.gate_denials += 1;
                let missing: Vec<String> = decision
                    .get("missing")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let to_pass = decision
                    .get("to_pass")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
                let Some(o) = self.opps.get_mut(i) else {
                    return;
                };
                o.retries = o.retries.saturating_add(1);
                let items = to_pass && !o.priced;
                if o.retries <= 3 && (!missing.is_empty() || items) {
                    self.tally.fixed += 1;
                    o.fix = missing;
                    o.fix_items = items;
                    let at = self.later(2 * 60, 2 * DAY);
                    self.schedule_step(i, at);
                } else if o.reg == Reg::Pending {
                    // Solution work waits for the registration's approval.
                    self.tally.waited_for_review += 1;
                    o.waiting = true;
                } else {
                    self.tally.gave_up += 1;
                    o.stalled = true;
                }
            }
            _ => {}
        }
    }

    fn set_reg(&mut self, i: usize, reg: Reg, events: &[Value]) {
        let id = events
            .iter()
            .find_map(|e| e.get("registration").and_then(Value::as_str))
            .map(str::to_string);
        let late = events
            .iter()
            .any(|e| e.get("late").and_then(Value::as_bool) == Some(true));
        if late {
            self.tally.late += 1;
        }
        if let Some(o) = self.opps.get_mut(i) {
            o.reg = reg;
            if id.is_some() {
                o.reg_id = id;
            }
        }
    }

    fn observe_event(&mut self, d: &Value, e: &Value, opp: Option<usize>) {
        match text(e, "type") {
            "cosell_assigned" => {
                let pool = text(e, "pool").to_string();
                let period = text(e, "period").to_string();
                let use_ = self
                    .tally
                    .cosell
                    .entry(pool.clone())
                    .or_default()
                    .entry(period.clone())
                    .or_default();
                use_.assigned += 1;
                use_.held += 1;
                use_.peak = use_.peak.max(use_.held);
                if let Some(i) = opp {
                    self.held.insert((i, pool.clone()), period);
                    let first = self
                        .opps
                        .get_mut(i)
                        .is_some_and(|o| o.cosell_contacted.insert(pool.clone()));
                    if first && self.rng.gen_bool(0.85) {
                        let at = self.later(2 * 60, 3 * DAY);
                        self.schedule(at, Task::Cosell { opp: i, pool });
                    }
                }
            }
            "cosell_released" => {
                self.tally.cosell_released += 1;
                let pool = text(e, "pool").to_string();
                if let Some(i) = opp {
                    if let Some(period) = self.held.remove(&(i, pool.clone())) {
                        if let Some(u) = self
                            .tally
                            .cosell
                            .get_mut(&pool)
                            .and_then(|m| m.get_mut(&period))
                        {
                            u.held = u.held.saturating_sub(1);
                        }
                    }
                }
            }
            "registration_extended" => self.tally.extensions += 1,
            "review_escalated" => {
                *self
                    .tally
                    .escalations
                    .entry(text(e, "to").to_string())
                    .or_default() += 1;
            }
            "review_sla_breached" => self.tally.breaches += 1,
            "registration_expired" => {
                self.tally.expiries += 1;
                if let Some(o) = opp.and_then(|i| self.opps.get_mut(i)) {
                    if o.closed {
                        self.tally.expiries_closed += 1;
                    }
                    o.reg = Reg::Expired;
                }
            }
            "lead_offered" => {
                let lead = text(e, "lead").to_string();
                let partner = text(e, "partner").to_string();
                if text(d, "kind") == "submit_lead" {
                    self.tally.leads_offered += 1;
                } else {
                    self.tally.leads_rerouted += 1;
                }
                if let Some(&l) = self.lead_index.get(&lead) {
                    if let Some(x) = self.leads.get_mut(l) {
                        x.offered_to = Some(partner.clone());
                    }
                    // The partner answers within the acceptance window, or lets it lapse.
                    let reply = weighted(&mut self.rng, &[50, 25, 25]);
                    if reply < 2 {
                        let at = self.later(30, 12 * 60);
                        self.schedule(
                            at,
                            Task::LeadReply {
                                lead: l,
                                partner,
                                accept: reply == 0,
                            },
                        );
                    }
                }
            }
            "lead_unrouted" => {
                let lead = text(e, "lead");
                if text(e, "status") == "unrouted" {
                    self.tally.leads_unrouted += 1;
                } else {
                    self.tally.leads_exhausted += 1;
                }
                if let Some(x) = self
                    .lead_index
                    .get(lead)
                    .and_then(|l| self.leads.get_mut(*l))
                {
                    x.open = false;
                    x.offered_to = None;
                }
            }
            "lead_timed_out" => self.tally.leads_timed_out += 1,
            "lead_declined" => self.tally.leads_declined += 1,
            "lead_accepted" => {
                self.tally.leads_accepted += 1;
                if let Some(x) = self
                    .lead_index
                    .get(text(e, "lead"))
                    .and_then(|l| self.leads.get_mut(*l))
                {
                    x.open = false;
                }
            }
            "lead_converted" => {
                self.tally.leads_converted += 1;
                self.converted(e);
            }
            _ => {}
        }
    }

    /// A converted lead became an opportunity of the accepting partner.
    fn converted(&mut self, e: &Value) {
        let id = text(e, "opportunity").to_string();
        let partner = text(e, "partner");
        let Some(p) = self.world.partners.iter().position(|x| x.id == partner) else {
            return;
        };
        let Some(lead) = self
            .lead_index
            .get(text(e, "lead"))
            .and_then(|l| self.world.leads.get(*l))
        else {
            return;
        };
        let plan = World::converted_plan(&mut self.rng, self.clock, id.clone(), p, lead, self.now);
        let mut o = Opp::new(plan);
        o.created = true;
        o.needs_fields = true;
        o.stage = QUAL;
        let i = self.opps.len();
        self.opps.push(o);
        self.opp_index.insert(id, i);
        self.tally.created_from_leads += 1;
        let at = self.later(60, DAY);
        self.schedule_step(i, at);
        let at = self.later(2 * DAY, 5 * DAY);
        self.schedule(at, Task::Activity(i));
    }
}

fn need_of(p: &Plan) -> String {
    match p.family {
        "Security" => "replace end-of-life firewalls",
        "Analytics" => "one view of operations data",
        "Cloud" => "move backups off-site",
        _ => "refresh the campus network",
    }
    .to_string()
}

fn known_evidence(name: &str) -> Option<&'static str> {
    [
        "budget_process",
        "decision_maker",
        "need",
        "timeline",
        "demo_completed",
        "proposal_sent",
        "po_number",
        "loss_reason",
    ]
    .into_iter()
    .find(|e| *e == name)
}

/// Why a registration was denied when submitted, from its failing rules.
fn registration_denial(decision: &Value) -> &'static str {
    let failed: Vec<&str> = decision
        .get("reasons")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|r| text(r, "outcome") == "fail")
                .map(|r| text(r, "rule"))
                .collect()
        })
        .unwrap_or_default();
    if failed
        .iter()
        .any(|r| r.starts_with("registration.duplicate"))
    {
        "duplicate"
    } else if failed
        .iter()
        .any(|r| r.starts_with("registration.conflict"))
    {
        "conflict"
    } else if failed
        .iter()
        .any(|r| r.starts_with("registration.eligible"))
    {
        "not eligible"
    } else {
        "other"
    }
}
