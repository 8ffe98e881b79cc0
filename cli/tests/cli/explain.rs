//! `dealflow explain CODE`: the section of docs/lints.md for a code; unknown codes.

use insta::assert_snapshot;

use super::run;

#[test]
fn prints_the_section_of_a_code() {
    let r = run(&["explain", "W304"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert_snapshot!(r.snapshot());
}

#[test]
fn every_code_in_the_lint_json_can_be_explained() {
    // Codes as `lint` reports them round-trip through `explain`, by code and by name.
    let lint = run(&["lint", "--format", "json", "fixtures/lint"]);
    let v: serde_json::Value = serde_json::from_str(&lint.stdout).expect("json");
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert!(!codes.is_empty());
    for code in codes {
        let r = run(&["explain", code]);
        assert_eq!(r.code, 0, "{code}: {}", r.snapshot());
        let first = r.stdout.lines().next().unwrap_or("");
        assert!(first.starts_with(&format!("{code} ")), "{code}: {first}");
        let name = first.split(' ').nth(1).unwrap_or("");
        assert_eq!(run(&["explain", name]).stdout, r.stdout, "{name}");
    }
}

#[test]
fn lowercase_codes_are_accepted() {
    assert_eq!(
        run(&["explain", "e310"]).stdout,
        run(&["explain", "E310"]).stdout
    );
}

#[test]
fn an_unknown_code_suggests_the_closest_and_exits_2() {
    let r = run(&["explain", "E1O1"]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(r.stdout.is_empty());
    assert_snapshot!(r.snapshot());
    let far = run(&["explain", "nothing-like-it"]);
    assert_eq!(far.code, 2);
    assert!(far.stderr.contains("the codes are E001,"), "{}", far.stderr);
}

#[test]
fn a_missing_code_is_a_usage_error() {
    assert_eq!(run(&["explain"]).code, 2);
}
