//! Lint fixtures: every `fixtures/lints/<CODE>-<name>[-case].policy` triggers its code
//! and nothing else, asserted through [`analyze`] with a snapshot of each diagnostic
//! (code, severity, message, help and the source text under each span);
//! `fixtures/lints/clean.policy` uses every section and triggers nothing.

#![expect(
    clippy::unwrap_used,
    reason = "fixture helpers fail loudly on a broken fixture"
)]

use std::path::Path;

use dealflow_dsl::{analyze, Code, Diagnostic, SourceFile};
use serde::Serialize;

/// A diagnostic as the snapshot shows it: spans replaced by the text under them.
#[derive(Debug, Serialize)]
struct Shown<'a> {
    code: String,
    severity: dealflow_dsl::Severity,
    message: &'a str,
    help: Option<&'a str>,
    label: &'a str,
    source: &'a str,
    related: Vec<(&'a str, &'a str)>,
}

fn show<'a>(text: &'a str, d: &'a Diagnostic) -> Shown<'a> {
    Shown {
        code: format!("{} {}", d.code.as_str(), d.code.name()),
        severity: d.severity,
        message: &d.message,
        help: d.help.as_deref(),
        label: &d.label,
        source: &text[d.span.clone()],
        related: d
            .related
            .iter()
            .map(|r| (r.label.as_str(), &text[r.span.clone()]))
            .collect(),
    }
}

fn load(path: &Path) -> SourceFile {
    let text = std::fs::read_to_string(path).unwrap();
    SourceFile::new(
        path.file_name().unwrap().to_string_lossy().to_string(),
        text,
    )
}

fn fixtures_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lints")
}

#[test]
fn each_fixture_triggers_exactly_its_code() {
    insta::glob!("fixtures/lints/[EW]3*.policy", |path| {
        let src = load(path);
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let code = Code::ALL
            .iter()
            .copied()
            .find(|c| stem.starts_with(&format!("{}-{}", c.as_str(), c.name())));
        let code = code.unwrap_or_else(|| panic!("{stem}: name must start with `<CODE>-<name>`"));
        let analysis = analyze(&src);
        let shown: Vec<Shown> = analysis
            .diagnostics
            .iter()
            .map(|d| show(&src.text, d))
            .collect();
        assert!(!shown.is_empty(), "{stem} reports nothing");
        let others: Vec<&Shown> = shown
            .iter()
            .filter(|s| !s.code.starts_with(code.as_str()))
            .collect();
        assert!(others.is_empty(), "{stem} reports other codes: {others:#?}");
        assert_eq!(
            analysis.ir.is_some(),
            !code.severity().eq(&dealflow_dsl::Severity::Error)
        );
        insta::assert_yaml_snapshot!(shown);
    });
}

#[test]
fn clean_fixture_has_no_diagnostics() {
    let src = load(&fixtures_dir().join("clean.policy"));
    let analysis = analyze(&src);
    let shown: Vec<Shown> = analysis
        .diagnostics
        .iter()
        .map(|d| show(&src.text, d))
        .collect();
    assert!(shown.is_empty(), "clean.policy: {shown:#?}");
    assert!(analysis.ir.is_some());
}

#[test]
fn every_lint_code_has_a_fixture() {
    let names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    for rule in dealflow_dsl::lints::RULES {
        let code = rule.code();
        let prefix = format!("{}-{}", code.as_str(), code.name());
        assert!(
            names.iter().any(|n| n.starts_with(&prefix)),
            "no fixture `{prefix}.policy`"
        );
    }
}

/// Lints never panic: analyze every fixture with each line removed in turn, which
/// yields partial sections, dangling references and half-declared tables.
#[test]
fn mutated_fixtures_never_panic() {
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for skip in 0..lines.len() {
            let mutated: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| *l)
                .collect();
            let _ = analyze(&SourceFile::new("mutated.policy", mutated.join("\n")));
        }
    }
}
