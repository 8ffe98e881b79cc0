//! Reads. Every read that returns partner data takes the audience, and the partner
//! filter is written here once: a partner sees the opportunities it is on, their
//! registrations and events, leads offered to it, and the partner view of the
//! decisions about them (`decisions.partner = ?` and `partner_body`).

use chrono::{DateTime, Utc};
use dealflow_engine::{Audience, Policy};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::apply::{chain_hash, hours, working_seconds};
use super::lists::logged_row;
use super::{parse_ts, ts};
use crate::{
    CommissionLine, Logged, LoggedCommand, OpportunityView, QueueEntry, RegistrationView,
    StoreError, Verify,
};

pub(super) fn partner_of(a: &Audience) -> Option<&str> {
    match a {
        Audience::Vendor => None,
        Audience::Partner(p) => Some(p),
    }
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or(Value::Null)
}

fn to_u64(i: i64) -> u64 {
    u64::try_from(i).unwrap_or(0)
}

pub(super) const REG_COLUMNS: &str =
    "id, opportunity, partner, status, submitted_at, approved_at, decided_at,
    protected_until, extensions, review_deadline, escalated_to, breached, late";

pub(super) fn reg_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RegistrationView> {
    Ok(RegistrationView {
        id: r.get(0)?,
        opportunity: r.get(1)?,
        partner: r.get(2)?,
        status: r.get(3)?,
        submitted_at: r.get(4)?,
        approved_at: r.get(5)?,
        decided_at: r.get(6)?,
        protected_until: r.get(7)?,
        extensions: r.get(8)?,
        review_deadline: r.get(9)?,
        escalated_to: r.get(10)?,
        breached: r.get(11)?,
        late: r.get(12)?,
    })
}

