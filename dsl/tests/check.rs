//! Checker tests over policy text (parse, then check): one test per diagnostic code
//! the checker emits (code, the exact source text of the primary span, and whether a
//! help is given), plus IR shape tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly on broken fixtures"
)]

use dealflow_dsl::ir::{self, Const, EnumId, ExprKind, RecordKind, StageId, Type};
use dealflow_dsl::{check, parser, Code, Diagnostic, Severity, SourceFile};

const HEADER: &str = r#"policy "T" version "1" {
  currency USD
  calendar business { timezone "America/New_York" hours mon-fri 09:00-17:00 }
}
"#;

const RECORDS: &str = r#"
record opportunity {
  amount: money
  close_date: date
  product_family: enum { Core, Security }
  strategic: bool = false
  influencer: text?
  partner_count: integer
  competitors: list<text>
  evidence { budget_process: bool  decision_maker: text }
}
record partner { tier: enum { Silver, Gold, Platinum }  territories: list<enum { NA, EMEA }> }
record account { domain: text }
record line_item { product_family: enum { Core, Security }  quantity: integer  price: money }
record lead { region: enum { NA, EMEA } }
"#;

const STAGES: &str = r#"
stage Qualification { probability 20% expected 21d requires budget_process, decision_maker }
stage Proposal { probability 60% expected 30d }
won stage ClosedWon { probability 100% }
lost stage ClosedLost { probability 0% }
flow {
  Qualification -> Proposal -> ClosedWon
  any -> ClosedLost
}
"#;

/// Parses and checks; panics on syntax errors (the tests are about the checker).
fn run(text: &str) -> (Option<ir::Policy>, Vec<Diagnostic>) {
    let src = SourceFile::new("t.policy", text);
    let (ast, syntax) = parser::parse(&src);
    assert!(syntax.is_empty(), "syntax errors: {syntax:#?}\n{text}");
    let ast = ast.expect("an AST");
    check::check(&ast, &src)
}

/// A policy made of the standard header, records and stages plus `extra`.
fn with(extra: &str) -> String {
    format!("{HEADER}{RECORDS}{STAGES}{extra}")
}

/// A policy with the standard header and records, and custom stages/flow.
fn with_stages(stages: &str) -> String {
    format!("{HEADER}{RECORDS}{stages}")
}

/// Asserts that checking `text` reports `code` with its primary span on `span_text`,
/// with (or without) a help; returns the diagnostic.
fn expect(text: &str, code: Code, span_text: &str, help: bool) -> Diagnostic {
    let (ir, diags) = run(text);
    let found = diags
        .iter()
        .find(|d| d.code == code && text.get(d.span.clone()) == Some(span_text))
        .unwrap_or_else(|| {
            let got: Vec<String> = diags
                .iter()
                .map(|d| format!("{} {:?} {}", d.code, text.get(d.span.clone()), d.message))
                .collect();
            panic!("no {code} on `{span_text}`; got {got:#?}")
        })
        .clone();
    assert_eq!(found.help.is_some(), help, "help of {found:#?}");
    assert!(!found.label.is_empty(), "label of {found:#?}");
    assert!(
        !found.message.ends_with('.'),
        "message ends with a period: {}",
        found.message
    );
    if code.severity() == Severity::Error {
        assert!(ir.is_none(), "no IR with errors");
    }
    found
}

fn clean(text: &str) -> ir::Policy {
    let (ir, diags) = run(text);
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    ir.expect("IR")
}

// ---------------------------------------------------------------- clean policies

#[test]
fn shipped_policies_check_clean() {
    for entry in std::fs::read_dir("../policies").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "policy") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let (ir, diags) = run(&text);
        let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        assert!(ir.is_some(), "{}", path.display());
    }
}

#[test]
fn base_policy_is_clean() {
    let (ir, diags) = run(&with(""));
    assert!(diags.is_empty(), "{diags:#?}");
    assert!(ir.is_some());
}

// ---------------------------------------------------------------- E101 unknown-field

