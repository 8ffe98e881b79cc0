//! Durability on a real file: the pragmas the store runs with, a file from a newer
//! dealflow refused, `PRAGMA integrity_check` after a workload, a tampered decision
//! named by `verify`, and acknowledged commands surviving `kill -9` of the writer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as Process, Stdio};

use common::*;
use dealflow_store::sqlite::{schema, Durability, SqliteStore};
use dealflow_store::{Audience, Store, StoreError};
use serde_json::json;

fn pragma(s: &SqliteStore, name: &str) -> String {
    s.pragmas()
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no pragma {name}"))
        .1
}

/// Some of everything: registrations approved and on review, a review, advances,
/// activities, a withdrawal, a close, ticks.
fn workload(s: &SqliteStore) {
    seed(s);
    create_opp(
        s,
        "OPP-1",
        "P-ACME",
        "A-GLOBEX",
        100_000,
        "2026-09-02T14:00:00Z",
    );
    create_opp(
        s,
        "OPP-2",
        "P-BETA",
        "A-INITECH",
        60_000,
        "2026-09-02T14:00:00Z",
    );
    create_opp(
        s,
        "OPP-3",
        "P-BETA",
        "A-GLOBEX",
        40_000,
        "2026-09-02T14:00:00Z",
    );
    let cmds = [
        json!({"key": "r1", "type": "register", "by": partner("P-ACME"), "opportunity": "OPP-1"}),
        json!({"key": "r2", "type": "register", "by": partner("P-BETA"), "opportunity": "OPP-2"}),
        json!({"key": "r3", "type": "register", "by": partner("P-BETA"), "opportunity": "OPP-3"}),
        json!({"key": "v2", "type": "review", "by": ops(), "opportunity": "OPP-2", "verdict": "approve"}),
        json!({"key": "a1", "type": "advance", "by": partner("P-ACME"), "opportunity": "OPP-1", "to": "SolutionDevelopment"}),
        json!({"key": "l1", "type": "log_activity", "by": partner("P-ACME"), "opportunity": "OPP-1", "kind": "meeting"}),
        json!({"key": "u2", "type": "update_opportunity", "by": partner("P-BETA"), "opportunity": "OPP-2", "fields": {"loss_reason": "budget"}}),
        json!({"key": "c2", "type": "close_lost", "by": partner("P-BETA"), "opportunity": "OPP-2"}),
        json!({"key": "w1", "type": "withdraw", "by": partner("P-ACME"), "opportunity": "OPP-1"}),
        json!({"type": "tick", "by": "system", "at": "2026-09-20T12:00:00Z"}),
    ];
    for (i, c) in cmds.into_iter().enumerate() {
        let at = format!("2026-09-03T{:02}:00:00Z", 13 + i % 8);
        let at = if i >= 8 {
            "2026-09-04T12:00:00Z".to_string()
        } else {
            at
        };
        s.submit(&c.to_string(), t(&at)).unwrap();
    }
}

#[test]
fn a_store_file_runs_in_wal_with_full_sync_and_foreign_keys() {
    let ts = TempStore::new();
    let s = &ts.store;
    assert_eq!(pragma(s, "journal_mode"), "wal");
    assert_eq!(pragma(s, "synchronous"), "2", "FULL");
    assert_eq!(pragma(s, "foreign_keys"), "1");
    assert_eq!(pragma(s, "busy_timeout"), "5000");
    assert_eq!(pragma(s, "user_version"), schema::VERSION.to_string());
    workload(s);
    // WAL is a property of the file: another connection reads it back.
    let raw = rusqlite::Connection::open(ts.path()).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(ts.dir.path().join("program.db-wal").exists());
    // Reopened, the settings are the same.
    drop(raw);
    let again = SqliteStore::open(&ts.path()).unwrap();
    assert_eq!(pragma(&again, "synchronous"), "2");
    assert_eq!(pragma(&again, "foreign_keys"), "1");
    // The benchmark-only durability is NORMAL (1).
    let normal = SqliteStore::open_with(&ts.path(), Durability::Normal).unwrap();
    assert_eq!(pragma(&normal, "synchronous"), "1");
    assert_eq!(pragma(&normal, "journal_mode"), "wal");
}

#[test]
fn a_file_from_a_newer_dealflow_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        seed(&s);
    }
    let newer = schema::VERSION + 1;
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.pragma_update(None, "user_version", newer).unwrap();
    }
    match SqliteStore::open(&path) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (newer, schema::VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(matches!(
        SqliteStore::open_existing(&path),
        Err(StoreError::SchemaTooNew { .. })
    ));
    // Nothing was migrated or dropped: the version and the data are as they were.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let v: usize = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, newer);
    let n: i64 = raw
        .query_row("SELECT count(*) FROM commands", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 5);
}

#[test]
fn open_existing_refuses_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    assert!(matches!(
        SqliteStore::open_existing(&path),
        Err(StoreError::Invalid(_))
    ));
    assert!(!path.exists());
}

#[test]
fn integrity_check_is_ok_after_a_workload_and_a_reopen() {
    let ts = TempStore::new();
    workload(&ts.store);
    assert_eq!(ts.store.integrity_check().unwrap(), "ok");
    let before = ts.store.dump().unwrap();
    drop(ts.store);
    let s = SqliteStore::open(&ts.dir.path().join("program.db")).unwrap();
    assert_eq!(s.integrity_check().unwrap(), "ok");
    assert_eq!(s.dump().unwrap(), before);
    let v = s.verify().unwrap();
    assert_eq!(v.first_broken, None);
    assert!(v.decisions > 10, "{v:?}");
}

