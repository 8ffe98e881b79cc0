//! Timer instants on the reference policy's business calendar (America/New_York,
//! 09:00-17:00 Monday to Friday, US federal holidays): review escalations after 8
//! and 16 business hours and the 24-business-hour SLA deadline, computed by hand
//! across the end of daylight saving time (2026-11-01) and across Veterans Day
//! (2026-11-11) and Thanksgiving (2026-11-26); each timer fires at its instant,
//! not a second before, and once. Protection expiry fires at `protected_until`
//! exactly once and frees the account for another partner.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use common::*;
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::{Audience, Store};
use serde_json::{json, Value};

fn instant(v: &Value) -> DateTime<Utc> {
    t(v.as_str().unwrap_or_else(|| panic!("not an instant: {v}")))
}

/// Ticks at `at` with a fresh key (so that nothing is an idempotent repeat) and
/// returns the decisions it logged; checks that a keyless tick at the same instant
/// then logs nothing new.
fn tick(s: &SqliteStore, at: DateTime<Utc>) -> Vec<Value> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let key = format!("tick-{}", N.fetch_add(1, Ordering::Relaxed));
    let out = s
        .submit(
            &json!({"key": key, "type": "tick", "by": "system"}).to_string(),
            at,
        )
        .unwrap();
    assert!(!out.refused && !out.repeated, "{out:#?}");
    let log = s.decisions(&Audience::Vendor, 0, usize::MAX).unwrap().len();
    let again = s.submit(r#"{"type": "tick", "by": "system"}"#, at).unwrap();
    assert!(
        again.decisions.is_empty(),
        "a second tick at {at} fired {again:#?}"
    );
    assert_eq!(
        s.decisions(&Audience::Vendor, 0, usize::MAX).unwrap().len(),
        log
    );
    out.decisions
        .iter()
        .map(|d| serde_json::from_str(&d.json).unwrap())
        .collect()
}

fn outcomes(ds: &[Value]) -> Vec<&str> {
    ds.iter().map(|d| d["outcome"].as_str().unwrap()).collect()
}

/// Registers a Silver deal (P-BETA, on review) at `at` and checks the review
/// deadline and the escalation instants, in the decision, its event, the stored
/// registration and the fired timers, against the hand-computed ones; then that
/// each timer fires at its instant (not one second before) and once.
fn check_review_clock(at: &str, esc1: &str, esc2: &str, deadline: &str) {
    let store = TempStore::new();
    let s = &store.store;
    seed(s);
    let created = (t(at) - Duration::hours(1)).to_rfc3339();
    create_opp(s, "OPP-S", "P-BETA", "A-INITECH", 60_000, &created);
    let (out, d) = submit(
        s,
        json!({"key": "reg", "type": "register", "by": partner("P-BETA"), "opportunity": "OPP-S"}),
        at,
    );
    assert!(!out.refused, "{d:#}");
    assert_eq!(d["outcome"], "review", "{d:#}");
    let (esc1, esc2, deadline) = (t(esc1), t(esc2), t(deadline));
    let review = &d["decision"]["effects"]["registration"]["review"];
    assert_eq!(instant(&review["deadline"]), deadline, "{review:#}");
    let esc = review["escalations"].as_array().unwrap();
    assert_eq!(esc.len(), 2, "{review:#}");
    assert_eq!(esc[0]["to"], "channel_manager");
    assert_eq!(instant(&esc[0]["at"]), esc1, "{review:#}");
    assert_eq!(esc[1]["to"], "channel_director");
    assert_eq!(instant(&esc[1]["at"]), esc2, "{review:#}");
    let submitted = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "registration_submitted")
        .unwrap();
    assert_eq!(instant(&submitted["review_deadline"]), deadline);
    let v = s.opportunity(&Audience::Vendor, "OPP-S").unwrap().unwrap();
    assert_eq!(v.registrations[0].status, "pending");
    assert_eq!(
        t(v.registrations[0].review_deadline.as_deref().unwrap()),
        deadline
    );

    let second = Duration::seconds(1);
    for (due, outcome, to) in [
        (esc1, "escalated", Some("channel_manager")),
        (esc2, "escalated", Some("channel_director")),
        (deadline, "breached", None),
    ] {
        assert!(
            tick(s, due - second).is_empty(),
            "a timer fired before {due}"
        );
        let fired = tick(s, due);
        assert_eq!(outcomes(&fired), [outcome], "at {due}: {fired:#?}");
        assert_eq!(instant(&fired[0]["timer"]["due"]), due);
        let ev = &fired[0]["events"][0];
        assert_eq!(instant(&ev["at"]), due);
        if let Some(to) = to {
            assert_eq!(ev["to"], to);
            let q = s.queue(&Audience::Vendor, due).unwrap();
            assert_eq!(q[0].escalated_to.as_deref(), Some(to));
        } else {
            assert_eq!(instant(&ev["deadline"]), deadline);
            assert_eq!(ev["by_business_hours"], "0");
        }
        assert!(tick(s, due).is_empty(), "fired twice at {due}");
    }
    // The partner sees the breach event, not the escalation events (which name the
    // vendor's people). Its own register decision does list the escalation steps
    // (the engine's partner audience keeps `review.escalations`).
    let pv = s
        .decisions(&Audience::Partner("P-BETA".into()), 0, usize::MAX)
        .unwrap();
    let text: String = pv.iter().map(|d| d.json.clone()).collect();
    assert!(text.contains("review_sla_breached"), "{text}");
    assert!(!text.contains("review_escalated"), "{text}");
    let q = s
        .queue(&Audience::Partner("P-BETA".into()), deadline)
        .unwrap();
    assert_eq!(q[0].escalated_to, None);
    let q = s
        .queue(&Audience::Vendor, deadline + Duration::hours(2))
        .unwrap();
    assert!(q[0].breached);
    assert_eq!(s.verify().unwrap().first_broken, None);
}

