//! Hardening of the record and context readers: every class of bad input found by
//! adversarial testing is refused with its field path, in the user's terms.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers"
)]

mod common;

use dealflow_dsl::SourceFile;
use dealflow_engine::{Policy, RecordError, RecordErrorKind, RecordErrors, Value};
use rust_decimal::Decimal;

/// MINI with one field of every scalar type.
fn typed() -> Policy {
    let text = common::MINI
        .replacen(
            "  influencer: text?\n",
            "  influencer: text?\n  score: decimal\n  window: duration\n  close_date: date\n  seen_at: datetime\n",
            1,
        )
        .replacen(
            "  owner: enum { direct, channel }\n",
            "  owner: enum { direct, channel }\n  domain: text\n",
            1,
        )
        .replacen(
            "  territories: list<text>\n",
            "  territories: list<text>\n  win_rate: percent\n",
            1,
        );
    Policy::compile(&SourceFile::new("typed.policy", text))
        .unwrap_or_else(|e| panic!("the test policy compiles: {:?}", e.diagnostics.first()))
}

const HEAD: &str = "id: X\nstage: Open\n";

fn yaml_errors(p: &Policy, body: &str) -> RecordErrors {
    p.parse_record_yaml(&format!("{HEAD}{body}"))
        .expect_err("the record must be rejected")
}

/// The one error at `path` (and there must be exactly one problem in the record).
fn only<'e>(e: &'e RecordErrors, path: &str) -> &'e RecordError {
    assert_eq!(e.0.len(), 1, "{e}");
    let err = &e.0[0];
    assert_eq!(err.path, path, "{e}");
    err
}

