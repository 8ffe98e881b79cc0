//! `dealflow demo`: the program played through the store. Deterministic per seed;
//! the store it leaves holds every kind of decision the program makes; the command
//! stream it emits rebuilds the same store; an existing store is never appended to.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::{Audience, Store};

use super::{run, run_in, scratch_dir};

/// A small program (fast in debug builds) that still shows every mechanism.
const SMALL: [&str; 8] = [
    "--seed",
    "7",
    "--opportunities",
    "60",
    "--partners",
    "12",
    "--accounts",
    "30",
];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["demo"];
    v.extend(SMALL);
    v.extend(extra);
    v
}

#[test]
fn demo_is_deterministic_and_complete() {
    // From another directory: the policy is embedded.
    let elsewhere = scratch_dir("demo-cwd");
    let a = run_in(&elsewhere, &args(&[]), None);
    assert_eq!(a.code, 0, "{}", a.snapshot());
    let b = run(&args(&[]));
    assert_eq!(b.code, 0);
    assert_eq!(a.stdout, b.stdout, "same seed, same report");
    for section in [
        "== Commands and decisions",
        "== Pipeline at the end",
        "== Registrations",
        "== Review queue",
        "== Stage gates",
        "== Co-sell",
        "== Commission booked",
        "== Lead routing",
        "== Decision log",
    ] {
        assert!(
            a.stdout.contains(section),
            "missing `{section}` in:\n{}",
            a.stdout
        );
    }
    assert!(a.stdout.contains(", 0 refused"), "{}", a.stdout);
    assert!(a.stdout.contains("hash chain intact"), "{}", a.stdout);
    assert!(a.stderr.contains("demo finished in"), "{}", a.stderr);
    insta::assert_snapshot!(a.stdout);
    let other = run(&[
        "demo",
        "--seed",
        "8",
        "--opportunities",
        "60",
        "--partners",
        "12",
        "--accounts",
        "30",
    ]);
    assert_eq!(other.code, 0, "{}", other.snapshot());
    assert_ne!(other.stdout, a.stdout, "another seed, another program");
}

/// `  N submitted; final status: ...` -> N.
fn registrations_in_summary(stdout: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| l.trim().split_once(" submitted; final status:"))
        .and_then(|(n, _)| n.trim().replace(',', "").parse().ok())
        .unwrap_or(u64::MAX)
}

