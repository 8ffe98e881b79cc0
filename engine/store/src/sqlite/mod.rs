//! The SQLite backend: one writer connection, WAL, `synchronous=FULL`, each
//! command in a `BEGIN IMMEDIATE` transaction (a batch: one transaction, a savepoint
//! per command).

mod apply;
mod lists;
mod queries;
mod scan;
pub mod schema;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use dealflow_engine::Policy;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::{Audience, Logged, StoreError, Submitted};

/// An instant as stored: RFC 3339 in UTC with nine fractional digits, so that text
/// order is time order (years 1..=9999).
pub fn ts(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let n = t.naive_utc();
    let nanos = n.nanosecond();
    if !(0..=9999).contains(&n.year()) || nanos >= 1_000_000_000 {
        // Outside four-digit years, or a leap second: chrono's own rendering.
        return t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string();
    }
    // The same text as `%Y-%m-%dT%H:%M:%S%.9fZ`, without parsing a format string
    // on every call (the store writes several instants per command).
    let mut s = String::with_capacity(30);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        n.year(),
        n.month(),
        n.day(),
        n.hour(),
        n.minute(),
        n.second()
    );
    s
}

/// Reads a stored instant.
pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("stored instant `{s}`: {e}")))
}

/// How the store syncs a commit to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: an acknowledged decision survives a power loss.
    Full,
    /// `synchronous=NORMAL`: survives a crash of the process, not of the machine
    /// (for benchmarks and throwaway stores only).
    Normal,
}

/// Replaces one policy version with a candidate (replay's what-if).
#[derive(Clone)]
pub(crate) struct Substitute {
    pub replaces: String,
    pub policy: Arc<Policy>,
}

/// Read-only connections a file store opens beside its writer.
const READERS: usize = 4;

