//! A tight loop over one decision, for profilers (`perf record`, callgrind):
//! `fe`/`fa` = evaluate/advance without trace, `ee`/`ea` = with full explanation.
//!
//! `cargo run --release -p dealflow-engine --example profile -- fe 1000000`
#![allow(clippy::unwrap_used, reason = "example")]
#[path = "../benches/support.rs"]
mod support;
use dealflow_engine::{Action, Audience, Scratch};
fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let p = support::policy();
    let ctx = support::context(&p);
    let now = support::now();
    let rec = support::deal(&p, 8);
    let adv: Action = "advance Qualification".parse().unwrap();
    let rec0 = support::deal(&p, 0);
    let mut s = Scratch::default();
    let t = std::time::Instant::now();
    let mut k = 0usize;
    for _ in 0..n {
        k += match mode.as_str() {
            "fe" => {
                p.decide_fast_with(
                    &mut s,
                    std::hint::black_box(&rec),
                    &Action::Evaluate,
                    &ctx,
                    now,
                )
                .summary
                .cosell_assigned as usize
            }
            "fa" => {
                p.decide_fast_with(&mut s, std::hint::black_box(&rec0), &adv, &ctx, now)
                    .summary
                    .cosell_assigned as usize
            }
            "ee" => p
                .decide(
                    std::hint::black_box(&rec),
                    &Action::Evaluate,
                    &ctx,
                    now,
                    &Audience::Vendor,
                )
                .reasons
                .len(),
            _ => p
                .decide(
                    std::hint::black_box(&rec0),
                    &adv,
                    &ctx,
                    now,
                    &Audience::Vendor,
                )
                .reasons
                .len(),
        };
    }
    println!(
        "{mode}: {:.1} ns/iter ({k})",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
