//! Criterion benchmark: parse, check and lint generated policies of every shape in
//! `gen/` (huge rate tables, many flags, stages, pools, evidence, routes, long
//! expressions, comments, registration rules, warnings, syntax errors, unknown
//! names), at two sizes, so a super-linear step shows as a time that more than
//! doubles with the size. `benches/scale.sh` times the release `dealflow lint` on
//! 30,000- and 60,000-line versions of the same policies.
//!
//! `SCALE_LINES` sets the smaller size (default 3,000 lines; the larger is twice it).

mod gen;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dealflow_dsl::{analyze, SourceFile};

fn bench(c: &mut Criterion) {
    let lines: usize = std::env::var("SCALE_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000);
    for shape in gen::Shape::ALL {
        let mut group = c.benchmark_group(shape.name());
        group.sample_size(10);
        for n in [lines, lines * 2] {
            let src = SourceFile::new(
                format!("{}-{n}.policy", shape.name()),
                gen::generate(*shape, n),
            );
            group.bench_function(format!("analyze/{n}"), |b| {
                b.iter(|| analyze(black_box(&src)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