/// The SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Read-only connections to the same file (WAL: readers never wait for the
    /// writer); empty for a store in memory, whose reads use `conn`.
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
    policies: Mutex<HashMap<String, Arc<Policy>>>,
    substitute: Option<Substitute>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) a store file: pragmas, then migrations, refusing a
    /// file written by a newer dealflow.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, Durability::Full)
    }

    /// [`SqliteStore::open`] with a chosen durability.
    pub fn open_with(path: &Path, durability: Durability) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A store must exist on disk and be ours; an empty file is a new store.
        let mut store = Self::init(conn, true, durability)?;
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_millis(5000))?;
            r.pragma_update(None, "temp_store", "MEMORY")?;
            r.set_prepared_statement_cache_capacity(64);
            store.readers.push(Mutex::new(r));
        }
        Ok(store)
    }

    /// Opens an existing store file, refusing to create one.
    pub fn open_existing(path: &Path) -> Result<SqliteStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::Invalid(format!(
                "no store at `{}`; create one with `dealflow init`",
                path.display()
            )));
        }
        Self::open(path)
    }

    /// A store in memory (the demo, replay, tests of logic that needs no file).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory()?, false, Durability::Full)
    }

    fn init(
        mut conn: Connection,
        file: bool,
        durability: Durability,
    ) -> Result<SqliteStore, StoreError> {
        // Another process holding a lock is waited for, up to 5 s: set first, so that
        // switching a new file to WAL and migrating it wait too.
        conn.busy_timeout(std::time::Duration::from_millis(5000))?;
        // Pragmas outside any transaction.
        if file {
            // Readers never block the writer, and a commit is one append to the WAL.
            // Switching a new file to WAL needs its exclusive lock, and SQLite answers
            // "busy" at once (without the busy handler) while another connection is
            // opening it too: retry for as long as the busy timeout.
            let started = std::time::Instant::now();
            let mode: String = loop {
                match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)) {
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::DatabaseBusy
                            && started.elapsed() < std::time::Duration::from_millis(5000) =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    r => break r?,
                }
            };
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Invalid(format!(
                    "the store needs WAL journaling; SQLite kept `{mode}`"
                )));
            }
        }
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Savepoint journals and sort spills stay in memory instead of temp files.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        let found: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if found > schema::VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: schema::VERSION,
            });
        }
        if found < schema::VERSION {
            // Check again under the write lock: another process may have migrated the
            // file since.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let found: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            tx.commit()?;
            if found < schema::VERSION {
                // The migration's own transaction takes the write lock at its start
                // (waiting for another connection that is migrating); if that one got
                // there first, ours fails on the existing tables and the file is at
                // the version anyway.
                conn.set_transaction_behavior(TransactionBehavior::Immediate);
                let migrated = schema::migrations().to_latest(&mut conn);
                conn.set_transaction_behavior(TransactionBehavior::Deferred);
                if let Err(e) = migrated {
                    let now: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                    if now != schema::VERSION {
                        return Err(e.into());
                    }
                }
            }
        }
        conn.set_prepared_statement_cache_capacity(64);
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            readers: Vec::new(),
            next_reader: std::sync::atomic::AtomicUsize::new(0),
            policies: Mutex::new(HashMap::new()),
            substitute: None,
        })
    }

    /// Decides with `candidate` wherever the version with hash `replaces` is in force
    /// (replay's what-if; nothing else changes).
    pub fn with_candidate(mut self, replaces: String, candidate: Policy) -> SqliteStore {
        self.substitute = Some(Substitute {
            replaces,
            policy: Arc::new(candidate),
        });
        self
    }

    /// A connection for a read: a free reader if one is, else the next in turn.
    fn read(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        if self.readers.is_empty() {
            return self.lock();
        }
        for r in &self.readers {
            if let Ok(g) = r.try_lock() {
                return Ok(g);
            }
        }
        let i = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % self.readers.len();
        self.readers[i]
            .lock()
            .map_err(|_| StoreError::Invalid("a read connection was poisoned".into()))
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Invalid("the store's connection was poisoned".into()))
    }

    /// The hash of the most recently published policy version, if any.
    pub fn latest_policy_hash(&self) -> Result<Option<String>, StoreError> {
        let conn = self.read()?;
        queries::latest_policy_hash(&conn)
    }

    /// The compiled policy version in force at `at`.
    pub fn policy_at(&self, at: DateTime<Utc>) -> Result<Option<Arc<Policy>>, StoreError> {
        let conn = self.lock()?;
        apply::policy_at(&conn, &self.policies, self.substitute.as_ref(), at)
    }

    /// Every opportunity's id and whether it is closed (for analytics and replay).
    pub fn opportunity_ids(&self) -> Result<Vec<(String, bool)>, StoreError> {
        let conn = self.read()?;
        queries::opportunity_ids(&conn)
    }

    /// Evaluates (`evaluate`) an opportunity as it stands at `at`, as the vendor sees
    /// it; `None` when there is no such opportunity or no policy in force.
    pub fn evaluate(
        &self,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<dealflow_engine::Decision>, StoreError> {
        let conn = self.read()?;
        apply::evaluate_now(&conn, &self.policies, self.substitute.as_ref(), id, at)
    }

    /// A table's rows as text, for tests that compare the whole store before and after.
    pub fn dump(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.lock()?;
        queries::dump(&conn)
    }

    /// Runs `PRAGMA integrity_check`; `ok` when the file is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let conn = self.lock()?;
        Ok(conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// The connection's settings as SQLite reports them: `journal_mode`,
    /// `synchronous` (2 is FULL, 1 NORMAL), `foreign_keys`, `busy_timeout` (ms) and
    /// `user_version` (the durability tests and `doctor`-style reports).
    pub fn pragmas(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.lock()?;
        let mut out = Vec::new();
        for p in [
            "journal_mode",
            "synchronous",
            "foreign_keys",
            "busy_timeout",
            "user_version",
        ] {
            let v: rusqlite::types::Value =
                conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))?;
            let v = match v {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(s) => s,
                other => format!("{other:?}"),
            };
            out.push((p.to_string(), v));
        }
        Ok(out)
    }

    /// Counts of rows per table (the store-size report).
    pub fn counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.read()?;
        queries::counts(&conn)
    }
}

impl crate::Store for SqliteStore {
    fn submit(&self, command: &str, now: DateTime<Utc>) -> Result<Submitted, StoreError> {
        let mut out = self.submit_batch(&[(command, now)])?;
        out.pop()
            .ok_or_else(|| StoreError::Invalid("no answer for the command".into()))
    }

