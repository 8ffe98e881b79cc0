//! Business-calendar arithmetic: adding working time in the policy's time zone,
//! skipping nights, non-working days and holidays. Daylight-saving changes are
//! handled by resolving each day's working window in local time.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use dealflow_dsl::ir;

/// Upper bound on the days scanned by one addition (keeps evaluation total).
const MAX_DAYS: u32 = 20_000;

/// A compiled business calendar.
#[derive(Clone, Debug)]
pub struct BusinessCalendar {
    tz: Tz,
    working_days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
    holidays: BTreeSet<NaiveDate>,
}

impl BusinessCalendar {
    /// Builds the calendar from the IR; `None` when the time zone is unknown.
    pub fn from_ir(c: &ir::Calendar) -> Option<Self> {
        let tz: Tz = c.timezone.parse().ok()?;
        Some(Self {
            tz,
            working_days: c.working_days,
            start: c.start,
            end: c.end,
            holidays: c.holidays.iter().copied().collect(),
        })
    }

    /// The calendar's time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Whether `d` is a working day (a working weekday that is not a holiday).
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        let wd = d.weekday().num_days_from_monday() as usize;
        self.working_days.get(wd).copied().unwrap_or(false) && !self.holidays.contains(&d)
    }

    fn local(&self, d: NaiveDate, t: NaiveTime) -> Option<DateTime<Utc>> {
        let naive = NaiveDateTime::new(d, t);
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(x) => Some(x.with_timezone(&Utc)),
            LocalResult::Ambiguous(x, _) => Some(x.with_timezone(&Utc)),
            // In a DST gap: the first valid instant after it.
            LocalResult::None => {
                let later = naive.checked_add_signed(TimeDelta::hours(1))?;
                self.tz
                    .from_local_datetime(&later)
                    .earliest()
                    .map(|x| x.with_timezone(&Utc))
            }
        }
    }

    /// The working window of a day in UTC, if it is a working day.
    pub fn window(&self, d: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_working_day(d) {
            return None;
        }
        let s = self.local(d, self.start)?;
        let e = self.local(d, self.end)?;
        (s < e).then_some((s, e))
    }

    /// `from` plus `seconds` of working time. Time before the first window counts
    /// from its start; a result that lands exactly on a window's end stays there.
    pub fn add(&self, from: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
        if seconds <= 0 || self.start >= self.end {
            return from;
        }
        let mut remaining = seconds;
        let mut day = from.with_timezone(&self.tz).date_naive();
        for _ in 0..MAX_DAYS {
            if let Some((ws, we)) = self.window(day) {
                let s = from.max(ws);
                if s < we {
                    let avail = (we - s).num_seconds();
                    if remaining <= avail {
                        return s + TimeDelta::seconds(remaining);
                    }
                    remaining -= avail;
                }
            }
            match day.succ_opt() {
                Some(n) => day = n,
                None => break,
            }
        }
        from.checked_add_signed(TimeDelta::try_seconds(seconds).unwrap_or(TimeDelta::MAX))
            .unwrap_or(from)
    }
}

/// Adds a duration that is either calendar time or business time (business time
/// without a calendar counts as calendar time; the checker forbids that case).
pub fn add_duration(
    cal: Option<&BusinessCalendar>,
    from: DateTime<Utc>,
    seconds: i64,
    business: bool,
) -> DateTime<Utc> {
    match (business, cal) {
        (true, Some(c)) => c.add(from, seconds),
        _ => TimeDelta::try_seconds(seconds)
            .and_then(|d| from.checked_add_signed(d))
            .unwrap_or(from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(tz: &str, holidays: &[&str]) -> BusinessCalendar {
        let c = ir::Calendar {
            name: "business".into(),
            timezone: tz.into(),
            working_days: [true, true, true, true, true, false, false],
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            holidays: holidays.iter().map(|h| h.parse().unwrap()).collect(),
            span: 0..0,
        };
        BusinessCalendar::from_ir(&c).unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const H: i64 = 3600;

    #[test]
    fn within_one_day() {
        let c = cal("America/New_York", &[]);
        // Mon 2026-11-02 10:00 EST = 15:00Z; +4h -> 14:00 EST = 19:00Z
        assert_eq!(
            c.add(t("2026-11-02T15:00:00Z"), 4 * H),
            t("2026-11-02T19:00:00Z")
        );
    }

    #[test]
    fn skips_nights_and_weekends() {
        let c = cal("America/New_York", &[]);
        // Fri 2026-11-06 15:00 EST (20:00Z) + 24 business hours:
        // 2h Fri, 8h Mon, 8h Tue, 6h Wed -> Wed 15:00 EST = 20:00Z
        assert_eq!(
            c.add(t("2026-11-06T20:00:00Z"), 24 * H),
            t("2026-11-11T20:00:00Z")
        );
    }

    #[test]
    fn starts_counting_at_opening_when_submitted_at_night() {
        let c = cal("America/New_York", &[]);
        // Sat 2026-11-07 03:00Z -> Mon 09:00 EST (14:00Z) + 1h
        assert_eq!(
            c.add(t("2026-11-07T03:00:00Z"), H),
            t("2026-11-09T15:00:00Z")
        );
    }

    #[test]
    fn skips_holidays() {
        let c = cal("America/New_York", &["2026-11-26"]);
        // Wed 2026-11-25 16:00 EST (21:00Z) + 2h: 1h Wed, Thu holiday, 1h Fri -> Fri 10:00 EST
        assert_eq!(
            c.add(t("2026-11-25T21:00:00Z"), 2 * H),
            t("2026-11-27T15:00:00Z")
        );
    }

    #[test]
    fn follows_daylight_saving_changes() {
        let c = cal("America/New_York", &[]);
        // Fri 2026-10-30 16:00 EDT (20:00Z) + 2h: 1h Fri, then Mon 2026-11-02 after the
        // switch to EST: 10:00 EST = 15:00Z
        assert_eq!(
            c.add(t("2026-10-30T20:00:00Z"), 2 * H),
            t("2026-11-02T15:00:00Z")
        );
    }

    #[test]
    fn uses_the_policy_time_zone() {
        let c = cal("Europe/Berlin", &[]);
        // Mon 2026-06-01 08:00Z = 10:00 CEST; +8h -> 1h left Tue: 10:00 CEST = 08:00Z
        assert_eq!(
            c.add(t("2026-06-01T08:00:00Z"), 8 * H),
            t("2026-06-02T08:00:00Z")
        );
    }

    #[test]
    fn ending_exactly_at_close_stays_on_that_day() {
        let c = cal("UTC", &[]);
        assert_eq!(
            c.add(t("2026-06-01T09:00:00Z"), 8 * H),
            t("2026-06-01T17:00:00Z")
        );
    }

    #[test]
    fn calendar_durations_ignore_the_calendar() {
        let c = cal("UTC", &[]);
        let from = t("2026-06-06T12:00:00Z");
        assert_eq!(
            add_duration(Some(&c), from, 24 * H, false),
            t("2026-06-07T12:00:00Z")
        );
        assert_eq!(
            add_duration(Some(&c), from, H, true),
            t("2026-06-08T10:00:00Z")
        );
    }
}
