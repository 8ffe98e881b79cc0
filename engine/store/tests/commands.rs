//! The program over time through the store's surface, on a real SQLite file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;
use common::*;
use dealflow_store::{Audience, Store};
use serde_json::json;

#[test]
fn a_gold_registration_is_auto_approved_and_protects_the_account() {
    let ts = TempStore::new();
    let s = &ts.store;
    seed(s);
    create_opp(
        s,
        "OPP-1",
        "P-ACME",
        "A-GLOBEX",
        100_000,
        "2026-09-02T14:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r1", "type": "register", "by": partner("P-ACME"), "opportunity": "OPP-1"}),
        "2026-09-02T15:00:00Z",
    );
    assert_eq!(d["outcome"], "approved", "{d:#}");
    // Another partner on the same account and family is refused as a duplicate or conflict.
    create_opp(
        s,
        "OPP-2",
        "P-BETA",
        "A-GLOBEX",
        40_000,
        "2026-09-03T14:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r2", "type": "register", "by": partner("P-BETA"), "opportunity": "OPP-2"}),
        "2026-09-03T15:00:00Z",
    );
    assert_eq!(d["outcome"], "denied", "{d:#}");
    let v = s.opportunity(&Audience::Vendor, "OPP-2").unwrap().unwrap();
    assert_eq!(v.registrations[0].status, "rejected");
    // The partner view of OPP-2 never names P-ACME.
    let pv = s
        .opportunity(&Audience::Partner("P-BETA".into()), "OPP-2")
        .unwrap()
        .unwrap();
    let text = serde_json::to_string(&pv).unwrap();
    assert!(!text.contains("P-ACME") && !text.contains("Acme"), "{text}");
    assert!(s
        .opportunity(&Audience::Partner("P-BETA".into()), "OPP-1")
        .unwrap()
        .is_none());
    assert_eq!(s.verify().unwrap().first_broken, None);
}

#[test]
fn a_silver_registration_waits_for_review_escalates_and_breaches() {
    let ts = TempStore::new();
    let s = &ts.store;
    seed(s);
    create_opp(
        s,
        "OPP-3",
        "P-BETA",
        "A-INITECH",
        60_000,
        "2026-09-02T13:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r3", "type": "register", "by": partner("P-BETA"), "opportunity": "OPP-3"}),
        "2026-09-02T14:00:00Z",
    );
    assert_eq!(d["outcome"], "review", "{d:#}");
    let q = s
        .queue(&Audience::Vendor, t("2026-09-02T15:00:00Z"))
        .unwrap();
    assert_eq!(q.len(), 1);
    // 10:00 EDT + 24 business hours (9-17) = three working days later, 10:00.
    let (out, _) = submit(
        s,
        json!({"type": "tick", "by": "system"}),
        "2026-09-10T12:00:00Z",
    );
    let outcomes: Vec<&str> = out.decisions.iter().map(|d| d.outcome.as_str()).collect();
    assert_eq!(outcomes, ["escalated", "escalated", "breached"], "{out:#?}");
    // Ticking again fires nothing.
    let (out, _) = submit(
        s,
        json!({"type": "tick", "by": "system"}),
        "2026-09-10T13:00:00Z",
    );
    assert!(out.decisions.is_empty());
    let (_, d) = submit(
        s,
        json!({"key": "rv3", "type": "review", "by": ops(), "opportunity": "OPP-3", "verdict": "approve"}),
        "2026-09-10T14:00:00Z",
    );
    assert_eq!(d["outcome"], "approved", "{d:#}");
    assert!(s
        .queue(&Audience::Vendor, t("2026-09-10T15:00:00Z"))
        .unwrap()
        .is_empty());
    assert_eq!(s.verify().unwrap().first_broken, None);
}

#[test]
fn the_same_key_and_payload_returns_the_first_decision_and_another_payload_is_refused() {
    let ts = TempStore::new();
    let s = &ts.store;
    seed(s);
    create_opp(
        s,
        "OPP-1",
        "P-ACME",
        "A-GLOBEX",
        100_000,
        "2026-09-02T14:00:00Z",
    );
    let cmd =
        json!({"key": "r1", "type": "register", "by": partner("P-ACME"), "opportunity": "OPP-1"});
    let (a, _) = submit(s, cmd.clone(), "2026-09-02T15:00:00Z");
    let before = s.dump().unwrap();
    let (b, _) = submit(s, cmd, "2026-09-02T16:00:00Z");
    assert!(b.repeated);
    assert_eq!(a.decisions, b.decisions);
    assert_eq!(before, s.dump().unwrap());
    let (c, d) = submit(
        s,
        json!({"key": "r1", "type": "withdraw", "by": partner("P-ACME"), "opportunity": "OPP-1"}),
        "2026-09-02T16:00:00Z",
    );
    assert!(c.refused, "{d:#}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("idempotency key `r1`"),
        "{d:#}"
    );
}

