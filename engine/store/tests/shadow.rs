//! Shadow decisions: each command of a batch is decided by the candidate against
//! the state the batch has reached (earlier commands of the same commit included),
//! and nothing the candidate decided is written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a broken environment"
)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use dealflow_dsl::SourceFile;
use dealflow_engine::Policy;
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::Store;
use serde_json::json;

const POLICY: &str = include_str!("../../../policies/channel-standard.policy");

fn commands() -> Vec<String> {
    let admin = json!({"user": "ann", "role": "admin"});
    vec![
        json!({"key": "p", "by": admin, "type": "publish_policy", "source": POLICY,
               "effective_from": "2026-01-01T00:00:00Z"}),
        json!({"key": "partner", "by": admin, "type": "upsert_partner", "partner": {"id": "P-1",
               "tier": "Gold", "territories": ["NA"], "specializations": ["Security"], "win_rate": "35%"}}),
        json!({"key": "account", "by": admin, "type": "upsert_account", "account": {"id": "A-1",
               "domain": "a.com", "industry": "Commercial", "owner": "channel", "employees": 10}}),
        json!({"key": "create", "by": {"partner": "P-1"}, "type": "create_opportunity",
               "opportunity": {"id": "O-1", "account": "A-1", "stage": "Qualification",
                               "fields": {"amount": 1000, "product_family": "Security"}}}),
        json!({"key": "register", "by": {"partner": "P-1"}, "type": "register", "opportunity": "O-1"}),
    ]
    .into_iter()
    .map(|v| v.to_string())
    .collect()
}

fn candidate(text: &str) -> Arc<Policy> {
    Arc::new(Policy::compile(&SourceFile::new("candidate.policy", text)).unwrap())
}

#[test]
fn the_candidate_sees_the_batch_so_far_and_writes_nothing() {
    let now = Utc.with_ymd_and_hms(2026, 9, 1, 14, 0, 0).unwrap();
    let cmds = commands();
    let batch: Vec<(&str, _)> = cmds.iter().map(|c| (c.as_str(), now)).collect();

    // The same policy as a candidate: every decision agrees, even for the register
    // that follows its opportunity's creation in the same commit.
    let shadowed = SqliteStore::open_in_memory().unwrap();
    let out = shadowed
        .submit_batch_shadowed(&batch, &candidate(POLICY))
        .unwrap();
    assert!(out[0].1.is_none(), "no version in force before the publish");
    for (applied, shadow) in &out[1..] {
        let shadow = shadow.as_ref().unwrap();
        let a: Vec<_> = applied.decisions.iter().map(|d| &d.outcome).collect();
        let c: Vec<_> = shadow.decisions.iter().map(|d| &d.outcome).collect();
        assert_eq!(a, c);
    }
    assert_eq!(out[4].0.decisions[0].outcome, "approved");

    // Nothing of the candidate's was written: the store equals one without shadow.
    let plain = SqliteStore::open_in_memory().unwrap();
    plain.submit_batch(&batch).unwrap();
    assert_eq!(shadowed.dump().unwrap(), plain.dump().unwrap());

    // A stricter candidate denies the register the policy in force approves.
    let stricter = POLICY.replace(
        "eligible when partner.tier >= Silver",
        "eligible when partner.tier >= Platinum",
    );
    let fresh = SqliteStore::open_in_memory().unwrap();
    let out = fresh
        .submit_batch_shadowed(&batch, &candidate(&stricter))
        .unwrap();
    assert_eq!(out[4].0.decisions[0].outcome, "approved");
    assert_eq!(out[4].1.as_ref().unwrap().decisions[0].outcome, "denied");
    assert_eq!(fresh.dump().unwrap(), plain.dump().unwrap());
}
