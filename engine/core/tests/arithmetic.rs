//! Checked arithmetic: an amount that overflows the decimal range (line amounts,
//! line commissions and their sum, rebates, weighted amounts, expression arithmetic,
//! `sum(...)`) is an evaluation error of the decision, never a panic; money keeps
//! two decimals up to the decimal maximum.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers"
)]

use dealflow_dsl::SourceFile;
use dealflow_engine::{Action, Audience, Context, Decision, Outcome, Policy, RuleOutcome};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// A policy exercising every money computation: line amounts, a rate table, two
/// rebates (one larger than the rate, so rebates can overflow before commission),
/// a split, a downweight, a discount, a co-sell priority summing the lines and an
/// expression doing arithmetic on the amount.
const HUGE: &str = r#"policy "Huge" version "1" {
  currency USD
}
record opportunity {
  amount: money
  influencer: text?
}
record partner {
  tier: enum { Silver, Gold }
}
record account {
  domain: text
}
record line_item {
  product: text
  quantity: integer
  price: money
}
stage Open { probability 100% forecast pipeline }
won stage Won { probability 100% forecast closed }
lost stage Lost { probability 0% forecast omitted }
flow {
  Open -> Won when amount * 2 >= 0 USD
  any -> Lost
}
registration {
  eligible when amount + amount >= 0 USD
  auto approve when partner.tier == Gold
  protect 90d
  discount 10% when approved
}
cosell {
  pool desk "Desk" capacity 5 per week
  assign desk when amount >= 0 USD priority sum(li in line_items: li.price * li.quantity)
}
commission {
  rate by (partner.tier) first match {
    (Gold) 1%
    (_) 1%
  }
  rebate big 90% when item.quantity >= 1
  rebate small 1% when item.quantity >= 1
  split when present influencer { registering 60%, influencer 40% }
}
hygiene {
  flag pushed when close_date_changes >= 0
  downweight 50% when pushed
}
"#;

fn huge() -> Policy {
    huge_without(&[])
}

/// [`HUGE`] without some of its lines.
fn huge_without(drop: &[&str]) -> Policy {
    let text: String = HUGE
        .lines()
        .filter(|l| !drop.iter().any(|d| l.contains(d)))
        .map(|l| format!("{l}\n"))
        .collect();
    match Policy::compile(&SourceFile::new("huge.policy", text)) {
        Ok(p) => p,
        Err(e) => panic!("{e}: {:#?}", e.diagnostics),
    }
}

const NOW: &str = "2026-11-27T15:00:00Z";

/// A record with the given amount and `(quantity, price)` lines.
fn record(amount: &str, lines: &[(&str, &str)], influencer: bool) -> String {
    let mut y = format!(
        "id: OPP-1\nstage: Open\npartner: {{id: P-1, tier: Gold}}\n\
         account: {{id: A-1, domain: globex.com}}\n\
         registration: {{id: R-1, partner_id: P-1, status: approved, \
         submitted_at: 2026-01-01T00:00:00Z, approved_at: 2026-01-02T00:00:00Z}}\n\
         fields:\n  amount: \"{amount} USD\"\n"
    );
    if influencer {
        y.push_str("  influencer: P-2\n");
    }
    if !lines.is_empty() {
        y.push_str("line_items:\n");
        for (q, p) in lines {
            y.push_str(&format!(
                "  - {{product: X, quantity: {q}, price: \"{p} USD\"}}\n"
            ));
        }
    }
    y
}

fn decide(p: &Policy, yaml: &str, action: &str) -> Decision {
    let r = p.parse_record_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    let a: Action = action.parse().unwrap();
    let now = NOW.parse().unwrap();
    let d = p.decide(&r, &a, &Context::default(), now, &Audience::Vendor);
    // The no-trace path reaches the same outcome.
    let fast = p.decide_fast(&r, &a, &Context::default(), now);
    assert_eq!(fast.outcome, d.outcome, "{action}: {}", d.to_json_pretty());
    d
}

