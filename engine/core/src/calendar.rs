//! Business-calendar arithmetic: adding working time in the policy's time zone,
//! skipping nights, non-working days and holidays, exact to the nanosecond.
//!
//! **The rule.** An instant is working time when its local wall-clock time in the
//! calendar's zone falls on a working day that is not a holiday and inside the working
//! hours `[start, end)`. So when the clocks go back and an hour repeats, both
//! occurrences count if they are inside the hours; when the clocks go forward, the
//! skipped local times do not exist and a window that starts in the gap starts at the
//! first valid instant after it. Adding `d` of working time to `from` gives the
//! earliest instant `t >= from` such that the working time in `[from, t)` is `d`: a
//! result that lands exactly on the close of a window stays there, and time before a
//! window counts from its opening.
//!
//! **How.** The time line is cut at the zone's offset changes. Between two changes the
//! local time is the instant plus a constant offset, so the working time in a stretch is
//! a difference of a closed-form count `F(local)` (whole weeks times the working days a
//! week, minus the holidays before that day found by binary search, plus the part of the
//! current day). An addition therefore costs one step per offset change crossed (a few
//! a year) plus one per cached chunk (below), not one per day. chrono-tz does not
//! publish its transition table, so the changes are found by sampling the offset every
//! 6 days (`STEP`) and bisecting a change to the second. This is exact because no zone
//! in the tz database changes its offset twice within 6 days: the closest pair in
//! tzdata 2025b (chrono-tz 0.10.4) is 6.96 days apart, in Brazil and Palestine; the
//! ignored test `no_zone_changes_its_offset_twice_within_a_step` checks every zone.
//! Samples are taken lazily in chunks of 256 (about 4.2 years) and cached per calendar.
//!
//! **Range.** Every instant the engine writes must be readable by its own RFC 3339
//! parser, which takes years 1 to 9999. A result outside
//! `0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999999Z` is a [`CalendarError`],
//! never a wrapped or clamped value.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use dealflow_dsl::ir;

const NS: i128 = 1_000_000_000;
const DAY_NS: i128 = 86_400 * NS;
/// Unix seconds of 0000-01-01T00:00:00Z.
const YEAR0_SECS: i64 = -62_167_219_200;
/// Unix seconds of 0001-01-01T00:00:00Z (a Monday in the proleptic Gregorian calendar).
const YEAR1_SECS: i64 = -62_135_596_800;
/// Unix seconds of 10000-01-01T00:00:00Z.
const YEAR10000_SECS: i64 = 253_402_300_800;
/// The earliest instant the engine writes (Unix nanoseconds).
const MIN_NS: i128 = YEAR1_SECS as i128 * NS;
/// The latest instant the engine writes (Unix nanoseconds).
const MAX_NS: i128 = YEAR10000_SECS as i128 * NS - 1;
/// Local day 0 (0001-01-01, a Monday) in "local as if UTC" nanoseconds.
const DAY0_NS: i128 = YEAR1_SECS as i128 * NS;

/// Offset sampling step: shorter than the closest two offset changes of any zone.
const STEP: i64 = 6 * 86_400;
/// Samples per cached chunk (about 4.2 years).
const CHUNK_STEPS: i64 = 256;
const CHUNK: i64 = STEP * CHUNK_STEPS;
/// The sampled range starts two days before year 0 and ends after year 10000.
const SCAN_FROM: i64 = YEAR0_SECS - 2 * 86_400;
const CHUNKS: usize = ((YEAR10000_SECS + 2 * 86_400 - SCAN_FROM) / CHUNK + 1) as usize;

/// Why a calendar addition has no result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("the result would be after 9999-12-31T23:59:59.999999999Z, the latest instant dealflow can write")]
    AfterLatest,
    #[error(
        "the result would be before 0001-01-01T00:00:00Z, the earliest instant dealflow can write"
    )]
    BeforeEarliest,
    #[error("the business calendar has no working time")]
    NoWorkingTime,
}

/// An offset change: `at` (Unix seconds) is the first second of the new offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Transition {
    at: i64,
}