fn field(p: &Policy, body: &str, slot: usize) -> Value {
    let r = p
        .parse_record_yaml(&format!("{HEAD}{body}"))
        .unwrap_or_else(|e| panic!("{e}"));
    r.fields[slot].clone()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

// --- numbers keep the text the user wrote --------------------------------------

#[test]
fn numbers_are_shown_as_written() {
    let p = typed();
    for (fmt_json, text) in [
        (false, "1e-30"),
        (true, "1e-30"),
        (true, "0.0000000000000000000000000000001"),
    ] {
        let e = if fmt_json {
            p.parse_record_json(&format!(
                r#"{{"id":"X","stage":"Open","fields":{{"score":{text}}}}}"#
            ))
            .unwrap_err()
        } else {
            yaml_errors(&p, &format!("fields: {{ score: {text} }}"))
        };
        let err = only(&e, "fields.score");
        assert_eq!(err.kind, RecordErrorKind::OutOfRange);
        assert!(err.message.contains(&format!("`{text}`")), "{err}");
    }
    // Exact decimals from JSON: no float on the way.
    let r = p
        .parse_record_json(
            r#"{"id":"X","stage":"Open","fields":{"amount":12345678901234567890.12,"score":-0.1}}"#,
        )
        .unwrap();
    assert_eq!(r.fields[0], Value::Money(dec("12345678901234567890.12")));
    assert_eq!(r.fields[4], Value::Dec(dec("-0.1")));
}

/// Issue 6: unquoted YAML money used to pass through a float and lose digits past
/// the 15th or 16th; every number form keeps every digit (fields and line items).
#[test]
fn yaml_amounts_longer_than_fifteen_digits_keep_every_digit() {
    let p = typed();
    for text in [
        "123456789012345678.12",
        "9007199254740993",
        "1234567890123456789012345678",
        "0.1234567890123456789",
        "12345678901234567.5e1",
    ] {
        let r = p
            .parse_record_yaml(&format!(
                "{HEAD}fields: {{ amount: {text} }}\nline_items:\n  - {{ product: A, quantity: 1, price: {text} }}\n"
            ))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        let want = if text.contains('e') {
            Decimal::from_scientific(text).unwrap()
        } else {
            dec(text)
        };
        assert_eq!(r.fields[0], Value::Money(want), "{text}");
        assert_eq!(r.line_items[0][2], Value::Money(want), "{text}");
        // The JSON reader reads the same digits to the same value.
        let j = p
            .parse_record_json(&format!(
                r#"{{"id":"X","stage":"Open","fields":{{"amount":{text}}}}}"#
            ))
            .unwrap();
        assert_eq!(j.fields[0], r.fields[0], "{text}");
    }
    // Other YAML 1.2 number forms read as the same value they write.
    for (text, want) in [
        ("+5", "5"),
        (".5", "0.5"),
        ("5.", "5"),
        ("0x1F", "31"),
        ("0o17", "15"),
    ] {
        let r = p
            .parse_record_yaml(&format!("{HEAD}fields: {{ amount: {text} }}"))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(r.fields[0], Value::Money(dec(want)), "{text}");
    }
    // Quoted digits are text, as before, and read as money text does.
    let r = p
        .parse_record_yaml(&format!(
            "{HEAD}fields: {{ amount: \"123456789012345678.12\" }}"
        ))
        .unwrap();
    assert_eq!(r.fields[0], Value::Money(dec("123456789012345678.12")));
}

/// Anchors and aliases are read (a block repeated by reference), with a bound on what
/// they expand to: a billion-laughs file is refused at once, not after minutes.
#[test]
fn yaml_aliases_are_read_and_alias_bombs_refused_quickly() {
    let p = typed();
    let r = p
        .parse_record_yaml(&format!(
            "{HEAD}line_items:\n  - &one {{ product: A, quantity: 2, price: 10.50 }}\n  - *one\n"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.line_items.len(), 2);
    assert_eq!(r.line_items[0], r.line_items[1]);
    let mut bomb = String::from("a: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let start = std::time::Instant::now();
    let e = p.parse_record_yaml(&bomb).unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].kind, RecordErrorKind::Syntax);
    assert!(
        e.0[0].message.contains("expand to more than 100000 values"),
        "{e}"
    );
    assert!(e.0[0].message.contains("line "), "{e}");
    // An alias to an anchor that is not defined is a syntax error, not a panic.
    let e = p
        .parse_record_yaml(&format!("{HEAD}fields: {{ amount: *nowhere }}"))
        .unwrap_err();
    assert_eq!(e.0[0].kind, RecordErrorKind::Syntax, "{e}");
}

/// One document per file: a second `---` is refused rather than silently dropped.
#[test]
fn yaml_files_with_more_than_one_document_are_refused() {
    let p = typed();
    let e = p
        .parse_record_yaml(&format!("{HEAD}---\n{HEAD}"))
        .unwrap_err();
    assert_eq!(e.0[0].kind, RecordErrorKind::Syntax, "{e}");
    assert!(e.0[0].message.contains("one YAML document"), "{e}");
    assert!(e.0[0].message.contains("line 3"), "{e}");
    // An explicit start and end of the one document are fine.
    assert!(p.parse_record_yaml(&format!("---\n{HEAD}...\n")).is_ok());
}

#[test]
fn numbers_too_large_say_so_in_both_formats() {
    let p = typed();
    let big = "99999999999999999999999999999999";
    let e = yaml_errors(&p, &format!("fields: {{ amount: {big} }}"));
    let err = only(&e, "fields.amount");
    assert_eq!(err.kind, RecordErrorKind::OutOfRange);
    assert!(
        err.message.contains(big) && !err.message.contains("json"),
        "{err}"
    );
    let e = p
        .parse_record_json(&format!(
            r#"{{"id":"X","stage":"Open","fields":{{"amount":{big}}}}}"#
        ))
        .unwrap_err();
    assert_eq!(only(&e, "fields.amount").kind, RecordErrorKind::OutOfRange);
    let e = p
        .parse_record_json(r#"{"id":"X","stage":"Open","fields":{"amount":1e400}}"#)
        .unwrap_err();
    assert!(only(&e, "fields.amount").message.contains("`1e400`"), "{e}");
}

#[test]
fn yaml_non_numbers_and_tags_are_refused_with_their_path() {
    let p = typed();
    for (v, says) in [
        (".nan", "not a number"),
        (".inf", "infinite"),
        ("-.inf", "infinite"),
        ("!usd 5", "`!usd`"),
    ] {
        let e = yaml_errors(&p, &format!("fields: {{ amount: {v} }}"));
        let err = only(&e, "fields.amount");
        assert_eq!(err.kind, RecordErrorKind::InvalidValue, "{v}");
        assert!(err.message.contains(says), "{v}: {err}");
    }
    // A tag on a whole line item, too.
    let e = yaml_errors(
        &p,
        "line_items:\n  - !item { product: A, quantity: 1, price: 1 }",
    );
    assert!(only(&e, "line_items[0]").message.contains("`!item`"), "{e}");
}

/// A tag on the whole document (found by the arbitrary-bytes property: `!\t\x01`)
/// is a document-level error: it names the tag and that a map was expected, in records
/// and contexts alike.
#[test]
fn yaml_tags_on_the_whole_document_are_refused_as_not_a_map() {
    let p = typed();
    for doc in ["!\t\u{1}", "!order { fields: {} }", "!!map {}", "!x [1, 2]"] {
        for r in [
            p.parse_record_yaml(doc).map(|_| ()),
            p.parse_context_yaml(doc).map(|_| ()),
        ] {
            let e = r.expect_err(doc);
            let err = only(&e, "");
            assert_eq!(err.kind, RecordErrorKind::WrongType, "{doc}: {err}");
            assert!(err.message.contains("a map"), "{doc}: {err}");
        }
    }
}

// --- ranges --------------------------------------------------------------------

#[test]
fn money_whole_numbers_durations_and_counts_are_not_negative() {
    let p = typed();
    for (body, path) in [
        ("fields: { amount: -5 }", "fields.amount"),
        ("fields: { amount: \"-5 USD\" }", "fields.amount"),
        (
            "line_items:\n  - { product: A, quantity: 1, price: -0.01 }",
            "line_items[0].price",
        ),
        (
            "line_items:\n  - { product: A, quantity: -1, price: 1 }",
            "line_items[0].quantity",
        ),
        ("fields: { window: -3 }", "fields.window"),
        (
            "registration: { status: pending, extensions: -1 }",
            "registration.extensions",
        ),
    ] {
        let e = yaml_errors(&p, body);
        let err = only(&e, path);
        assert_eq!(err.kind, RecordErrorKind::OutOfRange, "{body}");
        assert!(err.message.contains("negative"), "{body}: {err}");
    }
    let e = p
        .parse_context_yaml("cosell_usage: { presales: -1 }")
        .unwrap_err();
    assert!(
        only(&e, "cosell_usage.presales")
            .message
            .contains("`-1` is negative"),
        "{e}"
    );
    // Zero and a negative plain decimal are fine.
    assert_eq!(
        field(&p, "fields: { amount: 0 }", 0),
        Value::Money(Decimal::ZERO)
    );
    assert_eq!(
        field(&p, "fields: { score: -2.5 }", 4),
        Value::Dec(dec("-2.5"))
    );
}

#[test]
fn whole_numbers_refuse_fractions_and_counts_refuse_overflow() {
    let p = typed();
    let e = yaml_errors(
        &p,
        "line_items:\n  - { product: A, quantity: 2.5, price: 1 }",
    );
    assert!(only(&e, "line_items[0].quantity")
        .message
        .contains("`2.5` is not a whole number"));
    let r = p
        .parse_record_yaml(&format!(
            "{HEAD}line_items:\n  - {{ product: A, quantity: 2.0, price: 1 }}"
        ))
        .unwrap();
    assert_eq!(r.line_items[0][1], Value::Int(2));
    let e = yaml_errors(&p, "registration: { extensions: 4294967296 }");
    assert_eq!(
        only(&e, "registration.extensions").kind,
        RecordErrorKind::OutOfRange
    );
    let e = yaml_errors(&p, "fields: { window: 1.5 }");
    assert!(
        only(&e, "fields.window")
            .message
            .contains("not a whole number"),
        "{e}"
    );
}

fn partner_rate(p: &Policy, rate: &str) -> Result<Value, RecordErrors> {
    p.parse_record_yaml(&format!("{HEAD}partner: {{ id: P, win_rate: {rate} }}"))
        .map(|r| r.partner.unwrap().fields[2].clone())
}

#[test]
fn percents_are_written_with_a_sign_or_as_fractions_below_one() {
    let p = typed();
    assert_eq!(partner_rate(&p, "\"20%\"").unwrap(), Value::Pct(dec("0.2")));
    assert_eq!(partner_rate(&p, "20%").unwrap(), Value::Pct(dec("0.2")));
    assert_eq!(partner_rate(&p, "0.2").unwrap(), Value::Pct(dec("0.2")));
    assert_eq!(partner_rate(&p, "100%").unwrap(), Value::Pct(Decimal::ONE));
    assert_eq!(partner_rate(&p, "0").unwrap(), Value::Pct(Decimal::ZERO));
    for (rate, help) in [
        ("20", Some("write `20%`")),
        ("1", Some("`100%` or `1%`")),
        ("150%", None),
        ("\"-5%\"", None),
        ("-0.1", None),
        ("250", Some("write percentages with `%`")),
    ] {
        let e = partner_rate(&p, rate).unwrap_err();
        let err = only(&e, "partner.win_rate");
        assert_eq!(err.kind, RecordErrorKind::OutOfRange, "{rate}");
        if let Some(h) = help {
            assert!(
                err.help.as_deref().unwrap_or("").contains(h),
                "{rate}: {err}"
            );
        }
    }
    let e = partner_rate(&p, "lots%").unwrap_err();
    assert_eq!(
        only(&e, "partner.win_rate").kind,
        RecordErrorKind::InvalidValue
    );
}

#[test]
fn dates_are_strict_four_digit_years_with_padded_months_and_days() {
    let p = typed();
    assert!(matches!(
        field(&p, "fields: { close_date: 2026-12-05 }", 6),
        Value::Date(_)
    ));
    assert!(matches!(
        field(&p, "fields: { close_date: 9999-12-31 }", 6),
        Value::Date(_)
    ));
    for d in [
        "2026-1-5",
        "2026-01-5",
        "0000-01-01",
        "10000-01-01",
        "+2026-01-01",
        "-0001-01-01",
        "2026-02-30",
        "26-01-01",
    ] {
        let e = yaml_errors(&p, &format!("fields: {{ close_date: \"{d}\" }}"));
        assert_eq!(
            only(&e, "fields.close_date").kind,
            RecordErrorKind::BadDate,
            "{d}"
        );
    }
}

#[test]
fn date_times_are_in_years_one_to_9999_and_leap_seconds_must_be_real() {
    let p = typed();
    let seen = |v: &str| p.parse_record_yaml(&format!("{HEAD}fields: {{ seen_at: \"{v}\" }}"));
    for ok in [
        "2026-09-01T10:00:00Z",
        "2016-12-31T23:59:60Z",
        "2016-12-31T18:59:60-05:00",
        "2015-06-30T23:59:60.5Z",
    ] {
        let r = seen(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert!(matches!(r.fields[7], Value::DateTime(_)), "{ok}");
    }
    for bad in [
        "2026-06-30T23:59:60Z",
        "2016-12-31T12:00:60Z",
        "2017-12-31T23:59:60Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
    ] {
        let e = seen(bad).unwrap_err();
        assert_eq!(
            only(&e, "fields.seen_at").kind,
            RecordErrorKind::BadDate,
            "{bad}"
        );
    }
    let e = seen("2026-06-30T23:59:60Z").unwrap_err();
    assert!(e.0[0].message.contains("no leap second"), "{e}");
    // History instants follow the same rule.
    let e = yaml_errors(
        &p,
        "history:\n  - { at: 2026-06-30T23:59:60Z, type: created }",
    );
    assert_eq!(only(&e, "history[0].at").kind, RecordErrorKind::BadDate);
}

// --- duplicate keys --------------------------------------------------------------

#[test]
fn duplicate_keys_are_refused_at_every_level() {
    let p = typed();
    let e = yaml_errors(&p, "fields: { amount: 1, amount: 2 }");
    assert_eq!(
        only(&e, "fields.amount").kind,
        RecordErrorKind::DuplicateKey
    );
    let e = yaml_errors(
        &p,
        "line_items:\n  - { product: A, product: B, quantity: 1, price: 1 }",
    );
    assert_eq!(
        only(&e, "line_items[0].product").kind,
        RecordErrorKind::DuplicateKey
    );
    let e = p
        .parse_record_yaml("id: X\nstage: Open\nstage: Proposal\n")
        .unwrap_err();
    assert_eq!(only(&e, "stage").kind, RecordErrorKind::DuplicateKey);
    let e = p
        .parse_record_json(r#"{"id":"X","stage":"Open","partner":{"id":"A","id":"B"}}"#)
        .unwrap_err();
    assert_eq!(only(&e, "partner.id").kind, RecordErrorKind::DuplicateKey);
    let e = p
        .parse_context_yaml("lead: { id: L, region: NA, region: EMEA }")
        .unwrap_err();
    assert_eq!(only(&e, "lead.region").kind, RecordErrorKind::DuplicateKey);
    // Large maps use the hashed check.
    let many: String = (0..40).map(|i| format!("k{i}: 1, ")).collect();
    let e = yaml_errors(&p, &format!("fields: {{ {many}k7: 2 }}"));
    assert!(
        e.iter()
            .any(|x| x.path == "fields.k7" && x.kind == RecordErrorKind::DuplicateKey),
        "{e}"
    );
}

// --- messages in the user's terms --------------------------------------------------

#[test]
fn a_byte_order_mark_is_accepted_in_both_formats() {
    let p = typed();
    assert!(p.parse_record_yaml(&format!("\u{feff}{HEAD}")).is_ok());
    assert!(p
        .parse_record_json("\u{feff}{\"id\":\"X\",\"stage\":\"Open\"}")
        .is_ok());
    assert!(p
        .parse_context_yaml("\u{feff}direct_accounts: [a.com]")
        .is_ok());
}

#[test]
fn currency_before_the_amount_suggests_the_written_order() {
    let p = typed();
    let e = yaml_errors(&p, "fields: { amount: \"USD 120000\" }");
    let err = only(&e, "fields.amount");
    assert_eq!(
        err.help.as_deref(),
        Some("write the amount first: `120000 USD`")
    );
    let e = yaml_errors(&p, "fields: { amount: \"120000 USD extra\" }");
    assert!(only(&e, "fields.amount")
        .help
        .as_deref()
        .unwrap()
        .contains("`120000.00 USD`"));
    // Thousands separators only where they group by three.
    assert_eq!(
        field(&p, "fields: { amount: \"120,000.50 USD\" }", 0),
        Value::Money(dec("120000.50"))
    );
    let e = yaml_errors(&p, "fields: { amount: \"1,5\" }");
    assert_eq!(
        only(&e, "fields.amount").kind,
        RecordErrorKind::InvalidValue
    );
}

#[test]
fn counts_say_what_is_wrong_with_the_value() {
    let p = typed();
    let e = yaml_errors(&p, "registration: { extensions: -1 }");
    let err = only(&e, "registration.extensions");
    assert!(!err.message.contains("found a number"), "{err}");
    assert_eq!(
        err.message,
        "`-1` is negative; a count cannot be below zero"
    );
}

#[test]
fn deep_nesting_is_refused_quickly_with_a_clear_error() {
    let p = typed();
    for text in [
        format!(
            "{HEAD}fields: {{ score: {}{} }}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
        format!("{HEAD}line_items:\n  {}x", "- ".repeat(100_000)),
    ] {
        let e = p.parse_record_yaml(&text).unwrap_err();
        assert_eq!(e.0[0].kind, RecordErrorKind::Syntax);
        assert!(e.0[0].message.contains("nest deeper than 64 levels"), "{e}");
    }
    let json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = p.parse_record_json(&json).unwrap_err();
    assert!(e.0[0].message.contains("nest deeper than 64 levels"), "{e}");
}

// --- properties ------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Value as Json};

    const KEYS: &[&str] = &[
        "id",
        "stage",
        "fields",
        "partner",
        "account",
        "line_items",
        "registration",
        "history",
        "amount",
        "score",
        "window",
        "close_date",
        "seen_at",
        "win_rate",
        "tier",
        "quantity",
        "price",
        "product",
        "status",
        "extensions",
        "at",
        "type",
        "to",
        "from",
        "pool",
        "outcome",
        "cosell_usage",
        "presales",
        "lead",
        "partners",
        "registrations",
        "x",
    ];
    const TEXTS: &[&str] = &[
        "Open",
        "Proposal",
        "Gold",
        "Security",
        "20%",
        "150%",
        "-5%",
        "0.2",
        "USD 5",
        "5 USD",
        "5 EUR",
        "-1",
        "1e-30",
        "1,5",
        "2026-1-5",
        "2026-12-05",
        "0000-01-01",
        "2016-12-31T23:59:60Z",
        "2026-06-30T23:59:60Z",
        "2026-09-01T10:00:00Z",
        "90d",
        "-3d",
        "created",
        "stage_change",
        "closed",
        "won",
        "approved",
        "",
        " ",
        "\u{feff}",
        "é",
    ];

    fn leaf() -> impl Strategy<Value = Json> {
        prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Json::from),
            (-3i64..200).prop_map(Json::from),
            prop::sample::select(TEXTS).prop_map(|s| Json::String(s.to_string())),
            "[a-zA-Z0-9 %.:-]{0,12}".prop_map(Json::String),
        ]
    }

    fn value() -> impl Strategy<Value = Json> {
        leaf().prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                    Json::Object(
                        kv.into_iter()
                            .map(|(k, v)| (k.to_string(), v))
                            .collect::<Map<_, _>>(),
                    )
                }),
            ]
        })
    }

    fn outcome<T>(r: Result<T, RecordErrors>) -> Result<(), Vec<(String, RecordErrorKind)>> {
        r.map(|_| ()).map_err(|e| {
            let mut v: Vec<_> = e.iter().map(|x| (x.path.clone(), x.kind)).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        })
    }

    /// An error names where (a path), unless it is about the whole document.
    fn well_formed(e: &RecordErrors) -> bool {
        !e.0.is_empty()
            && e.iter().all(|x| {
                !x.message.is_empty()
                    && (!x.path.is_empty()
                        || matches!(x.kind, RecordErrorKind::Syntax | RecordErrorKind::WrongType))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_give_a_record_or_errors_never_a_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..400)
        ) {
            let p = typed();
            let text = String::from_utf8_lossy(&bytes);
            for r in [
                p.parse_record_yaml(&text).map(|_| ()),
                p.parse_record_json(&text).map(|_| ()),
                p.parse_context_yaml(&text).map(|_| ()),
                p.parse_context_json(&text).map(|_| ()),
            ] {
                if let Err(e) = r {
                    prop_assert!(well_formed(&e), "{e}");
                }
            }
        }

        /// The same digits, unquoted, give the same record from JSON and YAML
        /// (no float on either path), whatever their length or exponent.
        #[test]
        fn json_and_yaml_read_the_same_numbers_to_the_same_record(
            int in "[1-9][0-9]{0,29}|0",
            frac in prop::option::of("[0-9]{1,30}"),
            exp in prop::option::of(-40i32..40),
            price in "[1-9][0-9]{0,20}\\.[0-9]{1,2}",
        ) {
            let p = typed();
            let mut n = int;
            if let Some(f) = frac {
                n = format!("{n}.{f}");
            }
            if let Some(e) = exp {
                n = format!("{n}e{e}");
            }
            let json = format!(
                r#"{{"id":"X","stage":"Open","fields":{{"amount":{n},"score":{n}}},"line_items":[{{"product":"A","quantity":1,"price":{price}}}]}}"#
            );
            let yaml = format!(
                "id: X\nstage: Open\nfields:\n  amount: {n}\n  score: {n}\nline_items:\n  - product: A\n    quantity: 1\n    price: {price}\n"
            );
            let from_json = p.parse_record_json(&json).map_err(|e| e.to_string());
            let from_yaml = p.parse_record_yaml(&yaml).map_err(|e| e.to_string());
            prop_assert_eq!(&from_json, &from_yaml, "json: {}\nyaml: {}", json, yaml);
            // Amounts beyond 28 digits are refused alike; the price always fits.
            if let Ok(r) = from_yaml {
                prop_assert_eq!(&r.line_items[0][2], &Value::Money(dec(&price)));
            }
        }

        #[test]
        fn json_and_yaml_readers_agree_on_arbitrary_documents(
            top in prop::collection::vec((prop::sample::select(KEYS), value()), 0..8)
        ) {
            let p = typed();
            let doc = Json::Object(top.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
            let json = serde_json::to_string(&doc).unwrap();
            let yaml = serde_yaml::to_string(&doc).unwrap();
            let from_json = outcome(p.parse_record_json(&json));
            let from_yaml = outcome(p.parse_record_yaml(&yaml));
            prop_assert_eq!(&from_json, &from_yaml, "json: {}\nyaml: {}", json, yaml);
            if let Err(e) = p.parse_record_json(&json) {
                prop_assert!(well_formed(&e), "{e}");
            }
            let ctx_json = outcome(p.parse_context_json(&json));
            let ctx_yaml = outcome(p.parse_context_yaml(&yaml));
            prop_assert_eq!(ctx_json, ctx_yaml);
        }
    }
}

