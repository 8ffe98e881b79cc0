//! Properties over random command sequences (a few partners, accounts and
//! opportunities; create, update, register, advance, review, withdraw, tick, close,
//! activity) applied with increasing instants to a store file:
//! (a) a partner's reads never contain another partner's id or name, nor the id of
//!     another partner's deal it never named itself;
//! (b) the decision log verifies;
//! (c) replaying the command log into a fresh store reproduces every decision byte
//!     for byte;
//! (d) a second tick at the same instant fires nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use common::*;
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::{Audience, Store};
use proptest::prelude::*;
use serde_json::{json, Value};

const PARTNERS: [(&str, &str); 3] = [
    ("P-ACME", "Acme Networks"),
    ("P-BETA", "Beta Systems"),
    ("P-GAMMA", "Gamma Telecom"),
];
const ACCOUNTS: [&str; 4] = ["A-GLOBEX", "A-INITECH", "A-HOOLI", "A-UMBRELLA"];
const OPPS: usize = 6;
const STAGES: [&str; 6] = [
    "Qualification",
    "SolutionDevelopment",
    "ProposalEvaluation",
    "NegotiationClosing",
    "ClosedWon",
    "ClosedLost",
];

/// The owner of opportunity `i`.
fn owner(i: usize) -> usize {
    i % PARTNERS.len()
}

fn opp_id(i: usize) -> String {
    format!("OPP-{}", i + 1)
}

#[derive(Clone, Debug)]
enum Who {
    Owner,
    OtherPartner,
    Ops,
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        opp: usize,
        account: usize,
        amount: u64,
        who: Who,
    },
    Update {
        opp: usize,
        field: usize,
        who: Who,
    },
    Register {
        opp: usize,
        who: Who,
    },
    Advance {
        opp: usize,
        stage: usize,
        who: Who,
    },
    Review {
        opp: usize,
        verdict: usize,
    },
    Withdraw {
        opp: usize,
        who: Who,
    },
    Close {
        opp: usize,
        won: bool,
        who: Who,
    },
    Activity {
        opp: usize,
        who: Who,
    },
    Tick,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![6 => Just(Who::Owner), 1 => Just(Who::OtherPartner), 1 => Just(Who::Ops)]
}

fn op() -> impl Strategy<Value = Op> {
    let opp = 0..OPPS;
    prop_oneof![
        1 => (opp.clone(), 0..ACCOUNTS.len(), prop::sample::select(vec![20_000u64, 60_000, 120_000, 300_000]), who())
            .prop_map(|(opp, account, amount, who)| Op::Create { opp, account, amount, who }),
        2 => (opp.clone(), 0..8usize, who()).prop_map(|(opp, field, who)| Op::Update { opp, field, who }),
        3 => (opp.clone(), who()).prop_map(|(opp, who)| Op::Register { opp, who }),
        2 => (opp.clone(), 0..STAGES.len(), who()).prop_map(|(opp, stage, who)| Op::Advance { opp, stage, who }),
        2 => (opp.clone(), 0..3usize).prop_map(|(opp, verdict)| Op::Review { opp, verdict }),
        1 => (opp.clone(), who()).prop_map(|(opp, who)| Op::Withdraw { opp, who }),
        1 => (opp.clone(), any::<bool>(), who()).prop_map(|(opp, won, who)| Op::Close { opp, won, who }),
        1 => (opp.clone(), who()).prop_map(|(opp, who)| Op::Activity { opp, who }),
        2 => Just(Op::Tick),
    ]
}

/// How far the clock moves before a command.
fn gap() -> impl Strategy<Value = i64> {
    prop::sample::select(vec![
        0i64,
        0,
        60,
        3_600,
        5 * 3_600,
        86_400,
        3 * 86_400,
        40 * 86_400,
    ])
}

fn actor(opp: usize, who: &Who) -> Value {
    match who {
        Who::Owner => partner(PARTNERS[owner(opp)].0),
        Who::OtherPartner => partner(PARTNERS[(owner(opp) + 1) % PARTNERS.len()].0),
        Who::Ops => ops(),
    }
}

fn update_fields(field: usize) -> Value {
    match field {
        0 => json!({"amount": 45_000}),
        1 => json!({"amount": 400_000}),
        2 => json!({"close_date": "2027-02-01"}),
        3 => json!({"demo_completed": "2026-09-20", "proposal_sent": "2026-09-25"}),
        4 => json!({"po_number": "PO-77"}),
        5 => json!({"loss_reason": "price"}),
        6 => json!({"competitors": ["Fortinet"]}),
        _ => json!({"strategic": true}),
    }
}

