//! `dealflow demo`: runs, is deterministic per seed, prints every section.

use super::{run, run_in};

#[test]
fn demo_is_deterministic_and_complete() {
    // From another directory: the policy is embedded.
    let elsewhere = super::scratch_dir("demo-cwd");
    let a = run_in(&elsewhere, &["demo", "--seed", "7"], None);
    assert_eq!(a.code, 0, "{}", a.snapshot());
    let b = run(&["demo", "--seed", "7"]);
    assert_eq!(b.code, 0);
    assert_eq!(a.stdout, b.stdout, "same seed, same report");
    for section in [
        "== Decisions by action",
        "== Why requests were denied",
        "== Pipeline hygiene",
        "== Forecast",
        "== Co-sell assignments",
        "== Commission",
        "== Lead routing",
        "== An approval",
        "== A denial",
        "== A flagged deal",
    ] {
        assert!(
            a.stdout.contains(section),
            "missing `{section}` in:\n{}",
            a.stdout
        );
    }
    assert!(
        !a.stdout.contains("(none in this run"),
        "every example found:\n{}",
        a.stdout
    );
    for flag in ["stale", "pushed", "inflated"] {
        assert!(
            a.stdout.contains(&format!("  {flag} ")),
            "flag `{flag}` never raised:\n{}",
            a.stdout
        );
    }
    assert!(
        a.stdout.contains("registration.duplicate") && a.stdout.contains("registration.conflict"),
        "{}",
        a.stdout
    );
    let other = run(&["demo", "--seed", "8"]);
    assert_ne!(other.stdout, a.stdout, "another seed, another program");
}

#[test]
fn opportunities_count_is_honoured() {
    let r = run(&["demo", "--opportunities", "40"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout.contains("pipeline: 40 opportunities"),
        "{}",
        r.stdout
    );
}
