//! Concurrent writers on one store file, each with its own connection (as separate
//! processes would have): protection is never double-booked, a co-sell pool is never
//! over-assigned, and no update is lost. Threads start together at a barrier; the
//! store serialises them with `BEGIN IMMEDIATE` and the 5 s busy timeout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;

use common::*;
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::{Audience, Store};
use serde_json::{json, Value};

/// Runs `f(i, own store)` on `n` threads, each with its own connection to `path`,
/// all released at once; returns their results in thread order.
fn race<T: Send + 'static>(
    path: &Path,
    n: usize,
    f: impl Fn(usize, &SqliteStore) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, f, path) = (barrier.clone(), f.clone(), path.to_path_buf());
            thread::spawn(move || {
                let store = SqliteStore::open(&path).unwrap();
                barrier.wait();
                f(i, &store)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn first_outcome(s: &SqliteStore, cmd: &Value, at: &str) -> String {
    let out = s.submit(&cmd.to_string(), t(at)).unwrap();
    assert!(!out.refused, "{cmd}: {out:#?}");
    out.decisions[0].outcome.clone()
}

const RACERS: usize = 6;

#[test]
fn racing_registrations_on_one_account_protect_exactly_one_partner() {
    let ts = TempStore::new();
    seed(&ts.store);
    // Six Gold partners, each with a deal on Globex, Security: every one of them would
    // be auto-approved alone.
    for i in 0..RACERS {
        let p = format!("P-G{i}");
        let (out, d) = submit(
            &ts.store,
            json!({"key": format!("pg{i}"), "type": "upsert_partner", "by": admin(), "partner": {"id": p, "name": format!("Gold {i}"), "tier": "Gold", "territories": ["NA"], "specializations": ["Security"], "win_rate": "30%"}}),
            "2026-09-02T14:00:00Z",
        );
        assert!(!out.refused, "{d}");
        create_opp(
            &ts.store,
            &format!("OPP-G{i}"),
            &p,
            "A-GLOBEX",
            100_000,
            "2026-09-02T14:00:00Z",
        );
    }
    let outcomes = race(&ts.path(), RACERS, |i, s| {
        let cmd = json!({"key": format!("reg-{i}"), "type": "register", "by": {"partner": format!("P-G{i}")}, "opportunity": format!("OPP-G{i}")});
        first_outcome(s, &cmd, "2026-09-02T15:00:00Z")
    });
    let approved: Vec<usize> = (0..RACERS).filter(|i| outcomes[*i] == "approved").collect();
    assert_eq!(approved.len(), 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| o == "approved" || o == "denied"),
        "{outcomes:?}"
    );
    // The store agrees: one approved, protected registration; the others rejected.
    let s = &ts.store;
    let mut protected = 0;
    for i in 0..RACERS {
        let v = s
            .opportunity(&Audience::Vendor, &format!("OPP-G{i}"))
            .unwrap()
            .unwrap();
        assert_eq!(v.registrations.len(), 1);
        let r = &v.registrations[0];
        if i == approved[0] {
            assert_eq!(r.status, "approved");
            assert!(r.protected_until.is_some());
            protected += 1;
        } else {
            assert_eq!(r.status, "rejected", "{r:?}");
            assert!(r.protected_until.is_none());
        }
    }
    assert_eq!(protected, 1);
    assert_eq!(s.verify().unwrap().first_broken, None);
    assert_eq!(s.integrity_check().unwrap(), "ok");
}

/// One pool of capacity 2 per week, assigned to every deal in stage `Hot`.
const POOL_POLICY: &str = r#"policy "Pool" version "1" { currency USD }
record opportunity { amount: money }
stage Cold { probability 10% forecast pipeline }
stage Hot { probability 50% forecast pipeline }
won stage Won { probability 100% forecast closed }
lost stage Lost { probability 0% forecast omitted }
flow { Cold -> Hot -> Won  any -> Lost }
cosell {
  pool se "Sales engineer" capacity 2 per week
  assign se when stage == Hot priority amount
}
"#;

fn active(s: &SqliteStore, n: usize) -> Vec<(usize, String)> {
    (0..n)
        .flat_map(|i| {
            let v = s
                .opportunity(&Audience::Vendor, &format!("D-{i}"))
                .unwrap()
                .unwrap();
            v.cosell
                .into_iter()
                .filter(|c| c["released_at"].is_null())
                .map(move |c| (i, c["period"].as_str().unwrap().to_string()))
        })
        .collect()
}

#[test]
fn racing_deals_never_take_more_pool_units_than_the_capacity() {
    const DEALS: usize = 8;
    let ts = TempStore::new();
    let s = &ts.store;
    let (out, d) = submit(
        s,
        json!({"key": "pub", "type": "publish_policy", "by": admin(), "name": "pool.policy", "source": POOL_POLICY, "effective_from": "2026-01-01T00:00:00Z"}),
        "2026-09-01T12:00:00Z",
    );
    assert!(!out.refused, "{d:#}");
    let (out, d) = submit(
        s,
        json!({"key": "acc", "type": "upsert_account", "by": admin(), "account": {"id": "A-1", "name": "Acme Corp"}}),
        "2026-09-01T12:00:00Z",
    );
    assert!(!out.refused, "{d:#}");
    for i in 0..DEALS {
        let (out, d) = submit(
            s,
            json!({"key": format!("c{i}"), "type": "create_opportunity", "by": admin(),
                   "opportunity": {"id": format!("D-{i}"), "account": "A-1", "fields": {"amount": 1000 * (i + 1)}}}),
            "2026-09-01T12:00:00Z",
        );
        assert!(!out.refused, "{d:#}");
    }
    // Round 1 (Wednesday 2026-09-02): all eight become eligible at once.
    let assigned = race(&ts.path(), DEALS, |i, s| {
        let cmd = json!({"key": format!("hot-{i}"), "type": "advance", "by": {"user": "ann", "role": "admin"}, "opportunity": format!("D-{i}"), "to": "Hot"});
        let out = s
            .submit(&cmd.to_string(), t("2026-09-02T12:00:00Z"))
            .unwrap();
        assert!(!out.refused, "{out:#?}");
        assert_eq!(out.decisions[0].outcome, "approved");
        out.decisions
            .iter()
            .any(|d| d.json.contains("\"cosell_assigned\""))
    });
    assert_eq!(assigned.iter().filter(|a| **a).count(), 2, "{assigned:?}");
    let held = active(s, DEALS);
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held.iter().all(|(_, p)| p == "week:2026-08-31"), "{held:?}");

    // One holder closes: its unit is released, and of the six waiting deals that are
    // re-evaluated at once (an update each) exactly one takes it.
    let closer = held[0].0;
    let (out, d) = submit(
        s,
        json!({"key": "lost", "type": "close_lost", "by": admin(), "opportunity": format!("D-{closer}")}),
        "2026-09-03T12:00:00Z",
    );
    assert!(!out.refused, "{d:#}");
    assert!(
        out.decisions
            .iter()
            .any(|d| d.json.contains("\"cosell_released\"")),
        "{out:#?}"
    );
    assert_eq!(active(s, DEALS).len(), 1);
    let holders: Vec<usize> = held.iter().map(|(i, _)| *i).collect();
    let assigned = race(&ts.path(), DEALS, move |i, s| {
        if holders.contains(&i) {
            return false;
        }
        let cmd = json!({"key": format!("upd-{i}"), "type": "update_opportunity", "by": {"user": "ann", "role": "admin"}, "opportunity": format!("D-{i}"), "fields": {"amount": 50_000 + i}});
        let out = s
            .submit(&cmd.to_string(), t("2026-09-03T13:00:00Z"))
            .unwrap();
        assert!(!out.refused, "{out:#?}");
        out.decisions
            .iter()
            .any(|d| d.json.contains("\"cosell_assigned\""))
    });
    assert_eq!(assigned.iter().filter(|a| **a).count(), 1, "{assigned:?}");
    assert_eq!(active(s, DEALS).len(), 2);

    // A new week has its own two units. (A unit assigned last week is counted in last
    // week; a holder re-evaluated after this week's units are gone gives its unit up,
    // so how many of last week's stay depends on the order the writers got the lock.)
    let assigned = race(&ts.path(), DEALS, |i, s| {
        let cmd = json!({"key": format!("w2-{i}"), "type": "update_opportunity", "by": {"user": "ann", "role": "admin"}, "opportunity": format!("D-{i}"), "fields": {"amount": 70_000 + i}});
        let out = s
            .submit(&cmd.to_string(), t("2026-09-08T13:00:00Z"))
            .unwrap();
        out.decisions
            .iter()
            .any(|d| d.json.contains("\"cosell_assigned\""))
    });
    assert_eq!(assigned.iter().filter(|a| **a).count(), 2, "{assigned:?}");
    let held = active(s, DEALS);
    let this_week = held.iter().filter(|(_, p)| p == "week:2026-09-07").count();
    assert_eq!(this_week, 2, "{held:?}");
    let last_week = held.iter().filter(|(_, p)| p == "week:2026-08-31").count();
    assert!(
        last_week <= 2 && held.len() == this_week + last_week,
        "{held:?}"
    );
    assert_eq!(s.verify().unwrap().first_broken, None);
}

