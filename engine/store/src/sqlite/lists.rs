//! The paged list reads of the decision service, and API tokens. The partner filter
//! is part of each query's `WHERE`: a partner's id replaces any `partner` filter it
//! gives, so no query can widen its view.

use chrono::{DateTime, Utc};
use dealflow_engine::Audience;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::queries::{partner_of, reg_row, REG_COLUMNS};
use super::ts;
use crate::{
    Grant, LeadView, ListQuery, Logged, OpportunitySummary, PolicyVersion, RegistrationView, Role,
    StoreError, TokenInfo,
};

fn limit(q: &ListQuery) -> i64 {
    i64::try_from(q.limit.clamp(1, 1000)).unwrap_or(1000)
}

/// Opportunities in id order; `flag` is checked by the caller (it needs the engine).
pub(super) fn opportunities(
    conn: &Connection,
    audience: &Audience,
    q: &ListQuery,
    after: &str,
    page: i64,
) -> Result<Vec<OpportunitySummary>, StoreError> {
    let closed: Option<bool> = match q.status.as_deref() {
        None => None,
        Some("open") => Some(false),
        Some("closed") => Some(true),
        Some(other) => {
            return Err(StoreError::Invalid(format!(
                "unknown opportunity status `{other}`; use open or closed (and `stage` for won or lost)"
            )))
        }
    };
    // A partner sees only its own: its id overrides any `partner` filter.
    let partner = partner_of(audience).or(q.partner.as_deref());
    let mut st = conn.prepare_cached(
        "SELECT o.id, o.stage, o.closed, o.partner, o.account, o.updated_at FROM opportunities o
         WHERE o.id > ?1
           AND (?2 IS NULL OR o.partner = ?2)
           AND (?3 IS NULL OR o.stage = ?3)
           AND (?4 IS NULL OR o.closed = ?4)
         ORDER BY o.id LIMIT ?5",
    )?;
    let rows = st.query_map(params![after, partner, q.stage, closed, page], |r| {
        Ok(OpportunitySummary {
            id: r.get(0)?,
            stage: r.get(1)?,
            closed: r.get(2)?,
            partner: r.get(3)?,
            account: r.get(4)?,
            updated_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn registrations(
    conn: &Connection,
    audience: &Audience,
    q: &ListQuery,
) -> Result<Vec<RegistrationView>, StoreError> {
    let partner = partner_of(audience).or(q.partner.as_deref());
    let mut st = conn.prepare_cached(&format!(
        "SELECT {REG_COLUMNS} FROM registrations
         WHERE id > ?1 AND (?2 IS NULL OR partner = ?2) AND (?3 IS NULL OR status = ?3)
           AND (?4 IS NULL OR opportunity = ?4)
         ORDER BY id LIMIT ?5"
    ))?;
    let rows = st.query_map(
        params![
            q.after.as_deref().unwrap_or(""),
            partner,
            q.status,
            q.opportunity,
            limit(q)
        ],
        reg_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

type LeadRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
);

fn lead_view(audience: &Audience, row: LeadRow) -> LeadView {
    let (id, doc, status, offered_to, offered, accept_by, opportunity, submitted_at) = row;
    let vendor = partner_of(audience).is_none();
    LeadView {
        id,
        status,
        offered_to,
        accept_by,
        opportunity,
        submitted_at,
        lead: serde_json::from_str(&doc).unwrap_or(Value::Null),
        offered: vendor.then(|| serde_json::from_str(&offered).unwrap_or(Value::Null)),
    }
}

const LEAD_COLUMNS: &str =
    "id, doc, status, offered_to, offered, accept_by, opportunity, submitted_at";

fn lead_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LeadRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

pub(super) fn leads(
    conn: &Connection,
    audience: &Audience,
    q: &ListQuery,
) -> Result<Vec<LeadView>, StoreError> {
    let partner = partner_of(audience).or(q.partner.as_deref());
    let mut st = conn.prepare_cached(&format!(
        "SELECT {LEAD_COLUMNS} FROM leads
         WHERE id > ?1 AND (?2 IS NULL OR offered_to = ?2) AND (?3 IS NULL OR status = ?3)
         ORDER BY id LIMIT ?4"
    ))?;
    let rows = st.query_map(
        params![
            q.after.as_deref().unwrap_or(""),
            partner,
            q.status,
            limit(q)
        ],
        lead_row,
    )?;
    let rows: Vec<LeadRow> = rows.collect::<Result<_, _>>()?;
    Ok(rows.into_iter().map(|r| lead_view(audience, r)).collect())
}

pub(super) fn lead(
    conn: &Connection,
    audience: &Audience,
    id: &str,
) -> Result<Option<LeadView>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {LEAD_COLUMNS} FROM leads WHERE id = ?1 AND (?2 IS NULL OR offered_to = ?2)"
        ))?
        .query_row(params![id, partner_of(audience)], lead_row)
        .optional()?;
    Ok(row.map(|r| lead_view(audience, r)))
}

/// A decision row: `seq, outcome, document, partner, partner_body, kind`.
pub(super) fn logged_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Logged> {
    Ok(Logged {
        seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        outcome: r.get(1)?,
        json: r.get(2)?,
        partner: r.get(3)?,
        partner_json: r.get(4)?,
        kind: r.get(5)?,
    })
}

/// The vendor sees `body`; a partner only decisions about it, as `partner_body`.
pub(super) fn decision(
    conn: &Connection,
    audience: &Audience,
    seq: u64,
) -> Result<Option<Logged>, StoreError> {
    let Ok(seq) = i64::try_from(seq) else {
        return Ok(None);
    };
    let viewer = partner_of(audience);
    let row = conn
        .prepare_cached(
            "SELECT seq, outcome, CASE WHEN ?2 IS NULL THEN body ELSE partner_body END,
                    partner, partner_body, kind
             FROM decisions
             WHERE seq = ?1 AND (?2 IS NULL OR (partner = ?2 AND partner_body IS NOT NULL))",
        )?
        .query_row(params![seq, viewer], logged_row)
        .optional()?;
    Ok(row)
}

pub(super) fn decisions_where(
    conn: &Connection,
    audience: &Audience,
    q: &ListQuery,
) -> Result<Vec<Logged>, StoreError> {
    let after: i64 = match q.after.as_deref() {
        None | Some("") => 0,
        Some(a) => a.parse().map_err(|_| {
            StoreError::Invalid(format!(
                "`after` is a decision sequence number here, not `{a}`"
            ))
        })?,
    };
    let viewer = partner_of(audience);
    let partner = viewer.or(q.partner.as_deref());
    let mut st = conn.prepare_cached(
        "SELECT seq, outcome, CASE WHEN ?2 IS NULL THEN body ELSE partner_body END,
                partner, partner_body, kind
         FROM decisions
         WHERE seq > ?1
           AND (?2 IS NULL OR partner_body IS NOT NULL)
           AND (?3 IS NULL OR partner = ?3)
           AND (?4 IS NULL OR kind = ?4)
           AND (?5 IS NULL OR outcome = ?5)
           AND (?6 IS NULL OR opportunity = ?6)
         ORDER BY seq LIMIT ?7",
    )?;
    let rows = st.query_map(
        params![
            after,
            viewer,
            partner,
            q.kind,
            q.status,
            q.opportunity,
            limit(q)
        ],
        logged_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn policy_versions(conn: &Connection) -> Result<Vec<PolicyVersion>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT id, hash, name, effective_from, command_seq FROM policy_versions ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(PolicyVersion {
            version: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
            hash: r.get(1)?,
            name: r.get(2)?,
            effective_from: r.get(3)?,
            command_seq: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A token's stored form: its SHA-256 in hex.
fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| StoreError::Invalid(format!("no randomness for a token: {e}")))?;
    Ok(hex::encode(buf))
}

pub(super) fn create_token(
    conn: &Connection,
    grant: &Grant,
    name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(String, String), StoreError> {
    let (partner, role) = match grant {
        Grant::Partner(p) if !p.trim().is_empty() => (Some(p.as_str()), None),
        Grant::Partner(_) => return Err(StoreError::Invalid("a partner id is required".into())),
        Grant::Vendor(r) => (None, Some(r.as_str())),
    };
    let id = format!("tok_{}", random_hex(6)?);
    let secret = format!("dfk_{}", random_hex(32)?);
    conn.prepare_cached(
        "INSERT INTO tokens (id, hash, partner, role, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, token_hash(&secret), partner, role, name, ts(now)])?;
    Ok((id, secret))
}

fn grant_of(partner: Option<String>, role: Option<String>) -> Result<Grant, StoreError> {
    match (partner, role.as_deref()) {
        (Some(p), None) => Ok(Grant::Partner(p)),
        (None, Some("channel_ops")) => Ok(Grant::Vendor(Role::ChannelOps)),
        (None, Some("admin")) => Ok(Grant::Vendor(Role::Admin)),
        (None, Some("viewer")) => Ok(Grant::Vendor(Role::Viewer)),
        (p, r) => Err(StoreError::Corrupt(format!(
            "token grants partner {p:?} and role {r:?}"
        ))),
    }
}

pub(super) fn authenticate(
    conn: &Connection,
    secret: &str,
) -> Result<Option<(String, Grant)>, StoreError> {
    let row: Option<(String, Option<String>, Option<String>)> = conn
        .prepare_cached(
            "SELECT id, partner, role FROM tokens WHERE hash = ?1 AND revoked_at IS NULL",
        )?
        .query_row([token_hash(secret)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    match row {
        None => Ok(None),
        Some((id, partner, role)) => Ok(Some((id, grant_of(partner, role)?))),
    }
}

pub(super) fn revoke_token(
    conn: &Connection,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")?
        .execute(params![id, ts(now)])?;
    Ok(n == 1)
}

type TokenRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

pub(super) fn tokens(conn: &Connection) -> Result<Vec<TokenInfo>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT id, partner, role, name, created_at, revoked_at FROM tokens ORDER BY created_at, id",
    )?;
    let rows: Vec<TokenRow> = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(id, partner, role, name, created_at, revoked_at)| {
            Ok(TokenInfo {
                id,
                grant: grant_of(partner, role)?,
                name,
                created_at,
                revoked_at,
            })
        })
        .collect()
}
