//! One command: read it, check idempotency, decide with the policy version in force
//! at its instant, write events and projections, append the decisions to the log.
//! Everything a command writes happens inside a savepoint of the caller's
//! `BEGIN IMMEDIATE` transaction; a refused command rolls its savepoint back and
//! logs only the command and its refusal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use dealflow_dsl::ir::{self, ConflictKind, ExprKind, RecordKind, StageKind, Type};
use dealflow_dsl::SourceFile;
use dealflow_engine::identity::normalize_key;
use dealflow_engine::{Action, Audience, Context, Decision, Outcome, Policy, Record};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{parse_ts, ts, Substitute};
use crate::command::{
    self, canonical, payload_hash, Actor, Body, Command, Envelope, Role, Verdict,
};
use crate::{Logged, StoreError, Submitted};

/// Why a command did not go through.
enum Fail {
    Refused(String),
    /// Refused because the record is unknown to the one who asked (or belongs to
    /// another partner, which the asker must not learn).
    NotFound(String),
    Store(StoreError),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Fail {
        Fail::Store(StoreError::Sql(e))
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        Fail::Store(e)
    }
}

type Res<T> = Result<T, Fail>;

fn refuse<T>(msg: impl Into<String>) -> Res<T> {
    Err(Fail::Refused(msg.into()))
}

fn not_found<T>(msg: impl Into<String>) -> Res<T> {
    Err(Fail::NotFound(msg.into()))
}

/// A routing: the decision, the partner offered, its acceptance deadline and the
/// policy's reroute limit.
type Routed = (Decision, Option<String>, Option<DateTime<Utc>>, Option<u32>);
/// A lead row: document, status, offered to, partners offered so far, reroutes.
type LeadRow = (Value, String, Option<String>, Vec<String>, u32);
/// A timer row: id, due, kind, opportunity, registration, lead, data.
type TimerRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

/// `execute` through the prepared-statement cache.
trait CachedExecute {
    fn prepare_cached_execute<P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
    ) -> rusqlite::Result<usize>;
}

impl CachedExecute for Connection {
    fn prepare_cached_execute<P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
    ) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }
}

/// An event: what became true because of a decision.
struct Ev {
    kind: &'static str,
    at: DateTime<Utc>,
    opportunity: Option<String>,
    lead: Option<String>,
    data: Map<String, Value>,
    /// Shown to the partner who owns the opportunity or holds the lead offer.
    partner_visible: bool,
}

/// One decision about to be logged.
#[derive(Default)]
struct Out {
    kind: &'static str,
    outcome: String,
    opportunity: Option<String>,
    lead: Option<String>,
    /// The partner who may see this decision (its partner view).
    partner: Option<String>,
    policy: Option<String>,
    decision: Option<Value>,
    partner_decision: Option<Value>,
    events: Vec<Ev>,
    /// The body carries the events' count and SHA-256 instead of the events (an
    /// import's thousands of events are in the events table; the chain still
    /// covers them through the digest).
    digest_events: bool,
    message: Option<String>,
    extra: Map<String, Value>,
}

fn ev(kind: &'static str, at: DateTime<Utc>, opp: Option<&str>, data: Value) -> Ev {
    Ev {
        kind,
        at,
        opportunity: opp.map(str::to_string),
        lead: None,
        data: match data {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        partner_visible: true,
    }
}

/// The compiled policy version in force at `at`.
pub(super) fn policy_at(
    conn: &Connection,
    cache: &Mutex<HashMap<String, Arc<Policy>>>,
    sub: Option<&Substitute>,
    at: DateTime<Utc>,
) -> Result<Option<Arc<Policy>>, StoreError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT id, hash FROM policy_versions WHERE effective_from <= ?1
             ORDER BY effective_from DESC, id DESC LIMIT 1",
        )?
        .query_row([ts(at)], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((id, hash)) = row else {
        return Ok(None);
    };
    if let Some(s) = sub.filter(|s| s.replaces == hash) {
        return Ok(Some(s.policy.clone()));
    }
    compiled(conn, cache, id, hash).map(Some)
}

/// The published version with this hash, compiled (cached).
pub(super) fn policy_by_hash(
    conn: &Connection,
    cache: &Mutex<HashMap<String, Arc<Policy>>>,
    hash: &str,
) -> Result<Option<Arc<Policy>>, StoreError> {
    let id: Option<i64> = conn
        .prepare_cached("SELECT id FROM policy_versions WHERE hash = ?1 ORDER BY id LIMIT 1")?
        .query_row([hash], |r| r.get(0))
        .optional()?;
    match id {
        None => Ok(None),
        Some(id) => compiled(conn, cache, id, hash.to_string()).map(Some),
    }
}

fn compiled(
    conn: &Connection,
    cache: &Mutex<HashMap<String, Arc<Policy>>>,
    id: i64,
    hash: String,
) -> Result<Arc<Policy>, StoreError> {
    let mut cache = cache
        .lock()
        .map_err(|_| StoreError::Invalid("the policy cache was poisoned".into()))?;
    if let Some(p) = cache.get(&hash) {
        return Ok(p.clone());
    }
    let (name, source): (String, String) = conn.query_row(
        "SELECT name, source FROM policy_versions WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let policy = Policy::compile(&SourceFile::new(name.clone(), source)).map_err(|e| {
        StoreError::Corrupt(format!(
            "stored policy version {id} (`{name}`) does not compile: {e}"
        ))
    })?;
    let policy = Arc::new(policy);
    cache.insert(hash, policy.clone());
    Ok(policy)
}

/// Applies one command inside the caller's transaction.
pub(super) fn apply(
    tx: &Transaction<'_>,
    cache: &Mutex<HashMap<String, Arc<Policy>>>,
    sub: Option<&Substitute>,
    raw: &str,
    now: DateTime<Utc>,
) -> Result<Submitted, StoreError> {
    let raw = raw.trim_end_matches(['\r', '\n']);
    let value: Result<Value, String> =
        serde_json::from_str(raw).map_err(|e| format!("the command is not valid JSON: {e}"));
    let (cmd, hash) = match value {
        Ok(v) => {
            let hash = payload_hash(&v);
            (
                Command::from_owned(v).map_err(|e| (e.message, e.envelope)),
                hash,
            )
        }
        Err(e) => (Err((e, Envelope::default())), String::new()),
    };
    let cmd = match cmd {
        Ok(c) => c,
        Err((message, env)) => {
            let at = env.at.unwrap_or(now);
            return log_refusal_keyless(tx, raw, &env, at, message);
        }
    };
    let at = cmd.at.unwrap_or(now);
    let key = if cmd.key.is_empty() {
        format!("tick@{}", ts(at))
    } else {
        cmd.key.clone()
    };
    let env = Envelope {
        key: Some(key.clone()),
        at: Some(at),
        by: Some(cmd.by.to_json()),
        kind: Some(cmd.body.type_name().into()),
    };
    // Idempotency, in the same transaction as the decision.
    let prior: Option<(i64, String)> = tx
        .prepare_cached("SELECT command_seq, payload_hash FROM idempotency WHERE key = ?1")?
        .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((seq, prior_hash)) = prior {
        if prior_hash == hash {
            let decisions = logged_of(tx, seq)?;
            let refused = decisions.iter().any(|d| d.outcome == "refused");
            return Ok(Submitted {
                decisions,
                repeated: true,
                refused,
                reused_key: false,
            });
        }
        let mut out = log_refusal_keyless(
            tx,
            raw,
            &env,
            at,
            format!(
                "idempotency key `{key}` was already used by command {seq} with another payload; \
                 use a new key for a new command"
            ),
        )?;
        out.reused_key = true;
        return Ok(out);
    }
    if let Some(last) = last_instant(tx)? {
        if at < last && matches!(cmd.body, Body::Tick) {
            // Time has already passed this instant: an old tick has nothing to fire
            // (a resubmitted stream may carry ticks that fired nothing before).
            return Ok(Submitted {
                decisions: Vec::new(),
                repeated: false,
                refused: false,
                reused_key: false,
            });
        }
        if at < last {
            return log_refusal_keyless(
                tx,
                raw,
                &env,
                at,
                format!(
                    "the command's instant {} is before the store's latest instant {}; commands are applied in time order",
                    ts(at),
                    ts(last)
                ),
            );
        }
    }
    let policy = policy_at(tx, cache, sub, at)?;
    let sp = tx.unchecked_transaction_savepoint()?;
    let cmd_seq = insert_command(&sp, &key, at, raw)?;
    sp.prepare_cached_execute(
        "INSERT INTO idempotency (key, command_seq, payload_hash) VALUES (?1, ?2, ?3)",
        params![key, cmd_seq, hash],
    )?;
    let next_seq = next_decision_seq(&sp)?;
    let mut cx = Cx {
        conn: &sp,
        policy,
        at,
        by: &cmd.by,
        next_seq,
        outs: Vec::new(),
    };
    let result = cx.run(&cmd);
    let outs = std::mem::take(&mut cx.outs);
    match result {
        Ok(()) if outs.is_empty() => {
            // Nothing happened (a tick with nothing due): nothing is written.
            drop(sp);
            Ok(Submitted {
                decisions: Vec::new(),
                repeated: false,
                refused: false,
                reused_key: false,
            })
        }
        Ok(()) => {
            let logged = append(&sp, cmd_seq, &env, at, outs)?;
            sp.commit()?;
            Ok(Submitted {
                decisions: logged,
                repeated: false,
                refused: false,
                reused_key: false,
            })
        }
        Err(Fail::Store(e)) => Err(e),
        Err(Fail::Refused(message)) => {
            drop(sp);
            log_refused(tx, &env, &cmd, &hash, raw, message, false)
        }
        Err(Fail::NotFound(message)) => {
            drop(sp);
            log_refused(tx, &env, &cmd, &hash, raw, message, true)
        }
    }
}

/// Logs a command the store refused after reading it (its own savepoint, with its
/// idempotency key, so a retry gets the same refusal).
fn log_refused(
    tx: &Transaction<'_>,
    env: &Envelope,
    cmd: &Command,
    hash: &str,
    raw: &str,
    message: String,
    not_found: bool,
) -> Result<Submitted, StoreError> {
    let key = env.key.as_deref().unwrap_or("");
    let at = env.at.unwrap_or_default();
    let sp = tx.unchecked_transaction_savepoint()?;
    let cmd_seq = insert_command(&sp, key, at, raw)?;
    sp.prepare_cached_execute(
        "INSERT INTO idempotency (key, command_seq, payload_hash) VALUES (?1, ?2, ?3)",
        params![key, cmd_seq, hash],
    )?;
    let mut out = refusal_out(cmd, message);
    if not_found {
        out.extra.insert("not_found".into(), Value::Bool(true));
    }
    let logged = append(&sp, cmd_seq, env, at, vec![out])?;
    sp.commit()?;
    Ok(Submitted {
        decisions: logged,
        repeated: false,
        refused: true,
        reused_key: false,
    })
}

