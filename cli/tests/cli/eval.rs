//! `dealflow eval`: human and JSON explanations, bad input.

use insta::assert_snapshot;
use serde_json::Value;

use super::run;

const POLICY: &str = "../../policies/channel-standard.policy";

#[test]
fn register_human() {
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/register-gold.yaml",
        "--action",
        "register",
        "--now",
        "2026-11-02T15:00:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout.starts_with("APPROVED: register for OPP-1001"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("protected until"), "{}", r.stdout);
    assert_snapshot!(r.snapshot());
}

#[test]
fn advance_denied_human_explains_why_and_how_to_pass() {
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/advance-missing.json",
        "--action",
        "advance ProposalEvaluation",
        "--now",
        "2026-11-27T15:00:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout.starts_with("DENIED: advance ProposalEvaluation"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Why:") && r.stdout.contains("To pass:"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("at ../../policies/channel-standard.policy:"),
        "{}",
        r.stdout
    );
    assert_snapshot!(r.snapshot());
}

#[test]
fn evaluate_json_is_the_decision_document() {
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/advance-missing.json",
        "--now",
        "2026-11-27T15:00:00Z",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let v: Value = serde_json::from_str(&r.stdout).expect("decision json");
    assert_eq!(v["outcome"], "evaluated");
    assert_eq!(v["action"], "evaluate");
    assert_eq!(v["evaluated_at"], "2026-11-27T15:00:00Z");
    assert_snapshot!(r.snapshot());
}

#[test]
fn partner_audience_is_accepted() {
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/register-gold.yaml",
        "--now",
        "2026-11-02T15:00:00Z",
        "--as",
        "partner:P-ACME",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let v: Value = serde_json::from_str(&r.stdout).expect("decision json");
    assert_eq!(v["audience"], "partner:P-ACME");
}

#[test]
fn bad_record_lists_every_problem_with_its_field_path() {
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/bad-record.yaml",
        "--now",
        "2026-11-27T15:00:00Z",
    ]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    for path in [
        "stage",
        "fields.amount",
        "fields.close_date",
        "fields.colour",
        "line_items[0].price",
        "history[0].at",
    ] {
        assert!(
            r.stderr.contains(&format!("- {path}: ")),
            "no `{path}` in:\n{}",
            r.stderr
        );
    }
    assert!(r.stdout.is_empty());
    assert_snapshot!(r.snapshot());
}

#[test]
fn bad_arguments_are_exit_2() {
    let base = [
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/register-gold.yaml",
    ];
    for extra in [
        &["--action", "fly"][..],
        &["--as", "customer"],
        &["--now", "yesterday"],
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let r = run(&args);
        assert_eq!(r.code, 2, "{extra:?}: {}", r.snapshot());
        assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    }
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/missing.yaml",
    ]);
    assert_eq!(r.code, 2);
    let r = run(&[
        "eval",
        "--policy",
        "fixtures/lint/nested/errors.policy",
        "--record",
        "fixtures/eval/register-gold.yaml",
    ]);
    assert_eq!(r.code, 2, "a policy with errors cannot decide");
}
