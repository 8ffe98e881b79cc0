//! Decision throughput on the reference policy: `advance` and full `evaluate`, each
//! without trace (`decide_fast_with`), with full explanation (`decide`), and beside a
//! hand-written Rust function implementing the same rules on a plain struct.
#![allow(clippy::unwrap_used, reason = "benchmark setup")]

mod support;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use dealflow_engine::{Action, Audience, Scratch};
use support::*;

fn advance(c: &mut Criterion) {
    let p = policy();
    // The engine and the hand-written functions implement the same rules.
    check_agreement(&p, 2000);
    let ctx = context(&p);
    let now = now();
    // Variant 0 is in Identification with full qualification evidence.
    let rec = deal(&p, 0);
    let hand = hand_deal(0);
    let action: Action = "advance Qualification".parse().unwrap();
    let mut scratch = Scratch::default();
    assert_eq!(
        p.decide_fast(&rec, &action, &ctx, now).outcome == dealflow_engine::Outcome::Approved,
        hand_advance_qualification(&hand, now)
    );
    let mut g = c.benchmark_group("advance");
    g.bench_function("engine_fast", |b| {
        b.iter(|| {
            p.decide_fast_with(&mut scratch, black_box(&rec), &action, &ctx, now)
                .outcome
        })
    });
    g.bench_function("engine_explain", |b| {
        b.iter(|| {
            p.decide(black_box(&rec), &action, &ctx, now, &Audience::Vendor)
                .outcome
        })
    });
    g.bench_function("hand_written", |b| {
        b.iter(|| hand_advance_qualification(black_box(&hand), now))
    });
    g.finish();
}

fn evaluate(c: &mut Criterion) {
    let p = policy();
    let ctx = context(&p);
    let now = now();
    // Variant 8: ProposalEvaluation, Platinum, approved registration.
    let i = 8;
    let rec = deal(&p, i);
    let hand = hand_deal(i);
    let usage = [4u32, 3, 0, 0];
    let action = Action::Evaluate;
    let mut scratch = Scratch::default();
    let fast = p.decide_fast(&rec, &action, &ctx, now);
    let h = hand_evaluate(&hand, &usage, now);
    assert_eq!(
        fast.summary.weighted_amount,
        Some(h.weighted),
        "engine and hand-written disagree"
    );
    assert_eq!(
        fast.summary.commission,
        Some(h.commission),
        "engine and hand-written disagree"
    );
    assert_eq!(
        fast.summary.cosell_assigned, h.assigned,
        "engine and hand-written disagree"
    );
    assert_eq!(
        fast.summary.flags,
        u64::from(h.flags),
        "engine and hand-written disagree"
    );
    let mut g = c.benchmark_group("evaluate");
    g.bench_function("engine_fast", |b| {
        b.iter(|| {
            p.decide_fast_with(&mut scratch, black_box(&rec), &action, &ctx, now)
                .summary
        })
    });
    g.bench_function("engine_explain", |b| {
        b.iter(|| {
            p.decide(black_box(&rec), &action, &ctx, now, &Audience::Vendor)
                .outcome
        })
    });
    g.bench_function("hand_written", |b| {
        b.iter(|| hand_evaluate(black_box(&hand), &usage, now).weighted)
    });
    g.finish();
}

criterion_group!(benches, advance, evaluate);
criterion_main!(benches);
