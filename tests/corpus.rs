//! Fixture corpus: every `corpus/ok/*.policy` must analyze with zero diagnostics and
//! gets an AST snapshot; every `corpus/err/<CODE>-<name>.policy` must produce a
//! diagnostic with that code and gets a rendered-diagnostic snapshot. Every code in
//! `Code::ALL` must have an `err` fixture.

#![allow(
    clippy::unwrap_used,
    reason = "test harness: an unreadable fixture should fail the test loudly"
)]

use std::path::Path;

use dealflow_dsl::{analyze, Code, SourceFile};

fn load(path: &Path) -> SourceFile {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    SourceFile::new(name, text)
}

fn render(src: &SourceFile, diags: &[dealflow_dsl::Diagnostic]) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    let mut out = String::new();
    for d in diags {
        handler
            .render_report(&mut out, &d.with_source(src))
            .unwrap();
        out.push('\n');
    }
    out
}

#[test]
fn ok_fixtures_are_clean() {
    insta::glob!("corpus/ok/*.policy", |path| {
        let src = load(path);
        let analysis = analyze(&src);
        assert!(
            analysis.diagnostics.is_empty(),
            "{} should be clean:\n{}",
            path.display(),
            render(&src, &analysis.diagnostics)
        );
        assert!(analysis.ir.is_some());
        insta::assert_yaml_snapshot!(analysis.ast.unwrap());
    });
}

#[test]
fn err_fixtures_report_their_code() {
    insta::glob!("corpus/err/*.policy", |path| {
        let src = load(path);
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let code = stem.split('-').next().unwrap().to_string();
        let analysis = analyze(&src);
        assert!(
            analysis.diagnostics.iter().any(|d| d.code.as_str() == code),
            "{} should report {code}, got:\n{}",
            path.display(),
            render(&src, &analysis.diagnostics)
        );
        insta::assert_snapshot!(render(&src, &analysis.diagnostics));
    });
}

#[test]
fn every_code_has_an_err_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/err");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let missing: Vec<&str> = Code::ALL
        .iter()
        // Data lints need a store beside the policy; `cli/tests/cli/crm.rs` covers them.
        .filter(|c| !c.needs_data())
        .map(|c| c.as_str())
        .filter(|c| !names.iter().any(|n| n.starts_with(&format!("{c}-"))))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a corpus/err fixture: {missing:?}"
    );
}
