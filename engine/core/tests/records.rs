//! Record and context validation: every problem is reported with its path and reason.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers"
)]

mod common;

use common::mini;
use dealflow_engine::{RecordErrorKind, RecordErrors};

fn errors(yaml: &str) -> RecordErrors {
    mini()
        .parse_record_yaml(yaml)
        .expect_err("the record must be rejected")
}

fn has(errs: &RecordErrors, path: &str, kind: RecordErrorKind) -> bool {
    errs.iter().any(|e| e.path == path && e.kind == kind)
}

#[test]
fn valid_record_parses_with_defaults() {
    let p = mini();
    let r = p
        .parse_record_yaml(
            "id: OPP-1\nstage: Open\nfields: { amount: \"120000.00 USD\", product_family: Core }",
        )
        .unwrap();
    assert_eq!(
        r.fields[0],
        dealflow_engine::Value::Money("120000.00".parse().unwrap())
    );
    // `strategic: bool = false` default applied
    assert_eq!(r.fields[2], dealflow_engine::Value::Bool(false));
    assert_eq!(r.fields[3], dealflow_engine::Value::Absent);
}

#[test]
fn unknown_field_suggests_the_closest() {
    let e = errors("id: X\nstage: Open\nfields: { amout: 5 }");
    let err = e.iter().find(|e| e.path == "fields.amout").unwrap();
    assert_eq!(err.kind, RecordErrorKind::UnknownField);
    assert_eq!(err.help.as_deref(), Some("did you mean `amount`?"));
}

#[test]
fn wrong_type_bad_date_and_currency() {
    let e = errors(
        "id: X\nstage: Open\nfields: { amount: \"5 EUR\", strategic: maybe }\nhistory:\n  - { at: yesterday, type: created }",
    );
    assert!(has(&e, "fields.amount", RecordErrorKind::WrongCurrency));
    assert!(has(&e, "fields.strategic", RecordErrorKind::WrongType));
    assert!(has(&e, "history[0].at", RecordErrorKind::BadDate));
    assert_eq!(e.0.len(), 3, "{e}");
}

#[test]
fn unknown_enum_variant_lists_allowed() {
    let e = errors("id: X\nstage: Open\nfields: { product_family: Securty }");
    let err = e
        .iter()
        .find(|e| e.path == "fields.product_family")
        .unwrap();
    assert_eq!(err.kind, RecordErrorKind::UnknownVariant);
    assert_eq!(
        err.help.as_deref(),
        Some("did you mean `Security`? allowed: Core, Security")
    );
}

#[test]
fn unknown_stage_everywhere() {
    let e = errors("id: X\nstage: Qualifed\nhistory:\n  - { at: 2026-01-01T00:00:00Z, type: stage_change, to: Nowhere }");
    assert!(has(&e, "stage", RecordErrorKind::UnknownStage));
    assert!(has(&e, "history[0].to", RecordErrorKind::UnknownStage));
    let err = e.iter().find(|e| e.path == "stage").unwrap();
    assert_eq!(err.help.as_deref(), Some("did you mean `Qualified`?"));
}

#[test]
fn line_item_and_missing_required_paths() {
    let e = errors("stage: Open\nline_items:\n  - { product: A, quantity: 1, price: 10 }\n  - { product: B, quantity: two, price: 10 }");
    assert!(has(&e, "id", RecordErrorKind::MissingField));
    assert!(has(
        &e,
        "line_items[1].quantity",
        RecordErrorKind::WrongType
    ));
}

#[test]
fn registration_status_and_event_type() {
    let e = errors(
        "id: X\nstage: Open\nregistration: { status: aproved }\nhistory:\n  - { at: 2026-01-01T00:00:00Z, type: meeting }",
    );
    assert!(has(
        &e,
        "registration.status",
        RecordErrorKind::UnknownVariant
    ));
    assert!(has(&e, "history[0].type", RecordErrorKind::UnknownVariant));
}

#[test]
fn context_errors_have_paths() {
    let p = mini();
    let e = p
        .parse_context_yaml(
            "cosell_usage: { presale: 1 }\npartners:\n  - { tier: Gold }\nleads: {}",
        )
        .unwrap_err();
    assert!(has(
        &e,
        "cosell_usage.presale",
        RecordErrorKind::UnknownPool
    ));
    assert!(has(&e, "partners[0].id", RecordErrorKind::MissingField));
    assert!(has(&e, "leads", RecordErrorKind::UnknownField));
}

#[test]
fn syntax_errors_do_not_panic() {
    let p = mini();
    assert!(p.parse_record_json("{ not json").is_err());
    assert!(p.parse_record_yaml(": : :").is_err());
    assert!(p.parse_record_json("[1, 2]").is_err());
}