fn tamper(path: &Path, sql: &str, seq: u64) {
    let raw = rusqlite::Connection::open(path).unwrap();
    // The tamperer does not care for the store's references.
    raw.pragma_update(None, "foreign_keys", "OFF").unwrap();
    let n = raw.execute(sql, [seq]).unwrap();
    assert_eq!(n, 1, "{sql}");
}

#[test]
fn verify_names_the_first_tampered_decision() {
    let ts = TempStore::new();
    workload(&ts.store);
    let all = ts
        .store
        .decisions(&Audience::Vendor, 0, usize::MAX)
        .unwrap();
    let n = all.len() as u64;
    let target = all.iter().find(|d| d.outcome == "approved").unwrap().seq;
    assert!(target > 1 && target < n);
    drop(ts.store);
    let path = ts.dir.path().join("program.db");

    // One decision's body edited in place (its outcome changed): that seq is named.
    tamper(&path, "UPDATE decisions SET body = replace(body, '\"outcome\":\"approved\"', '\"outcome\":\"denied\"') WHERE seq = ?1", target);
    let s = SqliteStore::open(&path).unwrap();
    let v = s.verify().unwrap();
    assert_eq!(v.first_broken, Some(target), "{v:?}");
    assert!(
        v.reason.as_deref().unwrap().contains("hash mismatch"),
        "{v:?}"
    );
    assert_eq!(v.decisions, target - 1);
    drop(s);

    // Recomputing the edited entry's hash does not help: the next link breaks.
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        let prev: String = raw
            .query_row(
                "SELECT hash FROM decisions WHERE seq = ?1",
                [target - 1],
                |r| r.get(0),
            )
            .unwrap();
        let body: String = raw
            .query_row("SELECT body FROM decisions WHERE seq = ?1", [target], |r| {
                r.get(0)
            })
            .unwrap();
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(hex::decode(prev).unwrap());
        h.update(body.as_bytes());
        let forged = hex::encode(h.finalize());
        raw.execute(
            "UPDATE decisions SET hash = ?2 WHERE seq = ?1",
            rusqlite::params![target, forged],
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.verify().unwrap().first_broken, Some(target + 1));
    drop(s);

    // A deleted entry is named as the gap.
    tamper(&path, "DELETE FROM decisions WHERE seq = ?1", 1);
    let s = SqliteStore::open(&path).unwrap();
    let v = s.verify().unwrap();
    assert_eq!(v.first_broken, Some(2), "{v:?}");
    assert!(v.reason.as_deref().unwrap().contains("missing"), "{v:?}");
}

/// The child side of the kill test: submits activities until killed, printing each
/// key once its command is acknowledged.
#[test]
fn child_writer_until_killed() {
    let Ok(path) = std::env::var("DEALFLOW_STORE_KILL_CHILD") else {
        return;
    };
    let s = SqliteStore::open(Path::new(&path)).unwrap();
    for i in 0.. {
        let key = format!("kill-{i}");
        let cmd = json!({"key": key, "type": "log_activity", "by": partner("P-ACME"), "opportunity": "OPP-1", "kind": "call"});
        let out = s
            .submit(&cmd.to_string(), t("2026-09-03T12:00:00Z"))
            .unwrap();
        assert!(!out.refused);
        println!("ACK {key}");
    }
}

#[test]
fn acknowledged_commands_survive_kill_9_of_the_writer() {
    let ts = TempStore::new();
    seed(&ts.store);
    create_opp(
        &ts.store,
        "OPP-1",
        "P-ACME",
        "A-GLOBEX",
        100_000,
        "2026-09-02T14:00:00Z",
    );
    drop(ts.store);
    let path = ts.dir.path().join("program.db");
    let mut child = Process::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writer_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DEALFLOW_STORE_KILL_CHILD", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < 40 {
        let line = lines
            .next()
            .expect("the child stopped before 40 acknowledgements")
            .unwrap();
        if let Some(k) = line.strip_prefix("ACK ") {
            acked.push(k.to_string());
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.integrity_check().unwrap(), "ok");
    assert_eq!(s.verify().unwrap().first_broken, None);
    let logged: Vec<String> = s
        .commands()
        .unwrap()
        .into_iter()
        .filter_map(|c| {
            serde_json::from_str::<serde_json::Value>(&c.raw).unwrap()["key"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    for k in &acked {
        assert!(logged.contains(k), "acknowledged {k} is lost");
    }
    // No half-applied command: every logged activity has its decision, event and
    // history entry, and nothing else.
    let activities = logged.iter().filter(|k| k.starts_with("kill-")).count();
    assert!(activities >= acked.len());
    let v = s.opportunity(&Audience::Vendor, "OPP-1").unwrap().unwrap();
    let events = v
        .events
        .iter()
        .filter(|e| e["type"] == "activity_logged")
        .count();
    assert_eq!(events, activities);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let history: String = raw
        .query_row(
            "SELECT history FROM opportunities WHERE id = 'OPP-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    let in_history = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["type"] == "activity")
        .count();
    assert_eq!(in_history, activities);
}