const WRITERS: usize = 4;
const EACH: usize = 25;

fn activity_counts(path: &Path, opp: &str) -> (usize, usize) {
    let s = SqliteStore::open(path).unwrap();
    let v = s.opportunity(&Audience::Vendor, opp).unwrap().unwrap();
    let events = v
        .events
        .iter()
        .filter(|e| e["type"] == "activity_logged")
        .count();
    drop(s);
    // The history the engine's facts read (read-modify-write of one JSON column:
    // where a lost update would show).
    let raw = rusqlite::Connection::open(path).unwrap();
    let history: String = raw
        .query_row(
            "SELECT history FROM opportunities WHERE id = ?1",
            [opp],
            |r| r.get(0),
        )
        .unwrap();
    let history: Value = serde_json::from_str(&history).unwrap();
    let in_history = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["type"] == "activity")
        .count();
    (events, in_history)
}

#[test]
fn writers_logging_activities_on_one_deal_lose_no_update() {
    let ts = TempStore::new();
    seed(&ts.store);
    create_opp(
        &ts.store,
        "OPP-1",
        "P-ACME",
        "A-GLOBEX",
        100_000,
        "2026-09-02T14:00:00Z",
    );
    race(&ts.path(), WRITERS, |w, s| {
        for k in 0..EACH {
            let cmd = json!({"key": format!("act-{w}-{k}"), "type": "log_activity", "by": {"partner": "P-ACME"}, "opportunity": "OPP-1", "kind": "call", "note": format!("{w}/{k}")});
            assert_eq!(first_outcome(s, &cmd, "2026-09-03T12:00:00Z"), "recorded");
        }
    });
    assert_eq!(
        activity_counts(&ts.path(), "OPP-1"),
        (WRITERS * EACH, WRITERS * EACH)
    );
    let v = ts.store.verify().unwrap();
    assert_eq!(v.first_broken, None);
    assert_eq!(v.decisions as usize, 6 + WRITERS * EACH);
}

