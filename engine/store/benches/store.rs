//! Criterion benchmarks of the store, each on a real file in a temporary directory
//! unless it says `memory` (`cargo bench -p dealflow-store --bench store`). The same
//! measurements at larger sizes, printed as one table, are in
//! `examples/store_figures.rs`.
//!
//! - `submit_batch/1000_full`: 1000 commands of the realistic mix (see
//!   `support/mod.rs`) in one `submit_batch` on a synchronous=FULL file;
//! - `submit_one/{full,normal}`: 50 log_activity commands (over 100 deals), one
//!   transaction each,
//!   synchronous FULL against NORMAL (the fsync cost);
//! - `append/log_activity_1000`: 1000 cheap commands in one transaction;
//!   `append/raw_events_10000`: 10,000 rusqlite INSERTs into the events table of a
//!   store file in one transaction (not through the store API);
//! - `replay/1000_memory`: 1000 logged commands (policy publish included) into a
//!   fresh in-memory store;
//! - `tick/3000_timers`: one tick firing 3000 due timers (1000 Silver registrations
//!   pending review).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark"
)]

mod support;

use std::time::Duration as StdDuration;

use chrono::Duration;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dealflow_store::sqlite::{Durability, SqliteStore};
use dealflow_store::Store;
use support::*;

/// A store file in its own directory, with the policy and partners, and 100 deals
/// registered.
fn fresh(durability: Durability) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_with(&dir.path().join("program.db"), durability).unwrap();
    submit_all(&s, &setup(), 1000);
    submit_all(&s, &deals_ready(100), 1000);
    (dir, s)
}

fn submit_batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("submit_batch");
    g.sample_size(10)
        .measurement_time(StdDuration::from_secs(10));
    let cmds = workload(100, 1000 / PER_OPPORTUNITY);
    g.throughput(Throughput::Elements(cmds.len() as u64));
    g.bench_function("1000_full", |b| {
        b.iter_batched(
            || fresh(Durability::Full),
            |(dir, s)| {
                submit_all(&s, &cmds, 1000);
                (dir, s)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn submit_one(c: &mut Criterion) {
    let mut g = c.benchmark_group("submit_one");
    g.sample_size(10)
        .measurement_time(StdDuration::from_secs(10));
    let cmds = activities(50, 100, "one");
    g.throughput(Throughput::Elements(cmds.len() as u64));
    for (name, durability) in [("full", Durability::Full), ("normal", Durability::Normal)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || fresh(durability),
                |(dir, s)| {
                    for (raw, at) in &cmds {
                        s.submit(raw, *at).unwrap();
                    }
                    (dir, s)
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.sample_size(10)
        .measurement_time(StdDuration::from_secs(10));
    let cmds = activities(1000, 100, "batched");
    g.throughput(Throughput::Elements(cmds.len() as u64));
    g.bench_function("log_activity_1000", |b| {
        b.iter_batched(
            || fresh(Durability::Full),
            |(dir, s)| {
                submit_all(&s, &cmds, 1000);
                (dir, s)
            },
            BatchSize::PerIteration,
        );
    });
    const ROWS: usize = 10_000;
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("raw_events_10000", |b| {
        b.iter_batched(
            || {
                let (dir, s) = fresh(Durability::Full);
                drop(s);
                let raw = rusqlite::Connection::open(dir.path().join("program.db")).unwrap();
                raw.pragma_update(None, "synchronous", "FULL").unwrap();
                (dir, raw)
            },
            |(dir, raw)| {
                let tx = raw.unchecked_transaction().unwrap();
                {
                    let mut st = tx
                        .prepare("INSERT INTO events (decision_seq, at, opportunity, lead, kind, data) VALUES (1, ?1, 'OPP-0', NULL, 'activity_logged', ?2)")
                        .unwrap();
                    for k in 0..ROWS {
                        st.execute(rusqlite::params![
                            format!("2026-09-03T12:00:00.{k:09}Z"),
                            format!("{{\"kind\":\"call\",\"note\":\"raw {k}\"}}")
                        ])
                        .unwrap();
                    }
                }
                tx.commit().unwrap();
                (dir, raw)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn replay(c: &mut Criterion) {
    let mut g = c.benchmark_group("replay");
    g.sample_size(10)
        .measurement_time(StdDuration::from_secs(10));
    // A logged command log of ~1000 commands.
    let (_dir, source) = fresh(Durability::Normal);
    submit_all(&source, &workload(100, 1000 / PER_OPPORTUNITY), 1000);
    let log: Vec<_> = source
        .commands()
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.raw,
                chrono::DateTime::parse_from_rfc3339(&c.at)
                    .unwrap()
                    .with_timezone(&chrono::Utc),
            )
        })
        .collect();
    g.throughput(Throughput::Elements(log.len() as u64));
    g.bench_function("1000_memory", |b| {
        b.iter_batched(
            || SqliteStore::open_in_memory().unwrap(),
            |s| {
                submit_all(&s, &log, 1000);
                s
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn tick(c: &mut Criterion) {
    let mut g = c.benchmark_group("tick");
    g.sample_size(10)
        .measurement_time(StdDuration::from_secs(20));
    let cmds = pending_reviews(1000);
    g.throughput(Throughput::Elements(3000));
    g.bench_function("3000_timers", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let s = SqliteStore::open(&dir.path().join("program.db")).unwrap();
                submit_all(&s, &cmds, 1000);
                (dir, s)
            },
            |(dir, s)| {
                let out = s
                    .submit(
                        r#"{"type": "tick", "by": "system"}"#,
                        start() + Duration::days(60),
                    )
                    .unwrap();
                assert_eq!(out.decisions.len(), 3000);
                (dir, s)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, submit_batch, submit_one, append, replay, tick);
criterion_main!(benches);
