//! Bad input never corrupts state: a refused command leaves the store byte for byte
//! as it was, apart from its own command row, its refusal decision and (for a
//! command that could be read) its idempotency row. Every refusal is one logged
//! decision with outcome `refused` and a message naming the problem; none panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;
use common::*;
use dealflow_store::{Audience, Store};
use proptest::prelude::*;
use serde_json::{json, Value};

/// The rows of every table except the command log, the decision log and the
/// idempotency keys (the three a refusal may add to).
fn state(s: &dealflow_store::sqlite::SqliteStore) -> Vec<String> {
    s.dump()
        .unwrap()
        .into_iter()
        .filter(|l| {
            !l.starts_with("commands:")
                && !l.starts_with("decisions:")
                && !l.starts_with("idempotency:")
        })
        .collect()
}

fn count(s: &dealflow_store::sqlite::SqliteStore, table: &str) -> u64 {
    s.counts()
        .unwrap()
        .into_iter()
        .find(|(t, _)| t == table)
        .unwrap()
        .1
}

fn last_seq(s: &dealflow_store::sqlite::SqliteStore) -> u64 {
    s.decisions(&Audience::Vendor, 0, usize::MAX)
        .unwrap()
        .last()
        .map_or(0, |d| d.seq)
}

/// A store with the reference policy, two partners and accounts, an approved Gold
/// registration (OPP-1, P-ACME) and a pending Silver one (OPP-3, P-BETA). The
/// latest instant is 2026-09-03T15:00:00Z.
fn fixture() -> TempStore {
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
    create_opp(
        s,
        "OPP-3",
        "P-BETA",
        "A-INITECH",
        60_000,
        "2026-09-03T14:00:00Z",
    );
    let (_, d) = submit(
        s,
        json!({"key": "r3", "type": "register", "by": partner("P-BETA"), "opportunity": "OPP-3"}),
        "2026-09-03T15:00:00Z",
    );
    assert_eq!(d["outcome"], "review", "{d:#}");
    ts
}

const NOW: &str = "2026-09-04T15:00:00Z";

/// Submits `raw` and checks that it was refused with exactly one new decision
/// whose message contains `needle`, and that nothing else changed.
fn assert_refused(s: &dealflow_store::sqlite::SqliteStore, raw: &str, now: &str, needle: &str) {
    let before = state(s);
    let commands = count(s, "commands");
    let seq = last_seq(s);
    let out = s
        .submit(raw, t(now))
        .unwrap_or_else(|e| panic!("store error for {raw}: {e}"));
    assert!(out.refused, "not refused: {raw}\n{out:#?}");
    assert!(!out.repeated, "{raw}");
    assert_eq!(out.decisions.len(), 1, "{raw}: {out:#?}");
    assert_eq!(out.decisions[0].outcome, "refused");
    let new = s.decisions(&Audience::Vendor, seq, usize::MAX).unwrap();
    assert_eq!(
        new.len(),
        1,
        "{raw}: exactly one new decision, got {new:#?}"
    );
    assert_eq!(new[0], out.decisions[0]);
    let doc: Value = serde_json::from_str(&new[0].json).unwrap();
    assert_eq!(doc["outcome"], "refused");
    assert_eq!(doc["kind"], "refusal");
    let message = doc["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "{raw}: message `{message}` does not name `{needle}`"
    );
    assert_eq!(
        count(s, "commands"),
        commands + 1,
        "{raw}: one command row is logged"
    );
    assert_eq!(before, state(s), "{raw}: the store changed beyond its log");
    assert_eq!(s.verify().unwrap().first_broken, None);
}