/// The command for one op, with key `key`.
fn command(op: &Op, key: &str) -> Value {
    match op {
        Op::Create {
            opp,
            account,
            amount,
            who,
        } => {
            let mut c = json!({
                "key": key, "type": "create_opportunity", "by": actor(*opp, who),
                "opportunity": {"id": opp_id(*opp), "account": ACCOUNTS[*account], "stage": "Qualification",
                  "fields": {"amount": amount, "close_date": "2027-01-15", "product_family": "Security", "region": "NA",
                             "budget_process": true, "decision_maker": "CFO", "need": "firewall refresh", "timeline": "2026-12-20"},
                  "line_items": [{"product": "FW-X", "product_family": "Security", "quantity": 2, "price": amount / 2}]}
            });
            // Channel ops creates it for its usual owner; a partner creates it for
            // itself (so "another partner" may end up owning it).
            if matches!(who, Who::Ops) {
                c["opportunity"]["partner"] = PARTNERS[owner(*opp)].0.into();
            }
            c
        }
        Op::Update { opp, field, who } => json!({
            "key": key, "type": "update_opportunity", "by": actor(*opp, who), "opportunity": opp_id(*opp), "fields": update_fields(*field)
        }),
        Op::Register { opp, who } => {
            json!({"key": key, "type": "register", "by": actor(*opp, who), "opportunity": opp_id(*opp)})
        }
        Op::Advance { opp, stage, who } => json!({
            "key": key, "type": "advance", "by": actor(*opp, who), "opportunity": opp_id(*opp), "to": STAGES[*stage]
        }),
        Op::Review { opp, verdict } => {
            let verdict = ["approve", "reject", "return"][*verdict];
            json!({"key": key, "type": "review", "by": ops(), "opportunity": opp_id(*opp), "verdict": verdict, "note": "checked"})
        }
        Op::Withdraw { opp, who } => {
            json!({"key": key, "type": "withdraw", "by": actor(*opp, who), "opportunity": opp_id(*opp)})
        }
        Op::Close { opp, won, who } => json!({
            "key": key, "type": if *won { "close_won" } else { "close_lost" }, "by": actor(*opp, who), "opportunity": opp_id(*opp)
        }),
        Op::Activity { opp, who } => json!({
            "key": key, "type": "log_activity", "by": actor(*opp, who), "opportunity": opp_id(*opp), "kind": "call", "note": "spoke to the CFO"
        }),
        Op::Tick => json!({"key": key, "type": "tick", "by": "system"}),
    }
}