/// The decision is an error naming `rule`, with an evaluation error saying that
/// `what` overflowed, and no commission.
fn assert_overflow(d: &Decision, rule: &str, what: &str) {
    let json = d.to_json_pretty();
    assert_eq!(d.outcome, Outcome::Error, "{json}");
    let r = d
        .reasons
        .iter()
        .find(|r| r.rule == rule && r.outcome == RuleOutcome::Fail)
        .unwrap_or_else(|| panic!("no failing `{rule}` reason in {json}"));
    assert!(r.message.contains("arithmetic overflow"), "{}", r.message);
    assert!(r.message.contains(what), "`{what}` not in: {}", r.message);
    let e = d
        .errors
        .iter()
        .find(|e| e.rule == rule)
        .unwrap_or_else(|| panic!("no `{rule}` error in {json}"));
    assert!(e.message.contains(what), "{}", e.message);
    assert!(e.location.starts_with("huge.policy:"), "{}", e.location);
    assert!(d.effects.commission.is_none(), "{json}");
    assert!(d.effects.stage_change.is_none(), "{json}");
}

const MAX: &str = "79228162514264337593543950335";

#[test]
fn line_quantity_times_price_overflow_is_an_error() {
    let p = huge();
    let y = record("1", &[("1000000000000", "1000000000000000000")], false);
    for action in ["close_won", "evaluate"] {
        let d = decide(&p, &y, action);
        assert_overflow(&d, "commission.rate.row[1]", "line 1: quantity x price");
    }
}

#[test]
fn the_sum_of_line_commissions_overflow_is_an_error() {
    // Each line is fine (MAX / 2 x 1%), but 300 of them sum beyond the maximum.
    let half = "39614081257132168796771975167";
    let lines: Vec<(&str, &str)> = (0..300).map(|_| ("1", half)).collect();
    let p = huge_without(&["rebate "]);
    let d = decide(&p, &record("1", &lines, false), "close_won");
    assert_overflow(
        &d,
        "commission.rate.row[1]",
        "the sum of line commissions up to line 200",
    );
    // With the rebates, the 90% rebate overflows first (line 3).
    let d = decide(&huge(), &record("1", &lines, false), "close_won");
    assert_overflow(
        &d,
        "commission.rebate.big",
        "the sum of rebates up to line 3",
    );
}

#[test]
fn a_rebate_overflow_is_an_error_on_the_fast_path_too() {
    let half = "39614081257132168796771975167";
    let lines = [("1", half), ("1", half), ("1", half)];
    let p = huge();
    let y = record("1", &lines, false);
    let d = decide(&p, &y, "close_won");
    assert_overflow(&d, "commission.rebate.big", "the sum of rebates");
    // Two lines fit: the rebates sum to 0.9 x MAX.
    let d = decide(&p, &record("1", &lines[..2], false), "close_won");
    assert_eq!(d.outcome, Outcome::Approved, "{}", d.to_json_pretty());
}

