//! The store's figures in one table: run with
//! `cargo run --release -p dealflow-store --example store_figures` (add `-- --quick`
//! for a smoke run with small sizes, `-- --only a,d` for some of the figures, and
//! `--opps N` / `--reviews N` for the sizes of (a) and (e)). Every figure is a single timed run on a real
//! file in a temporary directory unless it says `memory`; see
//! `engine/store/benches/store.rs` for the same measurements under criterion.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark"
)]

#[path = "../benches/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use dealflow_store::sqlite::{Durability, SqliteStore};
use dealflow_store::{Audience, Store};
use support::*;

struct Row {
    figure: String,
    value: String,
    how: String,
}

fn per_sec(n: usize, d: StdDuration) -> String {
    format!("{:.0}/s", n as f64 / d.as_secs_f64())
}

fn us_per(n: usize, d: StdDuration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6 / n as f64)
}

fn file_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn peak_rss_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<u64>().ok())
            })
        })
        .map_or_else(|| "?".into(), |kib| format!("{} MiB", kib / 1024))
}

/// A store file with the policy, the partners and `deals` deals registered.
fn with_deals(path: &Path, durability: Durability, deals: usize) -> SqliteStore {
    let s = SqliteStore::open_with(path, durability).unwrap();
    submit_all(&s, &setup(), 1000);
    submit_all(&s, &deals_ready(deals), 1000);
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Option<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let want = |f: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == f));
    let (mut opps, singles, activity_n, raw_rows, mut reviews) = if quick {
        (100, 100, 2_000, 10_000, 300)
    } else {
        (2_500, 1_000, 20_000, 500_000, 33_334)
    };
    let size = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    opps = size("--opps").unwrap_or(opps);
    reviews = size("--reviews").unwrap_or(reviews);
    let mut rows: Vec<Row> = Vec::new();
    let tmp = tempfile::tempdir().unwrap();

    // (a) Batched submits with decisions, synchronous=FULL, and (f) the file size.
    let dir_a = tmp.path().join("a");
    std::fs::create_dir(&dir_a).unwrap();
    let path_a = dir_a.join("program.db");
    let log = {
        let s = SqliteStore::open(&path_a).unwrap();
        submit_all(&s, &setup(), 1000);
        let cmds = workload(0, opps);
        let t0 = Instant::now();
        let decisions = submit_all(&s, &cmds, 1000);
        let d = t0.elapsed();
        rows.push(Row {
            figure: "(a) submit_batch, 1000 commands per transaction, FULL".into(),
            value: format!("{} commands ({} decisions)", per_sec(cmds.len(), d), per_sec(decisions, d)),
            how: format!(
                "{} commands of {opps} deals x {PER_OPPORTUNITY} (account, create, register, 3 advances, 3 updates, 10 activities, close won) in {:.2} s; {:.0} µs per command",
                cmds.len(),
                d.as_secs_f64(),
                d.as_secs_f64() * 1e6 / cmds.len() as f64
            ),
        });
        assert_eq!(s.verify().unwrap().first_broken, None);
        let log = s.commands().unwrap();
        let counts = s.counts().unwrap();
        drop(s);
        // (f) Checkpoint the WAL into the file, then measure.
        let raw = rusqlite::Connection::open(&path_a).unwrap();
        raw.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        let pages: i64 = raw
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        let page: i64 = raw.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        drop(raw);
        let bytes = file_bytes(&dir_a);
        let n = |t: &str| counts.iter().find(|(k, _)| k == t).map_or(0, |(_, n)| *n);
        rows.push(Row {
            figure: "(f) store bytes per opportunity".into(),
            value: format!("{:.1} KiB", bytes as f64 / opps as f64 / 1024.0),
            how: format!(
                "file {} bytes ({} pages of {page}) after the (a) workload and a WAL checkpoint, / {opps} deals; {} commands, {} decisions, {} events, {} commission lines",
                bytes,
                pages,
                n("commands"),
                n("decisions"),
                n("events"),
                n("commission")
            ),
        });
        log
    };

    // (b) One command per transaction: FULL against NORMAL.
    for (name, durability) in [("FULL", Durability::Full), ("NORMAL", Durability::Normal)] {
        if !want("b") {
            break;
        }
        let dir = tmp.path().join(format!("b-{name}"));
        std::fs::create_dir(&dir).unwrap();
        let s = with_deals(&dir.join("program.db"), durability, 100);
        let cmds = activities(singles, 100, "single");
        let t0 = Instant::now();
        for (raw, at) in &cmds {
            s.submit(raw, *at).unwrap();
        }
        let d = t0.elapsed();
        rows.push(Row {
            figure: format!("(b) submit, one command per transaction, {name}"),
            value: per_sec(cmds.len(), d),
            how: format!(
                "{} log_activity commands one by one; {} per command",
                cmds.len(),
                us_per(cmds.len(), d)
            ),
        });
        let cmds: Vec<_> = workload(100, singles / PER_OPPORTUNITY)
            .into_iter()
            .map(|(r, at)| (r, at + Duration::days(2)))
            .collect();
        let t0 = Instant::now();
        for (raw, at) in &cmds {
            s.submit(raw, *at).unwrap();
        }
        let d = t0.elapsed();
        rows.push(Row {
            figure: format!("(b) submit, one command per transaction, {name}, deal mix"),
            value: per_sec(cmds.len(), d),
            how: format!(
                "{} commands of the (a) mix one by one; {} per command",
                cmds.len(),
                us_per(cmds.len(), d)
            ),
        });
    }

    // (c) Appends: the cheapest command (log_activity: one decision, one event, one
    // history entry), batched; and raw rusqlite inserts into `events`.
    if want("c") {
        let dir = tmp.path().join("c");
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("program.db");
        let s = with_deals(&path, Durability::Full, 1000);
        let cmds = activities(activity_n, 1000, "batched");
        let t0 = Instant::now();
        submit_all(&s, &cmds, 1000);
        let d = t0.elapsed();
        rows.push(Row {
            figure: "(c) log_activity commands, 1000 per transaction, FULL".into(),
            value: per_sec(cmds.len(), d),
            how: format!("{} commands round robin over 1000 deals; {} per command (parse, idempotency, load, record check, history rewrite, decision + hash, event)", cmds.len(), us_per(cmds.len(), d)),
        });
        // One deal's history grows with every activity, and each command rewrites it.
        let one: Vec<_> = activities(2_000, 1, "one-deal");
        let (head, tail) = one.split_at(one.len() - 200);
        let (first, _) = head.split_at(200);
        let t0 = Instant::now();
        submit_all(&s, first, 1000);
        let d_first = t0.elapsed();
        submit_all(&s, &head[200..], 1000);
        let t0 = Instant::now();
        submit_all(&s, tail, 1000);
        let d_last = t0.elapsed();
        rows.push(Row {
            figure: "(c) log_activity on one deal as its history grows".into(),
            value: format!("{} -> {}", us_per(200, d_first), us_per(200, d_last)),
            how: "per command, the first 200 against the last 200 of 2,000 activities on one deal (the history is one JSON column, read and rewritten by each command)".into(),
        });
        drop(s);
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.pragma_update(None, "synchronous", "FULL").unwrap();
        let t0 = Instant::now();
        let tx = raw.unchecked_transaction().unwrap();
        {
            let mut st = tx
                .prepare("INSERT INTO events (decision_seq, at, opportunity, lead, kind, data) VALUES (1, ?1, 'OPP-0', NULL, 'activity_logged', ?2)")
                .unwrap();
            for k in 0..raw_rows {
                st.execute(rusqlite::params![
                    format!("2026-09-03T12:00:00.{k:09}Z"),
                    format!("{{\"kind\":\"call\",\"note\":\"raw {k}\"}}")
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
        let d = t0.elapsed();
        rows.push(Row {
            figure: "(c) raw INSERT into events, one transaction, FULL".into(),
            value: per_sec(raw_rows, d),
            how: format!("{raw_rows} rows, prepared statement, rusqlite on the store file (not the store API); {} per row", us_per(raw_rows, d)),
        });
        let n = 1000.min(raw_rows);
        let t0 = Instant::now();
        for k in 0..n {
            raw.execute(
                "INSERT INTO events (decision_seq, at, opportunity, lead, kind, data) VALUES (1, ?1, 'OPP-0', NULL, 'activity_logged', '{}')",
                [format!("2026-09-04T12:00:00.{k:09}Z")],
            )
            .unwrap();
        }
        let d = t0.elapsed();
        rows.push(Row {
            figure: "(c) raw INSERT into events, one row per transaction, FULL".into(),
            value: per_sec(n, d),
            how: format!(
                "{n} autocommit rows: the fsync floor of this disk; {} per row",
                us_per(n, d)
            ),
        });
    }

    // (d) Replay into a store in memory: the (a) log, then (when it fits in 2
    // minutes by that rate) a real 1,000,000.
    if want("d") {
        let t0 = Instant::now();
        let fresh = SqliteStore::open_in_memory().unwrap();
        let cmds: Vec<_> = log
            .iter()
            .map(|c| {
                (
                    c.raw.clone(),
                    chrono::DateTime::parse_from_rfc3339(&c.at)
                        .unwrap()
                        .with_timezone(&chrono::Utc),
                )
            })
            .collect();
        submit_all(&fresh, &cmds, 1000);
        let d = t0.elapsed();
        let per = d.as_secs_f64() / cmds.len() as f64;
        let same = s_decisions(&fresh) == s_decisions(&SqliteStore::open(&path_a).unwrap());
        rows.push(Row {
            figure: format!("(d) replay of {} logged commands, memory", cmds.len()),
            value: format!("{:.1} µs per command", per * 1e6),
            how: format!(
                "Store::commands() -> submit_batch of 1000 into open_in_memory (policy compile included); decisions byte-identical: {same}; 1,000,000 extrapolated: {:.0} s",
                per * 1e6
            ),
        });
        if !quick && per * 1e6 < 120.0 {
            let million = {
                let mut v = setup();
                v.extend(workload(0, 1_000_000 / PER_OPPORTUNITY));
                v
            };
            let fresh = SqliteStore::open_in_memory().unwrap();
            let t0 = Instant::now();
            let decisions = submit_all(&fresh, &million, 1000);
            let d = t0.elapsed();
            rows.push(Row {
                figure: format!("(d) replay of {} commands, memory, real", million.len()),
                value: format!("{:.1} s", d.as_secs_f64()),
                how: format!(
                    "the (a) mix for 50,000 deals fed in batches of 1000 into open_in_memory: {} per command, {decisions} decisions; peak RSS of this process {}",
                    us_per(million.len(), d),
                    peak_rss_mib()
                ),
            });
        } else if !quick {
            rows.push(Row {
                figure: "(d) replay of 1,000,000 commands, real".into(),
                value: "not run".into(),
                how: "the extrapolation is over 2 minutes".into(),
            });
        }
    }

    // (e) One tick over ~100,000 due timers.
    if want("e") {
        let dir = tmp.path().join("e");
        std::fs::create_dir(&dir).unwrap();
        let s = SqliteStore::open(&dir.join("program.db")).unwrap();
        let cmds = pending_reviews(reviews);
        let t0 = Instant::now();
        submit_all(&s, &cmds, 1000);
        let setup_time = t0.elapsed();
        let timers = s
            .counts()
            .unwrap()
            .into_iter()
            .find(|(k, _)| k == "timers")
            .map_or(0, |(_, n)| n);
        let tick = r#"{"type": "tick", "by": "system"}"#;
        let t0 = Instant::now();
        let out = s.submit(tick, start() + Duration::days(60)).unwrap();
        let d = t0.elapsed();
        let pending = s
            .queue(&Audience::Vendor, start() + Duration::days(60))
            .unwrap();
        rows.push(Row {
            figure: format!("(e) one tick over {timers} due timers, FULL"),
            value: format!("{:.2} s", d.as_secs_f64()),
            how: format!(
                "{reviews} Silver registrations pending review (2 escalations + SLA breach each; set up in {:.1} s), ticked 60 days later in one command: {} decisions, {} per timer; {} registrations breached",
                setup_time.as_secs_f64(),
                out.decisions.len(),
                us_per(out.decisions.len().max(1), d),
                pending.iter().filter(|q| q.breached).count()
            ),
        });
    }

    let w0 = rows
        .iter()
        .map(|r| r.figure.chars().count())
        .max()
        .unwrap_or(0);
    let w1 = rows
        .iter()
        .map(|r| r.value.chars().count())
        .max()
        .unwrap_or(0);
    println!("{:<w0$}  {:<w1$}  how", "figure", "value");
    for r in &rows {
        println!("{:<w0$}  {:<w1$}  {}", r.figure, r.value, r.how);
    }
}

fn s_decisions(s: &SqliteStore) -> Vec<dealflow_store::Logged> {
    s.decisions(&Audience::Vendor, 0, usize::MAX).unwrap()
}