#[test]
fn several_connections_opening_a_new_file_at_once_migrate_it_once() {
    // Ten fresh files, six connections racing to create each.
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fresh.db");
        let barrier = Arc::new(Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let (barrier, path) = (barrier.clone(), path.clone());
                thread::spawn(move || {
                    barrier.wait();
                    SqliteStore::open(&path)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        for h in handles {
            let r = h.join().unwrap();
            assert!(r.is_ok(), "round {round}: {r:?}");
        }
        let s = SqliteStore::open(&path).unwrap();
        let version = s
            .pragmas()
            .unwrap()
            .into_iter()
            .find(|(k, _)| k == "user_version")
            .unwrap()
            .1;
        assert_eq!(version, dealflow_store::sqlite::schema::VERSION.to_string());
        assert_eq!(s.integrity_check().unwrap(), "ok");
        if round == 0 {
            seed(&s);
        }
    }
}

/// The child side of the multi-process test.
#[test]
fn child_process_writer() {
    let (Ok(path), Ok(me)) = (
        std::env::var("DEALFLOW_STORE_CHILD_PATH"),
        std::env::var("DEALFLOW_STORE_CHILD_ID"),
    ) else {
        return;
    };
    let s = SqliteStore::open(Path::new(&path)).unwrap();
    let reg = json!({"key": format!("reg-{me}"), "type": "register", "by": {"partner": format!("P-G{me}")}, "opportunity": format!("OPP-G{me}")});
    let outcome = first_outcome(&s, &reg, "2026-09-03T12:00:00Z");
    for k in 0..EACH {
        let cmd = json!({"key": format!("act-{me}-{k}"), "type": "log_activity", "by": {"partner": "P-ACME"}, "opportunity": "OPP-1", "kind": "email"});
        assert_eq!(first_outcome(&s, &cmd, "2026-09-03T12:00:00Z"), "recorded");
    }
    println!("OUTCOME {outcome}");
}

#[test]
fn child_processes_share_the_file_without_double_booking_or_lost_updates() {
    const CHILDREN: usize = 3;
    let ts = TempStore::new();
    seed(&ts.store);
    create_opp(
        &ts.store,
        "OPP-1",
        "P-ACME",
        "A-GLOBEX",
        100_000,
        "2026-09-02T14:00:00Z",
    );
    for i in 0..CHILDREN {
        let p = format!("P-G{i}");
        submit(
            &ts.store,
            json!({"key": format!("pg{i}"), "type": "upsert_partner", "by": admin(), "partner": {"id": p, "name": format!("Gold {i}"), "tier": "Gold", "territories": ["NA"], "specializations": ["Security"], "win_rate": "30%"}}),
            "2026-09-02T14:00:00Z",
        );
        create_opp(
            &ts.store,
            &format!("OPP-G{i}"),
            &p,
            "A-INITECH",
            90_000,
            "2026-09-02T14:00:00Z",
        );
    }
    let path: PathBuf = ts.path();
    let children: Vec<_> = (0..CHILDREN)
        .map(|i| {
            Process::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "child_process_writer",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("DEALFLOW_STORE_CHILD_PATH", &path)
                .env("DEALFLOW_STORE_CHILD_ID", i.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outcomes: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            text.lines()
                .find_map(|l| {
                    l.split_once("OUTCOME ")
                        .map(|(_, o)| o.split_whitespace().next().unwrap_or("").to_string())
                })
                .unwrap_or_else(|| panic!("no outcome in {text}"))
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "approved").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "denied").count(),
        CHILDREN - 1,
        "{outcomes:?}"
    );
    assert_eq!(
        activity_counts(&path, "OPP-1"),
        (CHILDREN * EACH, CHILDREN * EACH)
    );
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.verify().unwrap().first_broken, None);
    assert_eq!(s.integrity_check().unwrap(), "ok");
}