pub(super) fn opportunity(
    conn: &Connection,
    audience: &Audience,
    id: &str,
) -> Result<Option<OpportunityView>, StoreError> {
    type Row = (
        String,
        String,
        bool,
        Option<String>,
        Option<String>,
        String,
        String,
    );
    let row: Option<Row> = conn
        .query_row(
            "SELECT id, stage, closed, partner, account, doc, history FROM opportunities WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?;
    let Some((id, stage, closed, partner, account, doc, history)) = row else {
        return Ok(None);
    };
    let viewer = partner_of(audience);
    if viewer.is_some() && viewer != partner.as_deref() {
        return Ok(None);
    }
    let account_doc: Option<String> = conn
        .query_row("SELECT doc FROM accounts WHERE id = ?1", [&account], |r| {
            r.get(0)
        })
        .optional()?;
    let doc = json(&doc);
    let mut st = conn.prepare(&format!(
        "SELECT {REG_COLUMNS} FROM registrations WHERE opportunity = ?1 ORDER BY submitted_at DESC, rowid DESC"
    ))?;
    let registrations = st
        .query_map([&id], reg_row)?
        .collect::<Result<Vec<_>, _>>()?;
    // Events: the partner view of each decision carries the events it may see.
    let (body_col, filter) = match viewer {
        None => ("body", ""),
        Some(_) => ("partner_body", " AND partner = ?2"),
    };
    let sql =
        format!("SELECT {body_col} FROM decisions WHERE opportunity = ?1{filter} ORDER BY seq");
    let mut st = conn.prepare(&sql)?;
    let bodies: Vec<String> = match viewer {
        None => st
            .query_map([&id], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
        Some(p) => st
            .query_map(params![id, p], |r| r.get::<_, Option<String>>(0))?
            .filter_map(|r| r.transpose())
            .collect::<Result<_, _>>()?,
    };
    let decisions: Vec<Value> = bodies.iter().map(|b| json(b)).collect();
    let mut events: Vec<Value> = decisions
        .iter()
        .flat_map(|d| {
            d.get("events")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    if viewer.is_none() {
        // An import's decision carries only the digest of its events; this deal's
        // are in the events table (vendor only: they may name other partners).
        let mut st = conn.prepare(
            "SELECT e.kind, e.at, e.data FROM events e JOIN decisions d ON d.seq = e.decision_seq
             WHERE e.opportunity = ?1 AND d.kind = 'import' ORDER BY e.id",
        )?;
        let rows = st.query_map([&id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut imported = Vec::new();
        for row in rows {
            let (kind, at, data) = row?;
            let mut m = match json(&data) {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            m.insert("type".into(), kind.into());
            m.insert("at".into(), at.into());
            imported.push(Value::Object(m));
        }
        events.extend(imported);
    }
    let mut st = conn.prepare(
        "SELECT pool, period, assigned_at, released_at FROM cosell_assignments WHERE opportunity = ?1 ORDER BY id",
    )?;
    let cosell = st
        .query_map([&id], |r| {
            Ok(serde_json::json!({
                "pool": r.get::<_, String>(0)?,
                "period": r.get::<_, String>(1)?,
                "assigned_at": r.get::<_, String>(2)?,
                "released_at": r.get::<_, Option<String>>(3)?,
            }))
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(OpportunityView {
        id,
        stage,
        closed,
        partner,
        account: account_doc.map_or(Value::Null, |d| json(&d)),
        history: json(&history),
        fields: doc.get("fields").cloned().unwrap_or(Value::Null),
        line_items: doc.get("line_items").cloned().unwrap_or(Value::Null),
        registrations,
        events,
        cosell,
        decisions,
    }))
}

pub(super) fn queue(
    conn: &Connection,
    audience: &Audience,
    now: DateTime<Utc>,
    policy: Option<&Policy>,
) -> Result<Vec<QueueEntry>, StoreError> {
    let viewer = partner_of(audience);
    let mut st = conn.prepare(
        "SELECT id, opportunity, partner, submitted_at, review_deadline, escalated_to, breached
         FROM registrations WHERE status = 'pending' AND (?1 IS NULL OR partner = ?1)
         ORDER BY submitted_at, id",
    )?;
    let rows = st.query_map([viewer], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, bool>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (registration, opportunity, partner, submitted_at, deadline, escalated_to, breached) =
            row?;
        let from = parse_ts(&submitted_at)?;
        let waited = match policy {
            Some(p) => working_seconds(p, from, now),
            None => (now - from).num_seconds().max(0),
        };
        out.push(QueueEntry {
            registration,
            opportunity,
            partner,
            submitted_at,
            deadline,
            waited_business_hours: hours(waited),
            // Whom it was escalated to is the vendor's internal business.
            escalated_to: if viewer.is_some() { None } else { escalated_to },
            breached,
        });
    }
    Ok(out)
}

pub(super) fn expiring(
    conn: &Connection,
    audience: &Audience,
    now: DateTime<Utc>,
    within: chrono::Duration,
) -> Result<Vec<RegistrationView>, StoreError> {
    let until = now.checked_add_signed(within).unwrap_or(now);
    let mut st = conn.prepare(&format!(
        "SELECT {REG_COLUMNS} FROM registrations WHERE status = 'approved'
           AND protected_until > ?1 AND protected_until <= ?2 AND (?3 IS NULL OR partner = ?3)
         ORDER BY protected_until, id"
    ))?;
    let rows = st.query_map(params![ts(now), ts(until), partner_of(audience)], reg_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn decisions(
    conn: &Connection,
    audience: &Audience,
    after: u64,
    limit: usize,
) -> Result<Vec<Logged>, StoreError> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // The same `Logged` as the command's answer: the audience's document, and the
    // decision's partner with its view.
    let mut st = conn.prepare_cached(
        "SELECT seq, outcome, CASE WHEN ?3 IS NULL THEN body ELSE partner_body END,
                partner, partner_body, kind
         FROM decisions
         WHERE seq > ?1 AND (?3 IS NULL OR (partner = ?3 AND partner_body IS NOT NULL))
         ORDER BY seq LIMIT ?2",
    )?;
    let rows = st.query_map(params![after, limit, partner_of(audience)], logged_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn commission(
    conn: &Connection,
    audience: &Audience,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<CommissionLine>, StoreError> {
    let mut st = conn.prepare(
        "SELECT decision_seq, at, opportunity, partner, kind, role, amount, currency FROM commission
         WHERE at >= ?1 AND at < ?2 AND (?3 IS NULL OR partner = ?3) ORDER BY partner, at, id",
    )?;
    let rows = st.query_map(params![ts(from), ts(to), partner_of(audience)], |r| {
        Ok(CommissionLine {
            decision_seq: to_u64(r.get(0)?),
            at: r.get(1)?,
            opportunity: r.get(2)?,
            partner: r.get(3)?,
            kind: r.get(4)?,
            role: r.get(5)?,
            amount: r.get(6)?,
            currency: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn verify(conn: &Connection) -> Result<Verify, StoreError> {
    let mut st = conn.prepare("SELECT seq, body, hash FROM decisions ORDER BY seq")?;
    let mut rows = st.query([])?;
    let mut prev: Option<String> = None;
    let mut expected_seq = 1i64;
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let body: String = r.get(1)?;
        let hash: String = r.get(2)?;
        let broken = |reason: String| Verify {
            decisions: n,
            first_broken: Some(to_u64(seq)),
            reason: Some(reason),
        };
        if seq != expected_seq {
            return Ok(broken(format!(
                "sequence number {seq} follows {}; {expected_seq} is missing",
                expected_seq - 1
            )));
        }
        let inner_seq = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("seq").and_then(Value::as_i64));
        if inner_seq != Some(seq) {
            return Ok(broken(format!(
                "the decision document at {seq} names sequence number {inner_seq:?}"
            )));
        }
        let want = chain_hash(prev.as_deref(), &body);
        if want != hash {
            return Ok(broken(format!(
                "hash mismatch: stored {hash}, recomputed {want} from the previous hash and the decision"
            )));
        }
        prev = Some(hash);
        expected_seq += 1;
        n += 1;
    }
    Ok(Verify {
        decisions: n,
        first_broken: None,
        reason: None,
    })
}

pub(super) fn commands(conn: &Connection) -> Result<Vec<LoggedCommand>, StoreError> {
    let mut st = conn.prepare("SELECT seq, at, raw FROM commands ORDER BY seq")?;
    let rows = st.query_map([], |r| {
        Ok(LoggedCommand {
            seq: to_u64(r.get(0)?),
            at: r.get(1)?,
            raw: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn latest_policy_hash(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT hash FROM policy_versions ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

pub(super) fn opportunity_ids(conn: &Connection) -> Result<Vec<(String, bool)>, StoreError> {
    let mut st = conn.prepare("SELECT id, closed FROM opportunities ORDER BY id")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const TABLES: [&str; 13] = [
    "meta",
    "policy_versions",
    "commands",
    "idempotency",
    "decisions",
    "events",
    "partners",
    "accounts",
    "opportunities",
    "registrations",
    "timers",
    "cosell_assignments",
    "leads",
];

pub(super) fn dump(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for t in TABLES.iter().chain(["commission"].iter()) {
        let mut st = conn.prepare(&format!("SELECT * FROM {t} ORDER BY rowid"))?;
        let n = st.column_count();
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let mut line = format!("{t}:");
            for i in 0..n {
                let v: rusqlite::types::Value = r.get(i)?;
                line.push_str(&format!(" {v:?}"));
            }
            out.push(line);
        }
    }
    Ok(out)
}

pub(super) fn counts(conn: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut out = Vec::new();
    for t in TABLES.iter().chain(["commission"].iter()) {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?;
        out.push(((*t).to_string(), to_u64(n)));
    }
    Ok(out)
}
