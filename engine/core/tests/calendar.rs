//! Business-calendar arithmetic against a plain minute-by-minute reference, plus one
//! regression test per class of bug once found: sub-second drift, working-hour bounds
//! in a daylight-saving gap or repeated hour, results past year 9999, and huge
//! durations.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use dealflow_dsl::{ir, SourceFile};
use dealflow_engine::calendar::{add_duration, in_range, BusinessCalendar, CalendarError};
use dealflow_engine::{Action, Audience, Context, Decision, Policy};
use proptest::prelude::*;

const NS: i128 = 1_000_000_000;

/// Zones of the reference policies, zones with daylight saving on both hemispheres,
/// odd offsets and DST steps, and zones without DST.
const ZONES: &[&str] = &[
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Europe/Dublin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "UTC",
];

#[derive(Clone, Debug)]
struct Spec {
    tz: &'static str,
    days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
    holidays: Vec<NaiveDate>,
}

impl Spec {
    fn calendar(&self) -> BusinessCalendar {
        BusinessCalendar::from_ir(&ir::Calendar {
            name: "business".into(),
            timezone: self.tz.into(),
            working_days: self.days,
            start: self.start,
            end: self.end,
            holidays: self.holidays.clone(),
            span: 0..0,
        })
        .unwrap()
    }
}

fn ns_of(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NS + i128::from(t.timestamp_subsec_nanos())
}

fn at_ns(ns: i128) -> DateTime<Utc> {
    DateTime::from_timestamp(
        i64::try_from(ns.div_euclid(NS)).unwrap(),
        u32::try_from(ns.rem_euclid(NS)).unwrap(),
    )
    .unwrap()
}

