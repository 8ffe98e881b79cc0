//! The schema, as an append-only list of migrations keyed by SQLite's
//! `user_version` (rusqlite_migration). Never edit a migration that has shipped:
//! add the next one.

use rusqlite_migration::{Migrations, M};

/// Version 1: the whole first schema.
const V1: &str = r#"
CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) STRICT;

CREATE TABLE policy_versions (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    command_seq INTEGER NOT NULL
) STRICT;
CREATE INDEX policy_versions_effective ON policy_versions (effective_from, id);

-- Every command that changed the store or was refused, in order; `raw` is the
-- command as received, `at` the instant it was decided at.
CREATE TABLE commands (
    seq INTEGER PRIMARY KEY,
    key TEXT,
    at TEXT NOT NULL,
    raw TEXT NOT NULL
) STRICT;

CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    command_seq INTEGER NOT NULL REFERENCES commands (seq),
    payload_hash TEXT NOT NULL
) STRICT;

-- The decision log: `hash = sha256(previous hash || body)`.
CREATE TABLE decisions (
    seq INTEGER PRIMARY KEY,
    command_seq INTEGER NOT NULL REFERENCES commands (seq),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    opportunity TEXT,
    lead TEXT,
    partner TEXT,
    policy_hash TEXT,
    body TEXT NOT NULL,
    partner_body TEXT,
    hash TEXT NOT NULL
) STRICT;
CREATE INDEX decisions_command ON decisions (command_seq);
CREATE INDEX decisions_opportunity ON decisions (opportunity);
CREATE INDEX decisions_partner ON decisions (partner);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    decision_seq INTEGER NOT NULL REFERENCES decisions (seq),
    at TEXT NOT NULL,
    opportunity TEXT,
    lead TEXT,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
) STRICT;
CREATE INDEX events_opportunity ON events (opportunity);

CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    name TEXT,
    doc TEXT NOT NULL
) STRICT;

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    direct INTEGER NOT NULL,
    key_domain TEXT,
    key_name TEXT,
    key_id TEXT NOT NULL
) STRICT;
CREATE INDEX accounts_domain ON accounts (key_domain);
CREATE INDEX accounts_name ON accounts (key_name);
CREATE INDEX accounts_key_id ON accounts (key_id);

CREATE TABLE opportunities (
    id TEXT PRIMARY KEY,
    partner TEXT,
    account TEXT NOT NULL REFERENCES accounts (id),
    stage TEXT NOT NULL,
    closed INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL,
    history TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX opportunities_partner ON opportunities (partner);
CREATE INDEX opportunities_account ON opportunities (account);

CREATE TABLE registrations (
    id TEXT PRIMARY KEY,
    opportunity TEXT NOT NULL REFERENCES opportunities (id),
    partner TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'returned', 'withdrawn', 'expired')),
    submitted_at TEXT NOT NULL,
    approved_at TEXT,
    decided_at TEXT,
    protected_until TEXT,
    extensions INTEGER NOT NULL DEFAULT 0,
    review_deadline TEXT,
    escalated_to TEXT,
    breached INTEGER NOT NULL DEFAULT 0,
    late INTEGER NOT NULL DEFAULT 0,
    decision_seq INTEGER NOT NULL
) STRICT;
CREATE INDEX registrations_opportunity ON registrations (opportunity, submitted_at);
CREATE INDEX registrations_live ON registrations (status) WHERE status IN ('pending', 'approved');

CREATE TABLE timers (
    id INTEGER PRIMARY KEY,
    due TEXT NOT NULL,
    kind TEXT NOT NULL,
    opportunity TEXT,
    registration TEXT,
    lead TEXT,
    data TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'fired', 'cancelled')),
    fired_seq INTEGER
) STRICT;
CREATE INDEX timers_due ON timers (due, id) WHERE state = 'due';
CREATE INDEX timers_registration ON timers (registration) WHERE state = 'due';
CREATE INDEX timers_lead ON timers (lead) WHERE state = 'due';

