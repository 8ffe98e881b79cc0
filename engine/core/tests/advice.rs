//! What a denial advises: only changes the requester can make (its evidence, the
//! opportunity fields not filled in yet, the line items), and when a failing rule
//! depends on anything else (the partner's tier, the account, the deal's recorded
//! values, the date) no advice but what blocks it, in `cannot_pass`.
#![allow(clippy::panic, clippy::unwrap_used, reason = "test helpers")]

use dealflow_dsl::SourceFile;
use dealflow_engine::{Action, Audience, Context, Decision, Outcome, Policy};

const SRC: &str = r#"policy "Advice" version "1" { currency USD }
record opportunity {
  amount: money
  close_date: date
  motion: enum { Resale, Managed }
  evidence {
    po_number: text
    budget_ok: bool
  }
}
record partner { tier: enum { Silver, Gold } }
record account { owner: enum { direct, channel } }
record line_item {
  product: text
  price: money
}
stage Open { probability 10% forecast pipeline }
stage ByTier { probability 20% forecast pipeline }
stage ByAccount { probability 20% forecast pipeline }
stage ByCloseDate { probability 20% forecast pipeline }
stage ByEvidenceOrTier { probability 20% forecast pipeline }
stage ByAmountAndEvidence { probability 20% forecast pipeline }
stage ByMotion { probability 20% forecast pipeline }
stage ByLines { probability 20% forecast pipeline requires len(line_items) > 0 }
stage ByBudget { probability 20% forecast pipeline requires budget_ok }
won stage Won { probability 100% forecast closed }
lost stage Lost { probability 0% forecast omitted }
flow {
  Open -> ByTier when partner.tier >= Gold
  Open -> ByAccount when account.owner == channel
  Open -> ByCloseDate when close_date <= today + 30d
  Open -> ByEvidenceOrTier when present po_number or partner.tier >= Gold
  Open -> ByAmountAndEvidence when amount < 10_000 USD and present po_number
  Open -> ByMotion when motion == Managed
  Open -> ByLines
  Open -> ByBudget
  ByBudget -> Won
  any -> Lost
}
"#;

fn decide(deal: &str, to: &str, audience: &str) -> Decision {
    let p =
        Policy::compile(&SourceFile::new("advice.policy", SRC)).unwrap_or_else(|e| panic!("{e}"));
    let r = p.parse_record_yaml(deal).unwrap_or_else(|e| panic!("{e}"));
    let d = p.decide(
        &r,
        &Action::Advance { to: to.into() },
        &Context::default(),
        "2026-11-27T15:00:00Z".parse().unwrap(),
        &audience.parse::<Audience>().unwrap(),
    );
    assert_eq!(d.outcome, Outcome::Denied, "{}", d.to_json_pretty());
    d
}

const DEAL: &str = "id: OPP-1\nstage: Open\nfields: { amount: 50000, motion: Resale }\n\
                    partner: { id: P-1, tier: Silver }\naccount: { id: A-1, owner: direct }";

fn advice(deal: &str, to: &str) -> (Vec<String>, Vec<String>) {
    let vendor = decide(deal, to, "vendor");
    // The advice does not depend on who asks.
    let partner = decide(deal, to, "partner:P-1");
    assert_eq!(vendor.to_pass, partner.to_pass, "{to}");
    assert_eq!(vendor.cannot_pass, partner.cannot_pass, "{to}");
    (vendor.to_pass, vendor.cannot_pass)
}

#[test]
fn conditions_on_what_the_requester_does_not_control_get_no_advice() {
    for (to, blocked) in [
        ("ByTier", "`partner.tier >= Gold` does not hold (it depends on partner.tier = Silver)"),
        ("ByAccount", "`account.owner == channel` does not hold (it depends on account.owner = direct)"),
        ("ByMotion", "`motion == Managed` does not hold (it depends on motion = Resale)"),
        (
            "ByAmountAndEvidence",
            "`amount < 10_000 USD and present po_number` does not hold (it depends on amount = 50000.00 USD)",
        ),
    ] {
        let (to_pass, cannot) = advice(DEAL, to);
        assert!(to_pass.is_empty(), "{to}: {to_pass:?}");
        assert_eq!(cannot, vec![blocked.to_string()], "{to}");
    }
}

#[test]
fn conditions_the_requester_can_meet_are_advised() {
    for (to, advised) in [
        // `close_date` is not filled in yet: the partner can provide it.
        ("ByCloseDate", "make `close_date <= today + 30d` hold"),
        // Either side of an `or` will do; the evidence side is the partner's.
        (
            "ByEvidenceOrTier",
            "make `present po_number or partner.tier >= Gold` hold",
        ),
        ("ByLines", "make `len(line_items) > 0` hold"),
        ("ByBudget", "provide `budget_ok`"),
    ] {
        let (to_pass, cannot) = advice(DEAL, to);
        assert_eq!(to_pass, vec![advised.to_string()], "{to}");
        assert!(cannot.is_empty(), "{to}: {cannot:?}");
    }
}

#[test]
fn a_recorded_value_is_not_advice_but_a_missing_one_is() {
    let dated = DEAL.replace("motion: Resale", "motion: Resale, close_date: 2027-06-30");
    let (to_pass, cannot) = advice(&dated, "ByCloseDate");
    assert!(to_pass.is_empty(), "{to_pass:?}");
    assert_eq!(cannot.len(), 1);
    assert!(cannot[0].contains("close_date = 2027-06-30"), "{cannot:?}");
}

#[test]
fn no_edge_at_all_says_so() {
    let d = decide(DEAL, "Won", "vendor");
    assert!(d.to_pass.is_empty());
    assert_eq!(d.cannot_pass.len(), 1, "{:?}", d.cannot_pass);
    assert!(
        d.cannot_pass[0].contains("no transition from `Open` to `Won`"),
        "{:?}",
        d.cannot_pass
    );
}
