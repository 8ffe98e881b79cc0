//! Criterion benchmark: parse, check and lint the reference policy
//! `policies/channel-standard.policy` (264 lines) and the 300-line fixture
//! `fixtures/channel-extended.policy` (the work `dealflow lint` does per file).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dealflow_dsl::{analyze, parser, SourceFile};

const POLICIES: &[(&str, &str)] = &[
    (
        "channel-standard",
        include_str!("../../policies/channel-standard.policy"),
    ),
    (
        "channel-extended",
        include_str!("fixtures/channel-extended.policy"),
    ),
];

fn bench(c: &mut Criterion) {
    for (name, text) in POLICIES {
        let src = SourceFile::new(format!("{name}.policy"), *text);
        let mut group = c.benchmark_group(*name);
        group.bench_function("parse", |b| b.iter(|| parser::parse(black_box(&src))));
        group.bench_function("parse+check+lint", |b| {
            b.iter(|| {
                let analysis = analyze(black_box(&src));
                assert!(
                    analysis.diagnostics.is_empty(),
                    "benchmark policies must lint clean"
                );
                analysis
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
