//! Prints the full decision JSON of many generated deals on the reference policy,
//! every action, for the vendor and two partner audiences (one line per decision).
//! Used to check that a change to the engine leaves every decision byte-identical:
//! run it before and after and `diff` the outputs.
//!
//! `cargo run --release -p dealflow-engine --example golden [count] > decisions.jsonl`
#![allow(clippy::unwrap_used, reason = "example setup")]

#[path = "../benches/support.rs"]
mod support;

use dealflow_engine::{Action, Audience};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let p = support::policy();
    let ctx = support::context(&p);
    let now = support::now();
    let mut actions: Vec<Action> = p
        .ir()
        .stages
        .iter()
        .map(|s| format!("advance {}", s.name).parse().unwrap())
        .collect();
    actions.extend(
        [
            "register",
            "evaluate",
            "close_won",
            "close_lost",
            "route_lead",
        ]
        .iter()
        .map(|a| a.parse().unwrap()),
    );
    actions.push("advance Nowhere".parse().unwrap());
    let audiences = [
        Audience::Vendor,
        "partner:P-1".parse().unwrap(),
        "partner:P-INF".parse().unwrap(),
    ];
    let times = [now, "2027-06-30T23:30:00Z".parse().unwrap()];
    for i in 0..n {
        let rec = support::deal(&p, i);
        for a in &actions {
            for au in &audiences {
                for t in &times {
                    let d = p.decide(&rec, a, &ctx, *t, au);
                    let fast = p.decide_fast(&rec, a, &ctx, *t);
                    println!("{}", serde_json::to_string(&d).unwrap());
                    println!("{:?}", fast);
                }
            }
        }
    }
}