#[test]
fn e101_unknown_field_with_suggestion() {
    let d = expect(
        &with("hygiene { flag big when amout > 10 USD }"),
        Code::UnknownField,
        "amout",
        true,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `amount`?"));
    assert_eq!(d.message, "unknown field `amout`");
}

#[test]
fn e101_unknown_record_field() {
    let d = expect(
        &with("registration { eligible when partner.tyer >= Gold }"),
        Code::UnknownField,
        "partner.tyer",
        true,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `partner.tier`?"));
}

#[test]
fn e101_item_outside_rate_tables() {
    expect(
        &with("hygiene { flag big when item.quantity > 10 }"),
        Code::UnknownField,
        "item.quantity",
        true,
    );
}

#[test]
fn e101_lead_outside_leads_and_opportunity_inside_leads() {
    expect(
        &with("hygiene { flag x when lead.region == NA }"),
        Code::UnknownField,
        "lead.region",
        true,
    );
    expect(
        &with("leads { route when amount > 10 USD }"),
        Code::UnknownField,
        "amount",
        true,
    );
}

#[test]
fn e101_approved_outside_discount() {
    expect(
        &with("registration { late when approved }"),
        Code::UnknownField,
        "approved",
        true,
    );
}

#[test]
fn e101_stage_name_without_context_explains() {
    let d = expect(
        &with("hygiene { flag x when Proposal }"),
        Code::UnknownField,
        "Proposal",
        true,
    );
    assert!(d.help.unwrap().contains("stage == Proposal"));
}

#[test]
fn e101_unknown_split_role() {
    expect(
        &with("commission { split { registering 70%, influencor 30% } }"),
        Code::UnknownField,
        "influencor",
        true,
    );
}

#[test]
fn e101_undeclared_record() {
    let text = with_stages(STAGES).replace("record lead { region: enum { NA, EMEA } }", "");
    let d = expect(
        &format!("{text}leads {{ route when lead.region == NA }}"),
        Code::UnknownField,
        "lead.region",
        true,
    );
    assert!(d.help.unwrap().contains("record lead"));
}

// ---------------------------------------------------------------- E102 unknown-stage

#[test]
fn e102_unknown_stage_in_flow() {
    let text = with_stages(&STAGES.replace(
        "Qualification -> Proposal",
        "Qualification -> Propsal -> Proposal",
    ));
    let d = expect(&text, Code::UnknownStage, "Propsal", true);
    assert_eq!(d.help.as_deref(), Some("did you mean `Proposal`?"));
}

#[test]
fn e102_unknown_stage_in_expression_and_sections() {
    expect(
        &with("registration { late when stage >= Negotation }"),
        Code::UnknownStage,
        "Negotation",
        true,
    );
    expect(
        &with("registration { open from Qualifcation }"),
        Code::UnknownStage,
        "Qualifcation",
        true,
    );
    expect(
        &with("leads { convert to Qualificaton }"),
        Code::UnknownStage,
        "Qualificaton",
        true,
    );
    expect(
        &with(
            "cosell { pool p capacity 1 per week assign p when stage in [Qualification, Propsl] }",
        ),
        Code::UnknownStage,
        "Propsl",
        true,
    );
}

#[test]
fn unknown_stage_does_not_cascade_into_graph_errors() {
    let text = with_stages(&STAGES.replace(
        "Qualification -> Proposal",
        "Qualification -> Propsal -> Proposal",
    ));
    let (_, diags) = run(&text);
    assert!(
        diags
            .iter()
            .all(|d| d.code != Code::UnreachableStage && d.code != Code::DeadEndStage),
        "{diags:#?}"
    );
}

// ---------------------------------------------------------------- E103 unknown-pool

#[test]
fn e103_unknown_pool() {
    let text = with(
        "cosell {\n  pool presales_engineer capacity 10 per week\n  assign presales_engneer when amount > 10 USD\n  never presale when strategic\n}",
    );
    let d = expect(&text, Code::UnknownPool, "presales_engneer", true);
    assert_eq!(d.help.as_deref(), Some("did you mean `presales_engineer`?"));
    expect(&text, Code::UnknownPool, "presale", true);
}

// ---------------------------------------------------------------- E104 unknown-enum-value

#[test]
fn e104_unknown_enum_value() {
    let d = expect(
        &with("registration { auto approve when partner.tier in [Gold, Platnum] }"),
        Code::UnknownEnumValue,
        "Platnum",
        true,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `Platinum`?"));
    expect(
        &with("hygiene { flag x when product_family == Analytics }"),
        Code::UnknownEnumValue,
        "Analytics",
        true,
    );
}

#[test]
fn e104_unknown_forecast() {
    let text = with_stages(&STAGES.replace(
        "probability 60% expected 30d",
        "probability 60% forecast best_cse",
    ));
    let d = expect(&text, Code::UnknownEnumValue, "best_cse", true);
    assert_eq!(d.help.as_deref(), Some("did you mean `best_case`?"));
}

#[test]
fn e104_rate_pattern_resolved_against_key_enum() {
    let text = with("commission { rate by (partner.tier, item.product_family) first match { (Gold, Securty) 10% (_, _) 5% } }");
    expect(&text, Code::UnknownEnumValue, "Securty", true);
}

// ---------------------------------------------------------------- E105 unknown-name

#[test]
fn e105_unknown_type_record_function_and_keyword_values() {
    let text = format!(
        "{HEADER}{}{STAGES}",
        RECORDS.replace("close_date: date", "close_date: dat")
    );
    let d = expect(&text, Code::UnknownName, "dat", true);
    assert_eq!(d.help.as_deref(), Some("did you mean `date`?"));

    let text = format!(
        "{HEADER}{}{STAGES}",
        RECORDS.replace("record account", "record acount")
    );
    expect(&text, Code::UnknownName, "acount", true);

    expect(
        &with("hygiene { flag x when dayz(close_date) > 3 }"),
        Code::UnknownName,
        "dayz",
        true,
    );
    expect(
        &with("cosell { pool p capacity 3 per fortnight }"),
        Code::UnknownName,
        "fortnight",
        true,
    );
    expect(
        &with("registration { extend 30d on advanc }"),
        Code::UnknownName,
        "advanc",
        true,
    );
    expect(
        &with("registration { late when registration.aproved }"),
        Code::UnknownName,
        "registration.aproved",
        true,
    );
}

#[test]
fn e105_unknown_day() {
    let text = HEADER.replace("mon-fri", "mon-fry");
    expect(
        &format!("{text}{RECORDS}{STAGES}"),
        Code::UnknownName,
        "fry",
        true,
    );
}

#[test]
fn e105_flag_used_before_definition() {
    let text = with("hygiene {\n  flag a when b\n  flag b when strategic\n  flag c when c\n}");
    let d = expect(&text, Code::UnknownName, "b", true);
    assert!(d.message.contains("before it is defined"));
    expect(&text, Code::UnknownName, "c", true);
}

// ---------------------------------------------------------------- E110 type-mismatch

#[test]
fn e110_money_compared_with_number() {
    let d = expect(
        &with("hygiene { flag big when amount > 10_000 }"),
        Code::TypeMismatch,
        "10_000",
        true,
    );
    assert_eq!(d.message, "cannot compare `money` with `integer`");
    assert!(d.help.unwrap().contains("`10_000 USD`"));
    assert_eq!(d.related.len(), 1);
}

#[test]
fn e110_duration_compared_with_number() {
    let d = expect(
        &with("hygiene { flag old when days_in_stage > 30 }"),
        Code::TypeMismatch,
        "30",
        true,
    );
    assert!(d.help.unwrap().contains("90d"));
}

#[test]
fn e110_calendar_and_business_durations_do_not_mix() {
    expect(
        &with("hygiene { flag old when days_in_stage > 16 business hours }"),
        Code::TypeMismatch,
        "16 business hours",
        true,
    );
}

#[test]
fn e110_condition_positions_need_bool() {
    expect(
        &with("registration { late when amount }"),
        Code::TypeMismatch,
        "amount",
        true,
    );
    let text =
        with_stages(&STAGES.replace("expected 30d }", "expected 30d requires amount + 1 USD }"));
    expect(&text, Code::TypeMismatch, "amount + 1 USD", true);
    let text = with_stages(&STAGES.replace(
        "Proposal -> ClosedWon",
        "Proposal -> ClosedWon when close_date",
    ));
    expect(&text, Code::TypeMismatch, "close_date", true);
}

#[test]
fn e110_constant_positions() {
    expect(
        &with("registration { protect 16 business hours }"),
        Code::TypeMismatch,
        "16 business hours",
        true,
    );
    expect(
        &with("registration { protect 90 }"),
        Code::TypeMismatch,
        "90",
        true,
    );
    expect(
        &with("registration { discount 10 }"),
        Code::TypeMismatch,
        "10",
        true,
    );
    expect(
        &with("cosell { pool p capacity 2.5 per week }"),
        Code::TypeMismatch,
        "2.5",
        true,
    );
    let text = with_stages(&STAGES.replace("expected 21d", "expected 5"));
    expect(&text, Code::TypeMismatch, "5", true);
    let text = with_stages(&STAGES.replace("expected 21d", "expected amount"));
    expect(&text, Code::TypeMismatch, "amount", true);
}

#[test]
fn e110_priority_and_split_role_types() {
    expect(
        &with("cosell { pool p capacity 2 per week assign p when strategic priority close_date }"),
        Code::TypeMismatch,
        "close_date",
        true,
    );
    expect(
        &with("commission { split { registering 70%, amount 30% } }"),
        Code::TypeMismatch,
        "amount",
        true,
    );
}

#[test]
fn e110_function_arity_and_arguments() {
    expect(
        &with("hygiene { flag x when days_between(close_date) > 3 }"),
        Code::TypeMismatch,
        "days_between(close_date)",
        true,
    );
    expect(
        &with("hygiene { flag x when len(amount) > 3 }"),
        Code::TypeMismatch,
        "len(amount)",
        true,
    );
}

#[test]
fn e110_field_default_type() {
    let text = format!(
        "{HEADER}{}{STAGES}",
        RECORDS.replace("strategic: bool = false", "strategic: bool = 3")
    );
    expect(&text, Code::TypeMismatch, "3", true);
}

#[test]
fn e110_arithmetic() {
    let d = expect(
        &with("hygiene { flag x when amount + 5 > 10 USD }"),
        Code::TypeMismatch,
        "5",
        true,
    );
    assert!(d.message.contains("cannot use `+`"));
}

// ---------------------------------------------------------------- E111 mixed-currency

#[test]
fn e111_mixed_currency() {
    let d = expect(
        &with("hygiene { flag big when amount > 10_000 EUR }"),
        Code::MixedCurrency,
        "10_000 EUR",
        true,
    );
    assert!(d.help.unwrap().contains("USD"));
}

// ---------------------------------------------------------------- E120 duplicate-declaration

#[test]
fn e120_duplicate_stage_field_record_and_section() {
    let text = with_stages(&format!("{STAGES}stage Proposal {{ probability 70% }}"));
    let d = expect(&text, Code::DuplicateDeclaration, "Proposal", true);
    assert_eq!(d.related.len(), 1);

    let text = format!(
        "{HEADER}{}{STAGES}",
        RECORDS.replace("close_date: date", "close_date: date amount: decimal")
    );
    expect(&text, Code::DuplicateDeclaration, "amount", true);

    let text = with("record partner { x: text }");
    expect(&text, Code::DuplicateDeclaration, "partner", true);

    let text = with("hygiene { flag a when strategic }\nhygiene { flag b when strategic }");
    expect(&text, Code::DuplicateDeclaration, "hygiene", true);
}

#[test]
fn e120_builtin_field_names() {
    let text = format!(
        "{HEADER}{}{STAGES}",
        RECORDS.replace("close_date: date", "close_date: date stage: text")
    );
    expect(&text, Code::DuplicateDeclaration, "stage", true);
    let text = format!(
        "{HEADER}{}{STAGES}",
        RECORDS.replace(
            "close_date: date",
            "close_date: date line_items: list<line_item>"
        )
    );
    let d = expect(&text, Code::DuplicateDeclaration, "line_items", true);
    assert!(d.help.unwrap().contains("built in"));
}

#[test]
fn e120_duplicate_transition_flag_pool_header() {
    let text = with_stages(&STAGES.replace(
        "any -> ClosedLost",
        "any -> ClosedLost\n  Proposal -> ClosedWon",
    ));
    expect(
        &text,
        Code::DuplicateDeclaration,
        "Proposal -> ClosedWon",
        true,
    );
    expect(
        &with("hygiene { flag a when strategic flag a when strategic }"),
        Code::DuplicateDeclaration,
        "a",
        true,
    );
    expect(
        &with("cosell { pool p capacity 1 per week pool p capacity 2 per week }"),
        Code::DuplicateDeclaration,
        "p",
        true,
    );
    let text = format!("{HEADER}{HEADER}{RECORDS}{STAGES}");
    let (_, diags) = run(&text);
    let d = diags
        .iter()
        .find(|d| d.code == Code::DuplicateDeclaration)
        .expect("E120");
    assert_eq!(text.get(d.span.clone()), Some("policy"));
    assert!(d.span.start > 0);
}

// ---------------------------------------------------------------- E130 invalid-literal

#[test]
fn e130_probability_out_of_range() {
    let text = with_stages(&STAGES.replace("probability 60%", "probability 140%"));
    let d = expect(&text, Code::InvalidLiteral, "140%", true);
    assert_eq!(d.message, "`140%` is more than 100%");
    let text = with_stages(&STAGES.replace("probability 60%", "probability -5%"));
    expect(&text, Code::InvalidLiteral, "-5%", true);
}

#[test]
fn e130_dates_times_and_zones() {
    let text = HEADER.replace("hours mon-fri", "holidays 2026-02-31 hours mon-fri");
    let d = expect(
        &format!("{text}{RECORDS}{STAGES}"),
        Code::InvalidLiteral,
        "2026-02-31",
        true,
    );
    assert!(d.help.unwrap().contains("28 days"));

    let text = HEADER.replace("America/New_York", "America/New_Yrok");
    let d = expect(
        &format!("{text}{RECORDS}{STAGES}"),
        Code::InvalidLiteral,
        "\"America/New_Yrok\"",
        true,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `America/New_York`?"));

    let text = HEADER.replace("09:00-17:00", "09:00-25:00");
    expect(
        &format!("{text}{RECORDS}{STAGES}"),
        Code::InvalidLiteral,
        "25:00",
        true,
    );
    let text = HEADER.replace("09:00-17:00", "17:00-09:00");
    expect(
        &format!("{text}{RECORDS}{STAGES}"),
        Code::InvalidLiteral,
        "09:00",
        true,
    );
}

#[test]
fn e130_currency_code() {
    let text = HEADER.replace("currency USD", "currency usd");
    let d = expect(
        &format!("{text}{RECORDS}{STAGES}"),
        Code::InvalidLiteral,
        "usd",
        true,
    );
    assert!(d.help.unwrap().contains("`USD`"));
}

#[test]
fn e130_negative_duration_and_out_of_range_numbers() {
    expect(
        &with("hygiene { flag x when days_in_stage > -5d }"),
        Code::InvalidLiteral,
        "-5d",
        true,
    );
    expect(
        &with("registration { protect -90d }"),
        Code::InvalidLiteral,
        "-90d",
        true,
    );
    expect(
        &with("hygiene { flag x when partner_count > 99999999999999999999 }"),
        Code::InvalidLiteral,
        "99999999999999999999",
        true,
    );
    expect(
        &with("cosell { pool p capacity 0 per week }"),
        Code::InvalidLiteral,
        "0",
        true,
    );
    expect(
        &with("hygiene { flag x when close_date > 2026-13-01 }"),
        Code::InvalidLiteral,
        "2026-13-01",
        true,
    );
}

// ---------------------------------------------------------------- E140 malformed-declaration

#[test]
fn e140_missing_header_and_currency() {
    let (ir, diags) = run(&format!("{RECORDS}{STAGES}"));
    assert!(ir.is_none());
    let d = diags
        .iter()
        .find(|d| d.code == Code::MalformedDeclaration)
        .expect("E140");
    assert_eq!(d.span, 0..0);
    assert!(d.help.is_some());

    let text = HEADER.replace("currency USD", "");
    expect(
        &format!("{text}{RECORDS}{STAGES}"),
        Code::MalformedDeclaration,
        "policy",
        true,
    );
}

#[test]
fn e140_missing_probability() {
    let text = with_stages(&STAGES.replace(
        "stage Proposal { probability 60% expected 30d }",
        "stage Proposal { expected 30d }",
    ));
    expect(&text, Code::MalformedDeclaration, "Proposal", true);
}

#[test]
fn e140_any_in_the_middle_and_terminal_with_exits() {
    let text = with_stages(&STAGES.replace(
        "any -> ClosedLost",
        "any -> ClosedLost\n  Proposal -> any -> ClosedLost",
    ));
    expect(&text, Code::MalformedDeclaration, "any", true);
    let text = with_stages(&STAGES.replace(
        "any -> ClosedLost",
        "any -> ClosedLost\n  ClosedWon -> Proposal",
    ));
    expect(
        &text,
        Code::MalformedDeclaration,
        "ClosedWon -> Proposal",
        true,
    );
}

#[test]
fn e140_rate_row_pattern_count() {
    let text = with("commission { rate by (partner.tier, item.product_family) first match { (Gold) 10% (_, _) 5% } }");
    expect(&text, Code::MalformedDeclaration, "(Gold) 10%", true);
}

// ---------------------------------------------------------------- graph

#[test]
fn e201_unreachable_stage() {
    let stages = STAGES.replace(
        "stage Proposal",
        "stage Orphan { probability 30% }\nstage Proposal",
    );
    let d = expect(
        &with_stages(&stages),
        Code::UnreachableStage,
        "Orphan",
        true,
    );
    assert!(d.message.contains("Qualification"));
}

#[test]
fn e202_dead_end_stage() {
    let stages = r#"
stage Qualification { probability 20% }
stage Proposal { probability 60% }
won stage ClosedWon { probability 100% }
flow { Qualification -> Proposal  Qualification -> ClosedWon }
"#;
    let d = expect(&with_stages(stages), Code::DeadEndStage, "Proposal", true);
    assert!(d.help.unwrap().contains("won stage"));
}

#[test]
fn any_edges_are_a_way_out() {
    let stages = r#"
stage Qualification { probability 20% }
stage Proposal { probability 60% }
lost stage ClosedLost { probability 0% }
flow { Qualification -> Proposal  any -> ClosedLost }
"#;
    clean(&with_stages(stages));
}

#[test]
fn e203_no_terminal_stage() {
    let stages = r#"
stage Qualification { probability 20% }
stage Proposal { probability 60% }
flow { Qualification -> Proposal -> Qualification }
"#;
    expect(
        &with_stages(stages),
        Code::NoTerminalStage,
        "Qualification",
        true,
    );
    let (_, diags) = run(HEADER);
    let d = diags
        .iter()
        .find(|d| d.code == Code::NoTerminalStage)
        .expect("E203");
    assert_eq!(d.span, 0..0);
}

#[test]
fn w204_falling_probability_is_a_warning() {
    let stages = STAGES.replace(
        "Qualification -> Proposal -> ClosedWon",
        "Proposal -> Qualification -> Proposal -> ClosedWon",
    );
    let stages = stages.replace(
        "stage Qualification { probability 20%",
        "stage Start { probability 10% }\nstage Qualification { probability 20%",
    );
    let stages = stages.replace(
        "any -> ClosedLost",
        "any -> ClosedLost\n  Start -> Proposal",
    );
    let text = with_stages(&stages);
    let d = expect(
        &text,
        Code::FallingProbability,
        "Proposal -> Qualification",
        true,
    );
    assert_eq!(d.severity, Severity::Warning);
    assert!(
        d.message.contains("60%") && d.message.contains("20%"),
        "{}",
        d.message
    );
    let (ir, _) = run(&text);
    assert!(ir.is_some(), "warnings keep the IR");
}

#[test]
fn e102_a_stage_label_in_flow_names_the_stage() {
    let stages = STAGES
        .replace("stage Proposal {", "stage Proposal \"Proposal Sent\" {")
        .replace(
            "Qualification -> Proposal -> ClosedWon",
            "Qualification -> Proposal Sent -> ClosedWon\n  Qualification -> closed won -> ClosedWon",
        );
    let text = with_stages(&stages);
    let d = expect(&text, Code::UnknownStage, "Proposal Sent", true);
    assert_eq!(
        d.help.as_deref(),
        Some("`Proposal Sent` is the label of stage `Proposal`; write `Proposal` in `flow`")
    );
    assert_eq!(text.get(d.related[0].span.clone()), Some("Proposal"));
    // Words that run together into a stage name, without a label.
    let d = expect(&text, Code::UnknownStage, "closed won", true);
    assert!(
        d.help.as_deref().is_some_and(|h| h.contains("`ClosedWon`")),
        "{d:?}"
    );
    // One diagnostic per label, not one per word.
    let (_, diags) = run(&text);
    assert_eq!(
        diags
            .iter()
            .filter(|d| d.code == Code::UnknownStage)
            .count(),
        2,
        "{diags:#?}"
    );
    // Two real stages side by side are two rules, not a label.
    let stages = STAGES.replace(
        "Qualification -> Proposal -> ClosedWon",
        "Qualification -> Proposal Proposal -> ClosedWon",
    );
    let (ir, diags) = run(&with_stages(&stages));
    assert!(ir.is_some(), "{diags:#?}");
}

#[test]
fn w204_is_silent_next_to_a_missing_or_invalid_probability() {
    // Each of these probabilities is an error of its own; the falling-probability
    // warning would compare a value the policy never declared.
    for (bad, code) in [
        ("probability 175%", Code::InvalidLiteral),
        ("probability 0.5", Code::TypeMismatch),
        ("probability -5%", Code::InvalidLiteral),
        ("expected 5d", Code::MalformedDeclaration),
    ] {
        let stages = STAGES.replace(
            "stage Proposal { probability 60%",
            &format!("stage Proposal {{ {bad}"),
        );
        let text = with_stages(&stages);
        let (_, diags) = run(&text);
        assert!(
            diags.iter().any(|d| d.code == code),
            "`{bad}` should report {code}: {diags:#?}"
        );
        assert!(
            !diags.iter().any(|d| d.code == Code::FallingProbability),
            "`{bad}`: {diags:#?}"
        );
    }
    // The valid pairs around it are still checked.
    let stages = STAGES
        .replace(
            "stage Proposal { probability 60%",
            "stage Proposal { probability 175%",
        )
        .replace(
            "won stage ClosedWon",
            "stage Late { probability 10% }\nwon stage ClosedWon",
        )
        .replace(
            "any -> ClosedLost",
            "any -> ClosedLost\n  Qualification -> Late -> ClosedWon",
        );
    let (_, diags) = run(&with_stages(&stages));
    let falling: Vec<&Diagnostic> = diags
        .iter()
        .filter(|d| d.code == Code::FallingProbability)
        .collect();
    assert_eq!(falling.len(), 1, "{diags:#?}");
    assert!(
        falling[0].message.contains("from 20% to 10%"),
        "{}",
        falling[0].message
    );
}

// ---------------------------------------------------------------- error collection

#[test]
fn collects_every_error() {
    let text = with(
        "hygiene {\n  flag a when amout > 10 USD\n  flag b when days_in_stage > 30\n  flag c when stage >= Negotation\n}\ncosell { assign nope when strategic }",
    );
    let (ir, diags) = run(&text);
    assert!(ir.is_none());
    let codes: Vec<Code> = diags.iter().map(|d| d.code).collect();
    for c in [
        Code::UnknownField,
        Code::TypeMismatch,
        Code::UnknownStage,
        Code::UnknownPool,
    ] {
        assert!(codes.contains(&c), "{c} missing from {codes:?}");
    }
    assert_eq!(diags.len(), 4, "{diags:#?}");
}

// ---------------------------------------------------------------- IR shape

#[test]
fn ir_records_enums_and_slots() {
    let ir = clean(&with(""));
    assert_eq!(ir.currency, "USD");
    assert_eq!(ir.records.len(), 5);
    let kinds: Vec<RecordKind> = ir.records.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, RecordKind::ALL.to_vec());
    let opp = ir.record(RecordKind::Opportunity).unwrap();
    let (slot, amount) = opp.field("amount").unwrap();
    assert_eq!(
        (slot, &amount.ty, amount.evidence),
        (0, &Type::Money, false)
    );
    let (_, bp) = opp.field("budget_process").unwrap();
    assert!(bp.evidence);
    assert_eq!(
        opp.field("strategic").unwrap().1.default,
        Some(Const::Bool(false))
    );
    assert_eq!(
        opp.field("influencer").unwrap().1.ty,
        Type::Optional(Box::new(Type::Text))
    );

    assert_eq!(
        ir.enums[0].variants,
        ["none", "pending", "approved", "rejected", "expired"]
    );
    assert_eq!(ir.enums[1].name, "forecast");
    // product_family (opportunity) is the first user enum; line_item reuses it.
    let pf = opp.field("product_family").unwrap().1.ty.clone();
    assert_eq!(pf, Type::Enum(EnumId(2)));
    let li = ir.record(RecordKind::LineItem).unwrap();
    assert_eq!(li.field("product_family").unwrap().1.ty, pf);
    let tier = &ir
        .record(RecordKind::Partner)
        .unwrap()
        .field("tier")
        .unwrap()
        .1
        .ty;
    assert_eq!(tier, &Type::Enum(EnumId(3)));
    assert_eq!(ir.enums[3].name, "tier");
}

#[test]
fn ir_undeclared_records_are_empty() {
    let text = with("").replace("record lead { region: enum { NA, EMEA } }", "");
    let ir = clean(&text);
    let lead = ir.record(RecordKind::Lead).unwrap();
    assert!(lead.fields.is_empty() && lead.span.is_none());
}

#[test]
fn ir_stages_and_transitions() {
    let ir = clean(&with(""));
    let names: Vec<&str> = ir.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["Qualification", "Proposal", "ClosedWon", "ClosedLost"]
    );
    let q = &ir.stages[0];
    assert_eq!(q.probability, rust_decimal::Decimal::new(20, 2));
    assert_eq!(q.expected, Some(21 * 86_400));
    assert_eq!(q.forecast, ir::Forecast::Pipeline);
    assert_eq!(ir.stages[2].forecast, ir::Forecast::Closed);
    let edges: Vec<(Option<u32>, u32)> = ir
        .transitions
        .iter()
        .map(|t| (t.from.map(|f| f.0), t.to.0))
        .collect();
    assert_eq!(edges, [(Some(0), 1), (Some(1), 2), (None, 3)]);
}

#[test]
fn ir_evidence_requirements() {
    let ir = clean(&with(""));
    let req = &ir.stages[0].requires[0];
    let opp = ir.record(RecordKind::Opportunity).unwrap();
    let (bp_slot, _) = opp.field("budget_process").unwrap();
    let (dm_slot, _) = opp.field("decision_maker").unwrap();
    let bp = &req.items[0];
    assert_eq!(
        bp.evidence,
        Some(ir::FieldRef {
            record: RecordKind::Opportunity,
            slot: bp_slot
        })
    );
    // A bool evidence field: present AND true.
    let ExprKind::Binary(ir::BinOp::And, left, right) = &bp.expr.kind else {
        panic!("{:?}", bp.expr)
    };
    assert!(matches!(
        left.kind,
        ExprKind::Presence { present: true, .. }
    ));
    assert!(matches!(right.kind, ExprKind::Binary(ir::BinOp::Eq, _, _)));
    let dm = &req.items[1];
    assert_eq!(
        dm.evidence,
        Some(ir::FieldRef {
            record: RecordKind::Opportunity,
            slot: dm_slot
        })
    );
    assert!(matches!(
        dm.expr.kind,
        ExprKind::Presence { present: true, .. }
    ));
}

#[test]
fn ir_contextual_names_resolve_by_type() {
    let ir = clean(&with(
        "registration {\n  late when stage >= Proposal\n  auto approve when partner.tier in [Gold, Platinum]\n  discount 10% when approved\n}",
    ));
    let reg = ir.registration.unwrap();
    let ExprKind::Binary(_, _, stage) = &reg.late[0].expr.kind else {
        panic!()
    };
    assert_eq!(stage.kind, ExprKind::Const(Const::Stage(StageId(1))));
    let ExprKind::Binary(_, _, list) = &reg.auto_approve[0].expr.kind else {
        panic!()
    };
    let ExprKind::List(items) = &list.kind else {
        panic!()
    };
    assert_eq!(
        items[1].kind,
        ExprKind::Const(Const::Enum {
            id: EnumId(3),
            index: 2
        })
    );
    assert_eq!(reg.discounts[0].rate, rust_decimal::Decimal::new(1, 1));
    assert!(matches!(
        reg.discounts[0].when.as_ref().unwrap().kind,
        ExprKind::Builtin(ir::Builtin::Approved)
    ));
}

#[test]
fn ir_quantifier_vars_are_unique_and_increasing() {
    let ir = clean(&with(
        "hygiene {\n  flag a when any(li in line_items: li.quantity > 10)\n  flag b when all(li in line_items: li.price > 0 USD) and a\n}",
    ));
    let h = ir.hygiene.unwrap();
    let ExprKind::Quant { var: v0, body, .. } = &h.flags[0].when.kind else {
        panic!()
    };
    let ExprKind::Binary(_, field, _) = &body.kind else {
        panic!()
    };
    assert_eq!(field.kind, ExprKind::VarField { var: *v0, slot: 1 });
    let ExprKind::Binary(_, q, flag) = &h.flags[1].when.kind else {
        panic!()
    };
    let ExprKind::Quant { var: v1, .. } = &q.kind else {
        panic!()
    };
    assert!(v1 > v0);
    assert_eq!(flag.kind, ExprKind::Flag(0));
}

#[test]
fn ir_sections() {
    let ir = clean(&with(
        r#"
registration {
  duplicate when same account, product_family within 90d
  review by channel_ops within 24 business hours
  escalate to director after 1 business days
  protect 90d
  extend 30d on activity, at most 2
}
cosell { pool presales "Presales" capacity 10 per week  assign presales when strategic priority amount * probability }
commission {
  rate by (partner.tier, item.product_family) unique match { (Gold, [Core, Security]) 10% (_, _) 5% }
  rebate bonus 2% when item.quantity > 10
  split when present influencer { registering 70%, influencer 30% }
}
leads { route when lead.region in partner.territories  prefer partner.tier desc  accept within 2 business days, reroute at most 3  convert to Qualification }
"#,
    ));
    let reg = ir.registration.unwrap();
    let dup = reg.duplicate.unwrap();
    assert_eq!(
        dup.within,
        ir::Dur {
            seconds: 90 * 86_400,
            business: false
        }
    );
    assert!(matches!(
        dup.keys[0].kind,
        ExprKind::Field {
            record: RecordKind::Account,
            slot: 0
        }
    ));
    assert_eq!(
        reg.review.unwrap().within,
        ir::Dur {
            seconds: 24 * 3600,
            business: true
        }
    );
    // One business day is the calendar's working day (8h).
    assert_eq!(
        reg.escalations[0].after,
        ir::Dur {
            seconds: 8 * 3600,
            business: true
        }
    );
    let ext = reg.extend.unwrap();
    assert_eq!(
        (ext.on, ext.at_most),
        (ir::ExtendTrigger::Activity, Some(2))
    );

    let cosell = ir.cosell.unwrap();
    assert_eq!(cosell.pools[0].capacity, 10);
    assert_eq!(cosell.pools[0].per, ir::Period::Week);
    assert_eq!(cosell.assigns[0].priority.as_ref().unwrap().ty, Type::Money);

    let com = ir.commission.unwrap();
    let rate = com.rate.unwrap();
    assert_eq!(rate.mode, ir::MatchMode::Unique);
    let pf = EnumId(2);
    assert_eq!(
        rate.rows[0].patterns,
        vec![
            Some(vec![Const::Enum {
                id: EnumId(3),
                index: 1
            }]),
            Some(vec![
                Const::Enum { id: pf, index: 0 },
                Const::Enum { id: pf, index: 1 }
            ])
        ]
    );
    assert_eq!(rate.rows[1].patterns, vec![None, None]);
    assert!(matches!(
        com.splits[0].shares[1].role,
        ir::SplitRole::Field { slot: 4, .. }
    ));

    let leads = ir.leads.unwrap();
    assert_eq!(leads.accept.unwrap().reroute_at_most, Some(3));
    assert_eq!(leads.convert.unwrap().to, StageId(0));
    assert!(leads.prefer[0].1);
}

#[test]
fn ir_calendar_defaults() {
    let header =
        "policy \"T\" version \"1\" {\n  currency EUR\n  calendar ops { holidays 2026-12-25 }\n}\n";
    let text = format!("{header}{}{STAGES}", RECORDS.replace("USD", "EUR"));
    let ir = clean(&text);
    let cal = ir.calendar.unwrap();
    assert_eq!(cal.timezone, "UTC");
    assert_eq!(
        cal.working_days,
        [true, true, true, true, true, false, false]
    );
    assert_eq!(cal.start, chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap());
    assert_eq!(cal.holidays.len(), 1);
}

#[test]
fn ir_types_of_expressions() {
    let ir = clean(&with(
        "hygiene {\n  flag a when days_in_stage > 2 * stage.expected\n  flag b when close_date + 30d < today\n  flag c when days_between(close_date, today) < -14\n  flag d when amount / 2 > 10 USD\n}",
    ));
    let h = ir.hygiene.unwrap();
    let ExprKind::Binary(_, _, rhs) = &h.flags[0].when.kind else {
        panic!()
    };
    assert_eq!(rhs.ty, Type::Duration);
    let ExprKind::Binary(_, lhs, _) = &h.flags[1].when.kind else {
        panic!()
    };
    assert_eq!(lhs.ty, Type::Date);
    let ExprKind::Binary(_, _, neg) = &h.flags[2].when.kind else {
        panic!()
    };
    assert_eq!(neg.kind, ExprKind::Const(Const::Integer(-14)));
    let ExprKind::Binary(_, lhs, _) = &h.flags[3].when.kind else {
        panic!()
    };
    assert_eq!(lhs.ty, Type::Money);
}

// ---------------------------------------------------------------- robustness

/// Removing any one item, stage property or section rule of a shipped policy never
/// panics the checker, spans stay inside the text, and the IR is absent exactly when
/// an error was reported. (Mutates the AST: one parse, many checks.)
#[test]
fn mutated_policies_never_panic() {
    use dealflow_dsl::ast::{Item, Policy};

    fn variants(p: &Policy) -> Vec<Policy> {
        let mut out = Vec::new();
        for i in 0..p.items.len() {
            let mut q = p.clone();
            q.items.remove(i);
            out.push(q);
            let count = match &p.items[i] {
                Item::Stage(s) => s.props.len(),
                Item::Flow(f) => f.rules.len(),
                Item::Record(r) => r.members.len(),
                Item::Registration(s) => s.rules.len(),
                Item::Cosell(s) => s.rules.len(),
                Item::Commission(s) => s.rules.len(),
                Item::Hygiene(s) => s.rules.len(),
                Item::Leads(s) => s.rules.len(),
                Item::Header(h) => h.settings.len(),
            };
            for j in 0..count {
                let mut q = p.clone();
                match &mut q.items[i] {
                    Item::Stage(s) => drop(s.props.remove(j)),
                    Item::Flow(f) => drop(f.rules.remove(j)),
                    Item::Record(r) => drop(r.members.remove(j)),
                    Item::Registration(s) => drop(s.rules.remove(j)),
                    Item::Cosell(s) => drop(s.rules.remove(j)),
                    Item::Commission(s) => drop(s.rules.remove(j)),
                    Item::Hygiene(s) => drop(s.rules.remove(j)),
                    Item::Leads(s) => drop(s.rules.remove(j)),
                    Item::Header(h) => drop(h.settings.remove(j)),
                }
                out.push(q);
            }
        }
        out
    }

    let mut total = 0;
    for entry in std::fs::read_dir("../policies").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "policy") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let src = SourceFile::new("m.policy", text.as_str());
        let ast = parser::parse(&src).0.unwrap();
        let all = variants(&ast);
        // Item removals and property or rule removals: the small Maven policy has
        // 41 variants, each large reference policy hundreds.
        assert!(all.len() > 2 * ast.items.len(), "{}", all.len());
        total += all.len();
        for (n, policy) in all.iter().enumerate() {
            let (ir, diags) = check::check(policy, &src);
            let has_errors = diags.iter().any(Diagnostic::is_error);
            assert_eq!(
                ir.is_some(),
                !has_errors,
                "variant {n} of {}",
                path.display()
            );
            for d in &diags {
                assert!(text.get(d.span.clone()).is_some(), "bad span {d:?}");
            }
        }
    }
    eprintln!("{total} mutated policies checked");
    assert!(total > 200, "{total}");
}