CREATE TABLE cosell_assignments (
    id INTEGER PRIMARY KEY,
    opportunity TEXT NOT NULL REFERENCES opportunities (id),
    pool TEXT NOT NULL,
    period TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    released_at TEXT,
    decision_seq INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX cosell_held ON cosell_assignments (opportunity, pool) WHERE released_at IS NULL;
CREATE INDEX cosell_usage ON cosell_assignments (pool, period) WHERE released_at IS NULL;

CREATE TABLE leads (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('offered', 'accepted', 'unrouted', 'exhausted')),
    offered_to TEXT,
    offered TEXT NOT NULL,
    reroutes INTEGER NOT NULL DEFAULT 0,
    reroute_at_most INTEGER,
    accept_by TEXT,
    opportunity TEXT,
    submitted_at TEXT NOT NULL
) STRICT;
CREATE INDEX leads_offered_to ON leads (offered_to);

CREATE TABLE commission (
    id INTEGER PRIMARY KEY,
    -- Booked before its decision row is appended, in the same savepoint.
    decision_seq INTEGER NOT NULL REFERENCES decisions (seq) DEFERRABLE INITIALLY DEFERRED,
    at TEXT NOT NULL,
    opportunity TEXT NOT NULL,
    partner TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('commission', 'rebate')),
    role TEXT,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL
) STRICT;
CREATE INDEX commission_partner ON commission (partner, at);
CREATE INDEX commission_at ON commission (at);
"#;

/// V2: API tokens for the decision service. Only a token's SHA-256 is kept; a
/// token grants one partner or one vendor role and is revoked by its id.
const V2: &str = r#"
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    partner TEXT,
    role TEXT CHECK (role IN ('channel_ops', 'admin', 'viewer')),
    name TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    CHECK ((partner IS NULL) <> (role IS NULL))
) STRICT;
CREATE INDEX opportunities_stage ON opportunities (stage, id);
CREATE INDEX registrations_partner ON registrations (partner, id);
CREATE INDEX decisions_kind ON decisions (kind, seq);
"#;

/// V3: an opportunity may have no account (CRM exports hold open deals that no
/// account was assigned to yet). SQLite cannot drop a NOT NULL constraint with
/// ALTER TABLE; removing one is the case its documentation allows by rewriting
/// the table's definition in `sqlite_schema` (lang_altertable.html, "making other
/// kinds of table schema changes"), with `schema_version` bumped so every
/// connection reloads it. No row changes, so no index or key needs rebuilding.
const V3: &str = "SELECT 1;";

const ACCOUNT_NOT_NULL: &str = "account TEXT NOT NULL REFERENCES accounts (id)";
const ACCOUNT_NULLABLE: &str = "account TEXT REFERENCES accounts (id)";

fn v3_hook(tx: &rusqlite::Transaction<'_>) -> rusqlite_migration::HookResult {
    let sql: String = tx.query_row(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'opportunities'",
        [],
        |r| r.get(0),
    )?;
    if !sql.contains(ACCOUNT_NOT_NULL) {
        return Err(rusqlite_migration::HookError::Hook(
            "opportunities.account is not declared as version 1 declared it".into(),
        ));
    }
    let version: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    tx.execute_batch("PRAGMA writable_schema = ON")?;
    tx.execute(
        "UPDATE sqlite_schema SET sql = ?1 WHERE type = 'table' AND name = 'opportunities'",
        [sql.replace(ACCOUNT_NOT_NULL, ACCOUNT_NULLABLE)],
    )?;
    tx.execute_batch(&format!(
        "PRAGMA schema_version = {}; PRAGMA writable_schema = OFF;",
        version.saturating_add(1)
    ))?;
    let ok: String = tx.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        return Err(rusqlite_migration::HookError::Hook(format!(
            "integrity check after the schema change: {ok}"
        )));
    }
    Ok(())
}

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1), M::up(V2), M::up_with_hook(V3, v3_hook)])
}

/// The number of migrations: the schema version this binary writes.
pub const VERSION: usize = 3;