// --- declared ranges (`name: T in low .. high`) replace the type's default rule ----

fn ranged() -> Policy {
    let text = common::MINI
        .replacen(
            "  influencer: text?\n",
            "  influencer: text?\n  credit: money in -500 USD .. 1_000 USD\n  seats: integer in 1 ..\n  \
             cap: decimal in .. 10\n  margin: percent in -50% .. 50%\n",
            1,
        )
        .replacen("  quantity: integer\n", "  quantity: integer in -5 .. 5\n", 1);
    Policy::compile(&SourceFile::new("ranged.policy", text))
        .unwrap_or_else(|e| panic!("the test policy compiles: {:?}", e.diagnostics.first()))
}

fn accepted(p: &Policy, body: &str) {
    if let Err(e) = p.parse_record_yaml(&format!("{HEAD}{body}")) {
        panic!("`{body}` must be accepted: {e}");
    }
}

#[test]
fn declared_ranges_accept_their_bounds_and_refuse_what_lies_outside() {
    let p = ranged();
    // Both bounds are inclusive; a declared negative lower bound allows negative money.
    for ok in ["-500 USD", "1000 USD", "0 USD", "-499.99 USD"] {
        accepted(&p, &format!("fields: {{ credit: \"{ok}\" }}"));
    }
    let e = yaml_errors(&p, "fields: { credit: \"-500.01 USD\" }");
    let err = only(&e, "fields.credit");
    assert_eq!(err.kind, RecordErrorKind::OutOfRange);
    assert!(
        err.message
            .contains("below the declared minimum `-500 USD`")
            && err.message.contains("ranged.policy:"),
        "{}",
        err.message
    );
    let e = yaml_errors(&p, "fields: { credit: \"1000.01 USD\" }");
    assert!(
        only(&e, "fields.credit")
            .message
            .contains("above the declared maximum `1_000 USD`"),
        "{e}"
    );
    // Open upper bound: anything from the minimum up; below it is refused.
    accepted(&p, "fields: { seats: 1 }");
    accepted(&p, "fields: { seats: 9000000000 }");
    let e = yaml_errors(&p, "fields: { seats: 0 }");
    assert!(
        only(&e, "fields.seats")
            .message
            .contains("below the declared minimum"),
        "{e}"
    );
    // Open lower bound on a plain decimal.
    accepted(&p, "fields: { cap: -1000000 }");
    accepted(&p, "fields: { cap: 10 }");
    let e = yaml_errors(&p, "fields: { cap: 10.5 }");
    assert!(
        only(&e, "fields.cap")
            .message
            .contains("above the declared maximum"),
        "{e}"
    );
    // Percent ranges, negative allowed when declared.
    accepted(&p, "fields: { margin: \"-50%\" }");
    accepted(&p, "fields: { margin: \"50%\" }");
    let e = yaml_errors(&p, "fields: { margin: \"51%\" }");
    assert!(
        only(&e, "fields.margin")
            .message
            .contains("above the declared maximum"),
        "{e}"
    );
    let e = yaml_errors(&p, "fields: { margin: \"-51%\" }");
    assert!(
        only(&e, "fields.margin")
            .message
            .contains("below the declared minimum"),
        "{e}"
    );
    // Line-item fields too: a declared range lets a quantity go negative.
    accepted(
        &p,
        "line_items: [{ product: X, quantity: -5, price: \"1 USD\" }]",
    );
    let e = yaml_errors(
        &p,
        "line_items: [{ product: X, quantity: 6, price: \"1 USD\" }]",
    );
    assert!(
        only(&e, "line_items[0].quantity")
            .message
            .contains("above the declared maximum"),
        "{e}"
    );
    // A field without a declared range keeps the type's rule.
    let e = yaml_errors(&p, "fields: { amount: \"-1 USD\" }");
    assert!(
        only(&e, "fields.amount").message.contains("is negative"),
        "{e}"
    );
}