    fn submit_batch(
        &self,
        commands: &[(&str, DateTime<Utc>)],
    ) -> Result<Vec<Submitted>, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut answers = Vec::with_capacity(commands.len());
        for (raw, now) in commands {
            answers.push(apply::apply(
                &tx,
                &self.policies,
                self.substitute.as_ref(),
                raw,
                *now,
            )?);
        }
        tx.commit()?;
        Ok(answers)
    }

    fn opportunity(
        &self,
        audience: &Audience,
        id: &str,
    ) -> Result<Option<crate::OpportunityView>, StoreError> {
        let conn = self.read()?;
        queries::opportunity(&conn, audience, id)
    }

    fn queue(
        &self,
        audience: &Audience,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::QueueEntry>, StoreError> {
        let conn = self.read()?;
        let policy = apply::policy_at(&conn, &self.policies, self.substitute.as_ref(), now)?;
        queries::queue(&conn, audience, now, policy.as_deref())
    }

    fn expiring(
        &self,
        audience: &Audience,
        now: DateTime<Utc>,
        within: chrono::Duration,
    ) -> Result<Vec<crate::RegistrationView>, StoreError> {
        let conn = self.read()?;
        queries::expiring(&conn, audience, now, within)
    }

    fn decisions(
        &self,
        audience: &Audience,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Logged>, StoreError> {
        let conn = self.read()?;
        queries::decisions(&conn, audience, after, limit)
    }

    fn commission(
        &self,
        audience: &Audience,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::CommissionLine>, StoreError> {
        let conn = self.read()?;
        queries::commission(&conn, audience, from, to)
    }

    fn verify(&self) -> Result<crate::Verify, StoreError> {
        let conn = self.read()?;
        queries::verify(&conn)
    }

    fn commands(&self) -> Result<Vec<crate::LoggedCommand>, StoreError> {
        let conn = self.read()?;
        queries::commands(&conn)
    }

    fn opportunities(
        &self,
        audience: &Audience,
        q: &crate::ListQuery,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::OpportunitySummary>, StoreError> {
        let conn = self.read()?;
        let want = q.limit.clamp(1, 1000);
        let Some(flag) = q.flag.as_deref() else {
            let page = i64::try_from(want).unwrap_or(1000);
            return lists::opportunities(
                &conn,
                audience,
                q,
                q.after.as_deref().unwrap_or(""),
                page,
            );
        };
        // A flag is the engine's verdict at `now`: evaluate candidates page by page
        // until the page is full or the candidates run out.
        let mut out = Vec::new();
        let mut after = q.after.clone().unwrap_or_default();
        loop {
            let batch = lists::opportunities(&conn, audience, q, &after, 200)?;
            let Some(last) = batch.last() else {
                return Ok(out);
            };
            after = last.id.clone();
            for o in batch {
                let d = apply::evaluate_now(
                    &conn,
                    &self.policies,
                    self.substitute.as_ref(),
                    &o.id,
                    now,
                )?;
                if d.is_some_and(|d| d.flags.iter().any(|f| f == flag)) {
                    out.push(o);
                    if out.len() == want {
                        return Ok(out);
                    }
                }
            }
        }
    }

    fn registrations(
        &self,
        audience: &Audience,
        q: &crate::ListQuery,
    ) -> Result<Vec<crate::RegistrationView>, StoreError> {
        let conn = self.read()?;
        lists::registrations(&conn, audience, q)
    }

    fn leads(
        &self,
        audience: &Audience,
        q: &crate::ListQuery,
    ) -> Result<Vec<crate::LeadView>, StoreError> {
        let conn = self.read()?;
        lists::leads(&conn, audience, q)
    }

    fn lead(&self, audience: &Audience, id: &str) -> Result<Option<crate::LeadView>, StoreError> {
        let conn = self.read()?;
        lists::lead(&conn, audience, id)
    }

    fn decision(&self, audience: &Audience, seq: u64) -> Result<Option<Logged>, StoreError> {
        let conn = self.read()?;
        lists::decision(&conn, audience, seq)
    }

    fn decisions_where(
        &self,
        audience: &Audience,
        q: &crate::ListQuery,
    ) -> Result<Vec<Logged>, StoreError> {
        let conn = self.read()?;
        lists::decisions_where(&conn, audience, q)
    }

    fn scan_opportunities(
        &self,
        audience: &Audience,
        f: &mut dyn for<'r> FnMut(&crate::OpportunityRow<'r>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.read()?;
        scan::opportunities(&conn, audience, f)
    }

    fn scan_registrations(
        &self,
        audience: &Audience,
        f: crate::Visitor<'_, crate::RegistrationView>,
    ) -> Result<(), StoreError> {
        let conn = self.read()?;
        scan::registrations(&conn, audience, f)
    }

    fn scan_register_decisions(
        &self,
        audience: &Audience,
        f: &mut dyn for<'r> FnMut(&crate::RegisterDecision<'r>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.read()?;
        scan::register_decisions(&conn, audience, f)
    }

    fn partners(&self, audience: &Audience) -> Result<Vec<crate::PartnerRow>, StoreError> {
        let conn = self.read()?;
        scan::partners(&conn, audience)
    }

    fn accounts(&self, audience: &Audience) -> Result<Vec<crate::AccountRow>, StoreError> {
        let conn = self.read()?;
        scan::accounts(&conn, audience)
    }

    fn policy_versions(&self) -> Result<Vec<crate::PolicyVersion>, StoreError> {
        let conn = self.read()?;
        lists::policy_versions(&conn)
    }

    fn policy_by_hash(&self, hash: &str) -> Result<Option<Arc<Policy>>, StoreError> {
        let conn = self.read()?;
        apply::policy_by_hash(&conn, &self.policies, hash)
    }

    fn create_token(
        &self,
        grant: &crate::Grant,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(String, String), StoreError> {
        let conn = self.lock()?;
        lists::create_token(&conn, grant, name, now)
    }

    fn authenticate(&self, secret: &str) -> Result<Option<(String, crate::Grant)>, StoreError> {
        let conn = self.read()?;
        lists::authenticate(&conn, secret)
    }

    fn revoke_token(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let conn = self.lock()?;
        lists::revoke_token(&conn, id, now)
    }

    fn tokens(&self) -> Result<Vec<crate::TokenInfo>, StoreError> {
        let conn = self.read()?;
        lists::tokens(&conn)
    }

    fn submit_batch_shadowed(
        &self,
        commands: &[(&str, DateTime<Utc>)],
        candidate: &Arc<Policy>,
    ) -> Result<Vec<(Submitted, Option<Submitted>)>, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut answers = Vec::with_capacity(commands.len());
        for (raw, now) in commands {
            // The candidate stands in for whichever version is in force at the
            // command's instant, inside a savepoint that is rolled back.
            let in_force = apply::policy_at(&tx, &self.policies, None, *now)?;
            let shadow = match in_force {
                None => None,
                Some(p) => {
                    let sub = Substitute {
                        replaces: p.hash().to_string(),
                        policy: candidate.clone(),
                    };
                    tx.execute_batch("SAVEPOINT shadow")?;
                    let out = apply::apply(&tx, &self.policies, Some(&sub), raw, *now);
                    tx.execute_batch("ROLLBACK TO shadow; RELEASE shadow")?;
                    Some(out?)
                }
            };
            let applied = apply::apply(&tx, &self.policies, self.substitute.as_ref(), raw, *now)?;
            answers.push((applied, shadow));
        }
        tx.commit()?;
        Ok(answers)
    }
}

/// Working seconds between two instants on `policy`'s business calendar (wall-clock
/// seconds without one); 0 when `to <= from`. The SLA clock's own measure.
pub fn business_seconds(policy: &Policy, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    apply::working_seconds(policy, from, to)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    proptest! {
        /// The fast path writes exactly what chrono's format string writes.
        #[test]
        fn ts_matches_the_format_string(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let t = Utc.timestamp_opt(secs, nanos).unwrap();
            prop_assert_eq!(ts(t), t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string());
        }
    }
}