#[test]
fn each_bad_command_is_refused_with_its_reason_and_changes_nothing_else() {
    let ts = fixture();
    let s = &ts.store;
    let by_acme = partner("P-ACME");
    let by_beta = partner("P-BETA");
    let lint_error_policy = r#"policy "Broken" version "1" { currency USD }
record opportunity { amount: money }
stage Open { probability 10% forecast pipeline }
won stage Won { probability 100% forecast closed }
flow { Open -> Nowhere }"#;
    let cases: Vec<(String, &str)> = vec![
        (r#"{"key": "k1", "type": "register", "by": {"partner": "P-ACME"}, "opportunity": "#.into(), "not valid JSON"),
        ("".into(), "not valid JSON"),
        ("[1, 2, 3]".into(), "a command is a JSON object"),
        ("null".into(), "a command is a JSON object"),
        (json!({"key": "k2", "type": "regster", "by": by_acme, "opportunity": "OPP-1"}).to_string(), "unknown command type `regster`"),
        (json!({"key": "k3", "by": by_acme, "opportunity": "OPP-1"}).to_string(), "`type` is missing"),
        (json!({"key": "k4", "type": "log_activity", "by": by_acme, "opportunity": "OPP-1", "kind": "call", "colour": "red"}).to_string(), "unknown field `colour`"),
        (json!({"key": "k5", "type": "log_activity", "by": by_acme, "opportunity": "OPP-1"}).to_string(), "missing field `kind`"),
        (json!({"type": "register", "by": by_acme, "opportunity": "OPP-1"}).to_string(), "`key` is missing"),
        (json!({"key": "", "type": "register", "by": by_acme, "opportunity": "OPP-1"}).to_string(), "`key` must be 1 to 256 characters"),
        (json!({"key": "k6", "type": "register", "opportunity": "OPP-1"}).to_string(), "`by` is missing"),
        (json!({"key": "k7", "type": "register", "by": {"user": "x", "role": "boss"}, "opportunity": "OPP-1"}).to_string(), "unknown role `boss`"),
        // Wrong role: a partner reviewing, a viewer writing, channel ops publishing.
        (json!({"key": "k8", "type": "review", "by": by_beta, "opportunity": "OPP-3", "verdict": "approve"}).to_string(), "may not review registrations"),
        (json!({"key": "k9", "type": "log_activity", "by": {"user": "vic", "role": "viewer"}, "opportunity": "OPP-1", "kind": "call"}).to_string(), "a viewer reads only"),
        (json!({"key": "k10", "type": "publish_policy", "by": ops(), "source": POLICY, "effective_from": "2026-10-01T00:00:00Z"}).to_string(), "may not publish a policy"),
        (json!({"key": "k11", "type": "tick", "by": by_acme}).to_string(), "may not tick the clock"),
        (json!({"key": "k12", "type": "upsert_partner", "by": by_acme, "partner": {"id": "P-ACME", "tier": "Platinum"}}).to_string(), "may not create or update partners"),
        // A partner acting on another partner's deal learns nothing about it.
        (json!({"key": "k13", "type": "withdraw", "by": by_beta, "opportunity": "OPP-1"}).to_string(), "unknown opportunity `OPP-1`"),
        (json!({"key": "k14", "type": "update_opportunity", "by": by_beta, "opportunity": "OPP-1", "fields": {"amount": 1}}).to_string(), "unknown opportunity `OPP-1`"),
        (json!({"key": "k15", "type": "log_activity", "by": by_acme, "opportunity": "OPP-3", "kind": "call"}).to_string(), "unknown opportunity `OPP-3`"),
        (json!({"key": "k16", "type": "create_opportunity", "by": by_beta, "opportunity": {"id": "OPP-9", "partner": "P-ACME", "account": "A-GLOBEX"}}).to_string(), "for itself only"),
        // Unknown records.
        (json!({"key": "k17", "type": "register", "by": by_acme, "opportunity": "OPP-404"}).to_string(), "unknown opportunity `OPP-404`"),
        (json!({"key": "k18", "type": "create_opportunity", "by": by_acme, "opportunity": {"id": "OPP-9", "account": "A-NOPE"}}).to_string(), "unknown account `A-NOPE`"),
        (json!({"key": "k19", "type": "accept_lead", "by": by_acme, "lead": "L-404"}).to_string(), "unknown lead `L-404`"),
        // State that does not allow the command.
        (json!({"key": "k20", "type": "register", "by": by_acme, "opportunity": "OPP-1"}).to_string(), "already has a approved registration"),
        (json!({"key": "k21", "type": "create_opportunity", "by": by_acme, "opportunity": {"id": "OPP-1", "account": "A-GLOBEX"}}).to_string(), "already exists"),
        (json!({"key": "k22", "type": "advance", "by": by_acme, "opportunity": "OPP-1", "to": "Nirvana"}).to_string(), "Nirvana"),
        (json!({"key": "k23", "type": "update_opportunity", "by": by_acme, "opportunity": "OPP-1", "fields": {"region": "MARS"}}).to_string(), "region"),
        // Bad instants.
        (json!({"key": "k24", "type": "register", "at": "yesterday", "by": by_acme, "opportunity": "OPP-1"}).to_string(), "`at`: `yesterday` is not an RFC 3339 instant"),
        (json!({"key": "k25", "type": "register", "at": 17, "by": by_acme, "opportunity": "OPP-1"}).to_string(), "`at` must be an RFC 3339 text"),
        (json!({"key": "k26", "type": "publish_policy", "by": admin(), "source": POLICY, "effective_from": "soon"}).to_string(), "`effective_from`"),
        // A policy with lint errors is not published.
        (json!({"key": "k27", "type": "publish_policy", "by": admin(), "name": "broken.policy", "source": lint_error_policy, "effective_from": "2026-10-01T00:00:00Z"}).to_string(), "lint errors"),
        // A reused key with another payload.
        (json!({"key": "r1", "type": "withdraw", "by": by_acme, "opportunity": "OPP-1"}).to_string(), "idempotency key `r1`"),
        // An instant earlier than the store's latest (carried in the command).
        (json!({"key": "k28", "type": "log_activity", "at": "2026-09-01T00:00:00Z", "by": by_acme, "opportunity": "OPP-1", "kind": "call"}).to_string(), "before the store's latest instant"),
    ];
    for (raw, needle) in &cases {
        assert_refused(s, raw, NOW, needle);
    }
    // The same command with no `at`, submitted with an earlier clock.
    assert_refused(
        s,
        &json!({"key": "k29", "type": "log_activity", "by": by_acme, "opportunity": "OPP-1", "kind": "call"}).to_string(),
        "2026-09-01T00:00:00Z",
        "before the store's latest instant",
    );
    // A refused key stays refused-with-its-first-answer, and a fresh key still works.
    let (out, d) = submit(
        s,
        json!({"key": "k30", "type": "log_activity", "by": by_acme, "opportunity": "OPP-1", "kind": "call"}),
        NOW,
    );
    assert!(!out.refused, "{d:#}");
    assert_eq!(d["outcome"], "recorded");
}

#[test]
fn a_refused_command_repeated_with_its_key_returns_the_same_refusal_and_logs_nothing() {
    let ts = fixture();
    let s = &ts.store;
    let cmd = json!({"key": "k1", "type": "review", "by": partner("P-BETA"), "opportunity": "OPP-3", "verdict": "approve"});
    let (a, _) = submit(s, cmd.clone(), NOW);
    assert!(a.refused);
    let before = s.dump().unwrap();
    let (b, _) = submit(s, cmd, NOW);
    assert!(b.repeated && b.refused, "{b:#?}");
    assert_eq!(a.decisions, b.decisions);
    assert_eq!(before, s.dump().unwrap());
}

/// Commands in the shape of real ones, some of them broken: valid commands with one
/// field dropped, replaced by a random JSON value, or added.
fn mutated() -> impl Strategy<Value = String> {
    let base = prop_oneof![
        Just(
            json!({"key": "m", "type": "register", "by": {"partner": "P-ACME"}, "opportunity": "OPP-1"})
        ),
        Just(
            json!({"key": "m", "type": "review", "by": {"user": "olga", "role": "channel_ops"}, "opportunity": "OPP-3", "verdict": "reject"})
        ),
        Just(
            json!({"key": "m", "type": "update_opportunity", "by": {"partner": "P-BETA"}, "opportunity": "OPP-3", "fields": {"amount": 70000}})
        ),
        Just(
            json!({"key": "m", "type": "advance", "by": {"partner": "P-ACME"}, "opportunity": "OPP-1", "to": "SolutionDevelopment"})
        ),
        Just(
            json!({"key": "m", "type": "log_activity", "by": {"partner": "P-ACME"}, "opportunity": "OPP-1", "kind": "call"})
        ),
        Just(
            json!({"key": "m", "type": "withdraw", "by": {"partner": "P-BETA"}, "opportunity": "OPP-3"})
        ),
        Just(
            json!({"key": "m", "type": "close_lost", "by": {"partner": "P-ACME"}, "opportunity": "OPP-1"})
        ),
        Just(json!({"key": "m", "type": "tick", "by": "system"})),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9 _:-]{0,12}".prop_map(Value::from),
        Just(json!("OPP-1")),
        Just(json!("P-ACME")),
        Just(json!({"partner": "P-BETA"})),
        Just(json!({"user": "ann", "role": "admin"})),
        Just(json!("2026-09-01T00:00:00Z")),
        Just(json!("9999-12-31T23:59:59Z")),
    ];
    const FIELDS: [&str; 10] = [
        "key",
        "type",
        "by",
        "at",
        "opportunity",
        "verdict",
        "fields",
        "to",
        "kind",
        "extra",
    ];
    (base, 0usize..3, proptest::sample::select(&FIELDS[..]), leaf).prop_map(
        |(mut v, op, field, leaf)| {
            let m = v.as_object_mut().unwrap();
            match op {
                0 => {
                    m.remove(field);
                }
                _ => {
                    m.insert(field.to_string(), leaf);
                }
            }
            v.to_string()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever is submitted, the store answers (never panics nor errs), and a
    /// refusal changes nothing but the log.
    #[test]
    fn mutated_commands_are_answered_and_refusals_change_only_the_log(raws in proptest::collection::vec(mutated(), 1..6)) {
        let ts = fixture();
        let s = &ts.store;
        for (i, raw) in raws.iter().enumerate() {
            // A fresh key per command unless the mutation changed it.
            let raw = raw.replacen("\"key\":\"m\"", &format!("\"key\":\"m{i}\""), 1);
            let before = state(s);
            let seq = last_seq(s);
            let out = s.submit(&raw, t(NOW)).unwrap();
            if out.refused && !out.repeated {
                prop_assert_eq!(&before, &state(s), "{}", raw);
                let new = s.decisions(&Audience::Vendor, seq, usize::MAX).unwrap();
                prop_assert_eq!(new.len(), 1);
                prop_assert_eq!(new[0].outcome.as_str(), "refused");
                let doc: Value = serde_json::from_str(&new[0].json).unwrap();
                prop_assert!(doc["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", doc);
            }
        }
        prop_assert_eq!(s.verify().unwrap().first_broken, None);
    }
}