#[test]
fn review_clock_across_the_end_of_daylight_saving_time() {
    // Friday 2026-10-30 15:00 EDT (UTC-4). Friday 15-17 is 2 business hours; the
    // clocks go back on Sunday 2026-11-01, so Monday is on EST (UTC-5).
    // 8 h: Fri 2 h + Mon 6 h -> Mon 2026-11-02 15:00 EST = 20:00Z.
    // 16 h: Fri 2 + Mon 8 + Tue 6 -> Tue 2026-11-03 15:00 EST = 20:00Z.
    // 24 h: Fri 2 + Mon 8 + Tue 8 + Wed 6 -> Wed 2026-11-04 15:00 EST = 20:00Z.
    // (Counting in UTC wall-clock terms would give 19:00Z for each.)
    check_review_clock(
        "2026-10-30T19:00:00Z",
        "2026-11-02T20:00:00Z",
        "2026-11-03T20:00:00Z",
        "2026-11-04T20:00:00Z",
    );
}

#[test]
fn review_clock_skips_veterans_day() {
    // Tuesday 2026-11-10 16:00 EST. Tue 1 h; Wednesday 2026-11-11 is a holiday.
    // 8 h: Tue 1 + Thu 7 -> Thu 2026-11-12 16:00 EST = 21:00Z.
    // 16 h: Tue 1 + Thu 8 + Fri 7 -> Fri 2026-11-13 16:00 EST = 21:00Z.
    // 24 h: ... + the weekend + Mon 7 -> Mon 2026-11-16 16:00 EST = 21:00Z.
    check_review_clock(
        "2026-11-10T21:00:00Z",
        "2026-11-12T21:00:00Z",
        "2026-11-13T21:00:00Z",
        "2026-11-16T21:00:00Z",
    );
}

#[test]
fn review_clock_skips_thanksgiving() {
    // Wednesday 2026-11-25 13:00 EST. Wed 4 h; Thursday 2026-11-26 is a holiday;
    // Friday 2026-11-27 is a working day (not in the policy's holiday list).
    // 8 h: Wed 4 + Fri 4 -> Fri 2026-11-27 13:00 EST = 18:00Z.
    // 16 h: Wed 4 + Fri 8 + Mon 4 -> Mon 2026-11-30 13:00 EST = 18:00Z.
    // 24 h: Wed 4 + Fri 8 + Mon 8 + Tue 4 -> Tue 2026-12-01 13:00 EST = 18:00Z.
    check_review_clock(
        "2026-11-25T18:00:00Z",
        "2026-11-27T18:00:00Z",
        "2026-11-30T18:00:00Z",
        "2026-12-01T18:00:00Z",
    );
}