#[test]
fn the_store_holds_the_program_and_the_emitted_stream_rebuilds_it() {
    let dir = scratch_dir("demo-db");
    let db = dir.join("program.db");
    let stream = dir.join("commands.jsonl");
    let (db_s, stream_s) = (
        db.to_string_lossy().into_owned(),
        stream.to_string_lossy().into_owned(),
    );
    let r = run(&args(&["--db", &db_s, "--emit-commands", &stream_s]));
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(r.stdout.contains(&format!("store: {db_s}")), "{}", r.stdout);

    let store = SqliteStore::open(&db).expect("open the demo's store");
    assert_eq!(store.verify().expect("verify").first_broken, None);
    // Every kind of decision the program makes happened, and nothing was refused.
    let mut outcomes: BTreeMap<(String, String), u64> = BTreeMap::new();
    for d in store
        .decisions(&Audience::Vendor, 0, usize::MAX)
        .expect("decisions")
    {
        let v: serde_json::Value = serde_json::from_str(&d.json).expect("decision JSON");
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        *outcomes.entry((kind, d.outcome.clone())).or_default() += 1;
    }
    for (kind, outcome) in [
        ("policy", "published"),
        ("partner", "recorded"),
        ("account", "recorded"),
        ("opportunity", "recorded"),
        ("activity", "recorded"),
        ("cosell_contact", "recorded"),
        ("cosell", "evaluated"),
        ("register", "approved"),
        ("register", "review"),
        ("register", "denied"),
        ("review", "approved"),
        ("review", "returned"),
        ("review", "rejected"),
        ("advance", "approved"),
        ("advance", "denied"),
        ("close_won", "approved"),
        ("close_won", "denied"),
        ("close_lost", "approved"),
        ("timer", "escalated"),
        ("timer", "breached"),
        ("timer", "expired"),
        ("submit_lead", "offered"),
        ("reroute_lead", "offered"),
        ("accept_lead", "converted"),
        ("decline_lead", "declined"),
    ] {
        assert!(
            outcomes.contains_key(&(kind.to_string(), outcome.to_string())),
            "no `{kind}` decision with outcome `{outcome}`: {outcomes:?}"
        );
    }
    assert!(
        !outcomes.keys().any(|(_, o)| o == "refused"),
        "refused commands: {outcomes:?}"
    );
    // A lead timed out: its reroute was fired by a tick.
    let timed_out = store
        .decisions(&Audience::Vendor, 0, usize::MAX)
        .expect("decisions")
        .iter()
        .any(|d| d.json.contains("\"lead_timed_out\""));
    assert!(timed_out, "no lead timed out");
    // Commission was booked, and the summary counts the store's registrations.
    let from = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("instant");
    let to = Utc
        .with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
        .single()
        .expect("instant");
    assert!(!store
        .commission(&Audience::Vendor, from, to)
        .expect("commission")
        .is_empty());
    let mut registrations = 0u64;
    let mut statuses = BTreeSet::new();
    for (id, _) in store.opportunity_ids().expect("ids") {
        let v = store
            .opportunity(&Audience::Vendor, &id)
            .expect("read")
            .expect("exists");
        registrations += v.registrations.len() as u64;
        statuses.extend(v.registrations.iter().map(|r| r.status.clone()));
    }
    assert_eq!(
        registrations_in_summary(&r.stdout),
        registrations,
        "{}",
        r.stdout
    );
    for s in ["approved", "rejected", "returned", "expired"] {
        assert!(statuses.contains(s), "no {s} registration: {statuses:?}");
    }

    // The emitted stream: one command per line, each with its own instant and a
    // unique key, the policy first; submitted to a fresh store, the same store.
    let text = std::fs::read_to_string(&stream).expect("read the stream");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines
        .first()
        .is_some_and(|l| l.contains("\"type\":\"publish_policy\"")));
    let mut keys = BTreeSet::new();
    let mut last = String::new();
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
        let at = v["at"].as_str().expect("at").to_string();
        assert!(at >= last, "out of order: {l}");
        last = at;
        assert!(
            keys.insert(v["key"].as_str().expect("key").to_string()),
            "reused key: {l}"
        );
    }
    let fresh = SqliteStore::open_in_memory().expect("memory store");
    let whenever = Utc
        .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
        .single()
        .expect("instant");
    for l in &lines {
        let s = fresh.submit(l, whenever).expect("submit");
        assert!(!s.refused, "{l}: {s:?}");
    }
    let (a, b) = (store.dump().expect("dump"), fresh.dump().expect("dump"));
    assert!(a.len() > 1000, "{} rows", a.len());
    assert!(a == b, "the replayed store differs from the demo's store");
}

#[test]
fn an_existing_store_is_not_appended_to() {
    let dir = scratch_dir("demo-existing");
    let db = dir.join("program.db");
    let db_s = db.to_string_lossy().into_owned();
    let first = run(&[
        "demo",
        "--opportunities",
        "5",
        "--partners",
        "4",
        "--accounts",
        "6",
        "--db",
        &db_s,
    ]);
    assert_eq!(first.code, 0, "{}", first.snapshot());
    let before = SqliteStore::open(&db).expect("open").dump().expect("dump");
    let again = run(&[
        "demo",
        "--opportunities",
        "5",
        "--partners",
        "4",
        "--accounts",
        "6",
        "--db",
        &db_s,
    ]);
    assert_eq!(again.code, 2, "{}", again.snapshot());
    assert!(
        again.stderr.contains("already holds a store with"),
        "{}",
        again.stderr
    );
    assert!(again.stdout.is_empty(), "{}", again.stdout);
    let after = SqliteStore::open(&db).expect("open").dump().expect("dump");
    assert!(before == after, "the refused run changed the store");
}

#[test]
fn sizes_are_checked() {
    for bad in [
        &["demo", "--opportunities", "0"][..],
        &["demo", "--partners", "3"][..],
        &["demo", "--accounts", "x"][..],
    ] {
        let r = run(bad);
        assert_eq!(r.code, 2, "{bad:?}: {}", r.snapshot());
        assert!(
            r.stderr.contains("expected a whole number"),
            "{bad:?}: {}",
            r.stderr
        );
    }
}
