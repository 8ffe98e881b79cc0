//! The simulated clock: the policy's business calendar (America/New_York, Mon-Fri
//! 09:00-17:00, US federal holidays), the run's window, and instants in it. No wall
//! clock is read here.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use dealflow_engine::BusinessCalendar;

/// The first simulated day (a Monday): the policy is published and the partners and
/// accounts are loaded before business opens.
pub const START: (i32, u32, u32) = (2026, 6, 1);
/// The last simulated day (a Monday).
pub const END: (i32, u32, u32) = (2026, 11, 30);
/// The quarter the summary is about; the weeks before it build the pipeline up.
pub const QUARTER_START: (i32, u32, u32) = (2026, 9, 1);
/// New deals stop being opened this many days before the end.
const CUTOFF_DAYS: u64 = 21;

pub struct Clock<'a> {
    cal: &'a BusinessCalendar,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub quarter_start: NaiveDate,
}

fn ymd((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

impl<'a> Clock<'a> {
    pub fn new(cal: &'a BusinessCalendar) -> Clock<'a> {
        Clock {
            cal,
            start: ymd(START),
            end: ymd(END),
            quarter_start: ymd(QUARTER_START),
        }
    }

    /// `day` at `minute` minutes past local midnight, in UTC (the start of the window
    /// when no day is given or the local time does not exist).
    pub fn at_local(&self, day: Option<NaiveDate>, minute: u32) -> DateTime<Utc> {
        let day = day.unwrap_or(self.start);
        let naive = day.and_hms_opt(minute / 60 % 24, minute % 60, 0);
        naive
            .and_then(|n| self.cal.tz().from_local_datetime(&n).earliest())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    /// The local calendar date of an instant.
    pub fn date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.cal.tz()).date_naive()
    }

    /// The instant `minutes` business minutes after `from` (on the policy calendar).
    pub fn after_business_minutes(&self, from: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
        let secs = minutes.saturating_mul(60);
        self.cal.add(from, secs).unwrap_or_else(|_| {
            from.checked_add_signed(Duration::seconds(secs))
                .unwrap_or(from)
        })
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        self.cal.is_working_day(d)
    }

    /// Every day of the window, first to last.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.start.iter_days().take_while(|d| *d <= self.end)
    }

    /// Business days on which new deals may be opened.
    pub fn working_days_until_cutoff(&self) -> Vec<NaiveDate> {
        let cutoff = self
            .end
            .checked_sub_days(chrono::Days::new(CUTOFF_DAYS))
            .unwrap_or(self.end);
        self.days()
            .filter(|d| *d <= cutoff && self.is_working_day(*d))
            .collect()
    }

    /// Mon-Fri (holidays included: the clock ticks, the calendar decides what counts).
    pub fn is_weekday(d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// Past the last simulated day (local midnight after `end`).
    pub fn horizon(&self) -> DateTime<Utc> {
        let next = self.end.succ_opt().unwrap_or(self.end);
        self.at_local(Some(next), 0)
    }
}
