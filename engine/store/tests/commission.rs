//! A won deal with an approved registration books its commission in the same
//! transaction as the decision that causes it.
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
fn close_won_books_the_commission_of_the_approved_registration() {
    let ts = TempStore::new();
    let s = &ts.store;
    seed(s);
    let (out, d) = submit(
        s,
        json!({"key": "c1", "type": "create_opportunity", "by": partner("P-ACME"),
               "opportunity": {"id": "OPP-9", "account": "A-GLOBEX", "stage": "NegotiationClosing",
                 "fields": {"amount": 100000, "close_date": "2026-12-15", "product_family": "Security", "region": "NA",
                            "budget_process": true, "decision_maker": "CFO", "need": "firewall refresh", "timeline": "2026-12-01",
                            "demo_completed": "2026-09-01", "proposal_sent": "2026-09-02", "po_number": "PO-1"},
                 "line_items": [{"product": "FW-X", "product_family": "Security", "quantity": 2, "price": 50000}]}}),
        "2026-09-02T14:00:00Z",
    );
    assert!(!out.refused, "{d:#}");
    let (_, d) = submit(
        s,
        json!({"key": "r9", "type": "register", "by": partner("P-ACME"), "opportunity": "OPP-9"}),
        "2026-09-02T15:00:00Z",
    );
    assert_eq!(d["outcome"], "approved", "{d:#}");
    let (out, d) = submit(
        s,
        json!({"key": "w9", "type": "close_won", "by": partner("P-ACME"), "opportunity": "OPP-9"}),
        "2026-09-03T15:00:00Z",
    );
    assert!(!out.refused, "{d:#}");
    assert_eq!(d["outcome"], "approved", "{d:#}");
    let lines = s
        .commission(
            &Audience::Vendor,
            t("2026-09-01T00:00:00Z"),
            t("2026-10-01T00:00:00Z"),
        )
        .unwrap();
    assert!(!lines.is_empty(), "no commission booked: {d:#}");
    assert!(lines
        .iter()
        .all(|l| l.partner == "P-ACME" && l.decision_seq == out.decisions[0].seq));
    // Gold, Security: 10% of 100,000.
    let commission: Vec<&str> = lines
        .iter()
        .filter(|l| l.kind == "commission")
        .map(|l| l.amount.as_str())
        .collect();
    assert_eq!(commission, ["10000.00"], "{lines:#?}");
    assert_eq!(s.verify().unwrap().first_broken, None);
}