/// A savepoint over a transaction borrowed immutably (rusqlite's `savepoint` wants
/// `&mut`); rolled back on drop unless committed.
trait SavepointExt {
    fn unchecked_transaction_savepoint(&self) -> rusqlite::Result<Sp<'_>>;
}

impl SavepointExt for Transaction<'_> {
    fn unchecked_transaction_savepoint(&self) -> rusqlite::Result<Sp<'_>> {
        self.execute_batch("SAVEPOINT cmd")?;
        Ok(Sp {
            conn: self,
            done: false,
        })
    }
}

struct Sp<'c> {
    conn: &'c Connection,
    done: bool,
}

impl std::ops::Deref for Sp<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Sp<'_> {
    fn commit(mut self) -> rusqlite::Result<()> {
        self.done = true;
        self.conn.execute_batch("RELEASE cmd")
    }
}

impl Drop for Sp<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Nothing to do about a failure here: the enclosing transaction then fails
            // at commit, and nothing of this command is kept.
            let _ = self.conn.execute_batch("ROLLBACK TO cmd; RELEASE cmd");
        }
    }
}

fn refusal_out(cmd: &Command, message: String) -> Out {
    Out {
        kind: "refusal",
        outcome: "refused".into(),
        opportunity: cmd.body.opportunity().map(str::to_string),
        partner: cmd.by.partner().map(str::to_string),
        message: Some(message),
        ..Out::default()
    }
}

