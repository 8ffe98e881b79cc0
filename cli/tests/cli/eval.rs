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

/// Every character a terminal would act on (escape sequences, C1 controls, bidi
/// overrides), other than the line breaks of the output itself.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| {
            matches!(*c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
                | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

fn route_lead(audience: &str) -> super::Run {
    run(&[
        "eval",
        "--policy",
        POLICY,
        "--context",
        "fixtures/eval/lead-context.yaml",
        "--action",
        "route_lead",
        "--now",
        "2026-11-27T15:00:00Z",
        "--as",
        audience,
    ])
}

#[test]
fn route_lead_needs_only_the_lead() {
    let r = route_lead("vendor");
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout.starts_with("ROUTED: route_lead of lead L-100"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("offered to P-NORTH (Northwind Secure)"),
        "{}",
        r.stdout
    );
    // Exclusions read from the failing rule's point of view.
    assert!(
        r.stdout
            .contains("partner `P-EAST` is excluded: the partner does not cover the lead's region"),
        "{}",
        r.stdout
    );
    assert_snapshot!(r.snapshot());
}

#[test]
fn a_partner_that_was_not_chosen_sees_only_its_own_standing() {
    let r = route_lead("partner:P-ACME");
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(!r.stdout.contains("offered to P-ACME"), "{}", r.stdout);
    assert!(
        r.stdout.contains("the lead is offered to another partner"),
        "{}",
        r.stdout
    );
    for secret in [
        "P-NORTH",
        "Northwind",
        "P-EAST",
        "Eastgate",
        "EMEA",
        "Platinum",
        "55%",
        "[redacted]",
    ] {
        assert!(!r.stdout.contains(secret), "`{secret}` in:\n{}", r.stdout);
    }
    let json = run(&[
        "eval",
        "--policy",
        POLICY,
        "--context",
        "fixtures/eval/lead-context.yaml",
        "--action",
        "route_lead",
        "--now",
        "2026-11-27T15:00:00Z",
        "--as",
        "partner:P-ACME",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&json.stdout).expect("decision json");
    let routing = &v["effects"]["routing"];
    assert_eq!(routing["ranked"].as_array().map(Vec::len), Some(1));
    assert_eq!(routing["ranked"][0]["partner"], "P-ACME");
    assert!(routing.get("eligible_count").is_none(), "{routing}");
    for secret in ["P-NORTH", "P-EAST", "Northwind", "Eastgate"] {
        assert!(
            !json.stdout.contains(secret),
            "`{secret}` in {}",
            json.stdout
        );
    }
    assert_snapshot!(r.snapshot());
}

#[test]
fn an_excluded_partner_sees_why_and_nothing_else() {
    let r = route_lead("partner:P-EAST");
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout
            .contains("P-EAST is excluded: the partner does not cover the lead's region"),
        "{}",
        r.stdout
    );
    for secret in ["P-NORTH", "P-ACME", "Acme", "Northwind", "Platinum"] {
        assert!(!r.stdout.contains(secret), "`{secret}` in:\n{}", r.stdout);
    }
}

#[test]
fn review_says_why_auto_approval_did_not_apply() {
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/register-silver.yaml",
        "--action",
        "register",
        "--now",
        "2026-11-27T15:00:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout.starts_with("IN REVIEW: register for OPP-1002"),
        "{}",
        r.stdout
    );
    let section = r
        .stdout
        .split("Not auto-approved:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no section in:\n{}", r.stdout));
    assert!(
        section.contains(
            "not auto-approved: `partner.tier in [Gold, Platinum] and amount <= 250_000 USD` does not hold"
        ),
        "{section}"
    );
    assert!(section.contains("saw partner.tier = Silver"), "{section}");
    assert_snapshot!(r.snapshot());
}

