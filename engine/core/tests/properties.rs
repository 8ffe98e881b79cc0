//! Properties of decisions over generated records.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers"
)]

mod common;

use common::{mini, now, MINI};
use dealflow_engine::{Action, Audience, Context, Outcome, Policy, RuleOutcome};
use proptest::prelude::*;
use serde_json::json;

fn record_json(
    stage: usize,
    amount: u32,
    tier: usize,
    evidence: (bool, bool),
    influencer: bool,
    reg: usize,
    days: i64,
) -> serde_json::Value {
    let stages = ["Open", "Qualified", "Proposal", "Won", "Lost"];
    let tiers = ["Silver", "Gold"];
    let statuses = ["none", "pending", "approved"];
    let mut fields = json!({ "amount": amount, "product_family": "Security" });
    if evidence.0 {
        fields["decision_maker"] = json!("Jane");
    }
    if evidence.1 {
        fields["po_number"] = json!("PO-1");
    }
    if influencer {
        fields["influencer"] = json!("P-INF");
    }
    let created = now() - chrono::TimeDelta::days(days);
    json!({
        "id": "OPP-1",
        "stage": stages[stage],
        "fields": fields,
        "partner": { "id": "P-ME", "name": "Me Inc", "tier": tiers[tier], "territories": ["NA"] },
        "account": { "id": "A-1", "domain": "globex.com", "owner": "channel" },
        "line_items": [ { "product": "X", "quantity": 2, "price": amount } ],
        "registration": { "id": "R-1", "partner_id": "P-ME", "status": statuses[reg],
                          "submitted_at": created.to_rfc3339(), "approved_at": created.to_rfc3339() },
        "history": [ { "at": created.to_rfc3339(), "type": "created" } ]
    })
}

fn context(p: &Policy) -> Context {
    p.parse_context_value(&json!({
        "registrations": [{
            "id": "OPP-9", "stage": "Proposal",
            "partner": { "id": "P-OTHER", "name": "Othercorp", "tier": "Gold" },
            "account": { "id": "A-9", "domain": "www.globex.com" },
            "fields": { "product_family": "Security" },
            "registration": { "id": "R-9", "partner_id": "P-OTHER", "status": "approved",
                              "submitted_at": "2026-11-01T10:00:00Z", "approved_at": "2026-11-02T10:00:00Z" }
        }],
        "lead": { "id": "L-1", "region": "NA" },
        "partners": [
            { "id": "P-ME", "tier": "Gold", "territories": ["NA"] },
            { "id": "P-OTHER", "name": "Othercorp", "tier": "Gold", "territories": ["NA"] }
        ]
    }))
    .unwrap()
}

const ACTIONS: [&str; 9] = [
    "advance Qualified",
    "advance Proposal",
    "advance Won",
    "advance Lost",
    "register",
    "evaluate",
    "close_won",
    "close_lost",
    "route_lead",
];

fn arb_record() -> impl Strategy<Value = serde_json::Value> {
    (
        0usize..5,
        1u32..400_000,
        0usize..2,
        any::<(bool, bool)>(),
        any::<bool>(),
        0usize..3,
        0i64..200,
    )
        .prop_map(|(s, a, t, e, i, r, d)| record_json(s, a, t, e, i, r, d))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn decisions_are_deterministic(rec in arb_record(), ai in 0usize..ACTIONS.len()) {
        let p = mini();
        let c = context(&p);
        let r = p.parse_record_value(&rec).unwrap();
        let a: Action = ACTIONS[ai].parse().unwrap();
        let one = p.decide(&r, &a, &c, now(), &Audience::Vendor).to_json_pretty();
        let two = mini().decide(&r, &a, &c, now(), &Audience::Vendor).to_json_pretty();
        prop_assert_eq!(one, two);
    }

    #[test]
    fn every_denial_has_a_failing_reason_inside_the_policy(rec in arb_record(), ai in 0usize..ACTIONS.len()) {
        let p = mini();
        let c = context(&p);
        let r = p.parse_record_value(&rec).unwrap();
        let d = p.decide(&r, &ACTIONS[ai].parse().unwrap(), &c, now(), &Audience::Vendor);
        if d.outcome == Outcome::Denied {
            prop_assert!(d.reasons.iter().any(|x| x.outcome == RuleOutcome::Fail), "{}", d.to_json_pretty());
        }
        let lines = MINI.lines().count();
        for reason in &d.reasons {
            let line: usize = reason.location.split(':').nth(1).unwrap().parse().unwrap();
            prop_assert!((1..=lines).contains(&line), "{} at {}", reason.rule, reason.location);
        }
    }

    #[test]
    fn removing_evidence_never_turns_a_denial_into_an_approval(rec in arb_record(), to in 0usize..5) {
        let p = mini();
        let stages = ["Open", "Qualified", "Proposal", "Won", "Lost"];
        let a: Action = format!("advance {}", stages[to]).parse().unwrap();
        let full = p.parse_record_value(&rec).unwrap();
        let mut stripped_json = rec.clone();
        for ev in ["decision_maker", "po_number"] {
            stripped_json["fields"].as_object_mut().unwrap().remove(ev);
        }
        let stripped = p.parse_record_value(&stripped_json).unwrap();
        let with = p.decide(&full, &a, &Context::default(), now(), &Audience::Vendor).outcome;
        let without = p.decide(&stripped, &a, &Context::default(), now(), &Audience::Vendor).outcome;
        if with == Outcome::Denied {
            prop_assert_eq!(without, Outcome::Denied);
        }
    }

    #[test]
    fn partner_view_never_shows_another_partner(rec in arb_record(), ai in 0usize..ACTIONS.len()) {
        let p = mini();
        let c = context(&p);
        let r = p.parse_record_value(&rec).unwrap();
        let d = p.decide(&r, &ACTIONS[ai].parse().unwrap(), &c, now(), &"partner:P-ME".parse().unwrap());
        let json = d.to_json_pretty();
        for secret in ["P-OTHER", "Othercorp", "R-9", "OPP-9", "P-INF"] {
            prop_assert!(!json.contains(secret), "{} leaked in {}", secret, json);
        }
    }
}
