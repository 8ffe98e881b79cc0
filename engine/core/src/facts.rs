//! Facts derived from a record's history and the context: the values of the
//! language's built-ins (`days_in_stage`, `registration.age`, `cosell.supported`...).

use chrono::{DateTime, Utc};
use dealflow_dsl::ir::{self, Builtin, EnumId};

use crate::calendar::{add_duration, BusinessCalendar};
use crate::record::{Context, EventKind, Record, RegStatus};
use crate::value::Value;

/// Number of built-ins (array size).
const N: usize = 23;

/// Built-in values for one record at one instant.
#[derive(Clone, Debug)]
pub struct Facts {
    vals: [Value; N],
    /// The registration's effective protection end (given or computed).
    pub protected_until: Option<DateTime<Utc>>,
}

fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> Value {
    Value::Dur((a - b).num_seconds())
}

fn opt_dt(d: Option<DateTime<Utc>>) -> Value {
    d.map(Value::DateTime).unwrap_or(Value::Absent)
}

/// When the registration's protection ends: the given value, or approval time plus
/// the policy's protection window plus granted extensions.
pub fn protection_end(
    p: &ir::Policy,
    cal: Option<&BusinessCalendar>,
    rec: &Record,
) -> Option<DateTime<Utc>> {
    let r = rec.registration.as_ref()?;
    if let Some(p) = r.protected_until {
        return Some(p);
    }
    let approved = r.approved_at?;
    let reg = p.registration.as_ref()?;
    let (protect, _) = reg.protect.as_ref()?;
    let mut end = add_duration(cal, approved, protect.seconds, protect.business);
    if let Some(ext) = &reg.extend {
        let n = ext.at_most.map_or(r.extensions, |m| r.extensions.min(m));
        for _ in 0..n.min(1000) {
            end = add_duration(cal, end, ext.by.seconds, ext.by.business);
        }
    }
    Some(end)
}