#[test]
fn instants_are_shown_in_the_policy_time_zone_and_utc() {
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/register-silver.yaml",
        "--action",
        "register",
        "--now",
        "2026-11-27T15:00:00Z",
    ]);
    // The header, the review deadline and the reasons' instants.
    assert!(
        r.stdout
            .contains("at 2026-11-27 10:00 EST (2026-11-27T15:00:00Z)"),
        "{}",
        r.stdout
    );
    let deadline = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("review "))
        .unwrap_or_default();
    assert!(
        deadline.contains(" EST (") && deadline.contains("Z)"),
        "{deadline}"
    );
    // Summer time is shown as such.
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/register-gold.yaml",
        "--action",
        "register",
        "--now",
        "2026-07-01T15:00:00Z",
    ]);
    assert!(
        r.stdout
            .contains("at 2026-07-01 11:00 EDT (2026-07-01T15:00:00Z)"),
        "{}",
        r.stdout
    );
}

#[test]
fn no_advice_the_partner_cannot_act_on() {
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/skip-large.yaml",
        "--action",
        "advance ProposalEvaluation",
        "--now",
        "2026-11-27T15:00:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(!r.stdout.contains("make `amount"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("To pass: no change the partner can make will pass this:"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("amount = 120000.00 USD"), "{}", r.stdout);
    assert_snapshot!(r.snapshot());
}

#[test]
fn terminal_escapes_in_the_inputs_are_shown_escaped() {
    for (action, format) in [
        ("evaluate", "human"),
        ("advance Qualification", "human"),
        ("register", "human"),
        ("evaluate", "json"),
    ] {
        let r = run(&[
            "eval",
            "--policy",
            POLICY,
            "--record",
            "fixtures/eval/escapes.yaml",
            "--action",
            action,
            "--now",
            "2026-11-27T15:00:00Z",
            "--format",
            format,
        ]);
        let raw: Vec<char> = raw_controls(&r.stdout)
            .into_iter()
            .chain(raw_controls(&r.stderr))
            .collect();
        assert!(
            raw.is_empty(),
            "{action} {format}: {raw:?} in\n{}",
            r.snapshot()
        );
        if r.code == 0 && format == "human" {
            assert!(r.stdout.contains("OPP-9\\u{1b}[2J"), "{}", r.stdout);
        }
        if format == "json" {
            let v: Value = serde_json::from_str(&r.stdout).expect("still valid json");
            assert_eq!(v["opportunity"], "OPP-9\u{1b}[2J\u{1b}[31m");
        }
    }
    // Text echoed in errors is escaped too.
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/escapes.yaml",
        "--action",
        "advance Qualif\u{1b}[2J",
    ]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(raw_controls(&r.stderr).is_empty(), "{:?}", r.stderr);
}

#[test]
fn unknown_stage_is_bad_input_with_a_did_you_mean() {
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/register-gold.yaml",
        "--action",
        "advance Qualifcation",
        "--now",
        "2026-11-27T15:00:00Z",
    ]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(!r.stderr.contains("1:1"), "{}", r.stderr);
    assert!(
        r.stderr.contains("help: did you mean `Qualification`?"),
        "{}",
        r.stderr
    );
    assert_snapshot!(r.snapshot());
}

#[test]
fn bad_action_arguments_are_exit_2_and_say_why() {
    for (action, expect) in [
        ("regster", "did you mean `register`?"),
        ("route_leads", "did you mean `route_lead`?"),
        ("register now", "`register` takes no argument, got `now`"),
        ("advance", "`advance` needs the stage to move to"),
        ("advance Closed Won", "`advance` takes one stage"),
        (
            "advance Nowhere",
            "the policy declares Identification, Qualification",
        ),
    ] {
        let r = run(&[
            "eval",
            "--policy",
            POLICY,
            "--record",
            "fixtures/eval/register-gold.yaml",
            "--action",
            action,
        ]);
        assert_eq!(r.code, 2, "{action}: {}", r.snapshot());
        assert!(r.stderr.contains(expect), "{action}: {}", r.stderr);
    }
}

#[test]
fn undecidable_inputs_are_exit_2() {
    // A record is needed for every action but route_lead.
    let r = run(&["eval", "--policy", POLICY, "--action", "register"]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(
        r.stderr.contains("`--record` is required for `register`"),
        "{}",
        r.stderr
    );
    // route_lead without a lead in the context: not decided.
    let r = run(&["eval", "--policy", POLICY, "--action", "route_lead"]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(r.stdout.starts_with("NOT DECIDED"), "{}", r.stdout);
    assert!(r.stderr.contains("no `lead` to route"), "{}", r.stderr);
    // Another partner's deal, seen as a partner: nothing of it is shown.
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/register-gold.yaml",
        "--as",
        "partner:P-OTHER",
        "--now",
        "2026-11-27T15:00:00Z",
    ]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    for secret in ["OPP-1001", "120,000", "Acme", "P-ACME"] {
        assert!(!r.stdout.contains(secret), "`{secret}` in {}", r.stdout);
    }
    assert!(
        r.stderr.contains("belongs to another partner"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains(":1:1"), "{}", r.stdout);
}

#[test]
fn a_record_given_to_route_lead_is_not_read() {
    let r = run(&[
        "eval",
        "--policy",
        POLICY,
        "--record",
        "fixtures/eval/bad-record.yaml",
        "--context",
        "fixtures/eval/lead-context.yaml",
        "--action",
        "route_lead",
        "--now",
        "2026-11-27T15:00:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout.starts_with("ROUTED: route_lead of lead L-100"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .starts_with("warning: `fixtures/eval/bad-record.yaml` is not read"),
        "{}",
        r.stderr
    );
}

#[test]
fn help_points_to_the_record_format() {
    let r = run(&["eval", "--help"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("format of\ndocs/records.md"),
        "{}",
        r.stdout
    );
}

#[test]
fn policy_errors_are_shown_terminal_safe() {
    let dir = super::scratch_dir("eval-escaped-policy");
    let policy = dir.join("esc.policy");
    std::fs::write(
        &policy,
        "policy \"X\u{1b}[2J\" version \"1\" { currency USD }\nrecord opportunity { amount: money\u{1b}[31m }\n",
    )
    .expect("write policy");
    let policy = policy.to_string_lossy().into_owned();
    let r = run(&[
        "eval",
        "--policy",
        &policy,
        "--record",
        "fixtures/eval/register-gold.yaml",
    ]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(raw_controls(&r.stderr).is_empty(), "{:?}", r.stderr);
    assert!(r.stderr.contains("money?[31m"), "{}", r.stderr);
}

/// Issue 6: a field's declared range replaces the type's sign rule; a value outside
/// it is refused with the field path, the declared bound and where it is declared.
#[test]
fn declared_field_ranges_allow_negatives_and_refuse_out_of_range_values() {
    let eval = |record: &str| {
        run(&[
            "eval",
            "--policy",
            "fixtures/eval/ranged.policy",
            "--record",
            record,
            "--action",
            "register",
            "--now",
            "2026-11-02T15:00:00Z",
        ])
    };
    let at_low = eval("fixtures/eval/ranged-at-low.yaml");
    assert_eq!(at_low.code, 0, "{}", at_low.snapshot());
    let below = eval("fixtures/eval/ranged-below.yaml");
    assert_eq!(below.code, 2, "{}", below.snapshot());
    assert!(
        below.stderr.contains(
            "fields.amount: `-20000` is below the declared minimum `-10_000 USD` (fixtures/eval/ranged.policy:31:17)"
        ),
        "{}",
        below.stderr
    );
    let unranged = run(&[
        "eval",
        "--policy",
        "../../policies/channel-standard.policy",
        "--record",
        "fixtures/eval/ranged-at-low.yaml",
        "--action",
        "register",
        "--now",
        "2026-11-02T15:00:00Z",
    ]);
    assert_eq!(unranged.code, 2, "{}", unranged.snapshot());
    assert!(
        unranged.stderr.contains("cannot be below zero"),
        "{}",
        unranged.stderr
    );
}