#[test]
fn amounts_at_the_decimal_maximum_keep_two_decimals() {
    let p = huge();
    // (At the maximum, `close_won` and `register` are denied: `amount * 2` and
    // `amount + amount` overflow, see below; half of it still fits.)
    let half = "39614081257132168796771975167";
    for (amount, action) in [(MAX, "evaluate"), (half, "register"), (half, "close_won")] {
        let d = decide(&p, &record(amount, &[], true), action);
        assert!(
            matches!(d.outcome, Outcome::Evaluated | Outcome::Approved),
            "{}",
            d.to_json_pretty()
        );
        assert_eq!(
            d.effects.amounts.get("amount"),
            Some(&format!("{amount}.00"))
        );
        for (k, v) in &d.effects.amounts {
            let (_, frac) = v.split_once('.').unwrap_or_else(|| panic!("{k}: {v}"));
            assert_eq!(frac.len(), 2, "{k}: {v}");
        }
    }
    let d = decide(&p, &record(MAX, &[], true), "evaluate");
    let fc = d.effects.forecast.as_ref().unwrap();
    assert_eq!(fc.weighted_amount, "39614081257132168796771975168.00");
    let cm = d.effects.commission.as_ref().unwrap();
    // Shares sum exactly to the total.
    let total: Decimal = cm.total.parse().unwrap();
    let sum: Decimal = cm
        .shares
        .iter()
        .map(|s| s.amount.parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(sum, total);
}

/// The decision is undecided because `expr` (in `rule`) overflowed: outcome
/// `error`, an `action.<action>` reason naming both, the evaluation error, no effects.
fn assert_expression_overflow(d: &Decision, action: &str, rule: &str, expr: &str) {
    let json = d.to_json_pretty();
    assert_eq!(d.outcome, Outcome::Error, "{json}");
    let e = d
        .errors
        .iter()
        .find(|e| e.rule == rule && e.message.contains(&format!("`{expr}`")))
        .unwrap_or_else(|| panic!("no `{rule}` error on `{expr}` in {json}"));
    assert!(
        e.message.starts_with("arithmetic overflow"),
        "{}",
        e.message
    );
    let r = d
        .reasons
        .iter()
        .find(|r| r.rule == format!("action.{action}"))
        .unwrap_or_else(|| panic!("no action reason in {json}"));
    assert_eq!(r.outcome, RuleOutcome::Fail);
    assert_eq!(&*r.location, e.location.as_str());
    assert!(
        r.message.contains(&format!("`{expr}` (`{rule}`)")),
        "{}",
        r.message
    );
    assert!(d.effects.stage_change.is_none() && d.effects.registration.is_none());
    assert!(
        d.effects.commission.is_none() && d.effects.amounts.is_empty(),
        "{json}"
    );
}

#[test]
fn expression_overflow_leaves_the_action_undecided() {
    let p = huge();
    // `amount * 2` (a flow guard) and `amount + amount` (eligibility) overflow at
    // the maximum.
    let d = decide(&p, &record(MAX, &[], false), "close_won");
    assert_expression_overflow(&d, "close_won", "flow.Open->Won", "amount * 2");
    let d = decide(&p, &record(MAX, &[], false), "advance Won");
    assert_expression_overflow(&d, "advance", "flow.Open->Won", "amount * 2");
    let d = decide(&p, &record(MAX, &[], false), "register");
    assert_expression_overflow(
        &d,
        "register",
        "registration.eligible[0]",
        "amount + amount",
    );
    // Negative money never reaches the arithmetic: the record is refused at its path
    // (docs/records.md, value ranges).
    let err = p
        .parse_record_yaml(&record(&format!("-{MAX}"), &[], false))
        .expect_err("a negative amount is refused");
    assert!(err.to_string().contains("`fields.amount`"), "{err}");
}

#[test]
fn an_overflowing_sum_is_an_error_not_a_missing_value() {
    // (Without the rebates, which would overflow first on these lines.)
    let p = huge_without(&["rebate "]);
    let half = "39614081257132168796771975167";
    let lines = [("1", half), ("1", half), ("1", half)];
    let d = decide(&p, &record("1", &lines, false), "evaluate");
    assert_expression_overflow(&d, "evaluate", "cosell.assign[0]", "li.price * li.quantity");
    // Two lines fit (the sum is just under the maximum).
    let d = decide(&p, &record("1", &lines[..2], false), "evaluate");
    assert_eq!(d.outcome, Outcome::Evaluated, "{}", d.to_json_pretty());
    assert_eq!(
        d.effects.cosell[0].priority.as_deref(),
        Some("79228162514264337593543950334.00 USD")
    );
}

fn huge_decimal() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(MAX.to_string()),
        Just("39614081257132168796771975167".to_string()),
        Just("7922816251426433759354395033.5".to_string()),
        Just("0.01".to_string()),
        Just("0".to_string()),
        // Non-negative: negative money is refused by the record reader (tested above).
        (0..=i64::MAX, 0u32..29).prop_map(|(m, s)| {
            Decimal::try_from_i128_with_scale(i128::from(m) * 1_000_000_000_000, s)
                .unwrap_or(Decimal::MAX)
                .to_string()
        }),
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

fn quantity() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(i64::MAX.to_string()),
        Just("1".to_string()),
        (0..=i64::MAX).prop_map(|n| n.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Huge amounts, prices and quantities, many line items, through every action:
    /// no panic, the fast path agrees, every amount has two decimals, and an
    /// overflow always comes with an error naming a rule.
    #[test]
    fn huge_values_never_panic(
        amount in huge_decimal(),
        lines in proptest::collection::vec((quantity(), huge_decimal()), 0..40),
        influencer in any::<bool>(),
    ) {
        let p = huge();
        let lines: Vec<(&str, &str)> = lines.iter().map(|(q, p)| (q.as_str(), p.as_str())).collect();
        let y = record(&amount, &lines, influencer);
        for action in ["register", "evaluate", "close_won", "close_lost", "advance Won", "advance Lost"] {
            let d = decide(&p, &y, action);
            for (k, v) in &d.effects.amounts {
                let frac = v.split_once('.').map(|(_, f)| f.len());
                prop_assert_eq!(frac, Some(2), "{}: {}", k, v);
            }
            if d.outcome == Outcome::Error {
                prop_assert!(d.errors.iter().any(|e| e.message.contains("arithmetic overflow")));
            }
        }
    }
}