// ---------------------------------------------------------------- message catalogue

/// Every diagnostic of a policy with many mistakes, rendered one per line: a
/// reviewable catalogue of the checker's wording.
#[test]
fn diagnostics_catalogue() {
    let text = with(
        r#"
registration {
  open from Qualifcation
  eligible when partner.tier >= Sliver
  duplicate when same account, product_family within 16 business hours
  auto approve when partner.tier in [Gold, "Platinum"]
  review by ops within 24
  protect -30d
  extend 30d on advanc, at most 2
  late when stage >= Negotiation
  discount 120% when approved
}
cosell {
  pool pe capacity 0 per fortnight
  assign pee when amount > 50_000 priority close_date
  never when present(influencer)
}
commission {
  rate by (partner.tier, item.product_family) first match {
    (Gold, Cor) 10%
    (Gold) 8%
    (_, _) 5
  }
  rebate bonus 2% when cosell.suported
  split { registering 70%, amount 30% }
}
hygiene {
  flag stale when days_in_stage > 2 * stage.expected and pushed
  flag pushed when close_date_changes >= 3 or stale
  flag overdue when days_between(close_date) > 14
  exclude from forecast when lower(amount) == "x"
}
leads {
  route when lead.region in partner.territories and amount > 0 USD
  accept within 2
  convert to Qualification when item.quantity > 1
}
"#,
    );
    let (ir, diags) = run(&text);
    assert!(ir.is_none());
    let src = SourceFile::new("t.policy", text.as_str());
    let mut out = String::new();
    for d in &diags {
        let lc = src.line_col(d.span.start);
        out.push_str(&format!(
            "{} {}:{} `{}`: {} [{}]{}\n",
            d.code,
            lc.line,
            lc.column,
            &text[d.span.clone()],
            d.message,
            d.label,
            d.help
                .as_ref()
                .map(|h| format!(" help: {h}"))
                .unwrap_or_default()
        ));
    }
    insta::assert_snapshot!(out);
}

