//! Decision snapshots and behaviour for every action, on the hand-built mini policy.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers"
)]

mod common;

use common::{mini, now};
use dealflow_engine::{Action, Audience, Context, Decision, Outcome, Policy, Record, RuleOutcome};

fn rec(p: &Policy, yaml: &str) -> Record {
    p.parse_record_yaml(yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn ctx(p: &Policy, yaml: &str) -> Context {
    p.parse_context_yaml(yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn decide(p: &Policy, r: &Record, action: &str, c: &Context, aud: &str) -> Decision {
    p.decide(
        r,
        &action.parse::<Action>().unwrap(),
        c,
        now(),
        &aud.parse::<Audience>().unwrap(),
    )
}

const OPEN_DEAL: &str = r#"
id: OPP-1
stage: Open
fields: { amount: 120000, product_family: Security }
partner: { id: P-ACME, name: Acme, tier: Gold, territories: [NA] }
account: { id: A-1, name: "Globex, Inc.", domain: www.globex.com, owner: channel }
history:
  - { at: 2026-11-01T10:00:00Z, type: created }
"#;

const QUALIFIED_DEAL: &str = r#"
id: OPP-2
stage: Qualified
fields: { amount: 120000, product_family: Security, decision_maker: "CFO Jane Roe" }
partner: { id: P-ACME, name: Acme, tier: Gold, territories: [NA] }
account: { id: A-1, name: "Globex, Inc.", domain: globex.com, owner: channel }
history:
  - { at: 2026-10-01T10:00:00Z, type: created }
  - { at: 2026-10-05T10:00:00Z, type: stage_change, from: Open, to: Qualified }
"#;

#[test]
fn advance_denied_for_missing_evidence() {
    let p = mini();
    let r = rec(&p, OPEN_DEAL);
    let d = decide(&p, &r, "advance Qualified", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Denied);
    assert_eq!(d.missing, vec!["decision_maker"]);
    assert_eq!(d.to_pass, vec!["provide `decision_maker`"]);
    insta::assert_snapshot!("advance_denied_missing_evidence", d.to_json_pretty());
}

#[test]
fn advance_approved_with_evidence() {
    let p = mini();
    let mut r = rec(&p, OPEN_DEAL);
    let slot = p
        .ir()
        .record(dealflow_dsl::ir::RecordKind::Opportunity)
        .unwrap()
        .field("decision_maker")
        .unwrap()
        .0;
    r.fields[slot as usize] = dealflow_engine::Value::text("Jane");
    let d = decide(&p, &r, "advance Qualified", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Approved);
    assert!(d.missing.is_empty() && d.to_pass.is_empty());
    let sc = d.effects.stage_change.as_ref().unwrap();
    assert_eq!((sc.from.as_str(), sc.to.as_str()), ("Open", "Qualified"));
}

#[test]
fn advance_guarded_skip_and_missing_edge() {
    let p = mini();
    let r = rec(&p, OPEN_DEAL);
    // Open -> Proposal only when amount < 10_000 USD.
    let d = decide(&p, &r, "advance Proposal", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Denied);
    assert!(d
        .failed()
        .any(|x| x.rule == "flow.Open->Proposal" && x.message == "small deals may skip"));
    // The deal's recorded amount is not something the requester changes to pass: no
    // advice, and the decision says what blocks it.
    assert!(d.to_pass.is_empty(), "{:?}", d.to_pass);
    assert_eq!(
        d.cannot_pass,
        vec!["`amount < 10_000 USD` does not hold (it depends on amount = 120000.00 USD)"]
    );
    let small = rec(&p, &OPEN_DEAL.replace("amount: 120000", "amount: 5000"));
    assert_eq!(
        decide(
            &p,
            &small,
            "advance Proposal",
            &Context::default(),
            "vendor"
        )
        .outcome,
        Outcome::Approved
    );
    // No edge Open -> Won at all: no set of changes helps.
    let d = decide(&p, &r, "advance Won", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Denied);
    assert!(d.to_pass.is_empty());
    assert!(d.failed().any(|x| x.rule == "flow.Open->Won"
        && x.message
            .contains("allowed next stages: Qualified, Proposal, Lost")));
    // any -> Lost
    assert_eq!(
        decide(&p, &r, "advance Lost", &Context::default(), "vendor").outcome,
        Outcome::Approved
    );
    // unknown stage
    let d = decide(&p, &r, "advance Nowhere", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Error);
    assert!(d.failed().count() >= 1);
}

#[test]
fn register_gold_partner_auto_approved() {
    let p = mini();
    let r = rec(&p, QUALIFIED_DEAL);
    let d = decide(&p, &r, "register", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Approved);
    let reg = d.effects.registration.as_ref().unwrap();
    assert_eq!(reg.protected_until.as_deref(), Some("2027-02-25T15:00:00Z"));
    assert_eq!(d.effects.amounts["discount"], "12000.00");
    insta::assert_snapshot!("register_auto_approved", d.to_json_pretty());
}

#[test]
fn register_silver_partner_goes_to_review_on_business_calendar() {
    let p = mini();
    let r = rec(&p, &QUALIFIED_DEAL.replace("tier: Gold", "tier: Silver"));
    // Fri 2026-11-27 10:00 EST; 24 business hours: 7h Fri, 8h Mon, 8h Tue, 1h Wed.
    let d = decide(&p, &r, "register", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Review);
    let review = d
        .effects
        .registration
        .as_ref()
        .unwrap()
        .review
        .as_ref()
        .unwrap();
    assert_eq!(review.deadline, "2026-12-02T15:00:00Z");
    assert_eq!(review.escalations[0].at, "2026-12-01T15:00:00Z");
    assert!(
        !d.effects.amounts.contains_key("discount"),
        "no discount without approval"
    );
    insta::assert_snapshot!("register_review", d.to_json_pretty());
}

#[test]
fn register_too_early_says_which_stage() {
    let p = mini();
    let r = rec(&p, OPEN_DEAL);
    let d = decide(&p, &r, "register", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Denied);
    assert_eq!(d.to_pass, vec!["stage must be at least Qualified"]);
}

const OTHER_REG: &str = r#"
registrations:
  - id: OPP-9
    stage: Proposal
    partner: { id: P-OTHER, name: Othercorp, tier: Silver }
    account: { id: A-100, domain: "https://Globex.com/" }
    fields: { product_family: Security, amount: 50000 }
    registration: { id: R-9, partner_id: P-OTHER, status: approved, submitted_at: 2026-08-01T10:00:00Z, approved_at: 2026-10-02T10:00:00Z }
"#;

#[test]
fn register_conflict_with_other_partners_protection() {
    let p = mini();
    let r = rec(&p, QUALIFIED_DEAL);
    let c = ctx(&p, OTHER_REG);
    let d = decide(&p, &r, "register", &c, "vendor");
    assert_eq!(d.outcome, Outcome::Denied);
    assert!(d.to_pass.is_empty());
    let f: Vec<_> = d.failed().collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule, "registration.conflict[1]");
    assert!(
        f[0].message.contains("R-9") && f[0].message.contains("P-OTHER"),
        "{}",
        f[0].message
    );
    insta::assert_snapshot!("register_conflict_vendor", d.to_json_pretty());

    // The partner sees the protection end but no identity.
    let d = decide(&p, &r, "register", &c, "partner:P-ACME");
    let json = d.to_json_pretty();
    for secret in ["R-9", "P-OTHER", "OPP-9", "Othercorp"] {
        assert!(!json.contains(secret), "{secret} leaked: {json}");
    }
    assert!(
        json.contains("an existing protected registration until 2026-12-31"),
        "{json}"
    );
    insta::assert_snapshot!("register_conflict_partner", json);
}

#[test]
fn register_duplicate_within_window() {
    let p = mini();
    let r = rec(&p, QUALIFIED_DEAL);
    let c = ctx(
        &p,
        &OTHER_REG
            .replace("2026-08-01T10:00:00Z", "2026-11-01T10:00:00Z")
            .replace("status: approved", "status: pending")
            .replace(", approved_at: 2026-10-02T10:00:00Z", ""),
    );
    let d = decide(&p, &r, "register", &c, "vendor");
    assert_eq!(d.outcome, Outcome::Denied);
    assert!(d.failed().any(|x| x.rule == "registration.duplicate"));
    // Outside the 90 day window: no duplicate (and not protected: pending).
    let c = ctx(
        &p,
        &OTHER_REG
            .replace("2026-08-01T10:00:00Z", "2026-07-01T10:00:00Z")
            .replace("status: approved", "status: pending")
            .replace(", approved_at: 2026-10-02T10:00:00Z", ""),
    );
    assert_eq!(
        decide(&p, &r, "register", &c, "vendor").outcome,
        Outcome::Approved
    );
}

#[test]
fn register_direct_account_conflict_and_late_flag() {
    let p = mini();
    let r = rec(
        &p,
        &QUALIFIED_DEAL.replace("owner: channel", "owner: direct"),
    );
    let d = decide(&p, &r, "register", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Denied);
    assert!(d
        .failed()
        .any(|x| x.rule == "registration.conflict[0]" && x.message == "direct account"));
    let late = rec(
        &p,
        &QUALIFIED_DEAL.replace("stage: Qualified", "stage: Proposal"),
    );
    let d = decide(&p, &late, "register", &Context::default(), "vendor");
    assert_eq!(d.flags, vec!["late"]);
}

const EVAL_DEAL: &str = r#"
id: OPP-3
stage: Proposal
fields: { amount: 100000, product_family: Security, decision_maker: Jane, influencer: P-INF }
partner: { id: P-ACME, name: Acme, tier: Gold }
account: { id: A-1, domain: globex.com, owner: channel }
line_items:
  - { product: "Firewall X", quantity: 2, price: 30000 }
  - { product: "Support", quantity: 1, price: 40000.005 }
registration: { id: R-1, partner_id: P-ACME, status: approved, submitted_at: 2026-09-01T10:00:00Z, approved_at: 2026-09-02T10:00:00Z }
history:
  - { at: 2026-08-20T10:00:00Z, type: created }
  - { at: 2026-09-05T10:00:00Z, type: stage_change, from: Qualified, to: Proposal }
  - { at: 2026-10-01T10:00:00Z, type: close_date_change }
  - { at: 2026-10-02T10:00:00Z, type: close_date_change }
  - { at: 2026-10-04T10:00:00Z, type: cosell, pool: presales }
"#;

#[test]
fn evaluate_flags_forecast_cosell_commission() {
    let p = mini();
    let r = rec(&p, EVAL_DEAL);
    let c = ctx(&p, "cosell_usage: { presales: 1 }");
    let d = decide(&p, &r, "evaluate", &c, "vendor");
    assert_eq!(d.outcome, Outcome::Evaluated);
    assert_eq!(d.flags, vec!["stale", "pushed"]);
    let fc = d.effects.forecast.as_ref().unwrap();
    assert!(fc.excluded);
    assert_eq!(fc.category, "omitted");
    assert_eq!(d.effects.amounts["weighted_amount"], "0.00");
    assert_eq!(d.effects.cosell[0].status, "assign");
    assert_eq!(d.effects.cosell[0].capacity_remaining, 1);
    // 60000 + 40000.005 = 100000.005 at 10% = 10000.0005 -> 10000.00
    assert_eq!(d.effects.amounts["commission"], "10000.00");
    // 70/30 split sums exactly.
    assert_eq!(d.effects.amounts["commission.P-ACME"], "7000.00");
    assert_eq!(d.effects.amounts["commission.P-INF"], "3000.00");
    assert_eq!(d.effects.amounts["rebate"], "2000.00");
    insta::assert_snapshot!("evaluate_full", d.to_json_pretty());
}

#[test]
fn evaluate_waitlist_and_never() {
    let p = mini();
    let r = rec(&p, EVAL_DEAL);
    let full = ctx(&p, "cosell_usage: { presales: 2 }");
    let d = decide(&p, &r, "evaluate", &full, "vendor");
    assert_eq!(d.effects.cosell[0].status, "waitlist");
    let unregistered = rec(
        &p,
        &EVAL_DEAL.replace("status: approved", "status: pending"),
    );
    let d = decide(&p, &unregistered, "evaluate", &Context::default(), "vendor");
    assert_eq!(d.effects.cosell[0].status, "ineligible");
    assert_eq!(
        d.effects.cosell[0].reason.as_deref(),
        Some("registered deals only")
    );
    // Not approved: no attribution, commission 0 with the reason.
    let cm = d.effects.commission.as_ref().unwrap();
    assert!(!cm.attributed);
    assert_eq!(
        cm.reason.as_deref(),
        Some("not attributed: approved before close")
    );
    assert_eq!(d.effects.amounts["commission"], "0.00");
}

#[test]
fn evaluate_downweight_without_exclusion() {
    let p = mini();
    // Fresh in stage: not stale, but pushed -> 50% downweight. 100000 * 60% * 50%.
    let r = rec(
        &p,
        &EVAL_DEAL.replace(
            "2026-09-05T10:00:00Z, type: stage_change",
            "2026-11-20T10:00:00Z, type: stage_change",
        ),
    );
    let d = decide(&p, &r, "evaluate", &Context::default(), "vendor");
    assert_eq!(d.flags, vec!["pushed"]);
    assert_eq!(d.effects.amounts["weighted_amount"], "30000.00");
    let f = d.effects.forecast.as_ref().unwrap();
    assert_eq!(
        (f.category.as_str(), f.downweight.as_str()),
        ("best_case", "50%")
    );
}

#[test]
fn close_won_requires_po_and_pays_commission() {
    let p = mini();
    let r = rec(&p, EVAL_DEAL);
    let d = decide(&p, &r, "close_won", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Denied);
    assert_eq!(d.missing, vec!["po_number"]);
    assert!(d.effects.commission.is_none());
    let r = rec(
        &p,
        &EVAL_DEAL.replace(
            "decision_maker: Jane,",
            "decision_maker: Jane, po_number: PO-77,",
        ),
    );
    let d = decide(&p, &r, "close_won", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Approved);
    assert_eq!(d.effects.amounts["commission"], "10000.00");
    insta::assert_snapshot!("close_won", d.to_json_pretty());
    // The partner sees its own share and the others folded together.
    let d = decide(&p, &r, "close_won", &Context::default(), "partner:P-ACME");
    let json = d.to_json_pretty();
    assert!(!json.contains("P-INF"), "{json}");
    assert_eq!(d.effects.amounts["commission.others"], "3000.00");
}

#[test]
fn close_lost_requires_nothing_in_mini() {
    let p = mini();
    let r = rec(&p, OPEN_DEAL);
    let d = decide(&p, &r, "close_lost", &Context::default(), "vendor");
    assert_eq!(d.outcome, Outcome::Approved);
    assert_eq!(d.effects.stage_change.as_ref().unwrap().to, "Lost");
}

const LEAD_CTX: &str = r#"
lead: { id: L-1, region: NA }
partners:
  - { id: P-1, name: Alpha, tier: Silver, territories: [NA] }
  - { id: P-2, name: Beta, tier: Gold, territories: [NA, EMEA] }
  - { id: P-3, name: Gamma, tier: Gold, territories: [EMEA] }
  - { id: P-0, name: Zero, tier: Gold, territories: [NA] }
"#;

#[test]
fn route_lead_ranks_and_redacts() {
    let p = mini();
    let r = rec(&p, OPEN_DEAL);
    let c = ctx(&p, LEAD_CTX);
    let d = decide(&p, &r, "route_lead", &c, "vendor");
    assert_eq!(d.outcome, Outcome::Routed);
    let routing = d.effects.routing.as_ref().unwrap();
    let order: Vec<&str> = routing.ranked.iter().map(|r| r.partner.as_str()).collect();
    assert_eq!(order, vec!["P-0", "P-2", "P-1"]);
    assert_eq!(routing.excluded[0].partner, "P-3");
    // Fri 10:00 EST + 2 business days (16h) -> Tue 10:00 EST.
    assert_eq!(routing.accept_by.as_deref(), Some("2026-12-01T15:00:00Z"));
    assert_eq!(routing.convert_to.as_deref(), Some("Qualified"));
    insta::assert_snapshot!("route_lead_vendor", d.to_json_pretty());

    let d = decide(&p, &r, "route_lead", &c, "partner:P-2");
    let routing = d.effects.routing.as_ref().unwrap();
    assert_eq!(routing.ranked.len(), 1);
    assert_eq!(routing.ranked[0].rank, 2);
    // The counts are the vendor's; a partner sees its own entry only.
    assert_eq!(routing.eligible_count, None);
    assert_eq!(routing.excluded_count, None);
    let json = d.to_json_pretty();
    for secret in ["P-0", "P-1", "P-3", "Alpha", "Gamma", "Zero"] {
        assert!(
            !json.contains(&format!("\"{secret}")) && !json.contains(&format!("`{secret}`")),
            "{secret} leaked: {json}"
        );
    }
}

#[test]
fn route_lead_without_eligible_partner_is_denied() {
    let p = mini();
    let r = rec(&p, OPEN_DEAL);
    let c = ctx(&p, "lead: { id: L-2, region: APAC }\npartners:\n  - { id: P-1, tier: Gold, territories: [NA] }");
    let d = decide(&p, &r, "route_lead", &c, "vendor");
    assert_eq!(d.outcome, Outcome::Denied);
    assert!(d.failed().count() >= 1);
}

#[test]
fn every_reason_points_into_the_policy() {
    let p = mini();
    let lines = common::MINI.lines().count();
    let r = rec(&p, EVAL_DEAL);
    let c = ctx(&p, OTHER_REG);
    for action in [
        "advance Won",
        "register",
        "evaluate",
        "close_won",
        "close_lost",
        "advance Lost",
    ] {
        let d = decide(&p, &r, action, &c, "vendor");
        for reason in &d.reasons {
            let mut parts = reason.location.rsplitn(3, ':');
            let _col: usize = parts.next().unwrap().parse().unwrap();
            let line: usize = parts.next().unwrap().parse().unwrap();
            assert!(
                line >= 1 && line <= lines,
                "{action}: {} at {}",
                reason.rule,
                reason.location
            );
            assert_eq!(parts.next(), Some("mini.policy"));
        }
        assert!(d
            .reasons
            .iter()
            .all(|r| r.outcome != RuleOutcome::Skip || !r.message.is_empty()));
    }
}

#[test]
fn fast_path_agrees_with_explained_path() {
    let p = mini();
    let c = ctx(&p, OTHER_REG);
    for deal in [OPEN_DEAL, QUALIFIED_DEAL, EVAL_DEAL] {
        let r = rec(&p, deal);
        for action in [
            "advance Qualified",
            "advance Proposal",
            "advance Won",
            "register",
            "evaluate",
            "close_won",
            "close_lost",
        ] {
            let a: Action = action.parse().unwrap();
            let slow = p.decide(&r, &a, &c, now(), &Audience::Vendor);
            let fast = p.decide_fast(&r, &a, &c, now());
            assert_eq!(slow.outcome, fast.outcome, "{action} on {}", r.id);
        }
    }
}

#[test]
fn decisions_record_the_policy_hash() {
    let p = mini();
    let d = decide(
        &p,
        &rec(&p, OPEN_DEAL),
        "evaluate",
        &Context::default(),
        "vendor",
    );
    assert_eq!(d.policy.hash, dealflow_engine::source_hash(common::MINI));
    assert_eq!(d.policy.hash.len(), 64);
    let crlf = common::MINI.replace('\n', "  \r\n");
    assert_eq!(dealflow_engine::source_hash(&crlf), d.policy.hash);
}
