//! Facts derived from a record's history and the context: the values of the
//! language's built-ins (`days_in_stage`, `registration.age`, `cosell.supported`...).

use std::cell::{Cell, OnceCell};
use std::mem::ManuallyDrop;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use dealflow_dsl::ir::{self, Builtin, EnumId};

use crate::calendar::{add_duration, BusinessCalendar, CalendarError};
use crate::record::{Context, EventKind, Record, RegStatus};
use crate::value::Value;

/// Number of built-ins (array size).
const N: usize = 23;

/// What the history says, summarised in one pass.
#[derive(Clone, Copy, Debug, Default)]
struct Hist {
    /// When the deal entered its current stage (else when it was created).
    entered: Option<DateTime<Utc>>,
    close_changes: i64,
    last_activity: Option<DateTime<Utc>>,
    cosell_first: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
}

impl Hist {
    fn of(rec: &Record) -> Hist {
        let mut h = Hist::default();
        let mut created = None;
        for e in &rec.history {
            match &e.kind {
                EventKind::Created => created = created.or(Some(e.at)),
                EventKind::StageChange { to, .. } if *to == rec.stage => h.entered = Some(e.at),
                EventKind::StageChange { .. } => {}
                EventKind::CloseDateChange => h.close_changes += 1,
                EventKind::Activity => h.last_activity = Some(e.at),
                EventKind::Cosell { .. } => {
                    h.cosell_first = h.cosell_first.or(Some(e.at));
                    h.last_activity = Some(e.at);
                }
                EventKind::Closed { .. } => h.closed_at = Some(e.at),
            }
        }
        h.entered = h.entered.or(created);
        h
    }
}

/// Built-in values for one record at one instant. Each value is computed on first
/// use and cached, so a decision pays only for the built-ins its rules read.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    p: &'a ir::Policy,
    cal: Option<&'a BusinessCalendar>,
    rec: &'a Record,
    ctx: &'a Context,
    now: DateTime<Utc>,
    /// The action closes the deal now (close time = now).
    closing: bool,
    /// `approved` as decided by a registration (else the registration status).
    approved: Option<bool>,
    hist: OnceCell<Hist>,
    /// Cached built-ins. Only values without heap data go here (so the array needs no
    /// drop work when a decision ends); `registration.partner`, the one text-valued
    /// built-in, is cached in `partner`.
    vals: [OnceCell<ManuallyDrop<Value>>; N],
    partner: OnceCell<Value>,
}
fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> Value {
    Value::Dur((a - b).num_seconds())
}

fn opt_dt(d: Option<DateTime<Utc>>) -> Value {
    d.map(Value::DateTime).unwrap_or(Value::Absent)
}

thread_local! {
    /// The last `local_date` computed on this thread (batches decide at one instant).
    static LAST_DATE: Cell<Option<(Tz, DateTime<Utc>, NaiveDate)>> = const { Cell::new(None) };
}

/// The date of `now` in `tz`. Time-zone offset lookups are costly, so the last
/// answer per thread is kept: a batch decided at one instant computes it once.
fn local_date(tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    LAST_DATE.with(|last| match last.get() {
        Some((t, n, d)) if t == tz && n == now => d,
        _ => {
            let d = now.with_timezone(&tz).date_naive();
            last.set(Some((tz, now, d)));
            d
        }
    })
}

/// When the registration's protection ends: the given value, or approval time plus
/// the policy's protection window plus granted extensions; an error when that end
/// cannot be written (after year 9999).
pub fn protection_end(
    p: &ir::Policy,
    cal: Option<&BusinessCalendar>,
    rec: &Record,
) -> Option<Result<DateTime<Utc>, CalendarError>> {
    let r = rec.registration.as_ref()?;
    if let Some(p) = r.protected_until {
        return Some(Ok(p));
    }
    let approved = r.approved_at?;
    let reg = p.registration.as_ref()?;
    let (protect, _) = reg.protect.as_ref()?;
    let mut end = add_duration(cal, approved, protect.seconds, protect.business);
    if let Some(ext) = &reg.extend {
        let n = ext.at_most.map_or(r.extensions, |m| r.extensions.min(m));
        for _ in 0..n.min(1000) {
            end = end.and_then(|e| add_duration(cal, e, ext.by.seconds, ext.by.business));
        }
    }
    Some(end)
}