/// Whether `needle` occurs in `hay` as a whole token (not inside a longer id or word).
fn has_token(hay: &str, needle: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

fn extra_seed(s: &SqliteStore) {
    for (k, cmd) in [
        (
            "p3",
            json!({"type": "upsert_partner", "partner": {"id": "P-GAMMA", "name": "Gamma Telecom", "tier": "Gold", "territories": ["NA"], "specializations": ["Security"], "win_rate": "30%"}}),
        ),
        (
            "a3",
            json!({"type": "upsert_account", "account": {"id": "A-HOOLI", "name": "Hooli", "domain": "hooli.com", "industry": "Healthcare", "owner": "channel", "employees": 12000}}),
        ),
        (
            "a4",
            json!({"type": "upsert_account", "direct": true, "account": {"id": "A-UMBRELLA", "name": "Umbrella Corp", "domain": "umbrella.example", "industry": "Commercial", "owner": "direct", "employees": 300}}),
        ),
    ] {
        let mut cmd = cmd;
        cmd["key"] = k.into();
        cmd["by"] = admin();
        let (out, d) = submit(s, cmd, "2026-09-01T12:00:00Z");
        assert!(!out.refused, "{d}");
    }
}

/// Everything partner `p` can read, as text, and the opportunity ids `p` named.
fn partner_texts(s: &SqliteStore, p: &str, end: DateTime<Utc>) -> Vec<String> {
    let a = Audience::Partner(p.to_string());
    let mut out = Vec::new();
    for i in 0..OPPS {
        if let Some(v) = s.opportunity(&a, &opp_id(i)).unwrap() {
            assert_eq!(
                v.partner.as_deref(),
                Some(p),
                "{p} reads another partner's deal {}",
                v.id
            );
            out.push(serde_json::to_string(&v).unwrap());
        }
    }
    for q in s.queue(&a, end).unwrap() {
        assert_eq!(q.partner, p);
        out.push(serde_json::to_string(&q).unwrap());
    }
    for d in s.decisions(&a, 0, usize::MAX).unwrap() {
        out.push(d.json);
    }
    let far_past = t("2000-01-01T00:00:00Z");
    let far_future = t("2100-01-01T00:00:00Z");
    for c in s.commission(&a, far_past, far_future).unwrap() {
        assert_eq!(c.partner, p);
        out.push(serde_json::to_string(&c).unwrap());
    }
    for r in s.expiring(&a, far_past, Duration::days(365 * 90)).unwrap() {
        assert_eq!(r.partner, p);
        out.push(serde_json::to_string(&r).unwrap());
    }
    out
}

fn run(ops: &[(i64, Op)]) -> Result<(), TestCaseError> {
    let store = TempStore::new();
    let s = &store.store;
    seed(s);
    extra_seed(s);
    let mut now = t("2026-09-02T13:00:00Z");
    // Opportunity ids each partner named in a command of its own.
    let mut named: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (i, (gap, op)) in ops.iter().enumerate() {
        now += Duration::seconds(*gap);
        let cmd = command(op, &format!("c{i}"));
        if let Some(p) = cmd["by"]["partner"].as_str() {
            let p = PARTNERS.iter().find(|x| x.0 == p).unwrap().0;
            if let Some(o) = cmd["opportunity"]
                .as_str()
                .or(cmd["opportunity"]["id"].as_str())
            {
                named.entry(p).or_default().insert(o.to_string());
            }
        }
        let out = s
            .submit(&cmd.to_string(), now)
            .unwrap_or_else(|e| panic!("command {i} {cmd}: {e}"));
        prop_assert!(!out.repeated);
        if matches!(op, Op::Tick) {
            // (d) Ticking again at the same instant, with another key or none, fires
            // nothing and writes nothing.
            let before = s.dump().unwrap();
            let again = json!({"key": format!("c{i}-again"), "type": "tick", "by": "system"});
            let out = s.submit(&again.to_string(), now).unwrap();
            prop_assert!(
                out.decisions.is_empty(),
                "second tick fired {:?}",
                out.decisions
            );
            let keyless = s
                .submit(r#"{"type": "tick", "by": "system"}"#, now)
                .unwrap();
            prop_assert!(
                keyless.decisions.is_empty(),
                "keyless tick fired {:?}",
                keyless.decisions
            );
            prop_assert_eq!(before, s.dump().unwrap());
        }
    }
    // (a) Audience filtering.
    for (p, _) in PARTNERS {
        let mine: BTreeSet<String> = (0..OPPS)
            .map(opp_id)
            .filter(|o| {
                s.opportunity(&Audience::Vendor, o)
                    .unwrap()
                    .is_some_and(|v| v.partner.as_deref() == Some(p))
            })
            .collect();
        let empty = BTreeSet::new();
        let typed = named.get(p).unwrap_or(&empty);
        for text in partner_texts(s, p, now) {
            for (q, qname) in PARTNERS.iter().filter(|x| x.0 != p) {
                prop_assert!(!has_token(&text, q), "{} sees {}: {}", p, q, text);
                prop_assert!(!has_token(&text, qname), "{} sees {}: {}", p, qname, text);
            }
            for i in 0..OPPS {
                let o = opp_id(i);
                if !mine.contains(&o) && !typed.contains(&o) {
                    prop_assert!(
                        !has_token(&text, &o),
                        "{} sees another partner's deal {}: {}",
                        p,
                        o,
                        text
                    );
                }
            }
        }
    }
    // (b) The chain holds.
    let v = s.verify().unwrap();
    prop_assert_eq!(v.first_broken, None, "{:?}", v.reason);
    // (c) Replay.
    let original = s.decisions(&Audience::Vendor, 0, usize::MAX).unwrap();
    prop_assert_eq!(v.decisions, original.len() as u64);
    let fresh = SqliteStore::open_in_memory().unwrap();
    for c in s.commands().unwrap() {
        fresh.submit(&c.raw, t(&c.at)).unwrap();
    }
    let replayed = fresh.decisions(&Audience::Vendor, 0, usize::MAX).unwrap();
    prop_assert_eq!(original.len(), replayed.len());
    for (a, b) in original.iter().zip(&replayed) {
        prop_assert_eq!(a, b);
    }
    prop_assert_eq!(s.commands().unwrap(), fresh.commands().unwrap());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_keep_partners_apart_verify_replay_and_tick_once(
        accounts in prop::collection::vec((0..ACCOUNTS.len(), prop::sample::select(vec![20_000u64, 60_000, 120_000, 300_000])), OPPS),
        ops in prop::collection::vec((gap(), op()), 10..40)
    ) {
        // Every deal exists first (created by its owner), so that most commands act on
        // something; `Create` in the random part then mostly meets an existing id.
        let mut program: Vec<(i64, Op)> = accounts
            .into_iter()
            .enumerate()
            .map(|(opp, (account, amount))| (60, Op::Create { opp, account, amount, who: Who::Owner }))
            .collect();
        program.extend(ops);
        run(&program)?;
    }
}

/// A fixed program that reaches every command kind with its happy path, so the
/// properties are checked on a store where registrations were approved, denied,
/// reviewed, escalated and expired, co-sell assigned and commission booked.
#[test]
fn a_full_program_keeps_the_properties() {
    let o = |i: usize| i;
    let ops = vec![
        (
            0,
            Op::Create {
                opp: o(0),
                account: 0,
                amount: 120_000,
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Register {
                opp: o(0),
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Create {
                opp: o(1),
                account: 0,
                amount: 60_000,
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Register {
                opp: o(1),
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Create {
                opp: o(4),
                account: 1,
                amount: 60_000,
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Register {
                opp: o(4),
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Create {
                opp: o(2),
                account: 2,
                amount: 60_000,
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Register {
                opp: o(2),
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Advance {
                opp: o(0),
                stage: 1,
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Update {
                opp: o(0),
                field: 3,
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Update {
                opp: o(0),
                field: 6,
                who: Who::Owner,
            },
        ),
        (3 * 86_400, Op::Tick),
        (
            60,
            Op::Review {
                opp: o(4),
                verdict: 0,
            },
        ),
        (
            60,
            Op::Advance {
                opp: o(0),
                stage: 2,
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Advance {
                opp: o(0),
                stage: 3,
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Update {
                opp: o(0),
                field: 4,
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Activity {
                opp: o(4),
                who: Who::OtherPartner,
            },
        ),
        (
            60,
            Op::Withdraw {
                opp: o(0),
                who: Who::OtherPartner,
            },
        ),
        (
            40 * 86_400,
            Op::Close {
                opp: o(0),
                won: true,
                who: Who::Owner,
            },
        ),
        (40 * 86_400, Op::Tick),
        (40 * 86_400, Op::Tick),
        (
            60,
            Op::Create {
                opp: o(3),
                account: 1,
                amount: 60_000,
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Register {
                opp: o(3),
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Update {
                opp: o(2),
                field: 5,
                who: Who::Owner,
            },
        ),
        (
            60,
            Op::Close {
                opp: o(2),
                won: false,
                who: Who::Owner,
            },
        ),
        (60, Op::Tick),
    ];
    run(&ops).unwrap();
}

/// Replay reproduces refusals too, including a command refused for an instant
/// earlier than the store's latest (with and without its own `at`) and one that is
/// not JSON.
#[test]
fn replay_reproduces_refusals() {
    let store = TempStore::new();
    let s = &store.store;
    seed(s);
    create_opp(
        s,
        "OPP-1",
        "P-ACME",
        "A-GLOBEX",
        100_000,
        "2026-09-02T14:00:00Z",
    );
    let late = json!({"key": "late", "type": "log_activity", "by": partner("P-ACME"), "opportunity": "OPP-1", "kind": "call"});
    let (out, _) = submit(s, late, "2026-09-01T09:00:00Z");
    assert!(out.refused);
    let late_at = json!({"key": "late-at", "at": "2026-09-01T09:00:00Z", "type": "log_activity", "by": partner("P-ACME"), "opportunity": "OPP-1", "kind": "call"});
    let (out, _) = submit(s, late_at, "2026-09-02T15:00:00Z");
    assert!(out.refused);
    assert!(
        s.submit("{not json", t("2026-09-02T15:00:00Z"))
            .unwrap()
            .refused
    );
    let (out, _) = submit(
        s,
        json!({"key": "ok", "type": "log_activity", "by": partner("P-ACME"), "opportunity": "OPP-1", "kind": "call"}),
        "2026-09-02T16:00:00Z",
    );
    assert!(!out.refused);
    let fresh = SqliteStore::open_in_memory().unwrap();
    for c in s.commands().unwrap() {
        fresh.submit(&c.raw, t(&c.at)).unwrap();
    }
    let original = s.decisions(&Audience::Vendor, 0, usize::MAX).unwrap();
    let replayed = fresh.decisions(&Audience::Vendor, 0, usize::MAX).unwrap();
    assert_eq!(original.len(), replayed.len());
    for (a, b) in original.iter().zip(&replayed) {
        assert_eq!(a, b);
    }
}
