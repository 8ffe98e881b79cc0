//! `dealflow test`: PASS/FAIL lines, diffs, coverage and exit codes.

use insta::assert_snapshot;

use super::run;

const POLICY: &str = "../../policies/channel-standard.policy";

#[test]
fn failing_case_is_reported_with_a_diff_and_exit_1() {
    let r = run(&["test", POLICY, "fixtures/test/cases.yaml"]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert!(
        r.stdout
            .contains("PASS gold partner registration is auto-approved"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("FAIL deliberately wrong expectation"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("PASS inline record without evidence is denied"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rule coverage:"), "{}", r.stdout);
    assert!(
        r.stdout.trim_end().ends_with("2 passed, 1 failed"),
        "{}",
        r.stdout
    );
    assert_snapshot!(r.snapshot());
}

#[test]
fn passing_cases_exit_0() {
    let r = run(&["test", POLICY, "fixtures/test/passing.yaml"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout.trim_end().ends_with("1 passed, 0 failed"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_reference_policy_passes_its_own_cases() {
    let r = run(&["test", POLICY, "../../policies/channel-standard.tests.yaml"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(r.stdout.trim_end().ends_with(" 0 failed"), "{}", r.stdout);
    // Coverage names each unexercised rule of the whole policy with its location.
    let listed: Vec<&str> = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("rule coverage:"))
        .skip(2)
        .take_while(|l| l.starts_with("    "))
        .collect();
    assert!(!listed.is_empty(), "{}", r.stdout);
    for line in listed {
        let mut words = line.split_whitespace();
        let (rule, location) = (words.next(), words.next());
        assert!(rule.is_some_and(|w| w.contains('.')), "{line}");
        assert!(
            location.is_some_and(|l| l.starts_with(POLICY) && l.matches(':').count() == 2),
            "{line}"
        );
    }
}

#[test]
fn unreadable_cases_file_is_exit_2() {
    assert_eq!(run(&["test", POLICY, "fixtures/test/nope.yaml"]).code, 2);
    assert_eq!(
        run(&["test", POLICY, "fixtures/lint/clean.policy"]).code,
        2,
        "not a cases file"
    );
}

#[test]
fn case_output_escapes_terminal_sequences_and_routes_leads_without_a_record() {
    let r = run(&[
        "test",
        "../../policies/channel-standard.policy",
        "fixtures/test/escapes.yaml",
    ]);
    let raw: Vec<char> = r
        .stdout
        .chars()
        .chain(r.stderr.chars())
        .filter(|c| c.is_control() && *c != '\n' || ('\u{202a}'..='\u{202e}').contains(c))
        .collect();
    assert!(raw.is_empty(), "{raw:?} in\n{}", r.snapshot());
    assert!(r.stdout.contains("\\u{1b}[2J"), "{}", r.stdout);
    assert!(
        r.stdout.contains("PASS lead routed without an opportunity"),
        "{}",
        r.stdout
    );
    // A case with an unknown stage cannot run: it fails with a did-you-mean.
    assert!(
        r.stdout.contains(
            "FAIL unknown stage\n    unknown stage `Qualifcation` in `advance Qualifcation` (help: did you mean `Qualification`?"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(r.code, 1, "{}", r.snapshot());
}
