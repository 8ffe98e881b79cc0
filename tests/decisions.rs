//! End-to-end decisions over the reference policies: every case of
//! `policies/<name>.tests.yaml` is decided through the real toolchain, its full
//! decision JSON is snapshotted (`decisions__<policy>__<case slug>.snap`) and its
//! expectations are checked. The rule catalogue (`Policy::rule_ids`) is checked
//! against every reason the cases produce, so the two cannot drift.

#![allow(
    clippy::unwrap_used,
    reason = "test harness: an unreadable reference file should fail the test loudly"
)]

mod support;

use std::collections::{BTreeMap, BTreeSet};

use dealflow_engine::cases::check;
use dealflow_engine::{Decision, Policy, RuleInfo};

/// Decides every case of a reference policy, checks its expectations and
/// snapshots its decision.
fn cases_of(stem: &str) {
    let policy = support::policy(stem);
    let file = support::cases(stem);
    assert!(!file.cases.is_empty(), "{stem}.tests.yaml has no cases");
    let mut slugs = BTreeSet::new();
    let mut failures = Vec::new();
    for case in &file.cases {
        let slug = support::slug(&case.name);
        assert!(
            slugs.insert(slug.clone()),
            "{stem}: two cases share the snapshot name `{slug}`"
        );
        let decision = support::decide_case(&policy, case);
        let mismatches = check(&decision, &case.expect);
        if !mismatches.is_empty() {
            let lines: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
            failures.push(format!("{}:\n    {}", case.name, lines.join("\n    ")));
        }
        insta::with_settings!({
            description => format!("{stem}: {} ({}, as {})", case.name, case.action,
                case.audience.as_deref().unwrap_or("vendor")),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("{stem}__{slug}"), decision.to_json_pretty());
        });
    }
    assert!(
        failures.is_empty(),
        "{stem}: {} case(s) do not meet their expectations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn channel_standard_cases() {
    cases_of("channel-standard");
}

#[test]
fn healthcare_it_cases() {
    cases_of("healthcare-it");
}

#[test]
fn mssp_security_cases() {
    cases_of("mssp-security");
}

#[test]
fn salesforce_default_cases() {
    cases_of("salesforce-default");
}

#[test]
fn every_reference_policy_has_a_test_above() {
    assert_eq!(
        support::reference_policies(),
        [
            "channel-standard",
            "healthcare-it",
            "mssp-security",
            "salesforce-default"
        ],
        "a new reference policy needs its own `*_cases` test in this file"
    );
}

/// Every decision of every case of a reference policy.
fn decisions_of(stem: &str, policy: &Policy) -> Vec<(String, Decision)> {
    support::cases(stem)
        .cases
        .iter()
        .map(|case| (case.name.clone(), support::decide_case(policy, case)))
        .collect()
}

/// Checks that every reason and error of a decision names a catalogued rule (or a
/// structural one) at the catalogued location.
fn check_against_catalogue(
    policy: &Policy,
    catalogue: &BTreeMap<String, RuleInfo>,
    case: &str,
    d: &Decision,
    problems: &mut Vec<String>,
) {
    let named = d
        .reasons
        .iter()
        .map(|r| (&r.rule, &*r.location, "reason"))
        .chain(d.errors.iter().map(|e| (&e.rule, &*e.location, "error")));
    for (rule, location, what) in named {
        match catalogue.get(rule) {
            Some(info) => {
                // Errors point at the failing sub-expression, inside the rule.
                if what == "reason" && info.location != location {
                    problems.push(format!(
                        "{case}: {what} `{rule}` at {location}, catalogued at {}",
                        info.location
                    ));
                }
            }
            None if policy.is_structural_rule_id(rule) => {}
            None => problems.push(format!(
                "{case}: {what} `{rule}` at {location} is not in rule_ids()"
            )),
        }
    }
}

#[test]
fn rule_catalogue_lists_every_rule_the_cases_evaluate() {
    for stem in support::reference_policies() {
        let policy = support::policy(&stem);
        let rules = policy.rule_ids();
        let mut catalogue = BTreeMap::new();
        for r in &rules {
            assert!(
                catalogue.insert(r.id.clone(), r.clone()).is_none(),
                "{stem}: rule id `{}` is listed twice",
                r.id
            );
            assert!(
                r.location.starts_with(&format!("{stem}.policy:")),
                "{stem}: `{}` is located at {}",
                r.id,
                r.location
            );
            assert!(
                !policy.is_structural_rule_id(&r.id),
                "{stem}: `{}` is both a rule and structural",
                r.id
            );
        }
        let mut problems = Vec::new();
        let mut exercised = BTreeSet::new();
        for (case, d) in decisions_of(&stem, &policy) {
            check_against_catalogue(&policy, &catalogue, &case, &d, &mut problems);
            exercised.extend(d.reasons.iter().map(|r| r.rule.clone()));
        }
        assert!(problems.is_empty(), "{stem}:\n{}", problems.join("\n"));
        // The catalogue is not padded: the cases reach most of it.
        let reached = rules.iter().filter(|r| exercised.contains(&r.id)).count();
        assert!(
            reached * 2 > rules.len(),
            "{stem}: only {reached} of {} catalogued rules appear in any decision",
            rules.len()
        );
    }
}

#[test]
fn rule_catalogue_of_channel_standard() {
    let policy = support::policy("channel-standard");
    let listing: Vec<String> = policy
        .rule_ids()
        .iter()
        .map(|r| format!("{:<14} {:<44} {}", r.section, r.id, r.location))
        .collect();
    insta::assert_snapshot!(listing.join("\n"));
}

#[test]
fn structural_rule_ids_are_recognized() {
    let policy = support::policy("channel-standard");
    assert!(policy.is_structural_rule_id("action.advance"));
    assert!(policy.is_structural_rule_id("action.route_lead"));
    assert!(!policy.is_structural_rule_id("action.fly"));
    // No edge: Identification -> ClosedWon, and from a closed stage.
    assert!(policy.is_structural_rule_id("flow.Identification->ClosedWon"));
    assert!(policy.is_structural_rule_id("flow.ClosedWon->ClosedLost"));
    // Real edges are rules, not structural.
    assert!(!policy.is_structural_rule_id("flow.Identification->Qualification"));
    assert!(!policy.is_structural_rule_id("flow.Qualification->ClosedLost"));
    assert!(!policy.is_structural_rule_id("flow.Nowhere->ClosedWon"));
    assert!(policy.rule("flow.any->ClosedLost").is_some());
    assert!(policy.rule("flow.Qualification->ClosedLost").is_none());
}