/// A compiled business calendar.
#[derive(Clone, Debug)]
pub struct BusinessCalendar {
    tz: Tz,
    working_days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
    holidays: BTreeSet<NaiveDate>,
    /// Start and end of the working hours, nanoseconds after local midnight.
    start_ns: i128,
    end_ns: i128,
    /// Working weekdays a week; `prefix[i]`: working weekdays before weekday `i`
    /// (Monday 0); `nth[k]`: the weekday of the k-th working weekday.
    per_week: i128,
    prefix: [i128; 7],
    nth: Vec<i128>,
    /// Day indexes (days since 0001-01-01) of the holidays on working weekdays, sorted.
    holiday_days: Vec<i128>,
    /// Offset changes, found lazily per chunk of the sampled range.
    chunks: Arc<[OnceLock<Box<[Transition]>>]>,
}

fn nanos_of(t: NaiveTime) -> i128 {
    use chrono::Timelike;
    i128::from(t.num_seconds_from_midnight()) * NS + i128::from(t.nanosecond())
}

/// Unix nanoseconds of an instant.
fn to_ns(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NS + i128::from(t.timestamp_subsec_nanos())
}

/// The instant of Unix nanoseconds within the writable range.
fn instant(ns: i128) -> Result<DateTime<Utc>, CalendarError> {
    if ns > MAX_NS {
        return Err(CalendarError::AfterLatest);
    }
    if ns < MIN_NS {
        return Err(CalendarError::BeforeEarliest);
    }
    let secs = i64::try_from(ns.div_euclid(NS)).map_err(|_| CalendarError::AfterLatest)?;
    let sub = u32::try_from(ns.rem_euclid(NS)).map_err(|_| CalendarError::AfterLatest)?;
    DateTime::from_timestamp(secs, sub).ok_or(CalendarError::AfterLatest)
}

/// Whether the engine can write `t` in a form its own parser reads back (years 1..=9999).
pub fn in_range(t: DateTime<Utc>) -> bool {
    (MIN_NS..=MAX_NS).contains(&to_ns(t))
}

/// `t`, or the error saying on which side of the writable range it lies.
pub fn check_range(t: DateTime<Utc>) -> Result<DateTime<Utc>, CalendarError> {
    instant(to_ns(t))
}

impl BusinessCalendar {
    /// Builds the calendar from the IR; `None` when the time zone is unknown.
    pub fn from_ir(c: &ir::Calendar) -> Option<Self> {
        let tz: Tz = c.timezone.parse().ok()?;
        let mut prefix = [0i128; 7];
        let mut nth = Vec::new();
        let mut count = 0i128;
        for (i, on) in c.working_days.iter().enumerate() {
            if let Some(p) = prefix.get_mut(i) {
                *p = count;
            }
            if *on {
                nth.push(i as i128);
                count += 1;
            }
        }
        let holidays: BTreeSet<NaiveDate> = c.holidays.iter().copied().collect();
        let holiday_days = holidays
            .iter()
            .filter(|d| {
                let wd = d.weekday().num_days_from_monday() as usize;
                c.working_days.get(wd).copied().unwrap_or(false)
            })
            .map(|d| i128::from(d.num_days_from_ce()) - 1)
            .collect();
        Some(Self {
            tz,
            working_days: c.working_days,
            start: c.start,
            end: c.end,
            holidays,
            start_ns: nanos_of(c.start),
            end_ns: nanos_of(c.end),
            per_week: count,
            prefix,
            nth,
            holiday_days,
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
        })
    }

    /// The calendar's time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The working hours, `[start, end)` local time.
    pub fn hours(&self) -> (NaiveTime, NaiveTime) {
        (self.start, self.end)
    }