// ---------------------------------------------------------------- field ranges (issue 6)

fn ranged(decl: &str) -> String {
    with("").replacen(
        "  amount: money\n",
        &format!("  amount: money\n  {decl}\n"),
        1,
    )
}

#[test]
fn field_ranges_check_into_the_ir() {
    let p = clean(&ranged(
        "discount_amount: money in -10_000 USD .. 10_000 USD\n  margin: percent in -50% .. 100%\n  seats: integer? in 0 ..\n  cap: money in .. 5_000 USD\n  due: date in 2026-01-01 .. 2026-12-31",
    ));
    let rec = p.record(RecordKind::Opportunity).unwrap();
    let f = |n: &str| rec.fields.iter().find(|f| f.name == n).unwrap();
    let r = f("discount_amount").range.as_ref().unwrap();
    let low = r.low.as_ref().unwrap();
    assert_eq!(low.value, Const::Money("-10000".parse().unwrap()));
    assert_eq!(low.text, "-10_000 USD");
    assert!(r.at.starts_with("t.policy:"), "{}", r.at);
    let m = f("margin").range.as_ref().unwrap();
    assert_eq!(
        m.low.as_ref().unwrap().value,
        Const::Percent("-0.5".parse().unwrap())
    );
    let s = f("seats").range.as_ref().unwrap();
    assert_eq!(s.low.as_ref().unwrap().value, Const::Integer(0));
    assert!(s.high.is_none());
    let c = f("cap").range.as_ref().unwrap();
    assert!(c.low.is_none());
    assert!(f("due").range.is_some());
    assert!(f("amount").range.is_none());
}

#[test]
fn field_range_errors() {
    // Unordered type.
    expect(
        &ranged("note: text in 1 .. 2"),
        Code::TypeMismatch,
        "in 1 .. 2",
        true,
    );
    // Bound of another type (a money bound needs its currency: `0` is refused too).
    expect(
        &ranged("fee: money in 0 USD .. 10%"),
        Code::TypeMismatch,
        "10%",
        true,
    );
    // Foreign currency.
    expect(
        &ranged("fee: money in 0 EUR .."),
        Code::MixedCurrency,
        "0 EUR",
        true,
    );
    // Empty range.
    expect(
        &ranged("qty: integer in 10 .. 1"),
        Code::MalformedDeclaration,
        "in 10 .. 1",
        true,
    );
    // No bounds at all.
    expect(
        &ranged("qty: integer in .."),
        Code::MalformedDeclaration,
        "in ..",
        true,
    );
    // Invalid literal inside a bound.
    expect(
        &ranged("due: date in 2026-02-30 .."),
        Code::InvalidLiteral,
        "2026-02-30",
        true,
    );
}