#[test]
fn review_clock_from_a_night_and_a_weekend() {
    // Saturday 2026-10-31 23:30 EDT: nothing counts until Monday 09:00 EST.
    // 8 h -> Mon 2026-11-02 17:00 EST = 22:00Z; 16 h -> Tue 17:00 EST = 22:00Z;
    // 24 h -> Wed 2026-11-04 17:00 EST = 22:00Z.
    check_review_clock(
        "2026-11-01T03:30:00Z",
        "2026-11-02T22:00:00Z",
        "2026-11-03T22:00:00Z",
        "2026-11-04T22:00:00Z",
    );
}

#[test]
fn protection_expires_at_protected_until_once_and_frees_the_account() {
    let store = TempStore::new();
    let s = &store.store;
    seed(s);
    create_opp(
        s,
        "OPP-1",
        "P-ACME",
        "A-GLOBEX",
        100_000,
        "2026-09-02T14:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r1", "type": "register", "by": partner("P-ACME"), "opportunity": "OPP-1"}),
        "2026-09-02T15:00:00Z",
    );
    assert_eq!(d["outcome"], "approved", "{d:#}");
    // `protect 120d` is elapsed time, not business time: 120 x 24 h after approval,
    // across the end of daylight saving time (11:00 EDT then, 10:00 EST at the end).
    let until = t("2026-12-31T15:00:00Z");
    let eff = &d["decision"]["effects"]["registration"];
    assert_eq!(instant(&eff["protected_until"]), until, "{eff:#}");
    let reg = &s
        .opportunity(&Audience::Vendor, "OPP-1")
        .unwrap()
        .unwrap()
        .registrations[0];
    assert_eq!(t(reg.protected_until.as_deref().unwrap()), until);
    // It is listed as expiring within a week of its end, to its partner only.
    let week = Duration::days(7);
    let acme = Audience::Partner("P-ACME".into());
    let beta = Audience::Partner("P-BETA".into());
    assert_eq!(s.expiring(&acme, until - week, week).unwrap().len(), 1);
    assert!(s.expiring(&beta, until - week, week).unwrap().is_empty());
    assert!(s
        .expiring(&acme, until - week - week, week - Duration::seconds(1))
        .unwrap()
        .is_empty());

    // While protected, another partner's registration on the account is denied.
    create_opp(
        s,
        "OPP-2",
        "P-BETA",
        "A-GLOBEX",
        60_000,
        "2026-12-30T15:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r2", "type": "register", "by": partner("P-BETA"), "opportunity": "OPP-2"}),
        "2026-12-30T16:00:00Z",
    );
    assert_eq!(d["outcome"], "denied", "{d:#}");

    assert!(tick(s, until - Duration::seconds(1)).is_empty());
    let fired = tick(s, until);
    assert_eq!(outcomes(&fired), ["expired"], "{fired:#?}");
    assert_eq!(instant(&fired[0]["timer"]["due"]), until);
    assert_eq!(fired[0]["events"][0]["type"], "registration_expired");
    assert!(tick(s, until).is_empty());
    assert!(
        tick(s, until + Duration::days(30)).is_empty(),
        "expiry fired twice"
    );
    let v = s.opportunity(&Audience::Vendor, "OPP-1").unwrap().unwrap();
    assert_eq!(v.registrations[0].status, "expired");
    assert_eq!(t(v.registrations[0].decided_at.as_deref().unwrap()), until);
    let expired: Vec<_> = v
        .decisions
        .iter()
        .filter(|d| d["outcome"] == "expired")
        .collect();
    assert_eq!(expired.len(), 1);
    // Now another partner may register the account (review: P-BETA is Silver),
    // not denied for the conflict.
    let (_, d) = submit(
        s,
        json!({"key": "r2b", "type": "register", "by": partner("P-BETA"), "opportunity": "OPP-2"}),
        "2027-01-31T15:00:00Z",
    );
    assert_eq!(d["outcome"], "review", "{d:#}");
    // And a Gold partner is approved outright.
    s.submit(
        &json!({"key": "w", "type": "withdraw", "by": partner("P-BETA"), "opportunity": "OPP-2"})
            .to_string(),
        t("2027-01-31T15:30:00Z"),
    )
    .unwrap();
    create_opp(
        s,
        "OPP-3",
        "P-ACME",
        "A-GLOBEX",
        80_000,
        "2027-01-31T16:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r3", "type": "register", "by": partner("P-ACME"), "opportunity": "OPP-3"}),
        "2027-01-31T16:30:00Z",
    );
    assert_eq!(d["outcome"], "approved", "{d:#}");
    assert_eq!(s.verify().unwrap().first_broken, None);
}