impl Facts {
    /// Derives the facts. `closing`: the action closes the deal now (close time = now).
    pub fn derive(
        p: &ir::Policy,
        cal: Option<&BusinessCalendar>,
        rec: &Record,
        ctx: &Context,
        now: DateTime<Utc>,
        closing: bool,
    ) -> Facts {
        let mut f = Facts {
            vals: std::array::from_fn(|_| Value::Absent),
            protected_until: None,
        };
        let stage = p.stage(rec.stage);
        f.set(Builtin::Stage, Value::Stage(rec.stage));
        f.set(
            Builtin::Probability,
            stage
                .map(|s| Value::Pct(s.probability))
                .unwrap_or(Value::Absent),
        );
        f.set(
            Builtin::StageExpected,
            Value::Dur(stage.and_then(|s| s.expected).unwrap_or(0)),
        );
        let mut entered = None;
        let mut created = None;
        let mut close_changes = 0i64;
        let mut last_activity = None;
        let mut cosell_first = None;
        let mut closed_at = None;
        for e in &rec.history {
            match &e.kind {
                EventKind::Created => created = created.or(Some(e.at)),
                EventKind::StageChange { to, .. } if *to == rec.stage => entered = Some(e.at),
                EventKind::StageChange { .. } => {}
                EventKind::CloseDateChange => close_changes += 1,
                EventKind::Activity => last_activity = Some(e.at),
                EventKind::Cosell { .. } => {
                    cosell_first = cosell_first.or(Some(e.at));
                    last_activity = Some(e.at);
                }
                EventKind::Closed { .. } => closed_at = Some(e.at),
            }
        }
        let entered = entered.or(created);
        f.set(Builtin::StageEnteredAt, opt_dt(entered));
        f.set(
            Builtin::DaysInStage,
            entered.map(|e| secs(now, e)).unwrap_or(Value::Absent),
        );
        f.set(Builtin::CloseDateChanges, Value::Int(close_changes));
        f.set(
            Builtin::DaysSinceLastActivity,
            last_activity.map(|a| secs(now, a)).unwrap_or(Value::Absent),
        );
        f.set(Builtin::Now, Value::DateTime(now));
        let today = match cal {
            Some(c) => now.with_timezone(&c.tz()).date_naive(),
            None => now.date_naive(),
        };
        f.set(Builtin::Today, Value::Date(today));
        let close_time = if closing { Some(now) } else { closed_at };
        let reg = rec.registration.as_ref();
        let status = reg.map(|r| r.status).unwrap_or(RegStatus::None);
        f.set(
            Builtin::RegistrationStatus,
            Value::Enum(EnumId::REGISTRATION_STATUS, status.index()),
        );
        let approved = status == RegStatus::Approved;
        f.set(Builtin::RegistrationApproved, Value::Bool(approved));
        f.set(Builtin::Approved, Value::Bool(approved));
        let submitted = reg.and_then(|r| r.submitted_at);
        let approved_at = reg.and_then(|r| r.approved_at);
        f.set(Builtin::RegistrationSubmittedAt, opt_dt(submitted));
        f.set(Builtin::RegistrationApprovedAt, opt_dt(approved_at));
        f.set(
            Builtin::RegistrationAge,
            submitted.map(|s| secs(now, s)).unwrap_or(Value::Absent),
        );
        f.set(
            Builtin::RegistrationAgeAtClose,
            match (close_time, submitted) {
                (Some(c), Some(s)) => secs(c, s),
                _ => Value::Absent,
            },
        );
        let before_close = approved
            && match (approved_at, close_time.or(Some(now))) {
                (Some(a), Some(c)) => a <= c,
                (None, _) => true,
                _ => false,
            };
        f.set(
            Builtin::RegistrationApprovedBeforeClose,
            Value::Bool(before_close),
        );
        f.set(
            Builtin::RegistrationPartner,
            rec.registering_partner_arc()
                .filter(|_| reg.is_some())
                .map(Value::Text)
                .unwrap_or(Value::Absent),
        );
        f.protected_until = protection_end(p, cal, rec);
        f.set(
            Builtin::RegistrationProtectedUntil,
            opt_dt(f.protected_until),
        );
        f.set(
            Builtin::CosellSupported,
            Value::Bool(cosell_first.is_some()),
        );
        f.set(Builtin::CosellFirstContactAt, opt_dt(cosell_first));
        let direct = rec.account.as_ref().is_some_and(|a| {
            let (key, id) = &a.normalized;
            ctx.direct_accounts.iter().any(|d| d == key || d == id)
        });
        f.set(Builtin::AccountDirectOwned, Value::Bool(direct));
        f
    }

    fn set(&mut self, b: Builtin, v: Value) {
        if let Some(c) = self.vals.get_mut(b as usize) {
            *c = v;
        }
    }

    /// The value of a built-in (`line_items` is handled by the evaluator).
    pub fn get(&self, b: Builtin) -> &Value {
        const ABSENT: &Value = &Value::Absent;
        self.vals.get(b as usize).unwrap_or(ABSENT)
    }

    /// The facts as of closing now: `registration.age_at_close` and
    /// `registration.approved_before_close` use `now` as the close time.
    pub fn closing_now(&self) -> Facts {
        let mut f = self.clone();
        let now = match self.get(Builtin::Now) {
            Value::DateTime(n) => *n,
            _ => return f,
        };
        let submitted = match self.get(Builtin::RegistrationSubmittedAt) {
            Value::DateTime(s) => Some(*s),
            _ => None,
        };
        f.set(
            Builtin::RegistrationAgeAtClose,
            submitted.map(|s| secs(now, s)).unwrap_or(Value::Absent),
        );
        let approved = self.get(Builtin::RegistrationApproved).truthy();
        let before = approved
            && match self.get(Builtin::RegistrationApprovedAt) {
                Value::DateTime(a) => *a <= now,
                _ => true,
            };
        f.set(
            Builtin::RegistrationApprovedBeforeClose,
            Value::Bool(before),
        );
        f
    }

    /// Overrides `approved` (inside `discount when approved` during registration).
    pub fn set_approved(&mut self, approved: bool) {
        self.set(Builtin::Approved, Value::Bool(approved));
    }
}
