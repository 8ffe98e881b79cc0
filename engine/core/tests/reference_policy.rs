//! The shipped reference policy compiled through the real parser and checker.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers"
)]

use dealflow_dsl::SourceFile;
use dealflow_engine::{Action, Audience, Context, Outcome, Policy};

const SRC: &str = include_str!("../../../policies/channel-standard.policy");

fn policy() -> Policy {
    let src = SourceFile::new("channel-standard.policy", SRC);
    match Policy::compile(&src) {
        Ok(p) => p,
        Err(e) => panic!("{e}: {:#?}", e.diagnostics),
    }
}

#[test]
fn reference_policy_compiles() {
    let p = policy();
    assert_eq!(p.name(), "Standard Channel Program");
    assert_eq!(p.workflow().entry().0, 0);
}

#[test]
fn reference_policy_advance_names_missing_evidence() {
    let p = policy();
    let r = p
        .parse_record_yaml(
            "id: OPP-1\nstage: Identification\nfields: { amount: 120000, product_family: Security, budget_process: true }\npartner: { id: P-1, tier: Gold }\naccount: { id: A-1, domain: globex.com, owner: channel, industry: Commercial }",
        )
        .unwrap();
    let now = "2026-11-27T15:00:00Z".parse().unwrap();
    let d = p.decide(
        &r,
        &"advance Qualification".parse::<Action>().unwrap(),
        &Context::default(),
        now,
        &Audience::Vendor,
    );
    assert_eq!(d.outcome, Outcome::Denied);
    assert_eq!(d.missing, vec!["decision_maker", "need", "timeline"]);
}