/// The reference: walks the time line one UTC minute at a time and asks, for each
/// minute, whether its local wall-clock time is working time. Exact when offsets,
/// offset changes and working hours are whole minutes (true for the zones and years
/// drawn here; the generator checks the offsets).
fn reference_add(spec: &Spec, from: DateTime<Utc>, nanos: i128) -> DateTime<Utc> {
    let tz: Tz = spec.tz.parse().unwrap();
    let holidays: BTreeSet<NaiveDate> = spec.holidays.iter().copied().collect();
    let working = |minute: i64| {
        let t = DateTime::from_timestamp(minute * 60, 0).unwrap();
        let local = tz.from_utc_datetime(&t.naive_utc()).naive_local();
        let wd = local.weekday().num_days_from_monday() as usize;
        spec.days[wd]
            && !holidays.contains(&local.date())
            && local.time() >= spec.start
            && local.time() < spec.end
    };
    if nanos <= 0 {
        return from;
    }
    let mut left = nanos;
    let mut t = ns_of(from);
    let mut minute = i64::try_from(t.div_euclid(60 * NS)).unwrap();
    loop {
        let minute_end = i128::from(minute + 1) * 60 * NS;
        if working(minute) {
            let avail = minute_end - t;
            if left <= avail {
                return at_ns(t + left);
            }
            left -= avail;
        }
        t = minute_end;
        minute += 1;
    }
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

/// Working hours, often with a bound in the small hours where clocks change.
fn hours() -> impl Strategy<Value = (NaiveTime, NaiveTime)> {
    let bound = prop_oneof![
        3 => (0u32..24, 0u32..60).prop_map(|(h, m)| h * 60 + m),
        2 => prop::sample::select(vec![0u32, 30, 60, 90, 120, 150, 165, 180, 210, 240]),
    ];
    (bound.clone(), bound).prop_filter_map("start before end", |(a, b)| {
        let (s, e) = (a.min(b), a.max(b));
        (s < e).then(|| (hm(s / 60, s % 60), hm(e / 60, e % 60)))
    })
}

fn days() -> impl Strategy<Value = [bool; 7]> {
    prop_oneof![
        Just([true, true, true, true, true, false, false]),
        Just([true; 7]),
        prop::array::uniform7(any::<bool>()).prop_filter("a working day", |d| d.contains(&true)),
    ]
}

/// An instant near a daylight-saving change on either hemisphere (months 2-4 and
/// 9-11), with a random fraction of a second.
fn from_in(years: std::ops::Range<i32>) -> impl Strategy<Value = DateTime<Utc>> {
    (
        years,
        prop::sample::select(vec![2u32, 3, 3, 4, 9, 10, 10, 11]),
        1u32..=28,
        0i64..86_400,
        prop_oneof![Just(0u32), 0u32..1_000_000_000],
    )
        .prop_map(|(y, mo, d, s, ns)| {
            let day = NaiveDate::from_ymd_opt(y, mo, d).unwrap();
            let t = day.and_hms_opt(0, 0, 0).unwrap().and_utc() + TimeDelta::seconds(s);
            t.with_nanosecond(ns).unwrap()
        })
}

fn spec_and_from(years: std::ops::Range<i32>) -> impl Strategy<Value = (Spec, DateTime<Utc>)> {
    (
        prop::sample::select(ZONES.to_vec()),
        days(),
        hours(),
        from_in(years),
        prop::collection::vec(0i64..40, 0..6),
    )
        .prop_map(|(tz, days, (start, end), from, hol)| {
            let base = from.date_naive();
            let holidays = hol.iter().map(|d| base + TimeDelta::days(*d)).collect();
            (
                Spec {
                    tz,
                    days,
                    start,
                    end,
                    holidays,
                },
                from,
            )
        })
        .prop_filter("whole-minute offsets", |(spec, from)| {
            let tz: Tz = spec.tz.parse().unwrap();
            use chrono::Offset;
            (0..400).all(|d| {
                let t = *from + TimeDelta::days(d);
                tz.offset_from_utc_datetime(&t.naive_utc())
                    .fix()
                    .local_minus_utc()
                    % 60
                    == 0
            })
        })
}

/// Working seconds in a week without holidays.
fn weekly_secs(spec: &Spec) -> i64 {
    let days = spec.days.iter().filter(|d| **d).count() as i64;
    days * (spec.end - spec.start).num_seconds()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Durations of up to about two working weeks, in whole seconds (as policies
    /// write them) and in arbitrary nanoseconds, from fractional-second starts.
    #[test]
    fn agrees_with_the_minute_by_minute_reference(
        (spec, from) in spec_and_from(1970..2040),
        share in prop_oneof![
            1 => prop::sample::select(vec![1u32, 2, 3, 4, 6, 8, 12, 24]),
            2 => 1u32..=1000,
            1 => 1000u32..=3000,
        ],
        extra_ns in prop_oneof![Just(0i128), 0i128..NS],
    ) {
        // Up to three weeks of working time (so the reference walks at most a few
        // weeks of minutes plus holidays), in thousandths of a working week.
        let secs = (weekly_secs(&spec) * i64::from(share) / 1000).max(1);
        let cal = spec.calendar();
        let nanos = i128::from(secs) * NS + extra_ns;
        let got = cal.add_nanos(from, nanos).unwrap();
        let want = reference_add(&spec, from, nanos);
        prop_assert_eq!(got, want, "{:?} from {} + {} ns", spec, from, nanos);
        if extra_ns == 0 {
            prop_assert_eq!(cal.add(from, secs), Ok(want));
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Durations long enough to cross both daylight-saving changes of a year
    /// (Brazil's history included).
    #[test]
    fn agrees_across_both_transitions_of_a_year(
        (spec, from) in spec_and_from(1985..2030),
        weeks in 30i64..=48,
        part in 0i64..1000,
    ) {
        let secs = weekly_secs(&spec) * weeks + weekly_secs(&spec) * part / 1000;
        let cal = spec.calendar();
        let got = cal.add(from, secs).unwrap();
        let want = reference_add(&spec, from, i128::from(secs) * NS);
        prop_assert_eq!(got, want, "{:?} from {} + {} s", spec, from, secs);
    }

}

proptest! {
    // Each case may walk thousands of years of offset samples (debug build: ~0.1 s).
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Adding in two steps is adding once, for any sizes (no reference needed, so the
    /// durations reach thousands of years); results stay in range or are errors.
    #[test]
    fn additions_compose_and_stay_in_range(
        (spec, from) in spec_and_from(1900..2100),
        a in 0i64..=4_000_000 * 3600,
        b in 0i64..=4_000_000 * 3600,
    ) {
        let cal = spec.calendar();
        let once = cal.add(from, a + b);
        let twice = cal.add(from, a).and_then(|m| cal.add(m, b));
        prop_assert_eq!(once, twice);
        if let Ok(t) = once {
            prop_assert!(in_range(t));
            prop_assert!(t >= from + TimeDelta::seconds(a + b));
        }
    }
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn spec(tz: &'static str, days: [bool; 7], start: NaiveTime, end: NaiveTime) -> Spec {
    Spec {
        tz,
        days,
        start,
        end,
        holidays: Vec::new(),
    }
}

const WEEKDAYS: [bool; 7] = [true, true, true, true, true, false, false];
const EVERY_DAY: [bool; 7] = [true; 7];

fn check(spec: &Spec, from: &str, secs: i64, want: &str) {
    let got = spec.calendar().add(t(from), secs);
    assert_eq!(got, Ok(t(want)), "{spec:?} from {from} + {secs} s");
    assert_eq!(reference_add(spec, t(from), i128::from(secs) * NS), t(want));
}

// ---------------------------------------------------------------- sub-second drift

#[test]
fn fractional_second_starts_do_not_drift_across_days() {
    let s = spec("America/New_York", WEEKDAYS, hm(9, 0), hm(17, 0));
    // Mon 10:00:00.25 EST + 40 business hours: 6:59:59.75 Mon, 8h Tue-Fri,
    // 1:00:00.25 the next Monday -> Mon 10:00:00.25 EST.
    check(
        &s,
        "2026-11-02T15:00:00.25Z",
        40 * 3600,
        "2026-11-09T15:00:00.25Z",
    );
    // 400 business hours: still exactly the same fraction, ten weeks later.
    check(
        &s,
        "2026-11-02T15:00:00.999999999Z",
        400 * 3600,
        "2027-01-11T15:00:00.999999999Z",
    );
}

#[test]
fn fractional_second_at_the_close_moves_to_the_next_opening() {
    let s = spec("UTC", WEEKDAYS, hm(9, 0), hm(17, 0));
    // 16:59:59.5 + 1 s: half a second on Monday, half a second after Tuesday's opening.
    check(&s, "2026-06-01T16:59:59.5Z", 1, "2026-06-02T09:00:00.5Z");
}

// ---------------------------------------------------------------- DST gaps

#[test]
fn a_window_starting_in_a_spring_gap_starts_at_the_first_valid_instant() {
    // Berlin 2026-03-29: 02:00 CET -> 03:00 CEST (01:00Z). Hours 02:30-05:00:
    // that day's window is 03:00-05:00 CEST = 01:00Z-03:00Z.
    let s = spec("Europe/Berlin", EVERY_DAY, hm(2, 30), hm(5, 0));
    check(&s, "2026-03-28T23:00:00Z", 3600, "2026-03-29T02:00:00Z");
    check(&s, "2026-03-28T23:00:00Z", 2 * 3600, "2026-03-29T03:00:00Z");
    // New York 2026-03-08: 02:00 EST -> 03:00 EDT (07:00Z).
    let s = spec("America/New_York", EVERY_DAY, hm(2, 30), hm(4, 0));
    check(&s, "2026-03-08T05:00:00Z", 1800, "2026-03-08T07:30:00Z");
}

#[test]
fn a_window_ending_in_a_spring_gap_ends_at_the_gap() {
    // Hours 01:00-02:30 on 2026-03-29 in Berlin: 01:00-02:00 CET only (00:00Z-01:00Z).
    let s = spec("Europe/Berlin", EVERY_DAY, hm(1, 0), hm(2, 30));
    check(&s, "2026-03-28T23:30:00Z", 1800, "2026-03-29T00:30:00Z");
    check(&s, "2026-03-28T23:30:00Z", 3600, "2026-03-29T01:00:00Z");
    // Half an hour more: Monday 01:00 CEST (23:00Z) + 30 min.
    check(&s, "2026-03-28T23:30:00Z", 5400, "2026-03-29T23:30:00Z");
}

#[test]
fn a_brazilian_midnight_gap_starts_the_day_at_one() {
    // Sao Paulo 2018-11-04: 00:00 -03 -> 01:00 -02 (03:00Z); hours 00:00-08:00 that
    // Sunday are 01:00-08:00 -02 = 03:00Z-10:00Z.
    let s = spec("America/Sao_Paulo", EVERY_DAY, hm(0, 0), hm(8, 0));
    check(&s, "2018-11-04T02:00:00Z", 3600, "2018-11-04T04:00:00Z");
    check(&s, "2018-11-04T02:00:00Z", 7 * 3600, "2018-11-04T10:00:00Z");
}

// ---------------------------------------------------------------- repeated hours

#[test]
fn both_occurrences_of_a_repeated_hour_count() {
    // Berlin 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00Z; local 02:00-03:00 twice.
    // Hours 00:00-02:30: 00:00-02:30 CEST (22:00Z-00:30Z) and 02:00-02:30 CET
    // (01:00Z-01:30Z).
    let s = spec("Europe/Berlin", EVERY_DAY, hm(0, 0), hm(2, 30));
    check(
        &s,
        "2026-10-24T22:00:00Z",
        2 * 3600 + 45 * 60,
        "2026-10-25T01:15:00Z",
    );
    check(&s, "2026-10-24T22:00:00Z", 3 * 3600, "2026-10-25T01:30:00Z");
    // Hours 02:30-03:00: only the two half hours 00:30Z-01:00Z and 01:30Z-02:00Z,
    // not the 02:00-02:30 CET in between.
    let s = spec("Europe/Berlin", EVERY_DAY, hm(2, 30), hm(3, 0));
    check(&s, "2026-10-24T22:00:00Z", 45 * 60, "2026-10-25T01:45:00Z");
    check(&s, "2026-10-24T22:00:00Z", 3600, "2026-10-25T02:00:00Z");
}

#[test]
fn a_repeated_hour_before_midnight_counts_for_the_day_it_shows() {
    // Sao Paulo 2019-02-17 00:00 -02 -> 2019-02-16 23:00 -03 (02:00Z): Saturday's
    // 23:00-24:00 happens twice. Hours 22:00-23:30 on Saturday: 00:00Z-01:30Z and
    // 02:00Z-02:30Z (Feb 17 UTC).
    let s = spec("America/Sao_Paulo", EVERY_DAY, hm(22, 0), hm(23, 30));
    check(&s, "2019-02-17T00:00:00Z", 2 * 3600, "2019-02-17T02:30:00Z");
}

#[test]
fn a_half_hour_dst_step_is_exact() {
    // Lord Howe 2026-04-05: 02:00 +11 -> 01:30 +10:30 (15:00Z Apr 4).
    let s = spec("Australia/Lord_Howe", EVERY_DAY, hm(1, 0), hm(3, 0));
    let from = "2026-04-04T14:00:00Z"; // 01:00 +11
                                       // 01:00-02:00 +11 (14:00Z-15:00Z), then 01:30-03:00 +10:30 (15:00Z-16:30Z).
    check(&s, from, 2 * 3600 + 30 * 60, "2026-04-04T16:30:00Z");
}

// ---------------------------------------------------------------- range and size

#[test]
fn results_past_year_9999_are_errors() {
    let s = spec("America/New_York", WEEKDAYS, hm(9, 0), hm(17, 0));
    let c = s.calendar();
    let late = t("9999-12-20T15:00:00Z");
    assert_eq!(c.add(late, 200 * 3600), Err(CalendarError::AfterLatest));
    // Calendar time too.
    assert_eq!(
        add_duration(Some(&c), late, 30 * 86_400, false),
        Err(CalendarError::AfterLatest)
    );
    // Just before the end still works and is readable back.
    let ok = c.add(late, 8 * 3600).unwrap();
    assert_eq!(ok, reference_add(&s, late, 8 * 3600 * NS));
    let text = ok.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(DateTime::parse_from_rfc3339(&text).unwrap(), ok);
    // UTC: Friday 9999-12-31 17:00 is the last close.
    let u = spec("UTC", WEEKDAYS, hm(9, 0), hm(17, 0)).calendar();
    assert_eq!(
        u.add(t("9999-12-31T09:00:00Z"), 8 * 3600),
        Ok(t("9999-12-31T17:00:00Z"))
    );
    assert_eq!(
        u.add(t("9999-12-31T09:00:00Z"), 8 * 3600 + 1),
        Err(CalendarError::AfterLatest)
    );
}

#[test]
fn the_first_years_work_too() {
    let first = t("0001-01-01T00:00:00Z");
    for tz in ZONES {
        let c = spec(tz, WEEKDAYS, hm(9, 0), hm(17, 0)).calendar();
        // Local time may still be in year 0 here (west of Greenwich).
        let a = c.add(first, 8 * 3600).unwrap();
        assert!(a > first && a.year() == 1, "{tz}: {a}");
        assert_eq!(c.add(a, 8 * 3600), c.add(first, 16 * 3600), "{tz}");
        assert_eq!(
            add_duration(Some(&c), first, -1, false),
            Err(CalendarError::BeforeEarliest)
        );
    }
}

#[test]
fn huge_durations_end_quickly_with_an_answer_or_an_error() {
    for tz in ZONES {
        let c = spec(tz, WEEKDAYS, hm(9, 0), hm(17, 0)).calendar();
        let from = t("2026-11-27T15:00:00Z");
        // `sla 100000000 business hours`: more than the time left before year 10000.
        assert_eq!(
            c.add(from, 100_000_000 * 3600),
            Err(CalendarError::AfterLatest)
        );
        assert_eq!(c.add(from, i64::MAX), Err(CalendarError::AfterLatest));
        // 10 million business hours: 250 000 working weeks, around year 6800.
        let far = c.add(from, 10_000_000 * 3600).unwrap();
        assert!((6700..6900).contains(&far.year()), "{tz}: {far}");
        let half = c.add(from, 5_000_000 * 3600).unwrap();
        assert_eq!(c.add(half, 5_000_000 * 3600), Ok(far), "{tz}");
    }
}

#[test]
fn holidays_over_a_long_stretch_are_all_skipped() {
    // Every weekday of 2027 a holiday: the first working hour is in 2028.
    let days: Vec<NaiveDate> = NaiveDate::from_ymd_opt(2027, 1, 1)
        .unwrap()
        .iter_days()
        .take_while(|d| d.year() == 2027)
        .collect();
    let s = Spec {
        holidays: days,
        ..spec("Europe/Berlin", WEEKDAYS, hm(9, 0), hm(17, 0))
    };
    check(&s, "2026-12-31T15:00:00Z", 3 * 3600, "2028-01-03T10:00:00Z");
}

// ---------------------------------------------------------------- decisions

const POLICY: &str = r#"policy "Far" version "1" {
  currency USD
  calendar business {
    timezone "America/New_York"
    hours mon-fri 09:00-17:00
  }
}
record opportunity {
  amount: money
}
record account {
  domain: text
}
stage Open { probability 10% forecast pipeline }
stage Qualified { probability 30% forecast pipeline }
won stage Won { probability 100% forecast closed }
lost stage Lost { probability 0% forecast omitted }
flow {
  Open -> Qualified -> Won
  any -> Lost
}
registration {
  duplicate when same account within 400d
  conflict when other partner holds protected registration on account reject "held"
  auto approve when amount <= 1_000 USD
  review by channel_ops within 100 business days
  escalate to channel_director after 2 business hours
  escalate to channel_vp after 80 business days
  protect 120d
}
leads {
  route when true because "anyone"
  accept within 90 business days
}
"#;

fn decide(record: &str, action: &str, context: &str, now: &str) -> Decision {
    let p = Policy::compile(&SourceFile::new("far.policy", POLICY)).unwrap();
    let r = p.parse_record_yaml(record).unwrap();
    let c = if context.is_empty() {
        Context::default()
    } else {
        p.parse_context_yaml(context).unwrap()
    };
    p.decide(
        &r,
        &action.parse::<Action>().unwrap(),
        &c,
        t(now),
        &"vendor".parse::<Audience>().unwrap(),
    )
}

/// `far.policy:LINE:COL` of the first occurrence of `needle` in the policy.
fn location_of(needle: &str) -> String {
    let at = POLICY.find(needle).unwrap();
    let before = &POLICY[..at];
    let line = before.matches('\n').count() + 1;
    let col = at - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("far.policy:{line}:{col}")
}

/// Every date-time in the decision JSON parses back with the engine's own parser.
fn instants_read_back(d: &Decision) {
    let json: serde_json::Value = serde_json::from_str(&d.to_json_pretty()).unwrap();
    let mut texts = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&json, &mut texts);
    for s in texts {
        for word in s.split([' ', ',', '(', ')', '`']) {
            let looks_like_instant = word.len() > 18
                && word.contains('T')
                && word.contains(':')
                && word
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit() || c == '+' || c == '-');
            if looks_like_instant {
                assert!(
                    DateTime::parse_from_rfc3339(word).is_ok(),
                    "`{word}` in `{s}` does not read back"
                );
            }
        }
    }
}

#[test]
fn a_review_deadline_past_9999_is_an_evaluation_error_with_a_reason() {
    let d = decide(
        "id: OPP-1\nstage: Open\nfields: { amount: 5000 USD }\n",
        "register",
        "",
        "9999-10-01T15:00:00Z",
    );
    let review = d
        .reasons
        .iter()
        .find(|r| r.rule == "registration.review")
        .unwrap_or_else(|| panic!("{}", d.to_json_pretty()));
    assert_eq!(review.outcome, dealflow_engine::RuleOutcome::Fail);
    assert!(
        review.message.contains("after 9999-12-31"),
        "{}",
        review.message
    );
    assert!(
        d.errors.iter().any(|e| e.rule == "registration.review"
            && e.location == location_of("review by")
            && e.message.contains("the review deadline")),
        "{:?}",
        d.errors
    );
    // The early escalation is still computed; the late one is an error too.
    assert!(d
        .errors
        .iter()
        .any(|e| e.rule == "registration.escalate[1]"));
    assert!(d
        .reasons
        .iter()
        .any(|r| r.rule == "registration.escalate[0]"
            && r.outcome == dealflow_engine::RuleOutcome::Pass));
    instants_read_back(&d);
}

#[test]
fn a_protection_end_past_9999_is_an_evaluation_error() {
    let d = decide(
        "id: OPP-1\nstage: Open\nfields: { amount: 500 USD }\n",
        "register",
        "",
        "9999-10-01T15:00:00Z",
    );
    assert!(
        d.errors.iter().any(|e| e.rule == "registration.protect"),
        "{:?}",
        d.errors
    );
    let reg = d.effects.registration.as_ref().unwrap();
    assert_eq!(reg.protected_until, None);
    instants_read_back(&d);
}

#[test]
fn an_acceptance_deadline_past_9999_is_an_evaluation_error() {
    let d = decide(
        "id: OPP-1\nstage: Open\nfields: { amount: 500 USD }\n",
        "route_lead",
        "lead: { id: L-1 }\npartners:\n  - { id: P-1 }\n",
        "9999-10-01T15:00:00Z",
    );
    assert!(
        d.errors.iter().any(|e| e.rule == "leads.accept"),
        "{}",
        d.to_json_pretty()
    );
    instants_read_back(&d);
}

#[test]
fn deadlines_inside_the_range_are_unchanged() {
    let d = decide(
        "id: OPP-1\nstage: Open\nfields: { amount: 5000 USD }\n",
        "register",
        "",
        "2026-11-27T15:00:00Z",
    );
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let review = d
        .effects
        .registration
        .as_ref()
        .unwrap()
        .review
        .as_ref()
        .unwrap();
    let c = Policy::compile(&SourceFile::new("far.policy", POLICY)).unwrap();
    let want = c
        .calendar()
        .unwrap()
        .add(t("2026-11-27T15:00:00Z"), 100 * 8 * 3600)
        .unwrap();
    assert_eq!(
        DateTime::parse_from_rfc3339(&review.deadline).unwrap(),
        want
    );
    instants_read_back(&d);
}

// ---------------------------------------------------------------- expression arithmetic

#[test]
fn date_arithmetic_in_expressions_stays_readable() {
    use dealflow_dsl::ir::BinOp;
    use dealflow_engine::value::{arith, ArithError, Kind, Value};
    let day = 86_400;
    let late = Value::DateTime(t("9999-12-01T00:00:00Z"));
    assert_eq!(
        arith(BinOp::Add, &late, &Value::Dur(60 * day), Kind::DateTime),
        Err(ArithError::Overflow)
    );
    assert_eq!(
        arith(BinOp::Add, &late, &Value::Dur(30 * day), Kind::DateTime),
        Ok(Value::DateTime(t("9999-12-31T00:00:00Z")))
    );
    let early = Value::DateTime(t("0001-01-02T00:00:00Z"));
    assert_eq!(
        arith(BinOp::Sub, &early, &Value::Dur(2 * day), Kind::DateTime),
        Err(ArithError::Overflow)
    );
    let date = Value::Date(NaiveDate::from_ymd_opt(9999, 12, 1).unwrap());
    assert_eq!(
        arith(BinOp::Add, &date, &Value::Dur(31 * day), Kind::Date),
        Err(ArithError::Overflow)
    );
    assert_eq!(
        arith(BinOp::Add, &date, &Value::Dur(30 * day), Kind::Date),
        Ok(Value::Date(NaiveDate::from_ymd_opt(9999, 12, 31).unwrap()))
    );
}

const OTHER_FAR: &str = "registrations:\n  - { id: OPP-9, stage: Open, partner: { id: P-2 }, account: { id: A-1, domain: globex.com }, fields: { amount: 10 }, registration: { id: R-9, partner_id: P-2, status: approved, submitted_at: 9999-10-01T10:00:00Z, approved_at: 9999-11-01T15:00:00Z } }\n";

#[test]
fn windows_ending_after_9999_have_not_ended() {
    // The other registration's duplicate window (400d) and protection
    // (approval + 120d) both end after year 9999: both are still running.
    let d = decide(
        "id: OPP-1\nstage: Open\naccount: { id: A-1, domain: globex.com }\nfields: { amount: 500 USD }\n",
        "register",
        OTHER_FAR,
        "9999-11-02T15:00:00Z",
    );
    assert_eq!(
        d.outcome,
        dealflow_engine::Outcome::Denied,
        "{}",
        d.to_json_pretty()
    );
    let dup = d
        .reasons
        .iter()
        .find(|r| r.rule == "registration.duplicate")
        .unwrap();
    assert_eq!(
        dup.outcome,
        dealflow_engine::RuleOutcome::Fail,
        "{}",
        dup.message
    );
    let c = d
        .reasons
        .iter()
        .find(|r| r.rule.starts_with("registration.conflict"))
        .unwrap_or_else(|| panic!("{}", d.to_json_pretty()));
    assert_eq!(
        c.outcome,
        dealflow_engine::RuleOutcome::Fail,
        "{}",
        c.message
    );
    assert!(
        c.message
            .contains("protected until after 9999-12-31T23:59:59.999999999Z"),
        "{}",
        c.message
    );
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    instants_read_back(&d);
}

#[test]
fn huge_policy_durations_are_errors_not_hangs() {
    for (within, escalate) in [
        ("100000000 business hours", "100000000 business hours"),
        ("4000000 business days", "1 business hours"),
        ("999999999999 business hours", "99999999999 business days"),
    ] {
        let text = POLICY
            .replace("within 100 business days", &format!("within {within}"))
            .replace("after 2 business hours", &format!("after {escalate}"));
        let p = match Policy::compile(&SourceFile::new("far.policy", text.as_str())) {
            Ok(p) => p,
            // A duration too large for the language is refused by the checker.
            Err(e) => {
                assert!(!e.diagnostics.is_empty());
                continue;
            }
        };
        let r = p
            .parse_record_yaml("id: OPP-1\nstage: Open\nfields: { amount: 5000 USD }\n")
            .unwrap();
        let d = p.decide(
            &r,
            &Action::Register,
            &Context::default(),
            t("2026-11-27T15:00:00Z"),
            &Audience::Vendor,
        );
        assert!(
            d.errors.iter().any(|e| e.rule == "registration.review"),
            "{within}: {}",
            d.to_json_pretty()
        );
        instants_read_back(&d);
    }
}

/// A `now` outside years 1..=9999 (reachable through the library, not the CLI, whose
/// RFC 3339 reader has four-digit years) is not decided, on either path, whatever the
/// action: nothing dated from it could be read back.
#[test]
fn a_now_outside_the_writable_years_is_not_decided() {
    let p = Policy::compile(&SourceFile::new("far.policy", POLICY)).unwrap();
    let r = p
        .parse_record_yaml("id: OPP-1\nstage: Open\nfields: { amount: 5000 USD }\n")
        .unwrap();
    let far = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
    let before = Utc.with_ymd_and_hms(0, 12, 31, 23, 59, 59).unwrap();
    for now in [far, before] {
        for action in [
            "register",
            "evaluate",
            "close_won",
            "advance Won",
            "route_lead",
        ] {
            let a = action.parse::<Action>().unwrap();
            let d = p.decide(&r, &a, &Context::default(), now, &Audience::Vendor);
            assert_eq!(
                d.outcome,
                dealflow_engine::Outcome::Error,
                "{action} at {now}"
            );
            assert!(d.opportunity.is_none());
            assert!(
                d.reasons[0].message.contains("outside years 1..=9999"),
                "{}",
                d.to_json_pretty()
            );
            let fast = p.decide_fast(&r, &a, &Context::default(), now);
            assert_eq!(fast.outcome, dealflow_engine::Outcome::Error);
        }
    }
    // The last writable instant is still decided.
    let last = Utc.with_ymd_and_hms(9999, 12, 31, 12, 0, 0).unwrap();
    let d = p.decide(
        &r,
        &"evaluate".parse().unwrap(),
        &Context::default(),
        last,
        &Audience::Vendor,
    );
    assert_eq!(d.outcome, dealflow_engine::Outcome::Evaluated);
}