#[test]
fn a_won_deal_with_an_approved_registration_books_commission_for_its_partner() {
    let ts = TempStore::new();
    let s = &ts.store;
    seed(s);
    create_opp(
        s,
        "OPP-1",
        "P-ACME",
        "A-GLOBEX",
        100_000,
        "2026-09-02T14:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r1", "type": "register", "by": partner("P-ACME"), "opportunity": "OPP-1"}),
        "2026-09-02T15:00:00Z",
    );
    assert_eq!(d["outcome"], "approved", "{d:#}");
    let (_, d) = submit(
        s,
        json!({"key": "u1", "type": "update_opportunity", "by": partner("P-ACME"), "opportunity": "OPP-1",
        "fields": {"demo_completed": "2026-09-20", "proposal_sent": "2026-09-25", "po_number": "PO-1"}}),
        "2026-10-02T15:00:00Z",
    );
    assert_eq!(d["outcome"], "recorded", "{d:#}");
    for (i, stage) in [
        "SolutionDevelopment",
        "ProposalEvaluation",
        "NegotiationClosing",
    ]
    .into_iter()
    .enumerate()
    {
        let (_, d) = submit(
            s,
            json!({"key": format!("adv{i}"), "type": "advance", "by": partner("P-ACME"), "opportunity": "OPP-1", "to": stage}),
            "2026-10-02T16:00:00Z",
        );
        assert_eq!(d["outcome"], "approved", "{d:#}");
    }
    let (out, d) = submit(
        s,
        json!({"key": "w1", "type": "close_won", "by": partner("P-ACME"), "opportunity": "OPP-1"}),
        "2026-10-03T15:00:00Z",
    );
    assert!(!out.refused, "{d:#}");
    assert_eq!(d["outcome"], "approved", "{d:#}");
    let lines = s
        .commission(
            &Audience::Partner("P-ACME".into()),
            t("2026-01-01T00:00:00Z"),
            t("2027-01-01T00:00:00Z"),
        )
        .unwrap();
    assert!(!lines.is_empty());
    // Gold, Security: 10% of 100,000 USD; each line names the decision that booked it.
    let commission: Vec<_> = lines.iter().filter(|l| l.kind == "commission").collect();
    assert_eq!(commission.len(), 1, "{lines:#?}");
    assert_eq!(
        commission[0].amount.parse::<f64>().unwrap(),
        10_000.0,
        "{lines:#?}"
    );
    assert_eq!(commission[0].decision_seq, out.decisions[0].seq);
    assert!(s
        .commission(
            &Audience::Partner("P-BETA".into()),
            t("2026-01-01T00:00:00Z"),
            t("2027-01-01T00:00:00Z")
        )
        .unwrap()
        .is_empty());
    assert_eq!(s.integrity_check().unwrap(), "ok");
    assert_eq!(s.verify().unwrap().first_broken, None);
}

#[test]
fn a_closed_deal_keeps_its_registration_and_its_protection_never_expires() {
    let ts = TempStore::new();
    let s = &ts.store;
    seed(s);
    create_opp(
        s,
        "OPP-1",
        "P-ACME",
        "A-GLOBEX",
        100_000,
        "2026-09-02T14:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r1", "type": "register", "by": partner("P-ACME"), "opportunity": "OPP-1"}),
        "2026-09-02T15:00:00Z",
    );
    assert_eq!(d["outcome"], "approved", "{d:#}");
    submit(
        s,
        json!({"key": "u", "type": "update_opportunity", "by": partner("P-ACME"), "opportunity": "OPP-1", "fields": {"loss_reason": "budget cut"}}),
        "2026-09-03T15:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "lost", "type": "close_lost", "by": partner("P-ACME"), "opportunity": "OPP-1"}),
        "2026-09-04T15:00:00Z",
    );
    assert_eq!(d["outcome"], "approved", "{d:#}");
    // Far past the 120-day protection: nothing fires for the closed deal.
    let (out, _) = submit(
        s,
        json!({"type": "tick", "by": "system"}),
        "2027-03-01T15:00:00Z",
    );
    assert!(out.decisions.is_empty(), "{out:#?}");
    let v = s.opportunity(&Audience::Vendor, "OPP-1").unwrap().unwrap();
    assert_eq!(v.registrations[0].status, "approved");
    assert!(v.closed);
}

#[test]
fn a_registration_on_another_account_record_of_the_same_customer_is_a_duplicate() {
    let ts = TempStore::new();
    let s = &ts.store;
    seed(s);
    // The same customer entered twice, under another id and a differently written domain.
    let (out, d) = submit(
        s,
        json!({"key": "a3", "type": "upsert_account", "by": admin(), "account": {"id": "A-GLOBEX-2", "name": "Globex Inc", "domain": "WWW.Globex.com", "industry": "Commercial", "owner": "channel", "employees": 5000}}),
        "2026-09-01T12:00:00Z",
    );
    assert!(!out.refused, "{d:#}");
    create_opp(
        s,
        "OPP-1",
        "P-ACME",
        "A-GLOBEX",
        100_000,
        "2026-09-02T14:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r1", "type": "register", "by": partner("P-ACME"), "opportunity": "OPP-1"}),
        "2026-09-02T15:00:00Z",
    );
    assert_eq!(d["outcome"], "approved", "{d:#}");
    create_opp(
        s,
        "OPP-2",
        "P-BETA",
        "A-GLOBEX-2",
        40_000,
        "2026-09-03T14:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r2", "type": "register", "by": partner("P-BETA"), "opportunity": "OPP-2"}),
        "2026-09-03T15:00:00Z",
    );
    assert_eq!(d["outcome"], "denied", "{d:#}");
    // A deal on an unrelated account is not compared with it.
    create_opp(
        s,
        "OPP-3",
        "P-BETA",
        "A-INITECH",
        40_000,
        "2026-09-03T16:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r3", "type": "register", "by": partner("P-BETA"), "opportunity": "OPP-3"}),
        "2026-09-03T17:00:00Z",
    );
    assert_eq!(d["outcome"], "review", "{d:#}");
}
