//! Test support: a store in a temporary directory (a real file, WAL), the
//! reference policy, and helpers that submit commands as JSON.
#![allow(dead_code, reason = "each test file uses a part")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use chrono::{DateTime, Utc};
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::{Store, Submitted};
use serde_json::{json, Value};

pub const POLICY: &str = include_str!("../../../../policies/channel-standard.policy");

pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub store: SqliteStore,
}

impl TempStore {
    pub fn new() -> TempStore {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("program.db")).unwrap();
        TempStore { dir, store }
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("program.db")
    }
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn admin() -> Value {
    json!({"user": "ann", "role": "admin"})
}

pub fn ops() -> Value {
    json!({"user": "olga", "role": "channel_ops"})
}

pub fn partner(p: &str) -> Value {
    json!({"partner": p})
}

/// Submits a command (a JSON object) at `at`; returns the answer and the first
/// decision document.
pub fn submit(store: &impl Store, cmd: Value, at: &str) -> (Submitted, Value) {
    let s = store.submit(&cmd.to_string(), t(at)).unwrap();
    let first = s
        .decisions
        .first()
        .map(|d| serde_json::from_str(&d.json).unwrap())
        .unwrap_or(Value::Null);
    (s, first)
}

/// Publishes the reference policy and seeds two partners (Gold P-ACME, Silver
/// P-BETA) and two accounts (A-GLOBEX, A-INITECH).
pub fn seed(store: &impl Store) {
    let (s, d) = submit(
        store,
        json!({"key": "publish-1", "type": "publish_policy", "by": admin(), "name": "channel-standard.policy",
               "source": POLICY, "effective_from": "2026-01-01T00:00:00Z"}),
        "2026-09-01T12:00:00Z",
    );
    assert!(!s.refused, "{d}");
    for (k, p) in [
        (
            "p1",
            json!({"id": "P-ACME", "name": "Acme Networks", "tier": "Gold", "territories": ["NA"], "specializations": ["Security"], "win_rate": "35%"}),
        ),
        (
            "p2",
            json!({"id": "P-BETA", "name": "Beta Systems", "tier": "Silver", "territories": ["NA", "EMEA"], "specializations": ["Security", "Core"], "win_rate": "20%"}),
        ),
    ] {
        let (s, d) = submit(
            store,
            json!({"key": k, "type": "upsert_partner", "by": admin(), "partner": p}),
            "2026-09-01T12:00:00Z",
        );
        assert!(!s.refused, "{d}");
    }
    for (k, a) in [
        (
            "a1",
            json!({"id": "A-GLOBEX", "name": "Globex, Inc.", "domain": "globex.com", "industry": "Commercial", "owner": "channel", "employees": 5000}),
        ),
        (
            "a2",
            json!({"id": "A-INITECH", "name": "Initech LLC", "domain": "initech.com", "industry": "Finance", "owner": "channel", "employees": 800}),
        ),
    ] {
        let (s, d) = submit(
            store,
            json!({"key": k, "type": "upsert_account", "by": admin(), "account": a}),
            "2026-09-01T12:00:00Z",
        );
        assert!(!s.refused, "{d}");
    }
}

/// A qualified opportunity of `partner` on `account`.
pub fn create_opp(
    store: &impl Store,
    id: &str,
    partner_id: &str,
    account: &str,
    amount: u64,
    at: &str,
) -> Value {
    let (s, d) = submit(
        store,
        json!({"key": format!("create-{id}"), "type": "create_opportunity", "by": partner(partner_id),
               "opportunity": {"id": id, "account": account, "stage": "Qualification",
                 "fields": {"amount": amount, "close_date": "2027-01-15", "product_family": "Security", "region": "NA",
                            "budget_process": true, "decision_maker": "CFO", "need": "firewall refresh", "timeline": "2026-12-20"},
                 "line_items": [{"product": "FW-X", "product_family": "Security", "quantity": 2, "price": amount / 2}]}}),
        at,
    );
    assert!(!s.refused, "{d}");
    d
}