    /// Whether `d` is a working day (a working weekday that is not a holiday).
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        let wd = d.weekday().num_days_from_monday() as usize;
        self.working_days.get(wd).copied().unwrap_or(false) && !self.holidays.contains(&d)
    }

    /// UTC offset in seconds at Unix second `secs`.
    fn offset_at(&self, secs: i64) -> i64 {
        DateTime::from_timestamp(secs, 0).map_or(0, |t| {
            let naive: NaiveDateTime = t.naive_utc();
            i64::from(
                self.tz
                    .offset_from_utc_datetime(&naive)
                    .fix()
                    .local_minus_utc(),
            )
        })
    }

    /// The offset changes in `(start, start + CHUNK]` of chunk `k`.
    fn scan(&self, k: usize) -> Box<[Transition]> {
        let start = SCAN_FROM + CHUNK * k as i64;
        let mut out = Vec::new();
        let mut a = start;
        let mut oa = self.offset_at(a);
        for i in 1..=CHUNK_STEPS {
            let b = start + STEP * i;
            let ob = self.offset_at(b);
            // At most one change per step in the tz database; the loop also copes with
            // more by finding them one after another.
            while oa != ob && a < b {
                let (mut lo, mut hi) = (a, b);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if self.offset_at(mid) == oa {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                out.push(Transition { at: hi });
                a = hi;
                oa = self.offset_at(hi);
            }
            a = b;
            oa = ob;
        }
        out.into_boxed_slice()
    }

    /// The end of the stretch of constant offset that contains Unix second `secs`:
    /// the next offset change, or a chunk boundary (where the offset may not change
    /// at all); `None` after the sampled range.
    fn stretch_end(&self, secs: i64) -> Option<i64> {
        if secs < SCAN_FROM {
            return Some(SCAN_FROM);
        }
        // Chunk k holds the changes in (start_k, start_k + CHUNK].
        let k = usize::try_from((secs - SCAN_FROM) / CHUNK).ok()?;
        let chunk_end = SCAN_FROM + CHUNK * (k as i64 + 1);
        let list = self.chunks.get(k)?.get_or_init(|| self.scan(k));
        let i = list.partition_point(|t| t.at <= secs);
        Some(list.get(i).map_or(chunk_end, |t| t.at))
    }

    /// Working days among local days `[0, n)` (day 0 = 0001-01-01), holidays excluded.
    fn working_days_before(&self, n: i128) -> i128 {
        let weeks = n.div_euclid(7);
        let wd = n.rem_euclid(7) as usize;
        let pattern = weeks * self.per_week + self.prefix.get(wd).copied().unwrap_or(0);
        pattern - self.holidays_before(n)
    }

    fn holidays_before(&self, n: i128) -> i128 {
        self.holiday_days.partition_point(|h| *h < n) as i128
    }

    fn is_working_index(&self, n: i128) -> bool {
        let wd = n.rem_euclid(7) as usize;
        self.working_days.get(wd).copied().unwrap_or(false)
            && self.holiday_days.binary_search(&n).is_err()
    }

    /// Working time (ns) from local day 0 to the local time `x` ("local as if UTC" ns).
    fn work_before(&self, x: i128) -> i128 {
        let rel = x - DAY0_NS;
        let n = rel.div_euclid(DAY_NS);
        let tod = rel.rem_euclid(DAY_NS);
        let part = if self.is_working_index(n) {
            tod.clamp(self.start_ns, self.end_ns) - self.start_ns
        } else {
            0
        };
        self.working_days_before(n) * (self.end_ns - self.start_ns) + part
    }

    /// The day index of the working day `m` (0 = the first working day on or after
    /// day 0; negative before it).
    fn nth_working_day(&self, m: i128) -> i128 {
        let pattern_nth = |j: i128| {
            let q = m + j;
            let week = q.div_euclid(self.per_week);
            let pos = q.rem_euclid(self.per_week) as usize;
            week * 7 + self.nth.get(pos).copied().unwrap_or(0)
        };
        // Find j, the number of holidays before the answer: the answer is the
        // (m + j)-th pattern day and is not a holiday. `before >= j` throughout and j
        // only grows, so this ends after at most one round per holiday.
        let mut j = 0i128;
        loop {
            let n = pattern_nth(j);
            let before = self.holidays_before(n);
            if before > j {
                j = before;
            } else if self.holiday_days.binary_search(&n).is_ok() {
                j += 1;
            } else {
                return n;
            }
        }
    }

    /// The earliest local time `x` with `work_before(x) == target`.
    fn local_at(&self, target: i128) -> i128 {
        let h = self.end_ns - self.start_ns;
        let k = target.div_euclid(h);
        let rem = target.rem_euclid(h);
        if rem == 0 {
            // Exactly a whole number of working days: the close of the last one.
            DAY0_NS + self.nth_working_day(k - 1) * DAY_NS + self.end_ns
        } else {
            DAY0_NS + self.nth_working_day(k) * DAY_NS + self.start_ns + rem
        }
    }

    /// `from` plus `seconds` of working time (see the module documentation).
    pub fn add(&self, from: DateTime<Utc>, seconds: i64) -> Result<DateTime<Utc>, CalendarError> {
        self.add_nanos(from, i128::from(seconds) * NS)
    }

    /// `from` plus `nanos` of working time; nothing to add gives `from`.
    pub fn add_nanos(
        &self,
        from: DateTime<Utc>,
        nanos: i128,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let from_ns = to_ns(from);
        if nanos <= 0 {
            return instant(from_ns);
        }
        if self.per_week == 0 || self.end_ns <= self.start_ns {
            return Err(CalendarError::NoWorkingTime);
        }
        // Working time never runs faster than real time.
        if nanos > MAX_NS - from_ns {
            return Err(CalendarError::AfterLatest);
        }
        let mut t = from_ns;
        let mut left = nanos;
        loop {
            let secs = i64::try_from(t.div_euclid(NS)).map_err(|_| CalendarError::AfterLatest)?;
            let off = i128::from(self.offset_at(secs)) * NS;
            let local = t + off;
            let end = self.stretch_end(secs).map(|e| i128::from(e) * NS);
            let base = self.work_before(local);
            let have = end.map(|e| self.work_before(e + off) - base);
            match (end, have) {
                (Some(e), Some(have)) if have < left => {
                    left -= have;
                    if e > MAX_NS {
                        return Err(CalendarError::AfterLatest);
                    }
                    t = e;
                }
                _ => return instant(self.local_at(base + left) - off),
            }
        }
    }
}