/// Logs a command that was refused before it could be read or checked (no
/// idempotency row: the key, if any, stays free or keeps its first command).
fn log_refusal_keyless(
    tx: &Transaction<'_>,
    raw: &str,
    env: &Envelope,
    at: DateTime<Utc>,
    message: String,
) -> Result<Submitted, StoreError> {
    // The command is logged with the instant it came with (so that replaying the
    // log refuses it again, for the same reason), its refusal at the store's latest
    // instant (the decision log stays in time order).
    let sp = tx.unchecked_transaction_savepoint()?;
    let cmd_seq = insert_command(&sp, env.key.as_deref().unwrap_or(""), at, raw)?;
    let at = match last_instant(&sp)? {
        Some(last) if at < last => last,
        _ => at,
    };
    let partner = env
        .by
        .as_ref()
        .and_then(|b| b.get("partner"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let out = Out {
        kind: "refusal",
        outcome: "refused".into(),
        partner,
        message: Some(message),
        ..Out::default()
    };
    let logged = append(&sp, cmd_seq, env, at, vec![out])?;
    sp.commit()?;
    Ok(Submitted {
        decisions: logged,
        repeated: false,
        refused: true,
        reused_key: false,
    })
}

fn insert_command(
    conn: &Connection,
    key: &str,
    at: DateTime<Utc>,
    raw: &str,
) -> Result<i64, StoreError> {
    conn.prepare_cached("INSERT INTO commands (key, at, raw) VALUES (?1, ?2, ?3)")?
        .execute(params![(!key.is_empty()).then_some(key), ts(at), raw])?;
    Ok(conn.last_insert_rowid())
}

/// The store's latest instant: that of its latest decision (a command refused for
/// coming too late keeps its own, earlier, instant in the command log).
fn last_instant(conn: &Connection) -> Result<Option<DateTime<Utc>>, StoreError> {
    let s: Option<String> = conn
        .prepare_cached("SELECT at FROM decisions ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    s.map(|s| parse_ts(&s)).transpose()
}

fn next_decision_seq(conn: &Connection) -> Result<u64, StoreError> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT seq FROM decisions ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(u64::try_from(last.unwrap_or(0)).unwrap_or(0) + 1)
}

fn logged_of(conn: &Connection, cmd_seq: i64) -> Result<Vec<Logged>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT seq, outcome, body, partner, partner_body, kind FROM decisions WHERE command_seq = ?1 ORDER BY seq",
    )?;
    let rows = st.query_map([cmd_seq], |r| {
        Ok(Logged {
            seq: r.get::<_, i64>(0)?.try_into().unwrap_or(0),
            outcome: r.get(1)?,
            json: r.get(2)?,
            partner: r.get(3)?,
            partner_json: r.get(4)?,
            kind: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The hash of a log entry: `sha256(previous hash || body)`; the first entry's
/// previous hash is 32 zero bytes.
pub(crate) fn chain_hash(prev_hex: Option<&str>, body: &str) -> String {
    let mut h = Sha256::new();
    let prev = prev_hex
        .and_then(|p| hex::decode(p).ok())
        .unwrap_or_else(|| vec![0u8; 32]);
    h.update(&prev);
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// `{"count": N, "sha256": H}` with H the SHA-256 of the events' canonical JSON,
/// one per line.
fn events_digest(events: &[Ev]) -> Value {
    let mut h = Sha256::new();
    for e in events {
        h.update(canonical(&event_json(e)).as_bytes());
        h.update(b"\n");
    }
    json!({ "count": events.len(), "sha256": hex::encode(h.finalize()) })
}

fn event_json(e: &Ev) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), e.kind.into());
    m.insert("at".into(), ts(e.at).into());
    for (k, v) in &e.data {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

fn append(
    conn: &Connection,
    cmd_seq: i64,
    env: &Envelope,
    at: DateTime<Utc>,
    outs: Vec<Out>,
) -> Result<Vec<Logged>, StoreError> {
    let mut prev: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM decisions ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let mut logged = Vec::with_capacity(outs.len());
    for out in outs {
        let seq = prev.as_ref().map_or(1, |p| p.0 + 1);
        let command = json!({
            "seq": cmd_seq,
            "key": env.key,
            "type": env.kind,
            "by": env.by,
        });
        let events: Vec<Value> = if out.digest_events {
            Vec::new()
        } else {
            out.events.iter().map(event_json).collect()
        };
        let mut body = Map::new();
        body.insert("seq".into(), seq.into());
        body.insert("command".into(), command.clone());
        body.insert("at".into(), ts(at).into());
        body.insert("kind".into(), out.kind.into());
        body.insert("outcome".into(), out.outcome.clone().into());
        body.insert("policy".into(), out.policy.clone().into());
        body.insert("opportunity".into(), out.opportunity.clone().into());
        body.insert("lead".into(), out.lead.clone().into());
        body.insert("message".into(), out.message.clone().into());
        for (k, v) in &out.extra {
            body.insert(k.clone(), v.clone());
        }
        let mut partner_body = body.clone();
        body.insert(
            "decision".into(),
            out.decision.clone().unwrap_or(Value::Null),
        );
        if out.digest_events {
            body.insert("events".into(), events_digest(&out.events));
        } else {
            body.insert("events".into(), Value::Array(events));
        }
        let body_text = canonical(&Value::Object(body));
        let partner_text = out.partner.as_ref().map(|_| {
            partner_body.insert(
                "decision".into(),
                out.partner_decision
                    .clone()
                    .or_else(|| out.decision.clone())
                    .unwrap_or(Value::Null),
            );
            let evs: Vec<Value> = out
                .events
                .iter()
                .filter(|e| e.partner_visible)
                .map(event_json)
                .collect();
            partner_body.insert("events".into(), Value::Array(evs));
            canonical(&Value::Object(partner_body))
        });
        let hash = chain_hash(prev.as_ref().map(|p| p.1.as_str()), &body_text);
        conn.prepare_cached(
            "INSERT INTO decisions (seq, command_seq, at, kind, outcome, opportunity, lead, partner,
             policy_hash, body, partner_body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            seq,
            cmd_seq,
            ts(at),
            out.kind,
            out.outcome,
            out.opportunity,
            out.lead,
            out.partner,
            out.policy,
            body_text,
            partner_text,
            hash
        ])?;
        let mut st = conn.prepare_cached(
            "INSERT INTO events (decision_seq, at, opportunity, lead, kind, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for e in &out.events {
            st.execute(params![
                seq,
                ts(e.at),
                e.opportunity,
                e.lead,
                e.kind,
                Value::Object(e.data.clone()).to_string()
            ])?;
        }
        logged.push(Logged {
            seq: u64::try_from(seq).unwrap_or(0),
            outcome: out.outcome,
            json: body_text,
            kind: out.kind.to_string(),
            partner: out.partner,
            partner_json: partner_text,
        });
        prev = Some((seq, hash));
    }
    Ok(logged)
}

/// An opportunity as stored.
struct OppRow {
    id: String,
    partner: Option<String>,
    /// An imported deal may have no account yet.
    account: Option<String>,
    stage: String,
    closed: bool,
    fields: Map<String, Value>,
    line_items: Vec<Value>,
    history: Vec<Value>,
}

/// A registration as stored.
#[derive(Clone)]
struct RegRow {
    id: String,
    partner: String,
    status: String,
    submitted_at: String,
    approved_at: Option<String>,
    protected_until: Option<String>,
    extensions: u32,
    review_deadline: Option<String>,
}

fn json_text(s: &str) -> Result<Value, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

struct Cx<'a> {
    conn: &'a Connection,
    policy: Option<Arc<Policy>>,
    at: DateTime<Utc>,
    by: &'a Actor,
    next_seq: u64,
    outs: Vec<Out>,
}

fn record_errors(e: &dealflow_engine::RecordErrors) -> String {
    e.0.iter()
        .map(|x| {
            if x.path.is_empty() {
                x.message.clone()
            } else {
                format!("{}: {}", x.path, x.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn to_value(d: &Decision) -> Value {
    serde_json::to_value(d).unwrap_or(Value::Null)
}

/// Working seconds between two instants on the policy's calendar (wall-clock
/// seconds without one); 0 when `to <= from`.
pub(crate) fn working_seconds(policy: &Policy, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    if to <= from {
        return 0;
    }
    let wall = (to - from).num_seconds();
    let Some(cal) = policy.calendar() else {
        return wall;
    };
    // Working time grows with the amount added: the largest s with from + s <= to.
    let (mut lo, mut hi) = (0i64, wall);
    while lo < hi {
        let mid = lo + (hi - lo + 1) / 2;
        match cal.add(from, mid) {
            Ok(t) if t <= to => lo = mid,
            _ => hi = mid - 1,
        }
    }
    lo
}

/// Hours with two decimals.
pub(crate) fn hours(seconds: i64) -> String {
    let d = Decimal::from(seconds) / Decimal::from(3600);
    d.round_dp(2).to_string()
}

/// Whether every duplicate and conflict key list names the account (or its domain
/// or name): then only registrations on the same account identity can match.
fn keys_cover_account(p: &ir::Policy) -> bool {
    let Some(reg) = &p.registration else {
        return true;
    };
    let names_account = |keys: &[ir::Expr]| {
        keys.iter().any(|k| {
            k.ty == Type::Record(RecordKind::Account)
                || match &k.kind {
                    ExprKind::Field {
                        record: RecordKind::Account,
                        slot,
                    } => p
                        .record(RecordKind::Account)
                        .and_then(|r| r.fields.get(*slot as usize))
                        .is_some_and(|f| f.name == "domain" || f.name == "name"),
                    _ => false,
                }
        })
    };
    reg.duplicate
        .as_ref()
        .is_none_or(|d| names_account(&d.keys))
        && reg.conflicts.iter().all(|c| match &c.kind {
            ConflictKind::When(_) => true,
            ConflictKind::OtherProtected { keys } => names_account(keys),
        })
}

fn account_keys(doc: &Map<String, Value>) -> (Option<String>, Option<String>, String) {
    let text = |k: &str| {
        doc.get(k)
            .and_then(Value::as_str)
            .map(normalize_key)
            .filter(|s| !s.is_empty())
    };
    let id = doc
        .get("id")
        .and_then(Value::as_str)
        .map(normalize_key)
        .unwrap_or_default();
    (text("domain"), text("name"), id)
}

/// The start of the co-sell period containing `at`, in the policy's time zone.
fn period(policy: &Policy, per: ir::Period, at: DateTime<Utc>) -> String {
    let local: NaiveDate = match policy.calendar() {
        Some(c) => at.with_timezone(&c.tz()).date_naive(),
        None => at.date_naive(),
    };
    let start = match per {
        ir::Period::Day => local,
        ir::Period::Week => {
            local - Duration::days(i64::from(local.weekday().num_days_from_monday()))
        }
        ir::Period::Month => local.with_day(1).unwrap_or(local),
        ir::Period::Quarter => {
            let m = (local.month0() / 3) * 3 + 1;
            NaiveDate::from_ymd_opt(local.year(), m, 1).unwrap_or(local)
        }
    };
    let per = match per {
        ir::Period::Day => "day",
        ir::Period::Week => "week",
        ir::Period::Month => "month",
        ir::Period::Quarter => "quarter",
    };
    format!("{per}:{start}")
}

mod import;

fn parse_rfc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Cx<'_> {
    fn policy(&self) -> Res<Arc<Policy>> {
        match &self.policy {
            Some(p) => Ok(p.clone()),
            None => refuse(format!(
                "no policy version is in force at {}; publish one first (`dealflow init` or `dealflow policy publish`)",
                ts(self.at)
            )),
        }
    }

    fn seq_of_next_out(&self) -> u64 {
        self.next_seq + self.outs.len() as u64
    }

    fn push(&mut self, out: Out) {
        self.outs.push(out);
    }

    fn run(&mut self, cmd: &Command) -> Res<()> {
        if self.by.role() == Some(Role::Viewer) {
            return refuse("a viewer reads only; it cannot issue commands");
        }
        match &cmd.body {
            Body::PublishPolicy {
                name,
                source,
                effective_from,
            } => self.publish(name, source, *effective_from),
            Body::Tick => self.tick(),
            Body::Import(batch) => self.import(batch),
            body => {
                self.policy()?;
                match body {
                    Body::UpsertPartner { partner } => self.upsert_partner(partner),
                    Body::UpsertAccount { account, direct } => {
                        self.upsert_account(account, *direct)
                    }
                    Body::CreateOpportunity(o) => self.create(o),
                    Body::UpdateOpportunity {
                        opportunity,
                        fields,
                        line_items,
                    } => self.update(opportunity, fields, line_items.as_deref()),
                    Body::LogActivity {
                        opportunity,
                        kind,
                        note,
                    } => self.activity(opportunity, kind, note.as_deref()),
                    Body::LogCosell {
                        opportunity,
                        pool,
                        person,
                        note,
                    } => self.cosell_contact(opportunity, pool, person, note.as_deref()),
                    Body::Register { opportunity } => self.register(opportunity),
                    Body::Advance { opportunity, to } => self.advance(opportunity, to),
                    Body::CloseWon { opportunity } => self.close(opportunity, true),
                    Body::CloseLost { opportunity } => self.close(opportunity, false),
                    Body::Review {
                        opportunity,
                        verdict,
                        note,
                    } => self.review(opportunity, *verdict, note.as_deref()),
                    Body::Withdraw { opportunity } => self.withdraw(opportunity),
                    Body::SubmitLead { lead } => self.submit_lead(lead),
                    Body::AcceptLead { lead, account } => {
                        self.accept_lead(lead, account.as_deref())
                    }
                    Body::DeclineLead { lead, reason } => {
                        self.decline_lead(lead, reason.as_deref())
                    }
                    Body::PublishPolicy { .. } | Body::Tick | Body::Import(_) => Ok(()),
                }
            }
        }
    }

    // ------------------------------------------------------------ permissions

    fn vendor(&self, roles: &[Role], what: &str) -> Res<()> {
        match self.by {
            Actor::User { role, .. } if roles.contains(role) => Ok(()),
            Actor::System if roles.contains(&Role::Admin) => Ok(()),
            _ => refuse(format!(
                "{} may not {what}; it needs a vendor user with role {}",
                self.by,
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
        }
    }

    /// The owning partner, or channel ops / admin, may act on an opportunity.
    fn may_act_on(&self, opp: &OppRow, what: &str) -> Res<()> {
        match self.by {
            Actor::Partner(p) if opp.partner.as_deref() == Some(p.as_str()) => Ok(()),
            // Another partner learns nothing about the deal, not even that it exists.
            Actor::Partner(_) => not_found(format!("unknown opportunity `{}`", opp.id)),
            Actor::User {
                role: Role::Admin | Role::ChannelOps,
                ..
            } => Ok(()),
            _ => refuse(format!("{} may not {what}", self.by)),
        }
    }

    // ------------------------------------------------------------ loading

    fn load_opp(&self, id: &str) -> Res<OppRow> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT id, partner, account, stage, closed, doc, history FROM opportunities WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .optional()?;
        let Some((id, partner, account, stage, closed, doc, history)) = row else {
            return not_found(format!("unknown opportunity `{id}`"));
        };
        let doc = json_text(&doc)?;
        let fields = doc
            .get("fields")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let line_items = doc
            .get("line_items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let history = match json_text(&history)? {
            Value::Array(a) => a,
            _ => Vec::new(),
        };
        Ok(OppRow {
            id,
            partner,
            account,
            stage,
            closed,
            fields,
            line_items,
            history,
        })
    }

    fn doc_of(&self, table: &str, id: &str) -> Res<Option<Value>> {
        let sql = match table {
            "partners" => "SELECT doc FROM partners WHERE id = ?1",
            _ => "SELECT doc FROM accounts WHERE id = ?1",
        };
        let doc: Option<String> = self
            .conn
            .prepare_cached(sql)?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(doc.map(|d| json_text(&d)).transpose()?)
    }

    fn current_registration(&self, opp: &str) -> Res<Option<RegRow>> {
        let r = self
            .conn
            .prepare_cached(
                "SELECT id, partner, status, submitted_at, approved_at, protected_until, extensions, review_deadline
                 FROM registrations WHERE opportunity = ?1 ORDER BY submitted_at DESC, rowid DESC LIMIT 1",
            )?
            .query_row([opp], |r| {
                Ok(RegRow {
                    id: r.get(0)?,
                    partner: r.get(1)?,
                    status: r.get(2)?,
                    submitted_at: r.get(3)?,
                    approved_at: r.get(4)?,
                    protected_until: r.get(5)?,
                    extensions: r.get(6)?,
                    review_deadline: r.get(7)?,
                })
            })
            .optional()?;
        Ok(r)
    }

    /// The record document the engine reads (docs/records.md). A returned or
    /// withdrawn registration is no registration: the partner may register again.
    fn record_doc(&self, opp: &OppRow, reg: Option<&RegRow>) -> Res<Value> {
        let mut m = Map::new();
        m.insert("id".into(), opp.id.clone().into());
        m.insert("stage".into(), opp.stage.clone().into());
        m.insert("fields".into(), Value::Object(opp.fields.clone()));
        m.insert("line_items".into(), Value::Array(opp.line_items.clone()));
        if let Some(p) = &opp.partner {
            if let Some(doc) = self.doc_of("partners", p)? {
                m.insert("partner".into(), doc);
            }
        }
        if let Some(a) = &opp.account {
            if let Some(doc) = self.doc_of("accounts", a)? {
                m.insert("account".into(), doc);
            }
        }
        if let Some(r) = reg.filter(|r| !matches!(r.status.as_str(), "returned" | "withdrawn")) {
            let mut g = Map::new();
            g.insert("id".into(), r.id.clone().into());
            g.insert("partner_id".into(), r.partner.clone().into());
            g.insert("status".into(), r.status.clone().into());
            g.insert("submitted_at".into(), r.submitted_at.clone().into());
            if let Some(a) = &r.approved_at {
                g.insert("approved_at".into(), a.clone().into());
            }
            if let Some(p) = &r.protected_until {
                g.insert("protected_until".into(), p.clone().into());
            }
            g.insert("extensions".into(), r.extensions.into());
            m.insert("registration".into(), Value::Object(g));
        }
        m.insert("history".into(), Value::Array(opp.history.clone()));
        Ok(Value::Object(m))
    }

    fn parse_record(&self, policy: &Policy, doc: &Value) -> Res<Record> {
        policy.parse_record_value(doc).map_err(|e| {
            Fail::Refused(format!(
                "the opportunity does not fit policy `{}` version {}: {}",
                policy.name(),
                policy.version(),
                record_errors(&e)
            ))
        })
    }

    fn record(&self, policy: &Policy, opp: &OppRow) -> Res<(Record, Option<RegRow>)> {
        let reg = self.current_registration(&opp.id)?;
        let doc = self.record_doc(opp, reg.as_ref())?;
        Ok((self.parse_record(policy, &doc)?, reg))
    }

    /// Decides as the vendor, and as the owning partner for its view.
    fn decide(
        &self,
        policy: &Policy,
        rec: &Record,
        action: &Action,
        ctx: &Context,
        owner: Option<&str>,
    ) -> (Decision, Option<Value>) {
        let d = policy.decide(rec, action, ctx, self.at, &Audience::Vendor);
        let pv = owner.map(|p| {
            to_value(&policy.decide(rec, action, ctx, self.at, &Audience::Partner(p.to_string())))
        });
        (d, pv)
    }

    fn engine_out(
        &self,
        policy: &Policy,
        kind: &'static str,
        d: &Decision,
        pv: Option<Value>,
        opp: &OppRow,
    ) -> Out {
        Out {
            kind,
            outcome: d.outcome.as_str().to_string(),
            opportunity: Some(opp.id.clone()),
            partner: opp.partner.clone(),
            policy: Some(policy.hash().to_string()),
            decision: Some(to_value(d)),
            partner_decision: pv,
            ..Out::default()
        }
    }

    /// Stores a new opportunity once it fits the policy's record schema.
    fn insert_opp(&self, policy: &Policy, opp: &OppRow) -> Res<()> {
        let doc = self.record_doc(opp, None)?;
        self.parse_record(policy, &doc)?;
        self.conn.prepare_cached_execute(
            "INSERT INTO opportunities (id, partner, account, stage, closed, doc, history, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 0, '{}', '[]', ?5, ?5)",
            params![opp.id, opp.partner, opp.account, opp.stage, ts(self.at)],
        )?;
        self.save_opp(opp)
    }

    fn save_opp(&self, opp: &OppRow) -> Res<()> {
        let doc = json!({ "fields": opp.fields, "line_items": opp.line_items });
        self.conn
            .prepare_cached(
                "UPDATE opportunities SET stage = ?2, closed = ?3, doc = ?4, history = ?5, updated_at = ?6 WHERE id = ?1",
            )?
            .execute(params![
                opp.id,
                opp.stage,
                opp.closed,
                doc.to_string(),
                Value::Array(opp.history.clone()).to_string(),
                ts(self.at)
            ])?;
        Ok(())
    }

    // ------------------------------------------------------------ policy

    fn publish(&mut self, name: &str, source: &str, effective_from: DateTime<Utc>) -> Res<()> {
        self.vendor(&[Role::Admin], "publish a policy")?;
        let file = SourceFile::new(name.to_string(), source.to_string());
        let analysis = dealflow_dsl::analyze(&file);
        let errors: Vec<String> = analysis
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .take(5)
            .map(|d| {
                let lc = file.line_col(d.span.start);
                format!(
                    "{name}:{}:{}: {} {}",
                    lc.line,
                    lc.column,
                    d.code.as_str(),
                    d.message
                )
            })
            .collect();
        if !errors.is_empty() {
            return refuse(format!(
                "the policy has lint errors and is not published: {}",
                errors.join("; ")
            ));
        }
        let policy = Policy::compile(&file)
            .map_err(|e| Fail::Refused(format!("the policy does not compile: {e}")))?;
        let hash = policy.hash().to_string();
        let cmd_seq: i64 = self
            .conn
            .prepare_cached("SELECT max(seq) FROM commands")?
            .query_row([], |r| r.get(0))?;
        self.conn.prepare_cached_execute(
            "INSERT INTO policy_versions (hash, name, source, effective_from, command_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hash, name, source, ts(effective_from), cmd_seq],
        )?;
        let warnings = analysis
            .diagnostics
            .iter()
            .filter(|d| !d.is_error())
            .count();
        let mut extra = Map::new();
        extra.insert("effective_from".into(), ts(effective_from).into());
        extra.insert("warnings".into(), warnings.into());
        extra.insert(
            "version".into(),
            json!({ "name": policy.name(), "version": policy.version(), "hash": hash }),
        );
        self.push(Out {
            kind: "policy",
            outcome: "published".into(),
            policy: Some(hash.clone()),
            events: vec![ev(
                "policy_published",
                self.at,
                None,
                json!({ "hash": hash, "effective_from": ts(effective_from), "name": name }),
            )],
            extra,
            ..Out::default()
        });
        Ok(())
    }

    // ------------------------------------------------------------ partners, accounts

    fn first_stage(policy: &Policy) -> String {
        policy
            .ir()
            .stages
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    /// A partner or account document checked against the policy in force (through a
    /// probe record that carries it): its id and the stored document it replaces.
    fn party_doc(
        &self,
        what: &str,
        table: &str,
        doc: &Map<String, Value>,
    ) -> Res<(String, Option<Value>)> {
        let policy = self.policy()?;
        let Some(id) = doc
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
        else {
            return refuse(format!("`{what}.id` is missing or not a text"));
        };
        let mut probe = Map::new();
        probe.insert("id".into(), "probe".into());
        probe.insert("stage".into(), Self::first_stage(&policy).into());
        probe.insert(what.into(), Value::Object(doc.clone()));
        self.parse_record(&policy, &Value::Object(probe))?;
        Ok((id.to_string(), self.doc_of(table, id)?))
    }

    fn upsert_partner(&mut self, partner: &Map<String, Value>) -> Res<()> {
        self.vendor(&[Role::Admin], "create or update partners")?;
        let (id, old) = self.party_doc("partner", "partners", partner)?;
        let name = partner
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let doc = Value::Object(partner.clone());
        self.conn.prepare_cached_execute(
            "INSERT INTO partners (id, name, doc) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc",
            params![id, name, doc.to_string()],
        )?;
        let changes = diff(old.as_ref().and_then(Value::as_object), partner);
        let kind = if old.is_some() {
            "partner_updated"
        } else {
            "partner_created"
        };
        self.push(Out {
            kind: "partner",
            outcome: "recorded".into(),
            partner: Some(id.clone()),
            events: vec![ev(
                kind,
                self.at,
                None,
                json!({ "partner": id, "changes": changes }),
            )],
            ..Out::default()
        });
        Ok(())
    }

    fn upsert_account(&mut self, account: &Map<String, Value>, direct: bool) -> Res<()> {
        self.vendor(&[Role::Admin], "create or update accounts")?;
        let (id, old) = self.party_doc("account", "accounts", account)?;
        let (kd, kn, ki) = account_keys(account);
        self.conn.prepare_cached_execute(
            "INSERT INTO accounts (id, doc, direct, key_domain, key_name, key_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, direct = excluded.direct,
               key_domain = excluded.key_domain, key_name = excluded.key_name, key_id = excluded.key_id",
            params![id, Value::Object(account.clone()).to_string(), direct, kd, kn, ki],
        )?;
        let changes = diff(old.as_ref().and_then(Value::as_object), account);
        let kind = if old.is_some() {
            "account_updated"
        } else {
            "account_created"
        };
        self.push(Out {
            kind: "account",
            outcome: "recorded".into(),
            events: vec![ev(
                kind,
                self.at,
                None,
                json!({ "account": id, "direct": direct, "changes": changes }),
            )],
            ..Out::default()
        });
        Ok(())
    }

    // ------------------------------------------------------------ opportunities

    fn create(&mut self, o: &command::NewOpportunity) -> Res<()> {
        let policy = self.policy()?;
        let partner = match (self.by, &o.partner) {
            (Actor::Partner(p), None) => Some(p.clone()),
            (Actor::Partner(p), Some(q)) if p == q => Some(p.clone()),
            (Actor::Partner(p), Some(q)) => {
                return refuse(format!(
                    "partner {p} may create opportunities for itself only, not for `{q}`"
                ))
            }
            (
                Actor::User {
                    role: Role::Admin | Role::ChannelOps,
                    ..
                },
                p,
            ) => p.clone(),
            _ => return refuse(format!("{} may not create opportunities", self.by)),
        };
        if o.id.trim().is_empty() || o.id.len() > 256 {
            return refuse("`opportunity.id` must be 1 to 256 characters");
        }
        let exists: bool = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM opportunities WHERE id = ?1)")?
            .query_row([&o.id], |r| r.get(0))?;
        if exists {
            return refuse(format!(
                "opportunity `{}` already exists; change it with `update_opportunity`",
                o.id
            ));
        }
        if let Some(p) = &partner {
            if self.doc_of("partners", p)?.is_none() {
                return refuse(format!(
                    "unknown partner `{p}`; create it with `upsert_partner`"
                ));
            }
        }
        if self.doc_of("accounts", &o.account)?.is_none() {
            return refuse(format!(
                "unknown account `{}`; create it with `upsert_account`",
                o.account
            ));
        }
        let stage = o
            .stage
            .clone()
            .unwrap_or_else(|| Self::first_stage(&policy));
        let st = policy.ir().stage_by_name(&stage);
        if st.is_none_or(|s| {
            policy
                .ir()
                .stage(s)
                .is_some_and(|s| s.kind != StageKind::Open)
        }) {
            return refuse(format!("`{stage}` is not an open stage of the policy"));
        }
        let mut history = vec![json!({ "at": ts(self.at), "type": "created" })];
        if o.stage.is_some() && stage != Self::first_stage(&policy) {
            history.push(json!({ "at": ts(self.at), "type": "stage_change", "to": stage }));
        }
        let opp = OppRow {
            id: o.id.clone(),
            partner: partner.clone(),
            account: Some(o.account.clone()),
            stage: stage.clone(),
            closed: false,
            fields: o.fields.clone(),
            line_items: o.line_items.clone(),
            history,
        };
        self.insert_opp(&policy, &opp)?;
        self.push(Out {
            kind: "opportunity",
            outcome: "recorded".into(),
            opportunity: Some(opp.id.clone()),
            partner: partner.clone(),
            events: vec![ev(
                "opportunity_created",
                self.at,
                Some(&opp.id),
                json!({ "stage": stage, "account": opp.account, "partner": partner, "fields": opp.fields, "line_items": opp.line_items }),
            )],
            ..Out::default()
        });
        self.cosell(&opp.id)?;
        Ok(())
    }

    fn update(
        &mut self,
        id: &str,
        fields: &Map<String, Value>,
        line_items: Option<&[Value]>,
    ) -> Res<()> {
        let policy = self.policy()?;
        let mut opp = self.load_opp(id)?;
        self.may_act_on(&opp, "update this opportunity")?;
        if opp.closed {
            return refuse(format!(
                "opportunity `{id}` is closed; it can no longer change"
            ));
        }
        let mut events = Vec::new();
        for (k, v) in fields {
            let old = opp.fields.get(k).cloned().unwrap_or(Value::Null);
            if &old == v {
                continue;
            }
            if v.is_null() {
                opp.fields.remove(k);
            } else {
                opp.fields.insert(k.clone(), v.clone());
            }
            if k == "close_date" {
                let mut h = Map::new();
                h.insert("at".into(), ts(self.at).into());
                h.insert("type".into(), "close_date_change".into());
                if !old.is_null() {
                    h.insert("from".into(), old.clone());
                }
                if !v.is_null() {
                    h.insert("to".into(), v.clone());
                }
                opp.history.push(Value::Object(h));
            }
            events.push(ev(
                "field_changed",
                self.at,
                Some(id),
                json!({ "field": k, "old": old, "new": v }),
            ));
        }
        if let Some(items) = line_items {
            if items != opp.line_items.as_slice() {
                events.push(ev(
                    "line_items_changed",
                    self.at,
                    Some(id),
                    json!({ "old": opp.line_items, "new": items }),
                ));
                opp.line_items = items.to_vec();
            }
        }
        let (_rec, _) = self.record(&policy, &opp)?;
        self.save_opp(&opp)?;
        let outcome = if events.is_empty() {
            "unchanged"
        } else {
            "recorded"
        };
        self.push(Out {
            kind: "opportunity",
            outcome: outcome.into(),
            opportunity: Some(opp.id.clone()),
            partner: opp.partner.clone(),
            events,
            ..Out::default()
        });
        self.cosell(id)?;
        Ok(())
    }

    fn activity(&mut self, id: &str, kind: &str, note: Option<&str>) -> Res<()> {
        let policy = self.policy()?;
        let mut opp = self.load_opp(id)?;
        self.may_act_on(&opp, "log activity on this opportunity")?;
        opp.history
            .push(json!({ "at": ts(self.at), "type": "activity", "kind": kind }));
        self.record(&policy, &opp)?;
        self.save_opp(&opp)?;
        self.push(Out {
            kind: "activity",
            outcome: "recorded".into(),
            opportunity: Some(opp.id.clone()),
            partner: opp.partner.clone(),
            events: vec![ev(
                "activity_logged",
                self.at,
                Some(id),
                json!({ "kind": kind, "note": note }),
            )],
            ..Out::default()
        });
        Ok(())
    }

    fn cosell_contact(
        &mut self,
        id: &str,
        pool: &str,
        person: &str,
        note: Option<&str>,
    ) -> Res<()> {
        let policy = self.policy()?;
        let mut opp = self.load_opp(id)?;
        self.may_act_on(&opp, "log a co-sell contact on this opportunity")?;
        let pools: Vec<String> = policy
            .ir()
            .cosell
            .as_ref()
            .map(|c| c.pools.iter().map(|p| p.name.clone()).collect())
            .unwrap_or_default();
        if !pools.iter().any(|p| p == pool) {
            return refuse(format!(
                "unknown co-sell pool `{pool}`; the policy's pools are {}",
                if pools.is_empty() {
                    "none".to_string()
                } else {
                    pools.join(", ")
                }
            ));
        }
        opp.history
            .push(json!({ "at": ts(self.at), "type": "cosell", "pool": pool }));
        self.record(&policy, &opp)?;
        self.save_opp(&opp)?;
        self.push(Out {
            kind: "cosell_contact",
            outcome: "recorded".into(),
            opportunity: Some(opp.id.clone()),
            partner: opp.partner.clone(),
            events: vec![ev(
                "cosell_contact_logged",
                self.at,
                Some(id),
                json!({ "pool": pool, "person": person, "note": note }),
            )],
            ..Out::default()
        });
        Ok(())
    }

    // ------------------------------------------------------------ registration

    /// Other live registrations that a duplicate or conflict rule could match.
    fn registration_context(&self, policy: &Policy, opp: &OppRow) -> Res<Context> {
        let account = match &opp.account {
            Some(a) => self.doc_of("accounts", a)?.unwrap_or(Value::Null),
            None => Value::Null,
        };
        let (kd, kn, ki) = account_keys(account.as_object().unwrap_or(&Map::new()));
        let direct: bool = self
            .conn
            .prepare_cached("SELECT direct FROM accounts WHERE id = ?1")?
            .query_row([&opp.account], |r| r.get(0))
            .optional()?
            .unwrap_or(false);
        if opp.account.is_none() {
            // Duplicate and conflict rules compare accounts: a deal without one
            // matches no other registration.
            return Ok(Context::default());
        }
        let ids: Vec<String> = if keys_cover_account(policy.ir()) {
            // Three index lookups on the account identity, then the live
            // registrations of those accounts' open deals. CROSS JOIN keeps SQLite
            // to that order: with plain JOINs it starts from the status index and
            // scans every live registration of the store.
            let mut st = self.conn.prepare_cached(
                "WITH acc AS (
                     SELECT id FROM accounts WHERE key_domain = ?2
                     UNION SELECT id FROM accounts WHERE key_name = ?3
                     UNION SELECT id FROM accounts WHERE key_id = ?4)
                 SELECT DISTINCT o.id FROM acc
                   CROSS JOIN opportunities o ON o.account = acc.id
                   CROSS JOIN registrations r ON r.opportunity = o.id
                 WHERE r.status IN ('pending', 'approved') AND o.closed = 0 AND o.id != ?1
                 ORDER BY o.id",
            )?;
            let rows = st.query_map(params![opp.id, kd, kn, ki], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        } else {
            let mut st = self.conn.prepare_cached(
                "SELECT DISTINCT o.id FROM registrations r JOIN opportunities o ON o.id = r.opportunity
                 WHERE r.status IN ('pending', 'approved') AND o.closed = 0 AND o.id != ?1 ORDER BY o.id",
            )?;
            let rows = st.query_map(params![opp.id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut registrations = Vec::new();
        for id in ids {
            let other = self.load_opp(&id)?;
            let reg = self.current_registration(&id)?;
            let doc = self.record_doc(&other, reg.as_ref())?;
            // A stored deal that no longer fits the policy in force is not compared.
            if let Ok(r) = policy.parse_record_value(&doc) {
                registrations.push(r);
            }
        }
        let mut direct_accounts = Vec::new();
        if direct {
            direct_accounts.extend(opp.account.clone());
            if let Some(d) = account.get("domain").and_then(Value::as_str) {
                direct_accounts.push(d.to_string());
            }
        }
        Ok(Context {
            registrations,
            direct_accounts,
            ..Context::default()
        })
    }

    /// A closed deal needs no protection any more: its expiry timer is cancelled (the
    /// registration keeps its status; closed deals are never compared for conflicts).
    fn end_protection_timers(&self, opportunity: &str) -> Res<()> {
        self.conn
            .prepare_cached(
                "UPDATE timers SET state = 'cancelled' WHERE opportunity = ?1 AND kind = 'protection_expiry' AND state = 'due'",
            )?
            .execute([opportunity])?;
        Ok(())
    }

    fn cancel_timers(&self, registration: &str) -> Res<()> {
        self.conn
            .prepare_cached(
                "UPDATE timers SET state = 'cancelled' WHERE registration = ?1 AND state = 'due'",
            )?
            .execute([registration])?;
        Ok(())
    }

    fn timer(
        &self,
        due: DateTime<Utc>,
        kind: &str,
        opp: Option<&str>,
        registration: Option<&str>,
        lead: Option<&str>,
        data: Value,
    ) -> Res<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO timers (due, kind, opportunity, registration, lead, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![ts(due), kind, opp, registration, lead, data.to_string()])?;
        Ok(())
    }

    fn register(&mut self, id: &str) -> Res<()> {
        let policy = self.policy()?;
        let opp = self.load_opp(id)?;
        self.may_act_on(&opp, "register this opportunity")?;
        let Some(partner) = opp.partner.clone() else {
            return refuse(format!("opportunity `{id}` has no partner to register it"));
        };
        if let Some(r) = self.current_registration(id)? {
            if matches!(r.status.as_str(), "pending" | "approved") {
                return refuse(format!(
                    "opportunity `{id}` already has a {} registration `{}`",
                    r.status, r.id
                ));
            }
        }
        let doc = self.record_doc(&opp, None)?;
        let rec = self.parse_record(&policy, &doc)?;
        let ctx = self.registration_context(&policy, &opp)?;
        let (d, pv) = self.decide(&policy, &rec, &Action::Register, &ctx, Some(&partner));
        let mut out = self.engine_out(&policy, "register", &d, pv, &opp);
        let reg_id = format!("R-{}", self.seq_of_next_out());
        let eff = d.effects.registration.as_ref();
        let late = eff.is_some_and(|e| e.late);
        let (status, kind) = match d.outcome {
            Outcome::Approved => ("approved", "registration_approved"),
            Outcome::Review => ("pending", "registration_submitted"),
            Outcome::Denied => ("rejected", "registration_rejected"),
            _ => {
                self.push(out);
                return Ok(());
            }
        };
        let protected_until = eff
            .and_then(|e| e.protected_until.as_deref())
            .and_then(parse_rfc);
        let review = eff.and_then(|e| e.review.as_ref());
        let deadline = review.and_then(|r| parse_rfc(&r.deadline));
        self.conn.prepare_cached_execute(
            "INSERT INTO registrations (id, opportunity, partner, status, submitted_at, approved_at, decided_at,
               protected_until, extensions, review_deadline, late, decision_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?11)",
            params![
                reg_id,
                id,
                partner,
                status,
                ts(self.at),
                (status == "approved").then(|| ts(self.at)),
                (status != "pending").then(|| ts(self.at)),
                protected_until.map(ts),
                deadline.map(ts),
                late,
                self.seq_of_next_out()
            ],
        )?;
        let mut data =
            json!({ "registration": reg_id, "partner": partner, "status": status, "late": late });
        if let Some(p) = protected_until {
            data["protected_until"] = ts(p).into();
            self.timer(
                p,
                "protection_expiry",
                Some(id),
                Some(&reg_id),
                None,
                json!({}),
            )?;
        }
        if let Some(rv) = review {
            data["review_deadline"] = rv.deadline.clone().into();
            for (i, e) in rv.escalations.iter().enumerate() {
                if let Some(due) = parse_rfc(&e.at) {
                    self.timer(
                        due,
                        "review_escalation",
                        Some(id),
                        Some(&reg_id),
                        None,
                        json!({ "to": e.to, "step": i + 1 }),
                    )?;
                }
            }
            if let Some(dl) = deadline {
                self.timer(
                    dl,
                    "review_breach",
                    Some(id),
                    Some(&reg_id),
                    None,
                    json!({ "deadline": ts(dl) }),
                )?;
            }
        }
        out.events.push(ev(kind, self.at, Some(id), data));
        self.push(out);
        self.cosell(id)?;
        Ok(())
    }

    fn review(&mut self, id: &str, verdict: Verdict, note: Option<&str>) -> Res<()> {
        self.vendor(&[Role::ChannelOps], "review registrations")?;
        let policy = self.policy()?;
        let opp = self.load_opp(id)?;
        let Some(reg) = self
            .current_registration(id)?
            .filter(|r| r.status == "pending")
        else {
            return refuse(format!(
                "opportunity `{id}` has no pending registration to review"
            ));
        };
        let submitted = parse_ts(&reg.submitted_at)?;
        let waited = working_seconds(&policy, submitted, self.at);
        let breached_by = reg
            .review_deadline
            .as_deref()
            .map(parse_ts)
            .transpose()?
            .map(|dl| working_seconds(&policy, dl, self.at))
            .filter(|s| *s > 0);
        let mut extra = Map::new();
        extra.insert("registration".into(), reg.id.clone().into());
        extra.insert("business_hours_to_decision".into(), hours(waited).into());
        extra.insert(
            "breached_by_business_hours".into(),
            breached_by.map(hours).into(),
        );
        extra.insert("note".into(), note.into());
        let mut out = Out {
            kind: "review",
            opportunity: Some(id.to_string()),
            partner: opp.partner.clone(),
            policy: Some(policy.hash().to_string()),
            extra,
            ..Out::default()
        };
        match verdict {
            Verdict::Approve => {
                // The policy's eligibility, duplicate and conflict rules are checked
                // again at the instant of approval: nothing approves a registration the
                // policy now denies (say, another partner's protection in between).
                let doc = self.record_doc(&opp, None)?;
                let rec = self.parse_record(&policy, &doc)?;
                let ctx = self.registration_context(&policy, &opp)?;
                let (d, pv) = self.decide(
                    &policy,
                    &rec,
                    &Action::Register,
                    &ctx,
                    opp.partner.as_deref(),
                );
                out.decision = Some(to_value(&d));
                out.partner_decision = pv;
                if !matches!(d.outcome, Outcome::Approved | Outcome::Review) {
                    out.outcome = "denied".into();
                    out.message = Some(
                        "the policy denies this registration now (see the decision); reject or return it".into(),
                    );
                    self.push(out);
                    return Ok(());
                }
                // Protection runs from the approval.
                let approved = json!({
                    "id": reg.id, "partner_id": reg.partner, "status": "approved",
                    "submitted_at": reg.submitted_at, "approved_at": ts(self.at), "extensions": 0
                });
                let mut probe = doc.clone();
                probe["registration"] = approved;
                let until = match self.parse_record(&policy, &probe) {
                    Ok(r) => {
                        dealflow_engine::facts::protection_end(policy.ir(), policy.calendar(), &r)
                            .and_then(Result::ok)
                    }
                    Err(_) => None,
                };
                self.conn.prepare_cached_execute(
                    "UPDATE registrations SET status = 'approved', approved_at = ?2, decided_at = ?2, protected_until = ?3 WHERE id = ?1",
                    params![reg.id, ts(self.at), until.map(ts)],
                )?;
                self.cancel_timers(&reg.id)?;
                if let Some(u) = until {
                    self.timer(
                        u,
                        "protection_expiry",
                        Some(id),
                        Some(&reg.id),
                        None,
                        json!({}),
                    )?;
                }
                out.outcome = "approved".into();
                out.events.push(ev(
                    "registration_approved",
                    self.at,
                    Some(id),
                    json!({ "registration": reg.id, "protected_until": until.map(ts), "by_review": true }),
                ));
                self.push(out);
                self.cosell(id)?;
            }
            Verdict::Reject | Verdict::Return => {
                let (status, kind) = if verdict == Verdict::Reject {
                    ("rejected", "registration_rejected")
                } else {
                    ("returned", "registration_returned")
                };
                self.conn.prepare_cached_execute(
                    "UPDATE registrations SET status = ?2, decided_at = ?3 WHERE id = ?1",
                    params![reg.id, status, ts(self.at)],
                )?;
                self.cancel_timers(&reg.id)?;
                out.outcome = status.into();
                out.events.push(ev(
                    kind,
                    self.at,
                    Some(id),
                    json!({ "registration": reg.id, "note": note }),
                ));
                self.push(out);
            }
        }
        Ok(())
    }

    fn withdraw(&mut self, id: &str) -> Res<()> {
        let opp = self.load_opp(id)?;
        self.may_act_on(&opp, "withdraw this registration")?;
        let Some(reg) = self
            .current_registration(id)?
            .filter(|r| matches!(r.status.as_str(), "pending" | "approved"))
        else {
            return refuse(format!(
                "opportunity `{id}` has no pending or approved registration to withdraw"
            ));
        };
        self.conn.prepare_cached_execute(
            "UPDATE registrations SET status = 'withdrawn', decided_at = ?2 WHERE id = ?1",
            params![reg.id, ts(self.at)],
        )?;
        self.cancel_timers(&reg.id)?;
        self.push(Out {
            kind: "withdraw",
            outcome: "withdrawn".into(),
            opportunity: Some(id.into()),
            partner: opp.partner.clone(),
            events: vec![ev(
                "registration_withdrawn",
                self.at,
                Some(id),
                json!({ "registration": reg.id, "was": reg.status }),
            )],
            ..Out::default()
        });
        self.cosell(id)?;
        Ok(())
    }

    // ------------------------------------------------------------ stages

    fn advance(&mut self, id: &str, to: &str) -> Res<()> {
        let policy = self.policy()?;
        let mut opp = self.load_opp(id)?;
        self.may_act_on(&opp, "advance this opportunity")?;
        let action = Action::Advance { to: to.to_string() };
        if let Err(e) = policy.check_action(&action) {
            return refuse(format!("{e}; {}", e.help()));
        }
        let (rec, reg) = self.record(&policy, &opp)?;
        let (d, pv) = self.decide(
            &policy,
            &rec,
            &action,
            &Context::default(),
            opp.partner.as_deref(),
        );
        let mut out = self.engine_out(&policy, "advance", &d, pv, &opp);
        if d.outcome == Outcome::Approved {
            let from = opp.stage.clone();
            let to_stage = policy
                .ir()
                .stage_by_name(to)
                .and_then(|s| policy.ir().stage(s));
            opp.history
                .push(json!({ "at": ts(self.at), "type": "stage_change", "from": from, "to": to }));
            opp.stage = to.to_string();
            if let Some(st) = to_stage.filter(|s| s.kind != StageKind::Open) {
                opp.closed = true;
                self.end_protection_timers(id)?;
                let won = st.kind == StageKind::Won;
                opp.history.push(json!({ "at": ts(self.at), "type": "closed", "outcome": if won { "won" } else { "lost" } }));
            }
            self.save_opp(&opp)?;
            out.events.push(ev(
                "stage_changed",
                self.at,
                Some(id),
                json!({ "from": from, "to": to }),
            ));
            if let (Some(r), Some(e)) = (&reg, d.effects.registration.as_ref()) {
                if let (Some(n), Some(until)) = (
                    e.extensions,
                    e.protected_until.as_deref().and_then(parse_rfc),
                ) {
                    self.conn.prepare_cached_execute(
                        "UPDATE registrations SET extensions = ?2, protected_until = ?3 WHERE id = ?1",
                        params![r.id, n, ts(until)],
                    )?;
                    self.conn.prepare_cached_execute(
                        "UPDATE timers SET state = 'cancelled' WHERE registration = ?1 AND kind = 'protection_expiry' AND state = 'due'",
                        [&r.id],
                    )?;
                    self.timer(
                        until,
                        "protection_expiry",
                        Some(id),
                        Some(&r.id),
                        None,
                        json!({}),
                    )?;
                    out.events.push(ev(
                        "registration_extended",
                        self.at,
                        Some(id),
                        json!({ "registration": r.id, "extensions": n, "protected_until": ts(until) }),
                    ));
                }
            }
        }
        self.push(out);
        self.cosell(id)?;
        Ok(())
    }

    fn close(&mut self, id: &str, won: bool) -> Res<()> {
        let policy = self.policy()?;
        let mut opp = self.load_opp(id)?;
        self.may_act_on(&opp, "close this opportunity")?;
        if opp.closed {
            return refuse(format!(
                "opportunity `{id}` is already closed (stage `{}`)",
                opp.stage
            ));
        }
        let (rec, _reg) = self.record(&policy, &opp)?;
        let action = if won {
            Action::CloseWon
        } else {
            Action::CloseLost
        };
        let (d, pv) = self.decide(
            &policy,
            &rec,
            &action,
            &Context::default(),
            opp.partner.as_deref(),
        );
        let mut out = self.engine_out(
            &policy,
            if won { "close_won" } else { "close_lost" },
            &d,
            pv,
            &opp,
        );
        if d.outcome == Outcome::Approved {
            let from = opp.stage.clone();
            let to = d
                .effects
                .stage_change
                .as_ref()
                .map(|s| s.to.clone())
                .or_else(|| {
                    let kind = if won { StageKind::Won } else { StageKind::Lost };
                    policy
                        .ir()
                        .stages
                        .iter()
                        .find(|s| s.kind == kind)
                        .map(|s| s.name.clone())
                })
                .unwrap_or_default();
            opp.history
                .push(json!({ "at": ts(self.at), "type": "stage_change", "from": from, "to": to }));
            opp.history.push(json!({ "at": ts(self.at), "type": "closed", "outcome": if won { "won" } else { "lost" } }));
            opp.stage = to.clone();
            opp.closed = true;
            self.end_protection_timers(id)?;
            self.save_opp(&opp)?;
            out.events.push(ev(
                "stage_changed",
                self.at,
                Some(id),
                json!({ "from": from, "to": to }),
            ));
            out.events.push(ev(
                "closed",
                self.at,
                Some(id),
                json!({ "outcome": if won { "won" } else { "lost" } }),
            ));
            if won {
                self.book_commission(&d, &opp, &mut out)?;
            }
        }
        self.push(out);
        self.cosell(id)?;
        Ok(())
    }

    fn book_commission(&self, d: &Decision, opp: &OppRow, out: &mut Out) -> Res<()> {
        let Some(c) = d.effects.commission.as_ref().filter(|c| c.attributed) else {
            return Ok(());
        };
        let seq = self.seq_of_next_out();
        let currency = d.effects.currency.clone();
        let mut lines: Vec<(String, &'static str, Option<String>, String)> = Vec::new();
        if c.shares.is_empty() {
            if let Some(p) = &c.partner {
                lines.push((p.clone(), "commission", None, c.total.clone()));
            }
        } else {
            for s in &c.shares {
                lines.push((
                    s.partner.clone(),
                    "commission",
                    Some(s.role.clone()),
                    s.amount.clone(),
                ));
            }
        }
        if let Some(p) = c.rebate_partner.as_ref().or(c.partner.as_ref()) {
            lines.push((p.clone(), "rebate", None, c.rebate_total.clone()));
        }
        let mut st = self.conn.prepare_cached(
            "INSERT INTO commission (decision_seq, at, opportunity, partner, kind, role, amount, currency)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (partner, kind, role, amount) in lines {
            if amount.parse::<Decimal>().map_or(true, |a| a.is_zero()) {
                continue;
            }
            st.execute(params![
                seq,
                ts(self.at),
                opp.id,
                partner,
                kind,
                role,
                amount,
                currency
            ])?;
            let mut e = ev(
                "commission_booked",
                self.at,
                Some(&opp.id),
                json!({ "partner": partner, "kind": kind, "role": role, "amount": amount, "currency": currency }),
            );
            // The owning partner sees its own lines only.
            e.partner_visible = opp.partner.as_deref() == Some(partner.as_str());
            out.events.push(e);
        }
        Ok(())
    }

    // ------------------------------------------------------------ co-sell

    /// Re-evaluates the deal's co-sell eligibility: units are assigned where the
    /// policy assigns one and capacity is left this period, and released when the
    /// deal closes or no longer qualifies. Logged as an `evaluate` decision only when
    /// an assignment changes.
    fn cosell(&mut self, id: &str) -> Res<()> {
        let policy = self.policy()?;
        let Some(cs) = policy.ir().cosell.as_ref() else {
            return Ok(());
        };
        let pools: Vec<(String, ir::Period)> =
            cs.pools.iter().map(|p| (p.name.clone(), p.per)).collect();
        let opp = self.load_opp(id)?;
        let held: Vec<String> = {
            let mut st = self.conn.prepare_cached(
                "SELECT pool FROM cosell_assignments WHERE opportunity = ?1 AND released_at IS NULL ORDER BY pool",
            )?;
            let rows = st.query_map([id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        if opp.closed && held.is_empty() {
            return Ok(());
        }
        let mut events = Vec::new();
        let mut decision = None;
        let mut partner_decision = None;
        let mut wanted: Vec<String> = Vec::new();
        if !opp.closed {
            let (rec, _) = self.record(&policy, &opp)?;
            let mut usage = Vec::with_capacity(pools.len());
            for (name, per) in &pools {
                let n: u32 = self
                    .conn
                    .prepare_cached(
                        "SELECT count(*) FROM cosell_assignments WHERE pool = ?1 AND period = ?2
                         AND released_at IS NULL AND opportunity != ?3",
                    )?
                    .query_row(params![name, period(&policy, *per, self.at), id], |r| {
                        r.get(0)
                    })?;
                usage.push(n);
            }
            let ctx = Context {
                cosell_usage: usage,
                ..Context::default()
            };
            // The no-trace path says how many pools would assign; when none would
            // and the deal holds none, nothing changes and no explanation is needed.
            if held.is_empty()
                && policy
                    .decide_fast(&rec, &Action::Evaluate, &ctx, self.at)
                    .summary
                    .cosell_assigned
                    == 0
            {
                return Ok(());
            }
            let (d, pv) = self.decide(
                &policy,
                &rec,
                &Action::Evaluate,
                &ctx,
                opp.partner.as_deref(),
            );
            wanted = d
                .effects
                .cosell
                .iter()
                .filter(|c| c.status == "assign")
                .map(|c| c.pool.clone())
                .collect();
            decision = Some(to_value(&d));
            partner_decision = pv;
        }
        let seq = self.seq_of_next_out();
        for pool in wanted.iter().filter(|p| !held.contains(p)) {
            let per = pools
                .iter()
                .find(|(n, _)| n == pool)
                .map(|(_, p)| *p)
                .unwrap_or(ir::Period::Week);
            let period = period(&policy, per, self.at);
            self.conn.prepare_cached_execute(
                "INSERT INTO cosell_assignments (opportunity, pool, period, assigned_at, decision_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, pool, period, ts(self.at), seq],
            )?;
            events.push(ev(
                "cosell_assigned",
                self.at,
                Some(id),
                json!({ "pool": pool, "period": period }),
            ));
        }
        for pool in held.iter().filter(|p| !wanted.contains(p)) {
            self.conn.prepare_cached_execute(
                "UPDATE cosell_assignments SET released_at = ?3 WHERE opportunity = ?1 AND pool = ?2 AND released_at IS NULL",
                params![id, pool, ts(self.at)],
            )?;
            let why = if opp.closed {
                "the deal closed"
            } else {
                "the deal no longer qualifies"
            };
            events.push(ev(
                "cosell_released",
                self.at,
                Some(id),
                json!({ "pool": pool, "reason": why }),
            ));
        }
        if events.is_empty() {
            return Ok(());
        }
        self.push(Out {
            kind: "cosell",
            outcome: "evaluated".into(),
            opportunity: Some(id.into()),
            partner: opp.partner.clone(),
            policy: Some(policy.hash().into()),
            decision,
            partner_decision,
            events,
            ..Out::default()
        });
        Ok(())
    }

    // ------------------------------------------------------------ leads

    fn all_partners(&self) -> Res<Vec<Value>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT doc FROM partners ORDER BY id")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for d in rows {
            out.push(json_text(&d?)?);
        }
        Ok(out)
    }

    /// Routes a lead to the best partner not yet offered it; returns the decision,
    /// the chosen partner and its acceptance deadline.
    fn route(&self, policy: &Policy, lead: &Value, exclude: &[String]) -> Res<Routed> {
        let partners: Vec<Value> = self
            .all_partners()?
            .into_iter()
            .filter(|p| {
                p.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| !exclude.iter().any(|e| e == id))
            })
            .collect();
        let ctx = policy
            .parse_context_value(&json!({ "lead": lead, "partners": partners }))
            .map_err(|e| {
                Fail::Refused(format!(
                    "the lead does not fit the policy: {}",
                    record_errors(&e)
                ))
            })?;
        let d = policy.route_lead(&ctx, self.at, &Audience::Vendor);
        let r = d.effects.routing.as_ref();
        let first = r.and_then(|r| r.ranked.first()).map(|p| p.partner.clone());
        let by = r.and_then(|r| r.accept_by.as_deref()).and_then(parse_rfc);
        let most = r.and_then(|r| r.reroute_at_most);
        Ok((d, first, by, most))
    }

    fn partner_route_view(
        &self,
        policy: &Policy,
        lead: &Value,
        partner: &str,
    ) -> Res<Option<Value>> {
        let Some(doc) = self.doc_of("partners", partner)? else {
            return Ok(None);
        };
        let ctx = policy
            .parse_context_value(&json!({ "lead": lead, "partners": [doc] }))
            .map_err(|e| {
                Fail::Refused(format!(
                    "the lead does not fit the policy: {}",
                    record_errors(&e)
                ))
            })?;
        Ok(Some(to_value(&policy.route_lead(
            &ctx,
            self.at,
            &Audience::Partner(partner.into()),
        ))))
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one call site per way a lead is (re)offered; each passes every piece"
    )]
    fn offer(
        &mut self,
        policy: &Policy,
        lead_id: &str,
        lead: &Value,
        offered: &mut Vec<String>,
        reroutes: u32,
        kind: &'static str,
        mut events: Vec<Ev>,
    ) -> Res<()> {
        let (d, first, accept_by, most) = self.route(policy, lead, offered)?;
        let limit = most.or_else(|| {
            self.conn
                .query_row(
                    "SELECT reroute_at_most FROM leads WHERE id = ?1",
                    [lead_id],
                    |r| r.get(0),
                )
                .optional()
                .ok()
                .flatten()
                .flatten()
        });
        let exhausted = kind != "submit_lead" && limit.is_some_and(|m| reroutes > m);
        let (status, outcome, to) = match (&first, exhausted) {
            (_, true) => ("exhausted", "exhausted", None),
            (None, _) if offered.is_empty() => ("unrouted", "unrouted", None),
            (None, _) => ("exhausted", "exhausted", None),
            (Some(p), false) => ("offered", "offered", Some(p.clone())),
        };
        if let Some(p) = &to {
            offered.push(p.clone());
        }
        self.conn.prepare_cached_execute(
            "UPDATE leads SET status = ?2, offered_to = ?3, offered = ?4, reroutes = ?5, reroute_at_most = coalesce(?6, reroute_at_most), accept_by = ?7 WHERE id = ?1",
            params![
                lead_id,
                status,
                to,
                serde_json::to_string(offered).unwrap_or_default(),
                reroutes,
                most,
                to.as_ref().and(accept_by).map(ts)
            ],
        )?;
        let mut data = json!({ "lead": lead_id, "status": status, "reroutes": reroutes });
        if let Some(p) = &to {
            data["partner"] = p.clone().into();
            if let Some(by) = accept_by {
                data["accept_by"] = ts(by).into();
                self.timer(
                    by,
                    "lead_timeout",
                    None,
                    None,
                    Some(lead_id),
                    json!({ "partner": p }),
                )?;
            }
        }
        let mut e = ev(
            if to.is_some() {
                "lead_offered"
            } else {
                "lead_unrouted"
            },
            self.at,
            None,
            data,
        );
        e.lead = Some(lead_id.into());
        events.push(e);
        let pv = match &to {
            Some(p) => self.partner_route_view(policy, lead, p)?,
            None => None,
        };
        for e in &mut events {
            // A partner sees the offer made to it, never to whom else.
            e.partner_visible = to
                .as_deref()
                .is_some_and(|p| e.data.get("partner").and_then(Value::as_str) == Some(p));
            e.lead = Some(lead_id.into());
        }
        self.push(Out {
            kind,
            outcome: outcome.into(),
            lead: Some(lead_id.into()),
            partner: to,
            policy: Some(policy.hash().into()),
            decision: Some(to_value(&d)),
            partner_decision: pv,
            events,
            ..Out::default()
        });
        Ok(())
    }

    fn submit_lead(&mut self, lead: &Map<String, Value>) -> Res<()> {
        self.vendor(&[Role::Admin, Role::ChannelOps], "submit leads")?;
        let policy = self.policy()?;
        if policy.ir().leads.is_none() {
            return refuse("the policy has no `leads` section to route leads with");
        }
        let Some(id) = lead
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
        else {
            return refuse("`lead.id` is missing or not a text");
        };
        let id = id.to_string();
        let exists: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM leads WHERE id = ?1)",
            [&id],
            |r| r.get(0),
        )?;
        if exists {
            return refuse(format!("lead `{id}` was already submitted"));
        }
        let doc = Value::Object(lead.clone());
        self.conn.prepare_cached_execute(
            "INSERT INTO leads (id, doc, status, offered, submitted_at) VALUES (?1, ?2, 'unrouted', '[]', ?3)",
            params![id, doc.to_string(), ts(self.at)],
        )?;
        let mut offered = Vec::new();
        self.offer(
            &policy,
            &id,
            &doc,
            &mut offered,
            0,
            "submit_lead",
            Vec::new(),
        )
    }

    fn load_lead(&self, id: &str) -> Res<LeadRow> {
        let row: Option<(String, String, Option<String>, String, u32)> = self
            .conn
            .query_row(
                "SELECT doc, status, offered_to, offered, reroutes FROM leads WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((doc, status, to, offered, reroutes)) = row else {
            return not_found(format!("unknown lead `{id}`"));
        };
        let offered: Vec<String> = serde_json::from_str(&offered)
            .map_err(|e| Fail::Store(StoreError::Corrupt(format!("lead offers: {e}"))))?;
        Ok((json_text(&doc)?, status, to, offered, reroutes))
    }

    fn offered_to_me(&self, id: &str) -> Res<(Value, Vec<String>, u32, String)> {
        let (doc, status, to, offered, reroutes) = self.load_lead(id)?;
        let Actor::Partner(me) = self.by else {
            return refuse("only the partner a lead is offered to may accept or decline it");
        };
        if to.as_deref() != Some(me.as_str()) {
            // Whether it was offered to someone else is not the partner's business.
            return not_found(format!("lead `{id}` is not offered to partner {me}"));
        }
        if status != "offered" {
            return refuse(format!("lead `{id}` is not offered to partner {me}"));
        }
        Ok((doc, offered, reroutes, me.clone()))
    }

    fn decline_lead(&mut self, id: &str, reason: Option<&str>) -> Res<()> {
        let policy = self.policy()?;
        let (doc, mut offered, reroutes, me) = self.offered_to_me(id)?;
        self.conn.prepare_cached_execute(
            "UPDATE timers SET state = 'cancelled' WHERE lead = ?1 AND state = 'due'",
            [id],
        )?;
        let mut e = ev(
            "lead_declined",
            self.at,
            None,
            json!({ "lead": id, "partner": me, "reason": reason }),
        );
        e.lead = Some(id.into());
        // The decliner sees its own decline; the re-offer is logged as its own decision.
        self.push(Out {
            kind: "decline_lead",
            outcome: "declined".into(),
            lead: Some(id.into()),
            partner: Some(me.clone()),
            events: vec![e],
            ..Out::default()
        });
        self.offer(
            &policy,
            id,
            &doc,
            &mut offered,
            reroutes.saturating_add(1),
            "reroute_lead",
            Vec::new(),
        )
    }

    fn accept_lead(&mut self, id: &str, account: Option<&str>) -> Res<()> {
        let policy = self.policy()?;
        let (doc, _offered, _reroutes, me) = self.offered_to_me(id)?;
        self.conn.prepare_cached_execute(
            "UPDATE timers SET state = 'cancelled' WHERE lead = ?1 AND state = 'due'",
            [id],
        )?;
        // The convert rule, evaluated now for this partner.
        let (d, _, _, _) = self.route(&policy, &doc, &[])?;
        let convert = d
            .effects
            .routing
            .as_ref()
            .and_then(|r| r.convert_to.clone());
        let mut events = Vec::new();
        let mut opportunity = None;
        if let (Some(stage), Some(account)) = (&convert, account) {
            if self.doc_of("accounts", account)?.is_none() {
                return refuse(format!(
                    "unknown account `{account}` for the converted lead"
                ));
            }
            let opp_id = format!("OPP-{id}");
            let opp_fields: Vec<String> = policy
                .ir()
                .record(RecordKind::Opportunity)
                .map(|r| r.fields.iter().map(|f| f.name.clone()).collect())
                .unwrap_or_default();
            let mut fields = Map::new();
            if let Value::Object(m) = &doc {
                for (k, v) in m {
                    if opp_fields.contains(k) {
                        fields.insert(k.clone(), v.clone());
                    }
                }
            }
            let mut history = vec![json!({ "at": ts(self.at), "type": "created" })];
            if *stage != Self::first_stage(&policy) {
                history.push(json!({ "at": ts(self.at), "type": "stage_change", "to": stage }));
            }
            let opp = OppRow {
                id: opp_id.clone(),
                partner: Some(me.clone()),
                account: Some(account.into()),
                stage: stage.clone(),
                closed: false,
                fields,
                line_items: Vec::new(),
                history,
            };
            let exists: bool = self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM opportunities WHERE id = ?1)",
                [&opp_id],
                |r| r.get(0),
            )?;
            if exists {
                return refuse(format!("opportunity `{opp_id}` already exists"));
            }
            self.insert_opp(&policy, &opp)?;
            events.push(ev(
                "lead_converted",
                self.at,
                Some(&opp_id),
                json!({ "lead": id, "opportunity": opp_id, "stage": stage, "partner": me }),
            ));
            opportunity = Some(opp_id);
        }
        self.conn.prepare_cached_execute(
            "UPDATE leads SET status = 'accepted', opportunity = ?2 WHERE id = ?1",
            params![id, opportunity],
        )?;
        let mut e = ev(
            "lead_accepted",
            self.at,
            None,
            json!({ "lead": id, "partner": me }),
        );
        e.lead = Some(id.into());
        events.insert(0, e);
        let mut extra = Map::new();
        extra.insert(
            "convert".into(),
            json!({ "to": convert, "opportunity": opportunity, "why_not": match (&convert, account) {
                (None, _) => Some("the policy's convert rule does not hold for this lead"),
                (Some(_), None) => Some("no `account` was given to convert the lead into"),
                _ => None,
            }}),
        );
        self.push(Out {
            kind: "accept_lead",
            outcome: if opportunity.is_some() {
                "converted"
            } else {
                "accepted"
            }
            .into(),
            lead: Some(id.into()),
            opportunity: opportunity.clone(),
            partner: Some(me),
            policy: Some(policy.hash().into()),
            events,
            extra,
            ..Out::default()
        });
        if let Some(o) = opportunity {
            self.cosell(&o)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ time

    /// Fires every due timer in due order, each once, each its own decision.
    fn tick(&mut self) -> Res<()> {
        match self.by {
            Actor::System
            | Actor::User {
                role: Role::Admin | Role::ChannelOps,
                ..
            } => {}
            _ => return refuse(format!("{} may not tick the clock", self.by)),
        }
        // Bounded: each firing marks its timer; new timers are always later than now
        // or fire in this same loop.
        for _ in 0..10_000_000u32 {
            let next: Option<TimerRow> = self
                .conn
                .prepare_cached(
                    "SELECT id, due, kind, opportunity, registration, lead, data FROM timers
                     WHERE state = 'due' AND due <= ?1 ORDER BY due, id LIMIT 1",
                )?
                .query_row([ts(self.at)], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .optional()?;
            let Some((tid, due, kind, opp, reg, lead, data)) = next else {
                return Ok(());
            };
            let seq = self.seq_of_next_out();
            self.conn
                .prepare_cached("UPDATE timers SET state = 'fired', fired_seq = ?2 WHERE id = ?1")?
                .execute(params![tid, seq])?;
            let due_t = parse_ts(&due)?;
            let data = json_text(&data)?;
            let before = self.outs.len();
            self.fire(
                &kind,
                due_t,
                opp.as_deref(),
                reg.as_deref(),
                lead.as_deref(),
                &data,
            )?;
            for o in &mut self.outs[before..] {
                o.extra.insert(
                    "timer".into(),
                    json!({ "id": tid, "kind": kind, "due": due }),
                );
            }
            if self.outs.len() == before {
                // Nothing to do any more (say, the registration was decided): the
                // timer is spent without a decision.
                self.conn
                    .prepare_cached("UPDATE timers SET fired_seq = NULL WHERE id = ?1")?
                    .execute([tid])?;
            }
        }
        refuse("too many timers fired in one tick")
    }

    fn fire(
        &mut self,
        kind: &str,
        due: DateTime<Utc>,
        opp: Option<&str>,
        reg: Option<&str>,
        lead: Option<&str>,
        data: &Value,
    ) -> Res<()> {
        let policy = self.policy()?;
        match kind {
            "review_escalation" | "review_breach" | "protection_expiry" => {
                let (Some(opp_id), Some(reg_id)) = (opp, reg) else {
                    return Ok(());
                };
                let r = self
                    .current_registration(opp_id)?
                    .filter(|r| r.id == reg_id);
                let Some(r) = r else { return Ok(()) };
                let owner = self.load_opp(opp_id)?.partner;
                let mut out = Out {
                    kind: "timer",
                    opportunity: Some(opp_id.into()),
                    partner: owner,
                    policy: Some(policy.hash().into()),
                    ..Out::default()
                };
                match kind {
                    "review_escalation" if r.status == "pending" => {
                        let to = data
                            .get("to")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        self.conn.prepare_cached_execute(
                            "UPDATE registrations SET escalated_to = ?2 WHERE id = ?1",
                            params![reg_id, to],
                        )?;
                        out.outcome = "escalated".into();
                        let mut e = ev(
                            "review_escalated",
                            due,
                            Some(opp_id),
                            json!({ "registration": reg_id, "to": to, "step": data.get("step") }),
                        );
                        // Whom the vendor escalated to is its internal business.
                        e.partner_visible = false;
                        out.events.push(e);
                    }
                    "review_breach" if r.status == "pending" => {
                        let by = working_seconds(&policy, due, self.at);
                        self.conn.prepare_cached_execute(
                            "UPDATE registrations SET breached = 1 WHERE id = ?1",
                            [reg_id],
                        )?;
                        out.outcome = "breached".into();
                        out.events.push(ev(
                            "review_sla_breached",
                            due,
                            Some(opp_id),
                            json!({ "registration": reg_id, "deadline": ts(due), "by_business_hours": hours(by) }),
                        ));
                    }
                    "protection_expiry" if r.status == "approved" => {
                        if r.protected_until
                            .as_deref()
                            .map(parse_ts)
                            .transpose()?
                            .is_some_and(|u| u > self.at)
                        {
                            return Ok(());
                        }
                        self.conn.prepare_cached_execute(
                            "UPDATE registrations SET status = 'expired', decided_at = ?2 WHERE id = ?1",
                            params![reg_id, ts(due)],
                        )?;
                        out.outcome = "expired".into();
                        out.events.push(ev(
                            "registration_expired",
                            due,
                            Some(opp_id),
                            json!({ "registration": reg_id, "protected_until": r.protected_until }),
                        ));
                    }
                    _ => return Ok(()),
                }
                self.push(out);
                if kind == "protection_expiry" {
                    self.cosell(opp_id)?;
                }
                Ok(())
            }
            "lead_timeout" => {
                let Some(lead_id) = lead else { return Ok(()) };
                let (doc, status, to, mut offered, reroutes) = self.load_lead(lead_id)?;
                let partner = data.get("partner").and_then(Value::as_str);
                if status != "offered" || to.as_deref() != partner {
                    return Ok(());
                }
                let mut e = ev(
                    "lead_timed_out",
                    due,
                    None,
                    json!({ "lead": lead_id, "partner": partner }),
                );
                e.lead = Some(lead_id.into());
                self.offer(
                    &policy,
                    lead_id,
                    &doc,
                    &mut offered,
                    reroutes.saturating_add(1),
                    "reroute_lead",
                    vec![e],
                )
            }
            _ => Ok(()),
        }
    }
}

/// Field-level changes between an old and a new document.
fn diff(old: Option<&Map<String, Value>>, new: &Map<String, Value>) -> Value {
    let empty = Map::new();
    let old = old.unwrap_or(&empty);
    let mut out = Vec::new();
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (a, b) = (old.get(k), new.get(k));
        if a != b {
            out.push(json!({ "field": k, "old": a, "new": b }));
        }
    }
    Value::Array(out)
}

/// Evaluates an opportunity as it stands (analytics, replay summaries).
pub(super) fn evaluate_now(
    conn: &Connection,
    cache: &Mutex<HashMap<String, Arc<Policy>>>,
    sub: Option<&Substitute>,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Option<Decision>, StoreError> {
    let Some(policy) = policy_at(conn, cache, sub, at)? else {
        return Ok(None);
    };
    let system = Actor::System;
    let cx = Cx {
        conn,
        policy: Some(policy.clone()),
        at,
        by: &system,
        next_seq: 0,
        outs: Vec::new(),
    };
    let opp = match cx.load_opp(id) {
        Ok(o) => o,
        Err(Fail::Refused(_) | Fail::NotFound(_)) => return Ok(None),
        Err(Fail::Store(e)) => return Err(e),
    };
    let (rec, _) = match cx.record(&policy, &opp) {
        Ok(r) => r,
        Err(Fail::Refused(_) | Fail::NotFound(_)) => return Ok(None),
        Err(Fail::Store(e)) => return Err(e),
    };
    Ok(Some(policy.decide(
        &rec,
        &Action::Evaluate,
        &Context::default(),
        at,
        &Audience::Vendor,
    )))
}
