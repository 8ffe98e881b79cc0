//! Evaluates 1,000,000 generated deals on the reference policy with rayon over two
//! threads (fast path, no trace) and prints records per second.
//!
//! The records are a pool of 4,096 distinct pre-parsed deals (record i is deal
//! i % 4096; together several MB of heap, well beyond L2), parsed before the clock
//! starts; only the decisions are timed.
//!
//! `cargo run --release -p dealflow-engine --example batch [count]`
#![allow(clippy::unwrap_used, reason = "example setup")]

#[path = "../benches/support.rs"]
mod support;

use std::time::Instant;

use dealflow_engine::{Action, Outcome, Scratch};
use rayon::prelude::*;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let p = support::policy();
    let ctx = support::context(&p);
    let now = support::now();
    // 4096 distinct generated records; record i is variant i % 4096.
    // The hand-written baseline agrees with the engine on these deals.
    support::check_agreement(&p, 4096);
    let variants: Vec<_> = (0..4096).map(|i| support::deal(&p, i)).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let start = Instant::now();
    let (evaluated, weighted) = pool.install(|| {
        (0..n)
            .into_par_iter()
            .map_init(Scratch::default, |s, i| {
                let r = &variants[i % variants.len()];
                let d = p.decide_fast_with(s, r, &Action::Evaluate, &ctx, now);
                (
                    usize::from(d.outcome == Outcome::Evaluated),
                    d.summary.weighted_amount.unwrap_or_default(),
                )
            })
            .reduce(
                || (0, rust_decimal::Decimal::ZERO),
                |a, b| (a.0 + b.0, a.1 + b.1),
            )
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "evaluated {evaluated} records in {secs:.3} s on 2 threads: {:.0} records/s (total weighted pipeline {weighted})",
        n as f64 / secs
    );
}
