//! Streaming reads for analytics and export: one pass over a table, rows lent to
//! a callback (no copy, no page cursor), filtered by audience like every read.

use rusqlite::Connection;

use super::queries::{partner_of, reg_row, REG_COLUMNS};
use crate::view::{AccountRow, OpportunityRow, PartnerRow, RegisterDecision};
use crate::{Audience, RegistrationView, StoreError};

type Visit<'f, T> = &'f mut dyn FnMut(&T) -> Result<(), StoreError>;

pub(super) fn opportunities(
    conn: &Connection,
    audience: &Audience,
    f: &mut dyn for<'r> FnMut(&crate::OpportunityRow<'r>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut st = conn.prepare(
        "SELECT id, partner, account, stage, closed, doc, history, created_at, updated_at
         FROM opportunities WHERE (?1 IS NULL OR partner = ?1) ORDER BY id",
    )?;
    let mut rows = st.query([partner_of(audience)])?;
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> Result<&str, StoreError> {
            r.get_ref(i)?
                .as_str()
                .map_err(|e| StoreError::Corrupt(format!("opportunities column {i}: {e}")))
        };
        let opt = |i: usize| -> Result<Option<&str>, StoreError> {
            r.get_ref(i)?
                .as_str_or_null()
                .map_err(|e| StoreError::Corrupt(format!("opportunities column {i}: {e}")))
        };
        let row = OpportunityRow {
            id: text(0)?,
            partner: opt(1)?,
            account: opt(2)?,
            stage: text(3)?,
            closed: r.get::<_, bool>(4)?,
            doc: text(5)?,
            history: text(6)?,
            created_at: text(7)?,
            updated_at: text(8)?,
        };
        f(&row)?;
    }
    Ok(())
}

pub(super) fn registrations(
    conn: &Connection,
    audience: &Audience,
    f: Visit<'_, RegistrationView>,
) -> Result<(), StoreError> {
    let mut st = conn.prepare(&format!(
        "SELECT {REG_COLUMNS} FROM registrations WHERE (?1 IS NULL OR partner = ?1) ORDER BY submitted_at, id"
    ))?;
    let mut rows = st.query([partner_of(audience)])?;
    while let Some(r) = rows.next()? {
        f(&reg_row(r)?)?;
    }
    Ok(())
}

pub(super) fn register_decisions(
    conn: &Connection,
    audience: &Audience,
    f: &mut dyn for<'r> FnMut(&crate::RegisterDecision<'r>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut st = conn.prepare(
        "SELECT seq, opportunity, outcome, CASE WHEN ?1 IS NULL THEN body ELSE partner_body END
         FROM decisions WHERE kind = 'register' AND (?1 IS NULL OR partner = ?1) ORDER BY seq",
    )?;
    let mut rows = st.query([partner_of(audience)])?;
    while let Some(r) = rows.next()? {
        let body = r
            .get_ref(3)?
            .as_str_or_null()
            .map_err(|e| StoreError::Corrupt(format!("decision body: {e}")))?;
        let row = RegisterDecision {
            seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
            opportunity: r
                .get_ref(1)?
                .as_str_or_null()
                .map_err(|e| StoreError::Corrupt(format!("decision opportunity: {e}")))?,
            outcome: r
                .get_ref(2)?
                .as_str()
                .map_err(|e| StoreError::Corrupt(format!("decision outcome: {e}")))?,
            body: body.unwrap_or("null"),
        };
        f(&row)?;
    }
    Ok(())
}

pub(super) fn partners(
    conn: &Connection,
    audience: &Audience,
) -> Result<Vec<PartnerRow>, StoreError> {
    let mut st =
        conn.prepare("SELECT id, doc FROM partners WHERE (?1 IS NULL OR id = ?1) ORDER BY id")?;
    let rows = st.query_map([partner_of(audience)], |r| {
        Ok(PartnerRow {
            id: r.get(0)?,
            doc: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn accounts(
    conn: &Connection,
    audience: &Audience,
) -> Result<Vec<AccountRow>, StoreError> {
    // A partner sees the accounts of its own deals only.
    let mut st = conn.prepare(
        "SELECT id, doc, direct FROM accounts a WHERE ?1 IS NULL
            OR EXISTS (SELECT 1 FROM opportunities o WHERE o.account = a.id AND o.partner = ?1)
         ORDER BY id",
    )?;
    let rows = st.query_map([partner_of(audience)], |r| {
        Ok(AccountRow {
            id: r.get(0)?,
            doc: r.get(1)?,
            direct: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
