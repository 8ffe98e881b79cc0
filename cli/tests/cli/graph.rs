//! `dealflow graph`: dot and mermaid output, errors.

use insta::assert_snapshot;

use super::run;

#[test]
fn dot() {
    let r = run(&["graph", "fixtures/graph/flow.policy"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout
            .contains("\"ClosedWon\" [label=\"Closed Won\\n100%\", shape=doublecircle"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("label=\"amount < 10_000 USD and not strategic\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("\"__any__\" -> \"ClosedLost\" [style=dashed]"),
        "{}",
        r.stdout
    );
    assert_snapshot!(r.snapshot());
}

#[test]
fn mermaid() {
    let r = run(&["graph", "--format", "mermaid", "fixtures/graph/flow.policy"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout
            .contains("ClosedWon((\"Closed Won<br/>100%\")):::won"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("-->|\"amount #lt; 10_000 USD and not strategic\"| ClosedWon"),
        "{}",
        r.stdout
    );
    assert_snapshot!(r.snapshot());
}

#[test]
fn policy_with_errors_is_exit_1() {
    let r = run(&["graph", "fixtures/lint/nested/errors.policy"]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert!(r.stdout.is_empty());
    assert_snapshot!(r.snapshot());
}

#[test]
fn missing_file_is_exit_2() {
    assert_eq!(run(&["graph", "fixtures/graph/nope.policy"]).code, 2);
}
