//! Criterion benchmark: parse, check and lint the reference policy
//! `policies/channel-standard.policy` (the work `dealflow lint` does per file).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dealflow_dsl::{analyze, parser, SourceFile};

const CHANNEL_STANDARD: &str = include_str!("../../policies/channel-standard.policy");

fn bench(c: &mut Criterion) {
    let src = SourceFile::new("channel-standard.policy", CHANNEL_STANDARD);
    let mut group = c.benchmark_group("channel-standard");
    group.bench_function("parse", |b| b.iter(|| parser::parse(black_box(&src))));
    group.bench_function("parse+check+lint", |b| {
        b.iter(|| {
            let analysis = analyze(black_box(&src));
            assert!(analysis.ir.is_some(), "reference policy must check clean");
            analysis
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
