//! `dealflow fmt`: in-place formatting, `--check`, stdin, refusing syntax errors.

use insta::assert_snapshot;

use super::{run, run_in, scratch_dir, tests_dir};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(tests_dir().join("fixtures/fmt").join(name)).expect("read fixture")
}

#[test]
fn check_lists_files_that_would_change_and_changes_nothing() {
    let dir = scratch_dir("fmt-check");
    std::fs::write(
        dir.join("unformatted.policy"),
        fixture("unformatted.policy"),
    )
    .expect("write");
    let r = run_in(&dir, &["fmt", "--check", "."], None);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert_eq!(
        std::fs::read_to_string(dir.join("unformatted.policy")).expect("read"),
        fixture("unformatted.policy")
    );
    assert_snapshot!(r.snapshot());
}

#[test]
fn formats_in_place_then_check_passes() {
    let dir = scratch_dir("fmt-in-place");
    std::fs::write(
        dir.join("unformatted.policy"),
        fixture("unformatted.policy"),
    )
    .expect("write");
    let r = run_in(&dir, &["fmt", "unformatted.policy"], None);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let formatted = std::fs::read_to_string(dir.join("unformatted.policy")).expect("read");
    assert_ne!(formatted, fixture("unformatted.policy"));
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left behind: {names:?}");
    // Idempotent: a second run changes nothing and --check passes.
    let again = run_in(&dir, &["fmt", "--check", "unformatted.policy"], None);
    assert_eq!(again.code, 0, "{}", again.snapshot());
    assert_snapshot!(formatted);
}

#[test]
fn stdin_to_stdout() {
    let r = run_in(
        &tests_dir(),
        &["fmt", "-"],
        Some(&fixture("unformatted.policy")),
    );
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert_snapshot!(r.snapshot());
}

#[test]
fn syntax_errors_are_shown_and_nothing_is_written() {
    let dir = scratch_dir("fmt-syntax");
    std::fs::write(dir.join("syntax.policy"), fixture("syntax.policy")).expect("write");
    let r = run_in(&dir, &["fmt", "syntax.policy"], None);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert!(r.stderr.contains("E001"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("syntax.policy")).expect("read"),
        fixture("syntax.policy")
    );
    assert_snapshot!(r.snapshot());
}

#[test]
fn missing_path_is_exit_2() {
    let r = run(&["fmt", "--check", "fixtures/fmt/nope.policy"]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
}