impl<'a> Facts<'a> {
    /// The facts of a record at `now`. `closing`: the action closes the deal now
    /// (close time = now). Nothing is computed until a built-in is read.
    pub fn derive(
        p: &'a ir::Policy,
        cal: Option<&'a BusinessCalendar>,
        rec: &'a Record,
        ctx: &'a Context,
        now: DateTime<Utc>,
        closing: bool,
    ) -> Facts<'a> {
        Facts {
            p,
            cal,
            rec,
            ctx,
            now,
            closing,
            approved: None,
            hist: OnceCell::new(),
            vals: Default::default(),
            partner: OnceCell::new(),
        }
    }

    /// The record's current stage (the value of `stage`).
    pub fn stage(&self) -> ir::StageId {
        self.rec.stage
    }

    fn hist(&self) -> &Hist {
        self.hist.get_or_init(|| Hist::of(self.rec))
    }

    /// The registration's effective protection end (given or computed).
    pub fn protected_until(&self) -> Option<DateTime<Utc>> {
        match self.get(Builtin::RegistrationProtectedUntil) {
            Value::DateTime(d) => Some(*d),
            _ => None,
        }
    }

    fn compute(&self, b: Builtin) -> Value {
        let now = self.now;
        let rec = self.rec;
        let reg = rec.registration.as_ref();
        let status = || reg.map(|r| r.status).unwrap_or(RegStatus::None);
        let close_time = || {
            if self.closing {
                Some(now)
            } else {
                self.hist().closed_at
            }
        };
        let submitted = || reg.and_then(|r| r.submitted_at);
        match b {
            Builtin::Stage => Value::Stage(rec.stage),
            Builtin::Probability => self
                .p
                .stage(rec.stage)
                .map(|s| Value::Pct(s.probability))
                .unwrap_or(Value::Absent),
            Builtin::StageExpected => Value::Dur(
                self.p
                    .stage(rec.stage)
                    .and_then(|s| s.expected)
                    .unwrap_or(0),
            ),
            Builtin::StageEnteredAt => opt_dt(self.hist().entered),
            Builtin::DaysInStage => self
                .hist()
                .entered
                .map(|e| secs(now, e))
                .unwrap_or(Value::Absent),
            Builtin::CloseDateChanges => Value::Int(self.hist().close_changes),
            Builtin::DaysSinceLastActivity => self
                .hist()
                .last_activity
                .map(|a| secs(now, a))
                .unwrap_or(Value::Absent),
            Builtin::Now => Value::DateTime(now),
            Builtin::Today => Value::Date(match self.cal {
                Some(c) => local_date(c.tz(), now),
                None => now.date_naive(),
            }),
            Builtin::LineItems => Value::Absent,
            Builtin::RegistrationStatus => {
                Value::Enum(EnumId::REGISTRATION_STATUS, status().index())
            }
            Builtin::RegistrationApproved => Value::Bool(status() == RegStatus::Approved),
            Builtin::Approved => Value::Bool(
                self.approved
                    .unwrap_or_else(|| status() == RegStatus::Approved),
            ),
            Builtin::RegistrationSubmittedAt => opt_dt(submitted()),
            Builtin::RegistrationApprovedAt => opt_dt(reg.and_then(|r| r.approved_at)),
            Builtin::RegistrationAge => submitted().map(|s| secs(now, s)).unwrap_or(Value::Absent),
            Builtin::RegistrationAgeAtClose => match (close_time(), submitted()) {
                (Some(c), Some(s)) => secs(c, s),
                _ => Value::Absent,
            },
            Builtin::RegistrationApprovedBeforeClose => {
                let approved = status() == RegStatus::Approved;
                let before = approved
                    && match (reg.and_then(|r| r.approved_at), close_time().or(Some(now))) {
                        (Some(a), Some(c)) => a <= c,
                        (None, _) => true,
                        _ => false,
                    };
                Value::Bool(before)
            }
            Builtin::RegistrationPartner => rec
                .registering_partner_arc()
                .filter(|_| reg.is_some())
                .map(Value::Text)
                .unwrap_or(Value::Absent),
            Builtin::RegistrationProtectedUntil => {
                opt_dt(protection_end(self.p, self.cal, rec).and_then(Result::ok))
            }
            Builtin::CosellSupported => Value::Bool(self.hist().cosell_first.is_some()),
            Builtin::CosellFirstContactAt => opt_dt(self.hist().cosell_first),
            Builtin::AccountDirectOwned => {
                let direct = rec.account.as_ref().is_some_and(|a| {
                    let (key, id) = &a.normalized;
                    self.ctx.direct_accounts.iter().any(|d| d == key || d == id)
                });
                Value::Bool(direct)
            }
        }
    }

    /// The value of a built-in (`line_items` is handled by the evaluator).
    pub fn get(&self, b: Builtin) -> &Value {
        const ABSENT: &Value = &Value::Absent;
        if b == Builtin::RegistrationPartner {
            return self.partner.get_or_init(|| self.compute(b));
        }
        match self.vals.get(b as usize) {
            Some(cell) => cell.get_or_init(|| ManuallyDrop::new(self.compute(b))),
            None => ABSENT,
        }
    }

    /// The facts as of closing now: `registration.age_at_close` and
    /// `registration.approved_before_close` use `now` as the close time.
    pub fn closing_now(&self) -> Facts<'a> {
        let mut f = Facts::derive(self.p, self.cal, self.rec, self.ctx, self.now, true);
        f.approved = self.approved;
        if let Some(h) = self.hist.get() {
            f.hist = OnceCell::from(*h);
        }
        f
    }

    /// Overrides `approved` (inside `discount when approved` during registration).
    pub fn set_approved(&mut self, approved: bool) {
        self.approved = Some(approved);
        if let Some(cell) = self.vals.get_mut(Builtin::Approved as usize) {
            cell.take();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use dealflow_dsl::SourceFile;

    use super::*;
    use crate::Policy;

    /// The cache array never drops its values, so only `registration.partner` may
    /// hold heap data (text); everything else is a plain scalar.
    #[test]
    fn only_the_registration_partner_is_text() {
        let src = include_str!("../../../policies/channel-standard.policy");
        let p = Policy::compile(&SourceFile::new("channel-standard.policy", src)).unwrap();
        let rec = p
            .parse_record_yaml(
                "id: OPP-1\nstage: Qualification\nfields: { amount: 5000 }\n\
                 partner: { id: P-1, tier: Gold }\n\
                 account: { id: A-1, domain: globex.com }\n\
                 registration: { partner_id: P-1, status: approved, \
                 submitted_at: 2026-08-05T10:00:00Z, approved_at: 2026-08-06T10:00:00Z }\n\
                 history:\n  - { at: 2026-08-01T10:00:00Z, type: created }\n\
                 \x20 - { at: 2026-10-20T10:00:00Z, type: cosell, pool: presales_engineer }\n",
            )
            .unwrap();
        let ctx = Context::default();
        let now = "2026-11-27T15:00:00Z".parse().unwrap();
        let facts = Facts::derive(p.ir(), p.calendar(), &rec, &ctx, now, true);
        assert_eq!(Builtin::ALL.len(), N);
        for b in Builtin::ALL {
            let v = facts.get(b);
            let heap = matches!(v, Value::Text(_) | Value::List(_));
            assert_eq!(heap, b == Builtin::RegistrationPartner, "{b:?}: {v:?}");
        }
        assert_eq!(facts.get(Builtin::RegistrationPartner), &Value::text("P-1"));
    }

    #[test]
    fn today_is_the_date_in_the_policy_time_zone() {
        let tz = chrono_tz::America::New_York;
        let late: DateTime<Utc> = "2026-11-28T03:00:00Z".parse().unwrap();
        let noon: DateTime<Utc> = "2026-11-28T15:00:00Z".parse().unwrap();
        // Twice each (the second answer comes from the per-thread cache).
        for _ in 0..2 {
            assert_eq!(local_date(tz, late).to_string(), "2026-11-27");
            assert_eq!(local_date(tz, noon).to_string(), "2026-11-28");
        }
        assert_eq!(local_date(chrono_tz::UTC, late).to_string(), "2026-11-28");
    }
}