/// An instant for a message: RFC 3339, or where it lies when it cannot be written.
pub fn instant_text(t: &Result<DateTime<Utc>, CalendarError>) -> String {
    match t {
        Ok(t) => crate::value::rfc3339(*t),
        Err(CalendarError::BeforeEarliest) => "before 0001-01-01T00:00:00Z".into(),
        Err(_) => "after 9999-12-31T23:59:59.999999999Z".into(),
    }
}

/// The UTC date of an instant for a message, or where it lies when it cannot be written.
pub fn date_text(t: &Result<DateTime<Utc>, CalendarError>) -> String {
    match t {
        Ok(t) => t.date_naive().to_string(),
        Err(CalendarError::BeforeEarliest) => "before 0001-01-01".into(),
        Err(_) => "after 9999-12-31".into(),
    }
}

/// Adds a duration that is either calendar time or business time (business time
/// without a calendar counts as calendar time; the checker forbids that case). The
/// result is within the writable range or an error.
pub fn add_duration(
    cal: Option<&BusinessCalendar>,
    from: DateTime<Utc>,
    seconds: i64,
    business: bool,
) -> Result<DateTime<Utc>, CalendarError> {
    match (business, cal) {
        (true, Some(c)) => c.add(from, seconds),
        _ => instant(to_ns(from) + i128::from(seconds) * NS),
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
    fn day_zero_is_a_monday() {
        let d = NaiveDate::from_ymd_opt(1, 1, 1).unwrap();
        assert_eq!(d.weekday(), chrono::Weekday::Mon);
        assert_eq!(d.num_days_from_ce(), 1);
        let start = d.and_hms_opt(0, 0, 0).unwrap().and_utc();
        assert_eq!(start.timestamp(), YEAR1_SECS);
        let y0 = NaiveDate::from_ymd_opt(0, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(y0.and_utc().timestamp(), YEAR0_SECS);
        let y10k = NaiveDate::from_ymd_opt(10000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(y10k.and_utc().timestamp(), YEAR10000_SECS);
    }

    #[test]
    fn within_one_day() {
        let c = cal("America/New_York", &[]);
        // Mon 2026-11-02 10:00 EST = 15:00Z; +4h -> 14:00 EST = 19:00Z
        assert_eq!(
            c.add(t("2026-11-02T15:00:00Z"), 4 * H),
            Ok(t("2026-11-02T19:00:00Z"))
        );
    }

    #[test]
    fn skips_nights_and_weekends() {
        let c = cal("America/New_York", &[]);
        // Fri 2026-11-06 15:00 EST (20:00Z) + 24 business hours:
        // 2h Fri, 8h Mon, 8h Tue, 6h Wed -> Wed 15:00 EST = 20:00Z
        assert_eq!(
            c.add(t("2026-11-06T20:00:00Z"), 24 * H),
            Ok(t("2026-11-11T20:00:00Z"))
        );
    }

    #[test]
    fn starts_counting_at_opening_when_submitted_at_night() {
        let c = cal("America/New_York", &[]);
        // Sat 2026-11-07 03:00Z -> Mon 09:00 EST (14:00Z) + 1h
        assert_eq!(
            c.add(t("2026-11-07T03:00:00Z"), H),
            Ok(t("2026-11-09T15:00:00Z"))
        );
    }

    #[test]
    fn skips_holidays() {
        let c = cal("America/New_York", &["2026-11-26"]);
        // Wed 2026-11-25 16:00 EST (21:00Z) + 2h: 1h Wed, Thu holiday, 1h Fri -> Fri 10:00 EST
        assert_eq!(
            c.add(t("2026-11-25T21:00:00Z"), 2 * H),
            Ok(t("2026-11-27T15:00:00Z"))
        );
    }

    #[test]
    fn follows_daylight_saving_changes() {
        let c = cal("America/New_York", &[]);
        // Fri 2026-10-30 16:00 EDT (20:00Z) + 2h: 1h Fri, then Mon 2026-11-02 after the
        // switch to EST: 10:00 EST = 15:00Z
        assert_eq!(
            c.add(t("2026-10-30T20:00:00Z"), 2 * H),
            Ok(t("2026-11-02T15:00:00Z"))
        );
    }

    #[test]
    fn uses_the_policy_time_zone() {
        let c = cal("Europe/Berlin", &[]);
        // Mon 2026-06-01 08:00Z = 10:00 CEST; +8h -> 1h left Tue: 10:00 CEST = 08:00Z
        assert_eq!(
            c.add(t("2026-06-01T08:00:00Z"), 8 * H),
            Ok(t("2026-06-02T08:00:00Z"))
        );
    }

    #[test]
    fn ending_exactly_at_close_stays_on_that_day() {
        let c = cal("UTC", &[]);
        assert_eq!(
            c.add(t("2026-06-01T09:00:00Z"), 8 * H),
            Ok(t("2026-06-01T17:00:00Z"))
        );
    }

    #[test]
    fn calendar_durations_ignore_the_calendar() {
        let c = cal("UTC", &[]);
        let from = t("2026-06-06T12:00:00Z");
        assert_eq!(
            add_duration(Some(&c), from, 24 * H, false),
            Ok(t("2026-06-07T12:00:00Z"))
        );
        assert_eq!(
            add_duration(Some(&c), from, H, true),
            Ok(t("2026-06-08T10:00:00Z"))
        );
    }

    /// The sampling assumption (at most one offset change per [`STEP`]) for every zone:
    /// between two changes found by the scan, the offset sampled twice a day matches.
    /// Slow (all ~600 zones, 1800-2110); run with `--ignored` after a chrono-tz update.
    #[test]
    #[ignore = "slow: checks the whole tz database"]
    fn no_zone_changes_its_offset_twice_within_a_step() {
        let from = t("1800-01-01T00:00:00Z").timestamp();
        let to = t("2110-01-01T00:00:00Z").timestamp();
        for tz in chrono_tz::TZ_VARIANTS {
            let c = cal(tz.name(), &[]);
            let mut start = from;
            let mut end = c.stretch_end(start).unwrap();
            let mut want = c.offset_at(start);
            let mut s = from;
            while s < to {
                while s >= end {
                    start = end;
                    end = c.stretch_end(start).unwrap();
                    want = c.offset_at(start);
                }
                assert_eq!(
                    c.offset_at(s),
                    want,
                    "{} at {s} (stretch from {start})",
                    tz.name()
                );
                s += 43_200;
            }
        }
    }

    #[test]
    fn finds_the_offset_changes_to_the_second() {
        let c = cal("America/New_York", &[]);
        // 2026-03-08 07:00:00Z (02:00 EST -> 03:00 EDT) and 2026-11-01 06:00:00Z.
        let spring = t("2026-03-08T07:00:00Z").timestamp();
        let fall = t("2026-11-01T06:00:00Z").timestamp();
        assert_eq!(c.stretch_end(spring - 1), Some(spring));
        let after = c.stretch_end(spring).unwrap();
        assert!(after <= fall, "{after}");
        let mut s = spring;
        while s < fall {
            s = c.stretch_end(s).unwrap();
        }
        assert_eq!(s, fall);
    }
}
